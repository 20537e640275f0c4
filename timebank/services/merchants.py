"""Partner merchants, offers, redemption codes, redemptions, refunds and statements."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from types import SimpleNamespace

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select, update

from timebank.errors import (
    CodeAlreadyUsed,
    CodeExpired,
    CodeNotFound,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from timebank.extensions import db
from timebank.models import (
    Account,
    LedgerTransaction,
    Merchant,
    Offer,
    Redemption,
    RedemptionCode,
    User,
)
from timebank.models.base import UTCDateTime, next_id, utcnow
from timebank.services import access, ledger, org, tx
from timebank.timeutil import start_of_day

CODE_DIGITS = 8


def add_merchant(name: str, org_unit_id: int, address: str | None = None) -> Merchant:
    """Insert a merchant with its points account; flushes only."""
    org.get_unit(org_unit_id)
    merchant = Merchant(name=name.strip(), org_unit_id=org_unit_id, address=address)
    db.session.add(merchant)
    db.session.flush()
    db.session.add(Account(key=f"merchant:{merchant.id}", kind="merchant",
                           merchant_id=merchant.id))
    db.session.flush()
    return merchant


def create_merchant(*, actor: User, name: str, org_unit_id: int,
                    address: str | None = None) -> Merchant:
    tx.begin_write()
    access.require_staff(actor)
    access.require_reach(actor, org.get_unit(org_unit_id))
    merchant = add_merchant(name, org_unit_id, address)
    tx.commit()
    return merchant


def visible_merchant(actor: User, merchant_id: int) -> Merchant:
    """The merchant if the actor is its staff, or community staff whose reach covers it."""
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None or not (
        actor.merchant_id == merchant.id or access.reaches(actor, merchant.org_unit)
    ):
        raise NotFound(_("No such merchant."))
    return merchant


def add_offer(merchant: Merchant, title: str, points_cost_minor: int,
              description: str | None = None) -> Offer:
    if points_cost_minor <= 0:
        raise ValidationFailed(errors={"points_cost": [_("Must be more than zero.")]})
    offer = Offer(merchant_id=merchant.id, title=title.strip(),
                  points_cost_minor=points_cost_minor, description=description)
    db.session.add(offer)
    db.session.flush()
    return offer


def create_offer(*, actor: User, merchant_id: int, title: str, points_cost_minor: int,
                 description: str | None = None) -> Offer:
    """Staff in reach add offers; so may the merchant's own staff."""
    tx.begin_write()
    merchant = visible_merchant(actor, merchant_id)
    offer = add_offer(merchant, title, points_cost_minor, description)
    tx.commit()
    return offer


def offers_of(merchant: Merchant) -> list[Offer]:
    return list(db.session.scalars(
        select(Offer).where(Offer.merchant_id == merchant.id, Offer.is_active).order_by(Offer.id)
    ))


# --- codes and redemption --------------------------------------------------------------


def issue_code(*, member: User, ttl_seconds: int) -> RedemptionCode:
    """A fresh 8-digit code bound to the member; a live code is never handed out twice."""
    tx.begin_write()
    if not member.is_active:
        raise Forbidden()
    now = utcnow()
    while True:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        holder = db.session.scalar(
            select(RedemptionCode).where(
                RedemptionCode.code == code, RedemptionCode.consumed_at.is_(None)
            )
        )
        if holder is None:
            break
        if holder.expires_at <= now:
            holder.consumed_at = now  # retire the stale code so its digits can be reused
            db.session.flush()
            break
    issued = RedemptionCode(code=code, member_id=member.id, created_at=now,
                            expires_at=now + timedelta(seconds=ttl_seconds))
    db.session.add(issued)
    tx.commit()
    return issued


@dataclass(frozen=True)
class RedemptionReceipt:
    """A redemption as the till shows it and the API answers it, made from what the
    redeeming transaction already holds (nothing is read again after the commit)."""

    id: int
    offer_id: int
    offer_title: str
    points_minor: int
    member_id: int
    member_display_name: str
    created_at: datetime
    transaction_id: int
    status: str = "completed"
    refunded_at: datetime | None = None
    refund_transaction_id: int | None = None


