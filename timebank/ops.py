"""Operations: the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from timebank.extensions import db

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    """200 while the database answers, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError as exc:
        db.session.rollback()
        current_app.logger.error("health check: database unavailable: %s", exc)
        return jsonify(status="unavailable", database="unavailable"), 503
    return jsonify(status="ok", database="ok")
