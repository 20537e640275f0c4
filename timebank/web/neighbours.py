"""The time bank between neighbours: asking for and giving help, giving points, family links;
and the staff desk for it: requests in reach, acting for elders, family links, giving policy."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
)

from timebank.errors import DomainError, Forbidden, InsufficientPoints, NotFound
from timebank.extensions import db
from timebank.models import User
from timebank.models.helping import HELP_STATUSES
from timebank.models.policy import TRANSFER_MODES
from timebank.models.user import MEMBER_ROLES
from timebank.privacy import mask_phone
from timebank.services import access, audit, helping, ledger, org, users
from timebank.timeutil import local, today, zone
from timebank.units import fmt
from timebank.web.common import (
    AlreadySent,
    OnceForm,
    category_choices,
    member_page,
    once,
    page_arg,
    place_domain_error,
    roles_required,
    safe_next,
)
from timebank.web.staff import PointsField

bp = Blueprint("neighbours", __name__, url_prefix="/neighbours")

# Pages about one request are shared: its beneficiary, its helper and staff in reach use them.
SHARED_ROLES = (*MEMBER_ROLES, "staff")
OPEN_PER_PAGE = 20
OWN_SHOWN = 20
DESK_PER_PAGE = 30
HISTORY_PER_PAGE = 20
MEMBERS_PER_PAGE = 30
LINKS_SHOWN = 100
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)
STATUS_FILTERS = (*HELP_STATUSES, "all")
PHONE_FORMAT = r"^\+?[0-9 \-]{5,24}$"

HELP_STATUS_LABELS = {
    "open": _l("Waiting for a helper"),
    "claimed": _l("A helper is on it"),
    "completed": _l("Done"),
    "cancelled": _l("Cancelled"),
}
HELP_STATUS_BADGES = {
    "open": "text-bg-primary",
    "claimed": "text-bg-warning",
    "completed": "text-bg-success",
    "cancelled": "text-bg-secondary",
}
LINK_STATUS_LABELS = {
    "pending": _l("Waiting for staff to confirm"),
    "confirmed": _l("Confirmed"),
    "revoked": _l("Ended"),
}
MODE_LABELS = {
    "off": _l("Switched off"),
    "family": _l("Only to family confirmed by staff"),
    "any": _l("To anyone in the same street"),
}
# Where the points offered for a request are now (helping.points_state).
POINTS_STATE_LABELS = {
    "none": _l("No points offered"),
    "held": _l("Set aside from the beneficiary's balance"),
    "paid": _l("Paid to the helper"),
    "returned": _l("Returned to the beneficiary"),
}
# Stored as these codes; text typed elsewhere (the API) is shown as it is.
RELATION_LABELS = {
    "spouse": _l("Spouse"),
    "child": _l("Son or daughter"),
    "parent": _l("Father or mother"),
    "sibling": _l("Brother or sister"),
    "grandparent": _l("Grandparent"),
    "grandchild": _l("Grandchild"),
    "other": _l("Other relative"),
}
EVENT_LABELS = {
    "help_request.post": _l("Posted"),
    "help_request.claim": _l("Taken by a helper"),
    "help_request.release": _l("Given back by the helper"),
    "help_request.cancel": _l("Cancelled"),
    "help_request.complete": _l("Help confirmed and rated"),
}
RATING_WORDS = {
    1: _l("Poor"),
    2: _l("Fair"),
    3: _l("Good"),
    4: _l("Very good"),
    5: _l("Excellent"),
}


def _when(moment: datetime | None) -> str:
    """2026年3月1日 14:00 in Chinese, 2026-03-01 14:00 in English."""
    if moment is None:
        return ""
    shown = local(moment)
    if str(get_locale()).startswith("zh"):
        return f"{shown.year}年{shown.month}月{shown.day}日 {shown:%H:%M}"
    return shown.strftime("%Y-%m-%d %H:%M")


def _shown_name(person: User | None) -> str:
    return access.shown_name(current_user, person)


def _relation(value: str | None) -> str:
    return str(RELATION_LABELS.get(value or "", value or ""))


@bp.context_processor
def _neighbours_context() -> dict:
    return {"when": _when, "shown_name": _shown_name, "relation_label": _relation,
            "help_statuses": HELP_STATUS_LABELS, "help_badges": HELP_STATUS_BADGES,
            "link_statuses": LINK_STATUS_LABELS, "mode_labels": MODE_LABELS,
            "points_states": POINTS_STATE_LABELS, "rating_words": RATING_WORDS,
            "mask_phone": mask_phone}


# --- shared helpers ----------------------------------------------------------------------


def _back(endpoint: str, **values) -> str:
    return safe_next(request.referrer, endpoint) if request.referrer else url_for(
        endpoint, **values)


def _balance(member: User) -> int:
    return ledger.member_account(member.id).balance_minor


def _not_enough(member: User) -> str:
    return _("Not enough points: the balance is %(balance)s.", balance=fmt(_balance(member)))


# --- requests for help: the forms --------------------------------------------------------


class RequestForm(OnceForm):
    title = StringField(_l("What do you need help with?"), validators=[
        DataRequired(_l("Please say what you need help with.")),
        Length(max=helping.MAX_TITLE)])
    description = TextAreaField(_l("Details (where, what to bring)"), validators=[
        Optional(), Length(max=helping.MAX_TEXT)])
    category = SelectField(_l("Kind of help"), validators=[InputRequired()])
    day = DateField(_l("Date needed"), validators=[InputRequired(_l("Please choose the date."))])
    time = TimeField(_l("Time needed"), validators=[InputRequired(_l("Please enter the time."))])
    offered_points = PointsField(_l("Points you offer the helper"), positive=False,
                                 validators=[Optional()])


# Where a service error about a request belongs on the form.
REQUEST_FIELDS = {"needed_at": "day", "offered_points": "offered_points", "title": "title",
                  "description": "description", "category": "category"}


class CompleteForm(FlaskForm):
    rating = RadioField(_l("How was the help?"), coerce=int,
                        choices=[(n, str(n)) for n in range(1, 6)],
                        validators=[InputRequired(_l("Please choose from 1 to 5 stars."))])
    comment = TextAreaField(_l("A word of thanks or a remark (optional)"), validators=[
        Optional(), Length(max=helping.MAX_TEXT)])


def _needed_at(form: RequestForm) -> datetime | None:
    """The date and time typed, in the local zone; a date far off is told on the field."""
    if not FIRST_DAY <= form.day.data <= LAST_DAY:
        form.day.errors = [*form.day.errors,
                           _("Choose a time from a week ago to a year ahead.")]
        return None
    return datetime.combine(form.day.data, form.time.data, tzinfo=zone())


def _request_form(beneficiary: User, *, on_behalf: bool):
    """Post a request for the beneficiary: the member themself, or staff for an elder."""
    form = RequestForm()
    form.category.choices = category_choices()
    if request.method == "GET":
        form.day.data = today()
    if form.validate_on_submit():
        needed_at = _needed_at(form)
        if needed_at is not None:
            try:
                with once(form):
                    created = helping.post_request(
                        actor=current_user, title=form.title.data,
                        description=form.description.data or "",
                        category=form.category.data, org_unit_id=beneficiary.org_unit_id,
                        needed_at=needed_at, offered_points_minor=form.offered_points.minor or 0,
                        beneficiary_id=beneficiary.id if on_behalf else None)
            except InsufficientPoints:
                db.session.rollback()
                form.offered_points.errors = [*form.offered_points.errors, _not_enough(
                    beneficiary)]
            except (Forbidden, NotFound, AlreadySent):
                raise
            except DomainError as err:
                place_domain_error(form, err, REQUEST_FIELDS)
            else:
                if created.offered_points_minor:
                    flash(_("The request was posted; %(points)s points are set aside until "
                            "the help is confirmed.", points=fmt(created.offered_points_minor)),
                          "success")
                else:
                    flash(_("The request was posted."), "success")
                return redirect(url_for("neighbours.request_detail", request_id=created.id))
    status = 422 if request.method == "POST" else 200
    return render_template("neighbours/request_form.html", form=form, beneficiary=beneficiary,
                           on_behalf=on_behalf, balance=_balance(beneficiary)), status


# --- requests for help: members ----------------------------------------------------------


@bp.get("/", endpoint="requests")
@member_page("neighbours.desk")
def requests_page():
    """Open requests of the member's community, their own requests and what they have taken."""
    open_page = db.paginate(helping.requests_query(current_user, status="open"),
                            page=page_arg(), per_page=OPEN_PER_PAGE, error_out=False)
    asked = db.session.scalars(helping.requests_asked_by(current_user.id).limit(OWN_SHOWN)).all()
    taken = db.session.scalars(helping.requests_taken_by(current_user.id).limit(OWN_SHOWN)).all()
    return render_template("neighbours/requests.html", open_page=open_page, asked=asked,
                           taken=taken, balance=_balance(current_user), form=FlaskForm())


