"""The audit trail for staff: who did what, for whom, in their reach; filters in the address."""

from __future__ import annotations

import json
import re

from flask import Blueprint, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from timebank.extensions import db
from timebank.models import AuditEvent, OrgUnit, User
from timebank.services import access, audit
from timebank.units import fmt
from timebank.web.common import day_arg, has_endpoint, page_arg, roles_required

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50
MAX_ID = 2**31 - 1
_ACTION = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_USERNAME_MAX = 64

ACTION_LABELS = {
    "activity.create": _l("Activity created"),
    "activity.signup.registered": _l("Signed up for an activity"),
    "activity.signup.waitlisted": _l("Put on an activity's waiting list"),
    "activity.signup.cancel": _l("Activity sign-up cancelled"),
    "activity.check_in": _l("Checked in"),
    "activity.check_out": _l("Checked out"),
    "activity.attendance.by_staff": _l("Attendance entered by staff"),
    "activity.close": _l("Activity closed"),
    "activity.cancel": _l("Activity cancelled"),
    "certificate.issue": _l("Certificate issued"),
    "certificate.revoke": _l("Certificate revoked"),
    "family_link.request": _l("Family link requested"),
    "family_link.confirm": _l("Family link confirmed"),
    "family_link.revoke": _l("Family link revoked"),
    "help_request.post": _l("Request for help posted"),
    "help_request.claim": _l("Request for help taken"),
    "help_request.release": _l("Request for help released"),
    "help_request.cancel": _l("Request for help cancelled"),
    "help_request.complete": _l("Request for help confirmed as done"),
    "member.boards_choice": _l("Leaderboard choice changed"),
    "members.imported": _l("Members imported"),
    "members.import_discarded": _l("Member import discarded"),
    "merchant_settlement.settle": _l("Merchant month settled"),
    "points_policy.set": _l("Points policy changed"),
    "red_flag.award": _l("Red flag awarded"),
    "report.export": _l("Report downloaded"),
    "reward.create": _l("Points shop item added"),
    "reward.update": _l("Points shop item changed"),
    "reward_order.place": _l("Points shop order placed"),
    "reward_order.fulfil": _l("Points shop order handed over"),
    "reward_order.cancel": _l("Points shop order cancelled"),
    "team.create": _l("Team created"),
    "team.update": _l("Team changed"),
    "team.add_member": _l("Team member added"),
    "team.remove_member": _l("Team member removed"),
    "team.set_leader": _l("Team leader set"),
    "transfer.create": _l("Points given"),
    "transfer_policy.set": _l("Giving policy changed"),
}
SUBJECT_LABELS = {
    "activity": _l("Activity"),
    "certificate": _l("Certificate"),
    "family_link": _l("Family link"),
    "help_request": _l("Request for help"),
    "member_import": _l("Member import"),
    "merchant_settlement": _l("Merchant settlement"),
    "org_unit": _l("Unit"),
    "red_flag_award": _l("Red flag"),
    "reward": _l("Points shop item"),
    "reward_order": _l("Points shop order"),
    "team": _l("Team"),
    "transfer": _l("Gift of points"),
    "user": _l("Member"),
}


def _subject_link(event: AuditEvent) -> str | None:
    """The page of the event's subject, where one exists for staff."""
    details = event.details or {}
    kind, ident = event.subject_type, event.subject_id
    targets = {
        "activity": ("activities.organise", {"activity_id": ident}),
        "help_request": ("neighbours.request_detail", {"request_id": ident}),
        "team": ("recognition.team", {"team_id": ident}),
        "user": ("staff.member_edit", {"member_id": ident}),
        "red_flag_award": ("recognition.red_flags", {}),
    }
    if kind == "certificate" and isinstance(details.get("serial"), str):
        targets["certificate"] = ("recognition.certificate", {"serial": details["serial"]})
    if kind == "merchant_settlement" and isinstance(details.get("merchant_id"), int) \
            and isinstance(details.get("month"), str):
        targets["merchant_settlement"] = ("settlements.detail", {
            "merchant_id": details["merchant_id"], "month": details["month"]})
    endpoint, args = targets.get(kind, (None, {}))
    if endpoint is None or not has_endpoint(endpoint) or \
            any(value is None for value in args.values()):
        return None
    return url_for(endpoint, **args)


def _detail_value(key: str, value) -> str:
    if key.endswith("_minor") and isinstance(value, int) and not isinstance(value, bool):
        return fmt(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@bp.context_processor
def _audit_context() -> dict:
    return {
        "shown_name": lambda person: access.shown_name(current_user, person),
        "action_label": lambda action: str(ACTION_LABELS.get(action, action)),
        "subject_label": lambda kind: str(SUBJECT_LABELS.get(kind, kind)),
        "subject_link": _subject_link,
        "detail_value": _detail_value,
    }


# --- filters -------------------------------------------------------------------------------


def _person(name: str) -> tuple[int | None, str]:
    """A person by number or user name; a name is looked up only among people the viewer
    may see, so the filter tells nothing about anyone else."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None, ""
    if raw.isascii() and raw.isdigit() and len(raw) < 11 and 0 < int(raw) <= MAX_ID:
        return int(raw), raw
    if len(raw) <= _USERNAME_MAX and "\x00" not in raw:
        person = db.session.scalar(select(User).where(User.username == raw))
        if person is not None and access.can_see_member(current_user, person):
            return person.id, raw
    flash(_("No one with that number or user name; that filter was ignored."), "warning")
    return None, ""


def _filters() -> tuple[dict, dict]:
    """(service arguments, what the form shows); anything invalid is told and left out."""
    chosen: dict = {}
    shown: dict = {}
    action = request.args.get("action", "").strip()
    if action:
        if _ACTION.fullmatch(action):
            chosen["action"] = shown["action"] = action
        else:
            flash(_("Unknown action; the action filter was ignored."), "warning")
    actor_id, raw = _person("actor")
    if actor_id is not None:
        chosen["actor_id"], shown["actor"] = actor_id, raw
    member_id, raw = _person("member")
    if member_id is not None:
        chosen["member_id"], shown["member"] = member_id, raw
    day_from, day_to = day_arg("from", _("From")), day_arg("to", _("To"))
    if day_from and day_to and day_from > day_to:
        flash(_("The start date is after the end date; the dates were ignored."), "warning")
        day_from = day_to = None
    if day_from:
        chosen["date_from"], shown["from"] = day_from, day_from.isoformat()
    if day_to:
        chosen["date_to"], shown["to"] = day_to, day_to.isoformat()
    return chosen, shown


@bp.get("/")
@roles_required("staff")
def index():
    chosen, shown = _filters()
    page = db.paginate(audit.events_in_reach(current_user, **chosen), page=page_arg(),
                       per_page=PER_PAGE, error_out=False)
    unit_ids = {e.org_unit_id for e in page.items if e.org_unit_id is not None}
    units = dict(db.session.execute(select(OrgUnit.id, OrgUnit.name)
                                    .where(OrgUnit.id.in_(unit_ids))).all()) if unit_ids else {}
    return render_template("audit/index.html", page=page, units=units, filters=shown,
                           actions=sorted(ACTION_LABELS))
