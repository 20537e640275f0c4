"""The time bank between neighbours: requests for help, family links, transfer policy, transfers.

Points offered for help are held in the community's hold account from the moment the request is
posted, so they are guaranteed; they go to the helper when the helper's service record is
approved, and back to the beneficiary when the request is cancelled or the record rejected.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, false, func, or_, select, update
from sqlalchemy.orm import aliased

from timebank.errors import (
    AlreadyClaimed,
    AlreadyExists,
    Forbidden,
    InvalidTransition,
    NotFound,
    TransferNotAllowed,
    ValidationFailed,
)
from timebank.extensions import db
from timebank.models import (
    Account,
    FamilyLink,
    HelpRequest,
    LedgerTransaction,
    OrgUnit,
    ServiceRecord,
    Transfer,
    User,
)
from timebank.models.base import utcnow
from timebank.models.user import MEMBER_ROLES
from timebank.services import access, audit, categories, ledger, org, policy, records, tx
from timebank.timeutil import local_date, start_of_day
from timebank.units import fmt

MAX_TITLE = 200
MAX_TEXT = 2000
MAX_RELATION = 32
MAX_MEMO = 200
# How far from now a request may be needed: staff type in paper requests a little late.
NEEDED_AT_PAST = timedelta(days=7)
NEEDED_AT_FUTURE = timedelta(days=366)
# The hours credited for a request when the one confirming it gives no times (1 h = 1 credit).
DEFAULT_HELP_SPAN = timedelta(hours=1)
POLICY_KINDS = policy.POLICY_KINDS

# Every status change a request for help may make.
# How each status reads inside a sentence.
STATUS_WORDS = {"open": _l("open"), "claimed": _l("claimed"), "completed": _l("completed"),
                "cancelled": _l("cancelled")}
LINK_WORDS = {"pending": _l("waiting for staff"), "confirmed": _l("confirmed"),
              "revoked": _l("revoked")}

TRANSITIONS = {
    ("open", "claimed"),
    ("open", "cancelled"),
    ("claimed", "open"),  # the helper gives it back
    ("claimed", "cancelled"),
    ("claimed", "completed"),
}
# Every status change a family link may make.
LINK_TRANSITIONS = {
    ("pending", "confirmed"),
    ("pending", "revoked"),
    ("confirmed", "revoked"),
    ("revoked", "pending"),  # asked for again
}


def check_transition(current: str, target: str) -> None:
    if (current, target) not in TRANSITIONS:
        raise InvalidTransition(
            _("A request that is %(current)s cannot become %(target)s.",
              current=STATUS_WORDS.get(current, current),
              target=STATUS_WORDS.get(target, target)))


def check_link_transition(current: str, target: str) -> None:
    if (current, target) not in LINK_TRANSITIONS:
        raise InvalidTransition(
            _("A family link that is %(current)s cannot become %(target)s.",
              current=LINK_WORDS.get(current, current),
              target=LINK_WORDS.get(target, target)))


# --- shared steps --------------------------------------------------------------------------


def _is_member(user: User) -> bool:
    return user.has_role(*MEMBER_ROLES)


def _acting_for(actor: User, member_id: int | None) -> User:
    """The actor themself, or an active member in the staff actor's reach (代办)."""
    if member_id is None or member_id == actor.id:
        member = actor
    else:
        member = access.visible_member(actor, db.session.get(User, member_id))
        access.require_staff(actor)
        access.require_reach(actor, member.org_unit)
    if not _is_member(member):
        raise Forbidden(_("Only volunteers and gridworkers take part in the time bank."))
    if not member.is_active:
        raise Forbidden(_("This member is deactivated."))
    return member


def _lock_member(member_id: int) -> None:
    """Serialise a member's transfers (PostgreSQL row lock; SQLite holds the write lock)."""
    if not tx.is_sqlite():
        db.session.execute(select(User.id).where(User.id == member_id).with_for_update())


