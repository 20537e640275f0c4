"""Recognition pages: a member's stars, certificates and teams; the staff desk for certificates,
star notices, volunteer teams and the red flag."""

from __future__ import annotations

import io
from datetime import date, datetime

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from timebank.errors import AlreadyExists, DomainError, Forbidden, NotFound
from timebank.extensions import db
from timebank.models import User
from timebank.models.recognition import CERTIFICATE_KINDS
from timebank.models.user import MEMBER_ROLES
from timebank.services import access, awards, boards, certificates, teams, users
from timebank.services.certificates import KIND_TITLES
from timebank.timeutil import local
from timebank.web.common import (
    AlreadySent,
    OnceForm,
    flash_form_errors,
    has_endpoint,
    member_page,
    once,
    page_arg,
    place_domain_error,
    roles_required,
)

bp = Blueprint("recognition", __name__, url_prefix="/recognition")

# Certificate pages are shared: the holder and staff in reach open them.
SHARED_ROLES = (*MEMBER_ROLES, "staff")
MAX_ID = 2**31 - 1
FIRST_YEAR, LAST_YEAR = 2000, 2100
MINE_PER_PAGE = 20
TEAMS_SHOWN = 50
DUE_SHOWN = 50
DESK_PER_PAGE = 30
TEAMS_PER_PAGE = 30
FLAGS_PER_PAGE = 12
MEMBER_CHOICES = 200
MAX_TEXT = certificates.MAX_TEXT
KIND_FILTERS = (*CERTIFICATE_KINDS, "all")

KIND_LABELS = {
    "service_record": _l("Volunteer service record certificate"),
    "star": _l("Star volunteer certificate"),
    "appointment": _l("Appointment letter for a part-time gridworker"),
    "honor": _l("Certificate of honour"),
}
KIND_HINTS = {
    "service_record": _l("States the approved hours and their content, for a period or for "
                         "all time."),
    "star": _l("For the star level the member has reached (100, 300, 600, 1000 or 1500 "
               "hours)."),
    "appointment": _l("For gridworkers placed in a grid; the term is one year unless a "
                      "period is given."),
    "honor": _l("An honour title and a citation; the hours of the period are stated."),
}


def _is_chinese() -> bool:
    return str(get_locale()).startswith("zh")


def _day(value: date | datetime | None) -> str:
    """2026年3月1日 in Chinese, 2026-03-01 in English."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value).date()
    if _is_chinese():
        return f"{value.year}年{value.month}月{value.day}日"
    return value.isoformat()


def _iso_day(text: str | None) -> str:
    """A date kept as ISO text in a certificate's frozen content, shown like _day."""
    if not text:
        return ""
    try:
        return _day(date.fromisoformat(text))
    except ValueError:
        return text


def _month(value: date) -> str:
    """2026年3月 in Chinese, 2026-03 in English."""
    return f"{value.year}年{value.month}月" if _is_chinese() else f"{value:%Y-%m}"


def _kind_label(kind: str) -> str:
    """The official Chinese title first; in English the English name with it."""
    title = KIND_TITLES.get(kind, kind)
    if _is_chinese():
        return title
    return f"{KIND_LABELS[kind]} ({title})" if kind in KIND_LABELS else title


def _shown_name(person: User | None) -> str:
    return access.shown_name(current_user, person)


def _verify_link(serial: str) -> str:
    """The public verification page of a serial (served by the boards pages)."""
    if has_endpoint("boards.verify_serial"):
        return url_for("boards.verify_serial", serial=serial)
    return f"/verify/{serial}"


@bp.context_processor
def _recognition_context() -> dict:
    return {"day": _day, "iso_day": _iso_day, "month_label": _month, "kind_label": _kind_label,
            "shown_name": _shown_name, "verify_link": _verify_link, "kind_hints": KIND_HINTS}


# --- shared helpers ----------------------------------------------------------------------


def _id_or_404(value: int) -> int:
    """An id from the address; one no row can have is simply not found."""
    if not 0 < value <= MAX_ID:
        abort(404)
    return value


