"""The landing page: each role goes to its own start page."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required

from timebank.web.common import has_endpoint

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    if current_user.has_role("staff", "admin") and has_endpoint("staff.queue"):
        return redirect(url_for("staff.queue"))
    if current_user.has_role("merchant") and has_endpoint("merchant.till"):
        return redirect(url_for("merchant.till"))
    return redirect(url_for("volunteer.home"))
