"""The double-entry ledger: posting, reversing, reading and verifying.

Postings are integer hundredths. An account is row-locked before its balance is checked and
changed, so two concurrent spends can never both pass a balance check. Within a posting,
accounts are locked in ascending id order and the chain head last. A use case that posts twice
(an approval that also pays a helper) locks accounts after holding the head; should that meet
a writer in the opposite order, PostgreSQL fails one of the two (the API answers 503, nothing
is written) rather than letting them wait for each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import SimpleNamespace

from flask_babel import gettext as _
from sqlalchemy import bindparam, case, func, select, text, update
from sqlalchemy.orm.util import identity_key

from timebank.errors import InsufficientPoints, NotFound
from timebank.extensions import db
from timebank.models import Account, LedgerHead, LedgerTransaction, Posting, User
from timebank.models.base import next_id, utcnow
from timebank.models.ledger import GENESIS_HASH


def member_account(user_id: int) -> Account:
    account = db.session.scalar(select(Account).where(Account.user_id == user_id))
    if account is None:
        raise NotFound(_("This member has no points account."))
    return account


def merchant_account(merchant_id: int) -> Account:
    account = db.session.scalar(
        select(Account).where(Account.kind == "merchant", Account.merchant_id == merchant_id)
    )
    if account is None:
        raise NotFound(_("This merchant has no points account."))
    return account


def open_member_account(user: User) -> Account:
    account = Account(key=f"member:{user.id}", kind="member", user_id=user.id)
    db.session.add(account)
    return account


def chain_hash(
    prev_hash: str, tx: LedgerTransaction, postings: Sequence[tuple[int, int, int]]
) -> str:
    """SHA-256 over the previous hash and everything the transaction says."""
    body = {
        "seq": tx.seq,
        "kind": tx.kind,
        "memo": tx.memo,
        "actor_id": tx.actor_id,
        "key": tx.idempotency_key,
        "reverses_id": tx.reverses_id,
        "service_record_id": tx.service_record_id,
        "redemption_id": tx.redemption_id,
        "created_at": tx.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "postings": [list(p) for p in sorted(postings)],
    }
    payload = prev_hash + json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _merge(lines: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Amounts summed per account id."""
    merged: dict[int, int] = {}
    for account_id, amount in lines:
        merged[account_id] = merged.get(account_id, 0) + amount
    return merged


def _balanced_lines(merged: dict[int, int]) -> list[tuple[int, int]]:
    """The non-zero lines in account order; refuses fewer than two or a non-zero sum."""
    lines = sorted((acc_id, amt) for acc_id, amt in merged.items() if amt != 0)
    if len(lines) < 2 or sum(amt for _id, amt in lines) != 0:
        raise ValueError("a transaction needs two or more postings that sum to zero")
    return lines


def post(
    kind: str,
    entries: Iterable[tuple[Account, int]],
    *,
    actor: User | None,
    key: str,
    memo: str = "",
    reverses: LedgerTransaction | None = None,
    service_record_id: int | None = None,
    redemption_id: int | None = None,
) -> LedgerTransaction:
    """Append one balanced transaction; flushes only, the use case commits.

    Raises InsufficientPoints when an account that may not go negative would.
    """
    merged = _merge((account.id, amount) for account, amount in entries)
    lines = _balanced_lines(merged)

    session = db.session
    balances_after: dict[int, int] = {}
    for account_id, amount in lines:
        stmt = (
            update(Account)
            .where(Account.id == account_id)
            .values(balance_minor=Account.balance_minor + amount)
            .returning(Account.balance_minor)
            .execution_options(synchronize_session=False)
        )
        if amount < 0:
            stmt = stmt.where(Account.allow_negative | (Account.balance_minor >= -amount))
        new_balance = session.execute(stmt).scalar()
        if new_balance is None:
            raise InsufficientPoints(_("Not enough points for this."))
        balances_after[account_id] = new_balance

    head = session.execute(
        update(LedgerHead)
        .where(LedgerHead.id == 1)
        .values(last_seq=LedgerHead.last_seq + 1)
        .returning(LedgerHead.last_seq, LedgerHead.last_hash)
        .execution_options(synchronize_session=False)
    ).one()
    txn = LedgerTransaction(
        seq=head.last_seq,
        kind=kind,
        memo=memo,
        actor_id=actor.id if actor else None,
        idempotency_key=key,
        reverses_id=reverses.id if reverses else None,
        service_record_id=service_record_id,
        redemption_id=redemption_id,
        created_at=utcnow(),
        prev_hash=head.last_hash,
    )
    triples = [(acc_id, amt, balances_after[acc_id]) for acc_id, amt in lines]
    txn.hash = chain_hash(head.last_hash, txn, triples)
    session.add(txn)
    session.flush()
    session.execute(
        Posting.__table__.insert(),
        [
            {
                "transaction_id": txn.id,
                "account_id": acc_id,
                "amount_minor": amt,
                "balance_after_minor": after,
            }
            for acc_id, amt, after in triples
        ],
    )
    session.execute(
        update(LedgerHead)
        .where(LedgerHead.id == 1)
        .values(last_hash=txn.hash)
        .execution_options(synchronize_session=False)
    )
    _expire_balances(merged)
    return txn


