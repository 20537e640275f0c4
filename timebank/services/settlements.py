"""Monthly settlement with partner merchants.

A month is a local calendar month ('YYYY-MM' in the configured zone). Its figures are the
merchant's redemptions made in that month, net of refunds: a redemption that was refunded
counts as nothing (neither in the count nor in the points), whenever the refund happened.

Staff in reach settle a month once it has ended. The settlement keeps the figures as they
stood at that moment; they are never rewritten. A refund made later changes the live figures
only: pages and downloads then show both and mark the month as changed since settlement, so
the difference can be taken into the next payment by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from timebank.errors import InvalidTransition, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import Merchant, MerchantSettlement, Offer, Redemption, User
from timebank.privacy import mask_name
from timebank.services import access, audit, merchants, tx
from timebank.services.spreadsheet import Sheet
from timebank.timeutil import local, start_of_day, today
from timebank.units import from_minor

MAX_ID = 2**31 - 1
MAX_NOTE = 500
FIRST_YEAR, LAST_YEAR = 2000, 2100
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
SETTLE_ACTION = "merchant_settlement.settle"


# --- months ------------------------------------------------------------------------------


def parse_month(raw: str | None) -> date:
    """The first day of a 'YYYY-MM' month; anything else is a validation error."""
    found = _MONTH.fullmatch(raw or "") if raw and len(raw) == 7 else None
    if found is None or not FIRST_YEAR <= int(found.group(1)) <= LAST_YEAR \
            or not 1 <= int(found.group(2)) <= 12:
        raise ValidationFailed(errors={"month": [_("Choose a month like 2026-03.")]})
    return date(int(found.group(1)), int(found.group(2)), 1)


def month_label(first: date) -> str:
    return first.strftime("%Y-%m")


def next_month(first: date) -> date:
    return (first.replace(day=1) + timedelta(days=32)).replace(day=1)


def previous_month(first: date) -> date:
    return (first.replace(day=1) - timedelta(days=1)).replace(day=1)


def has_ended(first: date) -> bool:
    """True once the month is over in the local zone."""
    return today() >= next_month(first)


def last_ended_month() -> date:
    """The month most recently ended: the one usually settled next."""
    return previous_month(today().replace(day=1))


def _window(first: date) -> tuple[datetime, datetime]:
    return start_of_day(first), start_of_day(next_month(first))


def _in_month(first: date):
    lo, hi = _window(first)
    return (Redemption.created_at >= lo, Redemption.created_at < hi)


# --- one merchant's month ----------------------------------------------------------------


@dataclass
class OfferLine:
    offer_id: int
    title: str
    count: int
    points_minor: int


@dataclass
class MonthStatement:
    merchant: Merchant
    first: date
    count: int
    points_total_minor: int
    refunded_count: int
    per_offer: list[OfferLine]
    settlement: MerchantSettlement | None

    @property
    def month(self) -> str:
        return month_label(self.first)

    @property
    def last(self) -> date:
        return next_month(self.first) - timedelta(days=1)

    @property
    def has_ended(self) -> bool:
        return has_ended(self.first)

    @property
    def differs(self) -> bool:
        """Settled, and the live figures are no longer those settled (a later refund)."""
        return _differs(self.settlement, self.count, self.points_total_minor)


def _differs(settlement: MerchantSettlement | None, count: int, points_minor: int) -> bool:
    return settlement is not None and (
        settlement.redemption_count != count or settlement.points_total_minor != points_minor)


def _merchant_for(actor: User, merchant_id: int) -> Merchant:
    """The merchant's own staff or staff whose reach covers it; anyone else: not found."""
    if not 0 < merchant_id <= MAX_ID:
        raise NotFound(_("No such merchant."))
    return merchants.visible_merchant(actor, merchant_id)


def _settlement(merchant_id: int, first: date) -> MerchantSettlement | None:
    return db.session.scalar(select(MerchantSettlement).where(
        MerchantSettlement.merchant_id == merchant_id,
        MerchantSettlement.month == month_label(first)))


def _figures(merchant_id: int, first: date) -> tuple[int, int, int]:
    """(count, points, refunded count) of the merchant's month, in one query."""
    rows = db.session.execute(
        select(Redemption.status, func.count(Redemption.id),
               func.coalesce(func.sum(Redemption.points_minor), 0))
        .where(Redemption.merchant_id == merchant_id, *_in_month(first))
        .group_by(Redemption.status)).all()
    by_status = {status: (int(count), int(points)) for status, count, points in rows}
    count, points = by_status.get("completed", (0, 0))
    return count, points, by_status.get("refunded", (0, 0))[0]


