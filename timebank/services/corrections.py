"""Requests for correction: a member tells staff that one of their records is wrong."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import Select, select

from timebank.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import CorrectionRequest, ServiceRecord, User
from timebank.models.base import utcnow
from timebank.services import access, tx

MAX_MESSAGE = 1000


def _clean(text: str | None, field: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(errors={field: [_("Please write what is wrong.")]})
    if len(text) > MAX_MESSAGE:
        raise ValidationFailed(errors={field: [_("At most %(n)d characters.", n=MAX_MESSAGE)]})
    return text


def request_correction(record_id: int, *, member: User, message: str) -> CorrectionRequest:
    """The member asks for a change to their own record; one open request per record."""
    text = _clean(message, "message")
    tx.begin_write()
    record = db.session.get(ServiceRecord, record_id)
    if record is None or record.member_id != member.id:
        raise NotFound(_("No such service record."))
    if open_request_for(record.id) is not None:
        raise InvalidTransition(_("A correction of this record is already waiting for staff."))
    request = CorrectionRequest(record_id=record.id, requested_by_id=member.id, message=text)
    db.session.add(request)
    tx.commit()
    return request


def resolve_correction(request_id: int, *, reviewer: User, resolution: str) -> CorrectionRequest:
    """Staff in reach answer a request (what they changed, or why nothing changes)."""
    text = _clean(resolution, "resolution")
    tx.begin_write()
    request = db.session.get(CorrectionRequest, request_id)
    if request is None:
        raise NotFound(_("No such correction request."))
    if not access.reaches(reviewer, request.record.org_unit):
        raise Forbidden()
    if request.resolved_at is not None:
        raise InvalidTransition(_("This correction request was already answered."))
    request.resolved_at = utcnow()
    request.resolved_by_id = reviewer.id
    request.resolution = text
    tx.commit()
    return request


def open_request_for(record_id: int) -> CorrectionRequest | None:
    return db.session.scalar(select(CorrectionRequest).where(
        CorrectionRequest.record_id == record_id, CorrectionRequest.resolved_at.is_(None)))


def requests_of_member(member: User) -> dict[int, CorrectionRequest]:
    """The latest request per record of this member, by record id."""
    rows = db.session.scalars(
        select(CorrectionRequest).where(CorrectionRequest.requested_by_id == member.id)
        .order_by(CorrectionRequest.id)
    )
    return {r.record_id: r for r in rows}


def open_requests_query(actor: User) -> Select:
    """Unanswered requests on records within the staff member's reach, oldest first."""
    query = (select(CorrectionRequest).join(ServiceRecord)
             .where(CorrectionRequest.resolved_at.is_(None))
             .order_by(CorrectionRequest.created_at))
    return access.scope_to_reach(query, actor, ServiceRecord.org_unit_id)
