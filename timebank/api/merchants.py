"""Partner merchants, offers, redemption codes, redemptions and statements."""

from __future__ import annotations

import csv
import io

from flask import Response, current_app, request

from timebank.api.base import Blueprint, actor, idempotent, paged_list, problem_response_name
from timebank.privacy import mask_name
from timebank.schemas import (
    CodeOut,
    MerchantIn,
    MerchantOut,
    OfferIn,
    OfferOut,
    PageArgs,
    RedemptionIn,
    RedemptionOut,
    StatementOut,
    StatementQuery,
)
from timebank.services import merchants
from timebank.timeutil import local, today
from timebank.units import fmt

blp = Blueprint("api_merchants", __name__, description="Partner shops and the till")

statement_out = StatementOut()


@blp.route("/merchants", methods=["POST"])
@blp.arguments(MerchantIn)
@blp.response(201, MerchantOut)
def create_merchant(args):
    return merchants.create_merchant(actor=actor(), **args)


@blp.route("/merchants/<int:merchant_id>", methods=["GET"])
@blp.response(200, MerchantOut)
def get_merchant(merchant_id):
    return merchants.visible_merchant(actor(), merchant_id)


@blp.route("/merchants/<int:merchant_id>/offers", methods=["POST"])
@blp.arguments(OfferIn)
@blp.response(201, OfferOut)
def create_offer(args, merchant_id):
    return merchants.create_offer(actor=actor(), merchant_id=merchant_id,
                                  title=args["title"], points_cost_minor=args["points_cost"],
                                  description=args["description"])


@blp.route("/merchants/<int:merchant_id>/offers", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def list_offers(args, merchant_id):
    merchant = merchants.visible_merchant(actor(), merchant_id)
    return paged_list(merchants.offers_of(merchant), args, OfferOut().dump)


@blp.route("/redemption-codes", methods=["POST"])
@blp.response(201, CodeOut)
def create_code():
    """A single-use 8-digit code for the signed-in member, valid for five minutes."""
    return merchants.issue_code(member=actor(),
                                ttl_seconds=current_app.config["REDEMPTION_CODE_TTL_SECONDS"])


@blp.route("/redemptions", methods=["POST"])
@idempotent
@blp.arguments(RedemptionIn)
@blp.response(201, RedemptionOut)
@blp.alt_response(410, response=problem_response_name(410))
def redeem(args):
    """The till: a merchant user redeems a member's code for one of its offers."""
    return merchants.redeem(actor=actor(), code=args["code"], offer_id=args["offer_id"])


@blp.route("/redemptions/<int:redemption_id>/refund", methods=["POST"])
@idempotent
@blp.response(200, RedemptionOut)
def refund(redemption_id):
    """Give the points back (that merchant or staff in reach); once only."""
    return merchants.refund(redemption_id, actor=actor())


@blp.route("/merchants/<int:merchant_id>/statement", methods=["GET"])
@blp.arguments(StatementQuery, location="query")
@blp.response(200, StatementOut)
@blp.alt_response(200, schema={"type": "string"}, content_type="text/csv",
                  description="The statement, as JSON or (`Accept: text/csv`) as CSV",
                  success=True)
def statement(args, merchant_id):
    """Redemptions between two dates (default: this month); `Accept: text/csv` for CSV."""
    date_to = args.get("to") or today()
    date_from = args.get("from_") or date_to.replace(day=1)
    result = merchants.statement(actor=actor(), merchant_id=merchant_id,
                                 date_from=date_from, date_to=date_to)
    if request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv":
        return _csv(result)
    return result


def _csv(result) -> Response:
    """The statement as CSV for Excel; text that a spreadsheet would run as a formula is not."""
    from timebank.services.spreadsheet import neutralise

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "created_at", "offer_id", "offer_title", "points", "member_name",
                     "status"])
    for item in result.items:
        writer.writerow([item.id, local(item.created_at).isoformat(), item.offer_id,
                         neutralise(item.offer.title), fmt(item.points_minor),
                         neutralise(mask_name(item.member.display_name)), item.status])
    writer.writerow([])
    writer.writerow(["count", result.count, "points_total", fmt(result.points_total_minor)])
    name = f"statement-{result.merchant_id}-{result.date_from}-{result.date_to}.csv"
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})
