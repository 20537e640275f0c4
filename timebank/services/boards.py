"""Leaderboards of members, grids and volunteer teams, read from the hours aggregates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from timebank.errors import NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import OrgUnit, ServiceStat, StarAward, TeamMembership, User, VolunteerTeam
from timebank.models.recognition import STAT_PERIODS
from timebank.privacy import mask_name
from timebank.services import access, audit, org, stats, tx
from timebank.timeutil import today
from timebank.units import from_minor

PERIODS = STAT_PERIODS
METRICS = ("hours", "points")
GROUPS = ("member", "grid", "team")
DEFAULT_LIMIT = 10
MAX_LIMIT = 100


@dataclass(frozen=True)
class Entry:
    rank: int
    name: str
    value: Decimal
    # The grid's or team's id; a member's id stays inside (it is never shown on a board).
    key: int
    is_member: bool = False


@dataclass
class Board:
    scope: OrgUnit
    period: str
    metric: str
    group: str
    starts_on: date | None
    ends_on: date | None
    entries: list[Entry] = field(default_factory=list)


def default_scope(user: User | None) -> OrgUnit:
    """The community a board opens on: the user's own (staff: their unit)."""
    if user is None:
        raise NotFound()
    if user.has_role("staff", "admin"):
        return user.org_unit
    return org.community_of(user.org_unit)


def _check(period: str, metric: str, group: str, limit: int) -> None:
    errors: dict[str, list[str]] = {}
    if period not in PERIODS:
        errors["period"] = [_("Choose one of: %(v)s.", v=", ".join(PERIODS))]
    if metric not in METRICS:
        errors["metric"] = [_("Choose one of: %(v)s.", v=", ".join(METRICS))]
    if group not in GROUPS:
        errors["group"] = [_("Choose one of: %(v)s.", v=", ".join(GROUPS))]
    if not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = [_("From 1 to %(n)d.", n=MAX_LIMIT)]
    if errors:
        raise ValidationFailed(errors=errors)


def _in_scope(scope: OrgUnit):
    """Aggregate rows of members living in the scope, by the column its index covers."""
    if scope.kind == "community":
        return ServiceStat.community_id == scope.id
    if scope.kind == "grid":
        return ServiceStat.grid_id == scope.id
    return ServiceStat.org_unit_id.in_(access.subtree_ids(scope))


def leaderboard(*, scope: OrgUnit, period: str = "month", metric: str = "hours",
                group: str = "member", limit: int = DEFAULT_LIMIT,
                day: date | None = None) -> Board:
    """The top `limit` of a subtree in the period holding `day` (default today).

    Ties share a rank (1, 1, 3). Member names are masked, and members who opted out of
    public boards are left out; their hours still count for their grid and team.
    """
    _check(period, metric, group, limit)
    day = day or today()
    starts_on, ends_on = stats.period_bounds(period, day)
    value = ServiceStat.hours_minor if metric == "hours" else ServiceStat.points_minor
    in_period = (ServiceStat.period == period,
                 ServiceStat.period_start == stats.period_start(period, day))
    subtree = access.subtree_ids(scope)
    labelled = scope.kind == "street" or scope.parent_id is None
    if group == "member":
        rank = func.rank().over(order_by=value.desc())
        query = (
            select(User.id, User.display_name, value, rank)
            .join(User, User.id == ServiceStat.member_id)
            .where(*in_period, _in_scope(scope), User.is_on_boards,
                   User.is_active, value > 0)
            .order_by(value.desc(), User.display_name, User.id)
        )
        rows = db.session.execute(query.limit(limit)).all()
        entries = [Entry(rank=r, name=mask_name(name), value=from_minor(v), key=member_id,
                         is_member=True) for member_id, name, v, r in rows]
    elif group == "grid":
        total = func.sum(value)
        parent = aliased(OrgUnit)
        query = (
            select(OrgUnit.id, OrgUnit.name, parent.name, total,
                   func.rank().over(order_by=total.desc()))
            .select_from(ServiceStat)
            .join(OrgUnit, OrgUnit.id == ServiceStat.grid_id)
            .join(parent, parent.id == OrgUnit.parent_id)
            .where(*in_period, ServiceStat.grid_id.in_(subtree))
            .group_by(OrgUnit.id, OrgUnit.name, parent.name)
            .having(total > 0)
            .order_by(total.desc(), OrgUnit.name, OrgUnit.id)
        )
        rows = db.session.execute(query.limit(limit)).all()
        entries = [Entry(rank=r, name=f"{above} {name}" if labelled else name,
                         value=from_minor(v), key=grid_id)
                   for grid_id, name, above, v, r in rows]
    else:
        total = func.sum(value)
        unit = aliased(OrgUnit)
        query = (
            select(VolunteerTeam.id, VolunteerTeam.name, unit.name, total,
                   func.rank().over(order_by=total.desc()))
            .select_from(TeamMembership)
            .join(VolunteerTeam, VolunteerTeam.id == TeamMembership.team_id)
            .join(unit, unit.id == VolunteerTeam.org_unit_id)
            .join(ServiceStat, ServiceStat.member_id == TeamMembership.member_id)
            .where(*in_period, VolunteerTeam.org_unit_id.in_(subtree))
            .group_by(VolunteerTeam.id, VolunteerTeam.name, unit.name)
            .having(total > 0)
            .order_by(total.desc(), VolunteerTeam.name, VolunteerTeam.id)
        )
        rows = db.session.execute(query.limit(limit)).all()
        entries = [Entry(rank=r, name=f"{above} {name}" if labelled else name,
                         value=from_minor(v), key=team_id)
                   for team_id, name, above, v, r in rows]
    return Board(scope=scope, period=period, metric=metric, group=group, starts_on=starts_on,
                 ends_on=ends_on, entries=entries)


