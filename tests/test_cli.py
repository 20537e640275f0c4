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


def _served_last_month(app, world) -> str:
    """Approved hours for vol_a on the 10th of last month; returns that month as YYYY-MM."""
    from datetime import timedelta

    from timebank.models import User
    from timebank.services import records
    from timebank.timeutil import start_of_day, today

    with app.app_context():
        day = (today().replace(day=1) - timedelta(days=1)).replace(day=10)
        staff = db.session.get(User, world.staff_a.id)
        start = start_of_day(day) + timedelta(hours=9)
        record = records.log_hours(actor=staff, member_id=world.vol_a.id, category="cleanup",
                                   started_at=start, ended_at=start + timedelta(hours=3),
                                   place="社区广场", description="清理")
        records.approve(record.id, reviewer=staff)
        return day.strftime("%Y-%m")


def test_red_flag_awards_each_community_once_per_month(cli, app, world):
    month = _served_last_month(app, world)
    first = cli.invoke(args=["awards", "red-flag", "--month", month])
    assert first.exit_code == 0, first.output
    assert f"awarded to 第一网格 (id {world.units['A1']})" in first.output
    assert "和谐社区" in first.output and "no grid served" in first.output
    with app.app_context():
        before = db.session.execute(text(
            "SELECT id, community_id, grid_id, score_minor, awarded_at FROM red_flag_award"
        )).all()
    assert len(before) == 1
    second = cli.invoke(args=["awards", "red-flag", "--month", month])
    assert second.exit_code == 0, second.output
    assert "already held by 第一网格" in second.output
    assert "awarded=0" in second.output
    with app.app_context():
        after = db.session.execute(text(
            "SELECT id, community_id, grid_id, score_minor, awarded_at FROM red_flag_award"
        )).all()
    assert after == before


def test_red_flag_refuses_a_bad_or_unfinished_month(cli, app, world):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    bad = cli.invoke(args=["awards", "red-flag", "--month", "March"])
    assert bad.exit_code != 0 and "YYYY-MM" in bad.output
    this_month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    running = cli.invoke(args=["awards", "red-flag", "--month", this_month])
    assert running.exit_code != 0
    with app.app_context():
        assert db.session.scalar(text("SELECT COUNT(*) FROM red_flag_award")) == 0


def test_check_stats_is_clean_then_catches_drift_and_rebuild_mends_it(cli, app, api, world):
    api.earn(world.vol_a, world.staff_a)
    clean = cli.invoke(args=["awards", "check-stats"])
    assert clean.exit_code == 0, clean.output
    assert "stats ok" in clean.output
    with app.app_context():
        db.session.execute(text("UPDATE service_stat SET hours_minor = hours_minor + 1 "
                                "WHERE period = 'all'"))
        db.session.commit()
    drifted = cli.invoke(args=["awards", "check-stats"])
    assert drifted.exit_code == 1
    assert "PROBLEM" in drifted.output
    rebuilt = cli.invoke(args=["awards", "rebuild-stats"])
    assert rebuilt.exit_code == 0 and "rows=4" in rebuilt.output
    assert cli.invoke(args=["awards", "check-stats"]).exit_code == 0
