"""The merchant's till: redeem a member's code, today's redemptions, the monthly statement."""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, NumberRange

from timebank.errors import DomainError
from timebank.extensions import db
from timebank.privacy import mask_name
from timebank.services import merchants, settlements
from timebank.services.spreadsheet import XLSX_MIMETYPE, to_csv, to_xlsx
from timebank.timeutil import today
from timebank.units import fmt
from timebank.web.common import page_arg, roles_required

bp = Blueprint("merchant", __name__, url_prefix="/till")

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
STATEMENT_LINES_PER_PAGE = 100


def _merchant_id() -> int:
    if current_user.merchant_id is None:
        abort(403)
    return current_user.merchant_id


class TillForm(FlaskForm):
    code = StringField(_l("Member's code"), validators=[InputRequired()])
    offer_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)])


@bp.route("/", methods=["GET", "POST"])
@roles_required("merchant")
def till():
    """One screen: type or scan the code, press the offer, see the result in large type."""
    merchant = merchants.visible_merchant(current_user, _merchant_id())
    offers = merchants.offers_of(merchant)
    form = TillForm()
    result = error = None
    status = 200
    if request.method == "POST":
        code = re.sub(r"\s+", "", form.code.data or "")
        if not form.validate_on_submit() and "csrf_token" in form.errors:
            error, status = _("The form has expired or was not sent from this site. "
                              "Please try again."), 400
        elif not re.fullmatch(r"\d{8}", code):
            error, status = _("A member's code has 8 digits."), 422
        elif form.offer_id.errors or form.offer_id.data is None:
            error, status = _("Choose an offer."), 422
        else:
            try:
                result = merchants.redeem(actor=current_user, code=code,
                                          offer_id=form.offer_id.data)
            except DomainError as err:
                db.session.rollback()
                error, status = err.detail, err.status if err.status < 500 else 422
        form.code.data = ""
    return render_template("merchant/till.html", form=form, offers=offers, merchant=merchant,
                           result=result, error=error), status


@bp.get("/today", endpoint="today")
@roles_required("merchant")
def today_page():
    day = today()
    statement = merchants.statement(actor=current_user, merchant_id=_merchant_id(),
                                    date_from=day, date_to=day)
    return render_template("merchant/today.html", statement=statement, day=day,
                           items=list(reversed(statement.items)), form=FlaskForm())



@bp.post("/redemptions/<int:redemption_id>/refund")
@roles_required("merchant")
def refund(redemption_id: int):
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(_("The form has expired or was not sent from this site. Please try again."),
              "danger")
        return redirect(url_for("merchant.today"))
    redemption = merchants.refund(redemption_id, actor=current_user)
    flash(_("Refunded %(points)s points to %(name)s.", points=fmt(redemption.points_minor),
            name=mask_name(redemption.member.display_name)), "success")
    return redirect(url_for("merchant.today"))


def _month_arg() -> tuple[date, date, str]:
    """The month asked for (YYYY-MM), or this month when the value is missing or wrong."""
    raw = request.args.get("month", "")
    found = _MONTH.match(raw) if len(raw) == 7 else None
    if found and 2000 <= int(found.group(1)) <= 2100 and 1 <= int(found.group(2)) <= 12:
        first = date(int(found.group(1)), int(found.group(2)), 1)
    else:
        if raw:
            flash(_("Choose a month like 2026-03; showing this month."), "warning")
        first = today().replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last, first.strftime("%Y-%m")


def _month_statement() -> settlements.MonthStatement:
    first, _last, _month = _month_arg()
    return settlements.month_statement(current_user, _merchant_id(), first)


@bp.get("/statement")
@roles_required("merchant")
def statement():
    """The month's figures net of refunds, by offer, every redemption, and its settlement."""
    result = _month_statement()
    lines = db.paginate(settlements.redemptions_query(result), page=page_arg(),
                        per_page=STATEMENT_LINES_PER_PAGE, error_out=False)
    previous = settlements.month_label(settlements.previous_month(result.first))
    following = settlements.next_month(result.first)
    return render_template(
        "merchant/statement.html", statement=result, month=result.month, lines=lines,
        previous=previous,
        following=settlements.month_label(following) if following <= today() else None,
        settled_months=settlements.settlements_of(current_user, result.merchant.id))


def _statement_file(fmt_: str) -> Response:
    result = _month_statement()
    sheets = settlements.statement_sheets(current_user, result)
    if fmt_ == "xlsx":
        body, mimetype = to_xlsx(sheets), XLSX_MIMETYPE
    else:
        body, mimetype = to_csv(sheets), "text/csv; charset=utf-8"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename=statement-{result.month}.{fmt_}"})


@bp.get("/statement.csv")
@roles_required("merchant")
def statement_csv():
    return _statement_file("csv")


@bp.get("/statement.xlsx")
@roles_required("merchant")
def statement_xlsx():
    return _statement_file("xlsx")
