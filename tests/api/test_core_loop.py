"""The core loop over the API: log hours → approve → balance → redeem → refund."""

from __future__ import annotations


def test_hours_become_points_and_are_spent_at_a_merchant(api, world):
    created = api.log(world.vol_a, ago=5, length=2)
    assert created.status_code == 201
    record = created.get_json()
    assert record["status"] == "pending"
    assert record["hours"] == "2.00"
    assert record["expected_points"] == "20.00"
    assert record["member_id"] == world.vol_a.id

    approved = api.post(f"/api/v1/service-records/{record['id']}/approve", world.staff_a)
    assert approved.status_code == 200, approved.get_json()
    body = approved.get_json()
    assert body["status"] == "approved"
    assert body["points_awarded"] == "20.00"
    assert isinstance(body["transaction_id"], int)

    assert api.balance(world.vol_a) == "20.00"
    me = api.get("/api/v1/users/me", world.vol_a).get_json()
    assert me["balance"] == "20.00" and me["total_hours"] == "2.00" and me["star_level"] == 0

    code = api.code(world.vol_a)
    redeemed = api.post("/api/v1/redemptions", world.merchant_a,
                        json={"code": code, "offer_id": world.offers["OA"]})
    assert redeemed.status_code == 201, redeemed.get_json()
    red = redeemed.get_json()
    assert red["points"] == "10.00"
    assert red["member_name"] == "张*三"
    assert api.balance(world.vol_a) == "10.00"

    refunded = api.post(f"/api/v1/redemptions/{red['id']}/refund", world.merchant_a)
    assert refunded.status_code == 200
    assert refunded.get_json()["status"] == "refunded"
    assert api.balance(world.vol_a) == "20.00"

    again = api.post(f"/api/v1/redemptions/{red['id']}/refund", world.merchant_a)
    assert again.status_code == 409
    assert again.get_json()["code"] == "invalid_transition"

    history = api.get(f"/api/v1/members/{world.vol_a.id}/transactions", world.vol_a).get_json()
    assert [(i["kind"], i["amount"], i["balance_after"]) for i in history["items"]] == [
        ("refund", "10.00", "20.00"),
        ("redemption", "-10.00", "10.00"),
        ("earn", "20.00", "20.00"),
    ]
    verify = api.get("/api/v1/ledger/verify", world.admin).get_json()
    assert verify["ok"] is True, verify["problems"]
    assert verify["transactions"] == 3
