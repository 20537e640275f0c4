"""Partner merchants and redemption, endpoint by endpoint, with every named error code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from timebank.extensions import db
from timebank.models import Offer, Redemption, RedemptionCode
from timebank.models.base import utcnow


def _problem(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["code"] == code and body["status"] == status
    assert body["title"] and body["detail"]
    return body


def _redeem(api, world, code, offer="OA", who=None, **kw):
    return api.post("/api/v1/redemptions", who or world.merchant_a,
                    json={"code": code, "offer_id": world.offers[offer]}, **kw)


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Redemption.id)))


# --- merchants and offers ---------------------------------------------------------------


@pytest.mark.parametrize("who", ["staff_a", "admin"])
def test_staff_in_reach_and_admins_add_a_merchant_and_an_offer(api, world, who):
    person = getattr(world, who)
    created = api.post("/api/v1/merchants", person,
                       json={"name": "幸福面馆", "org_unit_id": world.units["A1"],
                             "address": "幸福路 8 号"})
    assert created.status_code == 201, created.get_json()
    merchant = created.get_json()
    assert merchant["name"] == "幸福面馆" and isinstance(merchant["id"], int)
    offer = api.post(f"/api/v1/merchants/{merchant['id']}/offers", person,
                     json={"title": "面条九折", "points_cost": "30.00"})
    assert offer.status_code == 201, offer.get_json()
    assert offer.get_json()["points_cost"] == "30.00"
    listed = api.get(f"/api/v1/merchants/{merchant['id']}/offers", person).get_json()
    assert [o["title"] for o in listed["items"]] == ["面条九折"]
    assert api.get(f"/api/v1/merchants/{merchant['id']}", person).status_code == 200


@pytest.mark.parametrize("who", ["vol_a", "merchant_a"])
def test_members_and_merchants_cannot_add_merchants(api, world, who):
    resp = api.post("/api/v1/merchants", getattr(world, who),
                    json={"name": "x", "org_unit_id": world.units["A1"]})
    _problem(resp, 403, "forbidden")


def test_staff_cannot_add_a_merchant_outside_their_reach(api, world):
    resp = api.post("/api/v1/merchants", world.staff_b,
                    json={"name": "x", "org_unit_id": world.units["A1"]})
    _problem(resp, 403, "forbidden")


def test_staff_cannot_see_or_extend_another_communitys_merchant(api, world):
    mid = world.merchants["MA"]
    assert api.get(f"/api/v1/merchants/{mid}", world.staff_b).status_code in (403, 404)
    resp = api.post(f"/api/v1/merchants/{mid}/offers", world.staff_b,
                    json={"title": "x", "points_cost": "1.00"})
    assert resp.status_code in (403, 404)


@pytest.mark.parametrize("cost", ["0.00", "-1.00", "1.001", "abc", 0.30000000000000004, None,
                                  True, "1e400"])
def test_an_offer_needs_a_positive_two_decimal_cost(api, world, cost):
    resp = api.post(f"/api/v1/merchants/{world.merchants['MA']}/offers", world.staff_a,
                    json={"title": "x", "points_cost": cost})
    _problem(resp, 422, "validation_error")


def test_an_unknown_merchant_is_404(api, world):
    _problem(api.get("/api/v1/merchants/999999", world.admin), 404, "not_found")


# --- codes ------------------------------------------------------------------------------


def test_a_member_gets_an_eight_digit_code_valid_for_five_minutes(api, world):
    resp = api.post("/api/v1/redemption-codes", world.vol_a)
    assert resp.status_code == 201
    body = resp.get_json()
    assert len(body["code"]) == 8 and body["code"].isdigit()
    assert "+08:00" in body["expires_at"]


def test_a_code_needs_a_token(api):
    _problem(api.post("/api/v1/redemption-codes"), 401, "unauthenticated")


# --- redemption and its refusals --------------------------------------------------------


def test_a_redemption_answers_the_contract_fields(api, world):
    api.earn(world.vol_a, world.staff_a)
    resp = _redeem(api, world, api.code(world.vol_a))
    assert resp.status_code == 201
    body = resp.get_json()
    assert {"id", "offer_id", "points", "member_name", "created_at"} <= set(body)
    assert body["points"] == "10.00" and body["member_name"] == "张*三"
    assert body["offer_id"] == world.offers["OA"]


def test_an_unknown_code_is_404_code_not_found(app, api, world):
    _problem(_redeem(api, world, "00000000"), 404, "code_not_found")
    assert _count(app) == 0


def test_a_used_code_is_409_code_already_used(app, api, world):
    api.earn(world.vol_a, world.staff_a, length=3)
    code = api.code(world.vol_a)
    assert _redeem(api, world, code).status_code == 201
    _problem(_redeem(api, world, code), 409, "code_already_used")
    assert _count(app) == 1 and api.balance(world.vol_a) == "20.00"


def test_an_expired_code_is_410_code_expired(app, api, world):
    api.earn(world.vol_a, world.staff_a)
    code = api.code(world.vol_a)
    with app.app_context():
        db.session.execute(update(RedemptionCode).where(RedemptionCode.code == code)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    _problem(_redeem(api, world, code), 410, "code_expired")
    assert api.balance(world.vol_a) == "20.00"


def test_too_few_points_is_422_insufficient_points(app, api, world):
    api.earn(world.vol_a, world.staff_a, length=0.5)
    _problem(_redeem(api, world, api.code(world.vol_a)), 422, "insufficient_points")
    assert _count(app) == 0 and api.balance(world.vol_a) == "5.00"


def test_another_merchants_offer_is_403_forbidden_and_the_code_stays_good(app, api, world):
    api.earn(world.vol_a, world.staff_a)
    code = api.code(world.vol_a)
    _problem(_redeem(api, world, code, offer="OB"), 403, "forbidden")
    assert _count(app) == 0
    assert _redeem(api, world, code).status_code == 201
    assert _count(app) == 1 and api.balance(world.vol_a) == "10.00"


def test_an_unknown_or_withdrawn_offer_is_404_and_the_code_stays_good(app, api, world):
    api.earn(world.vol_a, world.staff_a)
    code = api.code(world.vol_a)
    resp = api.post("/api/v1/redemptions", world.merchant_a,
                    json={"code": code, "offer_id": 999_999})
    _problem(resp, 404, "not_found")
    with app.app_context():
        db.session.execute(update(Offer).where(Offer.id == world.offers["OA"])
                           .values(is_active=False))
        db.session.commit()
    _problem(_redeem(api, world, code), 404, "not_found")
    with app.app_context():
        db.session.execute(update(Offer).where(Offer.id == world.offers["OA"])
                           .values(is_active=True))
        db.session.commit()
    assert _redeem(api, world, code).status_code == 201


@pytest.mark.parametrize("who", ["vol_a", "staff_a", "admin"])
def test_only_a_merchant_user_redeems(app, api, world, who):
    api.earn(world.vol_a, world.staff_a)
    _problem(_redeem(api, world, api.code(world.vol_a), who=getattr(world, who)),
             403, "forbidden")
    assert _count(app) == 0


@pytest.mark.parametrize("body", [{}, {"code": "12345678"}, {"offer_id": 1},
                                  {"code": 12345678, "offer_id": 1},
                                  {"code": "12345678", "offer_id": "x"}])
def test_a_malformed_redemption_is_422(app, api, world, body):
    _problem(api.post("/api/v1/redemptions", world.merchant_a, json=body), 422,
             "validation_error")
    assert _count(app) == 0


def test_replaying_a_redemption_with_its_key_moves_points_once(app, api, world):
    api.earn(world.vol_a, world.staff_a)
    code = api.code(world.vol_a)
    key = {"Idempotency-Key": "till-1-0001"}
    first = _redeem(api, world, code, headers=key)
    again = _redeem(api, world, code, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    other = api.post("/api/v1/redemptions", world.merchant_a, headers=key,
                     json={"code": "11112222", "offer_id": world.offers["OA"]})
    _problem(other, 409, "idempotency_conflict")
    assert _count(app) == 1 and api.balance(world.vol_a) == "10.00"


# --- refunds ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["merchant_a", "staff_a"])
def test_that_merchant_or_staff_refund_once_then_409(api, world, who):
    api.earn(world.vol_a, world.staff_a)
    red = _redeem(api, world, api.code(world.vol_a)).get_json()
    person = getattr(world, who)
    done = api.post(f"/api/v1/redemptions/{red['id']}/refund", person)
    assert done.status_code == 200 and done.get_json()["status"] == "refunded"
    assert api.balance(world.vol_a) == "20.00"
    _problem(api.post(f"/api/v1/redemptions/{red['id']}/refund", person), 409,
             "invalid_transition")
    assert api.balance(world.vol_a) == "20.00"


@pytest.mark.parametrize("who", ["merchant_b", "staff_b", "vol_a"])
def test_others_cannot_refund(api, world, who):
    api.earn(world.vol_a, world.staff_a)
    red = _redeem(api, world, api.code(world.vol_a)).get_json()
    resp = api.post(f"/api/v1/redemptions/{red['id']}/refund", getattr(world, who))
    assert resp.status_code in (403, 404)
    assert api.balance(world.vol_a) == "10.00"


# --- statements -------------------------------------------------------------------------


def test_the_statement_counts_completed_redemptions_in_json_and_csv(api, world):
    api.earn(world.vol_a, world.staff_a, length=5)
    reds = [_redeem(api, world, api.code(world.vol_a)).get_json() for _ in range(3)]
    api.post(f"/api/v1/redemptions/{reds[0]['id']}/refund", world.merchant_a)
    path = f"/api/v1/merchants/{world.merchants['MA']}/statement"
    body = api.get(path, world.merchant_a).get_json()
    assert {"merchant_id", "from", "to", "count", "points_total", "items"} <= set(body)
    assert body["count"] == 2 and body["points_total"] == "20.00"
    assert len(body["items"]) == 3
    csv = api.get(path, world.merchant_a, headers={"Accept": "text/csv"})
    assert csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)
    assert "张*三" in text and "张小三" not in text


def test_the_statement_csv_never_carries_a_formula(app, api, world, make):
    offer = make.offer(world.merchants["MA"], "=HYPERLINK(\"http://x\")", "10.00")
    api.earn(world.vol_a, world.staff_a)
    resp = api.post("/api/v1/redemptions", world.merchant_a,
                    json={"code": api.code(world.vol_a), "offer_id": offer})
    assert resp.status_code == 201
    text = api.get(f"/api/v1/merchants/{world.merchants['MA']}/statement", world.merchant_a,
                   headers={"Accept": "text/csv"}).get_data(as_text=True)
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_a_statement_with_dates_reversed_is_422(api, world):
    path = f"/api/v1/merchants/{world.merchants['MA']}/statement?from=2026-03-10&to=2026-03-01"
    _problem(api.get(path, world.merchant_a), 422, "validation_error")


@pytest.mark.parametrize("who", ["merchant_b", "staff_b", "vol_a"])
def test_others_cannot_read_a_merchants_statement(api, world, who):
    resp = api.get(f"/api/v1/merchants/{world.merchants['MA']}/statement", getattr(world, who))
    assert resp.status_code in (403, 404)
