"""Recognition: hours aggregates, star levels, certificates, volunteer teams, the red flag."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.extensions import db
from timebank.models.base import UTCDateTime, utcnow

STAT_PERIODS = ("week", "month", "year", "all")
CERTIFICATE_KINDS = ("service_record", "star", "appointment", "honor")
# The period_start of the single all-time row of a member.
ALL_TIME_START = date(1900, 1, 1)


class ServiceStat(db.Model):
    """Approved hours, points and records of one member in one period, kept up to date in the
    transaction that approves hours; leaderboards and the red flag read only these rows.

    The unit columns are the member's home unit (and its grid and community) when the row
    was last added to, so a board of a subtree is an indexed range over these rows.
    """

    __tablename__ = "service_stat"
    __table_args__ = (
        UniqueConstraint("member_id", "period", "period_start", name="one_per_period"),
        CheckConstraint("period IN ('week', 'month', 'year', 'all')", name="period_known"),
        CheckConstraint("hours_minor >= 0 AND points_minor >= 0 AND records >= 0",
                        name="not_negative"),
        Index("ix_service_stat_board", "period", "period_start", "community_id", "hours_minor"),
        Index("ix_service_stat_grid", "period", "period_start", "grid_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date] = mapped_column(Date)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"))
    hours_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    points_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    records: Mapped[int] = mapped_column(default=0)


class StarAward(db.Model):
    """A star level a member reached; due for a certificate until one is issued."""

    __tablename__ = "star_award"
    __table_args__ = (
        UniqueConstraint("member_id", "level", name="one_per_level"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    level: Mapped[int] = mapped_column()
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"))

    member = relationship("User", lazy="joined")


class Certificate(db.Model):
    """An issued certificate. `data` is frozen at issue: the PDF and the verification page
    show what was true then, whatever changes later."""

    __tablename__ = "certificate"
    __table_args__ = (
        CheckConstraint("kind IN ('service_record', 'star', 'appointment', 'honor')",
                        name="kind_known"),
        CheckConstraint("revoked_at IS NULL OR revoked_by_id IS NOT NULL",
                        name="revoked_by_someone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # The unit that issues it (the member's community), which decides whose staff may act.
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    hours_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    member = relationship("User", foreign_keys=[member_id], lazy="joined")
    org_unit = relationship("OrgUnit", lazy="joined")


class VolunteerTeam(db.Model):
    """A volunteer team (志愿服务队) of one unit, with members and a leader."""

    __tablename__ = "volunteer_team"
    __table_args__ = (UniqueConstraint("org_unit_id", "name", name="one_name_per_unit"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    org_unit = relationship("OrgUnit", lazy="joined")
    leader = relationship("User", foreign_keys=[leader_id], lazy="joined")


class TeamMembership(db.Model):
    __tablename__ = "team_membership"
    __table_args__ = (UniqueConstraint("team_id", "member_id", name="once_per_team"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("volunteer_team.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    member = relationship("User", lazy="joined")


class RedFlagAward(db.Model):
    """The rotating red flag (流动红旗) of one community for one month, with the scores."""

    __tablename__ = "red_flag_award"
    __table_args__ = (UniqueConstraint("community_id", "month", name="one_per_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    month: Mapped[date] = mapped_column(Date)
    grid_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    # Out of 100, in hundredths (9650 is 96.50).
    score_minor: Mapped[int] = mapped_column()
    # Every grid's figures and score, as the award was decided.
    scores: Mapped[list] = mapped_column(JSON, default=list)
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    community = relationship("OrgUnit", foreign_keys=[community_id], lazy="joined")
    grid = relationship("OrgUnit", foreign_keys=[grid_id], lazy="joined")
