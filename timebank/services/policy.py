"""Points policies: dated versions set by staff for a street or community, inherited below.

A version is in force from its `effective_from` until the unit's next version. A unit without
versions of its own follows the nearest unit above it that has one in force; with none at
all, the defaults apply (category rates, no daily cap, no giving, points never expire).
Versions start today or later, so what a member has already earned is never re-ruled.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from timebank.errors import NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import (
    CategoryRate,
    OrgUnit,
    PointsPolicy,
    PolicyRate,
    ServiceCategory,
    User,
)
from timebank.models.base import utcnow
from timebank.models.policy import EXPIRY_MODES, TRANSFER_MODES
from timebank.services import access, audit, categories, org, tx
from timebank.timeutil import today

POLICY_KINDS = ("street", "community")
MAX_CAP_MINOR = 2400  # a day has 24 hours
MAX_LIMIT_MINOR = 10**12
MAX_RATE_MINOR = 10**8
MAX_MONTHS = 120
NOTE_LIMIT = 500


@dataclass(frozen=True)
class Rules:
    """The policy in force for a unit on a day. `set_at_unit_id` None: the defaults."""

    daily_hours_cap_minor: int | None = None
    transfer_mode: str = "off"
    per_transfer_limit_minor: int = 10000
    monthly_transfer_limit_minor: int = 30000
    expiry_mode: str = "never"
    expiry_months: int | None = None
    rates: dict[int, int] = field(default_factory=dict)  # category id → points/hour (minor)
    effective_from: date | None = None
    set_at_unit_id: int | None = None
    policy_id: int | None = None

    def expires_on(self, earned_on: date) -> date | None:
        """The last day points earned on `earned_on` can be spent; None: they never expire."""
        return expiry_date(self.expiry_mode, self.expiry_months, earned_on)


DEFAULT = Rules()


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_date(mode: str, months: int | None, earned_on: date) -> date | None:
    if mode == "end_of_next_year":
        return date(earned_on.year + 1, 12, 31)
    if mode == "rolling" and months:
        return add_months(earned_on, months) - timedelta(days=1)
    return None


def _rules(row: PointsPolicy) -> Rules:
    return Rules(
        daily_hours_cap_minor=row.daily_hours_cap_minor,
        transfer_mode=row.transfer_mode,
        per_transfer_limit_minor=row.per_transfer_limit_minor,
        monthly_transfer_limit_minor=row.monthly_transfer_limit_minor,
        expiry_mode=row.expiry_mode,
        expiry_months=row.expiry_months,
        rates={r.category_id: r.points_per_hour_minor for r in row.rates},
        effective_from=row.effective_from,
        set_at_unit_id=row.org_unit_id,
        policy_id=row.id,
    )


def in_force(unit: OrgUnit, day: date | None = None) -> Rules:
    """The rules for `unit` on `day` (default today): its own, or the nearest above it."""
    day = day or today()
    ids = unit.ancestor_ids()
    rows = db.session.scalars(
        select(PointsPolicy)
        .where(PointsPolicy.org_unit_id.in_(ids), PointsPolicy.effective_from <= day)
        .order_by(PointsPolicy.effective_from.desc())
        .execution_options(populate_existing=True)
    ).all()
    latest: dict[int, PointsPolicy] = {}
    for row in rows:
        latest.setdefault(row.org_unit_id, row)
    for unit_id in reversed(ids):
        if unit_id in latest:
            return _rules(latest[unit_id])
    return DEFAULT


def history(unit_ids: list[int]) -> dict[int, list[Rules]]:
    """Every version of these units, oldest first (for applying rules to past dates)."""
    found: dict[int, list[Rules]] = {unit_id: [] for unit_id in unit_ids}
    for row in db.session.scalars(
            select(PointsPolicy).where(PointsPolicy.org_unit_id.in_(unit_ids))
            .order_by(PointsPolicy.effective_from)):
        found[row.org_unit_id].append(_rules(row))
    return found


def rules_on(path_ids: list[int], versions: dict[int, list[Rules]], day: date) -> Rules:
    """`in_force` over versions already loaded with `history` (no query)."""
    for unit_id in reversed(path_ids):
        chosen = None
        for rules in versions.get(unit_id, ()):
            if rules.effective_from <= day:
                chosen = rules
            else:
                break
        if chosen is not None:
            return chosen
    return DEFAULT


def rate_for(unit: OrgUnit, category: ServiceCategory, day: date) -> int:
    """Points per hour for a category in a unit on a day: the policy's rate, else the
    category's own dated rate."""
    rules = in_force(unit, day)
    if category.id in rules.rates:
        return rules.rates[category.id]
    return categories.rate_on(category, day)


