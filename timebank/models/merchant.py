"""Partner merchants, their offers, redemption codes and redemptions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow


class Merchant(db.Model):
    __tablename__ = "merchant"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit = relationship("OrgUnit", lazy="joined")


class Offer(db.Model):
    __tablename__ = "offer"
    __table_args__ = (CheckConstraint("points_cost_minor > 0", name="cost_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    points_cost_minor: Mapped[int] = mapped_column(BigInteger)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant: Mapped[Merchant] = relationship(lazy="joined")


class RedemptionCode(db.Model):
    """An 8-digit, single-use code a member shows at the till; live codes are unique."""

    __tablename__ = "redemption_code"
    __table_args__ = (
        Index(
            "uq_redemption_code_live",
            "code",
            unique=True,
            sqlite_where=text("consumed_at IS NULL"),
            postgresql_where=text("consumed_at IS NULL"),
        ),
        Index("ix_redemption_code_code", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8))
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_used: Mapped[bool] = mapped_column(default=False)


REDEMPTION_STATUSES = ("completed", "refunded")


class Redemption(db.Model):
    __tablename__ = "redemption"
    __table_args__ = (
        CheckConstraint("status IN ('completed', 'refunded')", name="status_known"),
        Index("ix_redemption_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("redemption_code.id"), unique=True)
    points_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="completed")
    # Checked at commit: the till writes the redemption before its ledger entry.
    transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transaction.id", deferrable=True, initially="DEFERRED"))
    refund_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transaction.id")
    )
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    offer: Mapped[Offer] = relationship(lazy="joined")
    member = relationship("User", foreign_keys=[member_id], lazy="joined")

    # The names the till and the API show, as a RedemptionReceipt has them too.
    @property
    def offer_title(self) -> str:
        return self.offer.title

    @property
    def member_display_name(self) -> str:
        return self.member.display_name


class MerchantSettlement(db.Model):
    """A merchant's month, settled by community staff with the figures as they stood then."""

    __tablename__ = "merchant_settlement"
    __table_args__ = (
        db.UniqueConstraint("merchant_id", "month", name="uq_settlement_merchant_month"),
        CheckConstraint("redemption_count >= 0", name="count_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    month: Mapped[str] = mapped_column(String(7))  # 'YYYY-MM', local calendar month
    redemption_count: Mapped[int] = mapped_column()
    points_total_minor: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    settled_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    merchant = relationship("Merchant", lazy="joined")
    settled_by = relationship("User", lazy="joined")
