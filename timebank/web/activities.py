"""Organised activities: members browse, sign up and check in; staff run them from the desk."""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime, timedelta
from decimal import Decimal

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from timebank.errors import CheckInRefused, DomainError, InvalidTransition
from timebank.extensions import db
from timebank.models import Activity, ActivitySignup
from timebank.models.base import utcnow
from timebank.models.user import MEMBER_ROLES
from timebank.privacy import mask_phone
from timebank.services import activities, audit, categories, records, users
from timebank.timeutil import local, zone
from timebank.units import quantize
from timebank.web.common import flash_form_errors, page_arg, place_domain_error, roles_required
from timebank.web.staff import FAILURE_REASONS
from timebank.web.volunteer import STATUS_LABELS as RECORD_STATUS_LABELS

bp = Blueprint("activities", __name__, url_prefix="/activities")

BROWSE_PER_PAGE = 20
MINE_PER_PAGE = 20
MANAGE_PER_PAGE = 30
MAX_ID = 2**31 - 1
MAX_DESCRIPTION = 2000
FIRST_YEAR, LAST_YEAR = 2000, 2100
FAILURES_SHOWN = 20
EVENTS_SHOWN = 100
# Units an activity may belong to: members only see those inside their community.
ACTIVITY_UNIT_KINDS = ("community", "grid", "building")
STATUS_FILTERS = ("open", "closed", "cancelled", "all")

ACTIVITY_STATUS_LABELS = {
    "open": _l("Open"),
    "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
}
SIGNUP_STATUS_LABELS = {
    "registered": _l("Signed up"),
    "waitlisted": _l("On the waitlist"),
    "cancelled": _l("Sign-up cancelled"),
}
# Why a member got no record when the activity was closed, by the code the service reports.
NOT_CREDITED_REASONS = {
    "presence": _l("present for less than %(share)d%% of the planned time",
                   share=round(activities.PRESENCE_SHARE * 100)),
    "overlapping_record": _l("already has a record for these hours"),
    "validation_error": _l("the record was refused (no rate for the category on that day?)"),
}
EVENT_LABELS = {
    "activity.create": _l("Activity created"),
    "activity.signup.registered": _l("Signed up"),
    "activity.signup.waitlisted": _l("Put on the waitlist"),
    "activity.signup.cancel": _l("Sign-up cancelled"),
    "activity.check_in": _l("Checked in with the code"),
    "activity.check_out": _l("Checked out with the code"),
    "activity.attendance.by_staff": _l("Attendance recorded by staff"),
    "activity.close": _l("Activity closed"),
    "activity.cancel": _l("Activity cancelled"),
}


@bp.context_processor
def _activity_context() -> dict:
    return {"when": _when, "hours": _hours, "activity_statuses": ACTIVITY_STATUS_LABELS,
            "signup_statuses": SIGNUP_STATUS_LABELS, "record_statuses": RECORD_STATUS_LABELS,
            "mask_phone": mask_phone}


# --- shared helpers ----------------------------------------------------------------------


def _day(moment: datetime) -> str:
    """2026年3月1日 周日 in Chinese, 2026-03-01 Sun in English."""
    day = local(moment).date()
    weekday = format_date(day, "EEE")
    if str(get_locale()).startswith("zh"):
        return f"{day.year}年{day.month}月{day.day}日 {weekday}"
    return f"{day.isoformat()} {weekday}"


def _hours(span: timedelta) -> str:
    """A span as hours with two decimals ('1.50'), rounded as records are."""
    return f"{quantize(Decimal(span.total_seconds()) / 3600):.2f}"


def _when(activity: Activity) -> str:
    """The activity's time in the local zone, the date once when it ends the same day."""
    start, end = local(activity.starts_at), local(activity.ends_at)
    if start.date() == end.date():
        return f"{_day(start)} {start:%H:%M}–{end:%H:%M}"
    return f"{_day(start)} {start:%H:%M} – {_day(end)} {end:%H:%M}"


def _in_calendar(form, field) -> None:
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(_l("Choose a date between %(first)d and %(last)d.",
                                 first=FIRST_YEAR, last=LAST_YEAR))