class RateBook:
    """`rate_for` over many records in two queries: every policy version of the units and
    above them, and every category rate, each loaded once."""

    def __init__(self, units: Iterable[OrgUnit]):
        self._paths = {unit.id: unit.ancestor_ids() for unit in units}
        self._versions = history(sorted({i for path in self._paths.values() for i in path}))
        self._category_rates: dict[int, list[tuple[date, int]]] = {}
        for category_id, starts, rate in db.session.execute(
                select(CategoryRate.category_id, CategoryRate.effective_from,
                       CategoryRate.points_per_hour_minor)
                .order_by(CategoryRate.effective_from)):
            self._category_rates.setdefault(category_id, []).append((starts, rate))

    def rate(self, unit_id: int, category_id: int, day: date) -> int:
        rules = rules_on(self._paths[unit_id], self._versions, day)
        if category_id in rules.rates:
            return rules.rates[category_id]
        chosen = None
        for starts, rate in self._category_rates.get(category_id, ()):
            if starts > day:
                break
            chosen = rate
        if chosen is None:
            raise ValidationFailed(_("This category has no rate for that date."))
        return chosen


def versions_of(actor: User, unit_id: int) -> tuple[OrgUnit, list[PointsPolicy]]:
    """A unit's own versions, newest first, for staff in reach and the people it covers."""
    unit = visible_unit(actor, unit_id)
    rows = db.session.scalars(
        select(PointsPolicy).where(PointsPolicy.org_unit_id == unit.id)
        .order_by(PointsPolicy.effective_from.desc())).all()
    return unit, list(rows)


