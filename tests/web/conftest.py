"""Pages through the test client, as a browser sends them: a session cookie and CSRF tokens."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class Web:
    """One browser session. `post` sends the page's CSRF token like a real form does."""

    def __init__(self, client):
        self.client = client
        self._token: str | None = None

    def get(self, path: str, **kw):
        resp = self.client.get(path, **kw)
        found = _CSRF_META.search(resp.get_data(as_text=True)) if resp.mimetype == "text/html" \
            else None
        if found:
            self._token = found.group(1)
        return resp

    def token(self) -> str:
        if self._token is None:
            self.get("/login", follow_redirects=True)
        assert self._token, "no CSRF token on the page"
        return self._token

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True, **kw):
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.token())
        return self.client.post(path, data=form, **kw)

    def login(self, person, password: str = PASSWORD):
        resp = self.post("/login", {"username": person.username, "password": password})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        self._token = None
        return resp

    def follow(self, resp):
        """Follow a redirect the way a browser would, returning the page."""
        assert resp.status_code in (301, 302, 303), resp.status_code
        return self.get(resp.location, follow_redirects=True)

    @staticmethod
    def text(resp) -> str:
        return resp.get_data(as_text=True)


@pytest.fixture
def web(app) -> Web:
    """A browser session in Chinese (the default language)."""
    return Web(app.test_client())


@pytest.fixture
def web_factory(app):
    """More browser sessions, e.g. a volunteer and a merchant side by side."""
    return lambda: Web(app.test_client())