class LocalDateTimeField(DateTimeLocalField):
    """A date and time typed in the local zone (an <input type=datetime-local>)."""

    def __init__(self, label=None, validators=None, **kw):
        kw.setdefault("format", ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                                 "%Y-%m-%d %H:%M:%S"])
        super().__init__(label, [*(validators or []), _in_calendar], tz=zone, **kw)


# --- members: browse, sign up, check in ----------------------------------------------------


@bp.get("/")
@roles_required(*MEMBER_ROLES)
def browse():
    """Open activities of the member's community that have not ended yet."""
    query = activities.activities_query(current_user, status="open", upcoming_only=True)
    page = db.paginate(query, page=page_arg(), per_page=BROWSE_PER_PAGE, error_out=False)
    ids = [a.id for a in page.items]
    return render_template("activities/browse.html", page=page,
                           counts=activities.signup_counts(ids),
                           own=activities.own_signups(current_user.id, ids))


@bp.get("/mine")
@roles_required(*MEMBER_ROLES)
def mine():
    """Every activity the member signed up for, with attendance and the record's status."""
    query = activities.member_signups_query(current_user.id)
    page = db.paginate(query, page=page_arg(), per_page=MINE_PER_PAGE, error_out=False)
    found = activities.records_by_id([s.service_record_id for s in page.items])
    return render_template("activities/mine.html", page=page, found=found)


@bp.get("/<int:activity_id>")
@roles_required(*MEMBER_ROLES)
def detail(activity_id: int):
    activity = activities.visible_activity(current_user, activity_id)
    signup = activities.signup_of(activity.id, current_user.id)
    registered = activities.registered_count(activity.id)
    opens_at, closes_at = activities.check_window(activity)
    now = utcnow()
    record = activities.records_by_id([signup.service_record_id]).get(signup.service_record_id) \
        if signup is not None and signup.service_record_id else None
    return render_template(
        "activities/detail.html", activity=activity, signup=signup,
        places_left=max(0, activity.capacity - registered),
        position=activities.waitlist_position(activity, current_user.id)
        if signup is not None and signup.status == "waitlisted" else None,
        has_ended=activity.ends_at <= now, can_attend=opens_at <= now <= closes_at,
        opens_at=opens_at, record=record, form=FlaskForm())


@bp.post("/<int:activity_id>/sign-up")
@roles_required(*MEMBER_ROLES)
def sign_up(activity_id: int):
    try:
        signup = activities.sign_up(activity_id, actor=current_user)
    except DomainError as err:
        return _refused(err, activity_id)
    if signup.status == "registered":
        flash(_("You are signed up. See you there!"), "success")
    else:
        activity = activities.visible_activity(current_user, activity_id)
        flash(_("The activity is full: you are number %(n)d on the waitlist. You move up "
                "automatically when a place is freed.",
                n=activities.waitlist_position(activity, current_user.id) or 1), "warning")
    return redirect(url_for("activities.detail", activity_id=activity_id))


@bp.post("/<int:activity_id>/cancel-sign-up")
@roles_required(*MEMBER_ROLES)
def cancel_signup(activity_id: int):
    try:
        activities.cancel_signup(activity_id, actor=current_user)
    except DomainError as err:
        return _refused(err, activity_id)
    flash(_("Your sign-up was cancelled."), "success")
    return redirect(url_for("activities.detail", activity_id=activity_id))


def _refused(error: DomainError, activity_id: int):
    """Tell why, change nothing, and show the activity again."""
    db.session.rollback()
    flash(error.detail, "danger")
    return redirect(url_for("activities.detail", activity_id=activity_id))


def _plain_digits(value: str | None) -> str | None:
    """Full-width digits from a Chinese keyboard ('１２３４５６') read as ordinary ones."""
    return unicodedata.normalize("NFKC", value).strip() if value else value


class CodeForm(FlaskForm):
    code = StringField(_l("Check-in code"), filters=[_plain_digits], validators=[
        DataRequired(_l("Enter the 6-digit code shown by the organiser.")),
        Regexp(r"^[0-9]{6}$", message=_l("The code has 6 digits."))])


