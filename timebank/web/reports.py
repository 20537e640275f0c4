"""Staff reports: charts and tables over a unit in reach, the exports for the national
volunteer service information system, and the party-member report (双报到)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from timebank.errors import ValidationFailed
from timebank.models import OrgUnit, User
from timebank.services import access, reports, spreadsheet
from timebank.services.svg_chart import Series, bar_chart, line_chart
from timebank.timeutil import today
from timebank.units import from_minor
from timebank.web.common import page_arg, roles_required

bp = Blueprint("reports", __name__, url_prefix="/reports")

FORMATS = ("csv", "xlsx")
PARTY_PER_PAGE = 50
MAX_ARG = 12  # longer than any id, year or date we accept


def _is_chinese() -> bool:
    return str(get_locale()).startswith("zh")


def _month_label(month: date) -> str:
    return f"{month.year}年{month.month}月" if _is_chinese() else f"{month:%Y-%m}"


def _day_label(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if _is_chinese() else day.isoformat()


def _shown_name(person: User | None) -> str:
    return access.shown_name(current_user, person)


@bp.context_processor
def _reports_context() -> dict:
    return {"month_label": _month_label, "day_label": _day_label, "shown_name": _shown_name}


# --- reading the address -----------------------------------------------------------------


def _unit_arg() -> int | None:
    """`?unit_id=`: absent is the staff member's own unit; anything but an id is not found."""
    raw = request.args.get("unit_id", "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) < 11) or int(raw) == 0:
        abort(404)
    return int(raw)


def _day_arg(raw: str, name: str) -> date:
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(errors={name: [_("Give a date as YYYY-MM-DD.")]}) from None


def _period_arg() -> reports.Period:
    """`?from=&to=` (both), else `?year=`, else the last twelve months."""
    year, start, end = (request.args.get(k, "").strip() for k in ("year", "from", "to"))
    if any(len(value) > MAX_ARG for value in (year, start, end)):
        raise ValidationFailed(errors={"from": [_("Give a date as YYYY-MM-DD.")]})
    if start or end:
        if not (start and end):
            raise ValidationFailed(errors={"from": [_("Give both a start and an end date.")]})
        return reports.period_between(_day_arg(start, "from"), _day_arg(end, "to"))
    if year:
        if not (year.isascii() and year.isdigit() and len(year) == 4):
            raise ValidationFailed(errors={"year": [_("Give a year such as 2026.")]})
        return reports.period_for_year(int(year))
    return reports.default_period()


def _refuse(err: ValidationFailed):
    """Bad filters: say why, and go back to the report as it opens."""
    for messages in (err.errors or {}).values():
        for message in messages:
            flash(message, "danger")
    if not err.errors:
        flash(err.detail, "danger")
    return redirect(url_for("reports.index"))


def _args(unit: OrgUnit, period: reports.Period) -> dict:
    """The address arguments that show this unit and period again (and its downloads)."""
    args: dict = {"unit_id": unit.id}
    if period.year is not None:
        args["year"] = period.year
    else:
        args["from"], args["to"] = period.date_from.isoformat(), period.date_to.isoformat()
    return args


# --- the report page ---------------------------------------------------------------------


def _charts(report: reports.Report) -> dict[str, Markup]:
    labels = [_month_label(row.month) for row in report.months]
    no_data = _("No data for this period.")
    charts = {
        "hours": bar_chart(
            _("Approved hours per month"), labels,
            [Series(_("Hours"), [from_minor(r.hours_minor) for r in report.months])],
            empty_text=no_data, chart_id="hours"),
        "points": bar_chart(
            _("Points issued, redeemed and expired per month"), labels,
            [Series(_("Points issued"), [from_minor(r.issued_minor) for r in report.months]),
             Series(_("Points redeemed"), [from_minor(r.redeemed_minor) for r in report.months]),
             Series(_("Points expired"), [from_minor(r.expired_minor) for r in report.months])],
            empty_text=no_data, chart_id="points", label_zero=False),
        "active": line_chart(
            _("Active members per month"), labels,
            [Series(_("Members with approved hours"), [r.active for r in report.months])],
            empty_text=no_data, chart_id="active"),
    }
    if len(report.grids) > 1:
        charts["grids"] = bar_chart(
            _("Approved hours per grid"), [_grid_name(g) for g in report.grids],
            [Series(_("Hours"), [from_minor(g.hours_minor) for g in report.grids])],
            empty_text=no_data, chart_id="grids")
    return charts


def _grid_name(row: reports.GridRow) -> str:
    return row.name if row.grid_id is not None else _("Not in a grid")


@bp.get("/")
@roles_required("staff")
def index():
    """Hours, points and members of a unit in reach over a year or a span of days."""
    unit = reports.report_unit(current_user, _unit_arg())
    try:
        period = _period_arg()
    except ValidationFailed as err:
        return _refuse(err)
    report = reports.build(current_user, unit, period)
    this_year = today().year
    return render_template(
        "reports/index.html", report=report, charts=_charts(report),
        units=reports.units_offered(current_user), args=_args(unit, period),
        years=range(this_year, reports.FIRST_YEAR - 1, -1)[:10], grid_name=_grid_name)


# --- downloads ---------------------------------------------------------------------------


def _download(name: str, fmt: str, title: str, headers, widths, rows: Iterator[list]):
    if fmt == "csv":
        response = Response(stream_with_context(spreadsheet.csv_chunks(headers, rows)),
                            content_type=spreadsheet.CSV_MIMETYPE)
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    else:
        response = send_file(spreadsheet.xlsx_file(title, headers, rows, widths=widths),
                             mimetype=spreadsheet.XLSX_MIMETYPE, as_attachment=True,
                             download_name=f"{name}.xlsx")
    response.headers["Cache-Control"] = "no-store"  # ID numbers: keep no copy on the way
    return response


def _export(what: str, fmt: str):
    if fmt not in FORMATS:
        abort(404)
    unit = reports.report_unit(current_user, _unit_arg())
    try:
        period = _period_arg()
    except ValidationFailed as err:
        return _refuse(err)
    reports.note_export(current_user, unit, what=what, fmt=fmt, period=period)
    name = f"{what}-{unit.id}-{period.date_from:%Y%m%d}-{period.date_to:%Y%m%d}"
    if what == "records":
        return _download(name, fmt, "志愿服务记录", reports.RECORD_HEADERS,
                         reports.RECORD_WIDTHS,
                         reports.record_rows(current_user, unit, period))
    return _download(name, fmt, "积分流水", reports.TRANSACTION_HEADERS,
                     reports.TRANSACTION_WIDTHS,
                     reports.transaction_rows(current_user, unit, period))


@bp.get("/export/records.<fmt>")
@roles_required("staff")
def export_records(fmt: str):
    """Approved service records of members in the unit, in the national system's layout."""
    return _export("records", fmt)


@bp.get("/export/transactions.<fmt>")
@roles_required("staff")
def export_transactions(fmt: str):
    """Points movements of members in the unit."""
    return _export("transactions", fmt)


# --- party members (双报到) ----------------------------------------------------------------


@bp.get("/party")
@roles_required("staff")
def party():
    """Party members in reach with their hours this month, quarter and year."""
    unit = reports.report_unit(current_user, _unit_arg())
    show = request.args.get("show", "all")
    if show not in reports.PARTY_SHOW:
        flash(_("Choose whom to show from the list."), "danger")
        return redirect(url_for("reports.party"))
    periods = reports.party_periods()
    rows, total = reports.party_page(current_user, unit, periods=periods, show=show,
                                     page=page_arg(), per_page=PARTY_PER_PAGE)
    counts = reports.party_counts(current_user, unit, periods=periods)
    return render_template(
        "reports/party.html", unit=unit, rows=rows, total=total, counts=counts,
        periods=periods, show=show, page=page_arg(),
        pages=max(1, math.ceil(total / PARTY_PER_PAGE)),
        units=reports.units_offered(current_user))


@bp.get("/party.<fmt>")
@roles_required("staff")
def party_export(fmt: str):
    """The party-member report as a file, every party member of the unit."""
    if fmt not in FORMATS:
        abort(404)
    unit = reports.report_unit(current_user, _unit_arg())
    periods = reports.party_periods()
    reports.note_export(current_user, unit, what="party", fmt=fmt, day=periods.day)
    return _download(f"party-{unit.id}-{periods.day:%Y%m%d}", fmt, "在职党员双报到",
                     reports.PARTY_HEADERS, reports.PARTY_WIDTHS,
                     reports.party_rows(current_user, unit, periods=periods))
