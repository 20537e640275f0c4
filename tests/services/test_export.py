"""The ledger export is a journal that hledger and beancount accept with exact arithmetic,
whose balances equal the app's, and which stops checking when one amount is changed."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader

from timebank.services.journal_text import account_name

BEAN_CHECK = str(Path(sys.executable).with_name("bean-check"))


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def hledger():
    path = shutil.which("hledger")
    if path is None:
        if _in_ci():
            pytest.fail("hledger is required under CI=true (apt-get install hledger)")
        pytest.skip("hledger is not installed (apt-get install hledger); bean-check still ran")
    return path


@pytest.fixture
def busy_ledger(app, api, world):
    """Earnings for two members, a redemption, a refunded redemption, half points, a hold."""
    api.earn(world.vol_a, world.staff_a, ago=30, length=2)
    api.earn(world.vol_a, world.staff_a, ago=20, length=0.75)
    api.earn(world.vol_b, world.staff_b, ago=10, length=1.5)
    for offer, member, till in ((world.offers["OA"], world.vol_a, world.merchant_a),
                                (world.offers["OA"], world.vol_a, world.merchant_a),
                                (world.offers["OB"], world.vol_b, world.merchant_b)):
        resp = api.post("/api/v1/redemptions", till,
                        json={"code": api.code(member), "offer_id": offer})
        assert resp.status_code == 201, resp.get_json()
    refunded = api.post(f"/api/v1/redemptions/{resp.get_json()['id']}/refund", till)
    assert refunded.status_code == 200
    with app.app_context():  # points held for a request for help sit in a hold account
        from datetime import UTC, datetime, timedelta

        from timebank.extensions import db
        from timebank.models import User
        from timebank.services import helping

        helping.post_request(actor=db.session.get(User, world.vol_a.id), title="买菜",
                             description="帮忙买菜", category="cleanup",
                             org_unit_id=world.units["A1"],
                             needed_at=datetime.now(UTC) + timedelta(days=1),
                             offered_points_minor=250)
    return world


def _export(api, admin, fmt: str, tmp_path) -> str:
    resp = api.get(f"/api/v1/ledger/export?format={fmt}", admin)
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    path = tmp_path / f"ledger.{fmt}"
    path.write_bytes(resp.data)
    return str(path)


def _app_balances(app) -> dict[str, Decimal]:
    from timebank.extensions import db
    from timebank.models import Account

    with app.app_context():
        return {account_name(a.key): Decimal(a.balance_minor) / 100
                for a in db.session.query(Account)}


def _bump_first_member_posting(path: str) -> None:
    """Add 0.01 to the first posting of a member account."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"^(    Assets:Members:U\d+\s+)(-?\d+\.\d\d)( PTS)$", text, re.M)
    assert match, "the journal has member postings"
    bumped = f"{Decimal(match.group(2)) + Decimal('0.01'):.2f}"
    text = text[:match.start(2)] + bumped + text[match.end(2):]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def test_hledger_accepts_the_export_and_computes_the_same_balances(
        app, api, busy_ledger, hledger, tmp_path):
    path = _export(api, busy_ledger.admin, "hledger", tmp_path)
    check = subprocess.run([hledger, "check", "--strict", "-f", path],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    report = subprocess.run([hledger, "balance", "--flat", "--no-total", "--empty",
                             "-O", "csv", "-f", path], capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    rows = list(csv.reader(io.StringIO(report.stdout)))[1:]
    computed = {account: Decimal(amount.split()[0]) for account, amount in rows}
    expected = _app_balances(app)
    assert {k: v for k, v in computed.items() if v} == {k: v for k, v in expected.items() if v}
    assert computed[account_name(f"member:{busy_ledger.vol_a.id}")] == Decimal("5.00")
    assert computed[account_name(f"hold:{busy_ledger.units['A']}")] == Decimal("2.50")


def test_hledger_rejects_the_export_with_one_amount_changed(api, busy_ledger, hledger, tmp_path):
    path = _export(api, busy_ledger.admin, "hledger", tmp_path)
    _bump_first_member_posting(path)
    check = subprocess.run([hledger, "check", "--strict", "-f", path],
                           capture_output=True, text=True)
    assert check.returncode != 0
    assert "balance" in check.stderr


def test_bean_check_accepts_the_export_and_computes_the_same_balances(
        app, api, busy_ledger, tmp_path):
    path = _export(api, busy_ledger.admin, "beancount", tmp_path)
    check = subprocess.run([BEAN_CHECK, path],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    entries, errors, options = loader.load_file(path)
    assert errors == []
    assert options["inferred_tolerance_default"] == {"*": Decimal("0")}
    computed: dict[str, Decimal] = {}
    for entry in entries:
        for posting in getattr(entry, "postings", None) or ():
            computed[posting.account] = computed.get(posting.account, Decimal(0)) \
                + posting.units.number
    expected = _app_balances(app)
    assert {k: v for k, v in computed.items() if v} == {k: v for k, v in expected.items() if v}
    balances = [e for e in entries if type(e).__name__ == "Balance"]
    assert len(balances) == len(expected)


def test_bean_check_rejects_the_export_with_one_amount_changed(api, busy_ledger, tmp_path):
    path = _export(api, busy_ledger.admin, "beancount", tmp_path)
    _bump_first_member_posting(path)
    _, errors, _ = loader.load_file(path)
    messages = " ".join(e.message for e in errors)
    assert "does not balance" in messages or "Balance failed" in messages
    check = subprocess.run([BEAN_CHECK, path],
                           capture_output=True, text=True)
    assert check.returncode != 0


def test_the_cli_writes_the_same_journal_as_the_api(app, api, busy_ledger, tmp_path):
    via_api = Path(_export(api, busy_ledger.admin, "beancount", tmp_path)).read_text("utf-8")
    out = tmp_path / "cli.beancount"
    result = app.test_cli_runner().invoke(
        args=["ledger", "export", "--format", "beancount", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == via_api