def lock_accounts(account_ids: Iterable[int]) -> None:
    """Row-lock these accounts in ascending id order; flushes first.

    For a use case that posts more than once (an approval that also pays a helper, a bulk
    review): its first post takes the chain head and holds it until the commit, so an account
    first locked by a later post would be waited for while holding the head, and a writer that
    holds that account and waits for the head deadlocks with it. Locking every account of the
    use case before its first post keeps the order every writer follows: accounts, then head.
    (SQLite needs nothing: its write transactions do not interleave.)
    """
    ids = sorted(set(account_ids))
    if not ids or db.engine.dialect.name == "sqlite":
        return
    db.session.flush()
    conn = db.session.connection()
    for offset in range(0, len(ids), 1000):
        conn.execute(_batch_statements().lock_accounts,
                     {"account_ids": ids[offset:offset + 1000]}).all()


@dataclass(frozen=True)
class NewTransaction:
    """One transaction of a batch for `post_many`: signed amounts by account id."""

    lines: tuple[tuple[int, int], ...]
    key: str
    memo: str = ""
    service_record_id: int | None = None
    redemption_id: int | None = None


@cache
def _batch_statements() -> SimpleNamespace:
    # Built once over the tables: every redemption and bulk approval runs them.
    account, head = Account.__table__, LedgerHead.__table__
    transaction, posting = LedgerTransaction.__table__, Posting.__table__
    return SimpleNamespace(
        lock_accounts=select(account.c.id, account.c.balance_minor, account.c.allow_negative)
        .where(account.c.id.in_(bindparam("account_ids", expanding=True)))
        .order_by(account.c.id).with_for_update(),
        lock_head=select(head.c.last_seq, head.c.last_hash).where(head.c.id == 1)
        .with_for_update(),
        insert_transactions=transaction.insert()
        .returning(transaction.c.id, sort_by_parameter_order=True),
        insert_transaction=transaction.insert(),
        # One transaction's postings: RETURNING lets SQLAlchemy send them as one multi-row
        # INSERT (without it the driver pipelines one INSERT per row, which costs more even
        # for two rows); they are of different accounts, so their order does not matter.
        insert_postings=posting.insert().returning(posting.c.id),
        # A batch's postings: one INSERT per row, pipelined, so their ids follow the order
        # given (`verify` reads running balances in id order), and faster than a multi-row
        # INSERT that must keep that order.
        insert_postings_in_order=posting.insert(),
        set_balances=account.update().where(account.c.id == bindparam("account_id"))
        .values(balance_minor=bindparam("balance")),
        set_head=head.update().where(head.c.id == 1)
        .values(last_seq=bindparam("seq"), last_hash=bindparam("hash")),
    )


