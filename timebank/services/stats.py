"""Hours aggregates per member and period, kept in the transaction that approves hours.

Leaderboards, the red flag and star levels read these rows, never the raw records, so their
cost follows the number of members in a board, not the number of records ever approved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from timebank.extensions import db
from timebank.models import OrgUnit, ServiceRecord, ServiceStat, StarAward, User
from timebank.models.recognition import ALL_TIME_START, STAT_PERIODS
from timebank.services import tx
from timebank.timeutil import local_date

# Approved hours (in hundredths) for 1★ … 5★ (星级志愿者: 100/300/600/1000/1500 hours).
STAR_THRESHOLDS_MINOR = (10000, 30000, 60000, 100000, 150000)


def period_start(period: str, day: date) -> date:
    """The first day of the week (Monday), month, year or all time that holds `day`."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    if period == "all":
        return ALL_TIME_START
    raise ValueError(period)


def period_bounds(period: str, day: date) -> tuple[date | None, date | None]:
    """First and last day (inclusive) of the period holding `day`; (None, None) for all time."""
    start = period_start(period, day)
    if period == "week":
        return start, start + timedelta(days=6)
    if period == "month":
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        return start, following - timedelta(days=1)
    if period == "year":
        return start, start.replace(month=12, day=31)
    return None, None


def level_for(hours_minor: int) -> int:
    return sum(1 for threshold in STAR_THRESHOLDS_MINOR if hours_minor >= threshold)


def unit_placing(unit: OrgUnit) -> dict[str, int | None]:
    """The unit with the grid and the community above or at it."""
    ids = unit.ancestor_ids()
    kinds = dict(db.session.execute(
        select(OrgUnit.id, OrgUnit.kind).where(OrgUnit.id.in_(ids))).all())
    placing: dict[str, int | None] = {"org_unit_id": unit.id, "grid_id": None,
                                      "community_id": None}
    for unit_id in ids:
        if kinds.get(unit_id) == "grid":
            placing["grid_id"] = unit_id
        elif kinds.get(unit_id) == "community":
            placing["community_id"] = unit_id
    return placing


def _upsert():
    """INSERT … ON CONFLICT (member, period, start) DO UPDATE adding to the totals; run with
    many rows at once (executemany)."""
    dialect = postgresql if not tx.is_sqlite() else sqlite
    stmt = dialect.insert(ServiceStat)
    return stmt.on_conflict_do_update(
        index_elements=["member_id", "period", "period_start"],
        set_={
            "hours_minor": ServiceStat.hours_minor + stmt.excluded.hours_minor,
            "points_minor": ServiceStat.points_minor + stmt.excluded.points_minor,
            "records": ServiceStat.records + stmt.excluded.records,
            "org_unit_id": stmt.excluded.org_unit_id,
            "grid_id": stmt.excluded.grid_id,
            "community_id": stmt.excluded.community_id,
        },
    )


def add_approved_many(approved: Sequence[tuple[ServiceRecord, int]]) -> dict[int, list[int]]:
    """Add approved records to their members' week, month, year and all-time rows (summed
    per member and period, one executemany upsert), and note the star levels they make
    members reach (flush only). Returns the levels reached, by member."""
    placings: dict[int, dict[str, int | None]] = {}
    members: dict[int, User] = {}
    deltas: dict[tuple[int, str, date], list[int]] = {}
    added_hours: dict[int, int] = defaultdict(int)
    for record, points_minor in approved:
        member = record.member
        members[member.id] = member
        if member.org_unit_id not in placings:
            placings[member.org_unit_id] = unit_placing(member.org_unit)
        day = local_date(record.started_at)
        for period in STAT_PERIODS:
            total = deltas.setdefault((member.id, period, period_start(period, day)), [0, 0, 0])
            total[0] += record.hours_minor
            total[1] += points_minor
            total[2] += 1
        added_hours[member.id] += record.hours_minor
    rows = [{"member_id": member_id, "period": period, "period_start": start,
             **placings[members[member_id].org_unit_id], "hours_minor": hours,
             "points_minor": points, "records": count}
            for (member_id, period, start), (hours, points, count) in deltas.items()]
    db.session.execute(_upsert(), rows)
    all_time_after: dict[int, int] = {}
    member_ids = sorted(members)
    for offset in range(0, len(member_ids), 1000):
        all_time_after.update(db.session.execute(
            select(ServiceStat.member_id, ServiceStat.hours_minor)
            .where(ServiceStat.period == "all",
                   ServiceStat.member_id.in_(member_ids[offset:offset + 1000]))).all())
    reached: dict[int, list[int]] = {}
    for member_id, total_after in all_time_after.items():
        before = level_for(total_after - added_hours[member_id])
        levels = list(range(before + 1, level_for(total_after) + 1))
        for level in levels:
            _note_star(members[member_id], level)
        if levels:
            reached[member_id] = levels
    return reached


