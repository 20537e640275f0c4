"""Organised activities, sign-ups with a waitlist, and attendance by check-in and check-out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

ACTIVITY_STATUSES = ("open", "closed", "cancelled")
SIGNUP_STATUSES = ("registered", "waitlisted", "cancelled")


class Activity(db.Model):
    """An activity with the fields a service record needs (national rules, Art. 7)."""

    __tablename__ = "activity"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed', 'cancelled')", name="status_known"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_activity_unit_starts", "org_unit_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("service_category.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    place: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column()
    organiser: Mapped[str] = mapped_column(String(100), default="")
    person_in_charge: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Key of the rotating check-in codes; never shown, only its derived 6-digit codes.
    checkin_secret: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    org_unit = relationship("OrgUnit", lazy="joined")
    category = relationship("ServiceCategory", lazy="joined")

    @property
    def planned_hours_minor(self) -> int:
        """The planned length in hundredths of an hour."""
        return (int((self.ends_at - self.starts_at).total_seconds()) + 18) // 36  # half up


class ActivitySignup(db.Model):
    """A member's place (or waitlist place) in an activity and their attendance."""

    __tablename__ = "activity_signup"
    __table_args__ = (
        UniqueConstraint("activity_id", "member_id", name="one_per_member"),
        CheckConstraint("status IN ('registered', 'waitlisted', 'cancelled')",
                        name="status_known"),
        CheckConstraint("checked_out_at IS NULL OR checked_in_at IS NOT NULL",
                        name="out_after_in"),
        Index("ix_activity_signup_activity_status", "activity_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activity.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the member joined the queue they are in now (waitlist order).
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_out_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    service_record_id: Mapped[int | None] = mapped_column(ForeignKey("service_record.id"))

    activity: Mapped[Activity] = relationship(lazy="joined")
    member = relationship("User", foreign_keys=[member_id], lazy="joined")
