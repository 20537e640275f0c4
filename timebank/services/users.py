"""People: creating accounts, signing in, API tokens, the member summary."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, bindparam, func, literal_column, or_, select, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from timebank import idnumber
from timebank.errors import AlreadyExists, Forbidden, NotFound, Unauthenticated, ValidationFailed
from timebank.extensions import db
from timebank.models import (
    Account,
    ApiToken,
    Merchant,
    OrgUnit,
    ServiceRecord,
    ServiceStat,
    User,
    UserRole,
)
from timebank.models.base import utcnow
from timebank.models.user import MEMBER_ROLES, ROLES
from timebank.services import access, ledger, lockout, org, stats, tx
from timebank.units import from_minor

STAR_THRESHOLDS_HOURS = tuple(t // 100 for t in stats.STAR_THRESHOLDS_MINOR)
MIN_PASSWORD_LENGTH = 8
MAX_PARTY_UNIT = 100
ID_NUMBER_ERRORS = {
    "format": _l("An ID number has 18 characters: 17 digits, then a digit or X."),
    "birth_date": _l("The birth date in this ID number is not a real date."),
    "checksum": _l("The last character of this ID number does not match; please check it."),
}
# A hash to check against when the username is unknown, so timing does not tell.
_DUMMY_HASH = generate_password_hash("timing-equaliser")


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt, a memory-hard function


def locked_password_hash() -> str:
    """A hash of a random secret nobody is told: the account exists but cannot sign in yet."""
    return hash_password(secrets.token_urlsafe(32))


# --- the party and ID fields ------------------------------------------------------------


def id_number_taken_message() -> str:
    return _("This ID number belongs to another member.")


def clean_id_number(raw: str | None) -> str | None:
    """The normalised ID number (None when empty), or a field error saying what is wrong."""
    if raw is None or not raw.strip():
        return None
    try:
        return idnumber.validate(raw)
    except idnumber.InvalidIdNumber as err:
        raise ValidationFailed(errors={"id_number": [str(ID_NUMBER_ERRORS[err.reason])]}) \
            from None


def _check_id_number_free(number: str | None, *, user_id: int | None = None) -> None:
    if number is None:
        return
    query = select(User.id).where(User.id_number == number)
    if user_id is not None:
        query = query.where(User.id != user_id)
    if db.session.scalar(query) is not None:
        message = id_number_taken_message()
        raise AlreadyExists(message, errors={"id_number": [message]})


def clean_party(is_party_member: bool, party_unit: str | None) -> str | None:
    """The party unit to keep: only a party member has one, at most 100 characters."""
    unit = (party_unit or "").strip() or None
    if unit is not None and len(unit) > MAX_PARTY_UNIT:
        raise ValidationFailed(errors={"party_unit": [
            _("At most %(n)d characters.", n=MAX_PARTY_UNIT)]})
    if unit is not None and not is_party_member:
        raise ValidationFailed(errors={"party_unit": [
            _("Only a party member has a party unit.")]})
    return unit


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
    is_party_member: bool = False,
    party_unit: str | None = None,
    id_number: str | None = None,
) -> User:
    """Insert a user with roles and a points account; flushes only.

    `password_hash` lets a bulk loader hash one shared password once.
    """
    errors: dict[str, list[str]] = {}
    try:
        id_number = clean_id_number(id_number)
    except ValidationFailed as err:
        errors.update(err.errors or {})
    try:
        party_unit = clean_party(bool(is_party_member), party_unit)
    except ValidationFailed as err:
        errors.update(err.errors or {})
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
    _check_id_number_free(id_number)
    user = User(
        username=username,
        password_hash=password_hash or hash_password(password),
        display_name=display_name,
        phone=phone or None,
        org_unit_id=org_unit_id,
        merchant_id=merchant_id,
        role_rows=[UserRole(role=r) for r in roles],
        is_party_member=bool(is_party_member),
        party_unit=party_unit,
        id_number=id_number,
    )
    db.session.add(user)
    db.session.flush()
    ledger.open_member_account(user)
    db.session.flush()
    return user


@dataclass(frozen=True)
class NewMember:
    """One volunteer or gridworker for `add_members`, already checked by the caller."""

    username: str
    display_name: str
    org_unit_id: int
    roles: tuple[str, ...]
    phone: str | None = None
    is_party_member: bool = False
    party_unit: str | None = None
    id_number: str | None = None


def add_members(members: list[NewMember], *, password_hash: str) -> list[User]:
    """Insert many members, each with their roles and points account; flushes only.

    The caller has checked every value and that usernames, phones and ID numbers are free
    (in bulk); the unique constraints still guard against anyone added meanwhile.
    """
    if any(not m.roles or any(r not in MEMBER_ROLES for r in m.roles) for m in members):
        raise ValidationFailed(errors={"roles": [
            _("Choose one or more of: %(roles)s.", roles=", ".join(MEMBER_ROLES))]})
    created = [
        User(
            username=m.username, password_hash=password_hash, display_name=m.display_name,
            phone=m.phone, org_unit_id=m.org_unit_id,
            role_rows=[UserRole(role=r) for r in sorted(set(m.roles))],
            is_party_member=m.is_party_member, party_unit=m.party_unit,
            id_number=m.id_number,
        )
        for m in members
    ]
    db.session.add_all(created)
    db.session.flush()
    for user in created:
        ledger.open_member_account(user)
    db.session.flush()
    return created


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


def authenticate(username: str, password: str, *, client: str | None = None) -> User:
    """The user with this username and password. With `client` (the caller's address), an
    account that keeps getting wrong passwords from that address is locked for a while
    (services/lockout.py), even for the right password."""
    if client is not None:
        lockout.check(username, client)
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        ok = False
    else:
        ok = check_password_hash(user.password_hash, password) and user.is_active
    if not ok:
        if client is not None:
            lockout.failed(username, client)
        raise Unauthenticated(_("Wrong username or password."))
    if client is not None:
        lockout.succeeded(username, client)
    return user


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(*, username: str, password: str, ttl_hours: int,
                client: str | None = None) -> tuple[str, ApiToken]:
    """A new bearer token for the user; only its hash is kept."""
    user_id = authenticate(username, password, client=client).id
    tx.begin_write()  # after the password check: the write lock is not held over scrypt
    raw = secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id,
        token_hash=_token_hash(raw),
        expires_at=utcnow() + timedelta(hours=ttl_hours),
    )
    db.session.add(token)
    tx.commit()
    return raw, token


def start_web_session(user_id: int, *, ttl_hours: int) -> str:
    """A signed-in browser session, kept like a token so that signing out (or deactivation)
    ends it for good, whatever copies of the cookie exist. Returns the raw token."""
    tx.begin_write()
    raw = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user_id, kind="web", token_hash=_token_hash(raw),
                            expires_at=utcnow() + timedelta(hours=ttl_hours)))
    tx.commit()
    return raw


def end_web_session(raw: str) -> None:
    tx.begin_write()
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == _token_hash(raw), ApiToken.kind == "web",
               ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    tx.commit()


@cache
def _token_query() -> Select:
    # Built once: every API request and page runs it, and building a statement costs as much
    # as running it.
    return (
        select(ApiToken).where(ApiToken.token_hash == bindparam("token_hash"),
                               ApiToken.kind == bindparam("kind"))
        .options(joinedload(ApiToken.user).joinedload(User.role_rows))
    )


def user_for_token(raw: str, *, kind: str = "api") -> tuple[User, ApiToken] | None:
    """The token's user, with their unit and roles, in one query (every API request asks);
    `kind="web"` for a browser session's token."""
    token = db.session.execute(
        _token_query(), {"token_hash": _token_hash(raw), "kind": kind}
    ).unique().scalar_one_or_none()
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


@cache
def _summary_query() -> Select:
    # Built once over the tables (not the ORM classes): the balance is the most read thing
    # in the app, and this keeps it to the cost of the query itself.
    account, stat, record = Account.__table__, ServiceStat.__table__, ServiceRecord.__table__
    member_id = bindparam("member_id")
    pending = (
        select(func.coalesce(func.sum(record.c.hours_minor), 0))
        # 'pending' written into the statement: a prepared statement's generic plan can
        # then still use the partial index of pending records.
        .where(record.c.member_id == member_id, record.c.status == literal_column("'pending'"))
        .scalar_subquery()
    )
    return (
        select(account.c.balance_minor, stat.c.hours_minor, stat.c.points_minor, pending)
        .outerjoin(stat, (stat.c.member_id == account.c.user_id) & (stat.c.period == "all"))
        .where(account.c.user_id == member_id)
    )


def summary(member: User) -> MemberSummary:
    """Balance, approved hours and points, star level and hours awaiting review: one query."""
    row = db.session.execute(_summary_query(), {"member_id": member.id}).first()
    if row is None:
        raise NotFound(_("This member has no points account."))
    balance_minor, hours_minor, points_minor, pending_minor = row
    hours_minor, points_minor = hours_minor or 0, points_minor or 0
    hours = from_minor(hours_minor)
    return MemberSummary(
        member_id=member.id,
        balance=from_minor(balance_minor),
        total_hours=hours,
        points_earned=from_minor(points_minor),
        star_level=stats.level_for(hours_minor),
        pending_hours=from_minor(pending_minor),
    )


def member_for(actor: User, member_id: int) -> User:
    """A member the actor may see (themself, staff in reach, admin); else 404 or 403."""
    return access.visible_member(actor, get_user(member_id))


def set_large_font(user: User, *, enabled: bool) -> None:
    """Remember the reader's choice of a larger type on every page."""
    user.prefers_large_font = enabled
    db.session.commit()


# --- the staff desk: managing members ---------------------------------------------------

PHONE_PATTERN = re.compile(r"^\+?[0-9]{5,19}$")
MAX_DISPLAY_NAME = 100
MAX_SEARCH = 100
EDITABLE_FIELDS = ("display_name", "phone", "org_unit_id", "roles", "is_party_member",
                   "party_unit", "id_number")


def units_in_reach(actor: User, kinds: tuple[str, ...] | None = None) -> list[tuple[OrgUnit, str]]:
    """Units the actor's staff role covers, in tree order, each with a 'community / grid' label."""
    query = access.scope_to_reach(select(OrgUnit).order_by(OrgUnit.path), actor, OrgUnit.id)
    units = list(db.session.scalars(query))
    by_id = {u.id: u for u in units}
    labelled = []
    for unit in units:
        if kinds and unit.kind not in kinds:
            continue
        names = [by_id[i].name for i in unit.ancestor_ids() if i in by_id]
        labelled.append((unit, " / ".join(names)))
    return labelled


def members_query(actor: User, *, q: str | None = None):
    """Volunteers and gridworkers in the staff member's reach, optionally searched."""
    access.require_staff(actor)
    query = (
        select(User)
        .where(User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(MEMBER_ROLES))))
        .order_by(User.display_name, User.id)
    )
    query = access.scope_to_reach(query, actor, User.org_unit_id)
    text = (q or "").strip()[:MAX_SEARCH].lower()
    if text:
        query = query.where(or_(
            func.lower(User.display_name).contains(text, autoescape=True),
            func.lower(User.username).contains(text, autoescape=True),
            User.phone.contains(text, autoescape=True),
        ))
    return query


