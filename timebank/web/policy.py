"""The points-policy desk: each street's and community's rules, their dated versions, and a
form for the next version (rates by category, daily cap, giving, expiry)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from marshmallow import ValidationError as SchemaError
from wtforms import DateField, IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from timebank.errors import DomainError, Forbidden, NotFound
from timebank.models.policy import EXPIRY_MODES, TRANSFER_MODES
from timebank.schemas.types import MinorUnits
from timebank.services import access, categories, org, policy, users
from timebank.timeutil import today
from timebank.units import fmt
from timebank.web.common import place_domain_error, roles_required
from timebank.web.neighbours import MODE_LABELS
from timebank.web.staff import PointsField

bp = Blueprint("policy", __name__, url_prefix="/policy")

MAX_ID = 2**31 - 1
EXPIRY_LABELS = {
    "never": _l("Points never expire"),
    "end_of_next_year": _l("At the end of the year after earning (31 December)"),
    "rolling": _l("A number of months after earning"),
}
FIELD_MAP = {"effective_from": "effective_from", "transfer_mode": "transfer_mode",
             "per_transfer_limit": "per_transfer_limit",
             "monthly_transfer_limit": "monthly_transfer_limit",
             "expiry_mode": "expiry_mode", "expiry_months": "expiry_months",
             "daily_hours_cap": "daily_hours_cap", "note": "note"}


class VersionForm(FlaskForm):
    effective_from = DateField(_l("In force from"), validators=[
        InputRequired(_l("Give the first day the policy applies."))])
    transfer_mode = SelectField(_l("Giving points"), validators=[InputRequired()])
    per_transfer_limit = PointsField(_l("At most per gift"), validators=[
        DataRequired(_l("Please enter the points."))])
    monthly_transfer_limit = PointsField(_l("At most per member and month"), validators=[
        DataRequired(_l("Please enter the points."))])
    expiry_mode = SelectField(_l("Expiry"), validators=[InputRequired()])
    expiry_months = IntegerField(_l("Months (for expiry after a number of months)"),
                                 validators=[Optional(), NumberRange(min=1, max=120)])
    daily_hours_cap = PointsField(_l("At most hours a member can record a day (empty: no cap)"),
                                  validators=[Optional()], maximum=24)
    note = TextAreaField(_l("Note (e.g. the decision it follows)"),
                         validators=[Optional(), Length(max=policy.NOTE_LIMIT)])


def _form(rules: policy.Rules | None = None) -> VersionForm:
    form = VersionForm(formdata=None) if rules is not None else VersionForm()
    form.transfer_mode.choices = [(m, str(MODE_LABELS[m])) for m in TRANSFER_MODES]
    form.expiry_mode.choices = [(m, str(EXPIRY_LABELS[m])) for m in EXPIRY_MODES]
    if rules is not None:
        form.effective_from.data = today() + timedelta(days=1)
        form.transfer_mode.data = rules.transfer_mode
        form.per_transfer_limit.data = fmt(rules.per_transfer_limit_minor)
        form.monthly_transfer_limit.data = fmt(rules.monthly_transfer_limit_minor)
        form.expiry_mode.data = rules.expiry_mode
        form.expiry_months.data = rules.expiry_months
        form.daily_hours_cap.data = fmt(rules.daily_hours_cap_minor) \
            if rules.daily_hours_cap_minor else ""
    return form


def _unit_in_reach(unit_id: int):
    if not 0 < unit_id <= MAX_ID:
        abort(404)
    unit = org.get_unit(unit_id)
    access.require_reach(current_user, unit)
    if unit.kind not in policy.POLICY_KINDS:
        abort(404)
    return unit


@bp.get("/")
@roles_required("staff")
def index():
    """Every street and community in reach with the rules in force there today."""
    rows = []
    for unit, label in users.units_in_reach(current_user, kinds=policy.POLICY_KINDS):
        rules = policy.in_force(unit)
        source = org.get_unit(rules.set_at_unit_id) if rules.set_at_unit_id else None
        rows.append((unit, label, rules, source))
    return render_template("policy/index.html", rows=rows, modes=MODE_LABELS,
                           expiry_labels=EXPIRY_LABELS)


def _render_unit(unit, form: VersionForm, rate_values: dict[str, str],
                 rate_errors: list[str], status: int = 200):
    unit_obj, versions = policy.versions_of(current_user, unit.id)
    rules = policy.in_force(unit_obj)
    source = org.get_unit(rules.set_at_unit_id) if rules.set_at_unit_id else None
    day = today()
    rate_rows = [(c, rules.rates.get(c.id), row.current_minor)
                 for c, row in ((r.category, r) for r in categories.rate_table(day))]
    return render_template(
        "policy/unit.html", unit=unit_obj, rules=rules, source=source, versions=versions,
        form=form, rate_rows=rate_rows, rate_values=rate_values, rate_errors=rate_errors,
        modes=MODE_LABELS, expiry_labels=EXPIRY_LABELS, today=day), status


@bp.get("/<int:unit_id>")
@roles_required("staff")
def unit_page(unit_id: int):
    """The rules in force, the unit's own versions, and the form for the next one."""
    unit = _unit_in_reach(unit_id)
    rules = policy.in_force(unit)
    codes = {c.id: c.code for c in categories.all_categories()}
    values = {codes[cid]: fmt(v) for cid, v in rules.rates.items() if cid in codes}
    return _render_unit(unit, _form(rules), values, [])


@bp.post("/<int:unit_id>")
@roles_required("staff")
def set_version(unit_id: int):
    unit = _unit_in_reach(unit_id)
    form = _form()
    rate_values: dict[str, str] = {}
    rates: dict[str, int] = {}
    rate_errors: list[str] = []
    parser = MinorUnits(positive=False)
    for category in categories.all_categories():
        raw = (request.form.get(f"rate_{category.code}") or "").strip()[:40]
        rate_values[category.code] = raw
        if not raw:
            continue
        try:
            rates[category.code] = parser.deserialize(raw)
        except SchemaError:
            rate_errors.append(_("The rate for %(name)s is not a number such as \"10.00\".",
                                 name=category.name))
    valid = form.validate_on_submit()
    if valid and not rate_errors:
        try:
            policy.set_version(
                actor=current_user, org_unit_id=unit.id,
                effective_from=form.effective_from.data,
                transfer_mode=form.transfer_mode.data,
                per_transfer_limit_minor=form.per_transfer_limit.minor,
                monthly_transfer_limit_minor=form.monthly_transfer_limit.minor,
                expiry_mode=form.expiry_mode.data, expiry_months=form.expiry_months.data,
                daily_hours_cap_minor=form.daily_hours_cap.minor
                if (form.daily_hours_cap.data or "").strip() else None,
                rates=rates, note=form.note.data or "")
        except (Forbidden, NotFound):
            raise
        except DomainError as err:
            if err.errors and "rates" in err.errors:
                rate_errors.extend(err.errors.pop("rates"))
            place_domain_error(form, err, FIELD_MAP)
        else:
            flash(_("The policy of %(unit)s from %(day)s was saved.", unit=unit.name,
                    day=form.effective_from.data.isoformat()), "success")
            return redirect(url_for("policy.unit_page", unit_id=unit.id))
    flash(_("The policy was not saved. Please check the form."), "danger")
    return _render_unit(unit, form, rate_values, rate_errors, 422)