def _text(value: str | None, field: str, limit: int, errors: dict, *,
          required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        errors[field] = [_("Must not be empty.")]
    elif len(text) > limit:
        errors[field] = [_("At most %(n)d characters.", n=limit)]
    return text


def _aware(moment: datetime | None) -> bool:
    return isinstance(moment, datetime) and moment.tzinfo is not None


def hold_account(unit: OrgUnit) -> Account:
    """The hold account of the unit's community, opened on first use; flushes only."""
    return org.community_account(unit, "hold")


# --- requests for help: finding ------------------------------------------------------------


def _load_request(request_id: int) -> HelpRequest:
    """The request as the database has it now, not as the session last saw it."""
    request = db.session.scalar(select(HelpRequest).where(HelpRequest.id == request_id)
                                .execution_options(populate_existing=True))
    if request is None:
        raise NotFound(_("No such request for help."))
    return request


def _may_see(actor: User, request: HelpRequest) -> bool:
    if actor.id in (request.beneficiary_id, request.helper_id):
        return True
    if access.reaches(actor, request.org_unit):
        return True
    return _is_member(actor) and org.community_of(actor.org_unit).contains(request.org_unit)


def visible_request(actor: User, request_id: int) -> HelpRequest:
    """Its beneficiary and helper, staff in reach, and members of its community see it."""
    request = _load_request(request_id)
    if not _may_see(actor, request):
        raise NotFound(_("No such request for help."))
    return request


def requests_query(actor: User, *, status: str | None = "open") -> Select:
    """Requests the actor may browse: staff their reach; members their community and their own."""
    query = select(HelpRequest).order_by(HelpRequest.needed_at, HelpRequest.id)
    if access.is_staff(actor):
        query = access.scope_to_reach(query, actor, HelpRequest.org_unit_id)
    else:
        community = org.community_of(actor.org_unit)
        query = query.where(or_(
            HelpRequest.org_unit_id.in_(access.subtree_ids(community)) if _is_member(actor)
            else false(),
            HelpRequest.beneficiary_id == actor.id,
            HelpRequest.helper_id == actor.id))
    if status:
        query = query.where(HelpRequest.status == status)
    return query


# --- requests for help: use cases ----------------------------------------------------------


def post_request(*, actor: User, title: str, description: str, category: str,
                 org_unit_id: int, needed_at: datetime, offered_points_minor: int = 0,
                 beneficiary_id: int | None = None) -> HelpRequest:
    """A member asks for help, or staff ask for an elder; offered points are held at once.

    The unit must lie in the beneficiary's community. Too few points for the offer raises
    InsufficientPoints and nothing is saved.
    """
    tx.begin_write()
    beneficiary = _acting_for(actor, beneficiary_id)
    unit = org.get_unit(org_unit_id)
    cat = categories.get_by_code(category)
    errors: dict[str, list[str]] = {}
    title = _text(title, "title", MAX_TITLE, errors, required=True)
    description = _text(description, "description", MAX_TEXT, errors)
    if not org.community_of(beneficiary.org_unit).contains(unit):
        errors["org_unit_id"] = [_("A request is posted in the beneficiary's own community.")]
    elif beneficiary.id != actor.id and not access.reaches(actor, unit):
        raise Forbidden()
    if isinstance(offered_points_minor, bool) or not isinstance(offered_points_minor, int) \
            or offered_points_minor < 0:
        errors["offered_points"] = [_("Must be zero or more.")]
    now = utcnow()
    if not _aware(needed_at):
        errors["needed_at"] = [_("Give a date and time with its time zone.")]
    elif not now - NEEDED_AT_PAST <= needed_at <= now + NEEDED_AT_FUTURE:
        errors["needed_at"] = [_("Choose a time from a week ago to a year ahead.")]
    if errors:
        raise ValidationFailed(errors=errors)
    request = HelpRequest(
        org_unit_id=unit.id, category_id=cat.id, title=title, description=description,
        needed_at=needed_at, offered_points_minor=offered_points_minor,
        beneficiary_id=beneficiary.id, created_by_id=actor.id, status="open", created_at=now)
    db.session.add(request)
    db.session.flush()
    if offered_points_minor > 0:
        txn = ledger.post(
            "help_hold",
            [(ledger.member_account(beneficiary.id), -offered_points_minor),
             (hold_account(unit), offered_points_minor)],
            actor=actor, key=f"help_hold:{request.id}", memo=title)
        request.hold_transaction_id = txn.id
        db.session.flush()
    audit.record(actor, "help_request.post", "help_request", request.id,
                 on_behalf_of=beneficiary, org_unit_id=unit.id,
                 offered_points_minor=offered_points_minor or None)
    tx.commit()
    return request


def claim(request_id: int, *, volunteer: User) -> HelpRequest:
    """A volunteer or gridworker of the request's community takes it; exactly one wins."""
    tx.begin_write()
    request = visible_request(volunteer, request_id)
    if not _is_member(volunteer) or not volunteer.is_active:
        raise Forbidden(_("Only volunteers and gridworkers take requests for help."))
    if not org.community_of(volunteer.org_unit).contains(request.org_unit):
        raise Forbidden(_("Requests are taken by members of their own community."))
    if volunteer.id == request.beneficiary_id:
        raise Forbidden(_("You cannot take your own request."))
    if request.status == "claimed":
        raise AlreadyClaimed()
    check_transition(request.status, "claimed")
    changed = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request.id, HelpRequest.status == "open")
        .values(status="claimed", helper_id=volunteer.id, claimed_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise AlreadyClaimed()  # another volunteer took it a moment ago
    audit.record(volunteer, "help_request.claim", "help_request", request.id,
                 org_unit_id=request.org_unit_id)
    db.session.expire(request)
    tx.commit()
    return request


def release(request_id: int, *, actor: User) -> HelpRequest:
    """The helper (or staff for them) gives a claimed request back; it is open again."""
    tx.begin_write()
    request = visible_request(actor, request_id)
    helper_id = request.helper_id
    if actor.id != helper_id and not access.reaches(actor, request.org_unit):
        raise Forbidden()
    check_transition(request.status, "open")
    changed = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request.id, HelpRequest.status == "claimed",
               HelpRequest.helper_id == helper_id)
        .values(status="open", helper_id=None, claimed_at=None)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise InvalidTransition(_("This request changed a moment ago."))
    audit.record(actor, "help_request.release", "help_request", request.id,
                 on_behalf_of=db.session.get(User, helper_id), org_unit_id=request.org_unit_id)
    db.session.expire(request)
    tx.commit()
    return request


