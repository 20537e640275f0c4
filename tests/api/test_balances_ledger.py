"""Balances, a member's transactions, ledger verification and export, and the health check."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import Account, LedgerTransaction

RECORDS = "/api/v1/service-records"


def assert_problem(resp, status: int, code: str) -> dict:
    """An RFC 7807 problem with the given status and stable code."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status and body["code"] == code
    return body


def balance_url(person) -> str:
    return f"/api/v1/members/{person.id}/balance"


def history_url(person) -> str:
    return f"/api/v1/members/{person.id}/transactions"


def spend(api, world, member, offer="OA", merchant="merchant_a") -> dict:
    resp = api.post("/api/v1/redemptions", getattr(world, merchant),
                    json={"code": api.code(member), "offer_id": world.offers[offer]})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count(Account.id))),
                db.session.scalar(select(func.count(LedgerTransaction.id))))


# --- balances --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["vol_a", "staff_a", "admin"])
def test_the_member_staff_in_reach_and_admins_see_a_balance(api, world, who):
    api.earn(world.vol_a, world.staff_a, ago=30, length=2)
    api.earn(world.vol_a, world.staff_a, ago=5, length=1.5)
    spend(api, world, world.vol_a)

    resp = api.get(balance_url(world.vol_a), getattr(world, who))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["member_id"] == world.vol_a.id
    assert body["balance"] == "25.00"
    assert body["total_hours"] == "3.50"
    assert body["points_earned"] == "35.00"


def test_a_new_member_has_zero_strings_not_numbers(api, world):
    body = api.get(balance_url(world.vol_b), world.staff_b).get_json()
    assert (body["balance"], body["total_hours"], body["points_earned"]) == (
        "0.00", "0.00", "0.00")


def test_pending_and_rejected_hours_do_not_count(api, world):
    pending = api.log(world.vol_a, ago=5)
    rejected = api.log(world.vol_a, ago=10)
    assert pending.status_code == rejected.status_code == 201
    assert api.post(f"{RECORDS}/{rejected.get_json()['id']}/reject", world.staff_a,
                    json={"reason": "不符合"}).status_code == 200
    body = api.get(balance_url(world.vol_a), world.vol_a).get_json()
    assert (body["balance"], body["total_hours"], body["points_earned"]) == (
        "0.00", "0.00", "0.00")


@pytest.mark.parametrize("who, member", [
    ("staff_b", "vol_a"),
    ("staff_a", "vol_b"),
    ("vol_a2", "vol_a"),
    ("vol_b", "vol_a"),
    ("merchant_a", "vol_a"),
    ("vol_a", "staff_a"),
])
def test_others_cannot_see_a_balance_403(api, world, who, member):
    resp = api.get(balance_url(getattr(world, member)), getattr(world, who))
    body = assert_problem(resp, 403, "forbidden")
    assert "balance" not in body


@pytest.mark.parametrize("member_id", [999999, 2**31, 10**30])
def test_an_unknown_member_is_404(api, world, member_id):
    assert_problem(api.get(f"/api/v1/members/{member_id}/balance", world.admin), 404,
                   "not_found")
    assert_problem(api.get(f"/api/v1/members/{member_id}/transactions", world.admin), 404,
                   "not_found")


def test_a_balance_needs_a_token(api, world):
    assert_problem(api.get(balance_url(world.vol_a)), 401, "unauthenticated")


# --- a member's transactions -----------------------------------------------------------


def test_transactions_have_signed_amounts_and_running_balances(api, world):
    first = api.earn(world.vol_a, world.staff_a, ago=30, length=2)
    second = api.earn(world.vol_a, world.staff_a, ago=5, length=0.5)
    redemption = spend(api, world, world.vol_a)

    resp = api.get(history_url(world.vol_a), world.vol_a)
    assert resp.status_code == 200
    page = resp.get_json()
    assert (page["total"], page["page"], page["per_page"]) == (3, 1, 20)
    items = page["items"]
    assert [(i["kind"], i["amount"], i["balance_after"]) for i in items] == [
        ("redemption", "-10.00", "15.00"),
        ("earn", "5.00", "25.00"),
        ("earn", "20.00", "20.00"),
    ]
    assert items[0]["transaction_id"] == redemption["transaction_id"]
    assert [i["transaction_id"] for i in items[1:]] == [second["transaction_id"],
                                                       first["transaction_id"]]
    for item in items:
        assert set(item) == {"transaction_id", "kind", "amount", "balance_after",
                             "created_at", "memo"}
        assert item["created_at"].endswith("+08:00")