def manageable_member(actor: User, member_id: int) -> User:
    """A volunteer or gridworker in the actor's reach (an admin manages anyone but themself)."""
    access.require_staff(actor)
    member = get_user(member_id)
    if member is None:
        raise NotFound(_("No such member."))
    access.require_reach(actor, member.org_unit)
    if not access.is_admin(actor) and (
        member.id == actor.id or any(r not in MEMBER_ROLES for r in member.roles)
    ):
        raise Forbidden(_("Staff manage volunteers and gridworkers only."))
    return member


def _check_roles(actor: User, member: User, roles: list[str]) -> list[str]:
    roles = sorted(set(roles or []))
    if not roles or any(r not in ROLES for r in roles):
        raise ValidationFailed(errors={"roles": [
            _("Choose one or more of: %(roles)s.", roles=", ".join(ROLES))]})
    if not access.is_admin(actor) and any(r not in MEMBER_ROLES for r in roles):
        raise Forbidden(_("Staff can only give the volunteer and gridworker roles."))
    if member.id == actor.id and roles != member.roles:
        raise Forbidden(_("You cannot change your own roles."))
    if ("merchant" in roles) != (member.merchant_id is not None):
        raise ValidationFailed(errors={"roles": [
            _("Only a merchant's own user has the merchant role.")]})
    return roles