def _per_offer(merchant_id: int, first: date) -> list[OfferLine]:
    points = func.coalesce(func.sum(Redemption.points_minor), 0)
    rows = db.session.execute(
        select(Offer.id, Offer.title, func.count(Redemption.id), points)
        .join(Offer, Offer.id == Redemption.offer_id)
        .where(Redemption.merchant_id == merchant_id, Redemption.status == "completed",
               *_in_month(first))
        .group_by(Offer.id, Offer.title)
        .order_by(points.desc(), Offer.id)).all()
    return [OfferLine(oid, title, int(count), int(total)) for oid, title, count, total in rows]


def month_statement(actor: User, merchant_id: int, month: str | date) -> MonthStatement:
    """A merchant's month: figures net of refunds, per offer, and its settlement if any."""
    merchant = _merchant_for(actor, merchant_id)
    first = month if isinstance(month, date) else parse_month(month)
    count, points, refunded = _figures(merchant.id, first)
    return MonthStatement(merchant, first, count, points, refunded,
                          _per_offer(merchant.id, first), _settlement(merchant.id, first))


def redemptions_query(statement: MonthStatement) -> Select:
    """Every redemption of the statement's month, refunded ones too, in time order."""
    return (select(Redemption)
            .where(Redemption.merchant_id == statement.merchant.id,
                   *_in_month(statement.first))
            .order_by(Redemption.created_at, Redemption.id))


@dataclass
class Line:
    created_at: datetime
    offer_title: str
    points_minor: int
    member_name: str  # masked
    status: str


def lines(statement: MonthStatement) -> Iterator[Line]:
    """The statement's redemptions as plain rows (member names masked), read in batches."""
    query = (select(Redemption.created_at, Offer.title, Redemption.points_minor,
                    User.display_name, Redemption.status)
             .join(Offer, Offer.id == Redemption.offer_id)
             .join(User, User.id == Redemption.member_id)
             .where(Redemption.merchant_id == statement.merchant.id,
                    *_in_month(statement.first))
             .order_by(Redemption.created_at, Redemption.id)
             .execution_options(yield_per=1000))
    for created_at, title, points, name, status in db.session.execute(query):
        yield Line(created_at, title, points, mask_name(name), status)


def settlements_of(actor: User, merchant_id: int, limit: int = 12) -> list[MerchantSettlement]:
    """The merchant's latest settled months, newest first."""
    merchant = _merchant_for(actor, merchant_id)
    return list(db.session.scalars(
        select(MerchantSettlement).where(MerchantSettlement.merchant_id == merchant.id)
        .order_by(MerchantSettlement.month.desc()).limit(limit)))


# --- the month over every merchant in reach --------------------------------------------


@dataclass
class OverviewRow:
    merchant: Merchant
    count: int
    points_total_minor: int
    settlement: MerchantSettlement | None

    @property
    def differs(self) -> bool:
        return _differs(self.settlement, self.count, self.points_total_minor)


@dataclass
class Overview:
    first: date
    rows: list[OverviewRow]

    @property
    def month(self) -> str:
        return month_label(self.first)

    @property
    def has_ended(self) -> bool:
        return has_ended(self.first)

    @property
    def count(self) -> int:
        return sum(r.count for r in self.rows)

    @property
    def points_total_minor(self) -> int:
        return sum(r.points_total_minor for r in self.rows)

    @property
    def settled(self) -> int:
        return sum(1 for r in self.rows if r.settlement is not None)


def month_overview(actor: User, month: str | date) -> Overview:
    """Every merchant in the staff member's reach with the month's figures (3 queries)."""
    access.require_staff(actor)
    first = month if isinstance(month, date) else parse_month(month)
    in_reach = access.scope_to_reach(select(Merchant.id), actor, Merchant.org_unit_id)
    found = list(db.session.scalars(access.scope_to_reach(
        select(Merchant).order_by(Merchant.name, Merchant.id), actor, Merchant.org_unit_id)))
    figures = {
        merchant_id: (int(count), int(points))
        for merchant_id, count, points in db.session.execute(
            select(Redemption.merchant_id, func.count(Redemption.id),
                   func.coalesce(func.sum(Redemption.points_minor), 0))
            .where(Redemption.merchant_id.in_(in_reach), Redemption.status == "completed",
                   *_in_month(first))
            .group_by(Redemption.merchant_id))
    }
    settled = {
        s.merchant_id: s for s in db.session.scalars(
            select(MerchantSettlement).where(MerchantSettlement.month == month_label(first),
                                             MerchantSettlement.merchant_id.in_(in_reach)))
    }
    rows = [OverviewRow(m, *figures.get(m.id, (0, 0)), settled.get(m.id)) for m in found]
    return Overview(first, rows)


# --- settling ----------------------------------------------------------------------------


