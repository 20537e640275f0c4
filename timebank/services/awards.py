"""The rotating red flag (流动红旗): each month the best grid of each community holds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased

from timebank.errors import ValidationFailed
from timebank.extensions import db
from timebank.models import OrgUnit, RedFlagAward, ServiceStat, User, UserRole
from timebank.models.user import MEMBER_ROLES
from timebank.services import audit, stats, tx
from timebank.timeutil import today

# How a grid's score out of 100 is made: hours per member, the share of members who served,
# and approved records, each against the best grid of the community in that month.
WEIGHT_HOURS_PER_MEMBER = Decimal(50)
WEIGHT_ACTIVE_SHARE = Decimal(30)
WEIGHT_RECORDS = Decimal(20)
HUNDREDTH = Decimal("0.01")


def parse_month(text: str) -> date:
    """'2026-03' → 2026-03-01; anything else is a validation error."""
    try:
        year, month = (int(part) for part in (text or "").strip().split("-"))
        return date(year, month, 1)
    except ValueError as err:
        raise ValidationFailed(errors={"month": [_("Give a month as YYYY-MM.")]}) from err


@dataclass(frozen=True)
class GridScore:
    grid_id: int
    name: str
    members: int
    active: int
    hours_minor: int
    records: int
    score_minor: int

    @property
    def hours_per_member_minor(self) -> int:
        return self.hours_minor // self.members if self.members else 0

    def as_dict(self) -> dict:
        return {"grid_id": self.grid_id, "name": self.name, "members": self.members,
                "active": self.active, "hours_minor": self.hours_minor,
                "records": self.records, "score_minor": self.score_minor}


def _members_per_grid(community: OrgUnit) -> dict[int, int]:
    """Active volunteers and gridworkers living in each grid's subtree of the community."""
    grid, home = aliased(OrgUnit), aliased(OrgUnit)
    members = select(UserRole.user_id).where(UserRole.role.in_(MEMBER_ROLES))
    return dict(db.session.execute(
        select(grid.id, func.count(func.distinct(User.id)))
        .select_from(grid)
        .join(home, home.path.startswith(grid.path))
        .join(User, User.org_unit_id == home.id)
        .where(grid.kind == "grid", grid.path.startswith(community.path, autoescape=True),
               User.is_active, User.id.in_(members))
        .group_by(grid.id)
    ).all())


def score_month(community: OrgUnit, month: date) -> list[GridScore]:
    """Every grid of the community with its figures and score for the month, best first."""
    grids = list(db.session.scalars(
        select(OrgUnit).where(OrgUnit.kind == "grid",
                              OrgUnit.path.startswith(community.path, autoescape=True))
        .order_by(OrgUnit.id)))
    if not grids:
        return []
    members = _members_per_grid(community)
    served = {
        grid_id: (int(hours), int(active), int(records))
        for grid_id, hours, active, records in db.session.execute(
            select(ServiceStat.grid_id, func.sum(ServiceStat.hours_minor),
                   func.count(ServiceStat.id), func.sum(ServiceStat.records))
            .where(ServiceStat.period == "month",
                   ServiceStat.period_start == stats.period_start("month", month),
                   ServiceStat.grid_id.in_([g.id for g in grids]),
                   ServiceStat.hours_minor > 0)
            .group_by(ServiceStat.grid_id))
    }
    raw = []
    for grid in grids:
        hours, active, records = served.get(grid.id, (0, 0, 0))
        count = max(members.get(grid.id, 0), active)
        raw.append((grid, count, active, hours, records))
    best_hpm = max((Decimal(h) / c for _g, c, _a, h, _r in raw if c), default=Decimal(0))
    best_records = max((r for *_rest, r in raw), default=0)
    scores = []
    for grid, count, active, hours, records in raw:
        score = Decimal(0)
        if count and best_hpm:
            score += WEIGHT_HOURS_PER_MEMBER * (Decimal(hours) / count) / best_hpm
        if count:
            score += WEIGHT_ACTIVE_SHARE * Decimal(active) / count
        if best_records:
            score += WEIGHT_RECORDS * Decimal(records) / best_records
        scores.append(GridScore(
            grid_id=grid.id, name=grid.name, members=count, active=active, hours_minor=hours,
            records=records,
            score_minor=int((score / HUNDREDTH).quantize(Decimal(1), ROUND_HALF_UP))))
    # Ties go to more hours per member, then more records, then the older grid.
    scores.sort(key=lambda s: (-s.score_minor, -s.hours_per_member_minor, -s.records,
                               s.grid_id))
    return scores


@dataclass(frozen=True)
class Outcome:
    community: OrgUnit
    award: RedFlagAward | None
    # "awarded" now, "kept" (awarded by an earlier run), or "none" (no grid served).
    status: str


def award_red_flag(month: date) -> list[Outcome]:
    """Award the month's red flag in every community; a month already awarded is kept as it
    was, so running this again changes nothing."""
    tx.begin_write()
    month = stats.period_start("month", month)
    _first, last = stats.period_bounds("month", month)
    if last >= today():
        raise ValidationFailed(errors={"month": [
            _("The month is not over yet; award it once it has ended.")]})
    outcomes = []
    communities = db.session.scalars(
        select(OrgUnit).where(OrgUnit.kind == "community").order_by(OrgUnit.path))
    for community in communities:
        existing = db.session.scalar(select(RedFlagAward).where(
            RedFlagAward.community_id == community.id, RedFlagAward.month == month))
        if existing is not None:
            outcomes.append(Outcome(community, existing, "kept"))
            continue
        scores = score_month(community, month)
        if not scores or scores[0].score_minor == 0:
            outcomes.append(Outcome(community, None, "none"))
            continue
        award = RedFlagAward(community_id=community.id, month=month,
                             grid_id=scores[0].grid_id, score_minor=scores[0].score_minor,
                             scores=[s.as_dict() for s in scores])
        db.session.add(award)
        db.session.flush()
        audit.record(None, "red_flag.award", "red_flag_award", award.id,
                     org_unit_id=community.id, month=month.isoformat(),
                     grid_id=award.grid_id)
        outcomes.append(Outcome(community, award, "awarded"))
    tx.commit()
    return outcomes


def history_query(community: OrgUnit) -> Select:
    """The community's red flags, the latest first."""
    return (select(RedFlagAward).where(RedFlagAward.community_id == community.id)
            .order_by(RedFlagAward.month.desc()))


def history(community: OrgUnit, *, before: date, months: int) -> list[RedFlagAward]:
    """The red flags of the `months` months before the month holding `before`, latest first."""
    month = before.replace(day=1)
    cutoff = month
    for _step in range(months):
        cutoff = (cutoff - timedelta(days=1)).replace(day=1)
    return list(db.session.scalars(history_query(community).where(
        RedFlagAward.month >= cutoff, RedFlagAward.month < month).limit(months)))


def holder(community: OrgUnit, day: date | None = None) -> RedFlagAward | None:
    """The grid holding the flag on `day` (default today): the award of the month before.
    A flag is never held for good: without a newer award, nobody holds it."""
    day = day or today()
    previous = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
    return db.session.scalar(history_query(community).where(RedFlagAward.month == previous))
