"""Staff reports over a unit's subtree: hours, points and members per local month, the top
kinds of service, the grids side by side, the party members' hours (在职党员"双报到"), and the
exports for the national volunteer service information system (全国志愿服务信息系统).

Everything counts the members who live in the chosen unit or below it (their home unit, as the
leaderboards and the red flag do), and every figure comes from one GROUP BY query: no page
walks the records in Python. Months are local calendar months (the configured zone): the
period is cut at local midnights computed here, so the same SQL runs on SQLite and PostgreSQL.

What the points figures mean:
- issued: `earn` transactions, points created for approved hours (issuance → member). Points a
  helper receives for a request for help (`help_pay`) and gifts (`transfer`) only move points
  that members already had, so they are not issued.
- redeemed: spent at partner merchants (`redemption` less `refund`) plus points-shop orders
  handed over (`shop_sale`). Points merely held for an open order are not spent yet.
- expired: `expiry` transactions (member → the expiry account).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import Select, and_, case, distinct, func, literal_column, or_, select

from timebank.errors import NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import (
    Account,
    LedgerTransaction,
    OrgUnit,
    Posting,
    RewardOrder,
    ServiceCategory,
    ServiceRecord,
    ServiceStat,
    User,
    UserRole,
)
from timebank.models.user import MEMBER_ROLES
from timebank.services import access, audit, tx
from timebank.timeutil import local, start_of_day, today
from timebank.units import from_minor

FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_DAYS = 3 * 366  # the longest period one report or export covers
DEFAULT_MONTHS = 12
TOP_CATEGORIES = 10
EXPORT_BATCH = 1000
OFFERED_KINDS = ("street", "community", "grid")

ISSUED = "earn"
MERCHANT_KINDS = ("redemption", "refund")
EXPIRY = "expiry"
SHOP_SALE = "shop_sale"
EXPORTS = ("records", "transactions", "party")

# The national layout (《志愿服务记录与证明出具办法（试行）》 Art. 5 and 7): who served, what,
# when, how long, where, organised by whom, with whom in charge, recorded when.
RECORD_HEADERS = ("序号", "志愿者姓名", "证件类型", "证件号码", "联系电话", "活动名称", "服务类别",
                  "服务开始时间", "服务结束时间", "服务时长(小时)", "服务地点", "服务内容",
                  "组织单位", "负责人", "记录日期")
RECORD_WIDTHS = (7, 12, 12, 21, 15, 24, 14, 17, 17, 12, 20, 32, 28, 10, 12)
TRANSACTION_HEADERS = ("序号", "流水号", "时间", "类型", "志愿者姓名", "积分变动", "变动后余额",
                       "说明")
TRANSACTION_WIDTHS = (7, 10, 17, 16, 12, 10, 12, 36)
PARTY_HEADERS = ("序号", "姓名", "联系电话", "所在单位", "党组织关系所在单位",
                 "本月服务时长(小时)", "本季度服务时长(小时)", "本年服务时长(小时)",
                 "本月已服务", "本季度已服务")
PARTY_WIDTHS = (7, 12, 15, 28, 28, 16, 18, 16, 11, 12)
ID_CARD = "居民身份证"
YES, NO = "是", "否"
# Export files keep the national system's Chinese whatever the interface language.
KIND_NAMES = {
    "earn": "服务积分",
    "redemption": "商户兑换",
    "refund": "兑换退款",
    "transfer": "积分转赠",
    "help_hold": "求助积分冻结",
    "help_pay": "助人获得积分",
    "help_return": "求助积分退回",
    "shop_hold": "积分超市下单",
    "shop_return": "积分超市退单",
    "shop_sale": "积分超市兑付",
    "expiry": "积分过期",
}
TIME_FORMAT = "%Y-%m-%d %H:%M"


# --- the period ------------------------------------------------------------------------


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class Period:
    """Local calendar days from `date_from` to `date_to`, both included."""

    date_from: date
    date_to: date

    @property
    def starts_at(self) -> datetime:
        return start_of_day(self.date_from)

    @property
    def ends_at(self) -> datetime:
        """The first moment after the period (exclusive end)."""
        return start_of_day(self.date_to + timedelta(days=1))

    @property
    def year(self) -> int | None:
        """The year, when the period is exactly one calendar year."""
        whole = (self.date_from == date(self.date_from.year, 1, 1)
                 and self.date_to == date(self.date_from.year, 12, 31))
        return self.date_from.year if whole else None

    def months(self) -> list[date]:
        """The first day of every month the period touches."""
        months, month = [], self.date_from.replace(day=1)
        while month <= self.date_to:
            months.append(month)
            month = _next_month(month)
        return months

    def edges(self) -> list[datetime]:
        """Where each month of the period starts (local midnight), then the end."""
        firsts = [start_of_day(max(month, self.date_from)) for month in self.months()]
        return [*firsts, self.ends_at]


def _check_year(year: int, field_name: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationFailed(errors={field_name: [
            _("Choose a date between %(first)d and %(last)d.", first=FIRST_YEAR,
              last=LAST_YEAR)]})


def period_for_year(year: int) -> Period:
    _check_year(year, "year")
    return Period(date(year, 1, 1), date(year, 12, 31))


def period_between(date_from: date, date_to: date) -> Period:
    """A period from two days; refuses a reversed, far-off or overlong one."""
    _check_year(date_from.year, "from")
    _check_year(date_to.year, "to")
    if date_from > date_to:
        raise ValidationFailed(errors={"to": [_("The end date is before the start date.")]})
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise ValidationFailed(errors={"to": [
            _("A report covers at most %(n)d days.", n=MAX_DAYS)]})
    return Period(date_from, date_to)


def default_period(day: date | None = None) -> Period:
    """The last twelve months, this month included."""
    day = day or today()
    first = day.replace(day=1)
    for _month in range(DEFAULT_MONTHS - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return Period(first, day)


# --- whose figures ----------------------------------------------------------------------


def report_unit(actor: User, unit_id: int | None = None) -> OrgUnit:
    """The unit a report covers: the actor's own by default, else one in their reach."""
    access.require_staff(actor)
    unit = actor.org_unit if unit_id is None else db.session.get(OrgUnit, unit_id)
    if unit is None or not access.reaches(actor, unit):
        raise NotFound(_("No such unit in your area."))
    return unit