@cache
def _redeem_statements() -> SimpleNamespace:
    # The till is the busiest writer after approvals: its statements are built once, over
    # the tables, and none of them loads an ORM object.
    offer, code, redemption = Offer.__table__, RedemptionCode.__table__, Redemption.__table__
    account, user = Account.__table__, User.__table__
    now = bindparam("now", type_=UTCDateTime())
    given_offer = bindparam("offer_id", type_=offer.c.id.type)
    latest = (select(code.c.id).where(code.c.code == bindparam("given_code"))
              .order_by(code.c.id.desc()).limit(1).scalar_subquery())

    def of_offer(column):
        return select(column).where(offer.c.id == given_offer).scalar_subquery()

    def merchant_account(merchant_id):
        return (select(account.c.id)
                .where(account.c.kind == "merchant", account.c.merchant_id == merchant_id)
                .scalar_subquery().label("shop_account"))

    # The offer's columns under the same names in both statements that read them.
    offer_columns = ("merchant_id", "title", "points_cost_minor", "is_active")
    return SimpleNamespace(
        offer=select(*(offer.c[name] for name in offer_columns),
                     merchant_account(offer.c.merchant_id)).where(offer.c.id == given_offer),
        # The usual case in one statement: the code's latest issue, live, is taken, and comes
        # back with its holder, the offer, both points accounts and the redemption's id.
        take_code=(code.update()
                   .where(code.c.id == latest, code.c.consumed_at.is_(None),
                          code.c.expires_at > now)
                   .values(consumed_at=now, is_used=True)
                   .returning(
                       code.c.id.label("code_id"), code.c.member_id,
                       select(user.c.display_name).where(user.c.id == code.c.member_id)
                       .scalar_subquery().label("member_name"),
                       select(account.c.id).where(account.c.kind == "member",
                                                  account.c.user_id == code.c.member_id)
                       .scalar_subquery().label("member_account"),
                       next_id(redemption).label("redemption_id"),
                       ledger.next_transaction_id().label("transaction_id"),
                       *(of_offer(offer.c[name]).label(name) for name in offer_columns),
                       merchant_account(of_offer(offer.c.merchant_id)))),
        latest_issue=select(RedemptionCode).where(RedemptionCode.id == latest)
        .execution_options(populate_existing=True),
        insert=redemption.insert(),
    )


def redeem(*, actor: User, code: str, offer_id: int) -> RedemptionReceipt:
    """The till: consume the member's code and move the offer's points to the merchant."""
    tx.begin_write()
    sql = _redeem_statements()
    conn = db.session.connection()
    now = utcnow()
    taken = conn.execute(sql.take_code, {"given_code": code, "offer_id": offer_id, "now": now}
                         ).first() if actor.has_role("merchant") else None
    # The offer is checked first: if it is refused, the rollback gives the code back.
    offer = taken or conn.execute(sql.offer, {"offer_id": offer_id}).first()
    if offer is None or offer.merchant_id is None or not offer.is_active:
        raise NotFound(_("No such offer."))
    if not actor.has_role("merchant") or actor.merchant_id != offer.merchant_id:
        raise Forbidden(_("This offer belongs to another merchant."))
    if taken is None:  # say why: unknown, used, expired (or another till a moment ago)
        issued = db.session.scalar(sql.latest_issue, {"given_code": code})
        if issued is None:
            raise CodeNotFound()
        _refuse_spent(issued, now)
        raise CodeAlreadyUsed()
    # The ids of the redemption and of its ledger entry come with the code, so each row that
    # names the other is written once, complete.
    redemption_id, transaction_id = taken.redemption_id, taken.transaction_id
    member_id, cost = taken.member_id, taken.points_cost_minor
    member_account = taken.member_account or ledger.member_account(member_id).id
    shop_account = taken.shop_account or ledger.merchant_account(taken.merchant_id).id
    conn.execute(sql.insert, {
        "id": redemption_id, "merchant_id": taken.merchant_id, "offer_id": offer_id,
        "member_id": member_id, "code_id": taken.code_id, "points_minor": cost,
        "status": "completed", "transaction_id": transaction_id, "created_by_id": actor.id,
        "created_at": now,
    })
    ledger.post_one("redemption", ledger.NewTransaction(
        lines=((member_account, -cost), (shop_account, cost)),
        key=f"redemption:{redemption_id}", memo=taken.title, redemption_id=redemption_id,
    ), actor=actor, transaction_id=transaction_id)
    tx.commit()
    return RedemptionReceipt(
        id=redemption_id, offer_id=offer_id, offer_title=taken.title, points_minor=cost,
        member_id=member_id, member_display_name=taken.member_name, created_at=now,
        transaction_id=transaction_id)


