"""Signing in and out, the language switch and the large-font mode."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from timebank import LANGUAGES
from timebank.errors import Unauthenticated
from timebank.extensions import limiter
from timebank.services import lockout, users
from timebank.web import SESSION_TOKEN
from timebank.web.common import back, safe_next

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


# What a new session keeps from the one before sign-in: the visitor's display choices.
KEPT_ACROSS_SIGN_IN = ("lang", "large_font")


def _new_session() -> None:
    """Start a fresh session (nothing set before sign-in survives but the display choices)."""
    kept = {key: session[key] for key in KEPT_ACROSS_SIGN_IN if key in session}
    session.clear()
    session.update(kept)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGN_IN_RATE_LIMIT"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = users.authenticate(form.username.data.strip(), form.password.data,
                                      client=request.remote_addr or "")
        except lockout.SignInLocked as locked:
            flash(locked.detail, "danger")
            return render_template("auth/login.html", form=form), 429
        except Unauthenticated:
            flash(_("Wrong username or password."), "danger")
        else:
            raw = users.start_web_session(
                user.id, ttl_hours=current_app.config["WEB_SESSION_TTL_HOURS"])
            _new_session()
            session[SESSION_TOKEN] = raw
            login_user(user)
            return redirect(safe_next(request.args.get("next")))
    elif request.method == "POST":
        flash(_("Please enter your username and password."), "danger")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    raw = session.get(SESSION_TOKEN)
    if isinstance(raw, str) and raw:
        users.end_web_session(raw)  # a copy of the old cookie signs nobody in
    logout_user()
    _new_session()
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language():
    chosen = request.form.get("lang", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    return redirect(back())


@bp.post("/large-font")
def large_font():
    enabled = request.form.get("enabled") == "1"
    if current_user.is_authenticated:
        users.set_large_font(current_user, enabled=enabled)
    else:
        session["large_font"] = enabled
    return redirect(back())
