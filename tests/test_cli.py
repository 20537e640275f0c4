"""The flask commands an operator runs."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from timebank.extensions import db


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def test_users_create_makes_the_first_admin_who_can_sign_in(cli, client):
    result = cli.invoke(args=["users", "create", "--username", "root", "--password",
                              "s3cret-pass-1", "--roles", "admin"])
    assert result.exit_code == 0, result.output
    assert "created user root" in result.output
    token = client.post("/api/v1/auth/tokens",
                        json={"username": "root", "password": "s3cret-pass-1"})
    assert token.status_code == 201
    assert token.get_json()["user"]["roles"] == ["admin"]


def test_users_create_refuses_a_short_password_and_unknown_role(cli):
    short = cli.invoke(args=["users", "create", "--username", "u", "--password", "x",
                             "--roles", "admin"])
    assert short.exit_code != 0
    assert "password" in short.output
    role = cli.invoke(args=["users", "create", "--username", "u2", "--password",
                            "long-enough-1", "--roles", "emperor"])
    assert role.exit_code != 0
    assert "roles" in role.output


def test_seed_demo_fills_an_empty_database_once(cli, app):
    first = cli.invoke(args=["seed-demo", "--members", "30"])
    assert first.exit_code == 0, first.output
    assert "demo-pass-2026" in first.output
    for login in ("admin", "staff", "volunteer", "merchant"):
        assert app.test_client().post(
            "/api/v1/auth/tokens", json={"username": login, "password": "demo-pass-2026"}
        ).status_code == 201
    with app.app_context():
        pending = db.session.scalar(
            text("SELECT COUNT(*) FROM service_record WHERE status = 'pending'"))
        assert pending > 0
    verify = cli.invoke(args=["ledger", "verify"])
    assert verify.exit_code == 0, verify.output
    second = cli.invoke(args=["seed-demo"])
    assert second.exit_code != 0
    assert "数据库不为空" in second.output


def test_ledger_verify_is_clean_then_catches_a_changed_balance(cli, app, api, world):
    api.earn(world.vol_a, world.staff_a)
    clean = cli.invoke(args=["ledger", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "problems=0" in clean.output
    with app.app_context():
        db.session.execute(text(
            f"UPDATE account SET balance_minor = balance_minor + 1 "
            f"WHERE user_id = {world.vol_a.id}"))
        db.session.commit()
    broken = cli.invoke(args=["ledger", "verify"])
    assert broken.exit_code == 1
    assert "cached balance" in broken.output


def test_ledger_verify_catches_a_rewritten_transaction(cli, app, api, world, db_kind):
    """Someone with raw database access and the triggers out of the way edits a memo."""
    api.earn(world.vol_a, world.staff_a)
    with app.app_context():
        if db_kind == "postgresql":
            db.session.execute(text("SET session_replication_role = replica"))
        else:
            db.session.execute(text("DROP TRIGGER ledger_transaction_no_update"))
        db.session.execute(text("UPDATE ledger_transaction SET memo = 'forged'"))
        db.session.commit()
    broken = cli.invoke(args=["ledger", "verify"])
    assert broken.exit_code == 1
    assert "was altered" in broken.output
