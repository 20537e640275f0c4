"""Expiring points, as each community's policy says.

Every credit to a member's account (earned, given) is a lot that lasts until the expiry day
the policy in force on the day of the credit gives it (or for ever). The points spent so far
are taken from the lots that expire soonest. A credit that reverses a debit (a cancelled shop
order, a refunded redemption) is no new lot: with the debit it undoes, it is as if neither
happened, so the points come back into the lots they were taken from (otherwise ordering and
cancelling would renew points about to expire, again and again). As of a day T, what a member
holds beyond the lots still valid on T has expired:

    due(T) = max(0, balance − Σ lots valid on T)

Posting `due` leaves exactly the valid lots, so running again for the same day (or an earlier
one) finds nothing: the command is idempotent by construction, and the idempotency key of
each expiry transaction (`expiry:<account>:<day>`) guards against a second posting.

The policy is read for the member's present community, from its dated versions, so a change
of policy never re-rules points earned before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from timebank.errors import ValidationFailed
from timebank.extensions import db
from timebank.models import Account, LedgerTransaction, OrgUnit, Posting, User
from timebank.services import ledger, org, policy, tx
from timebank.timeutil import local_date, today

KIND = "expiry"


@dataclass(frozen=True)
class Lot:
    earned_on: date
    amount_minor: int
    last_day: date | None  # the last day it can be spent; None: never expires


@dataclass(frozen=True)
class Upcoming:
    last_day: date
    amount_minor: int


@dataclass
class RunResult:
    as_of: date
    members: int = 0
    points_minor: int = 0
    checked: int = 0


class _Rules:
    """Policy versions per unit path, loaded once per path."""

    def __init__(self) -> None:
        self._paths: dict[int, list[int]] = {}
        self._versions: dict[int, list[policy.Rules]] = {}

    def expiry(self, unit: OrgUnit, day: date) -> date | None:
        path = self._paths.get(unit.id)
        if path is None:
            path = self._paths[unit.id] = unit.ancestor_ids()
            missing = [i for i in path if i not in self._versions]
            if missing:
                self._versions.update(policy.history(missing))
        return policy.rules_on(path, self._versions, day).expires_on(day)


def lots(account: Account, unit: OrgUnit, rules: _Rules | None = None) -> list[Lot]:
    """The member's credits with their last day, oldest first."""
    rules = rules or _Rules()
    found: list[Lot] = []
    for amount, created_at in db.session.execute(
            select(Posting.amount_minor, LedgerTransaction.created_at)
            .join(LedgerTransaction, Posting.transaction_id == LedgerTransaction.id)
            .where(Posting.account_id == account.id, Posting.amount_minor > 0,
                   LedgerTransaction.reverses_id.is_(None))
            .order_by(Posting.id)):
        day = local_date(created_at)
        found.append(Lot(day, amount, rules.expiry(unit, day)))
    return found


def due(balance_minor: int, member_lots: list[Lot], as_of: date) -> int:
    """What has expired by the start of `as_of` and is still in the balance."""
    valid = sum(lot.amount_minor for lot in member_lots
                if lot.last_day is None or lot.last_day >= as_of)
    return max(0, balance_minor - valid)


def upcoming(member: User, *, limit: int = 12) -> list[Upcoming]:
    """What will expire and when, for the member's own page (soonest first)."""
    account = ledger.member_account(member.id)
    balance = account.balance_minor
    if balance <= 0:
        return []
    member_lots = lots(account, member.org_unit)
    start = today()
    already = due(balance, member_lots, start)  # expired, waiting for the next run
    days = sorted({lot.last_day for lot in member_lots
                   if lot.last_day is not None and lot.last_day >= start})
    schedule: list[Upcoming] = []
    if already:
        schedule.append(Upcoming(start - timedelta(days=1), already))
    before = already
    for last_day in days:
        total = due(balance, member_lots, last_day + timedelta(days=1))
        if total > before:
            schedule.append(Upcoming(last_day, total - before))
            before = total
        if len(schedule) >= limit:
            break
    return schedule


def _member_accounts() -> Iterator[int]:
    last = 0
    while True:
        ids = db.session.scalars(
            select(Account.id).where(Account.kind == "member", Account.id > last,
                                     Account.balance_minor > 0)
            .order_by(Account.id).limit(500)).all()
        if not ids:
            return
        yield from ids
        last = ids[-1]


def expire(as_of: date, *, dry_run: bool = False) -> RunResult:
    """Post an expiry transaction for every member with expired points as of `as_of`.

    One transaction per member, so a long run can stop and start again without harm.
    """
    if as_of > today():
        raise ValidationFailed(_("Points cannot be expired ahead of time."))
    result = RunResult(as_of)
    rules = _Rules()
    for account_id in list(_member_accounts()):
        result.checked += 1
        amount = _expire_one(account_id, as_of, rules, dry_run=dry_run)
        if amount:
            result.members += 1
            result.points_minor += amount
    return result


def _expire_one(account_id: int, as_of: date, rules: _Rules, *, dry_run: bool) -> int:
    tx.begin_write()
    account = db.session.scalar(
        select(Account).where(Account.id == account_id).with_for_update()
        .execution_options(populate_existing=True))
    key = f"{KIND}:{account.id}:{as_of.isoformat()}"
    member = db.session.get(User, account.user_id)
    amount = due(account.balance_minor, lots(account, member.org_unit, rules), as_of)
    done = db.session.scalar(
        select(LedgerTransaction.id).where(LedgerTransaction.idempotency_key == key))
    if amount <= 0 or done is not None or dry_run:
        db.session.rollback()
        return 0 if done is not None else amount
    ledger.post(
        KIND, [(account, -amount), (org.community_account(member.org_unit, "expiry"), amount)],
        actor=None, key=key, memo=f"points earned before the policy's last day, as of {as_of}")
    tx.commit()
    return amount
