"""What every page shares: signing in and out, CSRF, error pages, language and large text."""

from __future__ import annotations

from sqlalchemy import select

from timebank.extensions import db
from timebank.models import User


def test_sign_in_goes_to_the_role_start_page_and_sign_out_ends_the_session(web, world):
    resp = web.login(world.vol_a)
    assert resp.location == "/"
    assert web.get("/").status_code == 302
    out = web.post("/logout")
    assert out.status_code == 302 and out.location.endswith("/login")
    assert web.get("/").location.startswith("/login")


def test_a_wrong_password_is_told_plainly_and_signs_nobody_in(web, world):
    resp = web.post("/login", {"username": world.vol_a.username, "password": "nope-nope"})
    assert resp.status_code == 200
    assert "用户名或密码错误" in web.text(resp)
    assert web.get("/").location.startswith("/login")


def test_a_deactivated_member_cannot_sign_in(app, web, world):
    with app.app_context():
        user = db.session.get(User, world.vol_a.id)
        user.is_active = False
        db.session.commit()
    resp = web.post("/login", {"username": world.vol_a.username, "password": "correct-horse-9"})
    assert resp.status_code == 200
    assert "用户名或密码错误" in web.text(resp)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(app, web, world):
    web.login(world.vol_a)
    resp = web.post("/large-font", {"enabled": "1"}, csrf=False)
    assert resp.status_code == 302
    page = web.follow(resp)
    assert "表单已过期" in web.text(page)
    with app.app_context():
        assert db.session.scalar(select(User.prefers_large_font)
                                 .where(User.id == world.vol_a.id)) is False


def test_unknown_pages_get_a_friendly_chinese_404(web):
    resp = web.get("/no/such/page")
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert "页面不存在" in web.text(resp)


def test_the_language_switch_turns_pages_english_and_back(web):
    assert "登录" in web.text(web.get("/login"))
    web.post("/language", {"lang": "en"})
    assert "Sign in" in web.text(web.get("/login"))
    web.post("/language", {"lang": "zh"})
    assert "登录" in web.text(web.get("/login"))


def test_large_text_is_remembered_for_the_member_across_sessions(app, web, web_factory, world):
    web.login(world.vol_a)
    web.post("/large-font", {"enabled": "1"})
    other = web_factory()
    other.login(world.vol_a)
    assert 'class="large-font"' in other.text(other.get("/login?x=1")) or \
        'class="large-font"' in other.text(other.follow(other.get("/")))


def test_bootstrap_is_served_by_the_app_itself(web):
    page = web.text(web.get("/login"))
    assert "cdn" not in page.lower()
    assert web.get("/bootstrap/static/css/bootstrap.min.css").status_code == 200
