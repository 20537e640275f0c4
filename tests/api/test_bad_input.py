"""Malformed requests of every kind: a 4xx problem+json a person can read, and nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
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


@pytest.mark.parametrize("path", ["/api/v1/service-records", "/api/v1/merchants",
                                  "/api/v1/users", "/api/v1/redemptions",
                                  "/api/v1/service-records/bulk-approve",
                                  "/api/v1/activities", "/api/v1/help-requests",
                                  "/api/v1/transfers", "/api/v1/certificates",
                                  "/api/v1/teams"])
def test_bodies_that_are_not_a_json_object_are_refused(app, api, world, path):
    before = _counts(app)
    who = {"/api/v1/redemptions": world.merchant_a, "/api/v1/help-requests": world.vol_a,
           "/api/v1/transfers": world.vol_a}.get(path, world.staff_a)
    for raw, content_type in RAW_BODIES:
        resp = api.client.post(path, data=raw.encode("utf-8", "surrogateescape"),
                               headers={**who.auth, "Content-Type": content_type})
        _is_clear_problem(resp)
        assert _counts(app) == before, raw


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


# --- hostile text: stored and returned verbatim ---------------------------------------------

HOSTILE = ["'; DROP TABLE user_account; --", "<script>alert(1)</script>",
           '"><img src=x onerror=alert(1)>', "{{7*7}}"]


def _then_get(path_of: Callable) -> Callable:
    return lambda api, w, created: api.get(path_of(w, created), w.staff_a).get_json()


def _tomorrow_at(hour: int) -> str:
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    return f"{day.isoformat()}T{hour:02d}:00:00+08:00"


# name: (who, path, a valid body, its text fields, how to read it back)
TEXT_CALLS: dict[str, tuple] = {
    "record": ("staff_a", lambda w: "/api/v1/service-records",
               lambda w: {**RECORD, "member_id": w.vol_a.id}, ["place", "description"],
               _then_get(lambda w, c: f"/api/v1/service-records/{c['id']}")),
    "activity": ("staff_a", lambda w: "/api/v1/activities",
                 lambda w: {**ACTIVITY, "org_unit_id": w.units["A1"]},
                 ["title", "place", "description", "organiser", "person_in_charge"],
                 _then_get(lambda w, c: f"/api/v1/activities/{c['id']}")),
    "help request": ("vol_a", lambda w: "/api/v1/help-requests",
                     lambda w: {"title": "买菜", "description": "", "category": "cleanup",
                                "org_unit_id": w.units["A1"], "needed_at": _tomorrow_at(10)},
                     ["title", "description"],
                     _then_get(lambda w, c: f"/api/v1/help-requests/{c['id']}")),
    "team": ("staff_a", lambda w: "/api/v1/teams",
             lambda w: {"org_unit_id": w.units["A"], "name": "红马甲"}, ["name", "description"],
             _then_get(lambda w, c: f"/api/v1/teams/{c['id']}")),
    "reward": ("staff_a", lambda w: "/api/v1/rewards",
               lambda w: {"title": "大米", "kind": "goods", "points_cost": "5.00",
                          "org_unit_id": w.units["A"]}, ["title", "description"],
               _then_get(lambda w, c: f"/api/v1/rewards/{c['id']}")),
    "merchant": ("staff_a", lambda w: "/api/v1/merchants",
                 lambda w: {"name": "理发店", "org_unit_id": w.units["A"]}, ["name", "address"],
                 _then_get(lambda w, c: f"/api/v1/merchants/{c['id']}")),
    "offer": ("staff_a", lambda w: f"/api/v1/merchants/{w.merchants['MA']}/offers",
              lambda w: {"title": "理发一次", "points_cost": "15.00"}, ["title", "description"],
              lambda api, w, c: next(o for o in api.get(
                  f"/api/v1/merchants/{w.merchants['MA']}/offers", w.staff_a
              ).get_json()["items"] if o["id"] == c["id"])),
    "member": ("staff_a", lambda w: "/api/v1/users",
               lambda w: {"username": "wang_wu", "password": "long-enough-1",
                          "display_name": "王五", "roles": ["volunteer"],
                          "org_unit_id": w.units["A2"]}, ["display_name"], None),
    "org unit": ("admin", lambda w: "/api/v1/org-units",
                 lambda w: {"parent_id": w.units["A"], "kind": "grid", "name": "第三网格"},
                 ["name"], _then_get(lambda w, c: f"/api/v1/org-units/{c['id']}")),
    "category": ("admin", lambda w: "/api/v1/categories",
                 lambda w: {"code": "visit", "name": "探访", "points_per_hour": "12.00"},
                 ["name"], lambda api, w, c: next(
                     x for x in api.get("/api/v1/categories", w.vol_a).get_json()["items"]
                     if x["code"] == "visit")),
    "certificate": ("staff_a", lambda w: "/api/v1/certificates",
                    lambda w: {"member_id": w.vol_a.id, "kind": "honor", "title": "优秀志愿者",
                               "citation": "热心服务"},
                    ["title", "citation", "person_in_charge"], "certificate data"),
}
TEXT_PARAMS = [(name, f, n) for name, call in TEXT_CALLS.items() for f in call[3]
               for n in range(len(HOSTILE))]


@pytest.mark.parametrize("name,field_name,n", TEXT_PARAMS,
                         ids=[f"{c} {f} {n}" for c, f, n in TEXT_PARAMS])
def test_hostile_text_is_stored_and_returned_verbatim(app, api, world, name, field_name, n):
    who, path_of, body_of, _fields, read_back = TEXT_CALLS[name]
    if name in ("help request", "certificate"):
        api.earn(world.vol_a, world.staff_a)
    value = HOSTILE[n]
    resp = api.post(path_of(world), getattr(world, who),
                    json={**body_of(world), field_name: value})
    assert resp.status_code == 201, resp.get_json()
    assert resp.mimetype == "application/json"
    created = resp.get_json()
    if read_back == "certificate data":  # not echoed by the API: printed on the PDF
        with app.app_context():
            data = db.session.scalar(select(Certificate.data))
        assert value in json.dumps(data, ensure_ascii=False)
        pdf = api.get(urlsplit(created["pdf_url"]).path, world.staff_a)
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
        return
    assert created[field_name] == value
    if read_back is not None:
        assert read_back(api, world, created)[field_name] == value
    # The database is intact: the accounts are all there and a sign-in still works.
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) >= len(world.people)
    assert api.get("/api/v1/users/me", world.vol_a).status_code == 200


def test_a_hostile_reject_reason_is_returned_verbatim(api, world):
    for value in HOSTILE:
        record = api.log(world.vol_a, ago=3 + 10 * HOSTILE.index(value)).get_json()
        resp = api.post(f"/api/v1/service-records/{record['id']}/reject", world.staff_a,
                        json={"reason": value})
        assert resp.status_code == 200, resp.get_json()
        again = api.get(f"/api/v1/service-records/{record['id']}", world.vol_a).get_json()
        assert resp.get_json()["reject_reason"] == again["reject_reason"] == value


# --- bytes that are not text, other content types, more endpoints ------------------------------

# surrogateescape turns "\udcff" into the single byte 0xff: bytes no UTF-8 text holds.
NOT_TEXT_BODIES = [
    ('{"title": "\udcff\udcfe"}', "application/json"),
    ('{"title": "\udced\udca0\udc80"}', "application/json"),  # a lone surrogate, as bytes
    ('{"title": "\\ud800"}', "application/json"),  # the same as a JSON escape
    ('{"title": "\\udfff\\ud800"}', "application/json"),
    ("\ufeff{}", "application/json"),
    ('{"title": "x"}', "application/json; charset=latin-1"),
    ("title=x", "application/x-www-form-urlencoded"),
    ('{"title": "x"}', "text/plain"),
    ('{"title": "x"}', ""),
    ('--xx\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--xx--\r\n',
     "multipart/form-data; boundary=xx"),
]
MORE_PATHS = {
    "/api/v1/rewards": "staff_a", "/api/v1/categories": "admin", "/api/v1/org-units": "admin",
    "/api/v1/family-links": "vol_a", "/api/v1/auth/tokens": None,
    "/api/v1/merchants/{MA}/offers": "staff_a", "/api/v1/categories/cleanup/rates": "admin",
    "/api/v1/org-units/{A}/points-policy": "staff_a",
}


@pytest.mark.parametrize("path", sorted(MORE_PATHS))
def test_more_endpoints_refuse_bodies_that_are_not_a_json_object(app, api, world, path):
    who = MORE_PATHS[path]
    path = path.format(MA=world.merchants["MA"], A=world.units["A"])
    before = _counts(app)
    for raw, content_type in NOT_TEXT_BODIES:
        headers = {**(getattr(world, who).auth if who else {}), "Content-Type": content_type}
        resp = api.client.post(path, data=raw.encode("utf-8", "surrogateescape"),
                               headers=headers)
        _is_clear_problem(resp)
        assert _counts(app) == before, raw


@pytest.mark.parametrize("path", ["/api/v1/service-records", "/api/v1/activities",
                                  "/api/v1/leaderboards", "/api/v1/users/me",
                                  "/api/v1/certificates/x/verify", "/api/v1/rewards"])
@pytest.mark.parametrize("raw", ["status=\xff\xfe", "page=\xed\xa0\x80", "\xc3"])
def test_a_query_string_that_is_not_utf8_is_a_400(api, world, path, raw):
    # The raw bytes as a server hands them over: the WSGI environ holds them as latin-1.
    resp = api.client.get(path, headers=world.staff_a.auth,
                          environ_overrides={"QUERY_STRING": raw})
    assert resp.status_code == 400
    _is_clear_problem(resp)


def test_a_body_over_the_limit_is_413_on_every_kind_of_call(app, api, world):
    before = _counts(app)
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    for method, path, who in [("POST", "/api/v1/teams", world.staff_a),
                              ("PATCH", "/api/v1/teams/1", world.staff_a),
                              ("PUT", "/api/v1/users/me/boards", world.vol_a),
                              ("POST", "/api/v1/auth/tokens", None)]:
        resp = api._call(method, path, who, json={"name": big})
        assert resp.status_code == 413, (path, resp.status_code)
        _is_clear_problem(resp)
        assert "过大" in resp.get_json()["detail"]
    assert _counts(app) == before


# --- amounts, hours and points: strings and numbers ---------------------------------------------

AMOUNTS = ["-1", "0", "1e9", "1.234", "NaN", "Infinity", "-Infinity", "1e400", "", "abc", "0x10",
           "1,000", "5 points", -1, 0, 1e9, 1.234, 1e400, True, None, [], {}]


def _snapshot(app) -> tuple:
    from timebank.models import CategoryRate, Offer, PointsPolicy, Posting, Reward, RewardOrder

    with app.app_context():
        return _counts(app) + tuple(
            db.session.scalar(select(func.count(model.id)))
            for model in (Posting, Offer, Reward, RewardOrder, PointsPolicy, CategoryRate))


def _allow_gifts(api, world) -> None:
    resp = api._call("PUT", f"/api/v1/org-units/{world.units['A']}/transfer-policy",
                     world.staff_a, json={"mode": "any", "per_transfer_limit": "30.00",
                                          "monthly_limit": "100.00"})
    assert resp.status_code == 200, resp.get_json()


def _reward_id(api, world) -> int:
    return api.post("/api/v1/rewards", world.staff_a, json={
        "title": "大米", "kind": "goods", "points_cost": "5.00", "stock": 10,
        "org_unit_id": world.units["A"]}).get_json()["id"]


# name: (who, path, valid body, the amount fields, values among AMOUNTS that are valid there)
AMOUNT_CALLS: dict[str, tuple] = {
    "transfer": ("vol_a", lambda api, w: "/api/v1/transfers",
                 lambda w: {"to_member_id": w.vol_a2.id, "amount": "3.00"}, {"amount": set()}),
    "help request": ("vol_a", lambda api, w: "/api/v1/help-requests",
                     lambda w: {"title": "买菜", "description": "", "category": "cleanup",
                                "org_unit_id": w.units["A1"], "needed_at": _tomorrow_at(10)},
                     {"offered_points": {"0", 0}}),
    "reward": ("staff_a", lambda api, w: "/api/v1/rewards",
               lambda w: {"title": "大米", "kind": "goods", "points_cost": "5.00",
                          "org_unit_id": w.units["A"]},
               {"points_cost": set(), "stock": {0, None}, "per_member_limit": {None}}),
    "order": ("vol_a", lambda api, w: f"/api/v1/rewards/{_reward_id(api, w)}/orders",
              lambda w: {"quantity": 1}, {"quantity": set()}),
    "offer": ("staff_a", lambda api, w: f"/api/v1/merchants/{w.merchants['MA']}/offers",
              lambda w: {"title": "理发一次", "points_cost": "15.00"}, {"points_cost": set()}),
    "category": ("admin", lambda api, w: "/api/v1/categories",
                 lambda w: {"code": "visit", "name": "探访", "points_per_hour": "12.00"},
                 {"points_per_hour": {"0", 0}}),
    "rate": ("admin", lambda api, w: "/api/v1/categories/cleanup/rates",
             lambda w: {"points_per_hour": "12.00", "effective_from": _tomorrow_at(0)[:10]},
             {"points_per_hour": {"0", 0}}),
    "policy": ("staff_a", lambda api, w: f"/api/v1/org-units/{w.units['A']}/points-policy",
               lambda w: {"effective_from": _tomorrow_at(0)[:10]},
               {"per_transfer_limit": set(), "monthly_transfer_limit": set(),
                "daily_hours_cap": {None}, "expiry_months": {None}}),
    "activity": ("staff_a", lambda api, w: "/api/v1/activities",
                 lambda w: {**ACTIVITY, "org_unit_id": w.units["A1"]}, {"capacity": set()}),
}
AMOUNT_PARAMS = [(name, f) for name, call in AMOUNT_CALLS.items() for f in call[3]]


@pytest.mark.parametrize("name,field_name", AMOUNT_PARAMS,
                         ids=[f"{c} {f}" for c, f in AMOUNT_PARAMS])
def test_amounts_out_of_reason_are_refused_by_every_endpoint(app, api, world, name,
                                                             field_name):
    who, path_of, body_of, fields = AMOUNT_CALLS[name]
    valid = fields[field_name]
    api.earn(world.vol_a, world.staff_a)
    _allow_gifts(api, world)
    path = path_of(api, world)
    balance = api.balance(world.vol_a)
    for value in AMOUNTS:
        if any(value == v and type(value) is type(v) for v in valid):
            continue
        _refused_and_unchanged(app, api, path, getattr(world, who),
                               {**body_of(world), field_name: value},
                               f"{value!r} as {name}.{field_name}")
        assert api.balance(world.vol_a) == balance
    # The same call with the valid body goes through: the refusals were about the amount.
    assert api.post(path, getattr(world, who), json=body_of(world)).status_code in (200, 201)


def _refused_and_unchanged(app, api, path: str, who, body, label: str) -> None:
    """Send the body: a clear problem answer, and nothing changed."""
    before = _snapshot(app)
    resp = api.post(path, who, json=body)
    try:
        _is_clear_problem(resp)
    except AssertionError as exc:
        raise AssertionError(f"{label}: {exc}") from exc
    assert _snapshot(app) == before, f"{label} changed data"


@pytest.mark.parametrize("value", ["１０", "１０.００"])
def test_points_in_full_width_digits_are_read_as_the_same_number(api, world, value):
    resp = api.post(f"/api/v1/merchants/{world.merchants['MA']}/offers", world.staff_a,
                    json={"title": "理发一次", "points_cost": value})
    assert resp.status_code == 201 and resp.get_json()["points_cost"] == "10.00"


# --- dates and times -------------------------------------------------------------------------

MOMENTS = ["0001-01-01T09:00:00+08:00", "1900-01-01T09:00:00+08:00",
           "9999-12-31T23:59:59+08:00", "2100-01-01T09:00:00+08:00",
           "2026-02-30T09:00:00+08:00", "2026-01-05T09:00:00", "2026-01-05T25:00:00+08:00",
           "2026-01-05T09:00:00+25:00", "2026-01-05", "", None, 0]
DAYS = ["0001-01-01", "1900-01-01", "9999-12-31", "2100-01-01", "2026-02-30", "2026-13-01",
        "26-01-05", "2026-01-05T00:00:00+08:00", "", None, 20260105]

# name: (who, path, valid body, the date fields and the values sent to each)
DATE_CALLS: dict[str, tuple] = {
    "record": ("staff_a", "/api/v1/service-records",
               lambda w: {**RECORD, "member_id": w.vol_a.id},
               {"started_at": MOMENTS, "ended_at": MOMENTS}),
    "activity": ("staff_a", "/api/v1/activities",
                 lambda w: {**ACTIVITY, "org_unit_id": w.units["A1"]},
                 {"starts_at": MOMENTS, "ends_at": MOMENTS}),
    "help request": ("vol_a", "/api/v1/help-requests",
                     lambda w: {"title": "买菜", "description": "", "category": "cleanup",
                                "org_unit_id": w.units["A1"], "needed_at": _tomorrow_at(10)},
                     {"needed_at": MOMENTS}),
    "rate": ("admin", "/api/v1/categories/cleanup/rates",
             lambda w: {"points_per_hour": "12.00", "effective_from": _tomorrow_at(0)[:10]},
             {"effective_from": DAYS}),
    "policy": ("staff_a", "/api/v1/org-units/{A}/points-policy",
               lambda w: {"effective_from": _tomorrow_at(0)[:10]}, {"effective_from": DAYS}),
    "certificate": ("staff_a", "/api/v1/certificates",
                    lambda w: {"member_id": w.vol_a.id, "kind": "honor", "title": "优秀志愿者",
                               "citation": "热心服务"},
                    {"period_from": [d for d in DAYS if d is not None],  # both optional
                     "period_to": [d for d in DAYS if d is not None]}),
}
DATE_PARAMS = [(name, f) for name, call in DATE_CALLS.items() for f in call[3]]


@pytest.mark.parametrize("name,field_name", DATE_PARAMS, ids=[f"{c} {f}" for c, f in DATE_PARAMS])
def test_dates_out_of_reason_are_refused_by_every_endpoint(app, api, world, name, field_name):
    who, path, body_of, fields = DATE_CALLS[name]
    path = path.format(A=world.units["A"])
    api.earn(world.vol_a, world.staff_a)
    for value in fields[field_name]:
        _refused_and_unchanged(app, api, path, getattr(world, who),
                               {**body_of(world), field_name: value},
                               f"{value!r} as {name}.{field_name}")
    assert api.post(path, getattr(world, who), json=body_of(world)).status_code in (200, 201)


@pytest.mark.parametrize("query", [
    "from=0001-01-01&to=0001-01-02", "to=9999-12-31", "from=9999-12-30&to=9999-12-31",
    "from=1900-01-01&to=1900-01-31", "from=2026-02-30", "from=2026-03-01&to=2026-02-01",
    "from=2025-01-01&to=2026-12-31", "from=x",
])
def test_statement_dates_out_of_reason_are_422(api, world, query):
    resp = api.get(f"/api/v1/merchants/{world.merchants['MA']}/statement?{query}",
                   world.staff_a)
    assert resp.status_code == 422
    _is_clear_problem(resp)


@pytest.mark.parametrize("query", ["date=9999-12-31", "date=1900-01-01", "date=2026-02-30",
                                   "date=", "period=week&date=2999-12-31x"])
def test_leaderboard_dates_out_of_reason_are_4xx(api, world, query):
    _is_clear_problem(api.get(f"/api/v1/leaderboards?{query}", world.vol_a))


NUL_PARAMS = [(name, f) for name, call in TEXT_CALLS.items() for f in call[3]]


@pytest.mark.parametrize("name,field_name", NUL_PARAMS, ids=[f"{c} {f}" for c, f in NUL_PARAMS])
def test_a_nul_in_any_text_field_is_refused(app, api, world, name, field_name):
    who, path_of, body_of, _fields, _read_back = TEXT_CALLS[name]
    api.earn(world.vol_a, world.staff_a)
    before = _snapshot(app)
    for value in ["\x00", "红\x00马甲", "\x1b[31m", "\ud800"]:
        resp = api.client.post(path_of(world), data=json.dumps(
            {**body_of(world), field_name: value}),
            headers={**getattr(world, who).auth, "Content-Type": "application/json"})
        _is_clear_problem(resp)
    assert _snapshot(app) == before


@pytest.mark.parametrize("rates", [{"\x00": "1.00"}, {"clean\x00up": "1.00"}, {"": "1.00"},
                                   {"x" * 33: "1.00"}, {"cleanup": None}])
def test_a_bad_category_in_policy_rates_is_refused(api, world, rates):
    body = {"effective_from": _tomorrow_at(0)[:10], "rates": rates}
    _is_clear_problem(api.post(f"/api/v1/org-units/{world.units['A']}/points-policy",
                               world.staff_a, json=body))
