"""The OpenAPI document describes every endpoint of the running server."""

from __future__ import annotations

import re

from tests.api.test_permissions import MATRIX, PUBLIC


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_the_document_is_public_openapi_3(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "timebank" and doc["info"]["version"] == "v1"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_endpoint_and_method_is_described(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    missing = []
    for method, rule in set(MATRIX) | PUBLIC:
        if rule.endswith("openapi.json"):
            continue
        path = _openapi_path(rule).removeprefix("/api/v1")
        operation = doc["paths"].get(f"/api/v1{path}", doc["paths"].get(path, {})).get(
            method.lower())
        if operation is None:
            missing.append(f"{method} {rule}")
    assert missing == []


def test_every_operation_names_its_responses_and_bodies_have_schemas(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            assert operation.get("responses"), f"{method} {path} has no responses"
            body = operation.get("requestBody")
            if body:
                media = body["content"]["application/json"]
                assert "schema" in media, f"{method} {path} has a body without a schema"


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method, path, operation


def test_errors_are_documented_status_by_status_as_problem_json(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    for method, path, operation in _operations(doc):
        responses = operation["responses"]
        assert "default" not in responses, f"{method} {path}"
        if operation.get("security") != []:
            assert {"401", "403"} <= set(responses), f"{method} {path}"
        for status, response in responses.items():
            if int(status) >= 400:
                name = response["$ref"].rsplit("/", 1)[-1]
                content = doc["components"]["responses"][name]["content"]
                assert list(content) == ["application/problem+json"], f"{method} {path}"


def test_signing_in_is_public_and_may_be_refused_or_rate_limited(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"][
        "/api/v1/auth/tokens"]["post"]
    assert operation["security"] == []
    assert {"201", "401", "422", "429"} <= set(operation["responses"])


def test_idempotent_operations_document_the_key_and_the_statement_its_csv(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/service-records/{record_id}/approve", "/api/v1/redemptions",
                 "/api/v1/transfers", "/api/v1/rewards/{reward_id}/orders"):
        names = [p["name"] for p in doc["paths"][path]["post"]["parameters"]]
        assert "Idempotency-Key" in names, path
    statement = doc["paths"]["/api/v1/merchants/{merchant_id}/statement"]["get"]
    assert set(statement["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert "410" in doc["paths"]["/api/v1/redemptions"]["post"]["responses"]
