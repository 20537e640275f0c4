"""The "Time bank" contract: requests for help, transfers under policy, family links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from timebank.extensions import db
from timebank.models import AuditEvent


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).astimezone().isoformat()


def _request_body(world, **extra) -> dict:
    return {"title": "陪老人去医院", "description": "周三上午陪同就医", "category": "cleanup",
            "org_unit_id": world.units["A1"],
            "needed_at": _iso(datetime.now(UTC) - timedelta(hours=2)), **extra}


def _post(api, who, world, **extra):
    resp = api.post("/api/v1/help-requests", who, json=_request_body(world, **extra))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _policy(api, world, mode: str, *, per="50.00", monthly="100.00", unit="A"):
    resp = api._call("PUT", f"/api/v1/org-units/{world.units[unit]}/transfer-policy",
                     world.staff_a if unit == "A" else world.admin,
                     json={"mode": mode, "per_transfer_limit": per, "monthly_limit": monthly})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_a_request_is_posted_claimed_completed_and_paid_on_approval(api, world):
    api.earn(world.vol_a, world.staff_a)  # 20.00
    posted = _post(api, world.vol_a, world, offered_points="5.00")
    assert posted["status"] == "open" and posted["offered_points"] == "5.00"
    assert posted["beneficiary_id"] == world.vol_a.id and posted["helper_id"] is None
    assert api.balance(world.vol_a) == "15.00"  # held at once
    claimed = api.post(f"/api/v1/help-requests/{posted['id']}/claim", world.vol_a2)
    assert claimed.status_code == 200 and claimed.get_json()["status"] == "claimed"
    assert claimed.get_json()["helper_id"] == world.vol_a2.id
    done = api.post(f"/api/v1/help-requests/{posted['id']}/complete", world.vol_a,
                    json={"rating": 5, "comment": "很耐心"})
    assert done.status_code == 200, done.get_json()
    record_id = done.get_json()["service_record_id"]
    assert isinstance(record_id, int) and done.get_json()["status"] == "completed"
    assert api.balance(world.vol_a2, world.staff_a) == "0.00"  # not before approval
    approved = api.post(f"/api/v1/service-records/{record_id}/approve", world.staff_a)
    assert approved.status_code == 200
    # 1 hour × 10.00 for the service, plus the 5.00 offered by the beneficiary.
    assert api.balance(world.vol_a2, world.staff_a) == "15.00"
    assert api.balance(world.vol_a) == "15.00"


def test_a_rejected_record_returns_the_offered_points(api, world):
    api.earn(world.vol_a, world.staff_a)
    posted = _post(api, world.vol_a, world, offered_points="8.00")
    api.post(f"/api/v1/help-requests/{posted['id']}/claim", world.vol_a2)
    record_id = api.post(f"/api/v1/help-requests/{posted['id']}/complete", world.vol_a,
                         json={"rating": 2}).get_json()["service_record_id"]
    api.post(f"/api/v1/service-records/{record_id}/reject", world.staff_a,
             json={"reason": "未完成"})
    assert api.balance(world.vol_a) == "20.00"
    assert api.balance(world.vol_a2, world.staff_a) == "0.00"


def test_a_second_claim_is_refused_and_names_are_masked_for_neighbours(api, world, make):
    third = make.user(["volunteer"], world.units["A2"], username="vol_a3",
                      display_name="王五六")
    posted = _post(api, world.vol_a, world)
    assert api.post(f"/api/v1/help-requests/{posted['id']}/claim", world.vol_a2)\
        .status_code == 200
    second = api.post(f"/api/v1/help-requests/{posted['id']}/claim", third)
    assert second.status_code == 409 and second.get_json()["code"] == "already_claimed"
    seen = api.get(f"/api/v1/help-requests/{posted['id']}", third).get_json()
    assert seen["beneficiary_name"] == "张*三" and seen["helper_name"] == "李*"
    own = api.get(f"/api/v1/help-requests/{posted['id']}", world.vol_a).get_json()
    assert own["beneficiary_name"] == "张小三"
    staff = api.get(f"/api/v1/help-requests/{posted['id']}", world.staff_a).get_json()
    assert staff["helper_name"] == "李四"
    assert api.get(f"/api/v1/help-requests/{posted['id']}", world.vol_b).status_code == 404
    assert api.post(f"/api/v1/help-requests/{posted['id']}/claim", world.vol_b)\
        .status_code == 404


def test_only_the_beneficiary_or_staff_confirm_and_the_rating_is_one_to_five(api, world):
    posted = _post(api, world.vol_a, world)
    api.post(f"/api/v1/help-requests/{posted['id']}/claim", world.vol_a2)
    path = f"/api/v1/help-requests/{posted['id']}/complete"
    assert api.post(path, world.vol_a2, json={"rating": 5}).status_code == 403
    for rating in (0, 6, "5", 4.5, None):
        resp = api.post(path, world.vol_a, json={"rating": rating})
        assert resp.status_code == 422 and "rating" in resp.get_json()["errors"], rating
    assert api.post(path, world.vol_a, json={}).status_code == 422
    assert api.get(f"/api/v1/help-requests/{posted['id']}", world.vol_a)\
        .get_json()["status"] == "claimed"


def test_staff_post_and_confirm_for_an_elder_with_both_names_audited(app, api, world):
    api.earn(world.vol_a, world.staff_a)
    posted = _post(api, world.staff_a, world, beneficiary_id=world.vol_a.id,
                   offered_points="3.00")
    assert posted["beneficiary_id"] == world.vol_a.id
    assert api.balance(world.vol_a) == "17.00"
    api.post(f"/api/v1/help-requests/{posted['id']}/claim", world.vol_a2)
    done = api.post(f"/api/v1/help-requests/{posted['id']}/complete", world.staff_a,
                    json={"rating": 4})
    assert done.status_code == 200
    with app.app_context():
        events = {e.action: e for e in db.session.query(AuditEvent).filter_by(
            subject_type="help_request", subject_id=posted["id"])}
        for action in ("help_request.post", "help_request.complete"):
            assert events[action].actor_id == world.staff_a.id
            assert events[action].on_behalf_of_id == world.vol_a.id
    outside = api.post("/api/v1/help-requests", world.staff_b,
                       json=_request_body(world, beneficiary_id=world.vol_a.id))
    assert outside.status_code == 403


def test_cancelling_returns_held_points_and_too_few_points_hold_nothing(api, world):
    api.earn(world.vol_a, world.staff_a)
    posted = _post(api, world.vol_a, world, offered_points="20.00")
    assert api.balance(world.vol_a) == "0.00"
    again = api.post("/api/v1/help-requests", world.vol_a,
                     json=_request_body(world, offered_points="0.01"))
    assert again.status_code == 422 and again.get_json()["code"] == "insufficient_points"
    cancelled = api.post(f"/api/v1/help-requests/{posted['id']}/cancel", world.vol_a)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert api.balance(world.vol_a) == "20.00"
    twice = api.post(f"/api/v1/help-requests/{posted['id']}/cancel", world.vol_a)
    assert twice.status_code == 409 and twice.get_json()["code"] == "invalid_transition"
    for bad in ("1.234", "-1.00", "abc", True):
        resp = api.post("/api/v1/help-requests", world.vol_a,
                        json=_request_body(world, offered_points=bad))
        assert resp.status_code == 422 and "offered_points" in resp.get_json()["errors"], bad
    listed = api.get("/api/v1/help-requests", world.vol_a).get_json()
    assert [(r["id"], r["status"]) for r in listed["items"]] == [(posted["id"], "cancelled")]
    assert api.get("/api/v1/help-requests?status=open", world.vol_a).get_json()["total"] == 0


def test_transfers_follow_the_policy_off_family_any(api, world):
    api.earn(world.vol_a, world.staff_a)
    give = {"to_member_id": world.vol_a2.id, "amount": "5.00", "memo": "谢谢"}
    off = api.post("/api/v1/transfers", world.vol_a, json=give)
    assert off.status_code == 403 and off.get_json()["code"] == "transfer_not_allowed"
    assert _policy(api, world, "family")["mode"] == "family"
    not_family = api.post("/api/v1/transfers", world.vol_a, json=give)
    assert not_family.status_code == 403
    assert not_family.get_json()["code"] == "transfer_not_allowed"
    link = api.post("/api/v1/family-links", world.vol_a,
                    json={"relative_id": world.vol_a2.id, "relation": "配偶"})
    assert link.status_code == 201 and link.get_json()["status"] == "pending"
    assert api.post("/api/v1/transfers", world.vol_a, json=give).status_code == 403
    assert api.post(f"/api/v1/family-links/{link.get_json()['id']}/confirm", world.vol_a)\
        .status_code == 403
    confirmed = api.post(f"/api/v1/family-links/{link.get_json()['id']}/confirm",
                         world.staff_a)
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "confirmed"
    sent = api.post("/api/v1/transfers", world.vol_a, json=give)
    assert sent.status_code == 201, sent.get_json()
    assert sent.get_json()["amount"] == "5.00" and sent.get_json()["to_member_name"] == "李*"
    assert api.balance(world.vol_a) == "15.00"
    assert api.balance(world.vol_a2, world.staff_a) == "5.00"
    _policy(api, world, "any")
    to_b = api.post("/api/v1/transfers", world.vol_a,
                    json={"to_member_id": world.vol_b.id, "amount": "1.00"})
    assert to_b.status_code == 201  # the same street
    for member in (world.vol_a, world.vol_a2):
        history = api.get(f"/api/v1/members/{member.id}/transactions", member).get_json()
        assert "transfer" in [line["kind"] for line in history["items"]]
        gifts = api.get("/api/v1/transfers", member).get_json()
        assert sent.get_json()["id"] in [g["id"] for g in gifts["items"]]


def test_transfer_limits_and_bad_amounts_move_nothing(api, world):
    api.earn(world.vol_a, world.staff_a, length=8)  # 80.00
    _policy(api, world, "any", per="30.00", monthly="50.00")
    path = "/api/v1/transfers"
    over_one = api.post(path, world.vol_a, json={"to_member_id": world.vol_a2.id,
                                                 "amount": "30.01"})
    assert over_one.status_code == 422 and "amount" in over_one.get_json()["errors"]
    for amount in ("30.00", "20.00"):
        assert api.post(path, world.vol_a, json={"to_member_id": world.vol_a2.id,
                                                 "amount": amount}).status_code == 201
    over_month = api.post(path, world.vol_a, json={"to_member_id": world.vol_a2.id,
                                                   "amount": "0.01"})
    assert over_month.status_code == 422 and "amount" in over_month.get_json()["errors"]
    for bad in ("0", "-1.00", "1.001", "x", None):
        resp = api.post(path, world.vol_a, json={"to_member_id": world.vol_a2.id,
                                                 "amount": bad})
        assert resp.status_code == 422, bad
    to_self = api.post(path, world.vol_a, json={"to_member_id": world.vol_a.id,
                                                "amount": "1.00"})
    assert to_self.status_code == 422 and "to_member_id" in to_self.get_json()["errors"]
    assert api.balance(world.vol_a) == "30.00"


def test_a_transfer_replayed_with_its_idempotency_key_moves_once(api, world):
    api.earn(world.vol_a, world.staff_a)
    _policy(api, world, "any")
    body = {"to_member_id": world.vol_a2.id, "amount": "4.00"}
    headers = {"Idempotency-Key": "gift-1"}
    first = api.post("/api/v1/transfers", world.vol_a, json=body, headers=headers)
    again = api.post("/api/v1/transfers", world.vol_a, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert api.balance(world.vol_a) == "16.00"
    changed = api.post("/api/v1/transfers", world.vol_a, json={**body, "amount": "5.00"},
                       headers=headers)
    assert changed.status_code == 409 and changed.get_json()["code"] == "idempotency_conflict"


def test_the_policy_is_inherited_and_only_staff_in_reach_change_it(api, world):
    street = _policy(api, world, "any", unit="street")
    assert street["set_at_unit_id"] == world.units["street"]
    seen = api.get(f"/api/v1/org-units/{world.units['A1']}/transfer-policy", world.vol_a)
    assert seen.status_code == 200
    assert seen.get_json()["mode"] == "any"
    assert seen.get_json()["set_at_unit_id"] == world.units["street"]
    assert seen.get_json()["per_transfer_limit"] == "50.00"
    path = f"/api/v1/org-units/{world.units['A']}/transfer-policy"
    body = {"mode": "off", "per_transfer_limit": "1.00", "monthly_limit": "2.00"}
    assert api._call("PUT", path, world.staff_b, json=body).status_code == 403
    assert api._call("PUT", path, world.vol_a, json=body).status_code == 403
    bad = api._call("PUT", path, world.staff_a, json={**body, "mode": "everyone"})
    assert bad.status_code == 422 and "mode" in bad.get_json()["errors"]
    upside_down = api._call("PUT", path, world.staff_a,
                            json={**body, "per_transfer_limit": "3.00"})
    assert upside_down.status_code == 422
    grid = api._call("PUT", f"/api/v1/org-units/{world.units['A1']}/transfer-policy",
                     world.staff_a, json=body)
    assert grid.status_code == 422 and "org_unit_id" in grid.get_json()["errors"]
    assert api.get(f"/api/v1/org-units/{world.units['B1']}/transfer-policy", world.vol_a)\
        .status_code == 403


def test_family_links_are_listed_and_revoked_by_either_member(api, world):
    link = api.post("/api/v1/family-links", world.vol_a,
                    json={"relative_id": world.vol_a2.id, "relation": "父母"}).get_json()
    again = api.post("/api/v1/family-links", world.vol_a2,
                     json={"relative_id": world.vol_a.id, "relation": "子女"})
    assert again.status_code == 409
    listed = api.get("/api/v1/family-links", world.vol_a2).get_json()["items"]
    assert [(item["id"], item["status"]) for item in listed] == [(link["id"], "pending")]
    assert api.post(f"/api/v1/family-links/{link['id']}/confirm", world.staff_b)\
        .status_code == 403
    assert api.post(f"/api/v1/family-links/{link['id']}/revoke", world.vol_b)\
        .status_code == 404
    revoked = api.post(f"/api/v1/family-links/{link['id']}/revoke", world.vol_a2)
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert api.get(f"/api/v1/family-links?member_id={world.vol_a.id}", world.staff_b)\
        .status_code == 403
    to_self = api.post("/api/v1/family-links", world.vol_a,
                       json={"relative_id": world.vol_a.id, "relation": "自己"})
    assert to_self.status_code == 422


def test_staff_who_are_also_members_cannot_deal_to_themselves(api, world, make):
    clerk = make.user(["staff", "volunteer"], world.units["A"], username="clerk_vol",
                      display_name="赵社工", phone="13800000077")
    api.earn(world.vol_a, world.staff_a)
    _policy(api, world, "any")
    gift = api.post("/api/v1/transfers", clerk, json={
        "to_member_id": clerk.id, "amount": "5.00", "from_member_id": world.vol_a.id})
    assert gift.status_code == 403 and api.balance(world.vol_a) == "20.00"
    link = api.post("/api/v1/family-links", clerk,
                    json={"member_id": world.vol_a.id, "relative_id": clerk.id,
                          "relation": "子女"})
    assert link.status_code == 201
    own = api.post(f"/api/v1/family-links/{link.get_json()['id']}/confirm", clerk)
    assert own.status_code == 403
    assert api.post(f"/api/v1/family-links/{link.get_json()['id']}/confirm", world.staff_a)\
        .status_code == 200


def test_relatives_are_found_within_ones_own_street_only(api, world, make):
    far = make.unit("community", "新村社区", make.unit("street", "平安街道"))
    stranger = make.user(["volunteer"], far, username="far_vol", display_name="孙八")
    resp = api.post("/api/v1/family-links", world.vol_a,
                    json={"relative_id": stranger.id, "relation": "配偶"})
    assert resp.status_code == 404
    assert api.get("/api/v1/family-links", stranger).get_json()["total"] == 0


def test_times_from_no_real_calendar_are_refused_not_crashed(api, world):
    posted = _post(api, world.vol_a, world)
    api.post(f"/api/v1/help-requests/{posted['id']}/claim", world.vol_a2)
    for start, end in (("0001-01-01T01:00:00+08:00", "0001-01-01T02:00:00+08:00"),
                       ("1950-01-01T01:00:00+08:00", "1950-01-01T02:00:00+08:00"),
                       ("9999-12-31T20:00:00-08:00", "9999-12-31T22:00:00-08:00")):
        resp = api.post(f"/api/v1/help-requests/{posted['id']}/complete", world.vol_a,
                        json={"rating": 5, "started_at": start, "ended_at": end})
        assert resp.status_code == 422, resp.get_json()
        assert "started_at" in resp.get_json()["errors"] or "ended_at" in resp.get_json()[
            "errors"]
        made = api.post("/api/v1/activities", world.staff_a, json={
            "title": "巡逻", "category": "cleanup", "org_unit_id": world.units["A1"],
            "starts_at": start, "ends_at": end, "place": "1号楼", "capacity": 5})
        assert made.status_code == 422 and "starts_at" in made.get_json()["errors"]


def test_short_lists_answer_in_the_paged_shape(api, world):
    api.post("/api/v1/family-links", world.staff_a,
             json={"member_id": world.vol_a.id, "relative_id": world.vol_a2.id,
                   "relation": "配偶"})
    page = api.get("/api/v1/family-links?per_page=1&page=1", world.vol_a).get_json()
    assert (page["total"], page["page"], page["per_page"], len(page["items"])) == (1, 1, 1, 1)
    empty = api.get("/api/v1/family-links?page=2&per_page=1", world.vol_a).get_json()
    assert empty["items"] == [] and empty["total"] == 1
    offers = api.get(f"/api/v1/merchants/{world.merchants['MA']}/offers", world.merchant_a)
    assert set(offers.get_json()) == {"items", "total", "page", "per_page"}
