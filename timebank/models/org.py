"""The organisation tree: street → community → grid → building."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

UNIT_KINDS = ("street", "community", "grid", "building")


class OrgUnit(db.Model):
    """One unit of the tree; `path` is '/1/4/9/' so a subtree is a prefix match."""

    __tablename__ = "org_unit"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('street', 'community', 'grid', 'building')", name="kind_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id])

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to this unit, read from the path."""
        return [int(part) for part in self.path.strip("/").split("/")]

    def contains(self, other: OrgUnit) -> bool:
        return other.path.startswith(self.path)
