"""A community's points policy: dated versions, inherited by every unit below it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

TRANSFER_MODES = ("off", "family", "any")
EXPIRY_MODES = ("never", "end_of_next_year", "rolling")


class PointsPolicy(db.Model):
    """One version of a unit's rules, in force from `effective_from` until the next version.

    Rates by category override the category's own rate; categories not named keep it.
    `daily_hours_cap_minor` None means no cap. Expiry `rolling` keeps points `expiry_months`.
    """

    __tablename__ = "points_policy"
    __table_args__ = (
        db.UniqueConstraint("org_unit_id", "effective_from", name="uq_points_policy_from"),
        CheckConstraint("transfer_mode IN ('off', 'family', 'any')", name="transfer_mode_known"),
        CheckConstraint("expiry_mode IN ('never', 'end_of_next_year', 'rolling')",
                        name="expiry_mode_known"),
        CheckConstraint("(expiry_mode = 'rolling') = (expiry_months IS NOT NULL)",
                        name="months_with_rolling"),
        CheckConstraint("expiry_months IS NULL OR expiry_months BETWEEN 1 AND 120",
                        name="months_range"),
        CheckConstraint("daily_hours_cap_minor IS NULL OR daily_hours_cap_minor > 0",
                        name="cap_positive"),
        CheckConstraint("per_transfer_limit_minor > 0", name="per_transfer_positive"),
        CheckConstraint("monthly_transfer_limit_minor > 0", name="monthly_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    daily_hours_cap_minor: Mapped[int | None] = mapped_column(BigInteger)
    transfer_mode: Mapped[str] = mapped_column(String(16), default="off")
    per_transfer_limit_minor: Mapped[int] = mapped_column(BigInteger, default=10000)
    monthly_transfer_limit_minor: Mapped[int] = mapped_column(BigInteger, default=30000)
    expiry_mode: Mapped[str] = mapped_column(String(24), default="never")
    expiry_months: Mapped[int | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit = relationship("OrgUnit", lazy="joined")
    rates: Mapped[list[PolicyRate]] = relationship(
        back_populates="policy", cascade="all, delete-orphan", lazy="selectin",
        order_by="PolicyRate.category_id")


class PolicyRate(db.Model):
    """Points per hour (minor units) for one category under one policy version."""

    __tablename__ = "points_policy_rate"
    __table_args__ = (
        CheckConstraint("points_per_hour_minor >= 0", name="rate_not_negative"),
    )

    policy_id: Mapped[int] = mapped_column(ForeignKey("points_policy.id", ondelete="CASCADE"),
                                           primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("service_category.id"),
                                             primary_key=True)
    points_per_hour_minor: Mapped[int] = mapped_column(BigInteger)

    policy: Mapped[PointsPolicy] = relationship(back_populates="rates")
    category = relationship("ServiceCategory", lazy="joined")