def visible_unit(actor: User, unit_id: int) -> OrgUnit:
    """Staff in reach see any unit's policy; members see the policy of their own community."""
    try:
        unit = org.get_unit(unit_id)
    except NotFound:
        raise
    if access.reaches(actor, unit) or unit.contains(actor.org_unit) \
            or org.community_of(actor.org_unit).contains(unit):
        return unit
    raise NotFound(_("No such unit."))


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def set_version(*, actor: User, org_unit_id: int, effective_from: date,
                transfer_mode: str, per_transfer_limit_minor: int,
                monthly_transfer_limit_minor: int, expiry_mode: str,
                expiry_months: int | None = None, daily_hours_cap_minor: int | None = None,
                rates: dict[str, int] | None = None, note: str = "") -> PointsPolicy:
    """Staff set the version of a street's or community's policy starting on a day.

    The day is today or later; setting the same day again replaces that version.
    `rates` maps category codes to points per hour (minor units).
    """
    tx.begin_write()
    access.require_staff(actor)
    unit = org.get_unit(org_unit_id)
    access.require_reach(actor, unit)
    errors: dict[str, list[str]] = {}
    if unit.kind not in POLICY_KINDS:
        errors["org_unit_id"] = [_("A policy is set for a community or a street.")]
    if not isinstance(effective_from, date):
        errors["effective_from"] = [_("Give the first day the policy applies.")]
    elif effective_from < today():
        errors["effective_from"] = [_("A policy cannot start in the past.")]
    elif categories.too_far_ahead(effective_from):
        errors["effective_from"] = [_("Choose a day within ten years.")]
    if transfer_mode not in TRANSFER_MODES:
        errors["transfer_mode"] = [_("Choose one of: %(modes)s.",
                                     modes=", ".join(TRANSFER_MODES))]
    for name, value in (("per_transfer_limit", per_transfer_limit_minor),
                        ("monthly_transfer_limit", monthly_transfer_limit_minor)):
        if not _int(value) or value <= 0:
            errors[name] = [_("Must be more than zero.")]
        elif value > MAX_LIMIT_MINOR:
            errors[name] = [_("This number is too large.")]
    if "per_transfer_limit" not in errors and "monthly_transfer_limit" not in errors \
            and per_transfer_limit_minor > monthly_transfer_limit_minor:
        errors["per_transfer_limit"] = [_("Cannot be more than the monthly limit.")]
    if expiry_mode not in EXPIRY_MODES:
        errors["expiry_mode"] = [_("Choose one of: %(modes)s.", modes=", ".join(EXPIRY_MODES))]
    elif expiry_mode == "rolling":
        if not _int(expiry_months) or not 1 <= expiry_months <= MAX_MONTHS:
            errors["expiry_months"] = [_("Give a number of months from 1 to %(max)d.",
                                         max=MAX_MONTHS)]
    else:
        expiry_months = None
    if daily_hours_cap_minor is not None and (
            not _int(daily_hours_cap_minor) or not 0 < daily_hours_cap_minor <= MAX_CAP_MINOR):
        errors["daily_hours_cap"] = [_("Give a number of hours from 0.01 to 24.")]
    note = (note or "").strip()
    if len(note) > NOTE_LIMIT:
        errors["note"] = [_("At most %(n)d characters.", n=NOTE_LIMIT)]
    by_code = {c.code: c for c in categories.all_categories()}
    rate_rows: dict[int, int] = {}
    for code, value in (rates or {}).items():
        if code not in by_code:
            errors.setdefault("rates", []).append(
                _("Unknown category: %(code)s.", code=str(code)[:32]))
        elif not _int(value) or not 0 <= value <= MAX_RATE_MINOR:
            errors.setdefault("rates", []).append(
                _("The rate for %(code)s must be zero or more.", code=code))
        else:
            rate_rows[by_code[code].id] = value
    if errors:
        raise ValidationFailed(errors=errors)
    before = in_force(unit, effective_from)
    # INSERT … ON CONFLICT DO NOTHING, then lock: two staff setting the same day at once
    # end with one version, the later one's values.
    dialect = sqlite if tx.is_sqlite() else postgresql
    db.session.execute(
        dialect.insert(PointsPolicy)
        .values(org_unit_id=unit.id, effective_from=effective_from,
                transfer_mode=transfer_mode, per_transfer_limit_minor=per_transfer_limit_minor,
                monthly_transfer_limit_minor=monthly_transfer_limit_minor,
                expiry_mode=expiry_mode, expiry_months=expiry_months, note=note,
                created_by_id=actor.id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["org_unit_id", "effective_from"]))
    row = db.session.scalar(
        select(PointsPolicy).where(PointsPolicy.org_unit_id == unit.id,
                                   PointsPolicy.effective_from == effective_from)
        .with_for_update(of=PointsPolicy).execution_options(populate_existing=True))
    row.transfer_mode = transfer_mode
    row.per_transfer_limit_minor = per_transfer_limit_minor
    row.monthly_transfer_limit_minor = monthly_transfer_limit_minor
    row.expiry_mode = expiry_mode
    row.expiry_months = expiry_months
    row.daily_hours_cap_minor = daily_hours_cap_minor
    row.note = note
    row.created_by_id = actor.id
    db.session.flush()
    db.session.execute(delete(PolicyRate).where(PolicyRate.policy_id == row.id))
    db.session.add_all(PolicyRate(policy_id=row.id, category_id=cid, points_per_hour_minor=v)
                       for cid, v in sorted(rate_rows.items()))
    db.session.flush()
    db.session.expire(row)
    audit.record(actor, "points_policy.set", "org_unit", unit.id, org_unit_id=unit.id,
                 effective_from=effective_from.isoformat(), transfer_mode=transfer_mode,
                 per_transfer_limit_minor=per_transfer_limit_minor,
                 monthly_transfer_limit_minor=monthly_transfer_limit_minor,
                 expiry_mode=expiry_mode, expiry_months=expiry_months,
                 daily_hours_cap_minor=daily_hours_cap_minor,
                 rates={code: rates[code] for code in sorted(rates or {})} or None,
                 previous_transfer_mode=before.transfer_mode,
                 previous_expiry_mode=before.expiry_mode)
    tx.commit()
    return row


def set_transfers(*, actor: User, org_unit_id: int, mode: str, per_transfer_limit_minor: int,
                  monthly_limit_minor: int) -> PointsPolicy:
    """Change only the giving rule, from today on, keeping the rest of the policy in force."""
    tx.begin_write()  # read what is kept inside the same write transaction
    unit = org.get_unit(org_unit_id)
    current = in_force(unit)
    codes = {c.id: c.code for c in categories.all_categories()}
    return set_version(
        actor=actor, org_unit_id=org_unit_id, effective_from=today(), transfer_mode=mode,
        per_transfer_limit_minor=per_transfer_limit_minor,
        monthly_transfer_limit_minor=monthly_limit_minor,
        expiry_mode=current.expiry_mode, expiry_months=current.expiry_months,
        daily_hours_cap_minor=current.daily_hours_cap_minor,
        rates={codes[cid]: v for cid, v in current.rates.items() if cid in codes})
