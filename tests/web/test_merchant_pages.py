"""The merchant's till: redeem by code, today's list with refunds, the monthly statement."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select, update

from timebank.extensions import db
from timebank.models import Redemption, RedemptionCode
from timebank.models.base import utcnow


def _redeem(web, code, offer_id):
    return web.post("/till/", {"code": code, "offer_id": str(offer_id)})


def _redemptions(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Redemption.id)))


def test_a_code_and_an_offer_redeem_with_the_masked_name_in_large_type(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    code = api.code(world.vol_a)
    web.login(world.merchant_a)
    page = web.text(web.get("/till/"))
    assert f'data-testid="offer-{world.offers["OA"]}"' in page
    assert f'data-testid="offer-{world.offers["OB"]}"' not in page  # another shop's offer
    resp = _redeem(web, f"{code[:4]} {code[4:]}", world.offers["OA"])  # spaces are fine
    assert resp.status_code == 200
    text = web.text(resp)
    assert 'data-testid="till-result"' in text
    assert re.search(r'data-testid="result-points">10\.00<', text)
    assert 'data-testid="result-name">张*三<' in text and "张小三" not in text
    assert api.balance(world.vol_a) == "10.00"


def test_each_refusal_is_unmistakable_and_changes_nothing(app, web, api, world):
    api.earn(world.vol_a, world.staff_a, length=0.5)  # 5.00 points: too few for 10.00
    web.login(world.merchant_a)
    web.get("/till/")
    poor = _redeem(web, api.code(world.vol_a), world.offers["OA"])
    assert poor.status_code == 422 and "积分不足" in web.text(poor)
    unknown = _redeem(web, "00000000", world.offers["OA"])
    assert unknown.status_code == 404 and 'data-testid="till-error"' in web.text(unknown)
    short = _redeem(web, "1234", world.offers["OA"])
    assert short.status_code == 422 and "8 位" in web.text(short)
    expired = api.code(world.vol_a)
    with app.app_context():
        db.session.execute(update(RedemptionCode).where(RedemptionCode.code == expired)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    gone = _redeem(web, expired, world.offers["OA"])
    assert gone.status_code == 410 and "过期" in web.text(gone)
    foreign = _redeem(web, api.code(world.vol_a), world.offers["OB"])
    assert foreign.status_code == 403 and 'data-testid="till-error"' in web.text(foreign)
    no_offer = web.post("/till/", {"code": "12345678", "offer_id": "abc"})
    assert no_offer.status_code == 422
    assert _redemptions(app) == 0
    assert api.balance(world.vol_a) == "5.00"


def test_a_used_code_is_refused_the_second_time(app, web, api, world):
    api.earn(world.vol_a, world.staff_a, length=3)
    code = api.code(world.vol_a)
    web.login(world.merchant_a)
    web.get("/till/")
    assert _redeem(web, code, world.offers["OA"]).status_code == 200
    again = _redeem(web, code, world.offers["OA"])
    assert again.status_code == 409 and "已被使用" in web.text(again)
    assert _redemptions(app) == 1 and api.balance(world.vol_a) == "20.00"


def test_a_till_form_without_its_csrf_token_redeems_nothing(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    web.login(world.merchant_a)
    web.get("/till/")
    resp = web.post("/till/", {"code": api.code(world.vol_a), "offer_id": world.offers["OA"]},
                    csrf=False)
    assert resp.status_code in (302, 400)
    assert _redemptions(app) == 0


def test_the_till_is_for_merchants_only(web_factory, world):
    for person in (world.vol_a, world.staff_a):
        web = web_factory()
        web.login(person)
        assert web.get("/till/").status_code == 403
        assert web.get("/till/statement").status_code == 403


def test_today_lists_redemptions_and_refund_restores_the_balance_once(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    code = api.code(world.vol_a)
    web.login(world.merchant_a)
    web.get("/till/")
    _redeem(web, code, world.offers["OA"])
    with app.app_context():
        redemption_id = db.session.scalar(select(Redemption.id))
    page = web.text(web.get("/till/today"))
    assert f'data-testid="refund-{redemption_id}"' in page and "张*三" in page
    done = web.post(f"/till/redemptions/{redemption_id}/refund")
    assert done.status_code == 302
    after = web.text(web.follow(done))
    assert f'data-testid="refunded-{redemption_id}"' in after
    assert api.balance(world.vol_a) == "20.00"
    twice = web.post(f"/till/redemptions/{redemption_id}/refund")
    assert "已经退还" in web.text(web.follow(twice))
    assert api.balance(world.vol_a) == "20.00"


def test_another_shop_cannot_refund_this_shops_redemption(app, web_factory, api, world):
    api.earn(world.vol_a, world.staff_a)
    api.post("/api/v1/redemptions", world.merchant_a,
             json={"code": api.code(world.vol_a), "offer_id": world.offers["OA"]})
    with app.app_context():
        redemption_id = db.session.scalar(select(Redemption.id))
    other = web_factory()
    other.login(world.merchant_b)
    other.get("/till/")
    resp = other.post(f"/till/redemptions/{redemption_id}/refund")
    assert resp.status_code in (302, 404)
    assert api.balance(world.vol_a) == "10.00"


def test_statement_totals_and_csv_with_masked_names(app, web, api, world):
    api.earn(world.vol_a, world.staff_a, length=5)
    for _ in range(2):
        api.post("/api/v1/redemptions", world.merchant_a,
                 json={"code": api.code(world.vol_a), "offer_id": world.offers["OA"]})
    web.login(world.merchant_a)
    page = web.text(web.get("/till/statement"))
    assert re.search(r'data-testid="statement-count">2<', page)
    assert re.search(r'data-testid="statement-points">20\.00<', page)
    csv = web.get("/till/statement.csv")
    assert csv.mimetype == "text/csv" and "attachment" in csv.headers["Content-Disposition"]
    body = csv.get_data(as_text=True)
    assert body.startswith("\ufeff")
    assert "张*三" in body and "张小三" not in body
    assert body.count("10.00") >= 2


def test_a_bad_month_falls_back_to_this_month_with_a_message(web, world):
    web.login(world.merchant_a)
    for bad in ("2026-13", "abc", "x" * 5000, "0000-01", "2026-1"):
        resp = web.get(f"/till/statement?month={bad}")
        assert resp.status_code == 200, bad
        assert web.get(f"/till/statement.csv?month={bad}").status_code == 200
    assert web.get("/till/statement?month=2025-02").status_code == 200