def units_offered(actor: User) -> list[tuple[OrgUnit, str]]:
    """The units a staff member may choose a report for (street, communities, grids)."""
    from timebank.services import users

    access.require_staff(actor)
    return users.units_in_reach(actor, kinds=OFFERED_KINDS)


def _check(actor: User, unit: OrgUnit) -> None:
    access.require_staff(actor)
    if not access.reaches(actor, unit):
        raise NotFound(_("No such unit in your area."))


def _lives_in(unit: OrgUnit):
    """Rows joined to User whose member lives in the unit or below it."""
    return User.org_unit_id.in_(access.subtree_ids(unit))


def _members_in(unit: OrgUnit) -> Select:
    """Active volunteers and gridworkers living in the unit or below it."""
    return select(User.id).where(
        User.is_active, _lives_in(unit),
        User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(MEMBER_ROLES))))


def _month_index(column, period: Period):
    """0, 1, … for the local month of `column` inside the period (rows already inside it).

    A CASE over the month edges computed in Python: right in any time zone, the same SQL on
    SQLite and PostgreSQL. Grouped through a subquery, so the expression appears once."""
    edges = period.edges()[1:-1]
    if not edges:
        return literal_column("0")
    return case(*[(column < edge, literal_column(str(i))) for i, edge in enumerate(edges)],
                else_=literal_column(str(len(edges))))


def _path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def _in_period(column, period: Period):
    return and_(column >= period.starts_at, column < period.ends_at)


# --- the report -------------------------------------------------------------------------


