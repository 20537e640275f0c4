"""Configuration: defaults first, then TIMEBANK_* environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _instance_secret(instance_path: Path) -> str:
    """Return the secret key kept in instance/, generating it on first use."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load(app, overrides: dict | None) -> None:
    """Fill app.config from defaults, the TIMEBANK_* environment and explicit overrides."""
    instance = Path(app.instance_path)
    app.config.update(
        DATABASE_URL=f"sqlite:///{instance / 'timebank.db'}",
        TIMEZONE="Asia/Shanghai",
        BASE_URL="http://127.0.0.1:5000",
        TOKEN_TTL_HOURS=24 * 30,
        WEB_SESSION_TTL_HOURS=24 * 7,
        REDEMPTION_CODE_TTL_SECONDS=300,
        CHECKIN_CODE_SECONDS=60,
        CHECKIN_GRACE_MINUTES=30,
        DB_POOL_SIZE=10,
        DB_MAX_OVERFLOW=10,
        MAX_CONTENT_LENGTH=1024 * 1024,
        # Sign-in: attempts per client address, and the lockout of one account from one
        # address after repeated wrong passwords (services/lockout.py).
        SIGN_IN_RATE_LIMIT="20 per minute",
        SIGN_IN_LOCKOUT_FAILURES=5,
        SIGN_IN_LOCKOUT_MINUTES=15,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        # Number of reverse proxies in front of the app whose X-Forwarded-* headers to trust.
        PROXY_COUNT=0,
        FORCE_HTTPS=False,
        SESSION_COOKIE_SECURE=None,  # None: secure when BASE_URL is https://
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        SQLALCHEMY_TRACK_MODIFICATIONS=False,
        JSON_SORT_KEYS=False,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        API_TITLE="timebank",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.config.from_prefixed_env("TIMEBANK")
    if overrides:
        app.config.update(overrides)
    if app.config.get("SESSION_COOKIE_SECURE") is None:
        # Secure cookies whenever the site is served over HTTPS.
        app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance)
    url = app.config["DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["TIMEZONE"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(url, app.config)


def _engine_options(url: str, cfg) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": int(cfg["DB_POOL_SIZE"]),
            "max_overflow": int(cfg["DB_MAX_OVERFLOW"])}
