"""Organised activities: sign-up with a waitlist, rotating check-in codes, closing into records."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, false, func, select, update

from timebank.errors import (
    CheckInRefused,
    DomainError,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from timebank.extensions import db
from timebank.models import Activity, ActivitySignup, ServiceRecord, User
from timebank.models.base import utcnow
from timebank.models.user import MEMBER_ROLES
from timebank.services import access, audit, categories, org, records, tx

MAX_CAPACITY = 10_000
MAX_LENGTH = timedelta(hours=24)
PRESENCE_SHARE = 0.6  # at least 60% of the planned time for credit
CODE_DIGITS = 6
# A code stays acceptable this long after its window ends, for people still typing it.
TYPING_GRACE = timedelta(seconds=20)

# Every status change an activity may make.
TRANSITIONS = {("open", "closed"), ("open", "cancelled")}


def check_transition(current: str, target: str) -> None:
    if (current, target) not in TRANSITIONS:
        if current == "cancelled":
            raise InvalidTransition(_("This activity was cancelled."))
        raise InvalidTransition(_("This activity is already closed."))


# --- creating and finding ------------------------------------------------------------------


def create_activity(*, actor: User, title: str, category: str, org_unit_id: int,
                    starts_at: datetime, ends_at: datetime, place: str, capacity: int,
                    description: str = "", organiser: str = "",
                    person_in_charge: str = "") -> Activity:
    """Staff open an activity in their reach, with the fields a service record needs."""
    tx.begin_write()
    access.require_staff(actor)
    unit = org.get_unit(org_unit_id)
    access.require_reach(actor, unit)
    cat = categories.get_by_code(category)
    errors: dict[str, list[str]] = {}
    if starts_at < records.EARLIEST:
        errors["starts_at"] = [_("The start is too far in the past.")]
    if ends_at <= starts_at:
        errors["ends_at"] = [_("The end must be after the start.")]
    elif ends_at - starts_at > MAX_LENGTH:
        errors["ends_at"] = [_("An activity may last at most 24 hours.")]
    if not 1 <= capacity <= MAX_CAPACITY:
        errors["capacity"] = [_("Between 1 and %(n)d people.", n=MAX_CAPACITY)]
    if not title.strip():
        errors["title"] = [_("Must not be empty.")]
    if not place.strip():
        errors["place"] = [_("Must not be empty.")]
    if errors:
        raise ValidationFailed(errors=errors)
    activity = Activity(
        org_unit_id=unit.id, category_id=cat.id, title=title.strip(),
        description=description.strip(), place=place.strip(), starts_at=starts_at,
        ends_at=ends_at, capacity=capacity,
        organiser=(organiser or org.community_of(unit).name).strip(),
        person_in_charge=(person_in_charge or actor.display_name).strip(),
        status="open", checkin_secret=secrets.token_hex(32), created_by_id=actor.id)
    db.session.add(activity)
    db.session.flush()
    audit.record(actor, "activity.create", "activity", activity.id, org_unit_id=unit.id)
    tx.commit()
    return activity


def visible_activity(actor: User, activity_id: int) -> Activity:
    """Staff in reach see any activity; members see those of their own community."""
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        raise NotFound(_("No such activity."))
    if access.reaches(actor, activity.org_unit):
        return activity
    if actor.has_role(*MEMBER_ROLES) and \
            org.community_of(actor.org_unit).contains(activity.org_unit):
        return activity
    raise NotFound(_("No such activity."))


def managed_activity(actor: User, activity_id: int) -> Activity:
    """An activity the actor runs as staff in reach."""
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        raise NotFound(_("No such activity."))
    access.require_staff(actor)
    access.require_reach(actor, activity.org_unit)
    return activity


def activities_query(actor: User, *, status: str | None = "open",
                     upcoming_only: bool = False) -> Select:
    """Activities the actor may browse: staff their reach, members their community."""
    query = select(Activity).order_by(Activity.starts_at, Activity.id)
    if access.is_staff(actor):
        query = access.scope_to_reach(query, actor, Activity.org_unit_id)
    elif not actor.has_role(*MEMBER_ROLES):
        query = query.where(false())
    else:
        community = org.community_of(actor.org_unit)
        query = query.where(Activity.org_unit_id.in_(access.subtree_ids(community)))
    if status:
        query = query.where(Activity.status == status)
    if upcoming_only:
        query = query.where(Activity.ends_at > utcnow())
    return query


def signups_of(activity: Activity) -> list[ActivitySignup]:
    """Registered first, then the waitlist in order, then cancellations."""
    order = {"registered": 0, "waitlisted": 1, "cancelled": 2}
    rows = db.session.scalars(select(ActivitySignup)
                              .where(ActivitySignup.activity_id == activity.id)).all()
    return sorted(rows, key=lambda s: (order[s.status], s.queued_at, s.id))


def visible_signups(actor: User, activity_id: int) -> list[ActivitySignup]:
    """Staff in reach see every sign-up of the activity; a member sees their own."""
    activity = visible_activity(actor, activity_id)
    rows = signups_of(activity)
    if access.reaches(actor, activity.org_unit):
        return rows
    return [row for row in rows if row.member_id == actor.id]


def signup_of(activity_id: int, member_id: int) -> ActivitySignup | None:
    return db.session.scalar(select(ActivitySignup).where(
        ActivitySignup.activity_id == activity_id, ActivitySignup.member_id == member_id))


def signup_counts(activity_ids: list[int]) -> dict[int, dict[str, int]]:
    """Sign-ups per activity and status, for a page of activities in one query."""
    counts: dict[int, dict[str, int]] = {i: {} for i in activity_ids}
    if not activity_ids:
        return counts
    rows = db.session.execute(
        select(ActivitySignup.activity_id, ActivitySignup.status, func.count(ActivitySignup.id))
        .where(ActivitySignup.activity_id.in_(activity_ids))
        .group_by(ActivitySignup.activity_id, ActivitySignup.status))
    for activity_id, status, n in rows:
        counts[activity_id][status] = n
    return counts


def own_signups(member_id: int, activity_ids: list[int]) -> dict[int, ActivitySignup]:
    """The member's sign-up of each of these activities, by activity id."""
    if not activity_ids:
        return {}
    rows = db.session.scalars(select(ActivitySignup).where(
        ActivitySignup.member_id == member_id, ActivitySignup.activity_id.in_(activity_ids)))
    return {s.activity_id: s for s in rows}