def _require_beneficiary_or_staff(actor: User, request: HelpRequest) -> None:
    if actor.id != request.beneficiary_id and not access.reaches(actor, request.org_unit):
        raise Forbidden()


def cancel(request_id: int, *, actor: User) -> HelpRequest:
    """The beneficiary or staff call off an open or claimed request; held points go back."""
    tx.begin_write()
    request = visible_request(actor, request_id)
    _require_beneficiary_or_staff(actor, request)
    check_transition(request.status, "cancelled")
    changed = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request.id, HelpRequest.status.in_(("open", "claimed")))
        .values(status="cancelled")
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise InvalidTransition(_("This request changed a moment ago."))
    _give_back(request, actor=actor)
    audit.record(actor, "help_request.cancel", "help_request", request.id,
                 on_behalf_of=request.beneficiary, org_unit_id=request.org_unit_id)
    db.session.expire(request)
    tx.commit()
    return request


def default_span(request: HelpRequest, now: datetime) -> tuple[datetime, datetime]:
    """One hour at the time the help was needed, or ending now if that hour is not over yet."""
    ended_at = min(request.needed_at + DEFAULT_HELP_SPAN, now)
    return ended_at - DEFAULT_HELP_SPAN, ended_at


def complete(request_id: int, *, actor: User, rating: int, comment: str | None = None,
             started_at: datetime | None = None,
             ended_at: datetime | None = None) -> HelpRequest:
    """The beneficiary, or staff for them, confirm and rate the help; the helper's record waits.

    The helper gets a pending service record (category, unit and title of the request; the
    place is the request's unit) that staff approve like any other; the offered points move
    to the helper on that approval. Without `started_at`/`ended_at` the record counts one
    hour (the time bank's unit): the hour from `needed_at`, or the hour ending now when the
    help is confirmed before that hour is over. Give both times to record the real span.
    """
    tx.begin_write()
    request = visible_request(actor, request_id)
    _require_beneficiary_or_staff(actor, request)
    if actor.id == request.helper_id:
        raise Forbidden(_("The helper cannot confirm their own help."))
    check_transition(request.status, "completed")
    errors: dict[str, list[str]] = {}
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        errors["rating"] = [_("A whole number from 1 to 5.")]
    comment = _text(comment, "comment", MAX_TEXT, errors) or None
    now = utcnow()
    if started_at is None and ended_at is None:
        started_at, ended_at = default_span(request, now)
    elif not (_aware(started_at) and _aware(ended_at)):
        errors["started_at"] = [_("Give both the start and the end, with their time zone.")]
    elif ended_at <= started_at:
        errors["ended_at"] = [_("The end must be after the start.")]
    elif ended_at - started_at > records.MAX_SPAN:
        errors["ended_at"] = [_("One record may span at most 24 hours.")]
    elif ended_at > now + records.CLOCK_SKEW:
        errors["ended_at"] = [_("The end cannot be in the future.")]
    elif started_at < records.EARLIEST:
        errors["started_at"] = [_("The start is too far in the past.")]
    if errors:
        raise ValidationFailed(errors=errors)
    beneficiary, helper = request.beneficiary, request.helper
    record = records.add_record(
        member=helper, actor=actor, category=request.category, unit=request.org_unit,
        started_at=started_at, ended_at=ended_at, place=request.org_unit.name,
        description=request.description or request.title, title=request.title,
        person_in_charge=beneficiary.display_name)
    changed = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request.id, HelpRequest.status == "claimed",
               HelpRequest.helper_id == helper.id)
        .values(status="completed", completed_at=now, completed_by_id=actor.id,
                rating=rating, comment=comment, service_record_id=record.id)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise InvalidTransition(_("This request changed a moment ago."))
    audit.record(actor, "help_request.complete", "help_request", request.id,
                 on_behalf_of=beneficiary, org_unit_id=request.org_unit_id, rating=rating,
                 service_record_id=record.id)
    db.session.expire(request)
    tx.commit()
    return request


