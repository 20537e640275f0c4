"""Recognition: aggregates kept with approvals, star levels, leaderboards, the red flag."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from timebank.errors import Forbidden, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import RedFlagAward, ServiceStat, StarAward, User
from timebank.services import awards, boards, org, records, stats, teams
from timebank.timeutil import local_date, start_of_day, today


def _user(person) -> User:
    return db.session.get(User, person.id)


def serve(member, staff, *, day: date, hours: int = 2, at_hour: int = 9) -> int:
    """Approved hours for the member on a local day; returns the record id."""
    start = start_of_day(day) + timedelta(hours=at_hour)
    record = records.log_hours(
        actor=_user(staff), member_id=member.id, category="cleanup", started_at=start,
        ended_at=start + timedelta(hours=hours), place="社区广场", description="清理")
    records.approve(record.id, reviewer=_user(staff))
    return record.id


def _past_day(days_back: int = 40) -> date:
    """A local day some way back (the app's default zone, Asia/Shanghai)."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=days_back)


def test_an_approval_adds_to_the_members_week_month_year_and_all_time_rows(app, world):
    day = _past_day()
    with app.app_context():
        serve(world.vol_a, world.staff_a, day=day, hours=2)
        serve(world.vol_a, world.staff_a, day=day, hours=3, at_hour=13)
        rows = {row.period: row for row in db.session.scalars(
            select(ServiceStat).where(ServiceStat.member_id == world.vol_a.id))}
        assert set(rows) == {"week", "month", "year", "all"}
        assert rows["month"].period_start == day.replace(day=1)
        assert rows["week"].period_start == day - timedelta(days=day.weekday())
        for row in rows.values():
            assert (row.hours_minor, row.points_minor, row.records) == (500, 5000, 2)
            assert row.grid_id == world.units["A1"]
            assert row.community_id == world.units["A"]
        assert stats.check().ok


def test_rejected_and_pending_hours_do_not_count(app, world):
    with app.app_context():
        start = start_of_day(_past_day()) + timedelta(hours=9)
        staff = _user(world.staff_a)
        pending = records.log_hours(actor=staff, member_id=world.vol_a.id, category="cleanup",
                                    started_at=start, ended_at=start + timedelta(hours=2),
                                    place="p", description="d")
        later = start + timedelta(hours=4)
        rejected = records.log_hours(actor=staff, member_id=world.vol_a.id, category="cleanup",
                                     started_at=later, ended_at=later + timedelta(hours=2),
                                     place="p", description="d")
        records.reject(rejected.id, reviewer=staff, reason="重复")
        assert pending.status == "pending"
        assert db.session.scalar(select(func.count(ServiceStat.id))) == 0
        assert stats.check().ok


def test_rebuild_gives_the_same_rows_and_check_finds_drift(app, world):
    with app.app_context():
        serve(world.vol_a, world.staff_a, day=_past_day(40))
        serve(world.vol_a2, world.staff_a, day=_past_day(400))
        before = sorted((r.member_id, r.period, r.period_start, r.hours_minor, r.records)
                        for r in db.session.scalars(select(ServiceStat)))
        assert stats.rebuild() == len(before)
        after = sorted((r.member_id, r.period, r.period_start, r.hours_minor, r.records)
                       for r in db.session.scalars(select(ServiceStat)))
        assert after == before
        row = db.session.scalars(select(ServiceStat)).first()
        row.hours_minor += 1
        db.session.commit()
        drift = stats.check()
        assert not drift.ok and len(drift.problems) == 1


def test_reaching_a_star_level_leaves_a_notice_for_staff_once(app, world):
    with app.app_context():
        for n in range(5):  # 5 × 20 h = 100 h: the first star
            serve(world.vol_a, world.staff_a, day=_past_day(60 + n), hours=20, at_hour=1)
        awards_now = list(db.session.scalars(select(StarAward)))
        assert [(a.member_id, a.level, a.certificate_id) for a in awards_now] == [
            (world.vol_a.id, 1, None)]
        serve(world.vol_a, world.staff_a, day=_past_day(70), hours=2)
        assert db.session.scalar(select(func.count(StarAward.id))) == 1
        from timebank.services import certificates, users

        assert users.summary(_user(world.vol_a)).star_level == 1
        assert certificates.stars_due_count(_user(world.staff_a)) == 1
        assert certificates.stars_due_count(_user(world.staff_b)) == 0


def test_one_approval_can_reach_two_levels_at_once(app, world):
    with app.app_context():
        for n in range(14):  # 14 × 21 h = 294 h, no notice yet beyond level 1
            serve(world.vol_a, world.staff_a, day=_past_day(100 + n), hours=21, at_hour=1)
        assert stats.level_for(stats.all_time(world.vol_a.id)[0]) == 1
        serve(world.vol_a, world.staff_a, day=_past_day(99), hours=8)
        levels = sorted(db.session.scalars(select(StarAward.level)))
        assert levels == [1, 2]


# --- leaderboards ----------------------------------------------------------------------


@pytest.fixture
def crowd(app, make, world):
    """Four more members of community A with known hours in one month."""
    day = _past_day(45)
    a1, a2 = world.units["A1"], world.units["A2"]
    people = {
        "wang": make.user(["volunteer"], a1, display_name="王大明"),
        "zhao": make.user(["volunteer"], a1, display_name="赵小红"),
        "qian": make.user(["volunteer"], a2, display_name="钱多多"),
        "sun": make.user(["volunteer"], a2, display_name="孙悟空"),
    }
    with app.app_context():
        serve(people["wang"], world.staff_a, day=day, hours=5)
        serve(people["zhao"], world.staff_a, day=day, hours=5)
        serve(people["qian"], world.staff_a, day=day, hours=3)
        serve(people["sun"], world.staff_a, day=day, hours=1)
        serve(world.vol_b, world.staff_b, day=day, hours=9)
    return day, people


def test_ties_share_a_rank_and_names_are_masked(app, world, crowd):
    day, _people = crowd
    with app.app_context():
        board = boards.leaderboard(scope=org.get_unit(world.units["A"]), period="month",
                                   metric="hours", group="member", day=day)
        got = [(e.rank, e.name, str(e.value)) for e in board.entries]
        assert got == [(1, "王*明", "5.00"), (1, "赵*红", "5.00"), (3, "钱*多", "3.00"),
                       (4, "孙*空", "1.00")]
        assert (board.starts_on, board.ends_on)[0] == day.replace(day=1)


def test_a_board_covers_only_its_subtree_and_its_period(app, world, crowd):
    day, _people = crowd
    with app.app_context():
        grid = boards.leaderboard(scope=org.get_unit(world.units["A2"]), period="month",
                                  day=day)
        assert [e.name for e in grid.entries] == ["钱*多", "孙*空"]
        street = boards.leaderboard(scope=org.get_unit(world.units["street"]), period="month",
                                    day=day, limit=1)
        assert [(e.rank, e.name) for e in street.entries] == [(1, "A**** S****")]
        other_month = (day.replace(day=1) - timedelta(days=1))
        assert boards.leaderboard(scope=org.get_unit(world.units["A"]), period="month",
                                  day=other_month).entries == []
        year = boards.leaderboard(scope=org.get_unit(world.units["A"]), period="all",
                                  metric="points")
        assert [str(e.value) for e in year.entries] == ["50.00", "50.00", "30.00", "10.00"]


def test_opted_out_members_leave_the_member_board_but_count_for_their_grid(app, world, crowd):
    day, people = crowd
    with app.app_context():
        boards.set_on_boards(_user(people["wang"]), shown=False)
        board = boards.leaderboard(scope=org.get_unit(world.units["A"]), day=day)
        assert [(e.rank, e.name) for e in board.entries] == [(1, "赵*红"), (2, "钱*多"),
                                                              (3, "孙*空")]
        grids = boards.leaderboard(scope=org.get_unit(world.units["A"]), group="grid", day=day)
        assert [(e.rank, e.name, str(e.value)) for e in grids.entries] == [
            (1, "第一网格", "10.00"), (2, "第二网格", "4.00")]


def test_grid_names_carry_their_community_on_a_street_board(app, world, crowd):
    day, _people = crowd
    with app.app_context():
        grids = boards.leaderboard(scope=org.get_unit(world.units["street"]), group="grid",
                                   day=day)
        assert [(e.rank, e.name) for e in grids.entries] == [
            (1, "阳光社区 第一网格"), (2, "和谐社区 第一网格"), (3, "阳光社区 第二网格")]


def test_team_board_sums_its_members(app, world, crowd):
    day, people = crowd
    with app.app_context():
        staff = _user(world.staff_a)
        red = teams.create_team(actor=staff, org_unit_id=world.units["A"], name="红马甲",
                                leader_id=people["qian"].id)
        teams.add_member(actor=staff, team_id=red.id, member_id=people["sun"].id)
        blue = teams.create_team(actor=staff, org_unit_id=world.units["A"], name="蓝天队")
        teams.add_member(actor=staff, team_id=blue.id, member_id=people["wang"].id)
        board = boards.leaderboard(scope=org.get_unit(world.units["A"]), group="team", day=day)
        assert [(e.rank, e.name, str(e.value)) for e in board.entries] == [
            (1, "蓝天队", "5.00"), (2, "红马甲", "4.00")]
        with pytest.raises(NotFound):
            teams.add_member(actor=_user(world.staff_b), team_id=red.id,
                             member_id=people["wang"].id)


def test_board_arguments_are_checked(app, world):
    with app.app_context():
        scope = org.get_unit(world.units["A"])
        for bad in ({"period": "decade"}, {"metric": "likes"}, {"group": "family"},
                    {"limit": 0}, {"limit": 101}):
            with pytest.raises(ValidationFailed):
                boards.leaderboard(scope=scope, **bad)


# --- the red flag ----------------------------------------------------------------------


def test_the_red_flag_goes_to_the_best_grid_and_a_second_run_changes_nothing(
        app, world, crowd):
    day, _people = crowd
    month = day.replace(day=1)
    with app.app_context():
        first = awards.award_red_flag(month)
        by_community = {o.community.id: o for o in first}
        a = by_community[world.units["A"]]
        assert a.status == "awarded" and a.award.grid_id == world.units["A1"]
        assert [s["grid_id"] for s in a.award.scores] == [world.units["A1"], world.units["A2"]]
        assert by_community[world.units["B"]].award.grid_id == world.units["B1"]
        rows = [(r.id, r.grid_id, r.score_minor, r.awarded_at)
                for r in db.session.scalars(select(RedFlagAward).order_by(RedFlagAward.id))]
        # more hours in A2 afterwards would change the scores, but the month stays awarded
        serve(world.vol_a2, world.staff_a, day=day, hours=20, at_hour=1)
        second = awards.award_red_flag(month)
        assert {o.status for o in second} == {"kept"}
        again = [(r.id, r.grid_id, r.score_minor, r.awarded_at)
                 for r in db.session.scalars(select(RedFlagAward).order_by(RedFlagAward.id))]
        assert again == rows
        assert awards.holder(org.get_unit(world.units["A"])).grid_id == world.units["A1"]


def test_the_score_weighs_hours_per_member_active_share_and_records(app, world, make):
    day = _past_day(45)
    a1, a2 = world.units["A1"], world.units["A2"]
    # A1 has three members (vol_a and two more), one of whom served 6 h in one record;
    # A2 has one member (vol_a2) who served 4 h in two records.
    make.user(["volunteer"], a1, display_name="甲")
    make.user(["volunteer"], a1, display_name="乙")
    with app.app_context():
        serve(world.vol_a, world.staff_a, day=day, hours=6)
        serve(world.vol_a2, world.staff_a, day=day, hours=2)
        serve(world.vol_a2, world.staff_a, day=day, hours=2, at_hour=14)
        scores = awards.score_month(org.get_unit(world.units["A"]), day.replace(day=1))
        by_grid = {s.grid_id: s for s in scores}
        # A2: 50 (best hours per member) + 30 (all active) + 20 (most records) = 100
        assert by_grid[a2].score_minor == 10000
        # A1: 50 × 2/4 + 30 × 1/3 + 20 × 1/2 = 45
        assert by_grid[a1].score_minor == 4500
        assert (by_grid[a1].members, by_grid[a1].active) == (3, 1)
        assert scores[0].grid_id == a2


def test_a_month_that_is_not_over_cannot_be_awarded(app, world):
    with app.app_context():
        with pytest.raises(ValidationFailed):
            awards.award_red_flag(today().replace(day=1))
        with pytest.raises(ValidationFailed):
            awards.parse_month("2026-13")


def test_a_month_without_service_awards_nothing(app, world):
    with app.app_context():
        outcomes = awards.award_red_flag(date(2024, 2, 1))
        assert {o.status for o in outcomes} == {"none"}
        assert db.session.scalar(select(func.count(RedFlagAward.id))) == 0


def test_service_days_follow_the_local_zone(app, world):
    """A record at 23:30 UTC on the last day of a month is the next month in Shanghai."""
    with app.app_context():
        start = datetime(2025, 1, 31, 23, 30, tzinfo=UTC)
        assert local_date(start) == date(2025, 2, 1)
        assert stats.period_start("month", local_date(start)) == date(2025, 2, 1)
        assert stats.period_bounds("month", date(2024, 2, 10)) == (date(2024, 2, 1),
                                                                  date(2024, 2, 29))
        assert stats.period_bounds("week", date(2026, 11, 23)) == (date(2026, 11, 23),
                                                                  date(2026, 11, 29))


# --- certificates ----------------------------------------------------------------------


def test_a_serial_is_signed_and_any_changed_character_fails(app):
    from timebank.services import certificates

    with app.app_context():
        serial = certificates.make_serial(2026, 42)
        assert certificates.is_signed(serial)
        assert serial.startswith("TB2026-000042-")
        for i, ch in enumerate(serial):
            if ch == "-":
                continue
            swapped = "3" if ch != "3" else "4"
            assert not certificates.is_signed(serial[:i] + swapped + serial[i + 1:]), i
        assert not certificates.is_signed(certificates.make_serial(2026, 43)[:-10]
                                          + serial[-10:])
        assert not certificates.is_signed("")
        assert certificates.normalise_serial(f" {serial.lower()} ") == serial


def test_a_serial_made_with_another_key_does_not_verify(app):
    from timebank.services import certificates

    with app.app_context():
        serial = certificates.make_serial(2026, 7)
        app.config["CERTIFICATE_KEY"] = "another key"
        assert not certificates.is_signed(serial)


def test_a_certificate_keeps_what_it_stated_when_issued(app, world):
    from timebank.services import certificates

    with app.app_context():
        serve(world.vol_a, world.staff_a, day=_past_day(30), hours=4)
        issued = certificates.issue(actor=_user(world.staff_a), member_id=world.vol_a.id,
                                    kind="service_record")
        serial = issued.serial
        assert issued.data["content"] == [{"category": "环境清洁", "hours": "4.00",
                                           "records": 1}]
        _user(world.vol_a).display_name = "张大伟"
        db.session.commit()
        serve(world.vol_a, world.staff_a, day=_past_day(20), hours=6)
        seen = certificates.verify(serial)
        assert (seen.holder, seen.hours, seen.issuer) == ("张*三", "4.00", "阳光社区")
        assert seen.valid and not seen.revoked
        with pytest.raises(Forbidden):
            certificates.issue(actor=_user(world.staff_b), member_id=world.vol_a.id,
                               kind="service_record")


def test_a_revoked_certificates_pdf_says_so_and_deactivated_members_get_none(app, world):
    import io

    import pypdf

    from timebank.services import certificates

    with app.app_context():
        serve(world.vol_a, world.staff_a, day=_past_day(30), hours=4)
        staff = _user(world.staff_a)
        issued = certificates.issue(actor=staff, member_id=world.vol_a.id,
                                    kind="service_record")
        _cert, before = certificates.pdf(staff, issued.serial)
        assert "已撤销" not in pypdf.PdfReader(io.BytesIO(before)).pages[0].extract_text()
        certificates.revoke(actor=staff, serial=issued.serial, reason="信息有误")
        _cert, after = certificates.pdf(_user(world.vol_a), issued.serial)
        assert "已撤销" in pypdf.PdfReader(io.BytesIO(after)).pages[0].extract_text()
        assert not certificates.verify(issued.serial).valid

        _user(world.vol_a).is_active = False
        db.session.commit()
        with pytest.raises(ValidationFailed):
            certificates.issue(actor=staff, member_id=world.vol_a.id, kind="service_record")


def test_review_fixes_leap_day_terms_self_issue_stuck_notices_and_a_rotating_flag(
        app, world, make):
    from timebank.services import certificates

    both = make.user(["staff", "volunteer"], world.units["A"], display_name="双重身份")
    with app.app_context():
        staff = _user(world.staff_a)
        letter = certificates.issue(actor=staff, member_id=world.vol_a2.id, kind="appointment",
                                    period_from=date(2028, 2, 29))
        assert (letter.data["term_from"], letter.data["term_to"]) == ("2028-02-29",
                                                                      "2029-02-28")
        serve(both, world.staff_a, day=_past_day(30), hours=3)
        with pytest.raises(Forbidden):
            certificates.issue(actor=_user(both), member_id=both.id, kind="service_record")

        for n in range(5):
            serve(world.vol_a, world.staff_a, day=_past_day(60 + n), hours=20, at_hour=1)
        assert certificates.stars_due_count(staff) == 1
        _user(world.vol_a).is_active = False
        db.session.commit()
        assert certificates.stars_due_count(staff) == 0

        community = org.get_unit(world.units["A"])
        day = _past_day(70)
        month = day.replace(day=1)
        serve(world.vol_a2, world.staff_a, day=day, hours=2, at_hour=12)
        awards.award_red_flag(month)
        following = (month + timedelta(days=40)).replace(day=5)
        assert awards.holder(community, following).month == month
        assert awards.holder(community, following + timedelta(days=31)) is None