def post_many(kind: str, batch: Sequence[NewTransaction], *, actor: User | None) -> list[int]:
    """Append many balanced transactions in a few statements; flushes only, returns their ids
    in the order given.

    The same ledger as `post` one by one: the accounts are row-locked in ascending id order and
    the chain head last, every posting carries its running balance, the chain is extended in
    order. Raises InsufficientPoints (nothing written) if an account that may not go negative
    would.
    """
    if not batch:
        return []
    prepared = [_balanced_lines(_merge(item.lines)) for item in batch]

    db.session.flush()  # what the use case changed before is written before the ledger
    conn = db.session.connection()
    sql = _batch_statements()
    account_ids = sorted({acc_id for lines in prepared for acc_id, _amt in lines})
    balances: dict[int, int] = {}
    may_go_negative: dict[int, bool] = {}
    for offset in range(0, len(account_ids), 1000):
        for acc_id, balance, allow_negative in conn.execute(
                sql.lock_accounts, {"account_ids": account_ids[offset:offset + 1000]}):
            balances[acc_id] = balance
            may_go_negative[acc_id] = allow_negative
    if len(balances) != len(account_ids):
        raise NotFound(_("This member has no points account."))
    all_triples = []
    for lines in prepared:
        triples = []
        for acc_id, amount in lines:
            after = balances[acc_id] + amount
            if after < 0 and not may_go_negative[acc_id]:
                raise InsufficientPoints(_("Not enough points for this."))
            balances[acc_id] = after
            triples.append((acc_id, amount, after))
        all_triples.append(triples)
    conn.execute(sql.set_balances, [{"account_id": acc_id, "balance": balances[acc_id]}
                                    for acc_id in account_ids])

    # Every ledger writer waits for the chain head and holds it until its commit: only what
    # needs the head's place in the chain happens from here on.
    txn_rows = _extend_chain(conn, kind, batch, all_triples, actor)
    ids = list(conn.scalars(sql.insert_transactions, txn_rows))
    conn.execute(sql.insert_postings_in_order, [
        {"transaction_id": txn_id, "account_id": acc_id, "amount_minor": amount,
         "balance_after_minor": after}
        for txn_id, triples in zip(ids, all_triples, strict=True)
        for acc_id, amount, after in triples
    ])
    _expire_balances(account_ids)
    return ids


def _extend_chain(conn, kind: str, batch: Sequence[NewTransaction],
                  all_triples: list[list[tuple[int, int, int]]], actor: User | None
                  ) -> list[dict]:
    """Take the chain head, give the batch its places and hashes, and move the head on: the
    rows of the transactions to insert."""
    sql = _batch_statements()
    head = conn.execute(sql.lock_head).one()
    seq, prev_hash = head.last_seq, head.last_hash
    now = utcnow()
    rows = []
    for item, triples in zip(batch, all_triples, strict=True):
        seq += 1
        row = {"seq": seq, "kind": kind, "memo": item.memo,
               "actor_id": actor.id if actor else None, "idempotency_key": item.key,
               "reverses_id": None, "service_record_id": item.service_record_id,
               "redemption_id": item.redemption_id, "created_at": now, "prev_hash": prev_hash}
        prev_hash = chain_hash(prev_hash, SimpleNamespace(**row), triples)
        row["hash"] = prev_hash
        rows.append(row)
    conn.execute(sql.set_head, {"seq": seq, "hash": prev_hash})
    return rows


def next_transaction_id():
    """An SQL expression drawing the id of a transaction still to be posted with `post_one`,
    to be run in a statement the use case runs anyway."""
    return next_id(LedgerTransaction.__table__)


@cache
def _change_balances(n: int):
    account = Account.__table__
    ids = [bindparam(f"id{i}", type_=account.c.id.type) for i in range(n)]
    # The rows are locked by the sub-select in ascending id order, as everywhere, and changed
    # as they are locked. Balances are taken from the locked rows: on PostgreSQL the lock
    # returns their latest version, also when it had to wait for another writer, while the
    # updated table itself is read as of the statement's start. The check names the updated
    # table too (the CASE on its id), so that PostgreSQL cannot push it down into the
    # sub-select below the lock, where it would see the balance from before the wait. An
    # account that may not go negative and would is left as it is, and is not returned.
    locked = (select(account.c.id, account.c.balance_minor, account.c.allow_negative)
              .where(account.c.id.in_(ids)).order_by(account.c.id)
              .with_for_update().subquery("locked"))
    change = case({ids[i]: bindparam(f"change{i}", type_=account.c.balance_minor.type)
                   for i in range(n)}, value=account.c.id)
    return (account.update()
            .where(account.c.id == locked.c.id,
                   locked.c.allow_negative | (locked.c.balance_minor + change >= 0))
            .values(balance_minor=locked.c.balance_minor + change)
            .returning(account.c.id, account.c.balance_minor))