# --- paying or returning the held points ---------------------------------------------------


def _move_held(request: HelpRequest, *, kind: str, to_user_id: int, actor: User | None,
               service_record_id: int | None = None) -> LedgerTransaction:
    """Move a request's held points out of the hold account, once; flushes only."""
    txn = ledger.post(
        kind,
        [(hold_account(request.org_unit), -request.offered_points_minor),
         (ledger.member_account(to_user_id), request.offered_points_minor)],
        actor=actor, key=f"{kind}:{request.id}", memo=request.title,
        service_record_id=service_record_id)
    changed = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request.id, HelpRequest.settle_transaction_id.is_(None))
        .values(settle_transaction_id=txn.id)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise InvalidTransition(_("The points of this request were already paid or returned."))
    db.session.expire(request)
    return txn


def _give_back(request: HelpRequest, *, actor: User | None,
               service_record_id: int | None = None) -> LedgerTransaction | None:
    if request.hold_transaction_id is None or request.settle_transaction_id is not None:
        return None
    return _move_held(request, kind="help_return", to_user_id=request.beneficiary_id,
                      actor=actor, service_record_id=service_record_id)


def _held_request_of(record: ServiceRecord) -> tuple[HelpRequest | None, str, int | None]:
    """The request the record came from (row-locked), if points still wait for it."""
    query = select(HelpRequest).where(HelpRequest.service_record_id == record.id)
    if not tx.is_sqlite():
        query = query.with_for_update(of=HelpRequest)
    request = db.session.scalar(query.execution_options(populate_existing=True))
    # The caller may hold a stale copy of the record: ask the database for its status.
    status, reviewer_id = db.session.execute(
        select(ServiceRecord.status, ServiceRecord.reviewer_id)
        .where(ServiceRecord.id == record.id)).one()
    if request is None or request.hold_transaction_id is None \
            or request.settle_transaction_id is not None:
        return None, status, reviewer_id
    return request, status, reviewer_id


