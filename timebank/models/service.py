"""Service categories with dated rates, and the service records (hours) members log."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

RECORD_STATUSES = ("pending", "approved", "rejected")


class ServiceCategory(db.Model):
    __tablename__ = "service_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Loaded when read (the rate table), not with every record that names the category.
    rates: Mapped[list[CategoryRate]] = relationship(
        back_populates="category", order_by="CategoryRate.effective_from", lazy="select"
    )


class CategoryRate(db.Model):
    """Points per hour (minor units) in force from `effective_from` on."""

    __tablename__ = "category_rate"
    __table_args__ = (
        db.UniqueConstraint("category_id", "effective_from", name="uq_category_rate_from"),
        CheckConstraint("points_per_hour_minor >= 0", name="rate_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("service_category.id"))
    effective_from: Mapped[date] = mapped_column(Date)
    points_per_hour_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    category: Mapped[ServiceCategory] = relationship(back_populates="rates")


class ServiceRecord(db.Model):
    """Hours given by one member, following the national volunteer-record fields."""

    __tablename__ = "service_record"
    __table_args__ = (
        CheckConstraint("ended_at > started_at", name="span_positive"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
        CheckConstraint("hours_minor > 0", name="hours_positive"),
        Index("ix_service_record_member_span", "member_id", "started_at"),
        Index("ix_service_record_unit_status", "org_unit_id", "status"),
        # A member's hours waiting for review, read with every balance: only pending rows.
        Index("ix_service_record_member_pending", "member_id",
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("service_category.id"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    title: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hours_minor: Mapped[int] = mapped_column(BigInteger)
    place: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    person_in_charge: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    expected_points_minor: Mapped[int] = mapped_column(BigInteger)
    points_awarded_minor: Mapped[int | None] = mapped_column(BigInteger)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member = relationship("User", foreign_keys=[member_id], lazy="joined")
    category: Mapped[ServiceCategory] = relationship(lazy="joined")
    org_unit = relationship("OrgUnit", lazy="joined")


class CorrectionRequest(db.Model):
    """A member asks staff to correct one of their records (wrong time, wrong category …)."""

    __tablename__ = "correction_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("service_record.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resolution: Mapped[str | None] = mapped_column(Text)

    record: Mapped[ServiceRecord] = relationship(lazy="joined")