def member_signups_query(member_id: int) -> Select:
    """Every sign-up of a member, the latest activity first."""
    return (select(ActivitySignup)
            .join(Activity, ActivitySignup.activity_id == Activity.id)
            .where(ActivitySignup.member_id == member_id)
            .order_by(Activity.starts_at.desc(), ActivitySignup.id.desc()))


def records_by_id(record_ids: list[int | None]) -> dict[int, ServiceRecord]:
    """The service records the sign-ups were credited with, by id."""
    ids = [i for i in record_ids if i is not None]
    if not ids:
        return {}
    return {r.id: r for r in db.session.scalars(
        select(ServiceRecord).where(ServiceRecord.id.in_(ids)))}


def waitlist_position(activity: Activity, member_id: int) -> int | None:
    """1 for the first on the waitlist; None when the member is not waiting."""
    waiting = [s.member_id for s in signups_of(activity) if s.status == "waitlisted"]
    return waiting.index(member_id) + 1 if member_id in waiting else None


def check_window(activity: Activity) -> tuple[datetime, datetime]:
    """When members may check in and out: the activity's time and the grace around it."""
    return activity.starts_at - _grace(), activity.ends_at + _grace()


def registered_count(activity_id: int) -> int:
    return db.session.scalar(select(func.count(ActivitySignup.id)).where(
        ActivitySignup.activity_id == activity_id,
        ActivitySignup.status == "registered")) or 0


# --- sign-up and waitlist -------------------------------------------------------------------


def _lock_activity(activity_id: int) -> Activity:
    """Serialise sign-ups of one activity (PostgreSQL row lock; SQLite holds the write lock)."""
    query = select(Activity).where(Activity.id == activity_id)
    if not tx.is_sqlite():
        query = query.with_for_update(of=Activity)
    activity = db.session.scalar(query.execution_options(populate_existing=True))
    if activity is None:
        raise NotFound(_("No such activity."))
    return activity