def test_the_merchant_side_is_not_in_the_members_history(api, world):
    api.earn(world.vol_a, world.staff_a, ago=5)
    spend(api, world, world.vol_a)
    # Another member's activity never shows up either.
    api.earn(world.vol_a2, world.staff_a, ago=5)
    items = api.get(history_url(world.vol_a), world.staff_a).get_json()["items"]
    assert [i["amount"] for i in items] == ["-10.00", "20.00"]


def test_transactions_page(api, world):
    for ago in (50, 40, 30):
        api.earn(world.vol_a, world.staff_a, ago=ago, length=1)
    page = api.get(f"{history_url(world.vol_a)}?per_page=2&page=2", world.admin).get_json()
    assert (page["total"], page["page"], page["per_page"]) == (3, 2, 2)
    assert [(i["amount"], i["balance_after"]) for i in page["items"]] == [("10.00", "10.00")]
    assert_problem(api.get(f"{history_url(world.vol_a)}?per_page=500", world.admin), 422,
                   "validation_error")


@pytest.mark.parametrize("who", ["staff_b", "vol_a2", "merchant_a"])
def test_others_cannot_read_a_members_transactions_403(api, world, who):
    api.earn(world.vol_a, world.staff_a, ago=5)
    assert_problem(api.get(history_url(world.vol_a), getattr(world, who)), 403, "forbidden")


# --- verifying the ledger --------------------------------------------------------------


def test_admin_verifies_the_ledger(app, api, world):
    api.earn(world.vol_a, world.staff_a, ago=5)
    api.earn(world.vol_b, world.staff_b, ago=5)
    refund_of = spend(api, world, world.vol_a)
    assert api.post(f"/api/v1/redemptions/{refund_of['id']}/refund",
                    world.merchant_a).status_code == 200

    resp = api.get("/api/v1/ledger/verify", world.admin)
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"ok", "accounts", "transactions", "problems"}
    assert body["ok"] is True
    assert body["problems"] == []
    accounts, transactions = counts(app)
    assert body["transactions"] == transactions == 4
    assert body["accounts"] == accounts


def test_verify_on_an_empty_ledger_is_ok(api, world):
    body = api.get("/api/v1/ledger/verify", world.admin).get_json()
    assert (body["ok"], body["transactions"], body["problems"]) == (True, 0, [])


@pytest.mark.parametrize("who", ["staff_a", "vol_a", "merchant_a"])
def test_only_admins_verify_the_ledger(api, world, who):
    assert_problem(api.get("/api/v1/ledger/verify", getattr(world, who)), 403, "forbidden")


# --- exporting the ledger --------------------------------------------------------------


def test_admin_exports_an_hledger_journal(api, world):
    api.earn(world.vol_a, world.staff_a, ago=5)
    resp = api.get("/api/v1/ledger/export?format=hledger", world.admin)
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    member = f"Assets:Members:U{world.vol_a.id}"
    assert f"    {member}  20.00 PTS\n" in text
    assert re.search(rf"^    {member}  0\.00 PTS == 20\.00 PTS$", text, re.M)
    # A balance assertion for every member account, zero balances included.
    for person in world.people.values():
        assert re.search(rf"^    Assets:Members:U{person.id}  0\.00 PTS == ", text, re.M)


def test_admin_exports_a_beancount_journal(api, world):
    api.earn(world.vol_b, world.staff_b, ago=5, length=1)
    resp = api.get("/api/v1/ledger/export?format=beancount", world.admin)
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    member = f"Assets:Members:U{world.vol_b.id}"
    assert f" open {member} PTS\n" in text
    assert re.search(rf"^\d{{4}}-\d\d-\d\d balance {member}  10\.00 ~ 0 PTS$", text, re.M)
    for person in world.people.values():
        assert re.search(rf" balance Assets:Members:U{person.id}  ", text)


@pytest.mark.parametrize("query", ["?format=csv", "?format=", ""])
def test_a_bad_export_format_is_422(api, world, query):
    resp = api.get(f"/api/v1/ledger/export{query}", world.admin)
    assert "format" in assert_problem(resp, 422, "validation_error")["errors"]


@pytest.mark.parametrize("who", ["staff_a", "vol_a", "merchant_b"])
def test_only_admins_export_the_ledger(api, world, who):
    resp = api.get("/api/v1/ledger/export?format=hledger", getattr(world, who))
    assert_problem(resp, 403, "forbidden")


def test_the_ledger_needs_a_token(api, world):
    assert_problem(api.get("/api/v1/ledger/verify"), 401, "unauthenticated")
    assert_problem(api.get("/api/v1/ledger/export?format=hledger"), 401, "unauthenticated")


# --- operations ------------------------------------------------------------------------


def test_healthz_is_public_and_ok(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok"}
