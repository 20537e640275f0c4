"""What every page shares: role guards, domain errors as flash messages, error pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from timebank.errors import DomainError, Forbidden, NotFound
from timebank.extensions import db

ERROR_PAGES = {
    400: (_l("The request could not be understood"), _l("Please go back and try again.")),
    403: (_l("You are not allowed to see this page"),
          _l("This page belongs to another role or another community.")),
    404: (_l("Page not found"), _l("The address may be wrong, or the item was removed.")),
    405: (_l("Not allowed"), _l("This action is not possible here.")),
    413: (_l("The upload is too large"), _l("Please send a smaller file.")),
    500: (_l("Something went wrong on our side"),
          _l("Nothing was changed. Please try again in a moment.")),
    503: (_l("The service is busy"), _l("Nothing was changed. Please try again in a moment.")),
}


def has_endpoint(endpoint: str) -> bool:
    return endpoint in current_app.view_functions


def roles_required(*roles: str) -> Callable:
    """Signed in and holding one of `roles` (admin holds every role)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not (current_user.has_role(*roles) or current_user.has_role("admin")):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def safe_next(target: str | None, default_endpoint: str = "home.index") -> str:
    """Only a path on this site; anything else goes to the default page."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//"):
            return target
        if parts.netloc == request.host and parts.scheme in ("http", "https"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return url_for(default_endpoint)


def back() -> str:
    """Where the form came from (same site only)."""
    return safe_next(request.referrer)


def error_page(status: int, detail: str | None = None):
    title, hint = ERROR_PAGES.get(status, ERROR_PAGES[500])
    return render_template("errors/error.html", status=status, title=title,
                           detail=detail or hint), status


def _domain_error(error: DomainError):
    db.session.rollback()
    if request.method == "GET" and isinstance(error, Forbidden | NotFound):
        return error_page(error.status, error.detail)
    flash(error.detail, "danger")
    for messages in (error.errors or {}).values():
        for message in messages:
            flash(message, "danger")
    return redirect(back())


def _integrity_error(error: IntegrityError):
    db.session.rollback()
    current_app.logger.warning("integrity error on a page: %s", error.orig)
    flash(_("This change conflicts with the current data; nothing was changed."), "danger")
    return redirect(back())


def _operational_error(error: OperationalError):
    db.session.rollback()
    current_app.logger.error("database unavailable: %s", error.orig)
    return error_page(503)


def install_domain_errors(bp: Blueprint) -> None:
    """Once per blueprint (blueprints are module-level and shared by every app made)."""
    if getattr(bp, "_domain_errors_installed", False):
        return
    bp._domain_errors_installed = True
    bp.register_error_handler(DomainError, _domain_error)
    bp.register_error_handler(IntegrityError, _integrity_error)
    bp.register_error_handler(OperationalError, _operational_error)


def http_error_page(error: HTTPException):
    """A friendly page for any HTTP error outside the API (CSRF: back to the form)."""
    db.session.rollback()
    if isinstance(error, CSRFError):
        flash(_("The form has expired or was not sent from this site. Please try again."),
              "danger")
        return redirect(back())
    return error_page(error.code or 500)
