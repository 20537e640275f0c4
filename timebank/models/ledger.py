"""The double-entry points ledger: accounts, transactions, postings (minor units)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

ACCOUNT_KINDS = ("member", "merchant", "issuance", "shop", "expiry", "hold")
GENESIS_HASH = "0" * 64


class Account(db.Model):
    """A points account with its cached balance; `key` names it ('member:12')."""

    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint("allow_negative OR balance_minor >= 0", name="balance_allowed"),
        CheckConstraint(
            "kind IN ('member', 'merchant', 'issuance', 'shop', 'expiry', 'hold')",
            name="kind_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), unique=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    allow_negative: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerTransaction(db.Model):
    """One business event. Never updated or deleted; a correction reverses it."""

    __tablename__ = "ledger_transaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    memo: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transaction.id"), unique=True
    )
    # Where the event came from; plain references so the ledger depends on no other table.
    service_record_id: Mapped[int | None] = mapped_column(index=True)
    redemption_id: Mapped[int | None] = mapped_column(index=True)
    # Reports and exports read the ledger by date.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    postings: Mapped[list[Posting]] = relationship(
        back_populates="transaction", order_by="Posting.id", lazy="selectin"
    )


class Posting(db.Model):
    """A signed amount on one account; `balance_after_minor` is that account's running total."""

    __tablename__ = "posting"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="amount_nonzero"),
        Index("ix_posting_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Checked at commit: `ledger.post_one` writes the postings before their transaction.
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transaction.id", deferrable=True, initially="DEFERRED"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    balance_after_minor: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="postings")
    account: Mapped[Account] = relationship(lazy="joined")


class LedgerHead(db.Model):
    """The single row every ledger write locks: the end of the hash chain."""

    __tablename__ = "ledger_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class IdempotentRequest(db.Model):
    """A client's Idempotency-Key with the response it got, stored with the change itself."""

    __tablename__ = "idempotent_request"
    __table_args__ = (db.UniqueConstraint("user_id", "key", name="uq_idempotent_request_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