SCOPE_KINDS = ("street", "community", "grid")


def scope_choices(user: User) -> list[tuple[OrgUnit, str]]:
    """Units whose board the user is offered: staff their reach; others the street above,
    their community and its grids."""
    from timebank.services import users

    if access.is_staff(user):
        choices = users.units_in_reach(user, kinds=SCOPE_KINDS)
    else:
        community = org.community_of(user.org_unit)
        choices = []
        street = community.parent
        if street is not None and street.kind == "street":
            choices.append((street, street.name))
        choices.append((community, community.name))
        for unit in db.session.scalars(org.units_query(community.id)):
            if unit.kind == "grid":
                choices.append((unit, f"{community.name} / {unit.name}"))
    default = default_scope(user)
    if all(unit.id != default.id for unit, _label in choices):
        choices.insert(0, (default, default.name))
    return choices


def public_communities() -> list[tuple[OrgUnit | None, list[OrgUnit]]]:
    """Communities with a public board, grouped under their street (None: at the top)."""
    communities = list(db.session.scalars(
        select(OrgUnit).where(OrgUnit.kind == "community").order_by(OrgUnit.path)))
    streets = {u.id: u for u in db.session.scalars(
        select(OrgUnit).where(OrgUnit.id.in_({c.parent_id for c in communities
                                              if c.parent_id is not None})))}
    groups: dict[int | None, list[OrgUnit]] = {}
    for community in communities:
        groups.setdefault(community.parent_id, []).append(community)
    return [(streets.get(parent_id), members) for parent_id, members in
            sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or 0))]


def public_unit(unit_id: int) -> OrgUnit:
    """A community whose public board may be shown; anything else is not found."""
    unit = db.session.get(OrgUnit, unit_id)
    if unit is None or unit.kind != "community":
        raise NotFound(_("No such community."))
    return unit


@dataclass(frozen=True)
class Totals:
    hours: Decimal
    active_members: int
    records: int


def period_totals(scope: OrgUnit, period: str = "month", day: date | None = None) -> Totals:
    """Hours, active members and records of a subtree in a period, from the aggregates."""
    day = day or today()
    hours, active, records = db.session.execute(
        select(func.coalesce(func.sum(ServiceStat.hours_minor), 0),
               func.count(ServiceStat.id),
               func.coalesce(func.sum(ServiceStat.records), 0))
        .where(ServiceStat.period == period,
               ServiceStat.period_start == stats.period_start(period, day),
               _in_scope(scope), ServiceStat.hours_minor > 0)
    ).one()
    return Totals(hours=from_minor(int(hours)), active_members=active, records=int(records))


@dataclass(frozen=True)
class StarNews:
    name: str
    level: int
    reached_at: object


def recent_stars(scope: OrgUnit, limit: int = 5) -> list[StarNews]:
    """Members of the subtree who most recently reached a star level (masked, opted-in)."""
    rows = db.session.execute(
        select(User.display_name, StarAward.level, StarAward.reached_at)
        .join(User, User.id == StarAward.member_id)
        .where(StarAward.org_unit_id.in_(access.subtree_ids(scope)), User.is_on_boards,
               User.is_active)
        .order_by(StarAward.reached_at.desc(), StarAward.id.desc())
        .limit(limit)
    ).all()
    return [StarNews(name=mask_name(name), level=level, reached_at=at) for name, level, at in rows]


def set_on_boards(member: User, *, shown: bool) -> None:
    """A member's own choice to appear on public boards by (masked) name or not."""
    tx.begin_write()
    member.is_on_boards = bool(shown)
    audit.record(member, "member.boards_choice", "user", member.id,
                 org_unit_id=member.org_unit_id, on_boards=bool(shown))
    tx.commit()