def settlement_accounts(record_ids: list[int], *, paying: bool) -> set[int]:
    """The accounts that settling these records' requests would touch: the hold account and
    the helper's (`paying`, on approval) or the beneficiary's (on rejection); flushes only."""
    found: set[int] = set()
    for offset in range(0, len(record_ids), 1000):
        for request in db.session.scalars(
                select(HelpRequest).where(
                    HelpRequest.service_record_id.in_(record_ids[offset:offset + 1000]),
                    HelpRequest.hold_transaction_id.is_not(None),
                    HelpRequest.settle_transaction_id.is_(None))):
            to_user = request.helper_id if paying else request.beneficiary_id
            found.add(hold_account(request.org_unit).id)
            found.add(ledger.member_account(to_user).id)
    return found


def records_from_requests(record_ids: list[int]) -> set[int]:
    """Which of these records came from a help request (points may be held for them)."""
    found: set[int] = set()
    for offset in range(0, len(record_ids), 1000):
        found.update(db.session.scalars(
            select(HelpRequest.service_record_id)
            .where(HelpRequest.service_record_id.in_(record_ids[offset:offset + 1000]))))
    return found


def settle_for_record(record: ServiceRecord, *,
                      actor: User | None = None) -> LedgerTransaction | None:
    """On approval: pay the points held for the record's request to the helper; flushes only.

    Does nothing for a record that came from no request, an offer of zero, or points already
    paid; so calling it twice is harmless. `actor` defaults to the record's reviewer.
    """
    request, status, reviewer_id = _held_request_of(record)
    if request is None:
        return None
    if status != "approved":
        raise InvalidTransition(_("The helper is paid when the record is approved."))
    actor = actor or (db.session.get(User, reviewer_id) if reviewer_id else None)
    return _move_held(request, kind="help_pay", to_user_id=request.helper_id, actor=actor,
                      service_record_id=record.id)


def return_for_record(record: ServiceRecord, *,
                      actor: User | None = None) -> LedgerTransaction | None:
    """On rejection: give the points held for the record's request back; flushes only."""
    request, status, reviewer_id = _held_request_of(record)
    if request is None:
        return None
    if status != "rejected":
        raise InvalidTransition(_("Held points go back when the record is rejected."))
    actor = actor or (db.session.get(User, reviewer_id) if reviewer_id else None)
    return _give_back(request, actor=actor, service_record_id=record.id)


# --- family links --------------------------------------------------------------------------


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def link_between(a: int, b: int) -> FamilyLink | None:
    low, high = _pair(a, b)
    return db.session.scalar(select(FamilyLink).where(
        FamilyLink.member_id == low, FamilyLink.relative_id == high
    ).execution_options(populate_existing=True))


def is_family(a: int, b: int) -> bool:
    """True when staff have confirmed the two members as one family."""
    link = link_between(a, b)
    return link is not None and link.status == "confirmed"


def links_of(member_id: int) -> list[FamilyLink]:
    return list(db.session.scalars(
        select(FamilyLink)
        .where(or_(FamilyLink.member_id == member_id, FamilyLink.relative_id == member_id))
        .order_by(FamilyLink.id)))


def _load_link(link_id: int) -> FamilyLink:
    link = db.session.scalar(select(FamilyLink).where(FamilyLink.id == link_id)
                             .execution_options(populate_existing=True))
    if link is None:
        raise NotFound(_("No such family link."))
    return link


