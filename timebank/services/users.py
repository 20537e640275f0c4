"""People: creating accounts, signing in, API tokens, the member summary."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from timebank.errors import AlreadyExists, Forbidden, NotFound, Unauthenticated, ValidationFailed
from timebank.extensions import db
from timebank.models import ApiToken, Merchant, ServiceRecord, User, UserRole
from timebank.models.base import utcnow
from timebank.models.user import MEMBER_ROLES, ROLES
from timebank.services import access, ledger, org, tx
from timebank.units import from_minor

STAR_THRESHOLDS_HOURS = (100, 300, 600, 1000, 1500)
MIN_PASSWORD_LENGTH = 8
# A hash to check against when the username is unknown, so timing does not tell.
_DUMMY_HASH = generate_password_hash("timing-equaliser")


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt, a memory-hard function


def add_user(
    *,
    username: str,
    password: str,
    display_name: str,
    roles: list[str],
    org_unit_id: int,
    phone: str | None = None,
    merchant_id: int | None = None,
    password_hash: str | None = None,
) -> User:
    """Insert a user with roles and a points account; flushes only.

    `password_hash` lets a bulk loader hash one shared password once.
    """
    errors: dict[str, list[str]] = {}
    roles = sorted(set(roles))
    if not roles or any(r not in ROLES for r in roles):
        errors["roles"] = [_("Choose one or more of: %(roles)s.", roles=", ".join(ROLES))]
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [_("At least %(n)d characters.", n=MIN_PASSWORD_LENGTH)]
    if "merchant" in roles and merchant_id is None:
        errors["merchant_id"] = [_("A merchant user needs its merchant.")]
    if merchant_id is not None and "merchant" not in roles:
        errors["merchant_id"] = [_("Only a merchant user belongs to a merchant.")]
    if errors:
        raise ValidationFailed(errors=errors)
    org.get_unit(org_unit_id)
    if merchant_id is not None and db.session.get(Merchant, merchant_id) is None:
        raise NotFound(_("No such merchant."))
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AlreadyExists(_("This username is taken."))
    if phone and db.session.scalar(select(User.id).where(User.phone == phone)) is not None:
        raise AlreadyExists(_("This phone number is already registered."))
    user = User(
        username=username,
        password_hash=password_hash or hash_password(password),
        display_name=display_name,
        phone=phone or None,
        org_unit_id=org_unit_id,
        merchant_id=merchant_id,
        role_rows=[UserRole(role=r) for r in roles],
    )
    db.session.add(user)
    db.session.flush()
    ledger.open_member_account(user)
    db.session.flush()
    return user


def create_user(*, actor: User, **fields) -> User:
    """Admin creates anyone; staff create volunteers and gridworkers inside their subtree."""
    tx.begin_write()
    if not access.is_admin(actor):
        access.require_staff(actor)
        if any(r not in MEMBER_ROLES for r in fields.get("roles", [])):
            raise Forbidden(_("Staff can only create volunteers and gridworkers."))
        access.require_reach(actor, org.get_unit(fields["org_unit_id"]))
    user = add_user(**fields)
    tx.commit()
    return user


def get_user(user_id: int) -> User | None:
    return db.session.get(User, user_id)


# --- signing in ------------------------------------------------------------------------


def authenticate(username: str, password: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        raise Unauthenticated(_("Wrong username or password."))
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        raise Unauthenticated(_("Wrong username or password."))
    return user


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(*, username: str, password: str, ttl_hours: int) -> tuple[str, ApiToken]:
    """A new bearer token for the user; only its hash is kept."""
    tx.begin_write()
    user = authenticate(username, password)
    raw = secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        token_hash=_token_hash(raw),
        expires_at=utcnow() + timedelta(hours=ttl_hours),
    )
    db.session.add(token)
    tx.commit()
    return raw, token


def user_for_token(raw: str) -> tuple[User, ApiToken] | None:
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(raw)))
    if (
        token is None
        or token.revoked_at is not None
        or token.expires_at <= utcnow()
        or not token.user.is_active
    ):
        return None
    return token.user, token


def revoke_token(token_id: int) -> None:
    tx.begin_write()
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    tx.commit()


# --- the member summary ----------------------------------------------------------------


@dataclass(frozen=True)
class MemberSummary:
    member_id: int
    balance: Decimal
    total_hours: Decimal
    points_earned: Decimal
    star_level: int
    pending_hours: Decimal = Decimal("0.00")

    @property
    def next_star_hours(self) -> int | None:
        """Approved hours needed for the next star level (None at the top)."""
        if self.star_level >= len(STAR_THRESHOLDS_HOURS):
            return None
        return STAR_THRESHOLDS_HOURS[self.star_level]

    @property
    def star_progress_percent(self) -> int:
        """How far from the current level's threshold to the next one, 0–100."""
        target = self.next_star_hours
        if target is None:
            return 100
        floor = STAR_THRESHOLDS_HOURS[self.star_level - 1] if self.star_level else 0
        return int((self.total_hours - floor) * 100 / (target - floor))


def star_level(total_hours: Decimal) -> int:
    return sum(1 for threshold in STAR_THRESHOLDS_HOURS if total_hours >= threshold)


def summary(member: User) -> MemberSummary:
    account = ledger.member_account(member.id)
    hours_minor, points_minor = db.session.execute(
        select(
            func.coalesce(func.sum(ServiceRecord.hours_minor), 0),
            func.coalesce(func.sum(ServiceRecord.points_awarded_minor), 0),
        ).where(ServiceRecord.member_id == member.id, ServiceRecord.status == "approved")
    ).one()
    pending_minor = db.session.scalar(
        select(func.coalesce(func.sum(ServiceRecord.hours_minor), 0))
        .where(ServiceRecord.member_id == member.id, ServiceRecord.status == "pending")
    )
    hours = from_minor(hours_minor)
    return MemberSummary(
        member_id=member.id,
        balance=from_minor(account.balance_minor),
        total_hours=hours,
        points_earned=from_minor(points_minor),
        star_level=star_level(hours),
        pending_hours=from_minor(pending_minor),
    )


def member_for(actor: User, member_id: int) -> User:
    """A member the actor may see (themself, staff in reach, admin); else 404 or 403."""
    return access.visible_member(actor, get_user(member_id))


def set_large_font(user: User, *, enabled: bool) -> None:
    """Remember the reader's choice of a larger type on every page."""
    user.prefers_large_font = enabled
    db.session.commit()
