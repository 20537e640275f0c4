"""Signing in safely: headers, cookies, a fresh session, rate limits and lockout, `next`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from tests.factories import PASSWORD
from tests.web.conftest import Web
from timebank import create_app
from timebank.extensions import db
from timebank.models import User

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
TOKENS = "/api/v1/auth/tokens"


def _csp(resp) -> dict[str, str]:
    policy = resp.headers["Content-Security-Policy"]
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";"))


@pytest.mark.parametrize("path", ["/login", "/no/such/page", "/api/v1/openapi.json",
                                  "/api/v1/users/me"])
def test_every_answer_carries_the_protective_headers(client, path):
    resp = client.get(path)
    csp = _csp(resp)
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["script-src"] == "'self'"
    assert csp["default-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"


def test_no_template_has_an_inline_script_or_event_handler():
    """The policy refuses inline scripts: one in a template would silently stop working."""
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag:
                offenders.append(f"{template.name}: {tag}")
        offenders += [f"{template.name}: {m}" for m in
                      re.findall(r"<[^>]*\son[a-z]+\s*=", text)]
        offenders += [f"{template.name}: javascript: URL"] if "javascript:" in text else []
    assert offenders == []


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(web, world):
    resp = web.login(world.vol_a)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served over plain http on 127.0.0.1: it must still work


def _app(database_url, **overrides):
    return create_app({"DATABASE_URL": database_url, "TESTING": True,
                       "SECRET_KEY": "test-secret", **overrides})


def test_over_https_the_session_cookie_is_secure(database_url, world):
    app = _app(database_url, BASE_URL="https://timebank.example.cn")
    web = Web(app.test_client())
    resp = web.post("/login", {"username": world.vol_a.username, "password": PASSWORD})
    assert resp.status_code == 302
    assert "Secure" in resp.headers["Set-Cookie"]
    with app.app_context():
        db.engine.dispose()


def test_sign_in_starts_a_fresh_session_keeping_only_the_language(web, world):
    web.post("/language", {"lang": "en"})
    with web.client.session_transaction() as session:
        session["planted"] = "by someone else"  # e.g. a fixated session
    before = web.client.get_cookie("session").value
    web.login(world.vol_a)
    after = web.client.get_cookie("session").value
    assert after != before
    with web.client.session_transaction() as session:
        assert "planted" not in session
        assert session["lang"] == "en"
        assert session["_user_id"] == str(world.vol_a.id)


def test_sign_out_clears_the_session(web, world):
    web.login(world.vol_a)
    web.post("/logout")
    with web.client.session_transaction() as session:
        assert "_user_id" not in session
    assert web.get("/").location.startswith("/login")


def test_a_copy_of_the_session_cookie_is_worthless_after_sign_out(web, web_factory, world):
    web.login(world.vol_a)
    stolen = web.client.get_cookie("session").value
    thief = web_factory()
    thief.client.set_cookie("session", stolen)
    assert thief.get("/me/").status_code == 200  # the copy works while the session lasts
    web.post("/logout")
    assert thief.get("/me/").location.startswith("/login")


def test_deactivating_a_member_signs_them_out_of_every_browser(app, web, world):
    web.login(world.vol_a)
    assert web.get("/me/").status_code == 200
    with app.app_context():
        db.session.get(User, world.vol_a.id).is_active = False
        db.session.commit()
    assert web.get("/me/").location.startswith("/login")


def test_a_browser_session_ends_after_its_lifetime(web, world):
    web.login(world.vol_a)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=8)):
        assert web.get("/me/").location.startswith("/login")


def test_a_browser_session_token_is_no_bearer_token(web, world, client):
    web.login(world.vol_a)
    with web.client.session_transaction() as session:
        raw = session["sid"]
    resp = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {raw}"})
    assert resp.status_code == 401


def test_passwords_are_stored_only_as_scrypt_hashes(app, world):
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.id == world.vol_a.id))
    assert stored.startswith("scrypt:") and PASSWORD not in stored


@pytest.mark.parametrize("target", [
    "https://evil.example/steal", "//evil.example", "/\\evil.example", "/\t/evil.example",
    "javascript:alert(1)", "http://localhost//evil.example",
])
def test_next_after_sign_in_never_leaves_the_site(web, world, target):
    resp = web.client.post("/login", query_string={"next": target},
                           data={"username": world.vol_a.username, "password": PASSWORD,
                                 "csrf_token": web.token()})
    assert resp.status_code == 302
    assert resp.location == "/"


def test_next_after_sign_in_goes_to_the_page_asked_for(web, world):
    resp = web.client.post("/login", query_string={"next": "/records?page=2"},
                           data={"username": world.vol_a.username, "password": PASSWORD,
                                 "csrf_token": web.token()})
    assert resp.location == "/records?page=2"


# --- too many attempts -----------------------------------------------------------------


def _sign_in(web: Web, username: str, password: str, address: str = "10.0.0.1"):
    return web.client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": web.token()},
                           environ_base={"REMOTE_ADDR": address})


def test_repeated_wrong_passwords_lock_the_account_from_that_address_for_a_while(web, world):
    name = world.vol_a.username
    for _ in range(5):
        assert "用户名或密码错误" in web.text(_sign_in(web, name, "wrong-password"))
    locked = _sign_in(web, name, PASSWORD)  # even the right password, for now
    assert locked.status_code == 429
    assert "密码错误次数过多" in web.text(locked)
    assert web.get("/").location.startswith("/login")  # not signed in

    other_place = Web(web.client.application.test_client())
    assert _sign_in(other_place, name, PASSWORD, address="10.0.0.2").status_code == 302

    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=16)):
        assert _sign_in(web, name, PASSWORD).status_code == 302


def test_a_successful_sign_in_forgets_the_earlier_failures(web, world):
    name = world.vol_a.username
    for _ in range(4):
        _sign_in(web, name, "wrong-password")
    assert _sign_in(web, name, PASSWORD).status_code == 302
    web.post("/logout")
    for _ in range(4):
        _sign_in(web, name, "wrong-password")
    assert _sign_in(web, name, PASSWORD).status_code == 302


def test_the_api_locks_the_same_way_with_a_429_rate_limited(client, world):
    body = {"username": world.vol_a.username, "password": "wrong-password"}
    for _ in range(5):
        assert client.post(TOKENS, json=body).status_code == 401
    resp = client.post(TOKENS, json={**body, "password": PASSWORD})
    assert resp.status_code == 429
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "rate_limited"
    assert "token" not in resp.get_json()


def test_too_many_sign_ins_from_one_address_are_refused(database_url, world):
    app = _app(database_url, SIGN_IN_RATE_LIMIT="3 per minute")
    web = Web(app.test_client())
    for _ in range(3):
        assert _sign_in(web, "nobody", "wrong-password").status_code == 200
    page = _sign_in(web, world.vol_a.username, PASSWORD)
    assert page.status_code == 429
    assert "尝试次数过多" in web.text(page)
    api = app.test_client()
    for _ in range(3):
        api.post(TOKENS, json={"username": "nobody", "password": "x" * 8})
    resp = api.post(TOKENS, json={"username": world.vol_a.username, "password": PASSWORD})
    assert resp.status_code == 429
    assert resp.get_json()["code"] == "rate_limited"
    # Other addresses, and other pages, are not affected.
    assert _sign_in(web, world.vol_a.username, PASSWORD, address="10.0.0.9").status_code == 302
    with app.app_context():
        db.engine.dispose()
