"""Test fixtures: a fresh, migrated database per test on SQLite or PostgreSQL.

`pytest --db=sqlite` (default) or `pytest --db=postgresql`. The PostgreSQL half starts its own
throwaway server; without PostgreSQL binaries it is skipped loudly, and under CI=true it fails.
The schema always comes from the Alembic migrations.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask_migrate import upgrade

from timebank import create_app
from timebank.extensions import db as _db

pytest_plugins = ["tests.factories"]

_state: dict = {}
_counter = itertools.count(1)
TEMPLATE_DB = "timebank_template"
PG_HALF_ONLY = "runs in the PostgreSQL half (--db=postgresql)"


def pytest_addoption(parser):
    parser.addoption("--db", choices=("sqlite", "postgresql"), default="sqlite",
                     help="the database the suite runs on")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _compile_catalogues() -> None:
    """The app reads compiled catalogues; build any that are missing or older than their source."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent / "timebank" / "translations"
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as src:
                catalogue = read_po(src)
            with mo.open("wb") as out:
                write_mo(out, catalogue)


def pytest_configure(config):
    _compile_catalogues()
    kind = config.getoption("--db")
    _state["kind"] = kind
    _state["tmp"] = Path(tempfile.mkdtemp(prefix="timebank-tests-"))
    if kind == "postgresql":
        from tests.pg_cluster import PgUnavailable, start_cluster

        try:
            _state["cluster"] = start_cluster()
        except PgUnavailable as exc:
            if _in_ci():
                raise pytest.UsageError(f"PostgreSQL is required under CI=true: {exc}") from exc
            _state["pg_missing"] = str(exc)


def pytest_collection_modifyitems(config, items):
    kind = _state["kind"]
    missing = _state.get("pg_missing")
    # Tests of one database belong to that half of the run: not collected in the other.
    other = "postgresql_only" if kind != "postgresql" else "sqlite_only"
    elsewhere = [i for i in items if i.get_closest_marker(other)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [i for i in items if not i.get_closest_marker(other)]
    for item in items:
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL SKIPPED: {missing}"))


def pytest_terminal_summary(terminalreporter):
    if _state.get("pg_missing"):
        terminalreporter.section("POSTGRESQL HALF SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.write_line(
            f"The PostgreSQL half of the suite did NOT run: {_state['pg_missing']}", red=True)
        terminalreporter.write_line(
            "Install PostgreSQL (apt-get install postgresql) to run it; CI=true makes this fatal.")


def pytest_unconfigure(config):
    cluster = _state.pop("cluster", None)
    if cluster is not None:
        cluster.stop()
    tmp = _state.pop("tmp", None)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def _migrate(url: str) -> None:
    app = create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test"})
    with app.app_context():
        upgrade()
        _db.engine.dispose()


@pytest.fixture(scope="session")
def db_kind() -> str:
    return _state["kind"]


@pytest.fixture(scope="session")
def _template():
    """Migrate once; every test then gets a copy of the migrated database."""
    if _state["kind"] == "postgresql":
        cluster = _state["cluster"]
        url = cluster.create_database(TEMPLATE_DB)
        _migrate(url)
        return TEMPLATE_DB
    path = _state["tmp"] / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


@contextmanager
def cloned_database(source):
    """A copy of the database `source` (a PostgreSQL database name or an SQLite path):
    yields its URL and the `source` to copy it in turn, and drops it afterwards."""
    n = next(_counter)
    if _state["kind"] == "postgresql":
        cluster = _state["cluster"]
        name = f"timebank_test_{n}"
        url = cluster.create_database(name, template=source)
        try:
            yield url, name
        finally:
            cluster.drop_database(name)
    else:
        path = _state["tmp"] / f"test_{n}.db"
        shutil.copyfile(source, path)
        try:
            yield f"sqlite:///{path}", path
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.fixture
def database_url(_template) -> str:
    """A fresh migrated database for this test."""
    with cloned_database(_template) as (url, _source):
        yield url


@pytest.fixture
def pg_cluster():
    """The running PostgreSQL server (PostgreSQL half only)."""
    if _state["kind"] != "postgresql":
        pytest.skip(PG_HALF_ONLY)
    return _state["cluster"]


@pytest.fixture
def app(database_url):
    app = create_app({
        "DATABASE_URL": database_url,
        "TESTING": True,
        "SECRET_KEY": "test-secret",
    })
    yield app
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()