def request_link(*, actor: User, member_id: int, relative_id: int,
                 relation: str) -> FamilyLink:
    """A member asks to be linked with a relative (or staff ask for them); staff confirm."""
    tx.begin_write()
    if actor.id not in (member_id, relative_id):
        access.require_staff(actor)
    people = []
    for person_id in (member_id, relative_id):
        person = db.session.get(User, person_id)
        if person is None:
            raise NotFound()
        if actor.id not in (member_id, relative_id):
            access.require_reach(actor, person.org_unit)
        elif _root_id(person.org_unit) != _root_id(actor.org_unit):
            raise NotFound()  # relatives are found within one's own street only
        people.append(person)
    errors: dict[str, list[str]] = {}
    relation = _text(relation, "relation", MAX_RELATION, errors, required=True)
    if member_id == relative_id:
        errors["relative_id"] = [_("Choose another person.")]
    elif not all(_is_member(p) and p.is_active for p in people):
        errors["relative_id"] = [_("Both must be active volunteers or gridworkers.")]
    if errors:
        raise ValidationFailed(errors=errors)
    low, high = _pair(member_id, relative_id)
    link = link_between(low, high)
    if link is None:
        link = FamilyLink(member_id=low, relative_id=high, relation=relation,
                          status="pending", requested_by_id=actor.id)
        db.session.add(link)
    elif link.status == "revoked":
        check_link_transition(link.status, "pending")
        link.status, link.relation, link.requested_by_id = "pending", relation, actor.id
        link.confirmed_by_id = link.confirmed_at = None
    else:
        raise AlreadyExists(_("These two are already linked or waiting for staff."))
    db.session.flush()
    audit.record(actor, "family_link.request", "family_link", link.id,
                 on_behalf_of=people[0] if actor.id not in (low, high) else None,
                 org_unit_id=people[0].org_unit_id, relation=relation,
                 member_id=low, relative_id=high)
    tx.commit()
    return link


