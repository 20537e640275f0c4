"""Races with real parallel connections: no point is spent twice, no key is used twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from timebank import create_app
from timebank.extensions import db
from timebank.models import LedgerTransaction, Redemption
from timebank.services import ledger

THREADS = 40


@pytest.fixture
def wide_app(database_url):
    """The app with a pool wide enough that every thread holds its own connection."""
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "t",
                      "DB_POOL_SIZE": THREADS + 5, "DB_MAX_OVERFLOW": 5})
    yield app
    with app.app_context():
        db.engine.dispose()


def _storm(app, calls):
    """Run every call at the same moment, each thread with its own client and connection."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        client = app.test_client()
        barrier.wait()
        return call(client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _world_with_balance(api, world, points_hours: int):
    api.earn(world.vol_a, world.staff_a, ago=3, length=points_hours)


def test_forty_simultaneous_redemptions_spend_exactly_the_balance(wide_app, make, world):
    from tests.factories import Api

    api = Api(wide_app.test_client())
    _world_with_balance(api, world, 10)  # 10 h × 10.00 = 100.00 points
    assert api.balance(world.vol_a) == "100.00"
    codes = [api.code(world.vol_a) for _ in range(THREADS)]
    merchant = world.merchant_a

    def redeem(code):
        return lambda client: client.post(
            "/api/v1/redemptions", headers=merchant.auth,
            json={"code": code, "offer_id": world.offers["OA"]})

    responses = _storm(wide_app, [redeem(code) for code in codes])
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 10
    assert statuses.count(422) == THREADS - 10
    assert all(r.get_json()["code"] == "insufficient_points"
               for r in responses if r.status_code == 422)
    assert api.balance(world.vol_a) == "0.00"
    with wide_app.app_context():
        assert db.session.scalar(select(func.count(Redemption.id))) == 10
        report = ledger.verify()
        assert report.ok, report.problems


def test_twenty_replays_of_one_idempotency_key_make_one_transaction(wide_app, world):
    from tests.factories import Api

    api = Api(wide_app.test_client())
    _world_with_balance(api, world, 10)
    code = api.code(world.vol_a)
    body = {"code": code, "offer_id": world.offers["OA"]}
    headers = {**world.merchant_a.auth, "Idempotency-Key": "till-7-receipt-0042"}

    responses = _storm(wide_app, [
        (lambda client: client.post("/api/v1/redemptions", headers=headers, json=body))
        for _ in range(20)
    ])
    assert {r.status_code for r in responses} == {201}
    assert len({r.get_data() for r in responses}) == 1
    assert api.balance(world.vol_a) == "90.00"
    with wide_app.app_context():
        kinds = db.session.scalars(select(LedgerTransaction.kind)).all()
        assert sorted(kinds) == ["earn", "redemption"]


def test_simultaneous_approvals_of_one_record_post_once(wide_app, world):
    from tests.factories import Api

    api = Api(wide_app.test_client())
    record = api.log(world.staff_a, member_id=world.vol_a.id, ago=3, length=2).get_json()
    responses = _storm(wide_app, [
        (lambda client: client.post(f"/api/v1/service-records/{record['id']}/approve",
                                    headers=world.staff_a.auth))
        for _ in range(10)
    ])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 9
    assert api.balance(world.vol_a) == "20.00"