@bp.route("/new", methods=["GET", "POST"])
@member_page("neighbours.desk")
def new_request():
    return _request_form(current_user, on_behalf=False)


def _render_detail(help_request, complete_form: CompleteForm, status: int = 200):
    me = current_user
    staff_here = access.reaches(me, help_request.org_unit)
    is_beneficiary = help_request.beneficiary_id == me.id
    is_helper = help_request.helper_id == me.id
    state = help_request.status
    may = {
        "claim": state == "open" and me.has_role(*MEMBER_ROLES) and not is_beneficiary,
        "release": state == "claimed" and (is_helper or staff_here),
        "cancel": state in ("open", "claimed") and (is_beneficiary or staff_here),
        "confirm": state == "claimed" and (is_beneficiary or staff_here) and not is_helper,
    }
    events = audit.events_about("help_request", help_request.id) if staff_here else []
    return render_template(
        "neighbours/request_detail.html", req=help_request, may=may, form=FlaskForm(),
        complete_form=complete_form, staff_here=staff_here, is_beneficiary=is_beneficiary,
        is_helper=is_helper, points_state=helping.points_state(help_request), events=events,
        event_labels=EVENT_LABELS), status


@bp.get("/requests/<int:request_id>")
@roles_required(*SHARED_ROLES)
def request_detail(request_id: int):
    help_request = helping.visible_request(current_user, request_id)
    return _render_detail(help_request, CompleteForm(formdata=None))


