"""The configured local time zone (default Asia/Shanghai)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def local(moment: datetime) -> datetime:
    return moment.astimezone(zone())


def local_date(moment: datetime) -> date:
    return local(moment).date()


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=zone())


def today() -> date:
    """Today in the configured zone."""
    from timebank.models.base import utcnow

    return local_date(utcnow())
