"""Points policies: dated versions inherited down the tree, rates, the daily cap, giving, and
expiring points."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from timebank.errors import DailyCapReached, Forbidden, ValidationFailed
from timebank.extensions import db
from timebank.models import AuditEvent, LedgerTransaction, PointsPolicy, User
from timebank.services import expiry, helping, ledger, merchants, org, policy, records
from timebank.timeutil import today


def _user(person) -> User:
    return db.session.get(User, person.id)


def _version(unit_id: int, day: date, **values) -> None:
    """A version as it stands in the database after it was set (for days now past)."""
    db.session.add(PointsPolicy(org_unit_id=unit_id, effective_from=day, **values))
    db.session.commit()


def _set(world, unit: str = "A", who: str = "staff_a", **overrides):
    values = dict(effective_from=today(), transfer_mode="off", per_transfer_limit_minor=1000,
                  monthly_transfer_limit_minor=5000, expiry_mode="never")
    values.update(overrides)
    return policy.set_version(actor=_user(world.people[who]), org_unit_id=world.units[unit],
                              **values)


def _serve(member, staff, *, start: datetime, hours: int = 2) -> int:
    record = records.log_hours(
        actor=_user(staff), member_id=member.id, category="cleanup", started_at=start,
        ended_at=start + timedelta(hours=hours), place="社区广场", description="清理")
    records.approve(record.id, reviewer=_user(staff))
    return record.id


def _balance(person) -> int:
    return ledger.member_account(person.id).balance_minor


# --- versions and inheritance --------------------------------------------------------------


def test_a_grid_follows_its_community_which_overrides_the_street(app, world):
    with app.app_context():
        street, community = world.units["street"], world.units["A"]
        _version(street, date(2020, 1, 1), transfer_mode="any", expiry_mode="never")
        _version(community, date(2021, 1, 1), transfer_mode="family",
                 expiry_mode="end_of_next_year")
        grid = org.get_unit(world.units["A1"])
        assert policy.in_force(grid).transfer_mode == "family"
        assert policy.in_force(grid).set_at_unit_id == community
        assert policy.in_force(grid, date(2020, 6, 1)).transfer_mode == "any"
        assert policy.in_force(grid, date(2019, 6, 1)) == policy.DEFAULT
        assert policy.in_force(org.get_unit(world.units["B1"])).set_at_unit_id == street


def test_a_version_set_for_later_waits_for_its_day(app, world):
    with app.app_context():
        later = today() + timedelta(days=10)
        _set(world, effective_from=later, transfer_mode="any")
        unit = org.get_unit(world.units["A1"])
        assert policy.in_force(unit).transfer_mode == "off"
        assert policy.in_force(unit, later).transfer_mode == "any"


def test_setting_the_same_day_again_replaces_that_version_and_is_audited(app, world):
    with app.app_context():
        _set(world, transfer_mode="any")
        _set(world, transfer_mode="family", expiry_mode="rolling", expiry_months=6,
             daily_hours_cap_minor=800, rates={"cleanup": 1500})
        rows = db.session.scalars(select(PointsPolicy)).all()
        assert len(rows) == 1
        rules = policy.in_force(org.get_unit(world.units["A"]))
        assert (rules.transfer_mode, rules.expiry_mode, rules.expiry_months,
                rules.daily_hours_cap_minor) == ("family", "rolling", 6, 800)
        assert list(rules.rates.values()) == [1500]
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "points_policy.set")).all()
        assert [e.details["transfer_mode"] for e in events] == ["any", "family"]


@pytest.mark.parametrize("overrides, field", [
    ({"effective_from": date(2000, 1, 1)}, "effective_from"),
    ({"transfer_mode": "sometimes"}, "transfer_mode"),
    ({"per_transfer_limit_minor": 0}, "per_transfer_limit"),
    ({"per_transfer_limit_minor": 9000}, "per_transfer_limit"),
    ({"monthly_transfer_limit_minor": True}, "monthly_transfer_limit"),
    ({"expiry_mode": "soon"}, "expiry_mode"),
    ({"expiry_mode": "rolling"}, "expiry_months"),
    ({"expiry_mode": "rolling", "expiry_months": 121}, "expiry_months"),
    ({"daily_hours_cap_minor": 0}, "daily_hours_cap"),
    ({"daily_hours_cap_minor": 2401}, "daily_hours_cap"),
    ({"rates": {"nosuch": 100}}, "rates"),
    ({"rates": {"cleanup": -1}}, "rates"),
    ({"note": "长" * 501}, "note"),
])
def test_a_bad_version_is_refused_field_by_field_and_nothing_is_kept(app, world, overrides,
                                                                     field):
    with app.app_context():
        with pytest.raises(ValidationFailed) as err:
            _set(world, **overrides)
        assert field in err.value.errors
        assert db.session.scalar(select(func.count(PointsPolicy.id))) == 0


def test_only_staff_in_reach_set_a_policy_and_only_for_a_street_or_community(app, world):
    with app.app_context():
        with pytest.raises(Forbidden):
            _set(world, unit="A", who="staff_b")
        with pytest.raises(Forbidden):
            _set(world, unit="A", who="vol_a")
        with pytest.raises(ValidationFailed) as err:
            _set(world, unit="A1")
        assert "org_unit_id" in err.value.errors
        assert db.session.scalar(select(func.count(PointsPolicy.id))) == 0


# --- rates, the daily cap, giving ------------------------------------------------------------


def test_the_policy_rate_applies_in_its_community_and_the_category_rate_elsewhere(app, world):
    with app.app_context(), _at(datetime(2026, 3, 10, 6, tzinfo=UTC)):  # 14:00 in Shanghai
        _set(world, rates={"cleanup": 2500})
        start = datetime(2026, 3, 10, 1, tzinfo=UTC)
        _serve(world.vol_a, world.staff_a, start=start, hours=2)
        _serve(world.vol_b, world.staff_b, start=start, hours=2)
        assert _balance(world.vol_a) == 5000  # 2 h × 25.00
        assert _balance(world.vol_b) == 2000  # 2 h × 10.00, the category's own rate


def test_the_daily_cap_refuses_hours_beyond_it_and_activities_credit_what_is_left(app, world):
    from timebank.services import categories

    with app.app_context(), _at(datetime(2026, 3, 10, 4, tzinfo=UTC)):  # 12:00 in Shanghai
        _set(world, daily_hours_cap_minor=300)
        morning = datetime(2026, 3, 10, 0, tzinfo=UTC)  # 08:00 local
        _serve(world.vol_a, world.staff_a, start=morning, hours=2)
        with pytest.raises(DailyCapReached) as err:
            _serve(world.vol_a, world.staff_a, start=morning + timedelta(hours=2), hours=2)
        assert "ended_at" in err.value.errors
        member, staff = _user(world.vol_a), _user(world.staff_a)
        trimmed = records.add_record(
            member=member, actor=staff, category=categories.get_by_code("cleanup"),
            unit=org.get_unit(world.units["A1"]), started_at=morning + timedelta(hours=2),
            ended_at=morning + timedelta(hours=4), place="p", description="d",
            trim_to_cap=True)
        assert trimmed.hours_minor == 100
        assert trimmed.ended_at - trimmed.started_at == timedelta(hours=1)
        db.session.rollback()
        # The cap counts the member's day; another member is not affected.
        _serve(world.vol_a2, world.staff_a, start=morning, hours=3)


def test_changing_the_giving_rule_keeps_the_rest_of_the_policy(app, world):
    with app.app_context():
        _set(world, expiry_mode="rolling", expiry_months=12, daily_hours_cap_minor=600)
        helping.set_policy(actor=_user(world.staff_a), org_unit_id=world.units["A"], mode="any",
                           per_transfer_limit_minor=2000, monthly_limit_minor=4000)
        rules = policy.in_force(org.get_unit(world.units["A2"]))
        assert (rules.transfer_mode, rules.per_transfer_limit_minor,
                rules.monthly_transfer_limit_minor) == ("any", 2000, 4000)
        assert (rules.expiry_mode, rules.expiry_months, rules.daily_hours_cap_minor) == \
            ("rolling", 12, 600)
        with pytest.raises(ValidationFailed) as err:
            helping.set_policy(actor=_user(world.staff_a), org_unit_id=world.units["A"],
                               mode="x", per_transfer_limit_minor=1, monthly_limit_minor=0)
        assert set(err.value.errors) == {"mode", "monthly_limit"}


# --- expiry ----------------------------------------------------------------------------------


def test_expiry_days_for_each_mode():
    earned = date(2025, 3, 31)
    assert policy.expiry_date("never", None, earned) is None
    assert policy.expiry_date("end_of_next_year", None, earned) == date(2026, 12, 31)
    assert policy.expiry_date("rolling", 11, earned) == date(2026, 2, 27)
    assert policy.expiry_date("rolling", 1, date(2024, 1, 31)) == date(2024, 2, 28)


def _at(moment: datetime):
    return time_machine.travel(moment, tick=False)


def test_points_expire_at_the_end_of_the_year_after_earning_once_and_spending_counts_first(
        app, world):
    with app.app_context():
        _version(world.units["A"], date(2024, 1, 1), transfer_mode="off",
                 expiry_mode="end_of_next_year")
        with _at(datetime(2025, 5, 10, 4, tzinfo=UTC)):
            _serve(world.vol_a, world.staff_a, start=datetime(2025, 5, 9, 1, tzinfo=UTC),
                   hours=3)  # 30 points, valid to 2026-12-31
            _serve(world.vol_b, world.staff_b, start=datetime(2025, 5, 9, 1, tzinfo=UTC),
                   hours=3)  # community B: never expires
            code = merchants.issue_code(member=_user(world.vol_a), ttl_seconds=120)
            merchants.redeem(actor=_user(world.merchant_a), code=code.code,
                             offer_id=world.offers["OA"])  # spends 10
        with _at(datetime(2026, 2, 1, 4, tzinfo=UTC)):
            _serve(world.vol_a, world.staff_a, start=datetime(2026, 1, 31, 1, tzinfo=UTC),
                   hours=1)  # 10 points, valid to 2027-12-31
            assert [(u.last_day, u.amount_minor) for u in expiry.upcoming(_user(world.vol_a))] \
                == [(date(2026, 12, 31), 2000), (date(2027, 12, 31), 1000)]
        with _at(datetime(2027, 1, 1, 2, tzinfo=UTC)):
            early = expiry.expire(date(2026, 12, 31))
            assert early.members == 0  # the last day is still a day to spend them
            result = expiry.expire(date(2027, 1, 1))
            assert (result.members, result.points_minor) == (1, 2000)
            assert _balance(world.vol_a) == 1000
            assert _balance(world.vol_b) == 3000
            again = expiry.expire(date(2027, 1, 1))
            assert (again.members, again.points_minor) == (0, 0)
            assert expiry.expire(date(2026, 6, 1)).points_minor == 0
            assert [(u.last_day, u.amount_minor) for u in expiry.upcoming(_user(world.vol_a))] \
                == [(date(2027, 12, 31), 1000)]
        kinds = db.session.scalars(select(LedgerTransaction.kind)
                                   .where(LedgerTransaction.kind == "expiry")).all()
        assert kinds == ["expiry"]
        assert ledger.verify().ok


def test_rolling_expiry_takes_each_lot_on_its_own_day_and_a_policy_change_is_not_retroactive(
        app, world):
    with app.app_context():
        _version(world.units["A"], date(2024, 1, 1), transfer_mode="off",
                 expiry_mode="rolling", expiry_months=2)
        _version(world.units["A"], date(2025, 6, 1), transfer_mode="off",
                 expiry_mode="never")
        for month, hours in ((3, 1), (4, 2), (6, 4)):
            with _at(datetime(2025, month, 15, 4, tzinfo=UTC)):
                _serve(world.vol_a, world.staff_a,
                       start=datetime(2025, month, 14, 1, tzinfo=UTC), hours=hours)
        with _at(datetime(2025, 6, 20, 4, tzinfo=UTC)):
            # March's lot lasts to 14 May, April's to 14 June; June's never expires.
            assert expiry.expire(date(2025, 5, 15)).points_minor == 1000
            assert expiry.expire(date(2025, 6, 15)).points_minor == 2000
            assert _balance(world.vol_a) == 4000
            assert expiry.upcoming(_user(world.vol_a)) == []
        assert ledger.verify().ok


def test_points_cannot_be_expired_ahead_of_time(app, world):
    with app.app_context(), pytest.raises(ValidationFailed):
        expiry.expire(today() + timedelta(days=1))


def test_the_expire_command_reports_and_a_second_run_changes_nothing(app, world):
    with app.app_context():
        _version(world.units["A"], date(2024, 1, 1), transfer_mode="off",
                 expiry_mode="end_of_next_year")
        with _at(datetime(2024, 5, 10, 4, tzinfo=UTC)):
            _serve(world.vol_a, world.staff_a, start=datetime(2024, 5, 9, 1, tzinfo=UTC))
    cli = app.test_cli_runner()
    dry = cli.invoke(args=["points", "expire", "--as-of", "2026-01-01", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "members=1 would expire=20.00" in dry.output
    first = cli.invoke(args=["points", "expire", "--as-of", "2026-01-01"])
    assert "members=1 expired=20.00" in first.output
    second = cli.invoke(args=["points", "expire", "--as-of", "2026-01-01"])
    assert "members=0 expired=0.00" in second.output
    future = cli.invoke(args=["points", "expire", "--as-of", "2999-01-01"])
    assert future.exit_code != 0
    bad = cli.invoke(args=["points", "expire", "--as-of", "tomorrow"])
    assert bad.exit_code != 0
    with app.app_context():
        assert _balance(world.vol_a) == 0
        assert ledger.verify().ok


def test_a_refund_after_the_last_day_does_not_renew_points_that_have_expired(app, world):
    """Review: a refund (or a cancelled shop order) undoes the spending; it is no fresh lot,
    or spending and refunding would keep points from ever expiring."""
    with app.app_context():
        _version(world.units["A"], date(2024, 1, 1), transfer_mode="off",
                 expiry_mode="rolling", expiry_months=1)
        with _at(datetime(2025, 3, 15, 4, tzinfo=UTC)):
            _serve(world.vol_a, world.staff_a, start=datetime(2025, 3, 14, 1, tzinfo=UTC))
        with _at(datetime(2025, 4, 10, 4, tzinfo=UTC)):  # the lot lasts to 13 April
            code = merchants.issue_code(member=_user(world.vol_a), ttl_seconds=120)
            spent = merchants.redeem(actor=_user(world.merchant_a), code=code.code,
                                     offer_id=world.offers["OA"])
        with _at(datetime(2025, 4, 20, 4, tzinfo=UTC)):
            merchants.refund(spent.id, actor=_user(world.staff_a))
            assert _balance(world.vol_a) == 2000
            result = expiry.expire(date(2025, 4, 20))
            assert result.points_minor == 2000
            assert _balance(world.vol_a) == 0
        assert ledger.verify().ok