def _after_action(request_id: int) -> str:
    """Back to the page the button was on (the list, the desk or the request)."""
    return _back("neighbours.request_detail", request_id=request_id)


@bp.post("/requests/<int:request_id>/claim")
@member_page("neighbours.desk")
def claim(request_id: int):
    helping.claim(request_id, volunteer=current_user)
    flash(_("You have taken this request. Thank you for helping a neighbour!"), "success")
    return redirect(url_for("neighbours.request_detail", request_id=request_id))


@bp.post("/requests/<int:request_id>/release")
@roles_required(*SHARED_ROLES)
def release(request_id: int):
    helping.release(request_id, actor=current_user)
    flash(_("The request was given back; another neighbour can take it now."), "success")
    return redirect(_after_action(request_id))


@bp.post("/requests/<int:request_id>/cancel")
@roles_required(*SHARED_ROLES)
def cancel(request_id: int):
    cancelled = helping.cancel(request_id, actor=current_user)
    if cancelled.offered_points_minor:
        flash(_("The request was cancelled; %(points)s points went back to the balance.",
                points=fmt(cancelled.offered_points_minor)), "success")
    else:
        flash(_("The request was cancelled."), "success")
    return redirect(_after_action(request_id))


@bp.post("/requests/<int:request_id>/complete")
@roles_required(*SHARED_ROLES)
def complete(request_id: int):
    """The beneficiary, or staff for them, confirm the help with a rating."""
    help_request = helping.visible_request(current_user, request_id)
    form = CompleteForm()
    if form.validate_on_submit():
        try:
            done = helping.complete(request_id, actor=current_user, rating=form.rating.data,
                                    comment=form.comment.data)
        except (Forbidden, NotFound):
            raise
        except DomainError as err:
            place_domain_error(form, err, {"rating": "rating", "comment": "comment"})
            help_request = helping.visible_request(current_user, request_id)
        else:
            if done.offered_points_minor:
                flash(_("Thank you! The help was confirmed. The %(points)s points move to "
                        "the helper when community staff approve the service record.",
                        points=fmt(done.offered_points_minor)), "success")
            else:
                flash(_("Thank you! The help was confirmed and goes to community staff for "
                        "approval."), "success")
            return redirect(_after_action(request_id))
    return _render_detail(help_request, form, 422)


