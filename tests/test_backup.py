"""Backups: a copy taken while the app runs restores to the same, verifiable ledger."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.pg_cluster import find_pg_ctl
from timebank import create_app
from timebank.extensions import db
from timebank.models import Account
from timebank.services import ledger


def _busy_ledger(api, world) -> None:
    """Points earned, spent at a merchant and given back: every kind of posting there is."""
    api.earn(world.vol_a, world.staff_a)
    api.earn(world.vol_a2, world.staff_a)
    resp = api.post("/api/v1/redemptions", world.merchant_a,
                    json={"code": api.code(world.vol_a), "offer_id": world.offers["OA"]})
    assert resp.status_code == 201, resp.get_json()


def _state(app) -> tuple[dict[str, int], list[str]]:
    """Every account's balance, and what `ledger verify` finds wrong."""
    with app.app_context():
        balances = dict(db.session.execute(select(Account.key, Account.balance_minor)).all())
        problems = ledger.verify().problems
        db.session.rollback()
    return balances, problems


def _restored(url: str):
    return create_app({"DATABASE_URL": url, "TESTING": True, "SECRET_KEY": "test-secret"})


@pytest.mark.sqlite_only
def test_a_backup_restores_to_a_clean_ledger_with_the_same_balances(app, api, world, tmp_path):
    _busy_ledger(api, world)
    target = tmp_path / "timebank-backup.db"
    result = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert "integrity check ok" in result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # personal data
    assert not list(tmp_path.glob("*.partial"))

    # Restore: the copy, put in place of a database, is the same ledger.
    restored_file = tmp_path / "restored.db"
    shutil.copyfile(target, restored_file)
    restored = _restored(f"sqlite:///{restored_file}")
    balances, problems = _state(restored)
    original_balances, _ = _state(app)
    assert problems == []
    assert balances == original_balances
    assert balances[f"member:{world.vol_a.id}"] > 0
    with restored.app_context():
        db.engine.dispose()

    # Later changes are not in the backup, and a second backup never overwrites the first.
    api.earn(world.vol_a, world.staff_a, ago=8)
    assert _state(app)[0] != original_balances
    again = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert again.exit_code != 0
    assert "已存在" in again.output  # "… already exists; choose a new file name."
    check = _restored(f"sqlite:///{target}")
    assert _state(check)[0] == original_balances
    with check.app_context():
        db.engine.dispose()


@pytest.mark.sqlite_only
def test_backup_refuses_a_missing_folder(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "no" / "b.db")])
    assert result.exit_code != 0
    assert "不存在" in result.output  # "The folder … does not exist."


@pytest.mark.postgresql_only
def test_on_postgresql_backup_points_to_pg_dump(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "b.db")])
    assert result.exit_code != 0
    assert "pg_dump" in result.output
    assert not (tmp_path / "b.db").exists()


@pytest.mark.postgresql_only
def test_pg_dump_and_pg_restore_give_back_a_clean_ledger_with_the_same_balances(
        app, api, world, pg_cluster, database_url, tmp_path):
    """What the README tells an operator to run, run against the test server."""
    _busy_ledger(api, world)
    tools = Path(find_pg_ctl()).parent
    dump = tmp_path / "timebank.dump"
    source = database_url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run([str(tools / "pg_dump"), "--format=custom", f"--file={dump}", source],
                   check=True, capture_output=True)
    name = f"restored_{os.getpid()}"
    target = pg_cluster.create_database(name)
    try:
        subprocess.run([str(tools / "pg_restore"), "--no-owner", "--exit-on-error",
                        f"--dbname={target.replace('postgresql+psycopg://', 'postgresql://')}",
                        str(dump)], check=True, capture_output=True)
        restored = _restored(target)
        balances, problems = _state(restored)
        assert problems == []
        assert balances == _state(app)[0]
        with restored.app_context():
            db.engine.dispose()
    finally:
        pg_cluster.drop_database(name)
