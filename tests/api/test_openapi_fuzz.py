"""Every operation of the OpenAPI document, fuzzed through WSGI: never a 5xx, and every answer
as documented (status, content type, body schema, headers; problem+json errors included).

Each operation is a test of its own, on a fresh copy of a database holding one of everything
(records, an activity, a request for help, a family link, a team, an order, a redemption, a
transfer, a certificate). Ids in addresses, queries and bodies are drawn partly from the ids
of those objects, so requests reach the handlers instead of stopping at 404. It runs as an
admin and as a volunteer. Generation is seeded and derandomized: a failure comes back on every
run, printed with a curl line that replays it.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.test_permissions import _activity, _help, _link, _record, _team
from tests.conftest import cloned_database
from tests.factories import Api, Factory, build_world
from timebank import create_app
from timebank.extensions import db

SEED = 20260301
EXAMPLES_PER_OPERATION = 12
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

# Parameter and field name → values naming real objects of the populated world.
known: dict[str, list] = {}
ID_NAMES = {
    "units": ("unit_id", "org_unit_id", "parent_id", "scope_id"),
    "members": ("member_id", "beneficiary_id", "relative_id", "leader_id", "to_member_id"),
}


def _towards_known(values, *, skip=()):
    """Each value as generated, or one that names a real object."""
    if not isinstance(values, dict) or not values:
        return st.just(values)
    choices = {}
    for name, value in values.items():
        if name in known and name not in skip:
            choices[name] = st.sampled_from(known[name]) | st.just(value)
        else:
            choices[name] = st.just(value)
    return st.fixed_dictionaries(choices)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    return _towards_known(path_parameters)


@schema.hook
def flatmap_query(context, query):
    return _towards_known(query)


@schema.hook
def flatmap_body(context, body):
    # A `code` in a body is a one-time redemption or check-in code, not a category.
    return _towards_known(body, skip=("code",))


def _populate(api: Api, world) -> dict[str, list]:
    """One of everything, and a rejected record and a cancelled activity; all in reach of
    staff of community A, most of it about vol_a."""
    records = [api.earn(world.vol_a, world.staff_a, ago=hours_ago)["id"]
               for hours_ago in (10, 20, 30)]
    records.append(_record(api, world))
    rejected = api.log(world.staff_a, ago=40, member_id=world.vol_a.id).get_json()["id"]
    assert api.post(f"/api/v1/service-records/{rejected}/reject", world.staff_a,
                    json={"reason": "重复"}).status_code == 200
    records.append(rejected)
    cancelled = _activity(api, world)
    assert api.post(f"/api/v1/activities/{cancelled}/cancel", world.staff_a).status_code == 200
    ids = {
        "activity_id": [_activity(api, world, check_in=True), cancelled],
        "request_id": [_help(api, world, claimed_by="vol_a")],
        "link_id": [_link(api, world)],
        "team_id": [_team(api, world)],
    }
    reward = api.post("/api/v1/rewards", world.staff_a, json={
        "title": "大米", "kind": "goods", "points_cost": "5.00", "stock": 5,
        "org_unit_id": world.units["A"]})
    steps = {
        "reward": reward,
        "order": api.post(f"/api/v1/rewards/{reward.get_json()['id']}/orders", world.vol_a),
        "redemption": api.post("/api/v1/redemptions", world.merchant_a, json={
            "code": api.code(world.vol_a), "offer_id": world.offers["OA"]}),
        "policy": api._call("PUT", f"/api/v1/org-units/{world.units['A']}/transfer-policy",
                            world.staff_a, json={"mode": "any", "per_transfer_limit": "10.00",
                                                 "monthly_limit": "20.00"}),
        "transfer": api.post("/api/v1/transfers", world.vol_a,
                             json={"to_member_id": world.vol_a2.id, "amount": "1.00"}),
        "certificate": api.post("/api/v1/certificates", world.staff_a, json={
            "member_id": world.vol_a.id, "kind": "service_record"}),
    }
    assert all(r.status_code in (200, 201) for r in steps.values()), {
        step: r.get_json() for step, r in steps.items()}
    ids.update({
        "record_id": records,
        "ids": [records, records[-1:]],
        "reward_id": [steps["reward"].get_json()["id"]],
        "order_id": [steps["order"].get_json()["id"]],
        "redemption_id": [steps["redemption"].get_json()["id"]],
        "serial": [steps["certificate"].get_json()["serial"]],
        "merchant_id": list(world.merchants.values()),
        "offer_id": list(world.offers.values()),
        "code": ["cleanup"],
        "category": ["cleanup"],
    })
    ids.update(dict.fromkeys(ID_NAMES["units"], list(world.units.values())))
    ids.update(dict.fromkeys(ID_NAMES["members"],
                             [person.id for person in world.people.values()]))
    return ids


@pytest.fixture(scope="module")
def populated(_template):
    """The populated world, built once: (its database to copy, its people)."""
    with cloned_database(_template) as (url, source):
        app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test-secret"})
        world = build_world(Factory(app))
        known.update(_populate(Api(app.test_client()), world))
        with app.app_context():
            db.engine.dispose()
        yield source, world


@pytest.fixture
def database_url(populated):
    """Each operation starts from its own copy of the populated world."""
    with cloned_database(populated[0]) as (url, _source):
        yield url


@pytest.fixture(params=["admin", "vol_a"])
def caller(request, populated):
    return populated[1].people[request.param]


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_answers_as_documented(case, app, caller):
    case.call_and_validate(app=app, headers=caller.auth, checks=CHECKS)
