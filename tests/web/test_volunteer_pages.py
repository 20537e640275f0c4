"""The volunteer's pages: points at a glance, the code, logging hours, records, history."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import CorrectionRequest, RedemptionCode, ServiceRecord


def _days_ago(app, days: int) -> str:
    with app.app_context():
        from timebank.timeutil import today

        return (today() - timedelta(days=days)).isoformat()


def _form(app, days=3, start="09:00", end="11:30", **extra):
    return {"category": "cleanup", "day": _days_ago(app, days), "start": start, "end": end,
            "place": "社区广场", "description": "清理楼道杂物", **extra}


def _count_records(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(ServiceRecord.id)))


def test_home_shows_balance_hours_pending_and_recent_points(app, web, api, world):
    api.earn(world.vol_a, world.staff_a, ago=30, length=3)
    api.log(world.vol_a, ago=5, length=1.5)
    web.login(world.vol_a)
    page = web.text(web.get("/me/"))
    assert re.search(r'data-testid="balance">\s*30\.00<', page)
    assert re.search(r'data-testid="total-hours">\s*3\.00<', page)
    assert re.search(r'data-testid="pending-hours">\s*1\.50<', page)
    assert "+30.00" in page
    assert 'data-testid="show-code"' in page
    assert 'aria-valuenow="3"' in page  # 3 of 100 hours to the first star


def test_logging_hours_creates_a_pending_record_with_expected_points(app, web, world):
    web.login(world.vol_a)
    resp = web.post("/me/log", _form(app))
    assert resp.status_code == 302 and resp.location.endswith("/me/records")
    page = web.text(web.follow(resp))
    assert "2.50" in page and "25.00" in page  # 2.5 h × 10.00 points
    with app.app_context():
        record = db.session.scalar(select(ServiceRecord))
        assert record.member_id == world.vol_a.id and record.status == "pending"
        assert record.hours_minor == 250 and record.expected_points_minor == 2500
        assert record.place == "社区广场"


def test_overlapping_hours_are_refused_in_chinese_and_nothing_is_added(app, web, world):
    web.login(world.vol_a)
    assert web.post("/me/log", _form(app)).status_code == 302
    resp = web.post("/me/log", _form(app, start="10:00", end="12:00"))
    assert resp.status_code == 422
    assert 'data-testid="error-start"' in web.text(resp)
    assert "重叠" in web.text(resp)
    assert _count_records(app) == 1


def test_future_hours_and_reversed_times_are_refused_in_chinese(app, web, world):
    web.login(world.vol_a)
    future = web.post("/me/log", _form(app, days=-1))
    assert future.status_code == 422
    assert "不能晚于现在" in web.text(future)
    reversed_ = web.post("/me/log", _form(app, start="12:00", end="09:00"))
    assert reversed_.status_code == 422
    assert "结束时间必须晚于开始时间" in web.text(reversed_)
    assert _count_records(app) == 0


def test_malformed_hour_forms_get_field_errors_not_a_500(app, web, world):
    web.login(world.vol_a)
    cases = [
        {"day": "2026-02-30"}, {"start": "25:00"}, {"end": ""}, {"category": "no-such"},
        {"place": ""}, {"place": "x" * 5000}, {"day": "x" * 10000},
    ]
    for bad in cases:
        resp = web.post("/me/log", _form(app, **bad))
        assert resp.status_code == 422, bad
    assert _count_records(app) == 0


def test_the_code_page_shows_eight_digits_a_qr_code_and_a_countdown(app, web, world):
    web.login(world.vol_a)
    page = web.text(web.get("/me/code"))
    digits = re.search(r'data-testid="code"[^>]*>(\d{4}) (\d{4})<', page)
    assert digits, page[:2000]
    code = digits.group(1) + digits.group(2)
    assert "<svg" in page
    assert re.search(r'data-seconds="(29\d|300)"', page)
    renewed = web.text(web.post("/me/code"))
    new_code = "".join(re.search(r'data-testid="code"[^>]*>(\d{4}) (\d{4})<', renewed).groups())
    assert new_code != code
    with app.app_context():
        live = db.session.scalars(select(RedemptionCode.code)
                                  .where(RedemptionCode.member_id == world.vol_a.id)).all()
        assert set(live) == {code, new_code}


def test_a_merchant_redeems_the_code_shown_on_the_page(app, web, api, world):
    api.earn(world.vol_a, world.staff_a)
    web.login(world.vol_a)
    page = web.text(web.get("/me/code"))
    code = "".join(re.search(r'data-testid="code"[^>]*>(\d{4}) (\d{4})<', page).groups())
    redeemed = api.post("/api/v1/redemptions", world.merchant_a,
                        json={"code": code, "offer_id": world.offers["OA"]})
    assert redeemed.status_code == 201
    assert re.search(r'data-testid="balance">\s*10\.00<', web.text(web.get("/me/")))


def test_records_show_status_and_the_reason_for_a_rejection(app, web, api, world):
    record = api.log(world.vol_a, ago=10).get_json()
    rejected = api.post(f"/api/v1/service-records/{record['id']}/reject", world.staff_a,
                        json={"reason": "照片不清楚"})
    assert rejected.status_code == 200, rejected.get_json()
    web.login(world.vol_a)
    page = web.text(web.get("/me/records"))
    assert "照片不清楚" in page
    assert "已驳回" in page


def test_a_member_requests_a_correction_once_per_record(app, web, api, world):
    record = api.log(world.vol_a, ago=10).get_json()
    web.login(world.vol_a)
    web.get("/me/records")
    resp = web.post(f"/me/records/{record['id']}/correction", {"message": "结束时间应为11点"})
    assert resp.status_code == 302
    page = web.text(web.follow(resp))
    assert 'data-testid="correction-open"' in page
    again = web.post(f"/me/records/{record['id']}/correction", {"message": "再次提交"})
    assert again.status_code == 302
    empty = web.post(f"/me/records/{record['id']}/correction", {"message": "  "})
    assert empty.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(CorrectionRequest.id))) == 1


def test_a_member_cannot_ask_to_correct_someone_elses_record(app, web, api, world):
    other = api.log(world.vol_b, ago=10).get_json()
    web.login(world.vol_a)
    web.get("/me/records")
    resp = web.post(f"/me/records/{other['id']}/correction", {"message": "不是我的"})
    assert resp.status_code == 302
    missing = web.post("/me/records/99999999999/correction", {"message": "x"})
    assert missing.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(CorrectionRequest.id))) == 0


def test_transactions_are_paged_with_the_running_balance(app, web, api, world):
    for n in range(22):
        api.earn(world.vol_a, world.staff_a, ago=200 - n * 5, length=1)
    web.login(world.vol_a)
    first = web.text(web.get("/me/transactions"))
    balances = re.findall(r'data-testid="balance-after">([\d.]+)<', first)
    assert balances[:3] == ["220.00", "210.00", "200.00"]
    assert len(balances) == 20
    second = web.text(web.get("/me/transactions?page=2"))
    assert re.findall(r'data-testid="balance-after">([\d.]+)<', second) == ["20.00", "10.00"]
    assert web.get("/me/transactions?page=abc").status_code == 200
    assert web.get("/me/transactions?page=99999999999999").status_code == 200


def test_member_pages_belong_to_members(web, web_factory, world):
    web.login(world.merchant_a)
    assert web.get("/me/").status_code == 403
    assert web.get("/me/code").status_code == 403
    anonymous = web_factory().get("/me/records")
    assert anonymous.status_code == 302 and "/login" in anonymous.location


def test_a_nul_character_in_a_form_is_refused_and_nothing_is_saved(app, web, world):
    web.login(world.vol_a)
    resp = web.post("/me/log", _form(app, description="清理\x00楼道"))
    assert resp.status_code == 302
    assert "无法保存" in web.text(web.get(resp.location, follow_redirects=True))
    assert _count_records(app) == 0