def post_one(kind: str, item: NewTransaction, *, actor: User | None,
             transaction_id: int) -> None:
    """Append one balanced transaction under an id drawn beforehand (`next_transaction_id`),
    so that rows pointing at it can be written before it; flushes only.

    The same ledger as `post`, in fewer statements and with the chain head held for less time
    (the head is what every ledger writer waits for): the accounts are locked and changed by
    one statement, the postings are written before the head is taken (their reference to the
    transaction is checked at commit), and with the head held only the head and the
    transaction are written. Raises InsufficientPoints if an account that may not go
    negative would; other balances may be changed by then, so the use case's transaction must
    roll back, as every failed use case's does.
    """
    lines = _balanced_lines(_merge(item.lines))
    db.session.flush()  # what the use case changed before is written before the ledger
    conn = db.session.connection()
    sql = _batch_statements()
    params = {}
    for i, (acc_id, amount) in enumerate(lines):
        params[f"id{i}"], params[f"change{i}"] = acc_id, amount
    after = dict(conn.execute(_change_balances(len(lines)), params).all())
    if len(after) != len(lines):
        found = conn.execute(sql.lock_accounts, {"account_ids": [a for a, _m in lines]}).all()
        if len(found) == len(lines):
            raise InsufficientPoints(_("Not enough points for this."))
        raise NotFound(_("This member has no points account."))
    triples = [(acc_id, amount, after[acc_id]) for acc_id, amount in lines]
    conn.execute(sql.insert_postings, [
        {"transaction_id": transaction_id, "account_id": acc_id, "amount_minor": amount,
         "balance_after_minor": balance}
        for acc_id, amount, balance in triples
    ])
    (row,) = _extend_chain(conn, kind, [item], [triples], actor)
    conn.execute(sql.insert_transaction, {"id": transaction_id, **row})
    _expire_balances(after)


def reverse(original: LedgerTransaction, *, actor: User, kind: str, key: str,
            memo: str = "") -> LedgerTransaction:
    """A new transaction with every posting of `original` negated; at most once (UNIQUE)."""
    postings = db.session.scalars(
        select(Posting).where(Posting.transaction_id == original.id)
    ).all()
    return post(
        kind,
        [(p.account, -p.amount_minor) for p in postings],
        actor=actor,
        key=key,
        memo=memo,
        reverses=original,
        service_record_id=original.service_record_id,
        redemption_id=original.redemption_id,
    )


def _expire_balances(account_ids: Iterable[int]) -> None:
    """Cached balances were changed in SQL: reload them on next access."""
    session = db.session
    for account_id in account_ids:
        obj = session.identity_map.get(identity_key(Account, account_id))
        if obj is not None:
            session.expire(obj, ["balance_minor"])


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryPage:
    items: list
    total: int


