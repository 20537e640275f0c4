"""The time bank between neighbours: requests for help, transfers, family links, policy."""

from __future__ import annotations

from timebank.api.base import Blueprint, actor, idempotent, paged, paged_list
from timebank.schemas.helping import (
    CompleteIn,
    FamilyLinkIn,
    FamilyLinkOut,
    FamilyLinkQuery,
    HelpRequestIn,
    HelpRequestOut,
    HelpRequestQuery,
    TransferIn,
    TransferOut,
    TransferPolicyIn,
    TransferPolicyOut,
    TransferQuery,
)
from timebank.services import helping, users

blp = Blueprint("api_helping", __name__,
                description="Neighbours helping neighbours; points given between members")

request_out = HelpRequestOut()
transfer_out = TransferOut()
link_out = FamilyLinkOut()


# --- requests for help -------------------------------------------------------------------


@blp.route("/help-requests", methods=["POST"])
@idempotent
@blp.arguments(HelpRequestIn)
@blp.response(201, HelpRequestOut)
def post_request(args):
    """A member asks for help, or staff ask for an elder (`beneficiary_id`); the offered
    points are held from the beneficiary at once."""
    return helping.post_request(actor=actor(), **args)


@blp.route("/help-requests", methods=["GET"])
@blp.arguments(HelpRequestQuery, location="query")
@blp.response(200)
def list_requests(args):
    """Staff see their reach; members their community's requests and their own."""
    query = helping.requests_query(actor(), status=args.get("status"))
    return paged(query, args, request_out.dump)


@blp.route("/help-requests/<int:request_id>", methods=["GET"])
@blp.response(200, HelpRequestOut)
def get_request(request_id):
    return helping.visible_request(actor(), request_id)


@blp.route("/help-requests/<int:request_id>/claim", methods=["POST"])
@blp.response(200, HelpRequestOut)
def claim(request_id):
    """A volunteer of the request's community takes it; when two try at once, one wins."""
    return helping.claim(request_id, volunteer=actor())


@blp.route("/help-requests/<int:request_id>/release", methods=["POST"])
@blp.response(200, HelpRequestOut)
def release(request_id):
    """The helper gives a claimed request back; it is open again."""
    return helping.release(request_id, actor=actor())


@blp.route("/help-requests/<int:request_id>/cancel", methods=["POST"])
@idempotent
@blp.response(200, HelpRequestOut)
def cancel(request_id):
    """The beneficiary or staff call it off; the held points go back."""
    return helping.cancel(request_id, actor=actor())


@blp.route("/help-requests/<int:request_id>/complete", methods=["POST"])
@blp.arguments(CompleteIn)
@blp.response(200, HelpRequestOut)
def complete(args, request_id):
    """The beneficiary (or staff for them) confirm and rate; the helper's record goes to
    approval, and its approval pays the offered points."""
    return helping.complete(request_id, actor=actor(), **args)


# --- transfers ---------------------------------------------------------------------------


@blp.route("/transfers", methods=["POST"])
@idempotent
@blp.arguments(TransferIn)
@blp.response(201, TransferOut)
def create_transfer(args):
    """Give points to another member, as the sender's community policy allows."""
    return helping.transfer(actor=actor(), to_member_id=args["to_member_id"],
                            amount_minor=args["amount_minor"], memo=args["memo"],
                            from_member_id=args["from_member_id"])


@blp.route("/transfers", methods=["GET"])
@blp.arguments(TransferQuery, location="query")
@blp.response(200)
def list_transfers(args):
    """Gifts a member gave or received (default: the caller's own), newest first."""
    member = users.member_for(actor(), args.get("member_id") or actor().id)
    return paged(helping.transfers_of(member.id), args, transfer_out.dump)


# --- family links ------------------------------------------------------------------------


@blp.route("/family-links", methods=["POST"])
@blp.arguments(FamilyLinkIn)
@blp.response(201, FamilyLinkOut)
def request_link(args):
    """Ask to link two members of one family; staff confirm it."""
    user = actor()
    return helping.request_link(actor=user, member_id=args["member_id"] or user.id,
                                relative_id=args["relative_id"], relation=args["relation"])


@blp.route("/family-links", methods=["GET"])
@blp.arguments(FamilyLinkQuery, location="query")
@blp.response(200)
def list_links(args):
    """A member's family links (default: the caller's own)."""
    member = users.member_for(actor(), args.get("member_id") or actor().id)
    return paged_list(helping.links_of(member.id), args, link_out.dump)


@blp.route("/family-links/<int:link_id>/confirm", methods=["POST"])
@blp.response(200, FamilyLinkOut)
def confirm_link(link_id):
    """Staff whose reach covers both members confirm the link."""
    return helping.confirm_link(link_id, staff=actor())


@blp.route("/family-links/<int:link_id>/revoke", methods=["POST"])
@blp.response(200, FamilyLinkOut)
def revoke_link(link_id):
    """Either member, or staff in reach, end the link."""
    return helping.revoke_link(link_id, actor=actor())


# --- transfer policy ---------------------------------------------------------------------


def _policy_out(unit_id: int, policy: helping.Policy) -> dict:
    return {"org_unit_id": unit_id, "mode": policy.mode,
            "per_transfer_limit_minor": policy.per_transfer_limit_minor,
            "monthly_limit_minor": policy.monthly_limit_minor,
            "set_at_unit_id": policy.org_unit_id}


@blp.route("/org-units/<int:unit_id>/transfer-policy", methods=["GET"])
@blp.response(200, TransferPolicyOut)
def get_policy(unit_id):
    """The policy in force for a unit (set there or inherited); for its members and staff."""
    unit, policy = helping.visible_policy(actor(), unit_id)
    return _policy_out(unit.id, policy)


@blp.route("/org-units/<int:unit_id>/transfer-policy", methods=["PUT"])
@blp.arguments(TransferPolicyIn)
@blp.response(200, TransferPolicyOut)
def set_policy(args, unit_id):
    """Staff set the giving rule (`off` | `family` | `any`) of a community or street."""
    policy = helping.set_policy(actor=actor(), org_unit_id=unit_id, mode=args["mode"],
                                per_transfer_limit_minor=args["per_transfer_limit"],
                                monthly_limit_minor=args["monthly_limit"])
    return _policy_out(unit_id, policy)
