"""Organisation units."""

from __future__ import annotations

from timebank.api.base import Blueprint, actor, paged
from timebank.schemas import OrgUnitIn, OrgUnitOut, OrgUnitQuery
from timebank.services import org

blp = Blueprint("api_org", __name__, description="The street → community → grid tree")

unit_out = OrgUnitOut()


@blp.route("/org-units", methods=["POST"])
@blp.arguments(OrgUnitIn)
@blp.response(201, OrgUnitOut)
def create_unit(args):
    """Add a unit (admin anywhere; staff below their own unit)."""
    return org.create_unit(actor=actor(), **args)


@blp.route("/org-units", methods=["GET"])
@blp.arguments(OrgUnitQuery, location="query")
@blp.response(200)
def list_units(args):
    """Top-level units, or the children of `parent_id`."""
    if args["parent_id"] is not None:
        org.get_unit(args["parent_id"])
    return paged(org.units_query(args["parent_id"]), args, unit_out.dump)


@blp.route("/org-units/<int:unit_id>", methods=["GET"])
@blp.response(200, OrgUnitOut)
def get_unit(unit_id):
    return org.get_unit(unit_id)
