"""The community points shop: rewards, orders holding points, hand-over and cancellation."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.factories import Api
from timebank import create_app
from timebank.extensions import db

REWARDS = "/api/v1/rewards"
ORDERS = "/api/v1/reward-orders"


def _reward(api, world, **extra) -> dict:
    body = {"title": "大米 5斤", "kind": "goods", "points_cost": "30.00", "stock": 3,
            "org_unit_id": world.units["A"], **extra}
    resp = api.post(REWARDS, world.staff_a, json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _verify_ledger(app) -> None:
    from timebank.services import ledger

    with app.app_context():
        assert ledger.verify().ok


def test_an_order_holds_the_points_and_takes_stock_then_hand_over_pays_the_shop(
        app, api, world):
    api.earn(world.vol_a, world.staff_a, length=10)  # 100.00 points
    reward = _reward(api, world)
    assert reward["stock"] == 3 and reward["points_cost"] == "30.00"
    order = api.post(f"{REWARDS}/{reward['id']}/orders", world.vol_a, json={"quantity": 2})
    assert order.status_code == 201, order.get_json()
    body = order.get_json()
    assert (body["status"], body["points"], body["quantity"]) == ("reserved", "60.00", 2)
    assert api.balance(world.vol_a) == "40.00"
    assert api.get(f"{REWARDS}/{reward['id']}", world.vol_a).get_json()["stock"] == 1
    done = api.post(f"{ORDERS}/{body['id']}/fulfil", world.staff_a)
    assert done.status_code == 200 and done.get_json()["status"] == "fulfilled"
    again = api.post(f"{ORDERS}/{body['id']}/cancel", world.vol_a)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"
    assert api.balance(world.vol_a) == "40.00"
    _verify_ledger(app)


def test_cancelling_returns_points_and_stock_once(app, api, world):
    api.earn(world.vol_a, world.staff_a, length=10)
    reward = _reward(api, world)
    order = api.post(f"{REWARDS}/{reward['id']}/orders", world.vol_a, json={"quantity": 1})
    order_id = order.get_json()["id"]
    assert api.post(f"{ORDERS}/{order_id}/cancel", world.vol_a).status_code == 200
    assert api.balance(world.vol_a) == "100.00"
    assert api.get(f"{REWARDS}/{reward['id']}", world.vol_a).get_json()["stock"] == 3
    second = api.post(f"{ORDERS}/{order_id}/cancel", world.staff_a)
    assert second.status_code == 409
    assert api.balance(world.vol_a) == "100.00"
    assert api.post(f"{ORDERS}/{order_id}/fulfil", world.staff_a).status_code == 409
    _verify_ledger(app)


def test_out_of_stock_too_few_points_and_the_limit_change_nothing(app, api, world):
    api.earn(world.vol_a, world.staff_a, length=10)
    reward = _reward(api, world, stock=1)
    more = api.post(f"{REWARDS}/{reward['id']}/orders", world.vol_a, json={"quantity": 2})
    assert more.status_code == 409 and more.get_json()["code"] == "out_of_stock"
    first = api.post(f"{REWARDS}/{reward['id']}/orders", world.vol_a, json={"quantity": 1})
    assert first.status_code == 201
    limited = _reward(api, world, title="理发券", kind="service", stock=None,
                      per_member_limit=1)
    assert api.post(f"{REWARDS}/{limited['id']}/orders", world.vol_a).status_code == 201
    twice = api.post(f"{REWARDS}/{limited['id']}/orders", world.vol_a)
    assert twice.status_code == 422 and twice.get_json()["code"] == "limit_reached"
    dear = _reward(api, world, title="电饭煲", points_cost="500.00")
    poor = api.post(f"{REWARDS}/{dear['id']}/orders", world.vol_a)
    assert poor.status_code == 422 and poor.get_json()["code"] == "insufficient_points"
    assert api.get(f"{REWARDS}/{dear['id']}", world.vol_a).get_json()["stock"] == 3
    assert api.balance(world.vol_a) == "40.00"
    _verify_ledger(app)


def test_reach_and_roles(api, world):
    reward = _reward(api, world)
    path = f"{REWARDS}/{reward['id']}"
    assert api.get(path, world.vol_b).status_code == 404
    assert api.get(path, world.staff_b).status_code == 404
    assert api.post(f"{path}/orders", world.vol_b).status_code == 404
    assert api.post(f"{path}/orders", world.merchant_a).status_code == 403
    assert api.post(f"{path}/orders", world.staff_a).status_code == 403
    assert api.post(REWARDS, world.vol_a, json={
        "title": "x", "kind": "goods", "points_cost": "1.00",
        "org_unit_id": world.units["A"]}).status_code == 403
    assert api.post(REWARDS, world.staff_b, json={
        "title": "x", "kind": "goods", "points_cost": "1.00",
        "org_unit_id": world.units["A"]}).status_code == 403
    listed = api.get(REWARDS, world.vol_a).get_json()
    assert [r["id"] for r in listed["items"]] == [reward["id"]]
    assert api.get(REWARDS, world.vol_b).get_json()["items"] == []
    withdrawn = api.client.patch(path, headers=world.staff_a.auth, json={"is_active": False})
    assert withdrawn.status_code == 200 and withdrawn.get_json()["is_active"] is False
    assert api.get(REWARDS, world.vol_a).get_json()["items"] == []
    assert api.post(f"{path}/orders", world.vol_a).status_code == 409


def test_an_order_replayed_with_its_idempotency_key_is_placed_once(app, api, world):
    api.earn(world.vol_a, world.staff_a, length=10)
    reward = _reward(api, world)
    headers = {"Idempotency-Key": "order-1"}
    first = api.post(f"{REWARDS}/{reward['id']}/orders", world.vol_a, json={"quantity": 1},
                     headers=headers)
    second = api.post(f"{REWARDS}/{reward['id']}/orders", world.vol_a, json={"quantity": 1},
                      headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert api.balance(world.vol_a) == "70.00"
    other = api.post(f"{REWARDS}/{reward['id']}/orders", world.vol_a, json={"quantity": 2},
                     headers=headers)
    assert other.status_code == 409 and other.get_json()["code"] == "idempotency_conflict"


@pytest.fixture
def wide_app(database_url):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "t",
                      "DB_POOL_SIZE": 20, "DB_MAX_OVERFLOW": 5})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_simultaneous_orders_never_take_more_than_the_stock(wide_app, make, world):
    api = Api(wide_app.test_client())
    buyers = [make.user(["volunteer"], world.units["A1"]) for _ in range(12)]
    for n, buyer in enumerate(buyers):
        api.earn(buyer, world.staff_a, ago=3 + 3 * n, length=3)  # 30.00 points each
    reward = _reward(api, world, stock=5)
    barrier = threading.Barrier(len(buyers))

    def order(buyer):
        client = wide_app.test_client()
        barrier.wait()
        return client.post(f"{REWARDS}/{reward['id']}/orders", headers=buyer.auth,
                           json={"quantity": 1}).status_code

    with ThreadPoolExecutor(max_workers=len(buyers)) as pool:
        statuses = list(pool.map(order, buyers))
    assert sorted(statuses) == [201] * 5 + [409] * 7
    assert api.get(f"{REWARDS}/{reward['id']}", world.staff_a).get_json()["stock"] == 0
    _verify_ledger(wide_app)