def _note_star(member: User, level: int) -> None:
    dialect = postgresql if not tx.is_sqlite() else sqlite
    db.session.execute(
        dialect.insert(StarAward)
        .values(member_id=member.id, level=level, org_unit_id=member.org_unit_id)
        .on_conflict_do_nothing(index_elements=["member_id", "level"])
    )


def all_time(member_id: int) -> tuple[int, int, int]:
    """(hours, points, records) in minor units approved for the member, from the aggregate."""
    row = db.session.execute(
        select(ServiceStat.hours_minor, ServiceStat.points_minor, ServiceStat.records)
        .where(ServiceStat.member_id == member_id, ServiceStat.period == "all")
    ).first()
    return tuple(row) if row else (0, 0, 0)


# --- rebuilding and checking -----------------------------------------------------------


def _from_records() -> dict[tuple[int, str, date], list[int]]:
    totals: dict[tuple[int, str, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    rows = db.session.execute(
        select(ServiceRecord.member_id, ServiceRecord.started_at, ServiceRecord.hours_minor,
               func.coalesce(ServiceRecord.points_awarded_minor, 0))
        .where(ServiceRecord.status == "approved")
        .execution_options(yield_per=5000)
    )
    for member_id, started_at, hours, points in rows:
        day = local_date(started_at)
        for period in STAT_PERIODS:
            total = totals[(member_id, period, period_start(period, day))]
            total[0] += hours
            total[1] += points
            total[2] += 1
    return totals


@dataclass
class Drift:
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check() -> Drift:
    """Compare every aggregate row with the sums of the approved records it stands for."""
    expected = _from_records()
    found = {
        (row.member_id, row.period, row.period_start): [row.hours_minor, row.points_minor,
                                                        row.records]
        for row in db.session.scalars(select(ServiceStat).execution_options(yield_per=5000))
    }
    problems = []
    for key in sorted(set(expected) | set(found), key=lambda k: (k[0], k[1], k[2])):
        want, have = expected.get(key, [0, 0, 0]), found.get(key, [0, 0, 0])
        if want != have:
            problems.append(f"member {key[0]} {key[1]} {key[2]}: aggregate {have}, records {want}")
    return Drift(checked=len(found), problems=problems)


def rebuild() -> int:
    """Recompute every aggregate row from the approved records; returns the rows written."""
    tx.begin_write()
    if not tx.is_sqlite():  # approvals wait until the rows are rebuilt (SQLite: write lock)
        db.session.execute(text("LOCK TABLE service_stat IN EXCLUSIVE MODE"))
    totals = _from_records()
    db.session.execute(delete(ServiceStat))
    placings: dict[int, dict] = {}
    units = {u.id: u for u in db.session.scalars(select(OrgUnit))}
    homes = dict(db.session.execute(select(User.id, User.org_unit_id)).all())
    rows = []
    for (member_id, period, start), (hours, points, count) in totals.items():
        home = homes[member_id]
        if home not in placings:
            placings[home] = unit_placing(units[home])
        rows.append({"member_id": member_id, "period": period, "period_start": start,
                     **placings[home], "hours_minor": hours, "points_minor": points,
                     "records": count})
    for offset in range(0, len(rows), 5000):
        db.session.execute(insert(ServiceStat), rows[offset:offset + 5000])
    tx.commit()
    return len(rows)
