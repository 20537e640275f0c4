"""The volunteer's and gridworker's pages, phone first: points, code, hours, history."""

from __future__ import annotations

from datetime import datetime

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length

from timebank.errors import DomainError, OverlappingRecord
from timebank.extensions import db
from timebank.models.base import utcnow
from timebank.models.user import MEMBER_ROLES
from timebank.services import corrections, expiry, ledger, merchants, records, users
from timebank.timeutil import local, today, zone
from timebank.units import fmt
from timebank.web.boards import day_text
from timebank.web.common import category_choices, page_arg, roles_required

bp = Blueprint("volunteer", __name__, url_prefix="/me")

RECORDS_PER_PAGE = 20
HISTORY_PER_PAGE = 20

# How each kind of ledger transaction reads in a member's history.
KIND_LABELS = {
    "earn": _l("Points for service"),
    "redemption": _l("Spent at a partner shop"),
    "refund": _l("Refund"),
    "transfer": _l("Points given between members"),
    "help_hold": _l("Points set aside for a request for help"),
    "help_pay": _l("Points for helping a neighbour"),
    "help_return": _l("Points returned from a request for help"),
    "shop_hold": _l("Points set aside for a points-shop order"),
    "shop_return": _l("Points returned from a cancelled points-shop order"),
    "expiry": _l("Points expired"),
}
STATUS_LABELS = {
    "pending": _l("Waiting for approval"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
}


@bp.get("/")
@roles_required(*MEMBER_ROLES)
def home():
    summary = users.summary(current_user)
    recent = ledger.member_history(current_user.id, page=1, per_page=5).items
    return render_template("volunteer/home.html", summary=summary, recent=recent,
                           kinds=KIND_LABELS, local=local, expiring=expiry.upcoming(current_user),
                           today=today(), day=day_text)


@bp.route("/code", methods=["GET", "POST"])
@roles_required(*MEMBER_ROLES)
def code():
    """The redemption code, large, with its QR code; a POST asks for a new one."""
    form = FlaskForm()
    if request.method == "POST" and not form.validate_on_submit():
        flash(_("The form has expired or was not sent from this site. Please try again."),
              "danger")
        return redirect(url_for("volunteer.home"))
    issued = merchants.issue_code(
        member=current_user, ttl_seconds=current_app.config["REDEMPTION_CODE_TTL_SECONDS"])
    seconds_left = max(0, int((issued.expires_at - utcnow()).total_seconds()))
    qr = segno.make(issued.code, error="m").svg_inline(scale=7, border=2)
    summary = users.summary(current_user)
    return render_template("volunteer/code.html", code=issued.code, qr=qr,
                           seconds_left=seconds_left, form=form, summary=summary)


class LogHoursForm(FlaskForm):
    category = SelectField(_l("Kind of service"), validators=[InputRequired()])
    day = DateField(_l("Date"), validators=[InputRequired(_l("Please choose the date."))])
    start = TimeField(_l("Start time"),
                      validators=[InputRequired(_l("Please enter the start time."))])
    end = TimeField(_l("End time"), validators=[InputRequired(_l("Please enter the end time."))])
    place = StringField(_l("Place"), validators=[DataRequired(_l("Please enter the place.")),
                                                  Length(max=200)])
    description = TextAreaField(_l("What you did"), validators=[
        DataRequired(_l("Please describe the service.")), Length(max=2000)])


FIELD_OF = {"started_at": "start", "ended_at": "end", "category": "category",
            "place": "place", "description": "description"}


@bp.route("/log", methods=["GET", "POST"])
@roles_required(*MEMBER_ROLES)
def log_hours():
    form = LogHoursForm()
    form.category.choices = category_choices()
    if request.method == "GET":
        form.day.data = today()
    if form.validate_on_submit():
        started = datetime.combine(form.day.data, form.start.data, tzinfo=zone())
        ended = datetime.combine(form.day.data, form.end.data, tzinfo=zone())
        try:
            record = records.log_hours(
                actor=current_user, category=form.category.data, started_at=started,
                ended_at=ended, place=form.place.data, description=form.description.data)
        except OverlappingRecord as err:
            db.session.rollback()
            form.start.errors.append(err.detail)
        except DomainError as err:
            db.session.rollback()
            placed = False
            for name, messages in (err.errors or {}).items():
                field = getattr(form, FIELD_OF.get(name, ""), None)
                if field is not None:
                    field.errors.extend(messages)
                    placed = True
            if not placed:
                flash(err.detail, "danger")
        else:
            flash(_("Your %(hours)s hours were sent for approval.", hours=fmt(record.hours_minor)),
                  "success")
            return redirect(url_for("volunteer.records"))
    status = 422 if request.method == "POST" else 200
    return render_template("volunteer/log_hours.html", form=form), status


class CorrectionForm(FlaskForm):
    message = TextAreaField(_l("What is wrong"), validators=[
        DataRequired(_l("Please write what is wrong.")),
        Length(max=corrections.MAX_MESSAGE)])


@bp.get("/records", endpoint="records")
@roles_required(*MEMBER_ROLES)
def records_list():
    query = records.records_query(current_user, status=None, member_id=current_user.id,
                                  org_unit_id=None)
    page = db.paginate(query, page=page_arg(), per_page=RECORDS_PER_PAGE, error_out=False)
    return render_template("volunteer/records.html", page=page, statuses=STATUS_LABELS,
                           requests=corrections.requests_of_member(current_user),
                           form=CorrectionForm(), local=local)


@bp.post("/records/<int:record_id>/correction")
@roles_required(*MEMBER_ROLES)
def request_correction(record_id: int):
    form = CorrectionForm()
    if not form.validate_on_submit():
        for messages in form.errors.values():
            for message in messages:
                flash(message, "danger")
        return redirect(url_for("volunteer.records"))
    corrections.request_correction(record_id, member=current_user, message=form.message.data)
    flash(_("Your request was sent to the community staff."), "success")
    return redirect(url_for("volunteer.records"))


@bp.get("/transactions")
@roles_required(*MEMBER_ROLES)
def transactions():
    number = page_arg()
    history = ledger.member_history(current_user.id, page=number, per_page=HISTORY_PER_PAGE)
    pages = max(1, -(-history.total // HISTORY_PER_PAGE))
    return render_template("volunteer/transactions.html", history=history, page=number,
                           pages=pages, kinds=KIND_LABELS, local=local)
