"""The community points shop (积分超市): rewards with a points price and stock, and orders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

REWARD_KINDS = ("goods", "service")
ORDER_STATUSES = ("reserved", "fulfilled", "cancelled")


class Reward(db.Model):
    """Goods or a service a community offers for points; `stock` None means unlimited."""

    __tablename__ = "reward"
    __table_args__ = (
        CheckConstraint("kind IN ('goods', 'service')", name="kind_known"),
        CheckConstraint("points_cost_minor > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("per_member_limit IS NULL OR per_member_limit > 0",
                        name="limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    points_cost_minor: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int | None] = mapped_column()
    per_member_limit: Mapped[int | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit = relationship("OrgUnit", lazy="joined")


class RewardOrder(db.Model):
    """A member's order: points held when reserved, paid to the shop when handed over,
    returned when cancelled."""

    __tablename__ = "reward_order"
    __table_args__ = (
        CheckConstraint("status IN ('reserved', 'fulfilled', 'cancelled')", name="status_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("points_minor > 0", name="points_positive"),
        Index("ix_reward_order_reward_member", "reward_id", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    quantity: Mapped[int] = mapped_column()
    points_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="reserved")
    hold_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"))
    settle_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transaction.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    reward: Mapped[Reward] = relationship(lazy="joined")
    member = relationship("User", foreign_keys=[member_id], lazy="joined")
