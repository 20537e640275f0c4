"""Every operation of the OpenAPI document, fuzzed: never a 5xx, every answer as documented."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from timebank import create_app

SEED = 20260301
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, ignored_auth]

CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"deterministic": True, "database": "none"},
    "phases": {"coverage": {"enabled": False}},
})

# The document does not depend on the data: read it from an app without a database.
schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json",
    create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "doc"}),
    config=CONFIG,
)


@pytest.fixture(params=["admin", "vol_a"])
def caller(request, world):
    return world.people[request.param]


@schema.parametrize()
@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_documented(case, app, caller):
    case.call_and_validate(app=app, headers=caller.auth, checks=CHECKS)