@dataclass
class MonthRow:
    month: date
    hours_minor: int = 0
    records: int = 0
    active: int = 0
    issued_minor: int = 0
    redeemed_minor: int = 0
    expired_minor: int = 0


@dataclass(frozen=True)
class CategoryRow:
    name: str
    hours_minor: int
    records: int
    members: int


@dataclass
class GridRow:
    """One grid (None: members living above any grid) with its figures over the period;
    `points_minor` are the points awarded for the row's hours."""

    grid_id: int | None
    name: str
    hours_minor: int = 0
    points_minor: int = 0
    active: int = 0
    members: int = 0


@dataclass
class Report:
    unit: OrgUnit
    period: Period
    months: list[MonthRow]
    categories: list[CategoryRow] = field(default_factory=list)
    grids: list[GridRow] = field(default_factory=list)
    active: int = 0  # members with approved hours in the period (each counted once)
    members: int = 0  # volunteers and gridworkers living in the unit now

    def total(self, name: str) -> int:
        return sum(getattr(row, name) for row in self.months)


def monthly(actor: User, unit: OrgUnit, period: Period) -> list[MonthRow]:
    """Hours, records, active members and points issued, redeemed and expired per month."""
    _check(actor, unit)
    rows = [MonthRow(month=month) for month in period.months()]

    served = (
        select(_month_index(ServiceRecord.started_at, period).label("m"),
               ServiceRecord.member_id, ServiceRecord.hours_minor)
        .join(User, User.id == ServiceRecord.member_id)
        .where(ServiceRecord.status == "approved", _in_period(ServiceRecord.started_at, period),
               _lives_in(unit))
    ).subquery()
    for index, hours, records, active in db.session.execute(
            select(served.c.m, func.sum(served.c.hours_minor), func.count(),
                   func.count(distinct(served.c.member_id))).group_by(served.c.m)):
        rows[index].hours_minor, rows[index].records, rows[index].active = \
            int(hours), records, active

    moved = (
        select(_month_index(LedgerTransaction.created_at, period).label("m"),
               LedgerTransaction.kind.label("kind"), Posting.amount_minor.label("amount"))
        .select_from(Posting)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .join(Account, Account.id == Posting.account_id)
        .join(User, User.id == Account.user_id)
        .where(Account.kind == "member",
               LedgerTransaction.kind.in_((ISSUED, *MERCHANT_KINDS, EXPIRY)),
               _in_period(LedgerTransaction.created_at, period), _lives_in(unit))
    ).subquery()
    for index, kind, amount in db.session.execute(
            select(moved.c.m, moved.c.kind, func.sum(moved.c.amount))
            .group_by(moved.c.m, moved.c.kind)):
        amount = int(amount)
        if kind == ISSUED:
            rows[index].issued_minor += amount
        elif kind == EXPIRY:
            rows[index].expired_minor -= amount
        else:  # member postings: negative when spent, positive when refunded
            rows[index].redeemed_minor -= amount

    sold = (
        select(_month_index(LedgerTransaction.created_at, period).label("m"),
               Posting.amount_minor.label("amount"))
        .select_from(RewardOrder)
        .join(LedgerTransaction, LedgerTransaction.id == RewardOrder.settle_transaction_id)
        .join(Posting, Posting.transaction_id == LedgerTransaction.id)
        .join(User, User.id == RewardOrder.member_id)
        .where(LedgerTransaction.kind == SHOP_SALE, Posting.amount_minor > 0,
               _in_period(LedgerTransaction.created_at, period), _lives_in(unit))
    ).subquery()
    for index, amount in db.session.execute(
            select(sold.c.m, func.sum(sold.c.amount)).group_by(sold.c.m)):
        rows[index].redeemed_minor += int(amount)
    return rows


