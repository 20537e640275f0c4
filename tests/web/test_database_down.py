"""With the database unreachable, a signed-in person's pages answer the 503 page and the API
503 problem+json, never a 500 (the menu of the page names the person, read from the database).

The app points at a PostgreSQL address where nothing listens, so every connection is refused
at once, as when the server is down; no server is needed, so both halves of the suite run it.
"""

from __future__ import annotations

import port_for
import pytest

from timebank import create_app


@pytest.fixture
def unreachable():
    """A client of the app without its database, with a signed-in person's session; errors
    are handled as in production (not TESTING, which lets them through)."""
    port = port_for.select_random()
    app = create_app({"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/timebank",
                      "SECRET_KEY": "test-secret"})
    client = app.test_client()
    with client.session_transaction() as session:
        # A signed-in session: its token is checked against the database on every page.
        session["_user_id"], session["_fresh"], session["sid"] = "1", True, "a-session-token"
    return client


@pytest.mark.parametrize("path", ["/me/", "/till/", "/desk/", "/", "/login", "/no-such-page"])
def test_pages_of_a_signed_in_person_answer_the_busy_page(unreachable, path):
    resp = unreachable.get(path, headers={"Accept-Language": "en"})
    assert resp.status_code == 503
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "The service is busy" in page and "Nothing was changed" in page


def test_the_api_and_the_health_check_answer_503(unreachable):
    resp = unreachable.get("/api/v1/members/1/balance",
                           headers={"Authorization": "Bearer any-token"})
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["code"] == "unavailable"
    health = unreachable.get("/healthz")
    assert (health.status_code, health.get_json()["status"]) == (503, "unavailable")
