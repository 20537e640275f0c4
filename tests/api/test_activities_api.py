"""The "Activities and check-in" contract: create, sign up with a waitlist, codes, close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from timebank.extensions import db
from timebank.models import AuditEvent, User
from timebank.services import activities


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).astimezone().isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


def _body(world, *, start_in=timedelta(minutes=-60), length=timedelta(hours=2), **extra):
    start = _now() + start_in
    return {"title": "楼道清理", "category": "cleanup", "org_unit_id": world.units["A1"],
            "starts_at": _iso(start), "ends_at": _iso(start + length), "place": "3号楼",
            "capacity": 10, **extra}


def _create(api, world, **kw) -> dict:
    resp = api.post("/api/v1/activities", world.staff_a, json=_body(world, **kw))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _code(app, world, activity_id: int) -> str:
    with app.app_context():
        staff = db.session.get(User, world.staff_a.id)
        return activities.checkin_code(activity_id, actor=staff).code


def test_staff_create_an_open_activity_with_the_record_fields(api, world):
    body = _create(api, world, description="清理杂物", organiser="阳光社区志愿服务队",
                   person_in_charge="王主任")
    assert body["status"] == "open" and isinstance(body["id"], int)
    assert body["title"] == "楼道清理" and body["category"] == "cleanup"
    assert body["org_unit_id"] == world.units["A1"] and body["capacity"] == 10
    assert body["planned_hours"] == "2.00" and body["place"] == "3号楼"
    assert body["organiser"] == "阳光社区志愿服务队" and body["person_in_charge"] == "王主任"
    assert body["starts_at"].endswith("+08:00")
    got = api.get(f"/api/v1/activities/{body['id']}", world.vol_a)
    assert got.status_code == 200 and got.get_json()["title"] == "楼道清理"


def test_organiser_and_person_in_charge_default_to_the_community_and_the_creator(api, world):
    body = _create(api, world)
    assert body["organiser"] == "阳光社区"
    assert body["person_in_charge"] == "陈社工"


def test_bad_activities_are_refused_field_by_field(api, world):
    cases = [
        ({"capacity": 0}, "capacity"),
        ({"capacity": "5"}, "capacity"),
        ({"starts_at": "2026-03-01T09:00:00"}, "starts_at"),
        ({"title": "   "}, "title"),
        ({"org_unit_id": 0}, "org_unit_id"),
    ]
    for change, field in cases:
        resp = api.post("/api/v1/activities", world.staff_a, json={**_body(world), **change})
        assert resp.status_code == 422, (change, resp.get_json())
        assert resp.get_json()["code"] == "validation_error"
        assert field in resp.get_json()["errors"], (change, resp.get_json())
    backwards = _body(world, length=timedelta(hours=-1))
    resp = api.post("/api/v1/activities", world.staff_a, json=backwards)
    assert resp.status_code == 422 and "ends_at" in resp.get_json()["errors"]
    resp = api.post("/api/v1/activities", world.staff_a, json={**_body(world),
                                                                "category": "nope"})
    assert resp.status_code in (404, 422) and resp.mimetype == "application/problem+json"
    assert api.get("/api/v1/activities", world.staff_a).get_json()["total"] == 0


def test_members_browse_their_community_and_staff_their_reach(api, world):
    mine = _create(api, world)["id"]
    resp = api.post("/api/v1/activities", world.staff_b,
                    json={**_body(world), "org_unit_id": world.units["B1"]})
    theirs = resp.get_json()["id"]
    ids = lambda who, q="": [a["id"] for a in  # noqa: E731
                            api.get(f"/api/v1/activities{q}", who).get_json()["items"]]
    assert ids(world.vol_a) == [mine]
    assert ids(world.vol_a2) == [mine]  # another grid of the same community
    assert ids(world.vol_b) == [theirs]
    assert ids(world.staff_a) == [mine]
    assert sorted(ids(world.admin)) == sorted([mine, theirs])
    assert api.get(f"/api/v1/activities/{theirs}", world.vol_a).status_code == 404
    api.post(f"/api/v1/activities/{mine}/cancel", world.staff_a)
    assert ids(world.vol_a, "?status=open") == []
    assert ids(world.vol_a, "?status=cancelled") == [mine]
    assert api.get("/api/v1/activities?status=bogus", world.vol_a).status_code == 422


def test_the_last_place_is_taken_then_the_waitlist_moves_up_on_a_cancellation(api, world):
    activity_id = _create(api, world, capacity=1)["id"]
    first = api.post(f"/api/v1/activities/{activity_id}/signups", world.vol_a)
    second = api.post(f"/api/v1/activities/{activity_id}/signups", world.vol_a2)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.get_json()["status"] == "registered"
    assert second.get_json()["status"] == "waitlisted"
    again = api.post(f"/api/v1/activities/{activity_id}/signups", world.vol_a)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"
    out = api.delete(f"/api/v1/activities/{activity_id}/signups/{world.vol_a.id}", world.vol_a)
    assert out.status_code == 200 and out.get_json()["status"] == "cancelled"
    listed = api.get(f"/api/v1/activities/{activity_id}/signups", world.vol_a2).get_json()
    assert [(s["member_id"], s["status"]) for s in listed["items"]] == [
        (world.vol_a2.id, "registered")]  # a member sees only their own sign-up
    staff_view = api.get(f"/api/v1/activities/{activity_id}/signups", world.staff_a).get_json()
    assert {s["member_id"]: s["status"] for s in staff_view["items"]} == {
        world.vol_a2.id: "registered", world.vol_a.id: "cancelled"}


def test_staff_sign_up_a_member_but_not_another_members_place(api, world):
    activity_id = _create(api, world)["id"]
    resp = api.post(f"/api/v1/activities/{activity_id}/signups", world.staff_a,
                    json={"member_id": world.vol_a.id})
    assert resp.status_code == 201 and resp.get_json()["member_id"] == world.vol_a.id
    other = api.delete(f"/api/v1/activities/{activity_id}/signups/{world.vol_a.id}",
                       world.vol_a2)
    assert other.status_code == 403
    assert api.post(f"/api/v1/activities/{activity_id}/signups", world.merchant_a)\
        .status_code == 403


def test_check_in_and_out_with_the_current_code(app, api, world):
    activity_id = _create(api, world)["id"]
    api.post(f"/api/v1/activities/{activity_id}/signups", world.vol_a)
    code = api.get(f"/api/v1/activities/{activity_id}/checkin-code", world.staff_a)
    assert code.status_code == 200
    shown = code.get_json()
    assert len(shown["code"]) == 6 and shown["code"].isdigit()
    expires = datetime.fromisoformat(shown["expires_at"])
    assert _now() < expires <= _now() + timedelta(seconds=90)
    assert api.get(f"/api/v1/activities/{activity_id}/checkin-code", world.vol_a)\
        .status_code == 403
    checked_in = api.post(f"/api/v1/activities/{activity_id}/check-in", world.vol_a,
                          json={"code": shown["code"]})
    assert checked_in.status_code == 200, checked_in.get_json()
    assert checked_in.get_json()["checked_in_at"] is not None
    checked_out = api.post(f"/api/v1/activities/{activity_id}/check-out", world.vol_a,
                           json={"code": _code(app, world, activity_id)})
    assert checked_out.status_code == 200
    assert checked_out.get_json()["checked_out_at"] is not None


def test_wrong_codes_other_activities_codes_and_strangers_are_refused(app, api, world):
    activity_id = _create(api, world)["id"]
    other_id = _create(api, world)["id"]
    api.post(f"/api/v1/activities/{activity_id}/signups", world.vol_a)
    wrong = str((int(_code(app, world, activity_id)) + 1) % 1_000_000).zfill(6)
    for code in (wrong, _code(app, world, other_id)):
        resp = api.post(f"/api/v1/activities/{activity_id}/check-in", world.vol_a,
                        json={"code": code})
        assert resp.status_code == 422 and resp.get_json()["code"] == "checkin_refused"
        assert "签到码" in resp.get_json()["detail"]
    not_signed_up = api.post(f"/api/v1/activities/{activity_id}/check-in", world.vol_a2,
                             json={"code": _code(app, world, activity_id)})
    assert not_signed_up.status_code == 422
    assert not_signed_up.get_json()["code"] == "checkin_refused"
    early = _create(api, world, start_in=timedelta(hours=5))["id"]
    api.post(f"/api/v1/activities/{early}/signups", world.vol_a)
    resp = api.post(f"/api/v1/activities/{early}/check-in", world.vol_a,
                    json={"code": _code(app, world, early)})
    assert resp.status_code == 422 and resp.get_json()["code"] == "checkin_refused"
    for bad in ("12345", "abcdef", 123456, None):
        resp = api.post(f"/api/v1/activities/{activity_id}/check-in", world.vol_a,
                        json={"code": bad})
        assert resp.status_code == 422 and "code" in resp.get_json()["errors"]
    listed = api.get(f"/api/v1/activities/{activity_id}/signups", world.staff_a).get_json()
    assert all(s["checked_in_at"] is None for s in listed["items"])


def test_close_credits_who_was_present_enough_capped_at_the_plan_once(app, api, world):
    start = _now() - timedelta(minutes=150)
    activity_id = _create(api, world, start_in=timedelta(minutes=-150))["id"]
    marked = api.post(f"/api/v1/activities/{activity_id}/attendance", world.staff_a, json={
        "member_id": world.vol_a.id, "checked_in_at": _iso(start - timedelta(minutes=10)),
        "checked_out_at": _iso(start + timedelta(hours=2, minutes=10))})
    assert marked.status_code == 200, marked.get_json()
    short = api.post(f"/api/v1/activities/{activity_id}/attendance", world.staff_a, json={
        "member_id": world.vol_a2.id, "checked_in_at": _iso(start),
        "checked_out_at": _iso(start + timedelta(minutes=71))})  # 59% of the plan
    assert short.status_code == 200, short.get_json()
    closed = api.post(f"/api/v1/activities/{activity_id}/close", world.staff_a)
    assert closed.status_code == 200, closed.get_json()
    body = closed.get_json()
    assert len(body["records_created"]) == 1
    assert body["not_credited"] == [{"member_id": world.vol_a2.id, "reason": "presence"}]
    record = api.get(f"/api/v1/service-records/{body['records_created'][0]}", world.vol_a)
    assert record.get_json()["hours"] == "2.00"  # capped at the planned two hours
    assert record.get_json()["status"] == "pending"
    assert record.get_json()["title"] == "楼道清理"
    twice = api.post(f"/api/v1/activities/{activity_id}/close", world.staff_a)
    assert twice.status_code == 409 and twice.get_json()["code"] == "invalid_transition"
    pending = api.get(f"/api/v1/activities/{activity_id}/pending-records", world.staff_a)
    assert pending.get_json() == {"ids": body["records_created"]}
    approved = api.post("/api/v1/service-records/bulk-approve", world.staff_a,
                        json={"ids": pending.get_json()["ids"]})
    assert approved.get_json()["approved"] == body["records_created"]
    assert api.balance(world.vol_a) == "20.00"
    assert api.get(f"/api/v1/activities/{activity_id}", world.vol_a)\
        .get_json()["status"] == "closed"


def test_attendance_by_hand_names_both_in_the_audit_trail(app, api, world):
    start = _now() - timedelta(minutes=150)
    activity_id = _create(api, world, start_in=timedelta(minutes=-150))["id"]
    resp = api.post(f"/api/v1/activities/{activity_id}/attendance", world.staff_a, json={
        "member_id": world.vol_a.id, "checked_in_at": _iso(start),
        "checked_out_at": _iso(start + timedelta(hours=1))})
    assert resp.status_code == 200 and resp.get_json()["status"] == "registered"
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(
            action="activity.attendance.by_staff").one()
        assert (event.actor_id, event.on_behalf_of_id) == (world.staff_a.id, world.vol_a.id)
    outside = api.post(f"/api/v1/activities/{activity_id}/attendance", world.staff_b, json={
        "member_id": world.vol_a.id, "checked_in_at": _iso(start),
        "checked_out_at": _iso(start + timedelta(hours=1))})
    assert outside.status_code == 403
    backwards = api.post(f"/api/v1/activities/{activity_id}/attendance", world.staff_a, json={
        "member_id": world.vol_a2.id, "checked_in_at": _iso(start + timedelta(hours=1)),
        "checked_out_at": _iso(start)})
    assert backwards.status_code == 422 and "checked_out_at" in backwards.get_json()["errors"]


def test_a_cancelled_activity_cannot_be_closed_or_joined(api, world):
    activity_id = _create(api, world)["id"]
    cancelled = api.post(f"/api/v1/activities/{activity_id}/cancel", world.staff_a)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    for path, who in ((f"/api/v1/activities/{activity_id}/close", world.staff_a),
                      (f"/api/v1/activities/{activity_id}/signups", world.vol_a),
                      (f"/api/v1/activities/{activity_id}/cancel", world.staff_a)):
        resp = api.post(path, who)
        assert resp.status_code == 409 and resp.get_json()["code"] == "invalid_transition"


def test_a_cancelled_activity_has_no_checkin_code_and_the_document_says_so(api, world):
    activity_id = _create(api, world)["id"]
    assert api.post(f"/api/v1/activities/{activity_id}/cancel", world.staff_a).status_code == 200
    resp = api.get(f"/api/v1/activities/{activity_id}/checkin-code", world.staff_a)
    assert resp.status_code == 409 and resp.get_json()["code"] == "invalid_transition"
    assert resp.mimetype == "application/problem+json"
    doc = api.get("/api/v1/openapi.json").get_json()
    documented = doc["paths"]["/api/v1/activities/{activity_id}/checkin-code"]["get"]
    assert "409" in documented["responses"]


def test_a_shop_sees_no_activities(api, world):
    activity_id = _create(api, world)["id"]
    assert api.get(f"/api/v1/activities/{activity_id}", world.merchant_a).status_code == 404
    assert api.get("/api/v1/activities", world.merchant_a).get_json()["total"] == 0