def active_members(actor: User, unit: OrgUnit, period: Period) -> int:
    """Members with approved hours in the period, each counted once."""
    _check(actor, unit)
    return db.session.scalar(
        select(func.count(distinct(ServiceRecord.member_id)))
        .join(User, User.id == ServiceRecord.member_id)
        .where(ServiceRecord.status == "approved", _in_period(ServiceRecord.started_at, period),
               _lives_in(unit))) or 0


def member_count(actor: User, unit: OrgUnit) -> int:
    """Active volunteers and gridworkers living in the unit or below it."""
    _check(actor, unit)
    return db.session.scalar(select(func.count()).select_from(_members_in(unit).subquery()))


def top_categories(actor: User, unit: OrgUnit, period: Period,
                   limit: int = TOP_CATEGORIES) -> list[CategoryRow]:
    """The kinds of service with the most approved hours in the period."""
    _check(actor, unit)
    hours = func.sum(ServiceRecord.hours_minor)
    rows = db.session.execute(
        select(ServiceCategory.name, hours, func.count(ServiceRecord.id),
               func.count(distinct(ServiceRecord.member_id)))
        .select_from(ServiceRecord)
        .join(ServiceCategory, ServiceCategory.id == ServiceRecord.category_id)
        .join(User, User.id == ServiceRecord.member_id)
        .where(ServiceRecord.status == "approved", _in_period(ServiceRecord.started_at, period),
               _lives_in(unit))
        .group_by(ServiceCategory.id, ServiceCategory.name)
        .order_by(hours.desc(), ServiceCategory.name, ServiceCategory.id)
        .limit(limit))
    return [CategoryRow(name=name, hours_minor=int(total), records=records, members=members)
            for name, total, records, members in rows]


def grid_comparison(actor: User, unit: OrgUnit, period: Period) -> list[GridRow]:
    """Every grid of the unit side by side: approved hours and the points they earned (by
    day of service, like the hours), members who served in the period, members living there
    now."""
    _check(actor, unit)
    units = db.session.execute(
        select(OrgUnit.id, OrgUnit.kind, OrgUnit.name, OrgUnit.path)
        .where(or_(OrgUnit.path.startswith(unit.path, autoescape=True),
                   OrgUnit.id.in_(unit.ancestor_ids())))).all()
    kinds = {row.id: row.kind for row in units}
    names = {row.id: row.name for row in units}
    paths = {row.id: row.path for row in units}
    above = set(unit.ancestor_ids()[:-1])

    def grid_of(unit_id: int) -> int | None:
        for ancestor in reversed(_path_ids(paths.get(unit_id, "/"))):
            if kinds.get(ancestor) == "grid":
                return ancestor
        return None

    grids: dict[int | None, GridRow] = {}
    for row in sorted(units, key=lambda r: r.path):
        if row.kind == "grid":
            # Named from below the chosen unit: 'community / grid' on a street's report.
            labels = [names[i] for i in _path_ids(row.path)
                      if i not in above and i != unit.id and i in names]
            grids[row.id] = GridRow(grid_id=row.id, name=" / ".join(labels) or row.name)
    outside = GridRow(grid_id=None, name="")

    def add(home_id: int, name: str, value: int) -> None:
        target = grids.get(grid_of(home_id), outside)
        setattr(target, name, getattr(target, name) + int(value))

    for home_id, hours, points, active in db.session.execute(
            select(User.org_unit_id, func.sum(ServiceRecord.hours_minor),
                   func.sum(func.coalesce(ServiceRecord.points_awarded_minor, 0)),
                   func.count(distinct(ServiceRecord.member_id)))
            .join(User, User.id == ServiceRecord.member_id)
            .where(ServiceRecord.status == "approved",
                   _in_period(ServiceRecord.started_at, period), _lives_in(unit))
            .group_by(User.org_unit_id)):
        add(home_id, "hours_minor", hours)
        add(home_id, "points_minor", points)
        add(home_id, "active", active)
    for home_id, members in db.session.execute(
            select(User.org_unit_id, func.count(User.id))
            .where(User.id.in_(_members_in(unit))).group_by(User.org_unit_id)):
        add(home_id, "members", members)
    result = list(grids.values())
    if any((outside.hours_minor, outside.points_minor, outside.active, outside.members)):
        result.append(outside)
    return result


