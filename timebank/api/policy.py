"""Points policies of streets and communities, and the points a member has that will expire."""

from __future__ import annotations

from flask_babel import gettext as _

from timebank.api.base import Blueprint, actor
from timebank.errors import Forbidden
from timebank.models.user import MEMBER_ROLES
from timebank.schemas.policy import ExpiringOut, PolicyIn, PolicyOut
from timebank.services import categories, expiry, ledger, policy

blp = Blueprint("api_policy", __name__, description="Points policies and expiring points")


def _version(rules: policy.Rules | None = None, row=None, codes: dict | None = None) -> dict:
    codes = codes or {}
    if row is not None:
        rules = policy.Rules(
            daily_hours_cap_minor=row.daily_hours_cap_minor, transfer_mode=row.transfer_mode,
            per_transfer_limit_minor=row.per_transfer_limit_minor,
            monthly_transfer_limit_minor=row.monthly_transfer_limit_minor,
            expiry_mode=row.expiry_mode, expiry_months=row.expiry_months,
            rates={r.category_id: r.points_per_hour_minor for r in row.rates},
            effective_from=row.effective_from, set_at_unit_id=row.org_unit_id)
    return {
        "org_unit_id": rules.set_at_unit_id, "effective_from": rules.effective_from,
        "transfer_mode": rules.transfer_mode,
        "per_transfer_limit": rules.per_transfer_limit_minor,
        "monthly_transfer_limit": rules.monthly_transfer_limit_minor,
        "expiry_mode": rules.expiry_mode, "expiry_months": rules.expiry_months,
        "daily_hours_cap": rules.daily_hours_cap_minor,
        "rates": [{"category": codes.get(cid, str(cid)), "points_per_hour": value}
                  for cid, value in sorted(rules.rates.items())],
        "note": row.note if row is not None else "",
        "created_at": row.created_at if row is not None else None,
    }


def _policy_out(unit_id: int) -> dict:
    unit, rows = policy.versions_of(actor(), unit_id)
    codes = {c.id: c.code for c in categories.all_categories()}
    return {"org_unit_id": unit.id,
            "in_force": _version(policy.in_force(unit), codes=codes),
            "versions": [_version(row=row, codes=codes) for row in rows]}


@blp.route("/org-units/<int:unit_id>/points-policy", methods=["GET"])
@blp.response(200, PolicyOut)
def get_policy(unit_id):
    """The rules in force today for a unit (its own or inherited) and the unit's own dated
    versions, newest first; for staff in reach and the members it covers."""
    return _policy_out(unit_id)


@blp.route("/org-units/<int:unit_id>/points-policy", methods=["POST"])
@blp.arguments(PolicyIn)
@blp.response(201, PolicyOut)
def set_policy(args, unit_id):
    """Staff in reach set a street's or community's policy from a day (today or later); the
    same day again replaces that version. `rates` maps category codes to points per hour."""
    policy.set_version(actor=actor(), org_unit_id=unit_id, **args)
    return _policy_out(unit_id)


@blp.route("/users/me/expiring", methods=["GET"])
@blp.response(200, ExpiringOut)
def my_expiring():
    """What of the member's balance will expire, and on which last day."""
    me = actor()
    if not me.has_role(*MEMBER_ROLES):
        raise Forbidden(_("Only volunteers and gridworkers hold points."))
    rules = policy.in_force(me.org_unit)
    return {"balance": ledger.member_account(me.id).balance_minor,
            "expiry_mode": rules.expiry_mode, "expiry_months": rules.expiry_months,
            "items": [{"last_day": u.last_day, "points": u.amount_minor}
                      for u in expiry.upcoming(me)]}
