"""Service categories and their dated points-per-hour rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from timebank.errors import AlreadyExists, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import CategoryRate, ServiceCategory, User
from timebank.services import access, tx
from timebank.timeutil import today

# The first rate of a category applies to all service before any later rate.
BEGINNING = date(2000, 1, 1)


def too_far_ahead(effective_from: date) -> bool:
    """A dated rule (a rate, a points policy) starts within ten years from now."""
    return effective_from.year > today().year + 10


def get_by_code(code: str) -> ServiceCategory:
    category = db.session.scalar(select(ServiceCategory).where(ServiceCategory.code == code))
    if category is None:
        raise NotFound(_("No such service category."))
    return category


def all_categories() -> list[ServiceCategory]:
    return list(db.session.scalars(select(ServiceCategory).order_by(ServiceCategory.code)
                                   .options(selectinload(ServiceCategory.rates))))


def add_category(code: str, name: str, points_per_hour_minor: int,
                 actor: User | None = None) -> ServiceCategory:
    """Insert a category with its first rate; flushes only."""
    if db.session.scalar(select(ServiceCategory.id).where(ServiceCategory.code == code)):
        raise AlreadyExists(_("A category with this code exists."))
    category = ServiceCategory(code=code, name=name)
    db.session.add(category)
    db.session.flush()
    db.session.add(CategoryRate(category_id=category.id, effective_from=BEGINNING,
                                points_per_hour_minor=points_per_hour_minor,
                                created_by_id=actor.id if actor else None))
    db.session.flush()
    return category


def create_category(*, actor: User, code: str, name: str,
                    points_per_hour_minor: int) -> ServiceCategory:
    tx.begin_write()
    access.require_staff(actor)
    category = add_category(code, name, points_per_hour_minor, actor)
    tx.commit()
    return category


def change_rate(*, actor: User, code: str, points_per_hour_minor: int,
                effective_from: date) -> CategoryRate:
    """A new rate for service performed from `effective_from` on; approved points stay."""
    tx.begin_write()
    access.require_staff(actor)
    category = get_by_code(code)
    if effective_from <= BEGINNING:
        raise ValidationFailed(errors={"effective_from": [_("Choose a later date.")]})
    if too_far_ahead(effective_from):
        raise ValidationFailed(errors={"effective_from": [_("Choose a day within ten years.")]})
    exists = db.session.scalar(
        select(CategoryRate.id).where(
            CategoryRate.category_id == category.id,
            CategoryRate.effective_from == effective_from,
        )
    )
    if exists:
        raise AlreadyExists(_("A rate from this date exists already."))
    rate = CategoryRate(category_id=category.id, effective_from=effective_from,
                        points_per_hour_minor=points_per_hour_minor, created_by_id=actor.id)
    db.session.add(rate)
    tx.commit()
    return rate


def rate_on(category: ServiceCategory, day: date) -> int:
    """Points per hour (minor units) in force on that day."""
    rate = db.session.scalar(
        select(CategoryRate.points_per_hour_minor)
        .where(CategoryRate.category_id == category.id, CategoryRate.effective_from <= day)
        .order_by(CategoryRate.effective_from.desc())
        .limit(1)
    )
    if rate is None:
        raise ValidationFailed(_("This category has no rate for that date."))
    return rate


@dataclass(frozen=True)
class RateRow:
    """A category with the rate in force on a day and the rates already set for later."""

    category: ServiceCategory
    current_minor: int | None
    upcoming: list[CategoryRate]


def rate_table(day: date) -> list[RateRow]:
    """Every category with its rate on `day`, in two queries (rates are loaded together)."""
    rows = []
    for category in all_categories():
        current = None
        upcoming = []
        for rate in category.rates:  # ordered by effective_from
            if rate.effective_from <= day:
                current = rate.points_per_hour_minor
            else:
                upcoming.append(rate)
        rows.append(RateRow(category, current, upcoming))
    return rows
