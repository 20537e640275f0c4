"""The permission matrix: every API endpoint × role × inside or outside reach → its status.

Every `/api/v1` rule of the app must be listed here: a new endpoint fails
`test_every_endpoint_is_in_the_matrix` until its permissions are written down.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from timebank import create_app

ROLES = ("admin", "staff_a", "staff_b", "vol_a", "vol_b", "merchant_a")
PUBLIC = {("POST", "/api/v1/auth/tokens"), ("GET", "/api/v1/openapi.json"),
          ("GET", "/api/v1/certificates/<serial>/verify")}


def _record(api, world) -> int:
    """A pending record of vol_a in community A (logged by staff of A)."""
    resp = api.log(world.staff_a, member_id=world.vol_a.id)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _redemption(api, world) -> int:
    api.earn(world.vol_a, world.staff_a)
    resp = api.post("/api/v1/redemptions", world.merchant_a,
                    json={"code": api.code(world.vol_a), "offer_id": world.offers["OA"]})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _vol_a(_api, world) -> int:
    return world.vol_a.id


def _activity(api, world, *, sign_up=False, check_in=False) -> int:
    """An activity of community A happening now; optionally with vol_a in it."""
    start = datetime.now(UTC) - timedelta(hours=1)
    resp = api.post("/api/v1/activities", world.staff_a, json={
        "title": "巡逻", "category": "cleanup", "org_unit_id": world.units["A1"],
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "place": "1号楼", "capacity": 5})
    assert resp.status_code == 201, resp.get_json()
    activity_id = resp.get_json()["id"]
    if sign_up or check_in:
        assert api.post(f"/api/v1/activities/{activity_id}/signups", world.vol_a)\
            .status_code == 201
    if check_in:
        assert api.post(f"/api/v1/activities/{activity_id}/check-in", world.vol_a,
                        json=_checkin_code(api, world, activity_id)).status_code == 200
    api.activity_id = activity_id
    return activity_id


def _checkin_code(api, world, activity_id: int) -> dict:
    resp = api.get(f"/api/v1/activities/{activity_id}/checkin-code", world.staff_a)
    return {"code": resp.get_json()["code"]}


def _attendance(api, world) -> dict:
    start = datetime.now(UTC) - timedelta(hours=1)
    return {"member_id": world.vol_a.id, "checked_in_at": start.isoformat(),
            "checked_out_at": (start + timedelta(minutes=30)).isoformat()}


def _help(api, world, *, by="vol_a2", claimed_by=None) -> int:
    """An open request for help in community A, posted by `by`."""
    resp = api.post("/api/v1/help-requests", getattr(world, by), json={
        "title": "修水管", "description": "厨房漏水", "category": "cleanup",
        "org_unit_id": world.units["A2"],
        "needed_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat()})
    assert resp.status_code == 201, resp.get_json()
    request_id = resp.get_json()["id"]
    if claimed_by:
        assert api.post(f"/api/v1/help-requests/{request_id}/claim",
                        getattr(world, claimed_by)).status_code == 200
    return request_id


def _gift(api, world) -> dict:
    """Community A allows any gift, and vol_a has points to give."""
    api.earn(world.vol_a, world.staff_a)
    resp = api._call("PUT", f"/api/v1/org-units/{world.units['A']}/transfer-policy",
                     world.staff_a, json={"mode": "any", "per_transfer_limit": "10.00",
                                          "monthly_limit": "20.00"})
    assert resp.status_code == 200, resp.get_json()
    return {"to_member_id": world.vol_a2.id, "amount": "1.00"}


def _link(api, world) -> int:
    resp = api.post("/api/v1/family-links", world.vol_a,
                    json={"relative_id": world.vol_a2.id, "relation": "配偶"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _certificate(api, world) -> str:
    """A service certificate of vol_a, issued by staff of A."""
    api.earn(world.vol_a, world.staff_a)
    resp = api.post("/api/v1/certificates", world.staff_a,
                    json={"member_id": world.vol_a.id, "kind": "service_record"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["serial"]


def _team(api, world) -> int:
    """A volunteer team of grid A1 led by vol_a."""
    resp = api.post("/api/v1/teams", world.staff_a, json={
        "org_unit_id": world.units["A1"], "name": "红马甲", "leader_id": world.vol_a.id})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _shop_reward(api, world) -> int:
    """A reward of community A, and points for vol_a to order it with."""
    api.earn(world.vol_a, world.staff_a)
    resp = api.post("/api/v1/rewards", world.staff_a, json={
        "title": "大米", "kind": "goods", "points_cost": "5.00", "stock": None,
        "org_unit_id": world.units["A"]})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _shop_order(api, world) -> int:
    """A reserved order of vol_a."""
    resp = api.post(f"/api/v1/rewards/{_shop_reward(api, world)}/orders", world.vol_a)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


# (method, rule) → (path builder, body builder or None, {role: expected status})
ALL_OK = dict.fromkeys(ROLES, 200)
STAFF_OF_A = {"admin": 200, "staff_a": 200, "staff_b": 403, "vol_a": 403, "vol_b": 403,
              "merchant_a": 403}
ADMIN_ONLY = {"admin": 200, "staff_a": 403, "staff_b": 403, "vol_a": 403, "vol_b": 403,
              "merchant_a": 403}
VOL_A_AND_STAFF_OF_A = {"admin": 200, "staff_a": 200, "staff_b": 403, "vol_a": 200,
                        "vol_b": 403, "merchant_a": 403}
MERCHANT_A_VIEW = {"admin": 200, "staff_a": 200, "staff_b": 404, "vol_a": 404, "vol_b": 404,
                   "merchant_a": 200}
# Records out of reach are not revealed (404); the member's own record is 403 (no self-review).
RECORD_REVIEW = {"admin": 200, "staff_a": 200, "staff_b": 404, "vol_a": 403, "vol_b": 404,
                 "merchant_a": 404}

# Activities of community A: its members and staff see them, not community B nor a shop.
COMMUNITY_A_VIEW = {"admin": 200, "staff_a": 200, "staff_b": 404, "vol_a": 200, "vol_b": 404,
                    "merchant_a": 404}
# Checking in: only a member with a place; staff of the activity are refused with a reason.
ATTENDING = {"admin": 422, "staff_a": 422, "staff_b": 404, "vol_a": 200, "vol_b": 404,
             "merchant_a": 404}
# Requests for help of community A: its members and staff; nobody else learns they exist.
REQUEST_VIEW = {"admin": 200, "staff_a": 200, "staff_b": 404, "vol_a": 200, "vol_b": 404,
                "merchant_a": 404}

# A certificate of vol_a: its holder and staff of A; to anyone else it does not exist.
CERTIFICATE_VIEW = {"admin": 200, "staff_a": 200, "staff_b": 404, "vol_a": 200, "vol_b": 404,
                    "merchant_a": 404}
# Changing what staff of A issued or formed: members and shops are refused outright, staff of
# B do not learn it exists.
STAFF_OF_A_CHANGE = {"admin": 200, "staff_a": 200, "staff_b": 404, "vol_a": 403, "vol_b": 403,
                     "merchant_a": 403}


def _created(expected: dict) -> dict:
    return {role: 201 if status == 200 else status for role, status in expected.items()}


MATRIX = {
    ("DELETE", "/api/v1/auth/tokens/current"): (
        lambda api, w: "/api/v1/auth/tokens/current", None, dict.fromkeys(ROLES, 204)),
    ("GET", "/api/v1/categories"): (lambda api, w: "/api/v1/categories", None, ALL_OK),
    ("POST", "/api/v1/categories"): (
        lambda api, w: "/api/v1/categories",
        lambda api, w: {"code": "patrol", "name": "巡逻", "points_per_hour": "5.00"},
        _created({**STAFF_OF_A, "staff_b": 200})),
    ("POST", "/api/v1/categories/<code>/rates"): (
        lambda api, w: "/api/v1/categories/cleanup/rates",
        lambda api, w: {"points_per_hour": "12.00", "effective_from": "2030-01-01"},
        _created({**STAFF_OF_A, "staff_b": 200})),
    ("GET", "/api/v1/ledger/export"): (
        lambda api, w: "/api/v1/ledger/export?format=hledger", None, ADMIN_ONLY),
    ("GET", "/api/v1/ledger/verify"): (lambda api, w: "/api/v1/ledger/verify", None, ADMIN_ONLY),
    ("GET", "/api/v1/members/<int:member_id>/balance"): (
        lambda api, w: f"/api/v1/members/{w.vol_a.id}/balance", None, VOL_A_AND_STAFF_OF_A),
    ("GET", "/api/v1/members/<int:member_id>/transactions"): (
        lambda api, w: f"/api/v1/members/{w.vol_a.id}/transactions", None,
        VOL_A_AND_STAFF_OF_A),
    ("POST", "/api/v1/merchants"): (
        lambda api, w: "/api/v1/merchants",
        lambda api, w: {"name": "新店", "org_unit_id": w.units["A1"]}, _created(STAFF_OF_A)),
    ("GET", "/api/v1/merchants/<int:merchant_id>"): (
        lambda api, w: f"/api/v1/merchants/{w.merchants['MA']}", None, MERCHANT_A_VIEW),
    ("POST", "/api/v1/merchants/<int:merchant_id>/offers"): (
        lambda api, w: f"/api/v1/merchants/{w.merchants['MA']}/offers",
        lambda api, w: {"title": "饮料", "points_cost": "3.00"}, _created(MERCHANT_A_VIEW)),
    ("GET", "/api/v1/merchants/<int:merchant_id>/offers"): (
        lambda api, w: f"/api/v1/merchants/{w.merchants['MA']}/offers", None, MERCHANT_A_VIEW),
    ("GET", "/api/v1/merchants/<int:merchant_id>/statement"): (
        lambda api, w: f"/api/v1/merchants/{w.merchants['MA']}/statement", None,
        MERCHANT_A_VIEW),
    ("GET", "/api/v1/org-units"): (lambda api, w: "/api/v1/org-units", None, ALL_OK),
    ("POST", "/api/v1/org-units"): (
        lambda api, w: "/api/v1/org-units",
        lambda api, w: {"parent_id": w.units["A"], "kind": "grid", "name": "第九网格"},
        _created(STAFF_OF_A)),
    ("GET", "/api/v1/org-units/<int:unit_id>"): (
        lambda api, w: f"/api/v1/org-units/{w.units['A1']}", None, ALL_OK),
    ("POST", "/api/v1/redemption-codes"): (
        lambda api, w: "/api/v1/redemption-codes", None, dict.fromkeys(ROLES, 201)),
    ("POST", "/api/v1/redemptions"): (
        lambda api, w: "/api/v1/redemptions",
        lambda api, w: (api.earn(w.vol_a, w.staff_a),
                        {"code": api.code(w.vol_a), "offer_id": w.offers["OA"]})[1],
        {"admin": 403, "staff_a": 403, "staff_b": 403, "vol_a": 403, "vol_b": 403,
         "merchant_a": 201}),
    ("POST", "/api/v1/redemptions/<int:redemption_id>/refund"): (
        lambda api, w: f"/api/v1/redemptions/{_redemption(api, w)}/refund", None,
        MERCHANT_A_VIEW),
    ("GET", "/api/v1/service-records"): (lambda api, w: "/api/v1/service-records", None, ALL_OK),
    ("POST", "/api/v1/service-records"): (
        lambda api, w: "/api/v1/service-records",
        lambda api, w: {"category": "cleanup", "started_at": "2026-01-05T09:00:00+08:00",
                        "ended_at": "2026-01-05T11:00:00+08:00", "place": "广场",
                        "description": "清扫"},
        dict.fromkeys(ROLES, 201)),
    ("GET", "/api/v1/service-records/<int:record_id>"): (
        lambda api, w: f"/api/v1/service-records/{_record(api, w)}", None,
        {**VOL_A_AND_STAFF_OF_A, "staff_b": 404, "vol_b": 404, "merchant_a": 404}),
    ("POST", "/api/v1/service-records/<int:record_id>/approve"): (
        lambda api, w: f"/api/v1/service-records/{_record(api, w)}/approve", None,
        RECORD_REVIEW),
    ("POST", "/api/v1/service-records/<int:record_id>/reject"): (
        lambda api, w: f"/api/v1/service-records/{_record(api, w)}/reject",
        lambda api, w: {"reason": "照片不清楚"}, RECORD_REVIEW),
    ("POST", "/api/v1/service-records/bulk-approve"): (
        lambda api, w: "/api/v1/service-records/bulk-approve",
        lambda api, w: {"ids": [_record(api, w)]},
        {"admin": 200, "staff_a": 200, "staff_b": 200, "vol_a": 403, "vol_b": 403,
         "merchant_a": 403}),
    ("POST", "/api/v1/users"): (
        lambda api, w: "/api/v1/users",
        lambda api, w: {"username": "newbie", "password": "long-enough-9",
                        "display_name": "新成员", "roles": ["volunteer"],
                        "org_unit_id": w.units["A1"]},
        _created(STAFF_OF_A)),
    ("GET", "/api/v1/users/me"): (lambda api, w: "/api/v1/users/me", None, ALL_OK),
    # --- activities and check-in ---
    ("POST", "/api/v1/activities"): (
        lambda api, w: "/api/v1/activities",
        lambda api, w: {"title": "清扫", "category": "cleanup", "org_unit_id": w.units["A1"],
                        "starts_at": "2030-05-01T09:00:00+08:00",
                        "ends_at": "2030-05-01T11:00:00+08:00", "place": "广场",
                        "capacity": 3},
        _created(STAFF_OF_A)),
    ("GET", "/api/v1/activities"): (lambda api, w: "/api/v1/activities", None, ALL_OK),
    ("GET", "/api/v1/activities/<int:activity_id>"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w)}", None, COMMUNITY_A_VIEW),
    ("POST", "/api/v1/activities/<int:activity_id>/signups"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w)}/signups", None,
        {"admin": 403, "staff_a": 403, "staff_b": 403, "vol_a": 201, "vol_b": 404,
         "merchant_a": 403}),
    ("GET", "/api/v1/activities/<int:activity_id>/signups"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w, sign_up=True)}/signups", None,
        COMMUNITY_A_VIEW),
    ("DELETE", "/api/v1/activities/<int:activity_id>/signups/<int:member_id>"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w, sign_up=True)}/signups/"
                       f"{w.vol_a.id}", None, VOL_A_AND_STAFF_OF_A),
    ("GET", "/api/v1/activities/<int:activity_id>/checkin-code"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w)}/checkin-code", None,
        STAFF_OF_A),
    ("POST", "/api/v1/activities/<int:activity_id>/check-in"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w, sign_up=True)}/check-in",
        lambda api, w: _checkin_code(api, w, api.activity_id), ATTENDING),
    ("POST", "/api/v1/activities/<int:activity_id>/check-out"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w, check_in=True)}/check-out",
        lambda api, w: _checkin_code(api, w, api.activity_id), ATTENDING),
    ("POST", "/api/v1/activities/<int:activity_id>/attendance"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w)}/attendance", _attendance,
        STAFF_OF_A),
    ("POST", "/api/v1/activities/<int:activity_id>/close"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w)}/close", None, STAFF_OF_A),
    ("POST", "/api/v1/activities/<int:activity_id>/cancel"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w)}/cancel", None, STAFF_OF_A),
    ("GET", "/api/v1/activities/<int:activity_id>/pending-records"): (
        lambda api, w: f"/api/v1/activities/{_activity(api, w)}/pending-records", None,
        STAFF_OF_A),
    # --- the time bank ---
    ("POST", "/api/v1/help-requests"): (
        lambda api, w: "/api/v1/help-requests",
        lambda api, w: {"title": "买菜", "description": "", "category": "cleanup",
                        "org_unit_id": w.units["A1"],
                        "needed_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        {"admin": 403, "staff_a": 403, "staff_b": 403, "vol_a": 201, "vol_b": 422,
         "merchant_a": 403}),
    ("GET", "/api/v1/help-requests"): (lambda api, w: "/api/v1/help-requests", None, ALL_OK),
    ("GET", "/api/v1/help-requests/<int:request_id>"): (
        lambda api, w: f"/api/v1/help-requests/{_help(api, w)}", None, REQUEST_VIEW),
    ("POST", "/api/v1/help-requests/<int:request_id>/claim"): (
        lambda api, w: f"/api/v1/help-requests/{_help(api, w)}/claim", None,
        {**REQUEST_VIEW, "admin": 403, "staff_a": 403}),
    ("POST", "/api/v1/help-requests/<int:request_id>/release"): (
        lambda api, w: f"/api/v1/help-requests/{_help(api, w, claimed_by='vol_a')}/release",
        None, REQUEST_VIEW),
    ("POST", "/api/v1/help-requests/<int:request_id>/cancel"): (
        lambda api, w: f"/api/v1/help-requests/{_help(api, w)}/cancel", None,
        {**REQUEST_VIEW, "vol_a": 403}),
    ("POST", "/api/v1/help-requests/<int:request_id>/complete"): (
        lambda api, w: f"/api/v1/help-requests/"
                       f"{_help(api, w, by='vol_a', claimed_by='vol_a2')}/complete",
        lambda api, w: {"rating": 5}, REQUEST_VIEW),
    ("POST", "/api/v1/transfers"): (
        lambda api, w: "/api/v1/transfers", _gift,
        {"admin": 403, "staff_a": 403, "staff_b": 403, "vol_a": 201, "vol_b": 403,
         "merchant_a": 403}),
    ("GET", "/api/v1/transfers"): (lambda api, w: "/api/v1/transfers", None, ALL_OK),
    ("POST", "/api/v1/family-links"): (
        lambda api, w: "/api/v1/family-links",
        lambda api, w: {"member_id": w.vol_a.id, "relative_id": w.vol_a2.id,
                        "relation": "配偶"},
        _created(VOL_A_AND_STAFF_OF_A)),
    ("GET", "/api/v1/family-links"): (lambda api, w: "/api/v1/family-links", None, ALL_OK),
    ("POST", "/api/v1/family-links/<int:link_id>/confirm"): (
        lambda api, w: f"/api/v1/family-links/{_link(api, w)}/confirm", None, STAFF_OF_A),
    ("POST", "/api/v1/family-links/<int:link_id>/revoke"): (
        lambda api, w: f"/api/v1/family-links/{_link(api, w)}/revoke", None,
        {"admin": 200, "staff_a": 200, "staff_b": 404, "vol_a": 200, "vol_b": 404,
         "merchant_a": 404}),
    ("GET", "/api/v1/org-units/<int:unit_id>/transfer-policy"): (
        lambda api, w: f"/api/v1/org-units/{w.units['A1']}/transfer-policy", None,
        {**COMMUNITY_A_VIEW, "staff_b": 403, "vol_b": 403, "merchant_a": 200}),
    ("PUT", "/api/v1/org-units/<int:unit_id>/transfer-policy"): (
        lambda api, w: f"/api/v1/org-units/{w.units['A']}/transfer-policy",
        lambda api, w: {"mode": "family", "per_transfer_limit": "5.00",
                        "monthly_limit": "10.00"}, STAFF_OF_A),
    ("GET", "/api/v1/org-units/<int:unit_id>/points-policy"): (
        lambda api, w: f"/api/v1/org-units/{w.units['A1']}/points-policy", None,
        {**COMMUNITY_A_VIEW, "merchant_a": 200}),
    ("POST", "/api/v1/org-units/<int:unit_id>/points-policy"): (
        lambda api, w: f"/api/v1/org-units/{w.units['A']}/points-policy",
        lambda api, w: {"effective_from": (date.today() + timedelta(days=2)).isoformat(),
                        "expiry_mode": "end_of_next_year"}, _created(STAFF_OF_A)),
    ("GET", "/api/v1/users/me/expiring"): (
        lambda api, w: "/api/v1/users/me/expiring", None,
        {**ADMIN_ONLY, "admin": 403, "vol_a": 200, "vol_b": 200}),
    # --- recognition: certificates, leaderboards, teams ---
    ("POST", "/api/v1/certificates"): (
        lambda api, w: "/api/v1/certificates",
        lambda api, w: (api.earn(w.vol_a, w.staff_a),
                        {"member_id": w.vol_a.id, "kind": "service_record"})[1],
        _created(STAFF_OF_A)),
    ("GET", "/api/v1/certificates"): (lambda api, w: "/api/v1/certificates", None, ALL_OK),
    ("GET", "/api/v1/certificates/<serial>/pdf"): (
        lambda api, w: f"/api/v1/certificates/{_certificate(api, w)}/pdf", None,
        CERTIFICATE_VIEW),
    ("POST", "/api/v1/certificates/<serial>/revoke"): (
        lambda api, w: f"/api/v1/certificates/{_certificate(api, w)}/revoke",
        lambda api, w: {"reason": "时长有误"}, STAFF_OF_A_CHANGE),
    ("GET", "/api/v1/stars-due"): (
        lambda api, w: "/api/v1/stars-due", None, {**STAFF_OF_A, "staff_b": 200}),
    ("GET", "/api/v1/leaderboards"): (lambda api, w: "/api/v1/leaderboards", None, ALL_OK),
    ("PUT", "/api/v1/users/me/boards"): (
        lambda api, w: "/api/v1/users/me/boards", lambda api, w: {"on_boards": False}, ALL_OK),
    ("POST", "/api/v1/teams"): (
        lambda api, w: "/api/v1/teams",
        lambda api, w: {"org_unit_id": w.units["A"], "name": "护河队"}, _created(STAFF_OF_A)),
    ("GET", "/api/v1/teams"): (lambda api, w: "/api/v1/teams", None, ALL_OK),
    ("GET", "/api/v1/teams/<int:team_id>"): (
        lambda api, w: f"/api/v1/teams/{_team(api, w)}", None, COMMUNITY_A_VIEW),
    ("PATCH", "/api/v1/teams/<int:team_id>"): (
        lambda api, w: f"/api/v1/teams/{_team(api, w)}", lambda api, w: {"name": "蓝马甲"},
        STAFF_OF_A_CHANGE),
    ("POST", "/api/v1/teams/<int:team_id>/members"): (
        lambda api, w: f"/api/v1/teams/{_team(api, w)}/members",
        lambda api, w: {"member_id": w.vol_a2.id}, _created(STAFF_OF_A_CHANGE)),
    ("DELETE", "/api/v1/teams/<int:team_id>/members/<int:member_id>"): (
        lambda api, w: f"/api/v1/teams/{_team(api, w)}/members/{w.vol_a.id}", None,
        {role: 204 if status == 200 else status for role, status in STAFF_OF_A_CHANGE.items()}),
    ("PUT", "/api/v1/teams/<int:team_id>/leader"): (
        lambda api, w: f"/api/v1/teams/{_team(api, w)}/leader",
        lambda api, w: {"member_id": w.vol_a.id}, STAFF_OF_A_CHANGE),
    # --- the points shop ---
    ("POST", "/api/v1/rewards"): (
        lambda api, w: "/api/v1/rewards",
        lambda api, w: {"title": "毛巾", "kind": "goods", "points_cost": "3.00",
                        "org_unit_id": w.units["A"]}, _created(STAFF_OF_A)),
    ("GET", "/api/v1/rewards"): (lambda api, w: "/api/v1/rewards", None, ALL_OK),
    ("GET", "/api/v1/rewards/<int:reward_id>"): (
        lambda api, w: f"/api/v1/rewards/{_shop_reward(api, w)}", None, COMMUNITY_A_VIEW),
    ("PATCH", "/api/v1/rewards/<int:reward_id>"): (
        lambda api, w: f"/api/v1/rewards/{_shop_reward(api, w)}",
        lambda api, w: {"stock": 9}, STAFF_OF_A_CHANGE),
    ("POST", "/api/v1/rewards/<int:reward_id>/orders"): (
        lambda api, w: f"/api/v1/rewards/{_shop_reward(api, w)}/orders", None,
        {"admin": 403, "staff_a": 403, "staff_b": 403, "vol_a": 201, "vol_b": 404,
         "merchant_a": 403}),
    ("GET", "/api/v1/reward-orders"): (lambda api, w: "/api/v1/reward-orders", None, ALL_OK),
    ("GET", "/api/v1/reward-orders/<int:order_id>"): (
        lambda api, w: f"/api/v1/reward-orders/{_shop_order(api, w)}", None, COMMUNITY_A_VIEW),
    ("POST", "/api/v1/reward-orders/<int:order_id>/fulfil"): (
        lambda api, w: f"/api/v1/reward-orders/{_shop_order(api, w)}/fulfil", None,
        STAFF_OF_A_CHANGE),
    ("POST", "/api/v1/reward-orders/<int:order_id>/cancel"): (
        lambda api, w: f"/api/v1/reward-orders/{_shop_order(api, w)}/cancel", None,
        COMMUNITY_A_VIEW),
}


def _api_rules() -> set[tuple[str, str]]:
    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "x"})
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/v1")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_endpoint_is_in_the_matrix():
    assert _api_rules() - PUBLIC - set(MATRIX) == set()
    assert set(MATRIX) - _api_rules() == set()


@pytest.mark.parametrize("endpoint", sorted(MATRIX), ids=lambda e: f"{e[0]} {e[1]}")
def test_without_a_token_every_endpoint_is_401(api, world, endpoint):
    method, _rule = endpoint
    build_path, build_body, _expected = MATRIX[endpoint]
    path = build_path(api, world)
    body = build_body(api, world) if build_body else None
    resp = api.client.open(path, method=method, json=body)
    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "unauthenticated"
    bogus = api.client.open(path, method=method, json=body,
                            headers={"Authorization": "Bearer not-a-real-token"})
    assert bogus.status_code == 401


CASES = [(endpoint, role) for endpoint in sorted(MATRIX) for role in ROLES]


@pytest.mark.parametrize("endpoint,role", CASES, ids=[f"{e[0]} {e[1]} as {r}" for e, r in CASES])
def test_each_role_gets_the_expected_status(api, world, endpoint, role):
    method, _rule = endpoint
    build_path, build_body, expected = MATRIX[endpoint]
    path = build_path(api, world)
    body = build_body(api, world) if build_body else None
    resp = api._call(method, path, getattr(world, role), json=body)
    assert resp.status_code == expected[role], resp.get_data(as_text=True)[:300]
    if resp.status_code >= 400:
        assert resp.mimetype == "application/problem+json"