def _change_link(link: FamilyLink, target: str, **values) -> None:
    check_link_transition(link.status, target)
    changed = db.session.execute(
        update(FamilyLink).where(FamilyLink.id == link.id, FamilyLink.status == link.status)
        .values(status=target, **values)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise InvalidTransition(_("This family link changed a moment ago."))
    db.session.expire(link)


def confirm_link(link_id: int, *, staff: User) -> FamilyLink:
    """Staff whose reach covers both members confirm a pending link."""
    tx.begin_write()
    access.require_staff(staff)
    link = _load_link(link_id)
    access.require_reach(staff, link.member.org_unit)
    access.require_reach(staff, link.relative.org_unit)
    if staff.id in (link.member_id, link.relative_id):
        raise Forbidden(_("Another member of staff confirms a link of your own family."))
    _change_link(link, "confirmed", confirmed_by_id=staff.id, confirmed_at=utcnow())
    audit.record(staff, "family_link.confirm", "family_link", link.id,
                 org_unit_id=link.member.org_unit_id, member_id=link.member_id,
                 relative_id=link.relative_id)
    tx.commit()
    return link


def revoke_link(link_id: int, *, actor: User) -> FamilyLink:
    """Either member, or staff whose reach covers one of them, end a link."""
    tx.begin_write()
    link = _load_link(link_id)
    if actor.id not in (link.member_id, link.relative_id) and not (
            access.reaches(actor, link.member.org_unit)
            or access.reaches(actor, link.relative.org_unit)):
        raise NotFound(_("No such family link."))
    _change_link(link, "revoked")
    audit.record(actor, "family_link.revoke", "family_link", link.id,
                 org_unit_id=link.member.org_unit_id, member_id=link.member_id,
                 relative_id=link.relative_id)
    tx.commit()
    return link


# --- transfer policy -----------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """The rule in force for a unit; `org_unit_id` is where it was set (None: the default)."""

    mode: str
    per_transfer_limit_minor: int
    monthly_limit_minor: int
    org_unit_id: int | None = None


DEFAULT_POLICY = Policy(mode="off", per_transfer_limit_minor=10000, monthly_limit_minor=30000)


def policy_for(unit: OrgUnit) -> Policy:
    """The giving rule of the points policy in force today for this unit."""
    rules = policy.in_force(unit)
    return Policy(rules.transfer_mode, rules.per_transfer_limit_minor,
                  rules.monthly_transfer_limit_minor, rules.set_at_unit_id)


def visible_policy(actor: User, unit_id: int) -> tuple[OrgUnit, Policy]:
    """The policy in force for a unit, for staff in reach and the people it applies to."""
    unit = org.get_unit(unit_id)
    if not (access.reaches(actor, unit) or unit.contains(actor.org_unit)
            or org.community_of(actor.org_unit).contains(unit)):
        raise Forbidden()
    return unit, policy_for(unit)


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def set_policy(*, actor: User, org_unit_id: int, mode: str, per_transfer_limit_minor: int,
               monthly_limit_minor: int) -> Policy:
    """Staff change the giving rule of a community (or a street) in their reach, from today."""
    renamed = {"transfer_mode": "mode", "monthly_transfer_limit": "monthly_limit"}
    try:
        row = policy.set_transfers(actor=actor, org_unit_id=org_unit_id, mode=mode,
                                   per_transfer_limit_minor=per_transfer_limit_minor,
                                   monthly_limit_minor=monthly_limit_minor)
    except ValidationFailed as err:
        if err.errors:
            err.errors = {renamed.get(k, k): v for k, v in err.errors.items()}
        raise
    return Policy(row.transfer_mode, row.per_transfer_limit_minor,
                  row.monthly_transfer_limit_minor, row.org_unit_id)


# --- transfers (转赠) -----------------------------------------------------------------------


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The local calendar month around a moment, as [start, end)."""
    first = local_date(moment).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return start_of_day(first), start_of_day(following)


def sent_this_month(member_id: int, *, now: datetime | None = None) -> int:
    """Points the member has given in the current local calendar month (minor units)."""
    start, end = month_bounds(now or utcnow())
    return db.session.scalar(
        select(func.coalesce(func.sum(Transfer.amount_minor), 0))
        .where(Transfer.from_member_id == member_id, Transfer.created_at >= start,
               Transfer.created_at < end)) or 0


def _root_id(unit: OrgUnit) -> int:
    """The top of the unit's tree: its street (or the community itself if it has none)."""
    return unit.ancestor_ids()[0]


def transfer(*, actor: User, to_member_id: int, amount_minor: int, memo: str = "",
             from_member_id: int | None = None) -> Transfer:
    """A member gives points to another, as the sender's community policy allows.

    Staff may give for an elder in their reach (`from_member_id`); the audit trail names both.
    Policy `off` refuses; `family` allows only a staff-confirmed family link; `any` allows any
    member of the same street. Each gift is within the per-transfer limit and the sender's
    gifts this local calendar month stay within the monthly limit.
    """
    tx.begin_write()
    sender = _acting_for(actor, from_member_id)
    receiver = db.session.get(User, to_member_id)
    if receiver is None:
        raise NotFound(_("No such member."))
    errors: dict[str, list[str]] = {}
    memo = _text(memo, "memo", MAX_MEMO, errors)
    if receiver.id == sender.id:
        errors["to_member_id"] = [_("Points cannot be given to oneself.")]
    elif receiver.id == actor.id:
        raise Forbidden(_("Staff cannot give a member's points to themselves."))
    elif not (_is_member(receiver) and receiver.is_active):
        errors["to_member_id"] = [_("Points are given to active volunteers and gridworkers.")]
    if not _positive_int(amount_minor):
        errors["amount"] = [_("Must be more than zero.")]
    if errors:
        raise ValidationFailed(errors=errors)
    policy = policy_for(sender.org_unit)
    if policy.mode == "off":
        raise TransferNotAllowed(_("Giving points is switched off in this community."))
    if policy.mode == "family" and not is_family(sender.id, receiver.id):
        raise TransferNotAllowed(_("Points may only be given to family confirmed by staff."))
    if policy.mode == "any" and _root_id(sender.org_unit) != _root_id(receiver.org_unit):
        raise TransferNotAllowed(_("Points may only be given within the same street."))
    if amount_minor > policy.per_transfer_limit_minor:
        raise ValidationFailed(errors={"amount": [
            _("At most %(limit)s points at a time.",
              limit=fmt(policy.per_transfer_limit_minor))]})
    _lock_member(sender.id)  # the monthly total must not change under us
    already = sent_this_month(sender.id)
    if already + amount_minor > policy.monthly_limit_minor:
        raise ValidationFailed(errors={"amount": [
            _("At most %(limit)s points a month; %(left)s left this month.",
              limit=fmt(policy.monthly_limit_minor),
              left=fmt(max(policy.monthly_limit_minor - already, 0)))]})
    txn = ledger.post(
        "transfer",
        [(ledger.member_account(sender.id), -amount_minor),
         (ledger.member_account(receiver.id), amount_minor)],
        actor=actor, key=f"transfer:{uuid.uuid4().hex}", memo=memo)
    gift = Transfer(from_member_id=sender.id, to_member_id=receiver.id,
                    amount_minor=amount_minor, memo=memo, transaction_id=txn.id,
                    created_by_id=actor.id, created_at=utcnow())
    db.session.add(gift)
    db.session.flush()
    audit.record(actor, "transfer.create", "transfer", gift.id, on_behalf_of=sender,
                 org_unit_id=sender.org_unit_id, to_member_id=receiver.id,
                 amount_minor=amount_minor)
    tx.commit()
    return gift


def transfers_of(member_id: int) -> Select:
    """Gifts the member gave or received, newest first."""
    return (select(Transfer)
            .where(or_(Transfer.from_member_id == member_id, Transfer.to_member_id == member_id))
            .order_by(Transfer.id.desc()))


# --- finding people, requests and links for the pages (read-only) -------------------------

_PHONE_NOISE = re.compile(r"[\s\-()]")
MAX_PHONE = 20


def member_by_phone(member: User, phone: str | None) -> User | None:
    """The active volunteer or gridworker with this phone number in the member's street.

    Anyone else (unknown, deactivated, staff, another street) is None, so a phone lookup tells
    nothing about people the member could not give to anyway.
    """
    number = _PHONE_NOISE.sub("", phone or "")
    if not number or len(number) > MAX_PHONE:
        return None
    found = db.session.scalar(select(User).where(User.phone == number))
    if found is None or not found.is_active or not _is_member(found):
        return None
    if _root_id(found.org_unit) != _root_id(member.org_unit):
        return None
    return found


def requests_asked_by(member_id: int) -> Select:
    """Requests for the member as beneficiary, newest first."""
    return (select(HelpRequest).where(HelpRequest.beneficiary_id == member_id)
            .order_by(HelpRequest.id.desc()))


def requests_taken_by(member_id: int) -> Select:
    """Requests the member has taken as helper, newest first."""
    return (select(HelpRequest).where(HelpRequest.helper_id == member_id)
            .order_by(HelpRequest.id.desc()))


def points_state(request: HelpRequest) -> str:
    """Where the offered points are: 'none' offered, 'held', 'paid' to the helper, 'returned'."""
    if not request.offered_points_minor or request.hold_transaction_id is None:
        return "none"
    if request.settle_transaction_id is None:
        return "held"
    kind = db.session.scalar(select(LedgerTransaction.kind)
                             .where(LedgerTransaction.id == request.settle_transaction_id))
    return "paid" if kind == "help_pay" else "returned"


def links_in_reach(staff: User, *, status: str = "pending") -> Select:
    """Family links with this status where the staff member's reach covers either member."""
    access.require_staff(staff)
    member, relative = aliased(User), aliased(User)
    query = (select(FamilyLink)
             .join(member, FamilyLink.member_id == member.id)
             .join(relative, FamilyLink.relative_id == relative.id)
             .where(FamilyLink.status == status)
             .order_by(FamilyLink.id))
    if not access.is_admin(staff):
        in_reach = access.subtree_ids(staff.org_unit)
        query = query.where(or_(member.org_unit_id.in_(in_reach),
                                relative.org_unit_id.in_(in_reach)))
    return query
