"""People who sign in, their roles and their API tokens."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

ROLES = ("volunteer", "gridworker", "staff", "merchant", "admin")
MEMBER_ROLES = ("volunteer", "gridworker")


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    # Shown with a larger type on every page (older members, small phones).
    prefers_large_font: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Members may keep their name off public boards and leaderboards (条例 Art. 20).
    is_on_boards: Mapped[bool] = mapped_column(default=True, server_default=true())
    # In-service party members reporting to their home community (在职党员"双报到").
    is_party_member: Mapped[bool] = mapped_column(default=False, server_default=false())
    party_unit: Mapped[str | None] = mapped_column(String(100))  # where their party branch is
    # Resident ID number (居民身份证号码): sensitive, never shown unmasked to others.
    id_number: Mapped[str | None] = mapped_column(String(18), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit = relationship("OrgUnit", lazy="joined")
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> list[str]:
        return sorted(r.role for r in self.role_rows)

    def has_role(self, *roles: str) -> bool:
        return any(r.role in roles for r in self.role_rows)


class UserRole(db.Model):
    __tablename__ = "user_role"
    __table_args__ = (
        CheckConstraint(
            "role IN ('volunteer', 'gridworker', 'staff', 'merchant', 'admin')",
            name="role_known",
        ),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_rows")


TOKEN_KINDS = ("api", "web")


class ApiToken(db.Model):
    """A sign-in that can be ended: an API bearer token (`api`) or a signed-in browser
    session (`web`, its token kept in the session cookie). Only the SHA-256 is stored."""

    __tablename__ = "api_token"
    __table_args__ = (CheckConstraint("kind IN ('api', 'web')", name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8), default="api", server_default="api")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")
