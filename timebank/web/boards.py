"""Leaderboards for signed-in users, the public certificate check and community screens."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from timebank.errors import NotFound
from timebank.extensions import db
from timebank.models import OrgUnit
from timebank.services import awards, boards, certificates
from timebank.timeutil import local, today

bp = Blueprint("boards", __name__)

LIMITS = (10, 20, 50)
FIRST_YEAR, LAST_YEAR = 2000, 2100
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What may reach the certificate lookup from the form; anything else has no certificate.
SERIAL_TEXT = re.compile(r"^[A-Z0-9-]{1,64}$")
REFRESH_SECONDS = 300
SCREEN_MEMBERS = 10
SCREEN_GRIDS = 20
SCREEN_TEAMS = 10
SCREEN_STARS = 6
FLAG_HISTORY_MONTHS = 6

PERIOD_LABELS = {"week": _l("This week"), "month": _l("This month"), "year": _l("This year"),
                 "all": _l("All time")}
METRIC_LABELS = {"hours": _l("Hours"), "points": _l("Points")}
KIND_LABELS = {
    "service_record": _l("Volunteer service record certificate"),
    "star": _l("Star volunteer certificate"),
    "appointment": _l("Letter of appointment"),
    "honor": _l("Certificate of honour"),
}


@bp.context_processor
def _board_context() -> dict:
    # "Members" alone is already the staff menu's word, hence a context of its own here.
    group_labels = {"member": pgettext("leaderboard", "Members"), "grid": _("Grids"),
                    "team": _("Volunteer teams")}
    return {"day_text": day_text, "month_text": _month_text, "period_labels": PERIOD_LABELS,
            "metric_labels": METRIC_LABELS, "group_labels": group_labels,
            "kind_labels": KIND_LABELS}


# --- shared helpers ----------------------------------------------------------------------


def _is_chinese() -> bool:
    return str(get_locale()).startswith("zh")


def _as_day(value) -> date | None:
    """A date from a date, a moment (in the local zone) or an ISO string; else None."""
    if isinstance(value, datetime):
        return local(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def day_text(value) -> str:
    """2026年11月1日 in Chinese, 2026-11-01 in English."""
    day = _as_day(value)
    if day is None:
        return ""
    return f"{day.year}年{day.month}月{day.day}日" if _is_chinese() else day.isoformat()


def _month_text(value) -> str:
    """2026年11月 in Chinese, 2026-11 in English."""
    day = _as_day(value)
    if day is None:
        return ""
    return f"{day.year}年{day.month}月" if _is_chinese() else f"{day:%Y-%m}"


def _parse_day(raw: str | None) -> date | None:
    """A YYYY-MM-DD day within the calendar the app knows; None when it is not one."""
    if not raw or not DATE_PATTERN.match(raw):
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def _tied_ranks(entries) -> set[int]:
    return {rank for rank, n in Counter(e.rank for e in entries).items() if n > 1}


# --- leaderboards (signed in) --------------------------------------------------------------


def _filters(choices: list[tuple[OrgUnit, str]], default: OrgUnit) -> tuple[dict, bool]:
    """The board's filters from the query string; an unknown value falls back to its default."""
    args = request.args
    by_id = {str(unit.id): unit for unit, _label in choices}
    wanted = {
        "scope": (args.get("scope") or "").strip(),
        "period": args.get("period") or "",
        "metric": args.get("metric") or "",
        "group": args.get("group") or "",
        "limit": args.get("limit") or "",
        "date": (args.get("date") or "").strip(),
    }
    limits = {str(n): n for n in LIMITS}
    filters = {
        "scope": by_id.get(wanted["scope"], default),
        "period": wanted["period"] if wanted["period"] in boards.PERIODS else "month",
        "metric": wanted["metric"] if wanted["metric"] in boards.METRICS else "hours",
        "group": wanted["group"] if wanted["group"] in boards.GROUPS else "member",
        "limit": limits.get(wanted["limit"], boards.DEFAULT_LIMIT),
        "date": _parse_day(wanted["date"]),
    }
    understood = {
        "scope": wanted["scope"] in by_id,
        "period": wanted["period"] in boards.PERIODS,
        "metric": wanted["metric"] in boards.METRICS,
        "group": wanted["group"] in boards.GROUPS,
        "limit": wanted["limit"] in limits,
        "date": filters["date"] is not None,
    }
    has_bad = any(wanted[name] and not understood[name] for name in wanted)
    return filters, has_bad


