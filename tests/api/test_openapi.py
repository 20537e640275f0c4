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
