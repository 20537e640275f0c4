"""Certificates: issued with frozen content and a signed serial, checked by anyone, revoked
by staff (志愿服务记录与证明出具办法 Art. 15–17)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, func, select, update

from timebank.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import (
    Certificate,
    ServiceCategory,
    ServiceRecord,
    StarAward,
    User,
    UserRole,
)
from timebank.models.base import utcnow
from timebank.models.recognition import CERTIFICATE_KINDS
from timebank.models.user import MEMBER_ROLES
from timebank.privacy import mask_name
from timebank.services import access, audit, org, stats, tx
from timebank.timeutil import local_date, start_of_day, today
from timebank.units import from_minor

SERIAL_PATTERN = re.compile(r"^TB(\d{4})-(\d{6,10})-([A-Z2-7]{10})$")
MAX_TEXT = 200
DEFAULT_HONOR_TITLE = "优秀志愿者"
KIND_TITLES = {
    "service_record": "志愿服务记录证明",
    "star": "星级志愿者证书",
    "appointment": "聘书",
    "honor": "荣誉证书",
}


# --- serials ---------------------------------------------------------------------------


def _key() -> bytes:
    configured = current_app.config.get("CERTIFICATE_KEY")
    if configured:
        return str(configured).encode()
    # Derived from the app's secret: keep SECRET_KEY (or set CERTIFICATE_KEY) stable, or every
    # serial issued so far stops verifying.
    return hmac.new(str(current_app.config["SECRET_KEY"]).encode(), b"certificate-serial",
                    hashlib.sha256).digest()


def _signature(body: str) -> str:
    digest = hmac.new(_key(), body.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:10]


def make_serial(year: int, number: int) -> str:
    """'TB2026-000042-K7Q2M9XAB3': year, number, and a keyed signature of both."""
    body = f"TB{year:04d}-{number:06d}"
    return f"{body}-{_signature(body)}"


def normalise_serial(serial: str) -> str:
    return re.sub(r"\s+", "", serial or "").upper()


def is_signed(serial: str) -> bool:
    """True when the serial's signature matches: a made-up serial fails without a lookup."""
    match = SERIAL_PATTERN.match(serial)
    if match is None:
        return False
    body = serial.rsplit("-", 1)[0]
    return hmac.compare_digest(_signature(body), match.group(3))


def verify_url(serial: str) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/verify/{serial}"


def pdf_url(serial: str) -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}/api/v1/certificates/{serial}/pdf"


def volunteer_number(member: User) -> str:
    return f"TB{member.id:08d}"


# --- issuing ---------------------------------------------------------------------------


def _clean_text(value: str | None, field: str) -> str:
    text = (value or "").strip()
    if len(text) > MAX_TEXT:
        raise ValidationFailed(errors={field: [_("At most %(n)d characters.", n=MAX_TEXT)]})
    return text


def _certifiable_member(actor: User, member_id: int) -> User:
    access.require_staff(actor)
    member = access.visible_member(actor, db.session.get(User, member_id))
    access.require_reach(actor, member.org_unit)
    if not member.has_role(*MEMBER_ROLES):
        raise ValidationFailed(errors={"member_id": [
            _("Certificates are issued to volunteers and gridworkers.")]})
    if not member.is_active:
        raise ValidationFailed(errors={"member_id": [_("This member is deactivated.")]})
    if member.id == actor.id:
        raise Forbidden(_("Staff cannot issue certificates to themselves."))
    return member


def _check_period(period_from: date | None, period_to: date | None, *,
                  future_allowed: bool = False) -> None:
    errors: dict[str, list[str]] = {}
    if period_from and period_to and period_from > period_to:
        errors["period_to"] = [_("The end of the period must not be before its start.")]
    if not future_allowed:
        if period_to and period_to > today():
            errors.setdefault("period_to", []).append(_("The period cannot end in the future."))
        if period_from and period_from > today():
            errors["period_from"] = [_("The period cannot start in the future.")]
    for field, day in (("period_from", period_from), ("period_to", period_to)):
        if day and day.year < 2000:
            errors.setdefault(field, []).append(_("The date is too far in the past."))
    if errors:
        raise ValidationFailed(errors=errors)


def _service_in(member: User, period_from: date | None, period_to: date | None):
    """Approved hours of the member in the period (by service date), by category."""
    query = (
        select(ServiceCategory.name, func.sum(ServiceRecord.hours_minor),
               func.count(ServiceRecord.id))
        .join(ServiceCategory, ServiceCategory.id == ServiceRecord.category_id)
        .where(ServiceRecord.member_id == member.id, ServiceRecord.status == "approved")
        .group_by(ServiceCategory.name)
        .order_by(func.sum(ServiceRecord.hours_minor).desc(), ServiceCategory.name)
    )
    if period_from:
        query = query.where(ServiceRecord.started_at >= start_of_day(period_from))
    if period_to:
        query = query.where(ServiceRecord.started_at < start_of_day(period_to + timedelta(days=1)))
    rows = db.session.execute(query).all()
    total = sum(hours for _name, hours, _count in rows)
    content = [{"category": name, "hours": str(from_minor(hours)), "records": count}
               for name, hours, count in rows]
    return total, content