def _render_check_in(activity: Activity, form: CodeForm, status: int = 200):
    signup = activities.signup_of(activity.id, current_user.id)
    opens_at, closes_at = activities.check_window(activity)
    return render_template("activities/check_in.html", activity=activity, signup=signup,
                           form=form, opens_at=opens_at, closes_at=closes_at), status


@bp.route("/<int:activity_id>/check-in", methods=["GET", "POST"])
@roles_required(*MEMBER_ROLES)
def check_in(activity_id: int):
    """Type (or scan into the address) the organiser's code; one press checks in."""
    activity = activities.visible_activity(current_user, activity_id)
    form = CodeForm()
    if request.method == "GET":
        offered = request.args.get("code", "")
        form.code.data = offered if len(offered) == 6 and offered.isdigit() else ""
        return _render_check_in(activity, form)
    if not form.validate_on_submit():
        return _render_check_in(activity, form, 422)
    return _attend(activity, form.code.data, activities.check_in,
                   _("You are checked in. Check out with the code again when you leave."))


@bp.post("/<int:activity_id>/check-out")
@roles_required(*MEMBER_ROLES)
def check_out(activity_id: int):
    activity = activities.visible_activity(current_user, activity_id)
    form = CodeForm()
    if not form.validate_on_submit():
        return _render_check_in(activity, form, 422)
    return _attend(activity, form.code.data, activities.check_out,
                   _("You are checked out. Thank you for your service!"))


def _attend(activity: Activity, code: str, action, done: str):
    """Check in or out; a refusal is told plainly and changes nothing."""
    try:
        action(activity.id, member=current_user, code=code.strip())
    except CheckInRefused as err:
        db.session.rollback()
        flash(err.detail, "danger")
    else:
        flash(done, "success")
    return redirect(url_for("activities.check_in", activity_id=activity.id))


# --- staff: the list and a new activity ----------------------------------------------------


@bp.get("/manage")
@roles_required("staff")
def manage():
    """Activities in the staff member's reach, filtered by status."""
    status = request.args.get("status", "open")
    if status not in STATUS_FILTERS:
        flash(_("Unknown status; showing open activities."), "warning")
        status = "open"
    query = activities.activities_query(current_user, status=None if status == "all" else status)
    if status != "open":
        query = query.order_by(None).order_by(Activity.starts_at.desc(), Activity.id.desc())
    page = db.paginate(query, page=page_arg(), per_page=MANAGE_PER_PAGE, error_out=False)
    return render_template("activities/manage.html", page=page, status=status,
                           filters=STATUS_FILTERS,
                           counts=activities.signup_counts([a.id for a in page.items]))


class ActivityForm(FlaskForm):
    title = StringField(_l("Title"), validators=[
        DataRequired(_l("Please enter the title.")), Length(max=200)])
    category = SelectField(_l("Kind of service"), validators=[
        InputRequired(_l("Choose the kind of service."))])
    org_unit_id = SelectField(_l("Community or grid"), coerce=int, validators=[
        InputRequired(_l("Choose the community or grid."))])
    starts_at = LocalDateTimeField(_l("Starts"), validators=[
        InputRequired(_l("Please enter when it starts."))])
    ends_at = LocalDateTimeField(_l("Ends"), validators=[
        InputRequired(_l("Please enter when it ends."))])
    place = StringField(_l("Place"), validators=[
        DataRequired(_l("Please enter the place.")), Length(max=200)])
    capacity = IntegerField(_l("Places"), validators=[
        InputRequired(_l("Please enter the number of places.")),
        NumberRange(min=1, max=activities.MAX_CAPACITY)])
    description = TextAreaField(_l("What volunteers will do"), validators=[
        Optional(), Length(max=MAX_DESCRIPTION)])
    organiser = StringField(_l("Organising unit"), validators=[Optional(), Length(max=100)])
    person_in_charge = StringField(_l("Person in charge"), validators=[
        Optional(), Length(max=100)])


