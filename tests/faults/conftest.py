"""The app served by a real gunicorn (two workers) on the test's database."""

from __future__ import annotations

import pytest

from tests.live_server import Gunicorn


@pytest.fixture
def server(database_url, tmp_path):
    gunicorn = Gunicorn(database_url, tmp_path / "gunicorn.log", workers=2)
    try:
        gunicorn.wait_ready()
        yield gunicorn
    finally:
        gunicorn.stop()
