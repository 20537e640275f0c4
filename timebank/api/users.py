"""Users, the signed-in member, balances and transactions."""

from __future__ import annotations

from timebank.api.base import Blueprint, actor
from timebank.schemas import BalanceOut, MemberTransactionOut, MeOut, PageArgs, UserIn, UserOut
from timebank.services import ledger, users

blp = Blueprint("api_users", __name__, description="People and their points")

txn_out = MemberTransactionOut()


@blp.route("/users", methods=["POST"])
@blp.arguments(UserIn)
@blp.response(201, UserOut)
def create_user(args):
    """Admin creates anyone; staff create volunteers and gridworkers in their subtree."""
    return users.create_user(actor=actor(), **args)


@blp.route("/users/me", methods=["GET"])
@blp.response(200, MeOut)
def me():
    user = actor()
    summary = users.summary(user)
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "roles": user.roles,
        "org_unit_id": user.org_unit_id,
        "balance": summary.balance,
        "total_hours": summary.total_hours,
        "star_level": summary.star_level,
    }


@blp.route("/members/<int:member_id>/balance", methods=["GET"])
@blp.response(200, BalanceOut)
def balance(member_id):
    """The member themself, staff in reach, or an admin."""
    return users.summary(users.member_for(actor(), member_id))


@blp.route("/members/<int:member_id>/transactions", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def transactions(args, member_id):
    """The member's ledger lines, newest first; `amount` is signed for the member."""
    member = users.member_for(actor(), member_id)
    page = ledger.member_history(member.id, page=args["page"], per_page=args["per_page"])
    return {"items": [txn_out.dump(line) for line in page.items], "total": page.total,
            "page": args["page"], "per_page": args["per_page"]}