@bp.route("/new", methods=["GET", "POST"])
@roles_required("staff")
def create():
    form = ActivityForm()
    form.category.choices = [(c.code, c.name) for c in categories.all_categories()]
    form.org_unit_id.choices = [(unit.id, label) for unit, label in users.units_in_reach(
        current_user, kinds=ACTIVITY_UNIT_KINDS)]
    if request.method == "GET":
        start = (utcnow() + timedelta(days=1)).astimezone(zone()).replace(
            hour=9, minute=0, second=0, microsecond=0)
        form.starts_at.data, form.ends_at.data = start, start + timedelta(hours=2)
        form.capacity.data = 20
    if form.validate_on_submit():
        try:
            activity = activities.create_activity(
                actor=current_user, title=form.title.data, category=form.category.data,
                org_unit_id=form.org_unit_id.data, starts_at=form.starts_at.data,
                ends_at=form.ends_at.data, place=form.place.data, capacity=form.capacity.data,
                description=form.description.data or "", organiser=form.organiser.data or "",
                person_in_charge=form.person_in_charge.data or "")
        except DomainError as err:
            place_domain_error(form, err)
        else:
            flash(_("The activity %(title)s is open for sign-up.", title=activity.title),
                  "success")
            return redirect(url_for("activities.organise", activity_id=activity.id))
    status = 422 if request.method == "POST" else 200
    return render_template("activities/form.html", form=form), status


# --- staff: running one activity -----------------------------------------------------------


class AttendanceForm(FlaskForm):
    member = SelectField(_l("Member from the sign-up list"), validate_choice=True)
    other_member = StringField(_l("Or the member's number"), validators=[
        Optional(), Regexp(r"^\s*\d{1,10}\s*$", message=_l("Digits only."))])
    checked_in_at = LocalDateTimeField(_l("Arrived"), validators=[
        InputRequired(_l("Please enter when the member arrived."))])
    checked_out_at = LocalDateTimeField(_l("Left"), validators=[
        InputRequired(_l("Please enter when the member left."))])

    def chosen_member_id(self) -> int | None:
        """The member picked from the list or typed in; errors are put on the fields."""
        picked = int(self.member.data) if self.member.data else None
        typed = int(self.other_member.data) if (self.other_member.data or "").strip() else None
        if typed is not None and not 0 < typed <= MAX_ID:
            self.other_member.errors = [*self.other_member.errors,
                                        _("No such member number.")]
            return None
        if picked is None and typed is None:
            self.member.errors = [*self.member.errors,
                                  _("Choose a member or enter a member's number.")]
            return None
        if picked is not None and typed is not None and picked != typed:
            self.other_member.errors = [*self.other_member.errors,
                                        _("Choose a member or enter a number, not both.")]
            return None
        return picked if picked is not None else typed


class ApproveForm(FlaskForm):
    ids = SelectMultipleField(_l("Records"), coerce=int, validate_choice=False, validators=[
        DataRequired(_l("Select at least one record."))])

    def validate_ids(self, field):
        if any(not 0 < value <= MAX_ID for value in field.data or []):
            raise ValidationError(_l("Unknown record number."))


def _attendance_form(activity: Activity, signups: list[ActivitySignup],
                     formdata=None) -> AttendanceForm:
    form = AttendanceForm(formdata=formdata)
    form.member.choices = [("", _("— choose —"))] + [
        (str(s.member_id), f"{s.member.display_name} (#{s.member_id}, "
                           f"{SIGNUP_STATUS_LABELS[s.status]})") for s in signups]
    if formdata is None:  # a fresh form: the activity's planned time, up to now
        form.checked_in_at.data = activity.starts_at
        form.checked_out_at.data = min(activity.ends_at, utcnow())
    return form


def _code_view(activity: Activity) -> dict:
    """The code on the organiser's screen now, its QR code and when it changes."""
    issued = activities.checkin_code(activity.id, actor=current_user)
    url = current_app.config["BASE_URL"].rstrip("/") + url_for(
        "activities.check_in", activity_id=activity.id, code=issued.code)
    qr = segno.make(url, error="m").svg_inline(scale=6, border=2, omitsize=True)
    seconds_left = max(1, math.ceil((issued.rotates_at - utcnow()).total_seconds()))
    return {"code": issued.code, "rotates_at": local(issued.rotates_at).isoformat(),
            "expires_at": local(issued.expires_at).isoformat(), "seconds_left": seconds_left,
            "qr_svg": qr, "url": url}