# --- giving points -----------------------------------------------------------------------


class PhoneGiveForm(OnceForm):
    phone = StringField(_l("Phone number of the person you give to"), validators=[
        DataRequired(_l("Please enter the phone number.")),
        Regexp(PHONE_FORMAT, message=_l("Digits only, 5 to 19 of them."))])
    amount = PointsField(_l("Points to give"), validators=[
        DataRequired(_l("Please enter the points."))])
    memo = StringField(_l("Message (optional)"), validators=[
        Optional(), Length(max=helping.MAX_MEMO)])
    confirmed = HiddenField(validators=[Optional(), AnyOf(("", "1"))])


class FamilyGiveForm(OnceForm):
    to_member_id = SelectField(_l("Family member"), coerce=int, validators=[
        InputRequired(_l("Choose a family member."))])
    amount = PointsField(_l("Points to give"), validators=[
        DataRequired(_l("Please enter the points."))])
    memo = StringField(_l("Message (optional)"), validators=[
        Optional(), Length(max=helping.MAX_MEMO)])


def _relatives(member: User, *, status: str = "confirmed") -> list[tuple[object, User]]:
    """The member's family links with this status, each with the other person."""
    return [(link, link.relative if link.member_id == member.id else link.member)
            for link in helping.links_of(member.id) if link.status == status]


def _give(sender: User, to_member_id: int, form, *, on_behalf: bool, recipient_field: str):
    """Send the gift; True when it went through, else the errors are on the form."""
    try:
        with once(form):
            gift = helping.transfer(actor=current_user, to_member_id=to_member_id,
                                    amount_minor=form.amount.minor, memo=form.memo.data or "",
                                    from_member_id=sender.id if on_behalf else None)
    except InsufficientPoints:
        db.session.rollback()
        form.amount.errors = [*form.amount.errors, _not_enough(sender)]
        return False
    except AlreadySent:
        raise
    except DomainError as err:
        place_domain_error(form, err, {"to_member_id": recipient_field, "amount": "amount",
                                       "memo": "memo"})
        return False
    flash(_("%(points)s points were given to %(name)s.", points=fmt(gift.amount_minor),
            name=_shown_name(gift.to_member)), "success")
    return True


def _give_page(sender: User, *, on_behalf: bool, endpoint: str, **values):
    """The giving form as the sender's policy allows, with the month's limits and history."""
    policy = helping.policy_for(sender.org_unit)
    relatives = _relatives(sender)
    form = None
    if policy.mode == "family":
        form = FamilyGiveForm()
        form.to_member_id.choices = [
            (other.id, f"{_shown_name(other)} · {_relation(link.relation)}")
            for link, other in relatives]
    elif policy.mode == "any":
        form = PhoneGiveForm()
    confirming = None
    status = 200
    if request.method == "POST":
        if form is None:
            flash(_("Giving points is switched off in this community."), "danger")
            return redirect(url_for(endpoint, **values))
        if form.validate_on_submit():
            if isinstance(form, FamilyGiveForm):
                if _give(sender, form.to_member_id.data, form, on_behalf=on_behalf,
                         recipient_field="to_member_id"):
                    return redirect(url_for(endpoint, **values))
            else:
                receiver = helping.member_by_phone(sender, form.phone.data)
                if receiver is None:
                    form.phone.errors = [*form.phone.errors, _(
                        "No active volunteer or gridworker with this phone number in the "
                        "same street.")]
                elif receiver.id == sender.id:
                    form.phone.errors = [*form.phone.errors,
                                         _("Points cannot be given to oneself.")]
                elif form.confirmed.data != "1":
                    confirming = receiver
                elif _give(sender, receiver.id, form, on_behalf=on_behalf,
                           recipient_field="phone"):
                    return redirect(url_for(endpoint, **values))
        if confirming is None:
            status = 422
    sent = helping.sent_this_month(sender.id)
    history = db.paginate(helping.transfers_of(sender.id), page=page_arg(),
                          per_page=HISTORY_PER_PAGE, error_out=False)
    return render_template(
        "neighbours/give.html", sender=sender, on_behalf=on_behalf, policy=policy, form=form,
        confirming=confirming, relatives=relatives, balance=_balance(sender), sent=sent,
        left=max(policy.monthly_limit_minor - sent, 0), history=history, endpoint=endpoint,
        endpoint_values=values), status