def build(actor: User, unit: OrgUnit, period: Period) -> Report:
    """The whole report page: months, categories, grids and the totals."""
    return Report(unit=unit, period=period, months=monthly(actor, unit, period),
                  categories=top_categories(actor, unit, period),
                  grids=grid_comparison(actor, unit, period),
                  active=active_members(actor, unit, period),
                  members=member_count(actor, unit))


# --- party members (双报到) --------------------------------------------------------------

PARTY_SHOW = ("all", "no_month", "no_quarter")


@dataclass(frozen=True)
class PartyPeriods:
    """This month, this quarter and this year around a local day."""

    day: date
    month: date
    quarter: date
    year: date

    @property
    def quarter_months(self) -> list[date]:
        first = self.quarter
        return [first, _next_month(first), _next_month(_next_month(first))]

    @property
    def quarter_number(self) -> int:
        return (self.quarter.month - 1) // 3 + 1


def party_periods(day: date | None = None) -> PartyPeriods:
    day = day or today()
    return PartyPeriods(day=day, month=day.replace(day=1),
                        quarter=date(day.year, (day.month - 1) // 3 * 3 + 1, 1),
                        year=date(day.year, 1, 1))


def _party_members(unit: OrgUnit):
    return and_(User.is_party_member, User.is_active, _lives_in(unit))


def _party_hours(unit: OrgUnit, periods: PartyPeriods):
    """Approved hours per party member this month, quarter and year, from the aggregates."""
    month_row = and_(ServiceStat.period == "month",
                     ServiceStat.period_start.in_(periods.quarter_months))
    year_row = and_(ServiceStat.period == "year", ServiceStat.period_start == periods.year)

    def hours_where(condition):
        return func.sum(case((condition, ServiceStat.hours_minor), else_=0))

    return (
        select(ServiceStat.member_id,
               hours_where(and_(ServiceStat.period == "month",
                                ServiceStat.period_start == periods.month)).label("month"),
               hours_where(month_row).label("quarter"),
               hours_where(year_row).label("year"))
        .where(or_(month_row, year_row),
               ServiceStat.member_id.in_(select(User.id).where(_party_members(unit))))
        .group_by(ServiceStat.member_id)
    ).subquery()


@dataclass(frozen=True)
class PartyRow:
    member: User
    month_minor: int
    quarter_minor: int
    year_minor: int


@dataclass(frozen=True)
class PartyCounts:
    members: int
    none_month: int
    none_quarter: int
    month_minor: int
    quarter_minor: int
    year_minor: int


def _party_select(unit: OrgUnit, periods: PartyPeriods, show: str):
    if show not in PARTY_SHOW:
        raise ValidationFailed(errors={"show": [
            _("Choose one of: %(v)s.", v=", ".join(PARTY_SHOW))]})
    hours = _party_hours(unit, periods)
    month = func.coalesce(hours.c.month, 0)
    quarter = func.coalesce(hours.c.quarter, 0)
    year = func.coalesce(hours.c.year, 0)
    query = (select(User, month, quarter, year)
             .outerjoin(hours, hours.c.member_id == User.id)
             .where(_party_members(unit)))
    if show == "no_month":
        query = query.where(month == 0)
    elif show == "no_quarter":
        query = query.where(quarter == 0)
    return query, (month, quarter, year)


def party_page(actor: User, unit: OrgUnit, *, periods: PartyPeriods, show: str = "all",
               page: int = 1, per_page: int = 50) -> tuple[list[PartyRow], int]:
    """One page of the unit's party members with their hours, and how many there are."""
    _check(actor, unit)
    query, _columns = _party_select(unit, periods, show)
    total = db.session.scalar(select(func.count()).select_from(
        query.with_only_columns(User.id).subquery()))
    rows = db.session.execute(
        query.order_by(User.display_name, User.id).limit(per_page)
        .offset((max(page, 1) - 1) * per_page)).all()
    return [PartyRow(member, int(m), int(q), int(y)) for member, m, q, y in rows], total


def party_counts(actor: User, unit: OrgUnit, *, periods: PartyPeriods) -> PartyCounts:
    """How many party members there are, how many have no hours yet this month and this
    quarter, and their hours together."""
    _check(actor, unit)
    query, (month, quarter, year) = _party_select(unit, periods, "all")
    counted = query.with_only_columns(month.label("m"), quarter.label("q"),
                                      year.label("y")).subquery()
    members, none_month, none_quarter, m, q, y = db.session.execute(select(
        func.count(),
        func.coalesce(func.sum(case((counted.c.m == 0, 1), else_=0)), 0),
        func.coalesce(func.sum(case((counted.c.q == 0, 1), else_=0)), 0),
        func.coalesce(func.sum(counted.c.m), 0), func.coalesce(func.sum(counted.c.q), 0),
        func.coalesce(func.sum(counted.c.y), 0))).one()
    return PartyCounts(members=members, none_month=int(none_month),
                       none_quarter=int(none_quarter), month_minor=int(m),
                       quarter_minor=int(q), year_minor=int(y))


def party_rows(actor: User, unit: OrgUnit, *, periods: PartyPeriods) -> Iterator[list]:
    """Every party member of the unit as a row of the party-member download."""
    _check(actor, unit)
    query, (month, quarter, year) = _party_select(unit, periods, "all")
    return _party_rows(query.with_only_columns(
        User.display_name, User.phone, User.org_unit_id, User.party_unit, month, quarter, year)
        .order_by(User.display_name, User.id))


def _party_rows(query) -> Iterator[list]:
    labels: dict[int, str] = {}
    number = 0
    offset = 0
    while True:
        batch = db.session.execute(query.limit(EXPORT_BATCH).offset(offset)).all()
        if not batch:
            return
        _unit_labels({row.org_unit_id for row in batch}, labels)
        for name, phone, unit_id, party_unit, month, quarter, year in batch:
            number += 1
            month, quarter, year = int(month), int(quarter), int(year)
            yield [number, name, phone or "", labels.get(unit_id, ""), party_unit or "",
                   from_minor(month), from_minor(quarter), from_minor(year),
                   YES if month else NO, YES if quarter else NO]
        offset += len(batch)


# --- exports for the national system ---------------------------------------------------


def _unit_labels(unit_ids: set[int], labels: dict[int, str]) -> None:
    """Fill `labels` with 'street / community / grid' for the ids it lacks (two queries)."""
    missing = unit_ids - labels.keys()
    if not missing:
        return
    paths = dict(db.session.execute(
        select(OrgUnit.id, OrgUnit.path).where(OrgUnit.id.in_(missing))).all())
    chains = {uid: _path_ids(path) for uid, path in paths.items()}
    wanted = {i for chain in chains.values() for i in chain}
    names = dict(db.session.execute(
        select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(wanted))).all())
    for uid, chain in chains.items():
        labels[uid] = " / ".join(names[i] for i in chain if i in names)