def _first_service_day(member: User) -> date | None:
    first = db.session.scalar(
        select(func.min(ServiceRecord.started_at))
        .where(ServiceRecord.member_id == member.id, ServiceRecord.status == "approved"))
    return local_date(first) if first else None


def _a_year_on(start: date) -> date:
    """The last day of a one-year term from `start` (29 February: to 28 February)."""
    try:
        return start.replace(year=start.year + 1) - timedelta(days=1)
    except ValueError:
        return start.replace(year=start.year + 1, day=28)


def issue(*, actor: User, member_id: int, kind: str, period_from: date | None = None,
          period_to: date | None = None, person_in_charge: str | None = None,
          title: str | None = None, citation: str | None = None) -> Certificate:
    """Issue a certificate to a member in reach; what it states is frozen now."""
    tx.begin_write()
    if kind not in CERTIFICATE_KINDS:
        raise ValidationFailed(errors={"kind": [
            _("Choose one of: %(kinds)s.", kinds=", ".join(CERTIFICATE_KINDS))]})
    member = _certifiable_member(actor, member_id)
    person_in_charge = _clean_text(person_in_charge, "person_in_charge")
    title = _clean_text(title, "title")
    citation = _clean_text(citation, "citation")
    placing = stats.unit_placing(member.org_unit)
    community = org.community_of(member.org_unit)
    street = community.parent if community.parent and community.parent.kind == "street" else None
    issued_on = today()
    data: dict = {
        "kind": kind,
        "holder_name": member.display_name,
        "volunteer_number": volunteer_number(member),
        "recording_unit": community.name,
        "street": street.name if street else None,
        "person_in_charge": person_in_charge or None,
        "handler": actor.display_name,
        "issued_on": issued_on.isoformat(),
    }
    hours_minor = 0
    awards: list[StarAward] = []
    if kind == "appointment":
        _check_period(period_from, period_to, future_allowed=True)
        if not member.has_role("gridworker"):
            raise ValidationFailed(errors={"member_id": [
                _("Appointment letters are for part-time gridworkers.")]})
        if placing["grid_id"] is None:
            raise ValidationFailed(errors={"member_id": [
                _("This gridworker is not placed in a grid.")]})
        period_from = period_from or issued_on
        period_to = period_to or _a_year_on(period_from)
        if period_to < period_from:
            raise ValidationFailed(errors={"period_to": [
                _("The end of the period must not be before its start.")]})
        grid = org.get_unit(placing["grid_id"])
        data.update(grid=grid.name, term_from=period_from.isoformat(),
                    term_to=period_to.isoformat())
    elif kind == "star":
        _check_period(None, None)
        hours_minor = stats.all_time(member.id)[0]
        level = stats.level_for(hours_minor)
        if level == 0:
            raise ValidationFailed(errors={"member_id": [
                _("This member has not reached a star level yet.")]})
        period_from, period_to = _first_service_day(member), issued_on
        data.update(star_level=level)
        awards = list(db.session.scalars(select(StarAward).where(
            StarAward.member_id == member.id, StarAward.level <= level,
            StarAward.certificate_id.is_(None))))
    else:
        _check_period(period_from, period_to)
        hours_minor, content = _service_in(member, period_from, period_to)
        if kind == "service_record" and hours_minor == 0:
            raise ValidationFailed(errors={"period_from": [
                _("The member has no approved hours in this period.")]})
        period_from = period_from or _first_service_day(member)
        period_to = period_to or issued_on
        data.update(content=content)
        if kind == "honor":
            data.update(honor_title=title or DEFAULT_HONOR_TITLE, citation=citation or None)
    data.update(hours=str(from_minor(hours_minor)),
                period_from=period_from.isoformat() if period_from else None,
                period_to=period_to.isoformat() if period_to else None)
    certificate = Certificate(
        serial=f"pending-{member.id}-{utcnow().timestamp()}", kind=kind, member_id=member.id,
        org_unit_id=member.org_unit_id, hours_minor=hours_minor, period_from=period_from,
        period_to=period_to, data=data, issued_by_id=actor.id)
    db.session.add(certificate)
    db.session.flush()
    certificate.serial = make_serial(issued_on.year, certificate.id)
    certificate.data = {**data, "serial": certificate.serial}
    for award in awards:
        award.certificate_id = certificate.id
    audit.record(actor, "certificate.issue", "certificate", certificate.id,
                 on_behalf_of=None, org_unit_id=member.org_unit_id, kind=kind,
                 serial=certificate.serial, member_id=member.id)
    tx.commit()
    return certificate


