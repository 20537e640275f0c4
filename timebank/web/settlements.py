"""Monthly settlement with partner merchants: the month over every merchant in reach, one
merchant's month, settling it, and the downloads (CSV for Excel, XLSX)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import AnyOf, Length, Optional

from timebank.errors import DomainError, Forbidden, NotFound
from timebank.extensions import db
from timebank.services import access, settlements
from timebank.services.spreadsheet import CSV_MIMETYPE, XLSX_MIMETYPE, to_csv, to_xlsx
from timebank.timeutil import today
from timebank.units import fmt
from timebank.web.common import error_page, flash_form_errors, page_arg, roles_required

bp = Blueprint("settlements", __name__, url_prefix="/settlements")

LINES_PER_PAGE = 50


class SettleForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[Optional(),
                                                 Length(max=settlements.MAX_NOTE)])
    return_to = HiddenField(validators=[Optional(), AnyOf(("index", "detail"))])


@bp.context_processor
def _settlement_context() -> dict:
    return {"shown_name": lambda person: access.shown_name(current_user, person)}


def _month_or_404(month: str) -> date:
    try:
        return settlements.parse_month(month)
    except DomainError:
        abort(404)


def _month_arg() -> date:
    """?month=YYYY-MM; missing: the last month that has ended; wrong: the same, with a note."""
    raw = request.args.get("month", "").strip()
    if raw:
        try:
            return settlements.parse_month(raw)
        except DomainError:
            flash(_("Choose a month like 2026-03; showing the last month that has ended."),
                  "warning")
    return settlements.last_ended_month()


def _download(sheets, fmt_: str, name: str) -> Response:
    if fmt_ == "xlsx":
        body, mimetype = to_xlsx(sheets), XLSX_MIMETYPE
    else:
        body, mimetype = to_csv(sheets), f"{CSV_MIMETYPE}; charset=utf-8"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename={name}.{fmt_}"})


def _months_around(first: date) -> tuple[str, str | None]:
    previous = settlements.month_label(settlements.previous_month(first))
    following = settlements.next_month(first)
    return previous, (settlements.month_label(following)
                      if following <= today().replace(day=1) else None)


@bp.get("/")
@roles_required("staff")
def index():
    first = _month_arg()
    overview = settlements.month_overview(current_user, first)
    previous, following = _months_around(first)
    return render_template("settlements/index.html", overview=overview, previous=previous,
                           following=following, form=SettleForm(formdata=None))


@bp.get("/<month>.<any(csv, xlsx):fmt_>")
@roles_required("staff")
def overview_download(month: str, fmt_: str):
    first = _month_or_404(month)
    overview = settlements.month_overview(current_user, first)
    return _download(settlements.overview_sheets(current_user, overview), fmt_,
                     f"settlements-{overview.month}")


@bp.get("/<int:merchant_id>/<month>")
@roles_required("staff")
def detail(merchant_id: int, month: str):
    statement = settlements.month_statement(current_user, merchant_id, _month_or_404(month))
    lines = db.paginate(settlements.redemptions_query(statement), page=page_arg(),
                        per_page=LINES_PER_PAGE, error_out=False)
    previous, following = _months_around(statement.first)
    return render_template("settlements/detail.html", statement=statement, lines=lines,
                           previous=previous, following=following,
                           form=SettleForm(formdata=None, return_to="detail"))


@bp.get("/<int:merchant_id>/<month>.<any(csv, xlsx):fmt_>")
@roles_required("staff")
def statement_download(merchant_id: int, month: str, fmt_: str):
    statement = settlements.month_statement(current_user, merchant_id, _month_or_404(month))
    return _download(settlements.statement_sheets(current_user, statement), fmt_,
                     f"statement-{statement.merchant.id}-{statement.month}")


@bp.post("/<int:merchant_id>/<month>/settle")
@roles_required("staff")
def settle(merchant_id: int, month: str):
    form = SettleForm()
    first = _month_or_404(month)
    label = settlements.month_label(first)
    to_detail = form.return_to.data == "detail"
    where = url_for("settlements.detail", merchant_id=merchant_id, month=label) if to_detail \
        else url_for("settlements.index", month=label)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            flash(_("The form has expired or was not sent from this site. Please try again."),
                  "danger")
        else:
            flash_form_errors(form)
        return redirect(where)
    try:
        done = settlements.settle(current_user, merchant_id, label, form.note.data)
    except (NotFound, Forbidden) as err:
        db.session.rollback()
        return error_page(err.status, err.detail)
    except DomainError as err:
        db.session.rollback()
        for message in [m for ms in (err.errors or {}).values() for m in ms] or [err.detail]:
            flash(message, "danger")
        return redirect(where)
    flash(_("%(merchant)s is settled for %(month)s (redemptions: %(count)d, points: "
            "%(points)s).",
            merchant=done.merchant.name, month=done.month, count=done.redemption_count,
            points=fmt(done.points_total_minor)), "success")
    return redirect(where)
