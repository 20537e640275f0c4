"""The audit trail: one row per action, naming the member when staff act on their behalf."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Select, and_, case, or_, select

from timebank.errors import Forbidden
from timebank.extensions import db
from timebank.models import AuditEvent, User
from timebank.services import access
from timebank.timeutil import start_of_day


def record(actor: User | None, action: str, subject_type: str, subject_id: int | None, *,
           on_behalf_of: User | None = None, org_unit_id: int | None = None,
           **details) -> AuditEvent:
    """Add an audit row inside the caller's transaction (flush only)."""
    if on_behalf_of is not None and actor is not None and on_behalf_of.id == actor.id:
        on_behalf_of = None
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        on_behalf_of_id=on_behalf_of.id if on_behalf_of is not None else None,
        action=action, subject_type=subject_type, subject_id=subject_id,
        org_unit_id=org_unit_id,
        details={k: v for k, v in details.items() if v is not None},
    )
    db.session.add(event)
    db.session.flush()
    return event


def events_about(subject_type: str, subject_id: int) -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == subject_type,
                                 AuditEvent.subject_id == subject_id)
        .order_by(AuditEvent.id)))


def events_of_member(member_id: int) -> Select:
    """Everything a member did or had done for them, newest first."""
    return (select(AuditEvent)
            .where(or_(AuditEvent.actor_id == member_id,
                       AuditEvent.on_behalf_of_id == member_id))
            .order_by(AuditEvent.id.desc()))


def concerned_member_id():
    """The member an event is about: the one acted for (代办), else the user who is its
    subject, else whoever acted."""
    return case(
        (AuditEvent.on_behalf_of_id.is_not(None), AuditEvent.on_behalf_of_id),
        (AuditEvent.subject_type == "user", AuditEvent.subject_id),
        else_=AuditEvent.actor_id,
    )


def events_in_reach(actor: User, *, action: str | None = None, actor_id: int | None = None,
                    member_id: int | None = None, date_from: date | None = None,
                    date_to: date | None = None) -> Select:
    """The audit trail as the actor may read it, newest first.

    Administrators read everything. Staff read the events of units in their subtree; an
    event recorded without a unit is theirs when the member it is about (see
    `concerned_member_id`) lives in their subtree. Nobody else reads the trail.
    Filters: `action` is a prefix ('activity' finds 'activity.close'), `member_id` matches
    the one who acted or the one acted for, dates are local days, both inclusive.
    """
    query = select(AuditEvent)
    if not access.is_admin(actor):
        if not actor.has_role("staff"):
            raise Forbidden()
        units = access.subtree_ids(actor.org_unit)
        members = select(User.id).where(User.org_unit_id.in_(units))
        query = query.where(or_(
            AuditEvent.org_unit_id.in_(units),
            and_(AuditEvent.org_unit_id.is_(None), concerned_member_id().in_(members)),
        ))
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if member_id is not None:
        query = query.where(or_(AuditEvent.actor_id == member_id,
                                AuditEvent.on_behalf_of_id == member_id))
    if date_from is not None:
        query = query.where(AuditEvent.at >= start_of_day(date_from))
    if date_to is not None:
        query = query.where(AuditEvent.at < start_of_day(date_to + timedelta(days=1)))
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