def member_history(member_id: int, *, page: int, per_page: int) -> HistoryPage:
    """A member's postings with their transactions, newest first."""
    account = member_account(member_id)
    total = db.session.scalar(
        select(func.count(Posting.id)).where(Posting.account_id == account.id)
    ) or 0
    rows = db.session.execute(
        select(
            Posting.transaction_id,
            LedgerTransaction.kind,
            Posting.amount_minor,
            Posting.balance_after_minor,
            LedgerTransaction.created_at,
            LedgerTransaction.memo,
        )
        .join(LedgerTransaction, Posting.transaction_id == LedgerTransaction.id)
        .where(Posting.account_id == account.id)
        .order_by(Posting.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return HistoryPage(items=list(rows), total=total)


# --- verifying -------------------------------------------------------------------------


@dataclass
class VerifyReport:
    accounts: int = 0
    transactions: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(batch_size: int = 2000) -> VerifyReport:
    """Check zero-sum, cached balances, running balances, negative balances and the chain."""
    session = db.session
    report = VerifyReport()
    report.accounts = session.scalar(select(func.count(Account.id))) or 0
    report.transactions = session.scalar(select(func.count(LedgerTransaction.id))) or 0

    unbalanced = session.execute(
        select(LedgerTransaction.seq, func.coalesce(func.sum(Posting.amount_minor), 0),
               func.count(Posting.id))
        .outerjoin(Posting, Posting.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id, LedgerTransaction.seq)
        .having((func.coalesce(func.sum(Posting.amount_minor), 0) != 0)
                | (func.count(Posting.id) < 2))
    ).all()
    for seq, total, count in unbalanced:
        report.problems.append(
            f"transaction #{seq}: postings sum to {total} with {count} posting(s)"
        )

    sums = (
        select(Posting.account_id, func.sum(Posting.amount_minor).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    mismatched = session.execute(
        select(Account.key, Account.balance_minor, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.balance_minor != func.coalesce(sums.c.total, 0))
    ).all()
    for key, cached, total in mismatched:
        report.problems.append(f"account {key}: cached balance {cached} != postings {total}")

    negative = session.execute(
        select(Account.key, Account.balance_minor).where(
            ~Account.allow_negative, Account.balance_minor < 0
        )
    ).all()
    for key, balance in negative:
        report.problems.append(f"account {key}: negative balance {balance}")

    running = session.execute(
        text(
            "SELECT account_id, id, balance_after_minor, running FROM ("
            " SELECT account_id, id, balance_after_minor,"
            " SUM(amount_minor) OVER (PARTITION BY account_id ORDER BY id"
            " ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running"
            " FROM posting) AS p WHERE running <> balance_after_minor LIMIT 100"
        )
    ).all()
    for account_id, posting_id, after, run in running:
        report.problems.append(
            f"posting {posting_id} of account {account_id}: balance_after {after} != {run}"
        )

    report.problems.extend(_verify_chain(batch_size))
    return report


_CHAIN_COLUMNS = (
    LedgerTransaction.id,
    LedgerTransaction.seq,
    LedgerTransaction.kind,
    LedgerTransaction.memo,
    LedgerTransaction.actor_id,
    LedgerTransaction.idempotency_key,
    LedgerTransaction.reverses_id,
    LedgerTransaction.service_record_id,
    LedgerTransaction.redemption_id,
    LedgerTransaction.created_at,
    LedgerTransaction.prev_hash,
    LedgerTransaction.hash,
)


def _verify_chain(batch_size: int) -> list[str]:
    session = db.session
    problems: list[str] = []
    prev_hash = GENESIS_HASH
    expected_seq = 1
    last_seq = 0
    while True:
        batch = session.execute(
            select(*_CHAIN_COLUMNS)
            .where(LedgerTransaction.seq > last_seq)
            .order_by(LedgerTransaction.seq)
            .limit(batch_size)
        ).all()
        if not batch:
            break
        by_tx: dict[int, list[tuple[int, int, int]]] = {t.id: [] for t in batch}
        rows = session.execute(
            select(Posting.transaction_id, Posting.account_id, Posting.amount_minor,
                   Posting.balance_after_minor)
            .where(Posting.transaction_id.in_(list(by_tx)))
        ).all()
        for tx_id, account_id, amount, after in rows:
            by_tx[tx_id].append((account_id, amount, after))
        for t in batch:
            if t.seq != expected_seq:
                problems.append(f"chain: expected transaction #{expected_seq}, found #{t.seq}")
            if t.prev_hash != prev_hash:
                problems.append(f"chain: transaction #{t.seq} does not follow its predecessor")
            if chain_hash(t.prev_hash, t, by_tx[t.id]) != t.hash:
                problems.append(f"chain: transaction #{t.seq} was altered")
            prev_hash = t.hash
            expected_seq = t.seq + 1
            last_seq = t.seq
    head = session.execute(
        select(LedgerHead.last_seq, LedgerHead.last_hash).where(LedgerHead.id == 1)
    ).first()
    if head is None:
        problems.append("chain: the ledger head is missing")
    elif head.last_seq != last_seq or head.last_hash != prev_hash:
        problems.append("chain: the ledger head does not match the last transaction")
    return problems
