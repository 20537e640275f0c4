"""The schema comes only from the migrations, and the models agree with them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def empty_database_url(db_kind, tmp_path, request):
    if db_kind == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database("timebank_empty")
        yield url
        cluster.drop_database("timebank_empty")
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


def flask(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TIMEBANK_DATABASE_URL": url, "TIMEBANK_SECRET_KEY": "x",
           "FLASK_APP": "timebank"}
    return subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_upgrade_from_empty_then_no_drift_then_down_and_up_again(empty_database_url):
    up = flask(empty_database_url, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    check = flask(empty_database_url, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr

    down = flask(empty_database_url, "db", "downgrade", "base")
    assert down.returncode == 0, down.stderr
    again = flask(empty_database_url, "db", "upgrade")
    assert again.returncode == 0, again.stderr
    verify = flask(empty_database_url, "ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_recognition_revision_fills_the_aggregates_from_hours_already_approved(
        empty_database_url):
    assert flask(empty_database_url, "db", "upgrade").returncode == 0
    seeded = flask(empty_database_url, "seed-demo", "--members", "20")
    assert seeded.returncode == 0, seeded.stderr
    down = flask(empty_database_url, "db", "downgrade", "0003_activities_timebank")
    assert down.returncode == 0, down.stderr
    up = flask(empty_database_url, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    check = flask(empty_database_url, "awards", "check-stats")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "rows=0" not in check.stdout
    verify = flask(empty_database_url, "ledger", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
