"""Service records: logging hours, approving and rejecting them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import aliased

from timebank.errors import (
    DailyCapReached,
    DomainError,
    Forbidden,
    InvalidTransition,
    NotFound,
    OverlappingRecord,
    SelfApproval,
    ValidationFailed,
)
from timebank.extensions import db
from timebank.models import Account, ServiceRecord, User
from timebank.models.base import utcnow
from timebank.services import access, categories, helping, ledger, org, policy, stats, tx
from timebank.timeutil import local_date, start_of_day
from timebank.units import fmt, from_minor, quantize, to_minor

# Every status change a record may make; anything else is an invalid transition.
TRANSITIONS = {
    ("pending", "approved"),
    ("pending", "rejected"),
}
MAX_SPAN = timedelta(hours=24)
CLOCK_SKEW = timedelta(minutes=2)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_BULK = 1000


def check_transition(current: str, target: str) -> None:
    if (current, target) not in TRANSITIONS:
        raise InvalidTransition(
            _("A %(current)s record cannot become %(target)s.", current=current, target=target)
        )


def hours_between(started_at: datetime, ended_at: datetime) -> Decimal:
    return quantize(Decimal((ended_at - started_at).total_seconds()) / Decimal(3600))


def points_for(hours_minor: int, rate_minor: int) -> int:
    """hours × rate, both in hundredths, rounded half up to a hundredth of a point."""
    return to_minor(quantize(from_minor(hours_minor) * from_minor(rate_minor)))


def _check_span(started_at: datetime, ended_at: datetime) -> None:
    errors: dict[str, list[str]] = {}
    if ended_at <= started_at:
        errors["ended_at"] = [_("The end must be after the start.")]
    elif ended_at - started_at > MAX_SPAN:
        errors["ended_at"] = [_("One record may span at most 24 hours.")]
    if ended_at > utcnow() + CLOCK_SKEW:
        errors.setdefault("ended_at", []).append(_("The end cannot be in the future."))
    if started_at < EARLIEST:
        errors["started_at"] = [_("The start is too far in the past.")]
    if errors:
        raise ValidationFailed(errors=errors)


def log_hours(
    *,
    actor: User,
    category: str,
    started_at: datetime,
    ended_at: datetime,
    place: str,
    description: str,
    org_unit_id: int | None = None,
    member_id: int | None = None,
    title: str | None = None,
    person_in_charge: str | None = None,
) -> ServiceRecord:
    """A pending record of hours; staff in reach may record for someone else."""
    tx.begin_write()
    _check_span(started_at, ended_at)
    if member_id is None or member_id == actor.id:
        member = actor
    else:
        member = access.visible_member(actor, db.session.get(User, member_id))
        access.require_reach(actor, member.org_unit)
    if org_unit_id is None:
        unit = member.org_unit
    else:
        unit = org.get_unit(org_unit_id)
        home = org.community_of(member.org_unit)
        if not home.contains(unit) and not access.reaches(actor, unit):
            raise Forbidden(_("Hours are recorded in the member's own community."))
    record = add_record(
        member=member, actor=actor, category=categories.get_by_code(category), unit=unit,
        started_at=started_at, ended_at=ended_at, place=place, description=description,
        title=title, person_in_charge=person_in_charge)
    tx.commit()
    return record


def add_record(*, member: User, actor: User, category, unit, started_at: datetime,
               ended_at: datetime, place: str, description: str, title: str | None = None,
               person_in_charge: str | None = None, trim_to_cap: bool = False) -> ServiceRecord:
    """A pending record after the overlap check and the daily cap of the unit's policy (flush
    only; activities and help use it). `trim_to_cap` shortens the span to what the day allows
    instead of refusing it."""
    _lock_member(member.id)
    _refuse_overlap(member.id, started_at, ended_at)
    hours_minor = to_minor(hours_between(started_at, ended_at))
    if hours_minor <= 0:
        raise ValidationFailed(errors={"ended_at": [_("The span is too short.")]})
    day = local_date(started_at)
    rules = policy.in_force(unit, day)
    if rules.daily_hours_cap_minor is not None:
        left = rules.daily_hours_cap_minor - hours_on_day(member.id, day)
        if hours_minor > left and trim_to_cap and left > 0:
            # An activity credits what the day still allows.
            ended_at = started_at + timedelta(hours=left / 100)
            hours_minor = left
        elif hours_minor > left:
            raise DailyCapReached(
                _("At most %(cap)s hours a day can be recorded here; %(left)s hours are left "
                  "for %(day)s.", cap=fmt(rules.daily_hours_cap_minor), left=fmt(max(left, 0)),
                  day=day.isoformat()),
                errors={"ended_at": [_("At most %(cap)s hours a day can be recorded here.",
                                       cap=fmt(rules.daily_hours_cap_minor))]})
    rate = rules.rates[category.id] if category.id in rules.rates \
        else categories.rate_on(category, day)
    record = ServiceRecord(
        member_id=member.id,
        category_id=category.id,
        org_unit_id=unit.id,
        title=(title or category.name).strip(),
        started_at=started_at,
        ended_at=ended_at,
        hours_minor=hours_minor,
        place=place.strip(),
        description=description.strip(),
        person_in_charge=person_in_charge,
        status="pending",
        expected_points_minor=points_for(hours_minor, rate),
        created_by_id=actor.id,
    )
    db.session.add(record)
    db.session.flush()
    return record


def hours_on_day(member_id: int, day: date) -> int:
    """Hours (minor units) of a member's pending and approved records starting on a local day."""
    start = start_of_day(day)
    return int(db.session.scalar(
        select(func.coalesce(func.sum(ServiceRecord.hours_minor), 0)).where(
            ServiceRecord.member_id == member_id,
            ServiceRecord.status.in_(("pending", "approved")),
            ServiceRecord.started_at >= start,
            ServiceRecord.started_at < start + timedelta(days=1))) or 0)