def update_member(actor: User, member_id: int, **changes) -> User:
    """Change a member's name, phone, home unit, roles, party membership or ID number (an
    empty ID number removes it); their history stays theirs."""
    tx.begin_write()
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed(errors={k: [_("This cannot be changed here.")] for k in unknown})
    member = manageable_member(actor, member_id)
    errors: dict[str, list[str]] = {}
    if "display_name" in changes:
        name = (changes["display_name"] or "").strip()
        if not name or len(name) > MAX_DISPLAY_NAME:
            errors["display_name"] = [_("Between 1 and %(n)d characters.", n=MAX_DISPLAY_NAME)]
        member.display_name = name
    if "phone" in changes:
        phone = (changes["phone"] or "").strip() or None
        if phone is not None and not PHONE_PATTERN.match(phone):
            errors["phone"] = [_("Digits only, 5 to 19 of them.")]
        elif phone is not None and db.session.scalar(
            select(User.id).where(User.phone == phone, User.id != member.id)
        ) is not None:
            raise AlreadyExists(_("This phone number is already registered."))
        member.phone = phone
    if "is_party_member" in changes or "party_unit" in changes:
        is_party = bool(changes.get("is_party_member", member.is_party_member))
        try:
            member.party_unit = clean_party(is_party, changes.get("party_unit",
                                                                  member.party_unit))
        except ValidationFailed as err:
            errors.update(err.errors or {})
        member.is_party_member = is_party
    if "id_number" in changes:
        try:
            number = clean_id_number(changes["id_number"])
        except ValidationFailed as err:
            errors.update(err.errors or {})
        else:
            # Asked before the member changes: a flush of a taken number would fail.
            _check_id_number_free(number, user_id=member.id)
            member.id_number = number
    if errors:
        raise ValidationFailed(errors=errors)
    if "org_unit_id" in changes:
        unit = org.get_unit(changes["org_unit_id"])
        access.require_reach(actor, unit)
        member.org_unit = unit
    if "roles" in changes:
        roles = _check_roles(actor, member, changes["roles"])
        kept = [row for row in member.role_rows if row.role in roles]
        held = {row.role for row in kept}
        member.role_rows = kept + [UserRole(role=r) for r in roles if r not in held]
    tx.commit()
    return member


def set_active(actor: User, member_id: int, active: bool) -> User:
    """Deactivate (no sign-in, tokens revoked, history kept) or reactivate a member."""
    tx.begin_write()
    member = manageable_member(actor, member_id)
    if member.id == actor.id:
        raise Forbidden(_("You cannot deactivate yourself."))
    member.is_active = bool(active)
    if not active:
        db.session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == member.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    tx.commit()
    return member