# --- reading, checking, revoking -------------------------------------------------------


def _by_serial(serial: str) -> Certificate:
    serial = normalise_serial(serial)
    if not is_signed(serial):
        raise NotFound(_("No certificate has this number."))
    certificate = db.session.scalar(select(Certificate).where(Certificate.serial == serial))
    if certificate is None:
        raise NotFound(_("No certificate has this number."))
    return certificate


@dataclass(frozen=True)
class Verification:
    """What the public may learn about a certificate: nothing beyond its face, name masked."""

    serial: str
    kind: str
    title: str
    holder: str
    hours: str
    issued_at: object
    issuer: str
    period_from: str | None
    period_to: str | None
    star_level: int | None
    revoked: bool
    revoked_at: object

    @property
    def valid(self) -> bool:
        return not self.revoked


def verify(serial: str) -> Verification:
    """Check a serial; an unknown or forged one is not found."""
    certificate = _by_serial(serial)
    data = certificate.data
    return Verification(
        serial=certificate.serial, kind=certificate.kind, title=KIND_TITLES[certificate.kind],
        holder=mask_name(data.get("holder_name", "")), hours=data.get("hours", "0.00"),
        issued_at=certificate.issued_at, issuer=data.get("recording_unit", ""),
        period_from=data.get("period_from") or data.get("term_from"),
        period_to=data.get("period_to") or data.get("term_to"),
        star_level=data.get("star_level"), revoked=certificate.revoked_at is not None,
        revoked_at=certificate.revoked_at)


def visible_certificate(actor: User, serial: str) -> Certificate:
    """The certificate if the actor is its holder or staff in reach of it."""
    certificate = _by_serial(serial)
    if certificate.member_id != actor.id and not access.reaches(actor, certificate.org_unit):
        raise NotFound(_("No certificate has this number."))
    return certificate


def pdf(actor: User, serial: str) -> tuple[Certificate, bytes]:
    """The certificate's PDF, drawn from its frozen content."""
    from timebank.services import certificate_pdf

    certificate = visible_certificate(actor, serial)
    data = dict(certificate.data)
    if certificate.revoked_at is not None:
        data["revoked_on"] = local_date(certificate.revoked_at).isoformat()
    return certificate, certificate_pdf.render(data, verify_url(certificate.serial))


def revoke(*, actor: User, serial: str, reason: str) -> Certificate:
    """Withdraw a certificate; the verification page then says so."""
    tx.begin_write()
    access.require_staff(actor)
    certificate = visible_certificate(actor, serial)
    access.require_reach(actor, certificate.org_unit)
    reason = _clean_text(reason, "reason")
    if not reason:
        raise ValidationFailed(errors={"reason": [_("Give a reason.")]})
    changed = db.session.execute(
        update(Certificate)
        .where(Certificate.id == certificate.id, Certificate.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by_id=actor.id, revoke_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise InvalidTransition(_("This certificate has already been revoked."))
    db.session.execute(
        update(StarAward).where(StarAward.certificate_id == certificate.id)
        .values(certificate_id=None).execution_options(synchronize_session=False))
    audit.record(actor, "certificate.revoke", "certificate", certificate.id,
                 org_unit_id=certificate.org_unit_id, serial=certificate.serial, reason=reason)
    db.session.expire(certificate)
    tx.commit()
    return certificate


def certificates_query(actor: User, *, member_id: int | None = None,
                       kind: str | None = None) -> Select:
    """Certificates the actor may list: staff their reach, members their own; newest first."""
    query = select(Certificate).order_by(Certificate.issued_at.desc(), Certificate.id.desc())
    if access.is_staff(actor):
        query = access.scope_to_reach(query, actor, Certificate.org_unit_id)
    else:
        query = query.where(Certificate.member_id == actor.id)
    if member_id is not None:
        query = query.where(Certificate.member_id == member_id)
    if kind:
        query = query.where(Certificate.kind == kind)
    return query


def stars_due_query(actor: User) -> Select:
    """Star levels reached in the staff member's reach that still wait for a certificate."""
    access.require_staff(actor)
    members = select(UserRole.user_id).where(UserRole.role.in_(MEMBER_ROLES))
    query = (select(StarAward).join(User, User.id == StarAward.member_id)
             .where(StarAward.certificate_id.is_(None), User.is_active,
                    User.id.in_(members))
             .order_by(StarAward.reached_at, StarAward.id))
    # Whoever is the member's staff now issues it, wherever they lived when they reached it.
    return access.scope_to_reach(query, actor, User.org_unit_id)


def stars_due_count(actor: User) -> int:
    """How many members in reach wait for a star certificate (0 for anyone but staff)."""
    if not access.is_staff(actor):
        return 0
    due = stars_due_query(actor).subquery()
    return db.session.scalar(select(func.count(func.distinct(due.c.member_id))))