def _lock_member(member_id: int) -> None:
    """Serialise a member's record writes (PostgreSQL row lock; SQLite holds the write lock)."""
    if not tx.is_sqlite():
        db.session.execute(select(User.id).where(User.id == member_id).with_for_update())


def _refuse_overlap(member_id: int, started_at: datetime, ended_at: datetime) -> None:
    clash = db.session.scalar(
        select(ServiceRecord.id)
        .where(
            ServiceRecord.member_id == member_id,
            ServiceRecord.status.in_(("pending", "approved")),
            ServiceRecord.started_at < ended_at,
            ServiceRecord.ended_at > started_at,
        )
        .limit(1)
    )
    if clash is not None:
        raise OverlappingRecord(
            _("These hours overlap record %(id)d.", id=clash), errors=None
        )


def visible_record(actor: User, record_id: int) -> ServiceRecord:
    """The record if the actor may see it: their own, or staff whose reach covers it."""
    return _visible(actor, db.session.get(ServiceRecord, record_id))


def _visible(actor: User, record: ServiceRecord | None) -> ServiceRecord:
    if record is None or not (
        record.member_id == actor.id or access.reaches(actor, record.org_unit)
    ):
        raise NotFound(_("No such service record."))
    return record


def _check_approvable(record: ServiceRecord, reviewer: User) -> None:
    if not access.is_staff(reviewer):
        raise Forbidden()
    if record.member_id == reviewer.id:
        raise SelfApproval()
    access.require_reach(reviewer, record.org_unit)
    check_transition(record.status, "approved")


# What an approval changes on a record row (expired on loaded copies, reloaded on access).
REVIEW_FIELDS = ["status", "reviewer_id", "reviewed_at", "points_awarded_minor", "transaction_id"]


