"""Settlement pages: the month over merchants in reach, one merchant's month, settling, downloads,
and the merchant's own statement with its settled status."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from timebank.extensions import db
from timebank.models import MerchantSettlement, Offer, Redemption, User
from timebank.services import merchants
from timebank.timeutil import today

MONTH = "2024-03"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _user(person) -> User:
    return db.session.get(User, person.id)


def redeem_at(app, world, when: datetime, offer: str = "OA", member=None) -> int:
    with app.app_context():
        till = world.merchant_b if offer == "OB" else world.merchant_a
        code = merchants.issue_code(member=_user(member or world.vol_a), ttl_seconds=300)
        made = merchants.redeem(actor=_user(till), code=code.code, offer_id=world.offers[offer])
        db.session.execute(update(Redemption).where(Redemption.id == made.id)
                           .values(created_at=when))
        db.session.commit()
        return made.id


def _settlements(app) -> list[MerchantSettlement]:
    with app.app_context():
        rows = db.session.scalars(select(MerchantSettlement)).all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def march(app, api, world):
    """Shop A: two redemptions in March 2024 (one of them refunded), one in April; shop B: one."""
    api.earn(world.vol_a, world.staff_a, length=10)
    api.earn(world.vol_b, world.staff_b, length=10)
    redeem_at(app, world, datetime(2024, 3, 4, 2, 0, tzinfo=UTC))
    refunded = redeem_at(app, world, datetime(2024, 3, 5, 2, 0, tzinfo=UTC))
    redeem_at(app, world, datetime(2024, 3, 31, 16, 0, tzinfo=UTC))  # 1 April, local time
    redeem_at(app, world, datetime(2024, 3, 6, 2, 0, tzinfo=UTC), "OB", member=world.vol_b)
    with app.app_context():
        merchants.refund(refunded, actor=_user(world.merchant_a))
    return world


def _row(page: str, merchant_id: int) -> str:
    found = re.search(rf'<tr data-testid="merchant-{merchant_id}">(.*?)</tr>', page, re.S)
    return found.group(1) if found else ""


def test_staff_see_their_merchants_with_the_months_figures(web_factory, march):
    world = march
    staff_a = web_factory()
    staff_a.login(world.staff_a)
    page = staff_a.text(staff_a.get(f"/settlements/?month={MONTH}"))
    row = _row(page, world.merchants["MA"])
    assert 'data-testid="count">1<' in row and 'data-testid="points">10.00<' in row
    assert 'data-testid="not-settled"' in row
    assert f'data-testid="settle-{world.merchants["MA"]}"' in row
    assert f'data-testid="merchant-{world.merchants["MB"]}"' not in page
    assert "便民超市" not in page
    admin = web_factory()
    admin.login(world.admin)
    everything = admin.text(admin.get(f"/settlements/?month={MONTH}"))
    assert 'data-testid="points">10.00<' in _row(everything, world.merchants["MB"])
    assert re.search(r'data-testid="total-points">20\.00<', everything)


def test_the_pages_are_for_staff_only(web_factory, world):
    for person in (world.vol_a, world.merchant_a):
        web = web_factory()
        web.login(person)
        ma = world.merchants["MA"]
        for path in ("/settlements/", f"/settlements/{ma}/{MONTH}",
                     f"/settlements/{ma}/{MONTH}.csv", f"/settlements/{MONTH}.xlsx"):
            assert web.get(path).status_code == 403, (person.username, path)
    anonymous = web_factory()
    assert anonymous.get("/settlements/").status_code == 302


def test_settle_from_the_list_once_with_a_note(app, web, march):
    world = march
    web.login(world.staff_a)
    web.get(f"/settlements/?month={MONTH}")
    done = web.post(f"/settlements/{world.merchants['MA']}/{MONTH}/settle",
                    {"note": "已转账 <b>", "return_to": "index"})
    assert done.status_code == 302 and done.location.endswith(f"/settlements/?month={MONTH}")
    rows = _settlements(app)
    assert [(r.merchant_id, r.month, r.redemption_count, r.points_total_minor, r.note)
            for r in rows] == [(world.merchants["MA"], MONTH, 1, 1000, "已转账 <b>")]
    page = web.text(web.follow(done))
    row = _row(page, world.merchants["MA"])
    assert 'data-testid="settled"' in row and "陈社工" in row
    assert "已转账 &lt;b&gt;" in row and "<b>" not in row
    assert f'data-testid="settle-{world.merchants["MA"]}"' not in row
    again = web.post(f"/settlements/{world.merchants['MA']}/{MONTH}/settle", {"note": "x"})
    assert again.status_code == 302
    assert 'alert-danger' in web.text(web.follow(again))
    assert len(_settlements(app)) == 1 and _settlements(app)[0].note == "已转账 <b>"


def test_staff_of_another_community_can_neither_see_nor_settle(app, web, march):
    world = march
    web.login(world.staff_b)
    ma = world.merchants["MA"]
    assert web.get(f"/settlements/{ma}/{MONTH}").status_code == 404
    assert web.get(f"/settlements/{ma}/{MONTH}.csv").status_code == 404
    assert web.get(f"/settlements/{ma}/{MONTH}.xlsx").status_code == 404
    web.get("/settlements/")
    assert web.post(f"/settlements/{ma}/{MONTH}/settle", {"note": "x"}).status_code == 404
    assert _settlements(app) == []
    overview = web.get(f"/settlements/{MONTH}.csv").get_data().decode("utf-8-sig")
    assert "惠民肉菜店" not in overview and "便民超市" in overview


def test_a_month_still_running_is_refused_and_nothing_is_stored(app, web, world):
    web.login(world.staff_a)
    with app.app_context():
        month = today().strftime("%Y-%m")
    page = web.text(web.get(f"/settlements/?month={month}"))
    assert 'data-testid="month-running"' in page
    assert f'data-testid="settle-{world.merchants["MA"]}"' not in page
    refused = web.post(f"/settlements/{world.merchants['MA']}/{month}/settle", {})
    assert refused.status_code == 302 and "alert-danger" in web.text(web.follow(refused))
    assert _settlements(app) == []


def test_detail_shows_offers_lines_and_the_change_after_a_later_refund(app, web, march):
    world = march
    ma = world.merchants["MA"]
    web.login(world.staff_a)
    page = web.text(web.get(f"/settlements/{ma}/{MONTH}"))
    assert re.search(r'data-testid="statement-count">1<', page)
    assert re.search(r'data-testid="statement-points">10\.00<', page)
    assert re.search(r'data-testid="statement-refunded">1<', page)
    assert f'data-testid="offer-{world.offers["OA"]}"' in page
    assert page.count('data-testid="redemption-') == 2 and "张*三" in page
    done = web.post(f"/settlements/{ma}/{MONTH}/settle", {"return_to": "detail"})
    assert done.location.endswith(f"/settlements/{ma}/{MONTH}")
    with app.app_context():
        kept = db.session.scalar(select(Redemption.id).where(Redemption.status == "completed")
                                 .order_by(Redemption.id))
        merchants.refund(kept, actor=_user(world.staff_a))
    after = web.text(web.get(f"/settlements/{ma}/{MONTH}"))
    assert 'data-testid="differs"' in after and 'data-testid="changed"' in after
    assert re.search(r'data-testid="statement-count">0<', after)
    row = _settlements(app)[0]
    assert (row.redemption_count, row.points_total_minor) == (1, 1000)


def test_statement_csv_is_excel_ready_and_neutralises_formulas(app, web, api, world):
    api.earn(world.vol_a2, world.staff_a, length=10)
    with app.app_context():
        db.session.execute(update(Offer).where(Offer.id == world.offers["OA"])
                           .values(title="=HYPERLINK(\"http://x\")"))
        db.session.execute(update(User).where(User.id == world.vol_a2.id)
                           .values(display_name="@evil name"))
        db.session.commit()
    redeem_at(app, world, datetime(2024, 3, 4, 2, 0, tzinfo=UTC), member=world.vol_a2)
    web.login(world.staff_a)
    resp = web.get(f"/settlements/{world.merchants['MA']}/{MONTH}.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    raw = resp.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header = next(r for r in rows if r[:2] == ["时间", "优惠项目"])
    assert header == ["时间", "优惠项目", "积分", "成员", "状态"]
    line = rows[rows.index(header) + 1]
    assert line[1] == "'=HYPERLINK(\"http://x\")" and line[2] == "10.00"
    assert line[3] == "'@**** n***" and line[4] == "已完成"
    assert ["核销笔数", "1"] in rows and ["积分", "10.00"] in rows
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_statement_xlsx_opens_with_its_three_sheets(app, web, march):
    world = march
    web.login(world.staff_a)
    resp = web.get(f"/settlements/{world.merchants['MA']}/{MONTH}.xlsx")
    assert resp.status_code == 200 and resp.mimetype == XLSX
    book = load_workbook(io.BytesIO(resp.get_data()))
    assert len(book.worksheets) == 3
    summary, per_offer, lines = (list(ws.iter_rows(values_only=True)) for ws in book.worksheets)
    assert ("核销笔数", 1) in summary and ("积分", 10) in summary
    assert per_offer[0] == ("优惠项目", "核销笔数", "积分") and per_offer[1] == ("八折优惠", 1, 10)
    assert lines[0] == ("时间", "优惠项目", "积分", "成员", "状态")
    assert [row[3:] for row in lines[1:]] == [("张*三", "已完成"), ("张*三", "已退还")]
    assert isinstance(lines[1][0], datetime) and lines[1][0].hour == 10  # 02:00 UTC in Shanghai


def test_overview_downloads_list_every_merchant_in_reach(app, web_factory, march):
    world = march
    admin = web_factory()
    admin.login(world.admin)
    body = admin.get(f"/settlements/{MONTH}.csv").get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    names = [r[0] for r in rows]
    assert "惠民肉菜店" in names and "便民超市" in names
    book = load_workbook(io.BytesIO(admin.get(f"/settlements/{MONTH}.xlsx").get_data()))
    values = list(book.worksheets[0].iter_rows(values_only=True))
    assert {v[0] for v in values[1:]} >= {"惠民肉菜店", "便民超市"}
    assert values[-1][2:4] == (2, 20)  # the total row


def test_the_merchant_sees_the_settled_status_and_downloads_only_its_own_month(
        app, web_factory, march):
    world = march
    staff = web_factory()
    staff.login(world.staff_a)
    staff.get("/settlements/")
    staff.post(f"/settlements/{world.merchants['MA']}/{MONTH}/settle", {"note": "ok"})
    shop_a = web_factory()
    shop_a.login(world.merchant_a)
    page = shop_a.text(shop_a.get(f"/till/statement?month={MONTH}"))
    assert 'data-testid="settlement-status" data-status="settled"' in page
    assert f'data-testid="settled-{MONTH}"' in page
    assert shop_a.text(shop_a.get("/till/statement?month=2024-02")).count(
        'data-status="open"') == 1
    book = load_workbook(io.BytesIO(shop_a.get(f"/till/statement.xlsx?month={MONTH}")
                                    .get_data()))
    assert ("商户", "惠民肉菜店") in list(book.worksheets[0].iter_rows(values_only=True))
    shop_b = web_factory()
    shop_b.login(world.merchant_b)
    other = shop_b.get(f"/till/statement.csv?month={MONTH}").get_data().decode("utf-8-sig")
    assert "便民超市" in other and "惠民肉菜店" not in other and "八折优惠" not in other
    assert 'data-status="open"' in shop_b.text(shop_b.get(f"/till/statement?month={MONTH}"))


@pytest.mark.parametrize("path", [
    "/settlements/?month=2024-13", "/settlements/?month=abc", "/settlements/?month=" + "x" * 5000,
    "/settlements/?month=２０２４-03", "/settlements/?page=-1",
])
def test_a_bad_month_in_the_list_is_told_and_ignored(web, world, path):
    web.login(world.staff_a)
    resp = web.get(path)
    assert resp.status_code == 200


@pytest.mark.parametrize("path", [
    "/settlements/{ma}/2024-13", "/settlements/{ma}/abc", "/settlements/99999999999/2024-03",
    "/settlements/{ma}/2024-03.pdf", "/settlements/junk.csv", "/settlements/0/2024-03",
    "/settlements/{ma}/１９９９-01.xlsx",
])
def test_malformed_addresses_are_not_found(web, world, path):
    web.login(world.staff_a)
    assert web.get(path.format(ma=world.merchants["MA"])).status_code == 404


def test_malformed_settle_requests_change_nothing(app, web, march):
    world = march
    ma = world.merchants["MA"]
    web.login(world.staff_a)
    web.get("/settlements/")
    assert web.post(f"/settlements/{ma}/2024-3/settle", {}).status_code == 404
    assert web.post(f"/settlements/99999999999/{MONTH}/settle", {}).status_code == 404
    long_note = web.post(f"/settlements/{ma}/{MONTH}/settle", {"note": "x" * 501})
    assert long_note.status_code == 302
    no_csrf = web.post(f"/settlements/{ma}/{MONTH}/settle", {}, csrf=False)
    assert no_csrf.status_code in (302, 400)
    nul = web.post(f"/settlements/{ma}/{MONTH}/settle", {"note": "a\x00b"})
    assert nul.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(MerchantSettlement.id))) == 0