def settle(actor: User, merchant_id: int, month: str, note: str | None = None
           ) -> MerchantSettlement:
    """Settle an ended month of a merchant in reach, once, with its figures as they stand."""
    tx.begin_write()
    access.require_staff(actor)
    merchant = _merchant_for(actor, merchant_id)
    if not access.reaches(actor, merchant.org_unit):
        raise NotFound(_("No such merchant."))
    first = parse_month(month)
    if not has_ended(first):
        raise ValidationFailed(
            _("A month can be settled only after it has ended."),
            errors={"month": [_("A month can be settled only after it has ended.")]})
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed(errors={"note": [
            _("At most %(max)d characters.", max=MAX_NOTE)]})
    if _existing(merchant.id, first) is not None:
        raise InvalidTransition(_("This month of this merchant is already settled."))
    count, points, _refunded = _figures(merchant.id, first)
    settlement = MerchantSettlement(
        merchant_id=merchant.id, month=month_label(first), redemption_count=count,
        points_total_minor=points, note=note, settled_by_id=actor.id)
    db.session.add(settlement)
    try:
        # Two settling at once both pass the check above; the unique constraint keeps one.
        db.session.flush()
    except IntegrityError as err:
        db.session.rollback()
        raise InvalidTransition(_("This month of this merchant is already settled.")) from err
    audit.record(actor, SETTLE_ACTION, "merchant_settlement", settlement.id,
                 org_unit_id=merchant.org_unit_id, merchant_id=merchant.id,
                 month=settlement.month, redemption_count=count, points_total_minor=points,
                 note=note or None)
    tx.commit()
    return settlement


def _existing(merchant_id: int, first: date) -> MerchantSettlement | None:
    return _settlement(merchant_id, first)


# --- downloads ---------------------------------------------------------------------------


def _points(minor: int) -> Decimal:
    return from_minor(minor)


def _status_label(status: str) -> str:
    return {"completed": _("Completed"), "refunded": _("Refunded")}.get(status, status)


def _settlement_state(settlement: MerchantSettlement | None, ended: bool) -> str:
    if settlement is not None:
        return _("Settled")
    return _("Not settled") if ended else _("Month not ended")


def statement_sheets(viewer: User, statement: MonthStatement) -> list[Sheet]:
    """Summary, per offer and every redemption line (member names masked) of one month."""
    merchant, settlement = statement.merchant, statement.settlement
    summary: list[list] = [
        [_("Merchant"), merchant.name],
        [_("Unit"), merchant.org_unit.name if merchant.org_unit else ""],
        [_("Month"), statement.month],
        [_("Period"), f"{statement.first.isoformat()} – {statement.last.isoformat()}"],
        [_("Redemptions"), statement.count],
        [_("Points"), _points(statement.points_total_minor)],
        [_("Refunded redemptions (not counted)"), statement.refunded_count],
        [_("Settlement"), _settlement_state(settlement, statement.has_ended)],
    ]
    if settlement is not None:
        summary += [
            [_("Settled by"), access.shown_name(viewer, settlement.settled_by)],
            [_("Settled at"), local(settlement.settled_at)],
            [_("Settled redemptions"), settlement.redemption_count],
            [_("Settled points"), _points(settlement.points_total_minor)],
            [_("Note"), settlement.note or ""],
        ]
        if statement.differs:
            summary.append([_("Changed since settlement"), _(
                "Refunds after the settlement changed the figures.")])
    return [
        Sheet(_("Summary"), [], summary, widths=(24, 40)),
        Sheet(_("By offer"), [_("Offer"), _("Redemptions"), _("Points")],
              [[o.title, o.count, _points(o.points_minor)] for o in statement.per_offer],
              widths=(30, 12, 12)),
        Sheet(_("All redemptions"),
              [_("Time"), _("Offer"), _("Points"), _("Member"), _("Status")],
              ([local(line.created_at), line.offer_title, _points(line.points_minor),
                line.member_name, _status_label(line.status)] for line in lines(statement)),
              widths=(18, 30, 12, 14, 10)),
    ]


def overview_sheets(viewer: User, overview: Overview) -> list[Sheet]:
    """The month of every merchant in reach, one row each, and a total."""
    rows: list[list] = []
    for row in overview.rows:
        s = row.settlement
        rows.append([
            row.merchant.name, row.merchant.org_unit.name if row.merchant.org_unit else "",
            row.count, _points(row.points_total_minor),
            _settlement_state(s, overview.has_ended),
            s.redemption_count if s else None,
            _points(s.points_total_minor) if s else None,
            access.shown_name(viewer, s.settled_by) if s else "",
            local(s.settled_at) if s else None,
            s.note if s else "",
            _("Yes") if row.differs else "",
        ])
    rows.append([_("Total"), "", overview.count, _points(overview.points_total_minor),
                 "", None, None, "", None, "", ""])
    header = [_("Merchant"), _("Unit"), _("Redemptions"), _("Points"), _("Settlement"),
              _("Settled redemptions"), _("Settled points"), _("Settled by"), _("Settled at"),
              _("Note"), _("Changed since settlement")]
    return [Sheet(_("Settlements %(month)s", month=overview.month), header, rows,
                  widths=(24, 14, 12, 12, 12, 14, 14, 12, 18, 30, 14))]