def _refuse_spent(issued: RedemptionCode, now) -> None:
    if issued.is_used:
        raise CodeAlreadyUsed()
    if issued.consumed_at is not None or issued.expires_at <= now:
        raise CodeExpired()


def visible_redemption(actor: User, redemption_id: int) -> Redemption:
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None:
        raise NotFound(_("No such redemption."))
    merchant = db.session.get(Merchant, redemption.merchant_id)
    if not (actor.merchant_id == merchant.id or access.reaches(actor, merchant.org_unit)):
        raise NotFound(_("No such redemption."))
    return redemption


def refund(redemption_id: int, *, actor: User) -> Redemption:
    """Give the points back with a reversing transaction; only once."""
    tx.begin_write()
    redemption = visible_redemption(actor, redemption_id)
    if redemption.status != "completed":
        raise InvalidTransition(_("This redemption was already refunded."))
    now = utcnow()
    changed = db.session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.status == "completed")
        .values(status="refunded", refunded_at=now, refunded_by_id=actor.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise InvalidTransition(_("This redemption was already refunded."))
    original = db.session.get(LedgerTransaction, redemption.transaction_id)
    txn = ledger.reverse(original, actor=actor, kind="refund", key=f"refund:{redemption.id}",
                         memo=f"refund {redemption.offer.title}")
    db.session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id)
        .values(refund_transaction_id=txn.id)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(redemption)
    tx.commit()
    return redemption


@dataclass
class Statement:
    merchant_id: int
    date_from: date
    date_to: date
    count: int
    points_total_minor: int
    items: list[Redemption]


def statement(*, actor: User, merchant_id: int, date_from: date, date_to: date) -> Statement:
    """Redemptions of a merchant between two local dates (inclusive); refunds don't count."""
    merchant = visible_merchant(actor, merchant_id)
    if date_to < date_from:
        raise ValidationFailed(errors={"to": [_("The end date is before the start date.")]})
    if (date_to - date_from).days > 366:
        raise ValidationFailed(errors={"to": [_("At most one year at a time.")]})
    lo, hi = start_of_day(date_from), start_of_day(date_to + timedelta(days=1))
    window = (
        Redemption.merchant_id == merchant.id,
        Redemption.created_at >= lo,
        Redemption.created_at < hi,
    )
    items = list(db.session.scalars(select(Redemption).where(*window).order_by(Redemption.id)))
    count, total = db.session.execute(
        select(func.count(Redemption.id), func.coalesce(func.sum(Redemption.points_minor), 0))
        .where(*window, Redemption.status == "completed")
    ).one()
    return Statement(merchant.id, date_from, date_to, count, total, items)


# --- the staff desk: merchants in reach and their offers ------------------------------


def merchant_directory(actor: User) -> list[tuple[Merchant, list[Offer]]]:
    """Merchants in the staff member's reach with all their offers, active or not (2 queries)."""
    access.require_staff(actor)
    found = list(db.session.scalars(access.scope_to_reach(
        select(Merchant).order_by(Merchant.name, Merchant.id), actor, Merchant.org_unit_id)))
    offers: dict[int, list[Offer]] = {m.id: [] for m in found}
    if found:
        for offer in db.session.scalars(
            select(Offer).where(Offer.merchant_id.in_(list(offers))).order_by(Offer.id)
        ):
            offers[offer.merchant_id].append(offer)
    return [(m, offers[m.id]) for m in found]


def set_offer_active(actor: User, offer_id: int, active: bool) -> Offer:
    """Withdraw an offer from the till (or bring it back); past redemptions keep it."""
    tx.begin_write()
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(_("No such offer."))
    visible_merchant(actor, offer.merchant_id)
    offer.is_active = bool(active)
    tx.commit()
    return offer
