"""The audit trail: who did what to which thing, and on whose behalf."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow


class AuditEvent(db.Model):
    """One action. `on_behalf_of_id` is set when staff act for a member (代办)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_subject", "subject_type", "subject_id"),
        Index("ix_audit_event_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"),
                                                        index=True)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column()
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    actor = relationship("User", foreign_keys=[actor_id], lazy="joined")
    on_behalf_of = relationship("User", foreign_keys=[on_behalf_of_id], lazy="joined")
