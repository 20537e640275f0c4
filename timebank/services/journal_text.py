"""Plain-text accounting journals (hledger, beancount) of the points ledger.

Pure text: no database here. Account keys of the ledger (`member:12`, `merchant:3`,
`issuance:4`, `shop:2`, `expiry:4`) become journal accounts; amounts are exact two-place
decimals in the commodity `PTS`, and every account gets a balance assertion at the end, so the
checking tool recomputes each balance from the postings and compares it with the app's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from timebank.units import fmt as format_minor

COMMODITY = "PTS"
OPEN_DATE = dt.date(2000, 1, 1)
FORMATS = ("hledger", "beancount")

_ACCOUNT_ROOTS = {
    "member": ("Assets:Members", "U"),
    "merchant": ("Assets:Merchants", "M"),
    "shop": ("Assets:Shop", "S"),
    "hold": ("Assets:Held", "H"),
    "issuance": ("Equity:Issuance", "C"),
    "expiry": ("Income:Expiry", "C"),
}


@dataclass(frozen=True)
class JournalAccount:
    key: str
    kind: str
    balance_minor: int


@dataclass(frozen=True)
class JournalPosting:
    account_key: str
    amount_minor: int


@dataclass(frozen=True)
class JournalTransaction:
    seq: int
    date: dt.date
    kind: str
    memo: str | None
    postings: tuple[JournalPosting, ...]


def account_name(key: str) -> str:
    kind, _, ident = key.partition(":")
    root, prefix = _ACCOUNT_ROOTS[kind]
    return f"{root}:{prefix}{ident}"


def _amount(minor: int) -> str:
    return f"{format_minor(minor)} {COMMODITY}"


def _clean(text: str | None) -> str:
    """One line, no characters that start comments or end strings in either format."""
    text = " ".join((text or "").split())
    for ch in ';|"\\':
        text = text.replace(ch, " ")
    return text.strip()


def render(fmt: str, accounts: list[JournalAccount],
           transactions: Iterable[JournalTransaction], as_of: dt.date) -> Iterator[str]:
    if fmt not in FORMATS:
        raise ValueError(f"unknown journal format {fmt!r}")
    beancount = fmt == "beancount"
    yield from _header(beancount, accounts)
    for tx in transactions:
        yield from _transaction(beancount, tx)
    yield from _assertions(beancount, accounts, as_of)


def _header(beancount: bool, accounts: list[JournalAccount]) -> Iterator[str]:
    if beancount:
        yield 'option "title" "timebank points ledger"\n'
        yield 'option "operating_currency" "PTS"\n'
        # Exact arithmetic: no transaction may be off by any amount.
        yield 'option "inferred_tolerance_default" "*:0"\n\n'
        yield f"{OPEN_DATE} commodity {COMMODITY}\n"
        for account in accounts:
            yield f"{OPEN_DATE} open {account_name(account.key)} {COMMODITY}\n"
    else:
        yield f"commodity 1.00 {COMMODITY}\n"
        for account in accounts:
            yield f"account {account_name(account.key)}\n"
    yield "\n"


def _transaction(beancount: bool, tx: JournalTransaction) -> Iterator[str]:
    title = _clean(f"#{tx.seq} {tx.kind} {tx.memo or ''}")
    if beancount:
        yield f'{tx.date} * "{title}"\n'
    else:
        yield f"{tx.date} * {title}\n"
    for posting in tx.postings:
        yield f"    {account_name(posting.account_key)}  {_amount(posting.amount_minor)}\n"
    yield "\n"


def _assertions(beancount: bool, accounts: list[JournalAccount],
                as_of: dt.date) -> Iterator[str]:
    if beancount:
        # A beancount balance holds at the start of its day: assert on the day after.
        day = as_of + dt.timedelta(days=1)
        for account in accounts:
            yield (f"{day} balance {account_name(account.key)}  "
                   f"{format_minor(account.balance_minor)} ~ 0 {COMMODITY}\n")
        return
    if not accounts:
        return
    yield f"{as_of} * balance assertions\n"
    for account in accounts:
        yield (f"    {account_name(account.key)}  0.00 {COMMODITY} "
               f"== {_amount(account.balance_minor)}\n")