def _approve_checked(records: list[ServiceRecord], reviewer: User) -> set[int]:
    """Approve records already checked for the reviewer; flushes only. Returns the ids that
    were still pending (the others were reviewed meanwhile and are left alone).

    The record rows are locked, then each gets its points at the rate in force on its service
    day, its `earn` transaction (one ledger batch for all) and its place in the aggregates.
    """
    if not records:
        return set()
    by_id = {record.id: record for record in records}
    still_pending = set(db.session.scalars(
        select(ServiceRecord.id)
        .where(ServiceRecord.id.in_(list(by_id)), ServiceRecord.status == "pending")
        .order_by(ServiceRecord.id)
        .with_for_update()
    ))
    todo = [record for record in records if record.id in still_pending]
    if not todo:
        return set()
    book = policy.RateBook({record.org_unit_id: record.org_unit for record in todo}.values())
    points = {record.id: points_for(record.hours_minor, book.rate(
        record.org_unit_id, record.category_id, local_date(record.started_at)))
        for record in todo}
    paid = [record for record in todo if points[record.id] > 0]
    member_accounts = dict(db.session.execute(
        select(Account.user_id, Account.id)
        .where(Account.user_id.in_({record.member_id for record in paid}))).all())
    issuers: dict[int, int] = {}
    for record in paid:
        if record.org_unit_id not in issuers:
            issuers[record.org_unit_id] = org.issuing_account(record.org_unit).id
        if record.member_id not in member_accounts:
            raise NotFound(_("This member has no points account."))
    txn_ids = ledger.post_many("earn", [
        ledger.NewTransaction(
            lines=((issuers[record.org_unit_id], -points[record.id]),
                   (member_accounts[record.member_id], points[record.id])),
            key=f"service_record:{record.id}",
            memo=f"{record.title} {from_minor(record.hours_minor)}h",
            service_record_id=record.id)
        for record in paid
    ], actor=reviewer)
    txn_of = {record.id: txn_id for record, txn_id in zip(paid, txn_ids, strict=True)}
    now = utcnow()
    table = ServiceRecord.__table__
    db.session.execute(
        table.update().where(table.c.id == bindparam("record_id"))
        .values(status="approved", reviewer_id=reviewer.id, reviewed_at=now,
                points_awarded_minor=bindparam("points"), transaction_id=bindparam("txn_id")),
        [{"record_id": record.id, "points": points[record.id],
          "txn_id": txn_of.get(record.id)} for record in todo])
    stats.add_approved_many([(record, points[record.id]) for record in todo])
    for record in todo:
        db.session.expire(record, REVIEW_FIELDS)
    return still_pending


def _lock_for_approval(records: list[ServiceRecord]) -> None:
    """Before an approval that posts more than once (it pays helpers too): lock every account
    it will touch, in id order, so no later post waits for an account while holding the
    ledger's head (see ledger.lock_accounts)."""
    members = {record.member_id for record in records}
    ids = set(db.session.scalars(select(Account.id).where(Account.user_id.in_(members))))
    ids |= {org.issuing_account(unit).id
            for unit in {record.org_unit_id: record.org_unit for record in records}.values()}
    ids |= helping.settlement_accounts([record.id for record in records], paying=True)
    ledger.lock_accounts(ids)


def _approve_one(record: ServiceRecord, reviewer: User) -> None:
    """Approve one record and pay points held for its request, if any; flushes only."""
    _check_approvable(record, reviewer)
    from_request = bool(helping.records_from_requests([record.id]))
    if from_request:
        _lock_for_approval([record])
    if record.id not in _approve_checked([record], reviewer):
        raise InvalidTransition(_("This record was already reviewed."))
    if from_request:
        helping.settle_for_record(record, actor=reviewer)
    db.session.expire(record)


def approve(record_id: int, *, reviewer: User) -> ServiceRecord:
    """Approve pending hours: points at the rate in force on the service date."""
    tx.begin_write()
    record = visible_record(reviewer, record_id)
    _approve_one(record, reviewer)
    tx.commit()
    return record


