"""The audit trail: one row per action, naming the member when staff act on their behalf."""

from __future__ import annotations

from sqlalchemy import Select, or_, select

from timebank.extensions import db
from timebank.models import AuditEvent, User


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
