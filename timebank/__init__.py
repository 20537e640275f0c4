"""timebank: service hours into points, for grid governance."""

from __future__ import annotations

from flask import Flask, has_request_context, request, session
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from timebank import config
from timebank.extensions import babel, csrf, db, login_manager, migrate

LANGUAGES = ("zh", "en")


class JSONProvider(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False

    def loads(self, s, **kwargs):
        """Parse a body; too deep nesting or unpaired surrogates are invalid JSON (a 400)."""
        try:
            value = super().loads(s, **kwargs)
            # A lone surrogate (\ud800) cannot be stored or hashed as UTF-8: refuse it here.
            super().dumps(value).encode("utf-8")
        except (RecursionError, UnicodeEncodeError) as exc:
            raise ValueError("the body is not valid JSON text") from exc
        return value


MAX_ID = 2**31 - 1


def _digits_up_to(limit: int) -> str:
    """A regex for the decimal numbers from 0 to `limit` (leading zeros allowed)."""
    digits = str(limit)
    shorter = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    same_length = []
    for i, ch in enumerate(digits):
        rest = len(digits) - i - 1
        if ch != "0":
            lower = "0" if ch == "1" else f"[0-{int(ch) - 1}]"
            same_length.append(digits[:i] + lower + (f"[0-9]{{{rest}}}" if rest else ""))
    return "0*(?:" + "|".join([*shorter, *same_length, digits]) + ")"


class IdConverter(IntegerConverter):
    """`<int:…>` ids fit the INTEGER id columns: a huge id is a 404, not a database error.
    Only ASCII digits: `/x/١٢` is no address rather than item 12.

    The pattern itself stops at the largest id: were a huge id refused only on conversion,
    werkzeug would answer 405 on an address that has a rule for another method too."""

    regex = _digits_up_to(MAX_ID)

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def refuse_undecodable_query() -> None:
    """A query string must be UTF-8 text; raw bytes that are not would fail deep in a view."""
    from flask import abort
    from flask_babel import gettext

    try:
        request.query_string.decode("utf-8")
    except UnicodeDecodeError:
        abort(400, description=gettext("The address contains characters that are not valid "
                                       "text."))


def select_locale() -> str:
    if not has_request_context():
        return "zh"
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "zh"


def create_app(overrides: dict | None = None) -> Flask:
    """config → extensions → blueprints → errors → CLI."""
    app = Flask(__name__, instance_relative_config=True,
                template_folder="../templates")
    app.json = JSONProvider(app)
    app.url_map.converters["int"] = IdConverter
    config.load(app, overrides)
    app.before_request(refuse_undecodable_query)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    from timebank.security import init_security

    init_security(app)

    with app.app_context():
        from timebank.services.tx import (
            close_sessions_quietly,
            install_sqlite_pragmas,
            keep_prepared_statements,
        )

        close_sessions_quietly(app)

        if db.engine.dialect.name == "sqlite":
            install_sqlite_pragmas(db.engine)
        elif db.engine.dialect.name == "postgresql":
            keep_prepared_statements(db.engine)

    from timebank import models  # noqa: F401  (every table for Alembic)
    from timebank.api import init_api
    from timebank.ops import bp as ops_bp

    app.register_blueprint(ops_bp)
    api = init_api(app)
    csrf.exempt("timebank.api")
    for blueprint in api._app.blueprints.values():
        if blueprint.name.startswith("api_"):
            csrf.exempt(blueprint)

    from timebank.web import init_web

    init_web(app)

    from timebank.cli import register

    register(app)
    return app


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"
