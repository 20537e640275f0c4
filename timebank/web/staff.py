"""The community staff desk: the approval queue, members, categories and merchants."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from marshmallow import ValidationError as SchemaError
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from timebank.errors import DomainError
from timebank.extensions import db
from timebank.models.user import MEMBER_ROLES, ROLES
from timebank.privacy import mask_id_number, mask_phone
from timebank.schemas.types import MinorUnits
from timebank.services import categories, corrections, merchants, records, users
from timebank.timeutil import today
from timebank.web.common import (
    day_arg,
    flash_form_errors,
    page_arg,
    place_domain_error,
    roles_required,
    safe_next,
)

bp = Blueprint("staff", __name__, url_prefix="/desk")

QUEUE_PER_PAGE = 50
MEMBERS_PER_PAGE = 50
CORRECTIONS_SHOWN = 50
FAILURES_SHOWN = 20
MAX_ID = 2**31 - 1
HOME_UNIT_KINDS = ("grid",)

FLAG_LABELS = {
    records.FLAG_OVERLAP: _l("Overlaps another record of this member"),
    records.FLAG_LONG: _l("Longer than 8 hours"),
    records.FLAG_LATE: _l("Logged more than 30 days after the service"),
    records.FLAG_PROXY: _l("Logged by someone else"),
}
# Why one record of a bulk review failed, by the error code the service reports.
FAILURE_REASONS = {
    "self_approval": _l("you cannot review your own hours"),
    "not_found": _l("no such record in your reach"),
    "forbidden": _l("outside your reach"),
    "invalid_transition": _l("already reviewed"),
    "validation_error": _l("the category has no rate for that date"),
}
ROLE_LABELS = {
    "volunteer": _l("Volunteer"),
    "gridworker": _l("Gridworker"),
    "staff": _l("Community staff"),
    "merchant": _l("Merchant"),
    "admin": _l("Administrator"),
}


@bp.context_processor
def _desk_context() -> dict:
    return {"mask_phone": mask_phone, "mask_id_number": mask_id_number,
            "role_labels": ROLE_LABELS}


# --- shared parsing helpers ------------------------------------------------------------


def _back(endpoint: str) -> str:
    return safe_next(request.referrer, endpoint)


class PointsField(StringField):
    """Points typed as '20.00'; `minor` holds the hundredths once the form is valid."""

    def __init__(self, label=None, validators=None, *, positive=True, maximum=None, **kw):
        super().__init__(label, validators, **kw)
        options = {"positive": positive}
        if maximum is not None:
            options["maximum"] = maximum
        self._parser = MinorUnits(**options)
        self.minor: int | None = None

    def post_validate(self, form, validation_stopped):
        if validation_stopped:
            return
        try:
            self.minor = self._parser.deserialize((self.data or "").strip())
        except SchemaError as err:
            self.errors.extend(err.messages if isinstance(err.messages, list)
                               else [str(err.messages)])


def _ids_in_range(form, field):
    if any(not 0 < value <= MAX_ID for value in field.data or []):
        raise ValidationError(_l("Unknown record number."))


# --- the approval queue ----------------------------------------------------------------


class ReviewForm(FlaskForm):
    ids = SelectMultipleField(_l("Records"), coerce=int, validate_choice=False,
                              validators=[DataRequired(_l("Select at least one record.")),
                                          _ids_in_range])
    action = StringField(_l("Action"), validators=[AnyOf(("approve", "reject"))])
    reason = TextAreaField(_l("Reason for rejecting"),
                           validators=[Optional(), Length(max=records.MAX_REASON)])

    def validate_reason(self, field):
        if self.action.data == "reject" and not (field.data or "").strip():
            raise ValidationError(_l("Give a reason for rejecting."))


class ResolveForm(FlaskForm):
    resolution = TextAreaField(_l("Answer"), validators=[
        DataRequired(_l("Please write your answer.")), Length(max=corrections.MAX_MESSAGE)])


def _queue_filters(grids: dict[int, str], codes: set[str]) -> dict:
    """The filters from the query string; anything invalid is told and left out."""
    chosen: dict = {}
    raw_grid = request.args.get("grid", "").strip()
    if raw_grid:
        if raw_grid.isdigit() and len(raw_grid) < 11 and int(raw_grid) in grids:
            chosen["grid"] = int(raw_grid)
        else:
            flash(_("Unknown grid; the grid filter was ignored."), "warning")
    raw_category = request.args.get("category", "").strip()
    if raw_category:
        if raw_category in codes:
            chosen["category"] = raw_category
        else:
            flash(_("Unknown category; the category filter was ignored."), "warning")
    day_from = day_arg("from", _("From"))
    day_to = day_arg("to", _("To"))
    if day_from and day_to and day_from > day_to:
        flash(_("The start date is after the end date; the dates were ignored."), "warning")
        day_from = day_to = None
    if day_from:
        chosen["from"] = day_from.isoformat()
    if day_to:
        chosen["to"] = day_to.isoformat()
    return chosen


@bp.get("/")
@roles_required("staff")
def queue():
    grids = dict((unit.id, label) for unit, label
                 in users.units_in_reach(current_user, kinds=("community", "grid")))
    category_list = categories.all_categories()
    filters = _queue_filters(grids, {c.code for c in category_list})
    query = records.pending_queue(
        current_user, org_unit_id=filters.get("grid"), category_code=filters.get("category"),
        day_from=date.fromisoformat(filters["from"]) if "from" in filters else None,
        day_to=date.fromisoformat(filters["to"]) if "to" in filters else None)
    page = db.paginate(query, page=page_arg(), per_page=QUEUE_PER_PAGE, error_out=False)
    flags = records.queue_flags(page.items)
    open_requests = db.paginate(corrections.open_requests_query(current_user), page=1,
                                per_page=CORRECTIONS_SHOWN, error_out=False)
    return render_template(
        "staff/queue.html", page=page, flags=flags, flag_labels=FLAG_LABELS, filters=filters,
        grids=grids, categories=category_list, form=ReviewForm(formdata=None),
        open_requests=open_requests)


@bp.post("/review")
@roles_required("staff")
def review():
    """Approve or reject the selected records; each failure is told, the rest go through."""
    form = ReviewForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(_back("staff.queue"))
    if form.action.data == "approve":
        result = records.bulk_approve(form.ids.data, reviewer=current_user)
        done, failed = result.approved, result.failed
        summary = _("%(done)d approved, %(failed)d failed.", done=len(done), failed=len(failed))
    else:
        result = records.bulk_reject(form.ids.data, reviewer=current_user,
                                     reason=form.reason.data)
        done, failed = result.rejected, result.failed
        summary = _("%(done)d rejected, %(failed)d failed.", done=len(done), failed=len(failed))
    flash(summary, "success" if not failed else ("warning" if done else "danger"))
    for record_id, code in failed[:FAILURES_SHOWN]:
        flash(_("Record %(id)d: %(reason)s", id=record_id,
                reason=FAILURE_REASONS.get(code, code)), "danger")
    if len(failed) > FAILURES_SHOWN:
        flash(_("… and %(n)d more.", n=len(failed) - FAILURES_SHOWN), "danger")
    return redirect(_back("staff.queue"))


@bp.post("/corrections/<int:request_id>/resolve")
@roles_required("staff")
def resolve_correction(request_id: int):
    form = ResolveForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(_back("staff.queue"))
    corrections.resolve_correction(request_id, reviewer=current_user,
                                   resolution=form.resolution.data)
    flash(_("The answer was sent to the member."), "success")
    return redirect(_back("staff.queue"))


# --- members ---------------------------------------------------------------------------


def _role_choices() -> list[tuple[str, str]]:
    """Staff give member roles; an admin may also make staff and admins."""
    allowed = [r for r in ROLES if r != "merchant"] if current_user.has_role("admin") \
        else list(MEMBER_ROLES)
    return [(r, str(ROLE_LABELS[r])) for r in allowed]


def _unit_choices(current=None) -> list[tuple[int, str]]:
    choices = [(unit.id, label) for unit, label
               in users.units_in_reach(current_user, kinds=HOME_UNIT_KINDS)]
    if current is not None and current.id not in {c[0] for c in choices}:
        choices.insert(0, (current.id, current.name))
    return choices


class MemberEditForm(FlaskForm):
    display_name = StringField(_l("Name"), validators=[
        DataRequired(_l("Please enter the name.")), Length(max=users.MAX_DISPLAY_NAME)])
    phone = StringField(_l("Phone"), validators=[
        Optional(), Regexp(users.PHONE_PATTERN, message=_l("Digits only, 5 to 19 of them."))])
    org_unit_id = SelectField(_l("Grid"), coerce=int,
                              validators=[InputRequired(_l("Choose the grid."))])
    roles = SelectMultipleField(_l("Roles"), validators=[
        DataRequired(_l("Choose at least one role."))])
    is_party_member = BooleanField(_l("Party member"))
    party_unit = StringField(_l("Party unit"), validators=[
        Optional(), Length(max=users.MAX_PARTY_UNIT)])
    # Never shown again once saved: the page says only the masked number (see the template).
    id_number = StringField(_l("Resident ID number"), validators=[Optional(), Length(max=30)])
    remove_id_number = BooleanField(_l("Remove the ID number"))

    def party_fields(self) -> dict:
        return {"is_party_member": self.is_party_member.data,
                "party_unit": (self.party_unit.data or "").strip() or None}


class MemberNewForm(MemberEditForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(_l("Please enter a username.")), Length(min=3, max=64),
        Regexp(r"^[A-Za-z0-9_.\-@]+$", message=_l("Letters, digits and _ . - @ only."))])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Please enter a password.")),
        Length(min=users.MIN_PASSWORD_LENGTH, max=200)])


class ActiveForm(FlaskForm):
    active = StringField(validators=[AnyOf(("0", "1"))])


def _search_arg() -> str:
    q = request.args.get("q", "").strip()
    if len(q) > users.MAX_SEARCH:
        flash(_("The search is too long; showing everyone."), "warning")
        return ""
    return q


@bp.get("/members")
@roles_required("staff")
def members():
    q = _search_arg()
    page = db.paginate(users.members_query(current_user, q=q), page=page_arg(),
                       per_page=MEMBERS_PER_PAGE, error_out=False)
    return render_template("staff/members.html", page=page, q=q)


@bp.route("/members/new", methods=["GET", "POST"])
@roles_required("staff")
def member_new():
    form = MemberNewForm()
    form.org_unit_id.choices = _unit_choices()
    form.roles.choices = _role_choices()
    if request.method == "GET":
        form.roles.data = ["volunteer"]
    if form.validate_on_submit():
        try:
            member = users.create_user(
                actor=current_user, username=form.username.data.strip(),
                password=form.password.data, display_name=form.display_name.data.strip(),
                roles=form.roles.data, org_unit_id=form.org_unit_id.data,
                phone=(form.phone.data or "").strip() or None,
                id_number=(form.id_number.data or "").strip() or None, **form.party_fields())
        except DomainError as err:
            place_domain_error(form, err)
        else:
            flash(_("%(name)s was added.", name=member.display_name), "success")
            return redirect(url_for("staff.members"))
    status = 422 if request.method == "POST" else 200
    return render_template("staff/member_form.html", form=form, member=None), status


@bp.route("/members/<int:member_id>", methods=["GET", "POST"])
@roles_required("staff")
def member_edit(member_id: int):
    member = users.manageable_member(current_user, member_id)
    form = MemberEditForm(obj=member if request.method == "GET" else None)
    form.org_unit_id.choices = _unit_choices(member.org_unit)
    form.roles.choices = _role_choices()
    if request.method == "GET":
        form.roles.data = member.roles
        form.id_number.data = ""  # the number on file is only ever shown masked
    if form.validate_on_submit():
        changes = form.party_fields()
        typed_id = (form.id_number.data or "").strip()
        if form.remove_id_number.data:
            changes["id_number"] = None
        elif typed_id:
            changes["id_number"] = typed_id  # left empty: the number on file is kept
        try:
            users.update_member(
                current_user, member.id, display_name=form.display_name.data,
                phone=form.phone.data, org_unit_id=form.org_unit_id.data,
                roles=form.roles.data, **changes)
        except DomainError as err:
            place_domain_error(form, err)
        else:
            flash(_("The changes were saved."), "success")
            return redirect(url_for("staff.member_edit", member_id=member_id))
    status = 422 if request.method == "POST" else 200
    return render_template("staff/member_form.html", form=form, member=member), status


@bp.post("/members/<int:member_id>/active")
@roles_required("staff")
def member_active(member_id: int):
    form = ActiveForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(_back("staff.members"))
    member = users.set_active(current_user, member_id, form.active.data == "1")
    if member.is_active:
        flash(_("%(name)s can sign in again.", name=member.display_name), "success")
    else:
        flash(_("%(name)s was deactivated; their history is kept.", name=member.display_name),
              "success")
    return redirect(_back("staff.members"))


# --- categories ------------------------------------------------------------------------


class CategoryForm(FlaskForm):
    code = StringField(_l("Code"), validators=[
        DataRequired(_l("Please enter a code.")), Length(max=32),
        Regexp(r"^[a-z0-9_\-]+$", message=_l("Lowercase letters, digits, _ and - only."))])
    name = StringField(_l("Name"), validators=[DataRequired(_l("Please enter the name.")),
                                                Length(max=100)])
    points_per_hour = PointsField(_l("Points per hour"), positive=False, maximum=10000,
                                  validators=[DataRequired(_l("Please enter the rate."))])


class RateForm(FlaskForm):
    points_per_hour = PointsField(_l("Points per hour"), positive=False, maximum=10000,
                                  validators=[DataRequired(_l("Please enter the rate."))])
    effective_from = DateField(_l("From"), validators=[
        InputRequired(_l("Please choose the date the rate starts."))])


@bp.get("/categories", endpoint="categories")
@roles_required("staff")
def categories_page():
    return render_template("staff/categories.html", rows=categories.rate_table(today()),
                           form=CategoryForm(formdata=None), rate_form=RateForm(formdata=None))


@bp.post("/categories/new")
@roles_required("staff")
def category_create():
    form = CategoryForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("staff.categories"))
    category = categories.create_category(
        actor=current_user, code=form.code.data.strip(), name=form.name.data.strip(),
        points_per_hour_minor=form.points_per_hour.minor)
    flash(_("The category %(name)s was added.", name=category.name), "success")
    return redirect(url_for("staff.categories"))


@bp.post("/categories/<code>/rate")
@roles_required("staff")
def category_rate(code: str):
    form = RateForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("staff.categories"))
    categories.change_rate(actor=current_user, code=code,
                           points_per_hour_minor=form.points_per_hour.minor,
                           effective_from=form.effective_from.data)
    flash(_("The new rate was saved."), "success")
    return redirect(url_for("staff.categories"))


# --- merchants -------------------------------------------------------------------------


class MerchantForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Please enter the name.")),
                                                Length(max=100)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=200)])
    org_unit_id = SelectField(_l("Community or grid"), coerce=int,
                              validators=[InputRequired(_l("Choose where it is."))])


class OfferForm(FlaskForm):
    title = StringField(_l("Offer"), validators=[DataRequired(_l("Please enter the offer.")),
                                                  Length(max=100)])
    points_cost = PointsField(_l("Points"), validators=[
        DataRequired(_l("Please enter the points."))])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=1000)])


def _merchant_unit_choices() -> list[tuple[int, str]]:
    return [(unit.id, label) for unit, label in users.units_in_reach(current_user)]


@bp.get("/merchants", endpoint="merchants")
@roles_required("staff")
def merchants_page():
    form = MerchantForm(formdata=None)
    form.org_unit_id.choices = _merchant_unit_choices()
    return render_template("staff/merchants.html",
                           directory=merchants.merchant_directory(current_user), form=form,
                           offer_form=OfferForm(formdata=None))


@bp.post("/merchants/new")
@roles_required("staff")
def merchant_create():
    form = MerchantForm()
    form.org_unit_id.choices = _merchant_unit_choices()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("staff.merchants"))
    merchant = merchants.create_merchant(
        actor=current_user, name=form.name.data.strip(), org_unit_id=form.org_unit_id.data,
        address=(form.address.data or "").strip() or None)
    flash(_("The merchant %(name)s was added.", name=merchant.name), "success")
    return redirect(url_for("staff.merchants"))


@bp.post("/merchants/<int:merchant_id>/offers")
@roles_required("staff")
def offer_create(merchant_id: int):
    form = OfferForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("staff.merchants"))
    offer = merchants.create_offer(
        actor=current_user, merchant_id=merchant_id, title=form.title.data.strip(),
        points_cost_minor=form.points_cost.minor,
        description=(form.description.data or "").strip() or None)
    flash(_("The offer %(title)s was added.", title=offer.title), "success")
    return redirect(url_for("staff.merchants"))


@bp.post("/offers/<int:offer_id>/active")
@roles_required("staff")
def offer_active(offer_id: int):
    form = ActiveForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("staff.merchants"))
    offer = merchants.set_offer_active(current_user, offer_id, form.active.data == "1")
    if offer.is_active:
        flash(_("The offer %(title)s is available again.", title=offer.title), "success")
    else:
        flash(_("The offer %(title)s was withdrawn.", title=offer.title), "success")
    return redirect(url_for("staff.merchants"))