def _credit_notes(activity: Activity, signups: list[ActivitySignup]) -> dict[int, str]:
    """Why a registered member of a closed activity has no record (what can be told again)."""
    if activity.status != "closed":
        return {}
    planned = activity.ends_at - activity.starts_at
    notes = {}
    for signup in signups:
        if signup.status == "registered" and signup.service_record_id is None:
            short = activities.presence(activity, signup) < planned * activities.PRESENCE_SHARE
            notes[signup.id] = str(NOT_CREDITED_REASONS["presence"]) if short \
                else _("no record was made")
    return notes


def _render_organise(activity: Activity, *, attendance: AttendanceForm | None = None,
                     status: int = 200):
    signups = activities.signups_of(activity)
    found = activities.records_by_id([s.service_record_id for s in signups])
    pending = activities.pending_records_of(activity) if activity.status == "closed" else []
    opens_at, closes_at = activities.check_window(activity)
    events = audit.events_about("activity", activity.id)
    return render_template(
        "activities/organise.html", activity=activity, signups=signups, found=found,
        registered=sum(1 for s in signups if s.status == "registered"),
        waitlisted=sum(1 for s in signups if s.status == "waitlisted"),
        code=_code_view(activity) if activity.status == "open" else None,
        opens_at=opens_at, closes_at=closes_at, now=utcnow(),
        attendance=attendance or _attendance_form(activity, signups),
        approve_form=ApproveForm(formdata=None), pending=pending,
        pending_records=[found[i] for i in pending if i in found],
        notes=_credit_notes(activity, signups), presence=activities.presence,
        events=events[-EVENTS_SHOWN:][::-1], event_count=len(events),
        event_labels=EVENT_LABELS), status


@bp.get("/<int:activity_id>/organise")
@roles_required("staff")
def organise(activity_id: int):
    """The organiser's page: sign-ups, attendance, the rotating code, closing, approval."""
    return _render_organise(activities.managed_activity(current_user, activity_id))


@bp.get("/<int:activity_id>/screen")
@roles_required("staff")
def screen(activity_id: int):
    """Only the code, as large as possible, for a projector or a tablet at the door."""
    activity = activities.managed_activity(current_user, activity_id)
    if activity.status != "open":
        flash(_("This activity is no longer open."), "warning")
        return redirect(url_for("activities.organise", activity_id=activity.id))
    return render_template("activities/screen.html", activity=activity,
                           code=_code_view(activity))


@bp.get("/<int:activity_id>/code.json")
@roles_required("staff")
def code_json(activity_id: int):
    """The current code for the organiser's screen (fetched by activity-code.js)."""
    try:
        activity = activities.managed_activity(current_user, activity_id)
        body = _code_view(activity)
    except DomainError as err:
        db.session.rollback()
        resp = jsonify({"code": err.code, "detail": err.detail})
        resp.status_code = err.status
    else:
        resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/<int:activity_id>/attendance")
@roles_required("staff")
def attendance(activity_id: int):
    """Attendance by hand for a member without a phone; recorded as staff for the member."""
    activity = activities.managed_activity(current_user, activity_id)
    form = _attendance_form(activity, activities.signups_of(activity), formdata=request.form)
    if form.validate_on_submit():
        member_id = form.chosen_member_id()
        if member_id is not None:
            try:
                signup = activities.mark_attendance(
                    activity.id, actor=current_user, member_id=member_id,
                    checked_in_at=form.checked_in_at.data,
                    checked_out_at=form.checked_out_at.data)
            except DomainError as err:
                place_domain_error(form, err)
            else:
                flash(_("Attendance of %(name)s was recorded.",
                        name=signup.member.display_name), "success")
                return redirect(url_for("activities.organise", activity_id=activity.id,
                                        _anchor="attendance"))
    return _render_organise(activity, attendance=form, status=422)


def _already_done(activity: Activity) -> str:
    if activity.status == "closed":
        return _("This activity has already been closed.")
    return _("This activity was cancelled.")


