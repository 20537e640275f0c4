"""Malformed requests of every kind: a 4xx problem+json a person can read, and nothing changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import (
    Activity,
    Certificate,
    HelpRequest,
    LedgerTransaction,
    Merchant,
    ServiceRecord,
    Transfer,
    User,
    VolunteerTeam,
)

RECORD = {"category": "cleanup", "started_at": "2026-01-05T09:00:00+08:00",
          "ended_at": "2026-01-05T11:00:00+08:00", "place": "广场", "description": "清扫"}


def _counts(app) -> tuple[int, ...]:
    with app.app_context():
        return tuple(db.session.scalar(select(func.count(model.id)))
                     for model in (ServiceRecord, LedgerTransaction, User, Merchant, Activity,
                                   HelpRequest, Transfer, Certificate, VolunteerTeam))


def _is_clear_problem(resp) -> None:
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == resp.status_code and body["code"]
    assert body["detail"].strip() and body["title"].strip()


RAW_BODIES = [
    ("not json", "application/json"),
    ("{\"category\": ", "application/json"),
    ("[]", "application/json"),
    ("\"a string\"", "application/json"),
    ("null", "application/json"),
    ("42", "application/json"),
    ("category=cleanup", "application/x-www-form-urlencoded"),
    (json.dumps(RECORD), "text/plain"),
    ("[" * 5000 + "]" * 5000, "application/json"),
    ("\xff\xfe garbage", "application/json"),
]


@pytest.mark.parametrize("raw,content_type", RAW_BODIES, ids=range(len(RAW_BODIES)))
@pytest.mark.parametrize("path", ["/api/v1/service-records", "/api/v1/merchants",
                                  "/api/v1/users", "/api/v1/redemptions",
                                  "/api/v1/service-records/bulk-approve",
                                  "/api/v1/activities", "/api/v1/help-requests",
                                  "/api/v1/transfers", "/api/v1/certificates",
                                  "/api/v1/teams"])
def test_bodies_that_are_not_a_json_object_are_refused(app, api, world, path, raw,
                                                       content_type):
    before = _counts(app)
    who = {"/api/v1/redemptions": world.merchant_a, "/api/v1/help-requests": world.vol_a,
           "/api/v1/transfers": world.vol_a}.get(path, world.staff_a)
    resp = api.client.post(path, data=raw.encode("utf-8", "surrogateescape"),
                           headers={**who.auth, "Content-Type": content_type})
    _is_clear_problem(resp)
    assert _counts(app) == before


FIELD_CASES = [
    {"category": 5}, {"category": None}, {"category": ""}, {"category": "x" * 10_000},
    {"started_at": "yesterday"}, {"started_at": "2026-02-30T09:00:00+08:00"},
    {"started_at": 1767574800}, {"ended_at": "2026-01-05T08:00:00+08:00"},
    {"ended_at": "2099-01-05T11:00:00+08:00"}, {"place": ""}, {"place": "p" * 5000},
    {"description": "\x00"}, {"description": "清扫\x00楼道"}, {"place": "\ud800"},
    {"member_id": "abc"}, {"member_id": -1}, {"member_id": 2**63}, {"member_id": 1.5},
    {"org_unit_id": 999_999}, {"member_id": 999_999}, {"unknown_field": 1},
]


@pytest.mark.parametrize("change", FIELD_CASES, ids=range(len(FIELD_CASES)))
def test_wrong_fields_in_a_record_are_refused_with_a_reason(app, api, world, change):
    before = _counts(app)
    # Sent as ASCII JSON, so a lone surrogate arrives as the escape "\\ud800".
    resp = api.client.post("/api/v1/service-records", data=json.dumps({**RECORD, **change}),
                           headers={**world.staff_a.auth, "Content-Type": "application/json"})
    _is_clear_problem(resp)
    assert _counts(app) == before


@pytest.mark.parametrize("ids", [[], "1", [1] * 1001, ["a"], [None], [2**40], {"a": 1}])
def test_a_bad_bulk_list_is_refused(app, api, world, ids):
    before = _counts(app)
    _is_clear_problem(api.post("/api/v1/service-records/bulk-approve", world.staff_a,
                               json={"ids": ids}))
    assert _counts(app) == before


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=x", "per_page=0",
                                   "per_page=101", "per_page=1e3", "status=lost",
                                   "member_id=abc", "org_unit_id=99999999999"])
def test_bad_list_parameters_are_422(api, world, query):
    resp = api.get(f"/api/v1/service-records?{query}", world.staff_a)
    assert resp.status_code in (404, 422)
    _is_clear_problem(resp)


@pytest.mark.parametrize("path", ["/api/v1/service-records/0", "/api/v1/service-records/abc",
                                  "/api/v1/service-records/99999999999999999999",
                                  "/api/v1/merchants/-1", "/api/v1/members/1e9/balance",
                                  "/api/v1/no-such-thing"])
def test_unknown_addresses_are_problem_json_404(api, world, path):
    resp = api.get(path, world.admin)
    assert resp.status_code == 404
    _is_clear_problem(resp)


@pytest.mark.parametrize("path", ["/api/v1/activities/2147483648/signups",
                                  "/api/v1/activities/12646581304/signups",
                                  "/api/v1/merchants/99999999999/offers"])
def test_an_id_too_large_is_404_even_where_another_method_has_a_rule(api, world, path):
    # GET and POST share these addresses; the huge id used to answer 405 Method Not Allowed.
    resp = api.get(path, world.admin)
    assert resp.status_code == 404 and resp.get_json()["code"] == "not_found"
    _is_clear_problem(resp)


def test_the_largest_id_is_still_an_address(api, world):
    resp = api.get("/api/v1/activities/2147483647/signups", world.admin)
    assert resp.status_code == 404 and resp.get_json()["code"] == "not_found"
    resp = api.get("/api/v1/activities/0002147483647/signups", world.admin)
    assert resp.status_code == 404 and resp.get_json()["code"] == "not_found"


def test_a_body_over_the_limit_is_413_and_changes_nothing(app, api, world):
    before = _counts(app)
    huge = {**RECORD, "description": "x" * (2 * 1024 * 1024)}
    resp = api.post("/api/v1/service-records", world.staff_a, json=huge)
    assert resp.status_code == 413
    _is_clear_problem(resp)
    assert _counts(app) == before


def test_a_wrong_method_is_405_problem_json(api, world):
    resp = api._call("PUT", "/api/v1/service-records", world.staff_a, json={})
    assert resp.status_code == 405
    _is_clear_problem(resp)


ACTIVITY = {"title": "清扫", "category": "cleanup", "starts_at": "2030-01-05T09:00:00+08:00",
            "ends_at": "2030-01-05T11:00:00+08:00", "place": "广场", "capacity": 10}
ACTIVITY_CASES = [
    {"capacity": -1}, {"capacity": 10**12}, {"capacity": 2.5}, {"capacity": None},
    {"title": "t" * 201}, {"title": "\x00"}, {"starts_at": "2030-01-05 09:00"},
    {"ends_at": "2030-01-06T12:00:00+08:00"}, {"ends_at": "2030-01-05T09:00:00+08:00"},
    {"org_unit_id": 999_999}, {"org_unit_id": "A"}, {"place": ""}, {"category": "missing"},
]


@pytest.mark.parametrize("change", ACTIVITY_CASES, ids=range(len(ACTIVITY_CASES)))
def test_wrong_fields_in_an_activity_are_refused(app, api, world, change):
    before = _counts(app)
    body = {**ACTIVITY, "org_unit_id": world.units["A1"], **change}
    _is_clear_problem(api.post("/api/v1/activities", world.staff_a, json=body))
    assert _counts(app) == before


HELP_CASES = [
    {"offered_points": "1e400"}, {"offered_points": 1e400}, {"offered_points": "NaN"},
    {"needed_at": "2000-01-01T09:00:00+08:00"}, {"needed_at": "2999-01-01T09:00:00+08:00"},
    {"beneficiary_id": 999_999}, {"beneficiary_id": 0}, {"title": ""}, {"description": None},
    {"org_unit_id": 999_999},
]


@pytest.mark.parametrize("change", HELP_CASES, ids=range(len(HELP_CASES)))
def test_wrong_fields_in_a_request_for_help_are_refused(app, api, world, change):
    api.earn(world.vol_a, world.staff_a)
    before = _counts(app)
    body = {"title": "买菜", "description": "", "category": "cleanup",
            "org_unit_id": world.units["A1"], "needed_at": "2030-01-05T09:00:00+08:00",
            **change}
    if "needed_at" not in change:
        body["needed_at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    _is_clear_problem(api.post("/api/v1/help-requests", world.vol_a, json=body))
    assert _counts(app) == before


# --- recognition: certificates, leaderboards, teams --------------------------------------

CERTIFICATE_CASES = [
    {}, {"kind": "diploma"}, {"kind": None}, {"kind": 5}, {"kind": ["star"]},
    {"member_id": None}, {"member_id": "abc"}, {"member_id": 2**63}, {"member_id": 1.5},
    {"member_id": True}, {"member_id": 999_999}, {"period_from": "yesterday"},
    {"period_from": "2026-02-30"}, {"period_from": 20260101}, {"period_from": "1999-12-31"},
    {"period_to": "3000-01-01"}, {"period_to": "10000-01-01"}, {"period_to": "2099-01-01"},
    {"period_from": "2026-03-02", "period_to": "2026-03-01"},
    {"period_from": "2026-03-01T09:00:00+08:00"}, {"title": "t" * 101},
    {"citation": "c" * 201}, {"person_in_charge": "\x00"}, {"unknown_field": 1},
]


@pytest.mark.parametrize("change", CERTIFICATE_CASES, ids=range(len(CERTIFICATE_CASES)))
def test_wrong_fields_in_a_certificate_are_refused(app, api, world, change):
    api.earn(world.vol_a, world.staff_a)
    before = _counts(app)
    body = {"member_id": world.vol_a.id, "kind": "service_record", **change} if change else {}
    _is_clear_problem(api.post("/api/v1/certificates", world.staff_a, json=body))
    assert _counts(app) == before


TEAM_CASES = [
    {"name": ""}, {"name": None}, {"name": 5}, {"name": "n" * 101}, {"name": "\x00"},
    {"description": "d" * 1001}, {"description": 5}, {"org_unit_id": None},
    {"org_unit_id": "A"}, {"org_unit_id": 999_999}, {"org_unit_id": 2**63},
    {"leader_id": "abc"}, {"leader_id": 999_999}, {"leader_id": 0}, {"unknown_field": 1},
]


@pytest.mark.parametrize("change", TEAM_CASES, ids=range(len(TEAM_CASES)))
def test_wrong_fields_in_a_team_are_refused(app, api, world, change):
    before = _counts(app)
    body = {"org_unit_id": world.units["A"], "name": "红马甲", **change}
    _is_clear_problem(api.post("/api/v1/teams", world.staff_a, json=body))
    assert _counts(app) == before


def _team_id(api, world) -> int:
    resp = api.post("/api/v1/teams", world.staff_a,
                    json={"org_unit_id": world.units["A"], "name": "红马甲",
                          "leader_id": world.vol_a.id})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _serial(api, world) -> str:
    api.earn(world.vol_a, world.staff_a)
    resp = api.post("/api/v1/certificates", world.staff_a,
                    json={"member_id": world.vol_a.id, "kind": "service_record"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["serial"]


# (method, path builder, who, bad bodies) for the calls that change a team, a certificate or
# the caller's boards choice.
CHANGE_CALLS = {
    "patch team": ("PATCH", lambda api, w: f"/api/v1/teams/{_team_id(api, w)}", "staff_a",
                   [{}, {"name": ""}, {"name": None}, {"name": 7}, {"description": 7},
                    {"leader_id": 1}]),
    "add member": ("POST", lambda api, w: f"/api/v1/teams/{_team_id(api, w)}/members",
                   "staff_a", [{}, {"member_id": None}, {"member_id": "x"}, {"member_id": 2**40},
                               {"member_id": 999_999}, {"member_id": [1]}]),
    "set leader": ("PUT", lambda api, w: f"/api/v1/teams/{_team_id(api, w)}/leader", "staff_a",
                   [{}, {"member_id": "x"}, {"member_id": 2**63}, {"member_id": True},
                    {"member_id": 999_999}, {"leader_id": None}]),
    "revoke": ("POST", lambda api, w: f"/api/v1/certificates/{_serial(api, w)}/revoke",
               "staff_a", [{}, {"reason": ""}, {"reason": None}, {"reason": 5},
                           {"reason": "r" * 201}, {"reason": "\x00"}, {"reason": ["x"]}]),
    "boards": ("PUT", lambda api, w: "/api/v1/users/me/boards", "vol_a",
               [{}, {"on_boards": None}, {"on_boards": "false"}, {"on_boards": 0},
                {"on_boards": []}, {"on_boards": True, "shown": True}]),
}
CHANGE_CASES = [(name, n) for name, call in CHANGE_CALLS.items() for n in range(len(call[3]))]
NOT_OBJECTS = [("not json", "application/json"), ("[]", "application/json"),
               ("null", "application/json"), ("\xff\xfe", "application/json"),
               ("on_boards=false", "application/x-www-form-urlencoded"),
               ('{"name": "蓝马甲"}', "text/plain")]


@pytest.mark.parametrize("name,n", CHANGE_CASES, ids=[f"{c} {n}" for c, n in CHANGE_CASES])
def test_wrong_fields_in_changes_to_teams_certificates_and_boards_are_refused(
        app, api, world, name, n):
    method, build_path, who, bodies = CHANGE_CALLS[name]
    path = build_path(api, world)
    before = _counts(app)
    _is_clear_problem(api._call(method, path, getattr(world, who), json=bodies[n]))
    assert _counts(app) == before


@pytest.mark.parametrize("raw,content_type", NOT_OBJECTS, ids=range(len(NOT_OBJECTS)))
@pytest.mark.parametrize("name", sorted(CHANGE_CALLS))
def test_changes_to_teams_certificates_and_boards_need_a_json_object(
        app, api, world, name, raw, content_type):
    method, build_path, who, _bodies = CHANGE_CALLS[name]
    path = build_path(api, world)
    before = _counts(app)
    resp = api.client.open(path, method=method, data=raw.encode("utf-8", "surrogateescape"),
                           headers={**getattr(world, who).auth, "Content-Type": content_type})
    _is_clear_problem(resp)
    assert _counts(app) == before


@pytest.mark.parametrize("path", [
    "/api/v1/leaderboards?period=decade", "/api/v1/leaderboards?limit=1000",
    "/api/v1/leaderboards?limit=-1", "/api/v1/leaderboards?scope_id=99999999999",
    "/api/v1/leaderboards?scope_id=999999", "/api/v1/leaderboards?date=2026-13-01",
    "/api/v1/leaderboards?date=0001-01-01", "/api/v1/leaderboards?metric=",
    "/api/v1/certificates?kind=diploma", "/api/v1/certificates?member_id=abc",
    "/api/v1/certificates?per_page=1000", "/api/v1/teams?org_unit_id=abc",
    "/api/v1/teams?org_unit_id=999999", "/api/v1/teams?page=0", "/api/v1/stars-due?page=x",
    "/api/v1/teams/0", "/api/v1/teams/abc", "/api/v1/teams/99999999999999999999",
    "/api/v1/certificates/" + "9" * 5000 + "/pdf", "/api/v1/certificates/%00/verify",
    "/api/v1/certificates/TB2026-000001-AAAAAAAAAA/verify",
    "/api/v1/certificates/%E8%AF%81/verify", "/api/v1/certificates/a%2Fb/verify",
])
def test_bad_recognition_addresses_and_parameters_are_4xx(api, world, path):
    _is_clear_problem(api.get(path, world.staff_a))


# --- the points shop ----------------------------------------------------------------------

REWARD_CASES = [
    {"title": ""}, {"title": None}, {"title": "t" * 101}, {"kind": "money"}, {"kind": None},
    {"points_cost": "0.00"}, {"points_cost": "-1.00"}, {"points_cost": "1.001"},
    {"points_cost": "1e9"}, {"points_cost": "9" * 30},
    {"stock": -1}, {"stock": "3"}, {"stock": 10**12}, {"per_member_limit": 0},
    {"org_unit_id": 999_999}, {"org_unit_id": "A"}, {"description": "d" * 2001},
    {"unknown_field": 1},
]


@pytest.mark.parametrize("change", REWARD_CASES, ids=range(len(REWARD_CASES)))
def test_wrong_fields_in_a_reward_are_refused(app, api, world, change):
    body = {"title": "大米", "kind": "goods", "points_cost": "5.00",
            "org_unit_id": world.units["A"], **change}
    _is_clear_problem(api.post("/api/v1/rewards", world.staff_a, json=body))
    listed = api.get("/api/v1/rewards?include_inactive=true", world.staff_a).get_json()
    assert listed["total"] == 0


ORDER_CASES = [{"quantity": 0}, {"quantity": -1}, {"quantity": 101}, {"quantity": "2"},
               {"quantity": 1.5}, {"quantity": None}, {"quantity": 2**63}, {"extra": 1}]


@pytest.mark.parametrize("change", ORDER_CASES, ids=range(len(ORDER_CASES)))
def test_wrong_orders_are_refused_and_hold_nothing(app, api, world, change):
    api.earn(world.vol_a, world.staff_a)
    reward = api.post("/api/v1/rewards", world.staff_a, json={
        "title": "大米", "kind": "goods", "points_cost": "5.00", "stock": 10,
        "org_unit_id": world.units["A"]}).get_json()
    _is_clear_problem(api.post(f"/api/v1/rewards/{reward['id']}/orders", world.vol_a,
                               json=change))
    assert api.balance(world.vol_a) == "20.00"
    assert api.get(f"/api/v1/rewards/{reward['id']}", world.vol_a).get_json()["stock"] == 10


# --- points policies ----------------------------------------------------------------------

POLICY_CASES = [
    {"effective_from": "2001-01-01"}, {"effective_from": "yesterday"},
    {"effective_from": None}, {"effective_from": "9999-12-31"},
    {"transfer_mode": "all"}, {"expiry_mode": "rolling"},
    {"expiry_mode": "rolling", "expiry_months": 0},
    {"expiry_mode": "rolling", "expiry_months": "6"}, {"daily_hours_cap": "25.00"},
    {"daily_hours_cap": "0"}, {"daily_hours_cap": "1.001"}, {"per_transfer_limit": "-1"},
    {"per_transfer_limit": "50.00", "monthly_transfer_limit": "10.00"},
    {"rates": {"cleanup": "-1.00"}}, {"rates": {"nosuch": "1.00"}}, {"rates": ["cleanup"]},
    {"rates": {"cleanup": "1e400"}}, {"note": "n" * 501}, {"unknown": 1},
]


@pytest.mark.parametrize("change", POLICY_CASES, ids=range(len(POLICY_CASES)))
def test_wrong_fields_in_a_points_policy_are_refused(app, api, world, change):
    tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    body = {"effective_from": tomorrow.isoformat(), **change}
    before = api.get(f"/api/v1/org-units/{world.units['A']}/points-policy",
                     world.staff_a).get_json()
    _is_clear_problem(api.post(f"/api/v1/org-units/{world.units['A']}/points-policy",
                               world.staff_a, json=body))
    after = api.get(f"/api/v1/org-units/{world.units['A']}/points-policy",
                    world.staff_a).get_json()
    assert after == before


@pytest.mark.parametrize("path", ["/api/v1/org-units/0/points-policy",
                                  "/api/v1/org-units/99999999999/points-policy",
                                  "/api/v1/org-units/abc/points-policy"])
def test_bad_policy_addresses_are_4xx(api, world, path):
    _is_clear_problem(api.get(path, world.staff_a))
