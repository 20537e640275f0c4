"""The till over real HTTP, and what must hold of the ledger after any fault.

A till round is the flow of the shop counter: the member asks for a code, the merchant redeems
it with an Idempotency-Key. Every round is recorded with what the client saw, so that a test
can compare what was acknowledged with what the database holds.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass

from sqlalchemy import func, select

from tests.factories import Person
from tests.live_server import Reply, call
from timebank.extensions import db
from timebank.models import (
    Account,
    IdempotentRequest,
    LedgerTransaction,
    Posting,
    Redemption,
    RedemptionCode,
)
from timebank.services import ledger

# No answer within this is a hang: every request must be answered well before it.
REQUEST_TIMEOUT = 20.0


@dataclass
class Round:
    """One till round as the client saw it. `error` is set when a request got no answer
    (refused, reset, closed); `stage` says which request that was."""

    member_id: int
    key: str
    code: str | None = None
    stage: str = "code"
    status: int | None = None
    body: dict | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def acknowledged(self) -> bool:
        return self.stage == "redeem" and self.status == 201

    @property
    def cut(self) -> bool:
        """No answer, or a server error: the client cannot know whether it went through."""
        return self.error is not None or (self.status or 0) >= 500


def _problem_code(reply: Reply) -> str | None:
    if reply.content_type.startswith("application/problem+json"):
        return reply.json().get("code")
    return None


def till_round(base: str, member: Person, merchant: Person, offer_id: int, key: str,
               code: str | None = None) -> Round:
    """A code for `member` (unless one is given), then its redemption for `offer_id`."""
    attempt = Round(member_id=member.id, key=key, code=code)
    try:
        if code is None:
            reply = call(base, "POST", "/api/v1/redemption-codes", headers=member.auth,
                         timeout=REQUEST_TIMEOUT)
            attempt.status, attempt.seconds = reply.status, reply.seconds
            if reply.status != 201:
                attempt.body = {"code": _problem_code(reply)}
                return attempt
            attempt.code = reply.json()["code"]
        attempt.stage = "redeem"
        reply = call(base, "POST", "/api/v1/redemptions",
                     headers={**merchant.auth, "Idempotency-Key": key},
                     json_body={"code": attempt.code, "offer_id": offer_id},
                     timeout=REQUEST_TIMEOUT)
        attempt.status, attempt.seconds = reply.status, reply.seconds
        attempt.body = reply.json() if reply.status == 201 else {"code": _problem_code(reply)}
    except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
        attempt.status = None
        attempt.error = f"{type(exc).__name__}: {exc}"
    return attempt


# --- what must hold after any fault ------------------------------------------------------


def assert_nothing_half_done() -> None:
    """Every ledger transaction balanced and complete, every redemption with its transaction
    and every redemption transaction with its redemption, every used code redeemed once,
    every claimed Idempotency-Key with its answer, every balance the sum of its postings, and
    `ledger verify` clean."""
    session = db.session
    unbalanced = session.execute(
        select(LedgerTransaction.id, func.count(Posting.id), func.sum(Posting.amount_minor))
        .outerjoin(Posting, Posting.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id)
        .having((func.count(Posting.id) < 2) | (func.sum(Posting.amount_minor) != 0))).all()
    assert unbalanced == []
    orphans = session.scalars(
        select(Posting.id).outerjoin(LedgerTransaction,
                                     Posting.transaction_id == LedgerTransaction.id)
        .where(LedgerTransaction.id.is_(None))).all()
    assert orphans == []

    redemptions = session.execute(
        select(Redemption.id, Redemption.points_minor, LedgerTransaction.kind,
               LedgerTransaction.redemption_id)
        .outerjoin(LedgerTransaction, Redemption.transaction_id == LedgerTransaction.id)).all()
    assert [r for r in redemptions if (r.kind, r.redemption_id) != ("redemption", r.id)] == []
    without_redemption = session.scalars(
        select(LedgerTransaction.id).outerjoin(
            Redemption, Redemption.id == LedgerTransaction.redemption_id)
        .where(LedgerTransaction.kind == "redemption", Redemption.id.is_(None))).all()
    assert without_redemption == []
    used = session.scalar(select(func.count(RedemptionCode.id)).where(RedemptionCode.is_used))
    assert used == len(redemptions)

    unanswered = session.scalars(
        select(IdempotentRequest.key).where(IdempotentRequest.status_code.is_(None))).all()
    assert unanswered == []

    sums = dict(session.execute(
        select(Posting.account_id, func.sum(Posting.amount_minor))
        .group_by(Posting.account_id)).all())
    balances = dict(session.execute(select(Account.id, Account.balance_minor)).all())
    assert {k: v for k, v in balances.items() if v != sums.get(k, 0)} == {}

    report = ledger.verify()
    assert report.ok, report.problems
    session.rollback()


def assert_acknowledged_kept(rounds: list[Round]) -> None:
    """Every acknowledged redemption is in the database as it was answered, and every
    redemption in the database was acknowledged (once every cut round was retried)."""
    acknowledged = {r.body["id"]: r for r in rounds if r.acknowledged}
    assert len(acknowledged) == sum(r.acknowledged for r in rounds), "an id answered twice"
    stored = {row.id: row for row in db.session.execute(
        select(Redemption.id, Redemption.member_id, Redemption.points_minor,
               RedemptionCode.code)
        .join(RedemptionCode, RedemptionCode.id == Redemption.code_id)).all()}
    missing = sorted(set(acknowledged) - set(stored))
    assert missing == [], f"acknowledged but not stored: {missing}"
    unacknowledged = sorted(set(stored) - set(acknowledged))
    assert unacknowledged == [], f"stored but never acknowledged: {unacknowledged}"
    for rid, attempt in acknowledged.items():
        row = stored[rid]
        assert (row.member_id, row.code) == (attempt.member_id, attempt.code)
    db.session.rollback()


def assert_round_left_nothing(attempt: Round, merchant: Person) -> None:
    """A round cut before its commit: its code is still live, no redemption was made, its
    Idempotency-Key was not claimed; the till can simply try again."""
    issued = db.session.scalar(
        select(RedemptionCode).where(RedemptionCode.code == attempt.code)
        .order_by(RedemptionCode.id.desc()).limit(1))
    assert issued is not None and issued.member_id == attempt.member_id
    assert (issued.consumed_at, issued.is_used) == (None, False)
    assert db.session.scalar(
        select(func.count(Redemption.id)).where(Redemption.code_id == issued.id)) == 0
    assert db.session.scalar(
        select(func.count(IdempotentRequest.id)).where(
            IdempotentRequest.user_id == merchant.id,
            IdempotentRequest.key == attempt.key)) == 0
    db.session.rollback()
