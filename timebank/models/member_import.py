"""An uploaded member list waiting to be imported: its checked rows and their errors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

IMPORT_STATUSES = ("preview", "imported", "discarded")


class MemberImport(db.Model):
    """One uploaded file. `rows` holds each row's values and errors as checked at upload."""

    __tablename__ = "member_import"
    __table_args__ = (
        CheckConstraint("status IN ('preview', 'imported', 'discarded')",
                        name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    rows: Mapped[list] = mapped_column(JSON, default=list)
    row_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="preview")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    org_unit = relationship("OrgUnit", lazy="joined")
    created_by = relationship("User", lazy="joined")
