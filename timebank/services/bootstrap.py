"""Setting up a site from the command line, before anyone can sign in."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from timebank.errors import ValidationFailed
from timebank.extensions import db
from timebank.models import OrgUnit, User
from timebank.services import org, tx, users


def create_user(*, username: str, password: str, roles: list[str], org_unit_id: int | None,
                display_name: str, merchant_id: int | None = None) -> User:
    """Create any user as the operator; without a unit, the first top-level unit is used."""
    tx.begin_write()
    if org_unit_id is None:
        root = db.session.scalar(
            select(OrgUnit).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id).limit(1)
        )
        if root is None:
            root = org.add_unit(None, "street", _("Street"))
        org_unit_id = root.id
    if not username.strip():
        raise ValidationFailed(errors={"username": [_("Must not be empty.")]})
    user = users.add_user(username=username.strip(), password=password,
                          display_name=display_name, roles=roles, org_unit_id=org_unit_id,
                          merchant_id=merchant_id)
    tx.commit()
    return user
