"""Report pages: staff see their reach only, downloads come as files and leave an audit row,
bad addresses are refused without a 500, the party-member report (双报到)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import openpyxl
import pytest
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import AuditEvent, User
from timebank.services import records, reports
from timebank.timeutil import start_of_day, today

PAGES = ["/reports/", "/reports/party"]
DOWNLOADS = ["/reports/export/records.csv", "/reports/export/records.xlsx",
             "/reports/export/transactions.csv", "/reports/export/transactions.xlsx",
             "/reports/party.csv", "/reports/party.xlsx"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _user(person) -> User:
    return db.session.get(User, person.id)


def _serve(app, member, staff, day: date, *, hours: int = 2, title: str | None = None):
    with app.app_context():
        start = start_of_day(day) + timedelta(hours=9)
        record = records.log_hours(
            actor=_user(staff), member_id=member.id, category="cleanup", started_at=start,
            ended_at=start + timedelta(hours=hours), place="社区广场", description="清理",
            title=title)
        records.approve(record.id, reviewer=_user(staff))


SERVED = date(2025, 2, 3)
TODAY = date(2025, 2, 15)  # the reports' "today" in these tests


def _audits(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AuditEvent.id))
                                 .where(AuditEvent.action == "report.export"))


def _flashes(page: str) -> str:
    return " ".join(re.findall(r'<div class="alert[^"]*"[^>]*role="alert"[^>]*>(.*?)</div>',
                               page, re.S))


def _cell(page: str, row: str, column: str) -> str:
    found = re.search(rf'data-testid="{row}".*?data-testid="{column}">([^<]*)<', page, re.S)
    assert found, f"no {column} in {row}"
    return found.group(1).strip()


@pytest.fixture
def party_world(app, world, monkeypatch):
    """vol_a and vol_b are party members; vol_a served this month, vol_b in community B.
    The reports take 15 February 2025 for today (the points still move today)."""
    monkeypatch.setattr(reports, "today", lambda: TODAY)
    with app.app_context():
        for person, branch in ((world.vol_a, "区卫健委党支部"), (world.vol_a2, None),
                               (world.vol_b, "市税务局党支部")):
            user = _user(person)
            user.is_party_member = person is not world.vol_a2
            user.party_unit = branch
            user.id_number = {world.vol_a.id: "110105194912310021"}.get(person.id)
        db.session.commit()
    _serve(app, world.vol_a, world.staff_a, SERVED, hours=2, title="=1+2")
    _serve(app, world.vol_b, world.staff_b, SERVED, hours=5)
    return world


# --- who may open what -------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES + DOWNLOADS)
@pytest.mark.parametrize("who, status", [
    ("staff_a", 200), ("admin", 200), ("vol_a", 403), ("merchant_a", 403), (None, 302),
])
def test_reports_are_for_staff_and_administrators(web, world, path, who, status):
    if who is not None:
        web.login(world.people[who])
    resp = web.get(path)
    assert resp.status_code == status
    if who is None:
        assert "/login" in resp.location


def test_staff_see_their_own_community_and_can_choose_only_units_in_reach(app, web, party_world):
    web.login(party_world.staff_a)
    page = web.text(web.get("/reports/"))
    assert 'data-testid="unit-name">阳光社区<' in page
    assert 'data-testid="period">2024年3月1日 – 2025年2月15日<' in page
    assert _cell(page, "totals", "total-hours") == "2.00"
    assert _cell(page, "totals", "total-issued") == "0.00"  # the points moved today
    options = re.findall(r'<option value="(\d+)"', page.split('id="f-unit"')[1]
                         .split("</select>")[0])
    assert [int(o) for o in options] == [party_world.units[k] for k in ("A", "A1", "A2")]
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="tb-chart" id="chart-hours"' in page
    assert "<script" not in page.split("<svg", 1)[1].split("</main>")[0]

    for unit in ("B", "B1", "street"):
        resp = web.get(f"/reports/?unit_id={party_world.units[unit]}")
        assert resp.status_code == 404
    grid = web.text(web.get(f"/reports/?unit_id={party_world.units['A2']}"))
    assert _cell(grid, "totals", "total-hours") == "0.00"


def test_the_administrator_sees_the_whole_street_grid_by_grid(app, web, party_world):
    web.login(party_world.admin)
    page = web.text(web.get(f"/reports/?unit_id={party_world.units['street']}"))
    assert _cell(page, "totals", "total-hours") == "7.00"
    assert _cell(page, f"grid-{party_world.units['A1']}", "hours") == "2.00"
    assert _cell(page, f"grid-{party_world.units['B1']}", "hours") == "5.00"
    assert _cell(page, f"grid-{party_world.units['B1']}", "points") == "50.00"
    assert 'id="chart-grids"' in page


def test_a_year_or_a_span_of_days_chooses_the_months_shown(app, web, party_world):
    web.login(party_world.staff_a)
    page = web.text(web.get("/reports/?year=2025"))
    assert page.count('data-testid="month-') == 12
    assert _cell(page, "month-2025-02", "hours") == "2.00"
    assert _cell(page, "month-2025-01", "hours") == "0.00"
    assert '<option value="2025" selected>' in page
    span = web.text(web.get("/reports/?from=2025-02-01&to=2025-02-10"))
    assert span.count('data-testid="month-') == 1
    assert 'name="from" value="2025-02-01"' in span
    with app.app_context():
        now = today()
    moved = web.text(web.get(f"/reports/?from={now:%Y-%m}-01&to={now}"))
    assert _cell(moved, "totals", "total-issued") == "20.00"
    assert _cell(moved, "totals", "total-hours") == "0.00"
    before = web.text(web.get("/reports/?from=2020-01-01&to=2020-03-31"))
    assert _cell(before, "totals", "total-hours") == "0.00"


@pytest.mark.parametrize("query, message", [
    ("from=2025-13-01&to=2025-12-31", "YYYY-MM-DD"),
    ("from=2025-02-01&to=2025-01-01", ""),
    ("from=2020-01-01&to=2025-01-01", ""),
    ("from=2025-01-01", ""),
    ("to=2025-01-01", ""),
    ("year=abcd", ""),
    ("year=1999", ""),
    ("year=99999999999999999999", ""),
    ("from=" + "9" * 5000 + "&to=2025-01-01", ""),
])
def test_bad_filters_say_why_and_go_back_to_the_report(app, web, world, query, message):
    web.login(world.staff_a)
    for path in ("/reports/", "/reports/export/records.csv", "/reports/export/transactions.xlsx"):
        resp = web.get(f"{path}?{query}")
        assert resp.status_code == 302, path
        assert resp.location.endswith("/reports/")
        page = web.text(web.follow(resp))
        assert 'alert-danger' in page and message in _flashes(page)
    assert _audits(app) == 0


@pytest.mark.parametrize("path", [
    "/reports/?unit_id=abc", "/reports/?unit_id=0", "/reports/?unit_id=99999999999999",
    "/reports/?unit_id=987654", "/reports/export/records.pdf", "/reports/export/records.",
    "/reports/export/ledger.csv", "/reports/party.json", "/reports/party?unit_id=-1",
    "/reports/export/records.csv?unit_id=987654",
])
def test_unknown_units_and_formats_are_not_found(app, web, world, path):
    web.login(world.staff_a)
    assert web.get(path).status_code == 404
    assert _audits(app) == 0


# --- downloads ---------------------------------------------------------------------------


def test_records_download_as_csv_in_the_national_layout(app, web, party_world):
    web.login(party_world.staff_a)
    resp = web.get("/reports/export/records.csv?year=2025")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == list(reports.RECORD_HEADERS)
    assert len(rows) == 2  # community B's record stays out
    assert rows[1][1:6] == ["张小三", "居民身份证", "110105194912310021", "", "'=1+2"]
    assert _audits(app) == 1


def test_transactions_download_as_xlsx(app, web, party_world):
    web.login(party_world.staff_a)
    with app.app_context():
        now = today()  # the points moved when the hours were approved: today
    resp = web.get(f"/reports/export/transactions.xlsx?from={now:%Y-%m}-01&to={now}")
    assert resp.status_code == 200
    assert resp.mimetype == XLSX
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    sheet = openpyxl.load_workbook(io.BytesIO(resp.get_data())).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == list(reports.TRANSACTION_HEADERS)
    assert [(r[3], r[4], r[5], r[6]) for r in values[1:]] == [("服务积分", "张小三", 20, 20)]
    with app.app_context():
        event = db.session.scalars(select(AuditEvent)
                                   .where(AuditEvent.action == "report.export")).one()
        assert event.actor_id == party_world.staff_a.id
        assert event.details["export"] == "transactions"
        assert event.details["format"] == "xlsx"


def test_the_download_links_carry_the_unit_and_period_shown(app, web, party_world):
    web.login(party_world.admin)
    unit = party_world.units["B"]
    page = web.text(web.get(f"/reports/?unit_id={unit}&year=2025"))
    link = re.search(r'href="([^"]+)" data-testid="records-csv"', page).group(1)
    assert link == f"/reports/export/records.csv?unit_id={unit}&amp;year=2025"


# --- the party-member report -------------------------------------------------------------


def test_the_party_report_lists_party_members_in_reach_with_their_hours(app, web,
                                                                        party_world):
    web.login(party_world.staff_a)
    page = web.text(web.get("/reports/party"))
    assert _cell(page, "party-counts", "count-members") == "1"
    assert _cell(page, "party-counts", "count-none-month") == "0"
    row = f"party-{party_world.vol_a.id}"
    assert _cell(page, row, "name") == "张小三"
    assert _cell(page, row, "party-unit") == "区卫健委党支部"
    assert _cell(page, row, "month") == "2.00"
    assert f"party-{party_world.vol_b.id}" not in page
    assert f"party-{party_world.vol_a2.id}" not in page

    none_yet = web.text(web.get("/reports/party?show=no_month"))
    assert 'data-testid="no-party"' in none_yet
    assert web.get(f"/reports/party?unit_id={party_world.units['B']}").status_code == 404

    resp = web.get("/reports/party?show=everybody")
    assert resp.status_code == 302 and resp.location.endswith("/reports/party")


def test_the_party_report_downloads(app, web, party_world):
    web.login(party_world.admin)
    street = party_world.units["street"]
    resp = web.get(f"/reports/party.csv?unit_id={street}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.get_data().decode("utf-8-sig"))))
    assert rows[0] == list(reports.PARTY_HEADERS)
    assert sorted((r[1], r[4], r[5]) for r in rows[1:]) == [
        ("Alice Smith", "市税务局党支部", "5.00"), ("张小三", "区卫健委党支部", "2.00")]
    xlsx = web.get(f"/reports/party.xlsx?unit_id={street}")
    assert xlsx.mimetype == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.get_data())).active
    assert [c.value for c in next(sheet.iter_rows())] == list(reports.PARTY_HEADERS)
    assert _audits(app) == 2
