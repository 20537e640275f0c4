"""The time bank between neighbours: requests for help, family links, transfers, policy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

HELP_STATUSES = ("open", "claimed", "completed", "cancelled")
LINK_STATUSES = ("pending", "confirmed", "revoked")


class HelpRequest(db.Model):
    """A need (需求/心愿) posted by or for a resident; a volunteer claims and does it."""

    __tablename__ = "help_request"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'claimed', 'completed', 'cancelled')",
                        name="status_known"),
        CheckConstraint("offered_points_minor >= 0", name="offer_not_negative"),
        CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating_range"),
        Index("ix_help_request_unit_status", "org_unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("service_category.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    needed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    offered_points_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    helper_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    rating: Mapped[int | None] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    service_record_id: Mapped[int | None] = mapped_column(ForeignKey("service_record.id"),
                                                          unique=True)
    # The ledger transactions holding the offered points and paying or returning them.
    hold_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"))
    settle_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transaction.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit = relationship("OrgUnit", lazy="joined")
    category = relationship("ServiceCategory", lazy="joined")
    beneficiary = relationship("User", foreign_keys=[beneficiary_id], lazy="joined")
    helper = relationship("User", foreign_keys=[helper_id], lazy="joined")


class FamilyLink(db.Model):
    """Two members of one family, confirmed by staff, between whom points may be given."""

    __tablename__ = "family_link"
    __table_args__ = (
        UniqueConstraint("member_id", "relative_id", name="one_link_per_pair"),
        CheckConstraint("member_id < relative_id", name="ordered_pair"),
        CheckConstraint("status IN ('pending', 'confirmed', 'revoked')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    relative_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    relation: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member = relationship("User", foreign_keys=[member_id], lazy="joined")
    relative = relationship("User", foreign_keys=[relative_id], lazy="joined")


class Transfer(db.Model):
    """Points given from one member to another, with its ledger transaction."""

    __tablename__ = "transfer"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("from_member_id <> to_member_id", name="not_to_self"),
        Index("ix_transfer_from_created", "from_member_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    from_member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    to_member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    memo: Mapped[str] = mapped_column(String(200), default="")
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transaction.id"),
                                                unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    from_member = relationship("User", foreign_keys=[from_member_id], lazy="joined")
    to_member = relationship("User", foreign_keys=[to_member_id], lazy="joined")
