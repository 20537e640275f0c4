"""The pages: thin views over the same services as the API (parse → call → respond)."""

from __future__ import annotations

from flask import Flask, flash, g, redirect, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from timebank.extensions import bootstrap, login_manager
from timebank.models import User

# The session key holding the signed-in session's token (services/users.start_web_session).
SESSION_TOKEN = "sid"

# NUL, and the replacement character that undecodable bytes in a form become.
UNSAVEABLE = frozenset("\x00\ufffd")

# Blueprints of the web surface, in registration order. Each module exposes `bp`.
WEB_MODULES = ("auth", "home", "volunteer", "merchant", "staff", "activities", "neighbours",
               "recognition", "boards", "shop", "reports", "imports", "settlements", "audit",
               "policy")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in person: the session's token must still be good (not signed out, not
    expired, the member still active) and belong to them."""
    from timebank.services import users

    raw = session.get(SESSION_TOKEN)
    if not isinstance(raw, str) or not raw:
        return None
    found = users.user_for_token(raw, kind="web")
    if found is None or str(found[0].id) != user_id:
        return None
    return found[0]


def init_web(app: Flask) -> None:
    import importlib

    from timebank.web import common

    app.config.setdefault("BOOTSTRAP_SERVE_LOCAL", True)
    app.config.setdefault("BOOTSTRAP_BTN_SIZE", "md")
    bootstrap.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "warning"
    login_manager.localize_callback = _lazy
    login_manager.login_message = "Please sign in to continue."
    for name in WEB_MODULES:
        try:
            module = importlib.import_module(f"timebank.web.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"timebank.web.{name}":
                raise
            continue
        common.install_domain_errors(module.bp)
        app.register_blueprint(module.bp)
    app.context_processor(_page_context)
    app.before_request(_refuse_json_bodies)
    app.before_request(_refuse_unsaveable_characters)
    app.add_template_filter(_minor, "minor")
    app.add_template_filter(_localtime, "localtime")
    app.add_template_filter(_mask, "masked")


def _refuse_json_bodies():
    """Pages take the forms a browser sends. Flask-WTF would read a JSON body as the form, and
    a JSON list or number there breaks the form: the JSON API is the place for JSON."""
    from timebank.web.common import error_page

    if request.path.startswith("/api/") or request.method != "POST" or not request.is_json:
        return None
    return error_page(415)


def _refuse_unsaveable_characters():
    """A NUL character cannot be stored or searched for (PostgreSQL refuses it), and U+FFFD
    is what bytes that were not UTF-8 became: tell the person, keep nothing."""
    from flask_babel import gettext

    from timebank.web.common import back, error_page

    if request.path.startswith("/api/"):
        return None
    if request.method == "POST" and any(UNSAVEABLE.intersection(value)
                                        for value in request.form.values()):
        flash(gettext("The form contains characters that cannot be saved. "
                      "Please retype the text."), "danger")
        return redirect(back())
    if any("\x00" in value for value in request.args.values()):  # e.g. a search, on any page
        return error_page(400)
    return None


def _minor(value: int | None) -> str:
    """Integer hundredths as '12.50' (points and hours)."""
    from timebank.units import fmt

    return fmt(value or 0)


def _localtime(moment, pattern: str = "%Y-%m-%d %H:%M") -> str:
    from timebank.timeutil import local

    return local(moment).strftime(pattern) if moment is not None else ""


def _mask(name: str | None) -> str:
    from timebank.privacy import mask_name

    return mask_name(name or "")


def _lazy(message: str) -> str:
    from flask_babel import gettext

    return gettext(message)


def _page_context() -> dict:
    from timebank import LANGUAGES, select_locale
    from timebank.web.common import has_endpoint

    large = bool(getattr(current_user, "prefers_large_font", False)) or \
        bool(session.get("large_font"))
    return {
        "csrf_token_value": generate_csrf,
        "current_lang": select_locale(),
        "languages": LANGUAGES,
        "large_font": large,
        "has_endpoint": has_endpoint,
        "page_title": g.get("page_title"),
        "stars_due": _stars_due,
    }


def _stars_due() -> int:
    """How many star certificates wait in the staff member's reach (the nav's notice)."""
    from timebank.services import certificates

    if not current_user.is_authenticated:
        return 0
    return certificates.stars_due_count(current_user)
