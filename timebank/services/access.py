"""Who may see and touch what: roles and reach over the organisation tree."""

from __future__ import annotations

from sqlalchemy import Select, false, select

from timebank.errors import Forbidden, NotFound
from timebank.models import OrgUnit, User

STAFF_ROLES = ("staff", "admin")


def is_admin(user: User) -> bool:
    return user.has_role("admin")


def is_staff(user: User) -> bool:
    return user.has_role(*STAFF_ROLES)


def reaches(user: User, unit: OrgUnit) -> bool:
    """True when the user's staff or admin role covers this unit."""
    if is_admin(user):
        return True
    return user.has_role("staff") and unit.path.startswith(user.org_unit.path)


def can_see_member(user: User, member: User) -> bool:
    return user.id == member.id or reaches(user, member.org_unit)


def shown_name(viewer: User | None, person: User | None) -> str:
    """A person's name as the viewer may see it: in full for themself and staff in reach,
    masked for everyone else."""
    from timebank.privacy import mask_name

    if person is None:
        return ""
    if viewer is not None and can_see_member(viewer, person):
        return person.display_name
    return mask_name(person.display_name)


def require_staff(user: User) -> None:
    if not is_staff(user):
        raise Forbidden()


def require_reach(user: User, unit: OrgUnit) -> None:
    if not reaches(user, unit):
        raise Forbidden()


def visible_member(user: User, member: User | None) -> User:
    """The member if the user may see them; unknown → not found, out of reach → forbidden."""
    if member is None:
        raise NotFound()
    if not can_see_member(user, member):
        raise Forbidden()
    return member


def subtree_ids(unit: OrgUnit) -> Select:
    """Ids of the unit and every unit below it."""
    return select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path, autoescape=True))


def scope_to_reach(query: Select, user: User, unit_column) -> Select:
    """Limit a query over rows with an org unit to the user's staff subtree (admin: all)."""
    if is_admin(user):
        return query
    if user.has_role("staff"):
        return query.where(unit_column.in_(subtree_ids(user.org_unit)))
    return query.where(false())