def note_export(actor: User, unit: OrgUnit, *, what: str, fmt: str,
                period: Period | None = None, day: date | None = None) -> None:
    """Keep an export in the audit trail before any row leaves: it carries ID numbers."""
    if what not in EXPORTS:
        raise ValueError(what)
    _check(actor, unit)
    unit_id = unit.id
    tx.begin_write()
    audit.record(actor, "report.export", "org_unit", unit_id, org_unit_id=unit_id,
                 export=what, format=fmt,
                 date_from=period.date_from.isoformat() if period else None,
                 date_to=period.date_to.isoformat() if period else None,
                 day=day.isoformat() if day else None)
    tx.commit()


def record_rows(actor: User, unit: OrgUnit, period: Period) -> Iterator[list]:
    """Approved service records of members living in the unit, by service start, as rows of
    RECORD_HEADERS; read in batches, so a long period never sits in memory."""
    _check(actor, unit)
    return _record_rows(unit, period)


def _record_rows(unit: OrgUnit, period: Period) -> Iterator[list]:
    base = (
        select(ServiceRecord.id, ServiceRecord.started_at, ServiceRecord.ended_at,
               ServiceRecord.hours_minor, ServiceRecord.title, ServiceRecord.place,
               ServiceRecord.description, ServiceRecord.person_in_charge,
               ServiceRecord.reviewed_at, ServiceRecord.created_at,
               ServiceRecord.org_unit_id, ServiceCategory.name.label("category"),
               User.display_name, User.id_number, User.phone)
        .select_from(ServiceRecord)
        .join(User, User.id == ServiceRecord.member_id)
        .join(ServiceCategory, ServiceCategory.id == ServiceRecord.category_id)
        .where(ServiceRecord.status == "approved", _in_period(ServiceRecord.started_at, period),
               _lives_in(unit))
        .order_by(ServiceRecord.started_at, ServiceRecord.id)
        .limit(EXPORT_BATCH)
    )
    labels: dict[int, str] = {}
    number = 0
    last: tuple[datetime, int] | None = None
    while True:
        query = base
        if last is not None:
            query = query.where(or_(ServiceRecord.started_at > last[0],
                                    and_(ServiceRecord.started_at == last[0],
                                         ServiceRecord.id > last[1])))
        batch = db.session.execute(query).all()
        if not batch:
            return
        _unit_labels({row.org_unit_id for row in batch}, labels)
        for row in batch:
            number += 1
            recorded = row.reviewed_at or row.created_at
            yield [number, row.display_name, ID_CARD if row.id_number else "",
                   row.id_number or "", row.phone or "", row.title, row.category,
                   local(row.started_at).strftime(TIME_FORMAT),
                   local(row.ended_at).strftime(TIME_FORMAT), from_minor(row.hours_minor),
                   row.place, row.description, labels.get(row.org_unit_id, ""),
                   row.person_in_charge or "", local(recorded).date().isoformat()]
        last = (batch[-1].started_at, batch[-1].id)


