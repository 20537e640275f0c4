"""The ledger as an hledger or beancount journal, streamed from the database."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from timebank.extensions import db
from timebank.models import Account, LedgerTransaction, Posting
from timebank.timeutil import local_date, today

SUFFIXES = {"hledger": "journal", "beancount": "beancount"}
BATCH = 2000


def suffix(fmt: str) -> str:
    return SUFFIXES[fmt]


def journal(fmt: str) -> Iterator[str]:
    """Every transaction in chain order, then a balance assertion per account."""
    from timebank.services.journal_text import JournalAccount, render

    accounts = [
        JournalAccount(key=key, kind=kind, balance_minor=balance)
        for key, kind, balance in db.session.execute(
            select(Account.key, Account.kind, Account.balance_minor).order_by(Account.id)
        )
    ]
    yield from render(fmt, accounts, _transactions(), as_of=today())


def _transactions():
    from timebank.services.journal_text import JournalPosting, JournalTransaction

    keys = dict(db.session.execute(select(Account.id, Account.key)).all())
    last_seq = 0
    while True:
        batch = db.session.execute(
            select(LedgerTransaction.id, LedgerTransaction.seq, LedgerTransaction.kind,
                   LedgerTransaction.memo, LedgerTransaction.created_at)
            .where(LedgerTransaction.seq > last_seq)
            .order_by(LedgerTransaction.seq)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        lines: dict[int, list] = {row.id: [] for row in batch}
        for tx_id, account_id, amount in db.session.execute(
            select(Posting.transaction_id, Posting.account_id, Posting.amount_minor)
            .where(Posting.transaction_id.in_(list(lines)))
            .order_by(Posting.id)
        ):
            lines[tx_id].append(JournalPosting(account_key=keys[account_id], amount_minor=amount))
        for row in batch:
            yield JournalTransaction(seq=row.seq, date=local_date(row.created_at), kind=row.kind,
                                     memo=row.memo, postings=tuple(lines[row.id]))
        last_seq = batch[-1].seq