def sign_up(activity_id: int, *, actor: User, member_id: int | None = None) -> ActivitySignup:
    """A place if one is free, else the end of the waitlist; staff may sign up a member."""
    tx.begin_write()
    member = _member_for(actor, member_id)
    visible_activity(member, activity_id)
    activity = _lock_activity(activity_id)
    if activity.status != "open":
        raise InvalidTransition(_("This activity is no longer open."))
    if activity.ends_at <= utcnow():
        raise InvalidTransition(_("This activity has already ended."))
    now = utcnow()
    status = "registered" if registered_count(activity.id) < activity.capacity else "waitlisted"
    signup = signup_of(activity.id, member.id)
    if signup is None:
        signup = ActivitySignup(activity_id=activity.id, member_id=member.id, status=status,
                                created_at=now, queued_at=now)
        db.session.add(signup)
    elif signup.status == "cancelled":
        signup.status, signup.queued_at, signup.cancelled_at = status, now, None
    else:
        raise InvalidTransition(_("You are already signed up."))
    db.session.flush()
    audit.record(actor, f"activity.signup.{status}", "activity", activity.id,
                 on_behalf_of=member, org_unit_id=activity.org_unit_id)
    tx.commit()
    return signup


def cancel_signup(activity_id: int, *, actor: User,
                  member_id: int | None = None) -> ActivitySignup:
    """Give up a place; the first on the waitlist moves up into it."""
    tx.begin_write()
    member = _member_for(actor, member_id)
    visible_activity(member, activity_id)
    activity = _lock_activity(activity_id)
    if activity.status != "open":
        raise InvalidTransition(_("This activity is no longer open."))
    signup = signup_of(activity.id, member.id)
    if signup is None or signup.status == "cancelled":
        raise InvalidTransition(_("You are not signed up."))
    if signup.checked_in_at is not None:
        raise InvalidTransition(_("You have already checked in."))
    was_registered = signup.status == "registered"
    signup.status, signup.cancelled_at = "cancelled", utcnow()
    db.session.flush()
    if was_registered:
        _promote_waitlist(activity)
    audit.record(actor, "activity.signup.cancel", "activity", activity.id,
                 on_behalf_of=member, org_unit_id=activity.org_unit_id)
    tx.commit()
    return signup


def _promote_waitlist(activity: Activity) -> None:
    free = activity.capacity - registered_count(activity.id)
    if free <= 0:
        return
    waiting = db.session.scalars(
        select(ActivitySignup)
        .where(ActivitySignup.activity_id == activity.id, ActivitySignup.status == "waitlisted")
        .order_by(ActivitySignup.queued_at, ActivitySignup.id).limit(free)).all()
    for signup in waiting:
        signup.status = "registered"
    db.session.flush()


def _member_for(actor: User, member_id: int | None) -> User:
    """The actor themself, or a member in the staff actor's reach (代办); members only."""
    if member_id is None or member_id == actor.id:
        member = actor
    else:
        member = access.visible_member(actor, db.session.get(User, member_id))
        access.require_staff(actor)
        access.require_reach(actor, member.org_unit)
    if not member.has_role(*MEMBER_ROLES):
        raise Forbidden(_("Only volunteers and gridworkers take part in activities."))
    return member


# --- rotating check-in codes ----------------------------------------------------------------


@dataclass(frozen=True)
class CheckinCode:
    code: str
    rotates_at: datetime
    expires_at: datetime


def _window_seconds() -> int:
    return int(current_app.config["CHECKIN_CODE_SECONDS"])