@bp.get("/leaderboards")
@login_required
def leaderboards():
    """Top members, grids or teams of a unit in a period, by hours or points."""
    choices = boards.scope_choices(current_user)
    filters, has_bad = _filters(choices, boards.default_scope(current_user))
    if has_bad:
        flash(_("Some filters were not understood; the defaults are shown instead."),
              "warning")
    day = filters["date"] or today()
    board = boards.leaderboard(scope=filters["scope"], period=filters["period"],
                               metric=filters["metric"], group=filters["group"],
                               limit=filters["limit"], day=day)
    nav = {}
    if board.starts_on is not None:
        nav["earlier"] = board.starts_on - timedelta(days=1)
        if board.ends_on < today():
            nav["later"] = board.ends_on + timedelta(days=1)
    return render_template("boards/leaderboards.html", board=board, choices=choices,
                           filters=filters, day=day, limits=LIMITS, nav=nav,
                           tied=_tied_ranks(board.entries), periods=boards.PERIODS,
                           metrics=boards.METRICS, groups=boards.GROUPS)


# --- certificate check (public) ------------------------------------------------------------


def _no_store(resp):
    """A check must show a revocation at once, and the page stays out of search engines."""
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Robots-Tag"] = "noindex"
    return resp


def _no_certificate(serial: str):
    """The plain answer for a number no certificate has (unknown, mistyped or forged)."""
    page = render_template("boards/verify_missing.html", serial=serial[:64])
    return _no_store(make_response(page, 404))


@bp.get("/verify")
def verify():
    """Type a certificate number; the check itself is on the certificate's own address."""
    raw = request.args.get("serial")
    if raw is None:
        return _no_store(make_response(render_template("boards/verify.html")))
    serial = certificates.normalise_serial(raw)
    if not serial:
        flash(_("Please enter the certificate number."), "warning")
        return _no_store(make_response(render_template("boards/verify.html")))
    if not SERIAL_TEXT.match(serial):
        return _no_certificate(serial)
    return redirect(url_for("boards.verify_serial", serial=serial))


@bp.get("/verify/<path:serial>")  # junk with slashes gets the same plain answer
def verify_serial(serial: str):
    """Whether a certificate is genuine and still valid, with what it states (name masked)."""
    try:
        check = certificates.verify(serial)
    except NotFound:
        db.session.rollback()
        return _no_certificate(certificates.normalise_serial(serial))
    return _no_store(make_response(render_template("boards/verify_result.html", check=check)))


# --- community screens (public) ------------------------------------------------------------


@bp.get("/board")
def board_index():
    """Every community, each linking to its public screen."""
    return render_template("boards/board_index.html", groups=boards.public_communities())


@bp.get("/board/<int:community_id>")
def board(community_id: int):
    """A community's screen: red flag, this month's top members, grids, teams, stars, totals."""
    community = boards.public_unit(community_id)
    day = _parse_day((request.args.get("date") or "").strip()) or today()

    def top(group: str, limit: int):
        return boards.leaderboard(scope=community, period="month", metric="hours",
                                  group=group, limit=limit, day=day)

    members, grids, teams = top("member", SCREEN_MEMBERS), top("grid", SCREEN_GRIDS), \
        top("team", SCREEN_TEAMS)
    return render_template(
        "boards/board.html", community=community, day=day, members=members, grids=grids,
        teams=teams, tied={"member": _tied_ranks(members.entries),
                           "grid": _tied_ranks(grids.entries),
                           "team": _tied_ranks(teams.entries)},
        holder=awards.holder(community, day), history=awards.history(community, before=day,
                                                      months=FLAG_HISTORY_MONTHS),
        stars=boards.recent_stars(community, limit=SCREEN_STARS),
        totals=boards.period_totals(community, "month", day), refresh=REFRESH_SECONDS)
