"""What every page shares: role guards, domain errors as flash messages, error pages."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
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
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException
from wtforms import HiddenField
from wtforms.validators import Optional, Regexp

from timebank.errors import DomainError, Forbidden, NotFound
from timebank.extensions import db, login_manager
from timebank.services import idempotency, tx

ERROR_PAGES = {
    400: (_l("The request could not be understood"), _l("Please go back and try again.")),
    403: (_l("You are not allowed to see this page"),
          _l("This page belongs to another role or another community.")),
    404: (_l("Page not found"), _l("The address may be wrong, or the item was removed.")),
    405: (_l("Not allowed"), _l("This action is not possible here.")),
    413: (_l("What was sent is too large"),
          _l("Nothing was saved. Please send a shorter text or a smaller file.")),
    415: (_l("This form cannot be read"),
          _l("Nothing was saved. Please fill in the form on the page and send it again.")),
    429: (_l("Too many attempts"), _l("Please wait a minute and try again.")),
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


def _site_path(target: str) -> bool:
    """A path on this site: starts with one slash, and nothing a browser would read as
    another site (`//host`; a backslash, which browsers take for a slash; tabs and line
    breaks, which they drop)."""
    return (target.startswith("/") and not target.startswith("//")
            and not any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target))


def safe_next(target: str | None, default_endpoint: str = "home.index") -> str:
    """Only a path on this site; anything else goes to the default page."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and _site_path(target):
            return target
        if parts.netloc == request.host and parts.scheme in ("http", "https"):
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if _site_path(path):
                return path
    return url_for(default_endpoint)


def page_arg() -> int:
    """The `?page=` of a list page; anything but a sensible number is the first page."""
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1


def flash_form_errors(form: FlaskForm) -> None:
    """Every error of a form without its own page, as 'Label: message' flashes."""
    for name, messages in form.errors.items():
        field = form._fields.get(name)
        label = field.label.text if field is not None else name
        for message in messages:
            flash(f"{label}: {message}", "danger")


def place_domain_error(form: FlaskForm, error: DomainError,
                       fields: dict[str, str] | None = None) -> None:
    """Roll back; put the service's field errors next to the form's fields (`fields` maps a
    service field to a form field); what finds no field, and the detail when nothing was
    placed, become flashes."""
    db.session.rollback()
    placed = False
    for name, messages in (error.errors or {}).items():
        field = form._fields.get((fields or {}).get(name, name))
        if field is not None:
            field.errors = [*field.errors, *messages]
            placed = True
        else:
            for message in messages:
                flash(message, "danger")
    if not placed:
        flash(error.detail, "danger")


def category_choices() -> list[tuple[str, str]]:
    from timebank.services import categories

    return [(c.code, c.name) for c in categories.all_categories()]


def back() -> str:
    """Where the form came from (same site only)."""
    return safe_next(request.referrer)


def error_page(status: int, detail: str | None = None):
    title, hint = ERROR_PAGES.get(status, ERROR_PAGES[500])
    try:
        return render_template("errors/error.html", status=status, title=title,
                               detail=detail or hint), status
    except OperationalError as error:  # the page's menu needs the database, which is down
        db.session.rollback()
        current_app.logger.error("database unavailable: %s", error.orig)
        return database_unavailable_page()


def database_unavailable_page():
    """The 503 page, drawn without the database: as to a visitor, since the signed-in
    person's name and menu would be read from it."""
    login_manager._update_request_context_with_user()  # anonymous for the rest of the request
    title, hint = ERROR_PAGES[503]
    return render_template("errors/error.html", status=503, title=title, detail=hint), 503


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
    return database_unavailable_page()


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


# --- forms that move points run once -----------------------------------------------------


class AlreadySent(DomainError):
    code = "already_sent"
    status = 409
    title = _l("This form was already sent")


class OnceForm(FlaskForm):
    """A form whose use case runs at most once, however often it is sent (a double click, a
    reload): each rendered form carries its own key, claimed like an Idempotency-Key."""

    form_key = HiddenField(validators=[Optional(), Regexp(r"^[0-9a-f]{32}$")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.form_key.data:
            self.form_key.data = uuid.uuid4().hex


@contextmanager
def once(form: OnceForm) -> Iterator[None]:
    """Run the block as one transaction, only for the first sending of this form.

    A second sending raises AlreadySent and changes nothing; when the block fails, the key is
    released with everything else and the person may try again.
    """
    with tx.held_commit():
        claimed = idempotency.claim(user_id=current_user.id, key=f"form:{form.form_key.data}",
                                    request_hash=f"form:{request.endpoint}")
        if claimed.request_id is None:
            raise AlreadySent(_("This form was already sent; nothing was done twice."))
        yield
        idempotency.store(claimed, status_code=200, body="")


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


def day_arg(name: str, label: str) -> date | None:
    """A YYYY-MM-DD query argument; a bad one is flashed and ignored."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        flash(_("%(field)s is not a valid date (YYYY-MM-DD); it was ignored.", field=label),
              "warning")
        return None
    return day


def member_page(desk_endpoint: str) -> Callable:
    """A page of members; staff and administrators without a member role go to their desk."""
    from timebank.models.user import MEMBER_ROLES
    from timebank.services import access

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.has_role(*MEMBER_ROLES):
                return view(*args, **kwargs)
            if access.is_staff(current_user):
                return redirect(url_for(desk_endpoint))
            abort(403)

        return wrapper

    return decorator