@bp.route("/<int:activity_id>/close", methods=["GET", "POST"])
@roles_required("staff")
def close(activity_id: int):
    """Confirm, then close: a pending record for each member present long enough."""
    activity = activities.managed_activity(current_user, activity_id)
    form = FlaskForm()
    if activity.status != "open":
        flash(_already_done(activity), "danger")
        return redirect(url_for("activities.organise", activity_id=activity.id))
    if request.method == "GET":
        signups = [s for s in activities.signups_of(activity) if s.status == "registered"]
        planned = activity.ends_at - activity.starts_at
        preview = [(s, activities.presence(activity, s),
                    activities.presence(activity, s) >= planned * activities.PRESENCE_SHARE)
                   for s in signups]
        return render_template("activities/confirm.html", activity=activity, form=form,
                               action="close", preview=preview,
                               short_presence=NOT_CREDITED_REASONS["presence"],
                               presence_percent=round(activities.PRESENCE_SHARE * 100))
    try:
        result = activities.close_activity(activity.id, actor=current_user)
    except InvalidTransition:
        db.session.rollback()
        flash(_already_done(activities.managed_activity(current_user, activity_id)), "danger")
        return redirect(url_for("activities.organise", activity_id=activity_id))
    flash(_("The activity is closed: %(n)d records were made and wait for approval.",
            n=len(result.records_created)), "success")
    if result.not_credited:
        names = {s.member_id: s.member.display_name
                 for s in activities.signups_of(result.activity)}
        for member_id, reason in result.not_credited[:FAILURES_SHOWN]:
            flash(_("Not credited: %(name)s — %(reason)s",
                    name=names.get(member_id, f"#{member_id}"),
                    reason=NOT_CREDITED_REASONS.get(reason, reason)), "warning")
        if len(result.not_credited) > FAILURES_SHOWN:
            flash(_("… and %(n)d more.", n=len(result.not_credited) - FAILURES_SHOWN),
                  "warning")
    return redirect(url_for("activities.organise", activity_id=activity_id))


@bp.route("/<int:activity_id>/cancel", methods=["GET", "POST"])
@roles_required("staff")
def cancel(activity_id: int):
    """Confirm, then call the activity off; nobody is credited, sign-ups stay as history."""
    activity = activities.managed_activity(current_user, activity_id)
    form = FlaskForm()
    if activity.status != "open":
        flash(_already_done(activity), "danger")
        return redirect(url_for("activities.organise", activity_id=activity.id))
    if request.method == "GET":
        return render_template("activities/confirm.html", activity=activity, form=form,
                               action="cancel", preview=[])
    try:
        activities.cancel_activity(activity.id, actor=current_user)
    except InvalidTransition:
        db.session.rollback()
        flash(_already_done(activities.managed_activity(current_user, activity_id)), "danger")
        return redirect(url_for("activities.organise", activity_id=activity_id))
    flash(_("The activity was cancelled."), "success")
    return redirect(url_for("activities.organise", activity_id=activity_id))


@bp.post("/<int:activity_id>/approve")
@roles_required("staff")
def approve(activity_id: int):
    """Approve the selected records of this closed activity; each failure is told."""
    activity = activities.managed_activity(current_user, activity_id)
    form = ApproveForm()
    back = redirect(url_for("activities.organise", activity_id=activity.id, _anchor="records"))
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back
    waiting = set(activities.pending_records_of(activity))
    chosen = list(dict.fromkeys(form.ids.data))
    outside = [i for i in chosen if i not in waiting]
    result = records.bulk_approve([i for i in chosen if i in waiting], reviewer=current_user)
    failed = [*result.failed, *((i, "outside") for i in outside)]
    done = result.approved
    flash(_("%(done)d approved, %(failed)d failed.", done=len(done), failed=len(failed)),
          "success" if not failed else ("warning" if done else "danger"))
    reasons = {**FAILURE_REASONS,
               "outside": _l("not a record of this activity waiting for approval")}
    for record_id, code in failed[:FAILURES_SHOWN]:
        flash(_("Record %(id)d: %(reason)s", id=record_id, reason=reasons.get(code, code)),
              "danger")
    if len(failed) > FAILURES_SHOWN:
        flash(_("… and %(n)d more.", n=len(failed) - FAILURES_SHOWN), "danger")
    return back