@bp.route("/give", methods=["GET", "POST"])
@member_page("neighbours.desk")
def give():
    return _give_page(current_user, on_behalf=False, endpoint="neighbours.give")


# --- family links ------------------------------------------------------------------------


class LinkForm(FlaskForm):
    phone = StringField(_l("Your relative's phone number"), validators=[
        DataRequired(_l("Please enter the phone number.")),
        Regexp(PHONE_FORMAT, message=_l("Digits only, 5 to 19 of them."))])
    relation = SelectField(_l("They are your"), choices=list(RELATION_LABELS.items()),
                           validators=[InputRequired(_l("Choose the relation."))])


@bp.route("/family", methods=["GET", "POST"])
@member_page("neighbours.desk")
def family():
    """The member's family links; ask for a new one by the relative's phone number."""
    form = LinkForm()
    if form.validate_on_submit():
        relative = helping.member_by_phone(current_user, form.phone.data)
        if relative is None:
            form.phone.errors = [*form.phone.errors, _(
                "No active volunteer or gridworker with this phone number in the same "
                "street.")]
        else:
            try:
                helping.request_link(actor=current_user, member_id=current_user.id,
                                     relative_id=relative.id, relation=form.relation.data)
            except DomainError as err:
                place_domain_error(form, err, {"relative_id": "phone", "relation": "relation"})
            else:
                flash(_("Your request to link with %(name)s was sent to community staff, who "
                        "will confirm it.", name=_shown_name(relative)), "success")
                return redirect(url_for("neighbours.family"))
    status = 422 if request.method == "POST" else 200
    links = [(link, link.relative if link.member_id == current_user.id else link.member)
             for link in helping.links_of(current_user.id)]
    return render_template("neighbours/family.html", form=form, links=links,
                           revoke_form=FlaskForm()), status


@bp.post("/family/<int:link_id>/revoke")
@roles_required(*SHARED_ROLES)
def revoke_link(link_id: int):
    helping.revoke_link(link_id, actor=current_user)
    flash(_("The family link was ended."), "success")
    default = "neighbours.desk_links" if access.is_staff(current_user) else "neighbours.family"
    return redirect(_back(default))


# --- the staff desk ----------------------------------------------------------------------


def _status_arg() -> str:
    raw = request.args.get("status", "open")
    if raw in STATUS_FILTERS:
        return raw
    flash(_("Unknown status; showing the open requests."), "warning")
    return "open"


@bp.get("/desk")
@roles_required("staff")
def desk():
    """Requests for help in the staff member's reach, by status."""
    status = _status_arg()
    query = helping.requests_query(current_user, status=None if status == "all" else status)
    page = db.paginate(query, page=page_arg(), per_page=DESK_PER_PAGE, error_out=False)
    return render_template("neighbours/desk.html", page=page, status=status,
                           filters=STATUS_FILTERS)


@bp.get("/desk/members")
@roles_required("staff")
def desk_members():
    """Find the elder to act for: post a request or give points on their behalf."""
    q = request.args.get("q", "").strip()
    if len(q) > users.MAX_SEARCH:
        flash(_("The search is too long; showing everyone."), "warning")
        q = ""
    page = db.paginate(users.members_query(current_user, q=q), page=page_arg(),
                       per_page=MEMBERS_PER_PAGE, error_out=False)
    return render_template("neighbours/desk_members.html", page=page, q=q)