def _optional_int(value) -> int | None:
    """A select's value: empty is None, anything else must be a whole number."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.isdigit() or len(text) > 12:
        raise ValueError(_("Choose from the list."))
    return int(text)


def _id_in_range(form, field) -> None:
    if field.data is not None and not 0 < field.data <= MAX_ID:
        raise ValidationError(_l("Choose from the list."))


def _in_calendar(form, field) -> None:
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(_l("Choose a date between %(first)d and %(last)d.",
                                 first=FIRST_YEAR, last=LAST_YEAR))


def _search_arg() -> str:
    q = request.args.get("q", "").strip()
    if len(q) > users.MAX_SEARCH:
        flash(_("The search is too long; showing everyone."), "warning")
        return ""
    return q


def _member_choices(q: str, *keep: int | None) -> list[tuple[str, str]]:
    """Members in the staff member's reach for a select (searched with `q`), keeping the ones
    already chosen even when the search leaves them out."""
    found = list(db.session.scalars(users.members_query(current_user, q=q)
                                    .limit(MEMBER_CHOICES)))
    listed = {m.id for m in found}
    for member_id in keep:
        if member_id is not None and member_id not in listed and 0 < member_id <= MAX_ID:
            member = users.get_user(member_id)
            if member is not None and member.has_role(*MEMBER_ROLES) \
                    and access.can_see_member(current_user, member):
                found.insert(0, member)
                listed.add(member.id)
    return [("", _("— choose a member —"))] + [
        (str(m.id), f"{m.display_name} · {m.org_unit.name} · {m.username}") for m in found]


# --- a member's own page -----------------------------------------------------------------


class BoardsForm(FlaskForm):
    shown = RadioField(_l("Public boards and leaderboards"), choices=[
        SelectChoice("1", _l("Show me (my name is masked, e.g. 张*三)")),
        SelectChoice("0", _l("Leave me out"))],
        validators=[InputRequired(_l("Choose whether you appear on the boards."))])


@bp.get("/", endpoint="mine")
@member_page("recognition.desk")
def mine():
    """Star level, hours to the next level, certificates, teams and the boards choice."""
    summary = users.summary(current_user)
    page = db.paginate(certificates.certificates_query(current_user, member_id=current_user.id),
                       page=page_arg(),
                       per_page=MINE_PER_PAGE, error_out=False)
    my_teams = list(db.session.scalars(teams.teams_of(current_user).limit(TEAMS_SHOWN)))
    boards_form = BoardsForm(formdata=None, shown="1" if current_user.is_on_boards else "0")
    return render_template("recognition/mine.html", summary=summary, page=page, teams=my_teams,
                           counts=teams.member_counts([t.id for t in my_teams]),
                           boards_form=boards_form)


@bp.post("/boards-choice")
@member_page("recognition.desk")
def boards_choice():
    form = BoardsForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("recognition.mine"))
    shown = form.shown.data == "1"
    boards.set_on_boards(current_user._get_current_object(), shown=shown)
    if shown:
        flash(_("You appear on public boards and leaderboards, with your name masked."),
              "success")
    else:
        flash(_("You no longer appear on public boards and leaderboards. Your hours still "
                "count for your grid and team."), "success")
    return redirect(url_for("recognition.mine"))


# --- one certificate ---------------------------------------------------------------------


class RevokeForm(FlaskForm):
    reason = StringField(_l("Reason for revoking"), validators=[
        DataRequired(_l("Please give a reason.")), Length(max=MAX_TEXT)])


@bp.get("/certificates/<serial>")
@roles_required(*SHARED_ROLES)
def certificate(serial: str):
    """One certificate as it was issued, for its holder or staff in reach."""
    found = certificates.visible_certificate(current_user, serial)
    may_revoke = (access.is_staff(current_user) and found.revoked_at is None
                  and access.reaches(current_user, found.org_unit))
    return render_template("recognition/certificate.html", cert=found, data=found.data,
                           may_revoke=may_revoke, revoke_form=RevokeForm(formdata=None))


@bp.get("/certificates/<serial>.pdf")
@roles_required(*SHARED_ROLES)
def pdf(serial: str):
    """The certificate's PDF as a download."""
    found, content = certificates.pdf(current_user, serial)
    response = send_file(io.BytesIO(content), mimetype="application/pdf", as_attachment=True,
                         download_name=f"{found.serial}.pdf", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/certificates/<serial>/revoke")
@roles_required("staff")
def revoke(serial: str):
    form = RevokeForm()
    found = certificates.visible_certificate(current_user, serial)
    if form.validate_on_submit():
        try:
            certificates.revoke(actor=current_user, serial=found.serial,
                                reason=form.reason.data)
        except DomainError as err:
            db.session.rollback()
            flash(err.detail, "danger")
            for messages in (err.errors or {}).values():
                for message in messages:
                    flash(message, "danger")
        else:
            flash(_("Certificate %(serial)s was revoked; its verification page now says so.",
                    serial=found.serial), "success")
    else:
        flash_form_errors(form)
    return redirect(url_for("recognition.certificate", serial=found.serial))


# --- the staff desk: certificates --------------------------------------------------------


def _kind_arg() -> str:
    raw = request.args.get("kind", "all")
    if raw in KIND_FILTERS:
        return raw
    flash(_("Unknown kind of certificate; showing every kind."), "warning")
    return "all"


def _due_by_member(actor: User) -> tuple[list, int]:
    """Star notices waiting for a certificate, one row per member at their highest level."""
    page = db.paginate(certificates.stars_due_query(actor), page=1, per_page=DUE_SHOWN,
                       error_out=False)
    rows: dict[int, object] = {}
    for award in page.items:
        held = rows.get(award.member_id)
        if held is None or award.level > held.level:
            rows[award.member_id] = award
    return list(rows.values()), certificates.stars_due_count(actor)


@bp.get("/desk")
@roles_required("staff")
def desk():
    """Star certificates due, and the certificates issued in reach."""
    kind = _kind_arg()
    due, due_total = _due_by_member(current_user)
    issued = db.paginate(
        certificates.certificates_query(current_user, kind=None if kind == "all" else kind),
        page=page_arg(), per_page=DESK_PER_PAGE, error_out=False)
    # One key per button: each star certificate is issued once, however often it is clicked.
    star_forms = {award.member_id: OnceForm(formdata=None) for award in due}
    return render_template("recognition/desk.html", due=due, due_total=due_total,
                           issued=issued, kind=kind, kinds=KIND_FILTERS, star_forms=star_forms)


class IssueForm(OnceForm):
    member_id = SelectField(_l("Member"), coerce=_optional_int, validate_choice=False,
                            validators=[DataRequired(_l("Choose a member.")), _id_in_range])
    kind = SelectField(_l("Kind of certificate"), validators=[
        InputRequired(_l("Choose the kind of certificate."))])
    period_from = DateField(_l("Period from (optional)"), validators=[Optional(), _in_calendar])
    period_to = DateField(_l("Period to (optional)"), validators=[Optional(), _in_calendar])
    person_in_charge = StringField(_l("Person in charge (optional)"), validators=[
        Optional(), Length(max=MAX_TEXT)])
    title = StringField(_l("Honour title"), validators=[
        Optional(), Length(max=MAX_TEXT)])
    citation = TextAreaField(_l("Citation"), validators=[
        Optional(), Length(max=MAX_TEXT)])


@bp.route("/desk/issue", methods=["GET", "POST"])
@roles_required("staff")
def issue():
    """Issue a certificate to a member in reach; a double submit issues one."""
    q = _search_arg()
    form = IssueForm()
    if request.method == "GET":
        member_id = request.args.get("member_id", type=int)
        if member_id is not None:
            member = users.member_for(current_user, _id_or_404(member_id))
            if member.has_role(*MEMBER_ROLES):
                form.member_id.data = member.id
        if request.args.get("kind") in CERTIFICATE_KINDS:
            form.kind.data = request.args["kind"]
    form.member_id.choices = _member_choices(
        q, form.member_id.data if isinstance(form.member_id.data, int) else None)
    form.kind.choices = [(kind, _kind_label(kind)) for kind in CERTIFICATE_KINDS]
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                with once(form):
                    issued = certificates.issue(
                        actor=current_user, member_id=form.member_id.data, kind=form.kind.data,
                        period_from=form.period_from.data, period_to=form.period_to.data,
                        person_in_charge=form.person_in_charge.data, title=form.title.data,
                        citation=form.citation.data)
            except AlreadySent:
                raise
            except (Forbidden, NotFound):
                db.session.rollback()
                form.member_id.errors = [*form.member_id.errors,
                                         _("Choose a volunteer or gridworker in your area.")]
            except DomainError as err:
                place_domain_error(form, err)
            else:
                flash(_("Certificate %(serial)s was issued to %(name)s.", serial=issued.serial,
                        name=issued.member.display_name), "success")
                return redirect(url_for("recognition.certificate", serial=issued.serial))
        flash(_("Nothing was issued; please check the marked fields."), "danger")
    return render_template("recognition/issue.html", form=form, q=q), status


# --- the staff desk: volunteer teams -----------------------------------------------------


class TeamForm(FlaskForm):
    org_unit_id = SelectField(_l("Community or grid"), coerce=_optional_int,
                              validators=[DataRequired(_l("Choose a unit.")), _id_in_range])
    name = StringField(_l("Team name"), validators=[
        DataRequired(_l("Please name the team.")), Length(max=teams.MAX_NAME)])
    description = TextAreaField(_l("What the team does (optional)"), validators=[
        Optional(), Length(max=teams.MAX_DESCRIPTION)])


class RenameForm(FlaskForm):
    name = StringField(_l("Team name"), validators=[
        DataRequired(_l("Please name the team.")), Length(max=teams.MAX_NAME)])
    description = TextAreaField(_l("What the team does (optional)"), validators=[
        Optional(), Length(max=teams.MAX_DESCRIPTION)])


class MemberForm(FlaskForm):
    member_id = SelectField(_l("Member"), coerce=_optional_int, validate_choice=False,
                            validators=[DataRequired(_l("Choose a member.")), _id_in_range])


class LeaderForm(FlaskForm):
    member_id = SelectField(_l("Leader"), coerce=_optional_int, validate_choice=False,
                            validators=[Optional(), _id_in_range])


TEAM_FIELDS = {"org_unit_id": "org_unit_id", "name": "name", "description": "description"}


def _render_teams(form: TeamForm, status: int = 200):
    page = db.paginate(teams.teams_query(current_user), page=page_arg(),
                       per_page=TEAMS_PER_PAGE, error_out=False)
    counts = teams.member_counts([team.id for team in page.items])
    return render_template("recognition/teams.html", page=page, counts=counts,
                           form=form), status


def _team_form() -> TeamForm:
    form = TeamForm()
    form.org_unit_id.choices = [("", _("— choose a unit —"))] + [
        (str(unit.id), label) for unit, label in users.units_in_reach(current_user)]
    return form


@bp.route("/desk/teams", methods=["GET", "POST"], endpoint="teams")
@roles_required("staff")
def teams_page():
    """Volunteer teams in reach, and a form to start one."""
    form = _team_form()
    if request.method == "GET":
        return _render_teams(form)
    if form.validate_on_submit():
        try:
            team = teams.create_team(actor=current_user, org_unit_id=form.org_unit_id.data,
                                     name=form.name.data, description=form.description.data)
        except (Forbidden, NotFound):
            db.session.rollback()
            form.org_unit_id.errors = [*form.org_unit_id.errors, _("Choose a unit in your area.")]
        except AlreadyExists as err:
            db.session.rollback()
            form.name.errors = [*form.name.errors, err.detail]
        except DomainError as err:
            place_domain_error(form, err, TEAM_FIELDS)
        else:
            flash(_("The team %(name)s was created.", name=team.name), "success")
            return redirect(url_for("recognition.team", team_id=team.id))
    flash(_("No team was created; please check the marked fields."), "danger")
    return _render_teams(form, 422)


@bp.get("/desk/teams/<int:team_id>")
@roles_required("staff")
def team(team_id: int):
    """One team: its members, adding and removing them, the leader and the name."""
    found = teams.managed_team(current_user, _id_or_404(team_id))
    q = _search_arg()
    memberships = teams.members_of(found)
    inside = {m.member_id for m in memberships}
    add_form = MemberForm(formdata=None)
    add_form.member_id.choices = [c for c in _member_choices(q) if c[0] == "" or
                                  int(c[0]) not in inside]
    rename_form = RenameForm(formdata=None, name=found.name, description=found.description)
    return render_template("recognition/team.html", team=found, memberships=memberships,
                           add_form=add_form, rename_form=rename_form, form=FlaskForm(), q=q)


def _to_team(team_id: int):
    return redirect(url_for("recognition.team", team_id=team_id))


def _flash_error(err: DomainError) -> None:
    db.session.rollback()
    placed = False
    for messages in (err.errors or {}).values():
        for message in messages:
            flash(message, "danger")
            placed = True
    if not placed:
        flash(err.detail, "danger")


@bp.post("/desk/teams/<int:team_id>/rename")
@roles_required("staff")
def rename_team(team_id: int):
    found = teams.managed_team(current_user, _id_or_404(team_id))
    form = RenameForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return _to_team(found.id)
    try:
        teams.update_team(actor=current_user, team_id=found.id, name=form.name.data,
                          description=form.description.data or "")
    except (Forbidden, NotFound):
        raise
    except DomainError as err:
        _flash_error(err)
    else:
        flash(_("The team was saved."), "success")
    return _to_team(found.id)


@bp.post("/desk/teams/<int:team_id>/members")
@roles_required("staff")
def add_member(team_id: int):
    found = teams.managed_team(current_user, _id_or_404(team_id))
    form = MemberForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return _to_team(found.id)
    try:
        membership = teams.add_member(actor=current_user, team_id=found.id,
                                      member_id=form.member_id.data)
    except (Forbidden, NotFound):
        db.session.rollback()
        flash(_("Choose a volunteer or gridworker in your area."), "danger")
    except DomainError as err:
        _flash_error(err)
    else:
        flash(_("%(name)s joined the team.", name=membership.member.display_name), "success")
    return _to_team(found.id)


@bp.post("/desk/teams/<int:team_id>/members/<int:member_id>/remove")
@roles_required("staff")
def remove_member(team_id: int, member_id: int):
    found = teams.managed_team(current_user, _id_or_404(team_id))
    try:
        teams.remove_member(actor=current_user, team_id=found.id,
                            member_id=_id_or_404(member_id))
    except DomainError as err:
        _flash_error(err)
    else:
        flash(_("The member left the team."), "success")
    return _to_team(found.id)


@bp.post("/desk/teams/<int:team_id>/leader")
@roles_required("staff")
def set_leader(team_id: int):
    found = teams.managed_team(current_user, _id_or_404(team_id))
    form = LeaderForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return _to_team(found.id)
    try:
        updated = teams.set_leader(actor=current_user, team_id=found.id,
                                   member_id=form.member_id.data)
    except (Forbidden, NotFound):
        raise
    except DomainError as err:
        _flash_error(err)
    else:
        if updated.leader_id is None:
            flash(_("The team has no leader now."), "success")
        else:
            flash(_("%(name)s leads the team now.", name=updated.leader.display_name),
                  "success")
    return _to_team(found.id)


# --- the staff desk: the red flag --------------------------------------------------------


@bp.get("/desk/red-flag")
@roles_required("staff")
def red_flags():
    """The red flag history of a community in reach, with each month's score table."""
    communities = [unit for unit, _label in
                   users.units_in_reach(current_user, kinds=("community",))]
    community = None
    raw = request.args.get("community_id")
    if raw is not None:
        chosen = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 11 else None
        community = next((c for c in communities if c.id == chosen), None)
        if community is None:
            abort(404)
    elif communities:
        community = communities[0]
    history = holder = None
    if community is not None:
        history = db.paginate(awards.history_query(community), page=page_arg(),
                              per_page=FLAGS_PER_PAGE, error_out=False)
        holder = awards.holder(community)
    return render_template("recognition/red_flags.html", communities=communities,
                           community=community, history=history, holder=holder)