def reject(record_id: int, *, reviewer: User, reason: str) -> ServiceRecord:
    tx.begin_write()
    record = visible_record(reviewer, record_id)
    if not access.is_staff(reviewer):
        raise Forbidden()
    if record.member_id == reviewer.id:
        raise SelfApproval(_("You cannot review your own hours."))
    access.require_reach(reviewer, record.org_unit)
    check_transition(record.status, "rejected")
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(errors={"reason": [_("Give a reason.")]})
    changed = db.session.execute(
        update(ServiceRecord)
        .where(ServiceRecord.id == record.id, ServiceRecord.status == "pending")
        .values(status="rejected", reviewer_id=reviewer.id, reviewed_at=utcnow(),
                reject_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise InvalidTransition(_("This record was already reviewed."))
    helping.return_for_record(record, actor=reviewer)
    db.session.expire(record)
    tx.commit()
    return record


@dataclass
class BulkResult:
    approved: list[int]
    failed: list[tuple[int, str]]


def bulk_approve(record_ids: list[int], *, reviewer: User) -> BulkResult:
    """Approve many records in one transaction; each failure is reported, not fatal.

    The records are read in one query and approved together (one ledger batch, one
    aggregates upsert); a record whose request holds points for a helper goes on its own,
    inside a savepoint, so a failure there fails that record only.
    """
    tx.begin_write()
    if len(record_ids) > MAX_BULK:
        raise ValidationFailed(errors={"ids": [_("At most %(n)d at once.", n=MAX_BULK)]})
    access.require_staff(reviewer)
    wanted = list(dict.fromkeys(record_ids))
    found = {record.id: record for record in db.session.scalars(
        select(ServiceRecord).where(ServiceRecord.id.in_(wanted)))}
    failed: dict[int, str] = {}
    checked: list[ServiceRecord] = []
    for record_id in wanted:
        try:
            record = _visible(reviewer, found.get(record_id))
            _check_approvable(record, reviewer)
        except DomainError as err:
            failed[record_id] = err.code
        else:
            checked.append(record)
    with_help = helping.records_from_requests([record.id for record in checked])
    if with_help:
        _lock_for_approval(checked)  # more than one post in this transaction
    approved: set[int] = set()

    def one_by_one(batch: list[ServiceRecord]) -> None:
        for record in batch:
            savepoint = db.session.begin_nested()
            try:
                _approve_one(record, reviewer)
            except DomainError as err:
                savepoint.rollback()
                failed[record.id] = err.code
            else:
                savepoint.commit()
                approved.add(record.id)

    # Records whose request holds points go first and on their own (they pay the helper).
    one_by_one([record for record in checked if record.id in with_help])
    together = [record for record in checked if record.id not in with_help]
    savepoint = db.session.begin_nested()
    try:
        done = _approve_checked(together, reviewer)
    except DomainError:
        # Something about one of them (a rate, an account): find out which, one at a time.
        savepoint.rollback()
        one_by_one(together)
    else:
        savepoint.commit()
        approved |= done
        for record in together:
            if record.id not in done:
                failed[record.id] = InvalidTransition.code
    tx.commit()
    return BulkResult(approved=[i for i in wanted if i in approved],
                      failed=[(i, failed[i]) for i in wanted if i in failed])


def records_query(actor: User, *, status: str | None, member_id: int | None,
                  org_unit_id: int | None):
    """Records the actor may list: members see their own, staff their reach."""
    query = select(ServiceRecord).order_by(ServiceRecord.started_at.desc(), ServiceRecord.id.desc())
    if access.is_staff(actor):
        query = access.scope_to_reach(query, actor, ServiceRecord.org_unit_id)
    else:
        query = query.where(ServiceRecord.member_id == actor.id)
    if status:
        query = query.where(ServiceRecord.status == status)
    if member_id is not None:
        query = query.where(ServiceRecord.member_id == member_id)
    if org_unit_id is not None:
        unit = org.get_unit(org_unit_id)
        query = query.where(ServiceRecord.org_unit_id.in_(access.subtree_ids(unit)))
    return query


# --- the staff approval queue ----------------------------------------------------------

MAX_REASON = 500
LONG_RECORD_MINOR = 800  # more than 8 hours in one record
LATE_AFTER = timedelta(days=30)
# Why a pending record deserves a second look before approval.
FLAG_OVERLAP = "overlap"
FLAG_LONG = "long"
FLAG_LATE = "late"
FLAG_PROXY = "proxy"


def pending_queue(actor: User, *, org_unit_id: int | None = None,
                  category_code: str | None = None, day_from: date | None = None,
                  day_to: date | None = None):
    """Pending records in the staff member's reach, oldest service first, filtered."""
    access.require_staff(actor)
    if org_unit_id is not None:
        access.require_reach(actor, org.get_unit(org_unit_id))
    query = records_query(actor, status="pending", member_id=None, org_unit_id=org_unit_id)
    query = query.order_by(None).order_by(ServiceRecord.started_at, ServiceRecord.id)
    if category_code:
        query = query.where(ServiceRecord.category_id == categories.get_by_code(category_code).id)
    if day_from is not None:
        query = query.where(ServiceRecord.started_at >= start_of_day(day_from))
    if day_to is not None:
        query = query.where(ServiceRecord.started_at < start_of_day(day_to + timedelta(days=1)))
    return query


def queue_flags(page_records: list[ServiceRecord]) -> dict[int, list[str]]:
    """Warning flags per record id, in one query whatever the number of records."""
    flags: dict[int, list[str]] = {r.id: [] for r in page_records}
    if not flags:
        return flags
    other = aliased(ServiceRecord)
    overlapping = set(db.session.scalars(
        select(ServiceRecord.id).distinct()
        .join(other, and_(
            other.member_id == ServiceRecord.member_id,
            other.id != ServiceRecord.id,
            other.status.in_(("pending", "approved")),
            other.started_at < ServiceRecord.ended_at,
            other.ended_at > ServiceRecord.started_at,
        ))
        .where(ServiceRecord.id.in_(list(flags)))
    ))
    for record in page_records:
        found = flags[record.id]
        if record.id in overlapping:
            found.append(FLAG_OVERLAP)
        if record.hours_minor > LONG_RECORD_MINOR:
            found.append(FLAG_LONG)
        if record.created_at - record.ended_at > LATE_AFTER:
            found.append(FLAG_LATE)
        if record.created_by_id != record.member_id:
            found.append(FLAG_PROXY)
    return flags


def _clean_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(errors={"reason": [_("Give a reason.")]})
    if len(text) > MAX_REASON:
        raise ValidationFailed(errors={"reason": [_("At most %(n)d characters.", n=MAX_REASON)]})
    return text


def _reject_one(record: ServiceRecord, reviewer: User, reason: str) -> None:
    if record.member_id == reviewer.id:
        raise SelfApproval(_("You cannot review your own hours."))
    access.require_reach(reviewer, record.org_unit)
    check_transition(record.status, "rejected")
    changed = db.session.execute(
        update(ServiceRecord)
        .where(ServiceRecord.id == record.id, ServiceRecord.status == "pending")
        .values(status="rejected", reviewer_id=reviewer.id, reviewed_at=utcnow(),
                reject_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise InvalidTransition(_("This record was already reviewed."))
    helping.return_for_record(record, actor=reviewer)
    db.session.expire(record)


@dataclass
class BulkRejectResult:
    rejected: list[int]
    failed: list[tuple[int, str]]


def bulk_reject(record_ids: list[int], *, reviewer: User, reason: str) -> BulkRejectResult:
    """Reject many records with one reason in one transaction; each failure is reported."""
    tx.begin_write()
    if len(record_ids) > MAX_BULK:
        raise ValidationFailed(errors={"ids": [_("At most %(n)d at once.", n=MAX_BULK)]})
    access.require_staff(reviewer)
    reason = _clean_reason(reason)
    # Each rejected record from a request gives its points back: lock those accounts first.
    ledger.lock_accounts(helping.settlement_accounts(list(dict.fromkeys(record_ids)),
                                                     paying=False))
    result = BulkRejectResult(rejected=[], failed=[])
    seen: set[int] = set()
    for record_id in record_ids:
        if record_id in seen:
            continue
        seen.add(record_id)
        savepoint = db.session.begin_nested()
        try:
            record = visible_record(reviewer, record_id)
            _reject_one(record, reviewer, reason)
        except DomainError as err:
            savepoint.rollback()
            result.failed.append((record_id, err.code))
        else:
            savepoint.commit()
            result.rejected.append(record_id)
    tx.commit()
    return result