@bp.route("/desk/members/<int:member_id>/request", methods=["GET", "POST"])
@roles_required("staff")
def desk_new_request(member_id: int):
    member = users.manageable_member(current_user, member_id)
    return _request_form(member, on_behalf=True)


@bp.route("/desk/members/<int:member_id>/give", methods=["GET", "POST"])
@roles_required("staff")
def desk_give(member_id: int):
    member = users.manageable_member(current_user, member_id)
    return _give_page(member, on_behalf=True, endpoint="neighbours.desk_give",
                      member_id=member.id)


@bp.get("/desk/links")
@roles_required("staff")
def desk_links():
    """Family links waiting for confirmation, and confirmed ones, in reach."""
    pending = db.paginate(helping.links_in_reach(current_user, status="pending"), page=1,
                          per_page=LINKS_SHOWN, error_out=False)
    confirmed = db.paginate(helping.links_in_reach(current_user, status="confirmed"), page=1,
                            per_page=LINKS_SHOWN, error_out=False)
    return render_template("neighbours/desk_links.html", pending=pending, confirmed=confirmed,
                           form=FlaskForm(), reaches=_reaches)


def _reaches(person: User) -> bool:
    return access.reaches(current_user, person.org_unit)


@bp.post("/desk/links/<int:link_id>/confirm")
@roles_required("staff")
def confirm_link(link_id: int):
    link = helping.confirm_link(link_id, staff=current_user)
    flash(_("%(a)s and %(b)s are confirmed as family.", a=link.member.display_name,
            b=link.relative.display_name), "success")
    return redirect(url_for("neighbours.desk_links"))


class PolicyForm(FlaskForm):
    mode = SelectField(_l("Giving points"), choices=[(m, m) for m in TRANSFER_MODES],
                       validators=[InputRequired()])
    per_transfer_limit = PointsField(_l("At most per gift"), validators=[
        DataRequired(_l("Please enter the points."))])
    monthly_limit = PointsField(_l("At most per member and month"), validators=[
        DataRequired(_l("Please enter the points."))])


def _policy_form(policy: helping.Policy | None = None) -> PolicyForm:
    """The form as posted, or (with a policy) filled with the rule in force."""
    form = PolicyForm(formdata=None) if policy is not None else PolicyForm()
    form.mode.choices = [(m, str(MODE_LABELS[m])) for m in TRANSFER_MODES]
    if policy is not None:
        form.mode.data = policy.mode
        form.per_transfer_limit.data = fmt(policy.per_transfer_limit_minor)
        form.monthly_limit.data = fmt(policy.monthly_limit_minor)
    return form


def _render_policies(failed: tuple[int, PolicyForm] | None = None, status: int = 200):
    rows = []
    for unit, label in users.units_in_reach(current_user, kinds=helping.POLICY_KINDS):
        policy = helping.policy_for(unit)
        form = failed[1] if failed is not None and failed[0] == unit.id else _policy_form(policy)
        source = org.get_unit(policy.org_unit_id) if policy.org_unit_id else None
        rows.append((unit, label, policy, source, form))
    return render_template("neighbours/desk_policy.html", rows=rows), status


@bp.get("/desk/policy")
@roles_required("staff")
def desk_policy():
    """The giving rule of each street and community in reach; units below inherit it."""
    return _render_policies()


@bp.post("/desk/policy/<int:unit_id>")
@roles_required("staff")
def set_policy(unit_id: int):
    unit = org.get_unit(unit_id)
    access.require_reach(current_user, unit)
    form = _policy_form()
    if form.validate_on_submit():
        try:
            helping.set_policy(actor=current_user, org_unit_id=unit.id, mode=form.mode.data,
                               per_transfer_limit_minor=form.per_transfer_limit.minor,
                               monthly_limit_minor=form.monthly_limit.minor)
        except (Forbidden, NotFound):
            raise
        except DomainError as err:
            place_domain_error(form, err, {"mode": "mode",
                                            "per_transfer_limit": "per_transfer_limit",
                                            "monthly_limit": "monthly_limit"})
        else:
            flash(_("The giving rule of %(unit)s was saved.", unit=unit.name), "success")
            return redirect(url_for("neighbours.desk_policy"))
    return _render_policies((unit.id, form), 422)
