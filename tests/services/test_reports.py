"""Staff reports: monthly figures in local months, reach, grids, the party-member report,
the national-layout exports (CSV and XLSX) and the SVG charts."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from timebank.errors import Forbidden, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import AuditEvent, User
from timebank.services import (
    helping,
    ledger,
    merchants,
    org,
    records,
    reports,
    rewards,
    spreadsheet,
    svg_chart,
)
from timebank.timeutil import start_of_day, today

JAN, FEB = date(2025, 1, 1), date(2025, 2, 1)
Q1 = reports.Period(date(2025, 1, 1), date(2025, 3, 31))
SVG = "{http://www.w3.org/2000/svg}"


def _user(person) -> User:
    return db.session.get(User, person.id)


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return start_of_day(day) + timedelta(hours=hour, minutes=minute)


def serve(member, staff, start: datetime, *, hours: float = 2, category: str = "cleanup",
          title: str | None = None, at: datetime | None = None, monkeypatch=None) -> int:
    """Approved hours starting at `start`; the points are posted at `at` when given."""
    record = records.log_hours(
        actor=_user(staff), member_id=member.id, category=category, started_at=start,
        ended_at=start + timedelta(hours=hours), place="社区广场", description="清理垃圾",
        title=title, person_in_charge="陈主任")
    if at is not None:
        monkeypatch.setattr(ledger, "utcnow", lambda: at)
    records.approve(record.id, reviewer=_user(staff))
    if at is not None:
        monkeypatch.undo()
    return record.id


def _redeem(world, member, merchant, offer, *, refund: bool = False) -> None:
    code = merchants.issue_code(member=_user(member), ttl_seconds=300).code
    done = merchants.redeem(actor=_user(merchant), code=code, offer_id=world.offers[offer])
    if refund:
        merchants.refund(done.id, actor=_user(merchant))


def _expire(member, minor: int, *, key: str) -> None:
    """Points running out, as the expiry job will post them (member → expiry account)."""
    unit = _user(member).org_unit
    ledger.post("expiry", [(ledger.member_account(member.id), -minor),
                           (org.community_account(unit, "expiry"), minor)],
                actor=None, key=key, memo="年末积分清零")
    db.session.commit()


def _moves_between_members(world) -> None:
    """A gift and a request for help paid to the helper: points that already existed."""
    a, a2 = ledger.member_account(world.vol_a.id), ledger.member_account(world.vol_a2.id)
    hold = helping.hold_account(_user(world.vol_a).org_unit)
    ledger.post("transfer", [(a, -100), (a2, 100)], actor=None, key="test:transfer")
    ledger.post("help_hold", [(a2, -200), (hold, 200)], actor=None, key="test:hold")
    ledger.post("help_pay", [(hold, -200), (a, 200)], actor=None, key="test:pay")
    db.session.commit()


def _months(report_rows) -> dict[str, tuple]:
    return {f"{r.month:%Y-%m}": (r.hours_minor, r.records, r.active, r.issued_minor,
                                 r.redeemed_minor, r.expired_minor) for r in report_rows}


# --- periods ------------------------------------------------------------------------------


def test_a_period_has_its_local_months_and_edges(app):
    with app.app_context():
        period = reports.period_between(date(2024, 12, 15), date(2025, 2, 3))
        assert period.months() == [date(2024, 12, 1), JAN, FEB]
        edges = period.edges()
        assert [e.astimezone(UTC) for e in edges] == [
            datetime(2024, 12, 14, 16, tzinfo=UTC), datetime(2024, 12, 31, 16, tzinfo=UTC),
            datetime(2025, 1, 31, 16, tzinfo=UTC), datetime(2025, 2, 3, 16, tzinfo=UTC)]
        assert period.year is None
        assert reports.period_for_year(2025).year == 2025
        assert reports.default_period(date(2025, 3, 10)) == reports.Period(
            date(2024, 4, 1), date(2025, 3, 10))


@pytest.mark.parametrize("start, end, field", [
    (date(2025, 2, 1), date(2025, 1, 31), "to"),
    (date(2020, 1, 1), date(2023, 12, 31), "to"),
    (date(1999, 12, 1), date(2000, 1, 31), "from"),
    (date(2100, 12, 1), date(2101, 1, 31), "to"),
])
def test_a_reversed_far_off_or_overlong_period_is_refused(app, start, end, field):
    with app.app_context(), pytest.raises(ValidationFailed) as refused:
        reports.period_between(start, end)
    assert field in refused.value.errors


def test_the_longest_period_allowed_is_accepted(app):
    with app.app_context():
        start = date(2020, 1, 1)
        period = reports.period_between(start, start + timedelta(days=reports.MAX_DAYS - 1))
        assert len(period.months()) == 37
        with pytest.raises(ValidationFailed):
            reports.period_for_year(1999)


# --- monthly figures ----------------------------------------------------------------------


def test_hours_fall_in_the_local_month_of_their_service(app, world):
    with app.app_context():
        # 23:00 on 31 January in Shanghai is still January; 00:30 on 1 February is February
        # in Shanghai although it is 31 January in UTC.
        serve(world.vol_a, world.staff_a, _local(date(2025, 1, 31), 21), hours=2)
        serve(world.vol_a, world.staff_a, _local(FEB, 0, 30), hours=1.5)
        serve(world.vol_a2, world.staff_a, _local(date(2025, 2, 10), 9), hours=3)
        serve(world.vol_a, world.staff_a, _local(date(2025, 3, 31), 22), hours=1)
        serve(world.vol_a, world.staff_a, _local(date(2025, 4, 1), 9), hours=4)  # outside
        pending = records.log_hours(
            actor=_user(world.staff_a), member_id=world.vol_a2.id, category="cleanup",
            started_at=_local(JAN, 9), ended_at=_local(JAN, 11), place="p", description="d")
        assert pending.status == "pending"

        months = _months(reports.monthly(_user(world.staff_a),
                                         org.get_unit(world.units["A"]), Q1))
        assert {k: v[:3] for k, v in months.items()} == {
            "2025-01": (200, 1, 1), "2025-02": (450, 2, 2), "2025-03": (100, 1, 1)}
        assert reports.active_members(_user(world.staff_a), org.get_unit(world.units["A"]),
                                      Q1) == 2


def test_points_issued_redeemed_and_expired_per_month(app, world, monkeypatch):
    with app.app_context():
        staff = _user(world.staff_a)
        # Posted at 16:30 UTC on 31 January: 00:30 on 1 February in Shanghai.
        serve(world.vol_a, world.staff_a, _local(date(2025, 1, 20), 9), hours=3,
              at=datetime(2025, 1, 31, 15, 59, tzinfo=UTC), monkeypatch=monkeypatch)
        serve(world.vol_a2, world.staff_a, _local(date(2025, 1, 21), 9), hours=2,
              at=datetime(2025, 1, 31, 16, 30, tzinfo=UTC), monkeypatch=monkeypatch)
        # Community B's member earns, spends and expires too: never in A's report.
        serve(world.vol_b, world.staff_b, _local(date(2025, 1, 21), 9), hours=5,
              at=datetime(2025, 1, 10, 3, tzinfo=UTC), monkeypatch=monkeypatch)
        _expire(world.vol_b, 500, key="expiry:test:b")

        period = reports.period_between(JAN, today())
        _redeem(world, world.vol_a, world.merchant_a, "OA")                # 10 spent
        _redeem(world, world.vol_a, world.merchant_a, "OA", refund=True)   # spent, given back
        _redeem(world, world.vol_b, world.merchant_b, "OB")
        reward = rewards.create_reward(actor=staff, org_unit_id=world.units["A"], title="毛巾",
                                       kind="goods", points_cost_minor=300, stock=10)
        handed = rewards.place_order(actor=_user(world.vol_a2), reward_id=reward.id,
                                     quantity=2)
        rewards.fulfil(actor=staff, order_id=handed.id)                    # 6 spent
        cancelled = rewards.place_order(actor=_user(world.vol_a2), reward_id=reward.id,
                                        quantity=1)
        rewards.cancel(actor=_user(world.vol_a2), order_id=cancelled.id)
        rewards.place_order(actor=_user(world.vol_a2), reward_id=reward.id, quantity=1)  # held
        _moves_between_members(world)
        _expire(world.vol_a, 250, key="expiry:test:a")

        rows = _months(reports.monthly(staff, org.get_unit(world.units["A"]), period))
        assert rows["2025-01"][3:] == (3000, 0, 0)
        assert rows["2025-02"][3:] == (2000, 0, 0)
        this_month = f"{today():%Y-%m}"
        assert rows[this_month][4:] == (1000 + 600, 250)
        assert sum(v[3] for v in rows.values()) == 5000

        everyone = _months(reports.monthly(_user(world.admin),
                                           org.get_unit(world.units["street"]), period))
        assert everyone["2025-01"][3] == 8000
        assert everyone[this_month][4:] == (1000 + 600 + 1000, 250 + 500)


def test_a_report_stays_inside_the_staff_members_reach(app, world):
    with app.app_context():
        serve(world.vol_a, world.staff_a, _local(JAN, 9), hours=2)
        serve(world.vol_b, world.staff_b, _local(JAN, 9), hours=5)
        staff_a = _user(world.staff_a)
        with pytest.raises(NotFound):
            reports.report_unit(staff_a, world.units["B"])
        with pytest.raises(NotFound):
            reports.monthly(staff_a, org.get_unit(world.units["street"]), Q1)
        with pytest.raises(NotFound):
            reports.record_rows(staff_a, org.get_unit(world.units["B1"]), Q1)
        with pytest.raises(NotFound):
            reports.report_unit(staff_a, 987654)
        with pytest.raises(Forbidden):
            reports.report_unit(_user(world.vol_a))
        with pytest.raises(Forbidden):
            reports.monthly(_user(world.merchant_a), org.get_unit(world.units["A"]), Q1)

        assert reports.report_unit(staff_a).id == world.units["A"]
        assert reports.report_unit(staff_a, world.units["A1"]).id == world.units["A1"]
        offered = [unit.id for unit, _label in reports.units_offered(staff_a)]
        assert offered == [world.units["A"], world.units["A1"], world.units["A2"]]

        own = reports.build(staff_a, org.get_unit(world.units["A"]), Q1)
        assert own.total("hours_minor") == 200
        grid = reports.build(staff_a, org.get_unit(world.units["A2"]), Q1)
        assert grid.total("hours_minor") == 0
        street = reports.build(_user(world.admin), org.get_unit(world.units["street"]), Q1)
        assert street.total("hours_minor") == 700


def test_top_categories_and_the_grids_side_by_side(app, world, make):
    make.category("patrol", "5.00", "治安巡逻")
    make.category("elders", "8.00", "关爱老人")
    home = make.user(["volunteer"], world.units["A"], username="vol_home", display_name="周五")
    make.user(["volunteer"], world.units["A2"], username="vol_idle", display_name="吴六")
    with app.app_context():
        serve(world.vol_a, world.staff_a, _local(JAN, 9), hours=2)
        serve(world.vol_a, world.staff_a, _local(JAN, 13), hours=3, category="patrol")
        serve(world.vol_a2, world.staff_a, _local(FEB, 9), hours=4, category="patrol")
        serve(home, world.staff_a, _local(FEB, 14), hours=1, category="elders")
        serve(world.vol_b, world.staff_b, _local(FEB, 9), hours=9, category="elders")
        staff = _user(world.staff_a)
        community = org.get_unit(world.units["A"])

        top = reports.top_categories(staff, community, Q1)
        assert [(c.name, c.hours_minor, c.records, c.members) for c in top] == [
            ("治安巡逻", 700, 2, 2), ("环境清洁", 200, 1, 1), ("关爱老人", 100, 1, 1)]
        assert [c.name for c in reports.top_categories(staff, community, Q1, limit=1)] == \
            ["治安巡逻"]

        grids = {g.grid_id: g for g in reports.grid_comparison(staff, community, Q1)}
        assert set(grids) == {world.units["A1"], world.units["A2"], None}
        a1, a2, outside = grids[world.units["A1"]], grids[world.units["A2"]], grids[None]
        assert (a1.name, a1.hours_minor, a1.points_minor, a1.active, a1.members) == \
            ("第一网格", 500, 3500, 1, 1)
        assert (a2.hours_minor, a2.points_minor, a2.active, a2.members) == (400, 2000, 1, 2)
        assert (outside.hours_minor, outside.active, outside.members) == (100, 1, 1)

        street = reports.grid_comparison(_user(world.admin),
                                         org.get_unit(world.units["street"]), Q1)
        assert [g.name for g in street][:3] == ["阳光社区 / 第一网格", "阳光社区 / 第二网格",
                                                "和谐社区 / 第一网格"]
        assert reports.member_count(staff, community) == 4


# --- party members ------------------------------------------------------------------------


def _party(person, unit_name: str | None = "区教育局机关党支部") -> None:
    user = _user(person)
    user.is_party_member = True
    user.party_unit = unit_name
    db.session.commit()


def test_party_members_with_hours_this_month_quarter_and_year(app, world, make):
    idle = make.user(["volunteer"], world.units["A1"], username="vol_idle", display_name="吴六")
    old = make.user(["volunteer"], world.units["A2"], username="vol_old", display_name="郑七")
    with app.app_context():
        for person in (world.vol_a, world.vol_a2, idle, old, world.vol_b):
            _party(person)
        serve(world.vol_a, world.staff_a, _local(date(2025, 2, 3), 9), hours=2)
        serve(world.vol_a, world.staff_a, _local(JAN, 9), hours=1)
        serve(world.vol_a2, world.staff_a, _local(date(2025, 1, 15), 9), hours=3)
        serve(old, world.staff_a, _local(date(2024, 12, 20), 9), hours=5)
        serve(world.vol_b, world.staff_b, _local(date(2025, 2, 3), 9), hours=4)
        # Not a party member: never listed, however many hours.
        serve(world.vol_a2, world.staff_a, _local(date(2024, 6, 1), 9), hours=1)

        staff = _user(world.staff_a)
        community = org.get_unit(world.units["A"])
        periods = reports.party_periods(date(2025, 2, 15))
        assert (periods.month, periods.quarter, periods.year, periods.quarter_number) == \
            (FEB, JAN, JAN, 1)

        rows, total = reports.party_page(staff, community, periods=periods)
        assert total == 4
        hours = {r.member.id: (r.month_minor, r.quarter_minor, r.year_minor) for r in rows}
        assert hours == {world.vol_a.id: (200, 300, 300), world.vol_a2.id: (0, 300, 300),
                         idle.id: (0, 0, 0), old.id: (0, 0, 0)}
        no_month, n = reports.party_page(staff, community, periods=periods, show="no_month")
        assert n == 3 and {r.member.id for r in no_month} == {world.vol_a2.id, idle.id, old.id}
        no_quarter, n = reports.party_page(staff, community, periods=periods,
                                           show="no_quarter")
        assert n == 2 and {r.member.id for r in no_quarter} == {idle.id, old.id}
        page_two, n = reports.party_page(staff, community, periods=periods, page=2,
                                         per_page=3)
        assert n == 4 and len(page_two) == 1

        counts = reports.party_counts(staff, community, periods=periods)
        assert (counts.members, counts.none_month, counts.none_quarter) == (4, 3, 2)
        assert (counts.month_minor, counts.quarter_minor, counts.year_minor) == (200, 600, 600)
        with pytest.raises(ValidationFailed):
            reports.party_page(staff, community, periods=periods, show="everyone")
        with pytest.raises(NotFound):
            reports.party_counts(staff, org.get_unit(world.units["B"]), periods=periods)

        exported = list(reports.party_rows(staff, community, periods=periods))
        assert [row[1] for row in exported] == ["吴六", "张小三", "李四", "郑七"]
        vol_a_row = exported[1]
        assert vol_a_row[3:] == ["幸福街道 / 阳光社区 / 第一网格", "区教育局机关党支部",
                                 Decimal("2.00"), Decimal("3.00"), Decimal("3.00"), "是", "是"]
        assert exported[2][-2:] == ["否", "是"]


# --- exports ------------------------------------------------------------------------------


def _csv(headers, rows) -> str:
    return "".join(spreadsheet.csv_chunks(headers, rows))


def test_records_export_in_the_national_layout_with_formulas_made_plain(app, world):
    with app.app_context():
        member = _user(world.vol_a)
        member.id_number = "11010519491231002X"
        member.phone = "13812345678"
        db.session.commit()
        serve(world.vol_a, world.staff_a, _local(FEB, 0, 30), hours=1.5,
              title='=HYPERLINK("http://evil.example","点我")')
        serve(world.vol_a2, world.staff_a, _local(JAN, 9), hours=2, title="@SUM(A1)")
        serve(world.vol_b, world.staff_b, _local(JAN, 9), hours=2)

        rows = list(reports.record_rows(_user(world.staff_a),
                                        org.get_unit(world.units["A"]), Q1))
        assert [row[0] for row in rows] == [1, 2]
        first, second = rows
        assert first[1:5] == ["李四", "", "", ""]
        assert second[1:10] == ["张小三", "居民身份证", "11010519491231002X", "13812345678",
                                '=HYPERLINK("http://evil.example","点我")', "环境清洁",
                                "2025-02-01 00:30", "2025-02-01 02:00", Decimal("1.50")]
        assert second[10:14] == ["社区广场", "清理垃圾", "幸福街道 / 阳光社区 / 第一网格", "陈主任"]

        text = _csv(reports.RECORD_HEADERS, rows)
        assert text.startswith("\ufeff序号,志愿者姓名,证件类型,证件号码,联系电话,活动名称,")
        parsed = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert parsed[0] == list(reports.RECORD_HEADERS)
        assert parsed[1][5] == "'@SUM(A1)"
        assert parsed[2][5] == "'=HYPERLINK(\"http://evil.example\",\"点我\")"
        assert parsed[2][3] == "11010519491231002X"
        assert parsed[2][9] == "1.50"


def test_transactions_export_keeps_signed_numbers_and_balances(app, world):
    with app.app_context():
        serve(world.vol_a, world.staff_a, _local(JAN, 9), hours=2)
        _redeem(world, world.vol_a, world.merchant_a, "OA")
        period = reports.period_between(JAN, today())
        rows = list(reports.transaction_rows(_user(world.staff_a),
                                             org.get_unit(world.units["A"]), period))
        assert [(r[3], r[4], r[5], r[6], r[7]) for r in rows] == [
            ("服务积分", "张小三", Decimal("20.00"), Decimal("20.00"), "环境清洁 2.00h"),
            ("商户兑换", "张小三", Decimal("-10.00"), Decimal("10.00"), "八折优惠")]
        assert rows[0][1] < rows[1][1]
        parsed = list(csv.reader(io.StringIO(
            _csv(reports.TRANSACTION_HEADERS, rows).lstrip("\ufeff"))))
        assert parsed[0] == ["序号", "流水号", "时间", "类型", "志愿者姓名", "积分变动",
                             "变动后余额", "说明"]
        assert parsed[2][5] == "-10.00"  # a number of ours is never taken for a formula


def test_an_xlsx_opens_with_chinese_headers_and_text_never_a_formula(app):
    rows = [[1, "=1+1", "+86138", Decimal("2.50"), None], [2, "-负数", "@x", Decimal("-3"), "x"]]
    headers = ["序号", "活动名称", "联系电话", "服务时长(小时)", "备注"]
    with spreadsheet.xlsx_file("志愿服务记录", headers, rows, widths=[6, 20]) as handle:
        book = openpyxl.load_workbook(handle)
    sheet = book["志愿服务记录"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == headers
    assert values[1] == [1, "=1+1", "+86138", 2.5, None]
    assert values[2] == [2, "-负数", "@x", -3, "x"]
    assert sheet["B2"].data_type == "s"
    assert sheet["D2"].data_type == "n"


@pytest.mark.parametrize("text, plain", [
    ("=cmd|'/c calc'!A1", "'=cmd|'/c calc'!A1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"),
    ("\tx", "'\tx"), ("张小三", "张小三"), ("a=b", "a=b"), ("", ""),
])
def test_csv_text_that_a_spreadsheet_would_run_gets_an_apostrophe(text, plain):
    assert spreadsheet.neutralise(text) == plain


def test_every_export_is_kept_in_the_audit_trail(app, world):
    with app.app_context():
        staff = _user(world.staff_a)
        reports.note_export(staff, org.get_unit(world.units["A1"]), what="records", fmt="xlsx",
                            period=Q1)
        event = db.session.scalars(select(AuditEvent)).one()
        assert (event.actor_id, event.action, event.subject_type, event.subject_id,
                event.org_unit_id) == (world.staff_a.id, "report.export", "org_unit",
                                       world.units["A1"], world.units["A1"])
        assert event.details == {"export": "records", "format": "xlsx",
                                 "date_from": "2025-01-01", "date_to": "2025-03-31"}
        with pytest.raises(NotFound):
            reports.note_export(staff, org.get_unit(world.units["B"]), what="records",
                                fmt="csv", period=Q1)
        assert len(db.session.scalars(select(AuditEvent)).all()) == 1


def test_a_long_export_is_read_in_batches(app, world, monkeypatch):
    monkeypatch.setattr(reports, "EXPORT_BATCH", 2)
    with app.app_context():
        for day in range(1, 6):
            serve(world.vol_a, world.staff_a, _local(date(2025, 1, day), 9), hours=1)
            serve(world.vol_a2, world.staff_a, _local(date(2025, 1, day), 9), hours=1)
        rows = list(reports.record_rows(_user(world.staff_a),
                                        org.get_unit(world.units["A"]), Q1))
        assert [row[0] for row in rows] == list(range(1, 11))
        assert sorted(row[7] for row in rows) == [row[7] for row in rows]
        moves = list(reports.transaction_rows(_user(world.staff_a),
                                              org.get_unit(world.units["A"]),
                                              reports.period_between(
                                                  JAN, today())))
        assert len(moves) == 10 and len({row[1] for row in moves}) == 10


# --- charts -------------------------------------------------------------------------------


def test_a_chart_escapes_every_label_and_shows_its_numbers():
    svg = svg_chart.bar_chart(
        '<script>alert("t")</script>', ['1月 & "2"', "<b>x</b>"],
        [svg_chart.Series("发放</text><script>", [Decimal("12.50"), 3]),
         svg_chart.Series("兑换", [0, Decimal("-2")])], chart_id='x" onload="evil')
    text = str(svg)
    assert "<script>" not in text and "<b>" not in text and "onload=\"evil" not in text
    root = ET.fromstring(text)  # well-formed XML, safe inline
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title").text == '<script>alert("t")</script>'
    labelled = root.get("aria-labelledby").split()
    assert labelled == [root.find(f"{SVG}title").get("id"), root.find(f"{SVG}desc").get("id")]
    shown = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "value"]
    assert shown == ["12.5", "3", "0", "-2"]
    assert "1月 & \"2\" · 发放</text><script>: 12.5" in \
        [t.text for t in root.iter(f"{SVG}title")]


def test_a_line_chart_and_an_empty_chart_are_well_formed():
    line = ET.fromstring(str(svg_chart.line_chart(
        "活跃志愿者", [f"{m}月" for m in range(1, 37)],
        [svg_chart.Series("人数", list(range(36)))])))
    assert len(list(line.iter(f"{SVG}circle"))) == 36
    assert [t.text for t in line.iter(f"{SVG}text") if t.get("class") == "value"] == \
        [str(n) for n in range(36)]
    empty = ET.fromstring(str(svg_chart.bar_chart("无数据", [], [], empty_text="<无>")))
    assert [t.text for t in empty.iter(f"{SVG}text")] == ["<无>"]
    with pytest.raises(ValueError):
        svg_chart.bar_chart("x", ["a", "b"], [svg_chart.Series("s", [1])])
