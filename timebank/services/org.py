"""The organisation tree."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from timebank.errors import Forbidden, NotFound, ValidationFailed
from timebank.extensions import db
from timebank.models import Account, OrgUnit, User
from timebank.models.base import utcnow
from timebank.services import access, tx

# Which kinds may stand directly under which (a unit may skip grid below a community).
ALLOWED_PARENTS: dict[str, tuple[str | None, ...]] = {
    "street": (None,),
    "community": (None, "street"),
    "grid": ("community",),
    "building": ("community", "grid"),
}
ISSUING_KINDS = ("street", "community")


def get_unit(unit_id: int) -> OrgUnit:
    unit = db.session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound(_("No such organisation unit."))
    return unit


def units_query(parent_id: int | None):
    """Top-level units, or the children of one unit."""
    query = select(OrgUnit).order_by(OrgUnit.id)
    if parent_id is None:
        query = query.where(OrgUnit.parent_id.is_(None))
    else:
        query = query.where(OrgUnit.parent_id == parent_id)
    return query


def add_unit(parent: OrgUnit | None, kind: str, name: str) -> OrgUnit:
    """Insert a unit below its parent and give issuing units their account; flushes only."""
    parent_kind = parent.kind if parent else None
    if parent_kind not in ALLOWED_PARENTS.get(kind, ()):
        raise ValidationFailed(
            _("A %(kind)s cannot be placed here.", kind=kind),
            errors={"kind": [_("A %(kind)s cannot be placed here.", kind=kind)]},
        )
    unit = OrgUnit(parent_id=parent.id if parent else None, kind=kind, name=name, path="")
    db.session.add(unit)
    db.session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    if kind in ISSUING_KINDS:
        db.session.add(
            Account(key=f"issuance:{unit.id}", kind="issuance", org_unit_id=unit.id,
                    allow_negative=True)
        )
    db.session.flush()
    return unit


def create_unit(*, actor: User, parent_id: int | None, kind: str, name: str) -> OrgUnit:
    """Staff add units inside their subtree; only an admin adds a top-level unit."""
    tx.begin_write()
    if parent_id is None:
        if not access.is_admin(actor):
            raise Forbidden(_("Only an administrator can add a top-level unit."))
        parent = None
    else:
        parent = get_unit(parent_id)
        access.require_reach(actor, parent)
    unit = add_unit(parent, kind, name.strip())
    tx.commit()
    return unit


def issuing_account(unit: OrgUnit) -> Account:
    """The issuance account of the nearest community (or street) above or at the unit."""
    ids = unit.ancestor_ids()
    accounts = db.session.scalars(
        select(Account).where(Account.kind == "issuance", Account.org_unit_id.in_(ids))
    ).all()
    by_unit = {a.org_unit_id: a for a in accounts}
    for unit_id in reversed(ids):
        if unit_id in by_unit:
            return by_unit[unit_id]
    raise NotFound(_("This unit has no issuing community."))


def community_of(unit: OrgUnit) -> OrgUnit:
    """The nearest community above or at the unit (the unit's root when there is none)."""
    ids = unit.ancestor_ids()
    units = {u.id: u for u in db.session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))}
    for unit_id in reversed(ids):
        if units[unit_id].kind == "community":
            return units[unit_id]
    return units[ids[0]]


def community_account(unit: OrgUnit, kind: str) -> Account:
    """The community's `kind` account ('hold', 'shop'), opened on first use; flushes only.
    A concurrent first use waits on the unique key, then finds the row."""
    community = community_of(unit)
    key = f"{kind}:{community.id}"
    account = db.session.scalar(select(Account).where(Account.key == key))
    if account is None:
        dialect = postgresql if db.engine.dialect.name != "sqlite" else sqlite
        db.session.execute(dialect.insert(Account).values(
            key=key, kind=kind, org_unit_id=community.id, balance_minor=0,
            allow_negative=False, created_at=utcnow()).on_conflict_do_nothing(
            index_elements=["key"]))
        account = db.session.scalar(select(Account).where(Account.key == key))
    return account