def transaction_rows(actor: User, unit: OrgUnit, period: Period) -> Iterator[list]:
    """Every points movement of members living in the unit, in ledger order, as rows of
    TRANSACTION_HEADERS (a transaction between two such members gives a row for each)."""
    _check(actor, unit)
    return _transaction_rows(unit, period)


def _transaction_rows(unit: OrgUnit, period: Period) -> Iterator[list]:
    base = (
        select(Posting.id, LedgerTransaction.seq, LedgerTransaction.created_at,
               LedgerTransaction.kind, LedgerTransaction.memo, User.display_name,
               Posting.amount_minor, Posting.balance_after_minor)
        .select_from(Posting)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .join(Account, Account.id == Posting.account_id)
        .join(User, User.id == Account.user_id)
        .where(Account.kind == "member", _in_period(LedgerTransaction.created_at, period),
               _lives_in(unit))
        .order_by(LedgerTransaction.seq, Posting.id)
        .limit(EXPORT_BATCH)
    )
    number = 0
    last: tuple[int, int] | None = None
    while True:
        query = base
        if last is not None:
            query = query.where(or_(LedgerTransaction.seq > last[0],
                                    and_(LedgerTransaction.seq == last[0],
                                         Posting.id > last[1])))
        batch = db.session.execute(query).all()
        if not batch:
            return
        for row in batch:
            number += 1
            yield [number, row.seq, local(row.created_at).strftime(TIME_FORMAT),
                   KIND_NAMES.get(row.kind, row.kind), row.display_name,
                   from_minor(row.amount_minor), from_minor(row.balance_after_minor),
                   row.memo or ""]
        last = (batch[-1].seq, batch[-1].id)
