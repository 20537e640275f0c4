"""Activity rules: capacity and waitlist, rotating codes, attendance, closing into records."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from timebank import create_app
from timebank.errors import CheckInRefused, Forbidden, InvalidTransition, NotFound
from timebank.extensions import db
from timebank.models import ActivitySignup, AuditEvent, ServiceRecord, User
from timebank.models.base import utcnow
from timebank.services import activities


def _user(person) -> User:
    return db.session.get(User, person.id)


def _new(world, *, capacity=10, starts_in=timedelta(minutes=-60), length=timedelta(hours=2)):
    start = utcnow() + starts_in
    return activities.create_activity(
        actor=_user(world.staff_a), title="楼道清理", category="cleanup",
        org_unit_id=world.units["A1"], starts_at=start, ends_at=start + length,
        place="3号楼", capacity=capacity).id


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def test_the_last_place_goes_to_one_and_the_next_is_waitlisted_then_promoted(ctx, world, make):
    extra = _user(world.vol_a2)
    activity_id = _new(world, capacity=1)
    first = activities.sign_up(activity_id, actor=_user(world.vol_a))
    second = activities.sign_up(activity_id, actor=extra)
    assert (first.status, second.status) == ("registered", "waitlisted")
    with pytest.raises(InvalidTransition):
        activities.sign_up(activity_id, actor=_user(world.vol_a))
    activities.cancel_signup(activity_id, actor=_user(world.vol_a))
    assert activities.signup_of(activity_id, extra.id).status == "registered"
    assert activities.signup_of(activity_id, world.vol_a.id).status == "cancelled"


def test_members_of_another_community_and_non_members_cannot_sign_up(ctx, world):
    activity_id = _new(world)
    with pytest.raises(NotFound):
        activities.sign_up(activity_id, actor=_user(world.vol_b))
    with pytest.raises(Forbidden):
        activities.sign_up(activity_id, actor=_user(world.merchant_a))
    with pytest.raises(Forbidden):
        activities.create_activity(
            actor=_user(world.staff_b), title="x", category="cleanup",
            org_unit_id=world.units["A1"], starts_at=utcnow(),
            ends_at=utcnow() + timedelta(hours=1), place="p", capacity=3)


def test_codes_rotate_and_only_the_current_code_of_this_activity_checks_in(ctx, world):
    activity_id = _new(world)
    other_id = _new(world)
    member = _user(world.vol_a)
    activities.sign_up(activity_id, actor=member)
    staff = _user(world.staff_a)
    now = utcnow()
    current = activities.checkin_code(activity_id, actor=staff, at=now)
    stale = activities.checkin_code(activity_id, actor=staff, at=now - timedelta(minutes=5))
    foreign = activities.checkin_code(other_id, actor=staff, at=now)
    assert len(current.code) == 6 and current.code.isdigit()
    assert current.rotates_at - now <= timedelta(seconds=60)
    for bad in {stale.code, foreign.code, "abcdef", "1234567"} - {current.code}:
        with pytest.raises(CheckInRefused):
            activities.check_in(activity_id, member=member, code=bad)
    with pytest.raises(Forbidden):
        activities.checkin_code(activity_id, actor=member)
    signup = activities.check_in(activity_id, member=member, code=current.code)
    assert signup.checked_in_at is not None


def test_check_in_outside_the_activity_time_is_refused(ctx, world):
    later = _new(world, starts_in=timedelta(hours=5))
    done = _new(world, starts_in=timedelta(hours=-6))
    member = _user(world.vol_a)
    staff = _user(world.staff_a)
    for activity_id in (later, done):
        if activity_id == later:
            activities.sign_up(activity_id, actor=member)
        else:
            db.session.add(ActivitySignup(activity_id=done, member_id=member.id,
                                          status="registered"))
            db.session.commit()
        code = activities.checkin_code(activity_id, actor=staff).code
        with pytest.raises(CheckInRefused):
            activities.check_in(activity_id, member=member, code=code)


def test_closing_credits_sixty_percent_presence_capped_at_the_plan_once(ctx, world):
    activity_id = _new(world, starts_in=timedelta(hours=-3), length=timedelta(hours=2))
    staff = _user(world.staff_a)
    activity = activities.managed_activity(staff, activity_id)
    start, end = activity.starts_at, activity.ends_at
    full, short = _user(world.vol_a), _user(world.vol_a2)
    # present the whole time and beyond: capped at the planned 2 hours
    activities.mark_attendance(activity_id, actor=staff, member_id=full.id,
                               checked_in_at=start - timedelta(minutes=20),
                               checked_out_at=end + timedelta(minutes=20))
    # present 1 hour of 2: below 60%, no record
    activities.mark_attendance(activity_id, actor=staff, member_id=short.id,
                               checked_in_at=start, checked_out_at=start + timedelta(hours=1))
    result = activities.close_activity(activity_id, actor=staff)
    assert len(result.records_created) == 1
    record = db.session.get(ServiceRecord, result.records_created[0])
    assert record.member_id == full.id and record.hours_minor == 200
    assert record.status == "pending" and record.title == "楼道清理"
    assert result.not_credited == [(short.id, "presence")]
    with pytest.raises(InvalidTransition):
        activities.close_activity(activity_id, actor=staff)
    assert activities.pending_records_of(activities.managed_activity(staff, activity_id)) == [
        record.id]


def test_staff_marking_attendance_shows_both_names_in_the_audit_trail(ctx, world):
    activity_id = _new(world)
    staff = _user(world.staff_a)
    activities.mark_attendance(activity_id, actor=staff, member_id=world.vol_a.id,
                               checked_in_at=utcnow() - timedelta(minutes=50),
                               checked_out_at=utcnow() - timedelta(minutes=5))
    event = db.session.scalar(select(AuditEvent)
                              .where(AuditEvent.action == "activity.attendance.by_staff"))
    assert event.actor_id == world.staff_a.id and event.on_behalf_of_id == world.vol_a.id
    signup = activities.signup_of(activity_id, world.vol_a.id)
    assert signup.checked_in_by_id == world.staff_a.id


@pytest.fixture
def wide_app(database_url):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "t",
                      "DB_POOL_SIZE": 10, "DB_MAX_OVERFLOW": 5})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_two_members_taking_the_last_place_at_once_one_gets_it_one_waits(wide_app, make):
    street = make.unit("street", "街道")
    community = make.unit("community", "社区", street)
    grid = make.unit("grid", "网格", community)
    staff = make.user(["staff"], community)
    members = [make.user(["volunteer"], grid) for _ in range(2)]
    make.category("cleanup", "10.00")
    with wide_app.app_context():
        start = utcnow() - timedelta(minutes=10)
        activity_id = activities.create_activity(
            actor=db.session.get(User, staff.id), title="巡逻", category="cleanup",
            org_unit_id=grid, starts_at=start, ends_at=start + timedelta(hours=1),
            place="门口", capacity=1).id
    barrier = threading.Barrier(len(members))

    def take(person):
        with wide_app.app_context():
            member = db.session.get(User, person.id)
            barrier.wait()
            return activities.sign_up(activity_id, actor=member).status

    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        statuses = sorted(pool.map(take, members))
    assert statuses == ["registered", "waitlisted"]
    with wide_app.app_context():
        assert db.session.scalar(select(func.count(ActivitySignup.id)).where(
            ActivitySignup.status == "registered")) == 1