def _code_for(activity: Activity, window: int) -> str:
    digest = hmac.new(bytes.fromhex(activity.checkin_secret), f"{activity.id}:{window}".encode(),
                      hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def _window_of(moment: datetime) -> int:
    return int(moment.timestamp()) // _window_seconds()


def checkin_code(activity_id: int, *, actor: User, at: datetime | None = None) -> CheckinCode:
    """The code on the organiser's screen now; it rotates every window."""
    activity = managed_activity(actor, activity_id)
    if activity.status != "open":
        raise InvalidTransition(_("This activity is no longer open."))
    now = at or utcnow()
    window = _window_of(now)
    rotates_at = datetime.fromtimestamp((window + 1) * _window_seconds(), UTC)
    return CheckinCode(_code_for(activity, window), rotates_at, rotates_at + TYPING_GRACE)


def _code_is_current(activity: Activity, code: str, now: datetime) -> bool:
    window = _window_of(now)
    if hmac.compare_digest(_code_for(activity, window), code):
        return True
    # The previous window's code, for a few seconds after it rotated.
    started = datetime.fromtimestamp(window * _window_seconds(), UTC)
    return now - started < TYPING_GRACE and hmac.compare_digest(
        _code_for(activity, window - 1), code)


def _grace() -> timedelta:
    return timedelta(minutes=int(current_app.config["CHECKIN_GRACE_MINUTES"]))


def _attendance_checks(activity: Activity, member: User, code: str) -> ActivitySignup:
    now = utcnow()
    if activity.status != "open":
        raise CheckInRefused(_("This activity is no longer open."))
    if now < activity.starts_at - _grace():
        raise CheckInRefused(_("Check-in opens %(minutes)d minutes before the start.",
                               minutes=_grace().seconds // 60))
    if now > activity.ends_at + _grace():
        raise CheckInRefused(_("This activity has ended; check-in is closed."))
    signup = signup_of(activity.id, member.id)
    if signup is None or signup.status != "registered":
        raise CheckInRefused(_("You do not have a place in this activity."))
    # isascii: compare_digest refuses non-ASCII text, and '１２３４５６' is digits to isdigit().
    if not (len(code) == CODE_DIGITS and code.isascii() and code.isdigit()
            and _code_is_current(activity, code, now)):
        raise CheckInRefused(_("This code is wrong or has expired. Enter the code now on the "
                               "organiser's screen."))
    return signup


def check_in(activity_id: int, *, member: User, code: str) -> ActivitySignup:
    """A registered member enters the code on the organiser's screen; twice is harmless."""
    tx.begin_write()
    activity = visible_activity(member, activity_id)
    signup = _attendance_checks(activity, member, code.strip())
    if signup.checked_in_at is None:
        signup.checked_in_at, signup.checked_in_by_id = utcnow(), member.id
        audit.record(member, "activity.check_in", "activity", activity.id,
                     org_unit_id=activity.org_unit_id)
    tx.commit()
    return signup


def check_out(activity_id: int, *, member: User, code: str) -> ActivitySignup:
    """The member leaves: the code again; the time between is their time present."""
    tx.begin_write()
    activity = visible_activity(member, activity_id)
    signup = _attendance_checks(activity, member, code.strip())
    if signup.checked_in_at is None:
        raise CheckInRefused(_("Check in first."))
    if signup.checked_out_at is None:
        signup.checked_out_at, signup.checked_out_by_id = utcnow(), member.id
        audit.record(member, "activity.check_out", "activity", activity.id,
                     org_unit_id=activity.org_unit_id)
    tx.commit()
    return signup


def mark_attendance(activity_id: int, *, actor: User, member_id: int,
                    checked_in_at: datetime, checked_out_at: datetime) -> ActivitySignup:
    """Staff record attendance by hand for a member without a phone (recorded as the member's)."""
    tx.begin_write()
    activity = managed_activity(actor, activity_id)
    if activity.status != "open":
        raise InvalidTransition(_("This activity is no longer open."))
    member = _member_for(actor, member_id)
    errors: dict[str, list[str]] = {}
    if checked_out_at <= checked_in_at:
        errors["checked_out_at"] = [_("The end must be after the start.")]
    if checked_in_at < activity.starts_at - _grace() or \
            checked_out_at > activity.ends_at + _grace():
        errors.setdefault("checked_in_at", []).append(
            _("Attendance must lie within the activity's time."))
    if checked_out_at > utcnow() + records.CLOCK_SKEW:
        errors.setdefault("checked_out_at", []).append(_("The end cannot be in the future."))
    if errors:
        raise ValidationFailed(errors=errors)
    signup = signup_of(activity.id, member.id)
    if signup is None:
        signup = ActivitySignup(activity_id=activity.id, member_id=member.id,
                                status="registered")
        db.session.add(signup)
    elif signup.status != "registered":
        signup.status, signup.cancelled_at = "registered", None
    signup.checked_in_at, signup.checked_in_by_id = checked_in_at, actor.id
    signup.checked_out_at, signup.checked_out_by_id = checked_out_at, actor.id
    db.session.flush()
    audit.record(actor, "activity.attendance.by_staff", "activity", activity.id,
                 on_behalf_of=member, org_unit_id=activity.org_unit_id,
                 checked_in_at=checked_in_at.isoformat(),
                 checked_out_at=checked_out_at.isoformat())
    tx.commit()
    return signup


# --- closing ------------------------------------------------------------------------------


@dataclass
class CloseResult:
    activity: Activity
    records_created: list[int]
    not_credited: list[tuple[int, str]]  # (member id, reason)


def presence(activity: Activity, signup: ActivitySignup) -> timedelta:
    """Time present within the planned span (none without both check-in and check-out)."""
    if signup.checked_in_at is None or signup.checked_out_at is None:
        return timedelta(0)
    start = max(signup.checked_in_at, activity.starts_at)
    end = min(signup.checked_out_at, activity.ends_at)
    return max(end - start, timedelta(0))


def close_activity(activity_id: int, *, actor: User) -> CloseResult:
    """Close once: a pending record per attendee present ≥ 60%, hours capped at the plan."""
    tx.begin_write()
    activity = managed_activity(actor, activity_id)
    check_transition(activity.status, "closed")
    changed = db.session.execute(
        update(Activity).where(Activity.id == activity.id, Activity.status == "open")
        .values(status="closed", closed_at=utcnow(), closed_by_id=actor.id)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise InvalidTransition(_("This activity is already closed."))
    planned = activity.ends_at - activity.starts_at
    result = CloseResult(activity, [], [])
    for signup in signups_of(activity):
        if signup.status != "registered":
            continue
        present = presence(activity, signup)
        if present < planned * PRESENCE_SHARE:
            result.not_credited.append((signup.member_id, "presence"))
            continue
        started = max(signup.checked_in_at, activity.starts_at)
        savepoint = db.session.begin_nested()
        try:
            record = records.add_record(
                member=signup.member, actor=actor, category=activity.category,
                unit=activity.org_unit, started_at=started, ended_at=started + present,
                place=activity.place, description=activity.description or activity.title,
                title=activity.title, person_in_charge=activity.person_in_charge,
                trim_to_cap=True)
        except DomainError as err:
            savepoint.rollback()
            result.not_credited.append((signup.member_id, err.code))
            continue
        savepoint.commit()
        signup.service_record_id = record.id
        result.records_created.append(record.id)
    db.session.flush()
    audit.record(actor, "activity.close", "activity", activity.id,
                 org_unit_id=activity.org_unit_id, records=len(result.records_created))
    db.session.expire(activity)
    tx.commit()
    return result


def cancel_activity(activity_id: int, *, actor: User) -> Activity:
    """Call off an open activity; sign-ups stay as history, nothing is credited."""
    tx.begin_write()
    activity = managed_activity(actor, activity_id)
    check_transition(activity.status, "cancelled")
    activity.status, activity.closed_at, activity.closed_by_id = "cancelled", utcnow(), actor.id
    audit.record(actor, "activity.cancel", "activity", activity.id,
                 org_unit_id=activity.org_unit_id)
    tx.commit()
    return activity


def pending_records_of(activity: Activity) -> list[int]:
    """Ids of the activity's records still waiting for approval (for the bulk approve)."""
    return list(db.session.scalars(
        select(ServiceRecord.id).join(ActivitySignup,
                                      ActivitySignup.service_record_id == ServiceRecord.id)
        .where(ActivitySignup.activity_id == activity.id, ServiceRecord.status == "pending")))

