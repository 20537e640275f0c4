"""Certificates anyone can check, leaderboards, volunteer teams and stars due, over the API."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pypdf
import pytest
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import Certificate, User
from timebank.services import certificates, users

CERTS = "/api/v1/certificates"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _issue(api, world, member, *, who=None, **body):
    resp = api.post(CERTS, who or world.staff_a, json={"member_id": member.id, **body})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _pdf_text(resp) -> str:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/pdf"
    return pypdf.PdfReader(io.BytesIO(resp.data)).pages[0].extract_text()


def _verify(api, serial: str):
    """The public check, sent without any token."""
    return api.client.get(f"{CERTS}/{quote(serial, safe='')}/verify")


def _certificate_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Certificate.id)))


# --- issuing and the PDF ---------------------------------------------------------------


def test_a_service_certificate_is_issued_and_its_pdf_names_the_holder_and_hours(api, world):
    api.earn(world.vol_a, world.staff_a, length=2)
    issued = _issue(api, world, world.vol_a, kind="service_record")
    serial = issued["serial"]
    assert serial.startswith("TB")
    assert issued["verify_url"].endswith(f"/verify/{serial}")
    assert issued["pdf_url"].endswith(f"/api/v1/certificates/{serial}/pdf")
    assert (issued["kind"], issued["member_id"], issued["hours"]) == (
        "service_record", world.vol_a.id, "2.00")
    assert issued["revoked"] is False

    for who in (world.vol_a, world.staff_a, world.admin):
        resp = api.get(f"{CERTS}/{serial}/pdf", who)
        assert resp.headers["Content-Disposition"] == f'attachment; filename="{serial}.pdf"'
        text = _pdf_text(resp)
        assert "张小三" in text
        assert "2.00" in text
        assert serial in text
    for who in (world.vol_b, world.staff_b, world.merchant_a):
        resp = api.get(f"{CERTS}/{serial}/pdf", who)
        assert resp.status_code == 404
        assert resp.get_json()["code"] == "not_found"


def test_only_staff_in_reach_issue_and_only_to_volunteers_and_gridworkers(app, api, world):
    api.earn(world.vol_a, world.staff_a)
    body = {"member_id": world.vol_a.id, "kind": "service_record"}
    assert api.post(CERTS, world.vol_a, json=body).status_code == 403
    assert api.post(CERTS, world.staff_b, json=body).status_code == 403
    assert api.post(CERTS, world.merchant_a, json=body).status_code == 403
    refused = api.post(CERTS, world.staff_a, json={"member_id": world.staff_a.id,
                                                   "kind": "honor"})
    assert refused.status_code == 422
    assert _certificate_count(app) == 0


def test_a_service_certificate_needs_approved_hours_and_a_sane_period(api, world):
    none_yet = api.post(CERTS, world.staff_a, json={"member_id": world.vol_a.id,
                                                    "kind": "service_record"})
    assert none_yet.status_code == 422
    assert none_yet.get_json()["code"] == "validation_error"
    api.earn(world.vol_a, world.staff_a)
    for period in ({"period_from": "2026-03-02", "period_to": "2026-03-01"},
                   {"period_to": "2999-01-01"}, {"period_from": "1999-12-31"},
                   {"period_to": "3000-01-01"}, {"period_from": "2026-02-30"}):
        resp = api.post(CERTS, world.staff_a, json={"member_id": world.vol_a.id,
                                                    "kind": "service_record", **period})
        assert resp.status_code == 422, (period, resp.get_json())
    unknown_kind = api.post(CERTS, world.staff_a, json={"member_id": world.vol_a.id,
                                                        "kind": "diploma"})
    assert unknown_kind.status_code == 422
    assert "kind" in unknown_kind.get_json()["errors"]


def test_the_same_idempotency_key_issues_one_certificate(app, api, world):
    api.earn(world.vol_a, world.staff_a)
    body = {"member_id": world.vol_a.id, "kind": "service_record"}
    key = {"Idempotency-Key": "cert-1"}
    first = api.post(CERTS, world.staff_a, json=body, headers=key)
    again = api.post(CERTS, world.staff_a, json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.get_json()["serial"] == first.get_json()["serial"]
    assert _certificate_count(app) == 1


# --- the public check ------------------------------------------------------------------


def test_anyone_checks_a_serial_without_a_token_and_sees_a_masked_holder(api, world):
    api.earn(world.vol_a, world.staff_a, length=2)
    serial = _issue(api, world, world.vol_a, kind="service_record")["serial"]
    resp = _verify(api, serial)
    assert resp.status_code == 200, resp.get_json()
    seen = resp.get_json()
    assert seen["valid"] is True and seen["revoked"] is False
    assert seen["kind"] == "service_record"
    assert seen["holder"] == "张*三"
    assert seen["hours"] == "2.00"
    assert seen["issuer"] == "阳光社区"
    assert seen["serial"] == serial
    assert seen["issued_at"].endswith("+08:00")
    # Written by hand: lower case and stray spaces still find it.
    for variant in (serial.lower(), f" {serial} ", serial[:7] + " " + serial[7:]):
        again = _verify(api, variant)
        assert again.status_code == 200, variant
        assert again.get_json()["serial"] == serial


def _tampered(serial: str) -> list[str]:
    year, number, signature = serial.split("-")
    other_char = "A" if signature[3] != "A" else "B"
    return [
        f"{year}-{number}-{signature[:3]}{other_char}{signature[4:]}",
        f"{year}-{int(number) + 1:06d}-{signature}",
        f"TB{int(year[2:]) + 1}-{number}-{signature}",
        f"{year}-{number}-{signature[:-1]}",
        f"{year}-{number}",
        serial + "A",
        serial.replace("-", ""),
        "x" * 5000,
        "证书" * 20,
        "<script>alert(1)</script>",
        "'; DROP TABLE certificate; --",
        "TB2026-000001-" + "\u0130" * 10,
        "%00",
        "..",
    ]


def test_a_forged_or_unknown_serial_is_not_found(app, api, world):
    api.earn(world.vol_a, world.staff_a)
    serial = _issue(api, world, world.vol_a, kind="service_record")["serial"]
    with app.app_context():
        signed_but_unknown = certificates.make_serial(2026, 999_999)
    for forged in [*_tampered(serial), signed_but_unknown]:
        resp = _verify(api, forged)
        assert resp.status_code == 404, forged
        assert resp.mimetype == "application/problem+json"
        assert resp.get_json()["code"] == "not_found"
        pdf = api.get(f"{CERTS}/{quote(forged, safe='')}/pdf", world.staff_a)
        assert pdf.status_code == 404, forged


def test_a_certificate_states_what_was_true_when_it_was_issued(app, api, world):
    api.earn(world.vol_a, world.staff_a, ago=30, length=2)
    serial = _issue(api, world, world.vol_a, kind="service_record")["serial"]
    with app.app_context():
        users.update_member(db.session.get(User, world.staff_a.id), world.vol_a.id,
                            display_name="王大伟")
    api.earn(world.vol_a, world.staff_a, ago=3, length=5)
    assert api.get("/api/v1/users/me", world.vol_a).get_json()["display_name"] == "王大伟"

    seen = _verify(api, serial).get_json()
    assert (seen["holder"], seen["hours"]) == ("张*三", "2.00")
    text = _pdf_text(api.get(f"{CERTS}/{serial}/pdf", world.vol_a))
    assert "张小三" in text and "王大伟" not in text
    fresh = _issue(api, world, world.vol_a, kind="service_record")
    assert fresh["hours"] == "7.00"
    assert _verify(api, fresh["serial"]).get_json()["holder"] == "王*伟"


# --- revoking --------------------------------------------------------------------------


def test_a_revoked_certificate_says_so_and_cannot_be_revoked_twice(api, world):
    api.earn(world.vol_a, world.staff_a)
    serial = _issue(api, world, world.vol_a, kind="service_record")["serial"]
    path = f"{CERTS}/{serial}/revoke"
    no_reason = api.post(path, world.staff_a, json={})
    assert no_reason.status_code == 422
    assert "reason" in no_reason.get_json()["errors"]
    assert api.post(path, world.staff_a, json={"reason": "  "}).status_code == 422
    outside = api.post(path, world.staff_b, json={"reason": "错误"})
    assert outside.status_code == 404
    assert api.post(path, world.vol_a, json={"reason": "不要了"}).status_code == 403
    assert _verify(api, serial).get_json()["valid"] is True

    revoked = api.post(path, world.staff_a, json={"reason": "时长有误"})
    assert revoked.status_code == 200, revoked.get_json()
    assert revoked.get_json()["revoked"] is True
    seen = _verify(api, serial).get_json()
    assert seen["revoked"] is True and seen["valid"] is False
    assert seen["revoked_at"]
    twice = api.post(path, world.staff_a, json={"reason": "再次"})
    assert twice.status_code == 409
    assert twice.get_json()["code"] == "invalid_transition"


# --- the other kinds -------------------------------------------------------------------


def test_a_star_certificate_waits_for_100_hours_and_then_clears_the_notice(api, world):
    refused = api.post(CERTS, world.staff_a, json={"member_id": world.vol_a.id,
                                                   "kind": "star"})
    assert refused.status_code == 422
    api.earn(world.vol_a, world.staff_a, ago=3, length=20)
    assert api.post(CERTS, world.staff_a, json={"member_id": world.vol_a.id,
                                                "kind": "star"}).status_code == 422
    assert api.get("/api/v1/stars-due", world.staff_a).get_json()["total"] == 0
    for n in range(1, 5):  # 5 × 20 h = 100 h: the first star
        api.earn(world.vol_a, world.staff_a, ago=3 + 21 * n, length=20)

    due = api.get("/api/v1/stars-due", world.staff_a).get_json()
    assert due["total"] == 1
    assert due["items"][0]["member_id"] == world.vol_a.id
    assert due["items"][0]["name"] == "张小三"
    assert due["items"][0]["level"] == 1
    assert due["items"][0]["reached_at"]
    assert api.get("/api/v1/stars-due", world.staff_b).get_json()["total"] == 0
    assert api.get("/api/v1/stars-due", world.vol_a).status_code == 403

    star = _issue(api, world, world.vol_a, kind="star")
    assert star["hours"] == "100.00" and star["star_level"] == 1
    seen = _verify(api, star["serial"]).get_json()
    assert (seen["kind"], seen["star_level"], seen["hours"]) == ("star", 1, "100.00")
    assert api.get("/api/v1/stars-due", world.staff_a).get_json()["total"] == 0
    text = _pdf_text(api.get(f"{CERTS}/{star['serial']}/pdf", world.vol_a))
    assert "张小三" in text and star["serial"] in text


def test_an_appointment_letter_is_for_a_gridworker_and_names_the_grid(api, world):
    refused = api.post(CERTS, world.staff_a, json={"member_id": world.vol_a.id,
                                                   "kind": "appointment"})
    assert refused.status_code == 422
    assert "member_id" in refused.get_json()["errors"]
    letter = _issue(api, world, world.vol_a2, kind="appointment", period_from="2026-01-01",
                    period_to="2026-12-31", person_in_charge="陈主任")
    assert (letter["period_from"], letter["period_to"]) == ("2026-01-01", "2026-12-31")
    text = _pdf_text(api.get(f"{CERTS}/{letter['serial']}/pdf", world.vol_a2))
    assert "李四" in text and "第二网格" in text and letter["serial"] in text
    seen = _verify(api, letter["serial"]).get_json()
    assert (seen["kind"], seen["holder"], seen["valid"]) == ("appointment", "李*", True)


def test_an_honour_carries_its_title(api, world):
    api.earn(world.vol_a, world.staff_a)
    honour = _issue(api, world, world.vol_a, kind="honor", title="抗疫先锋",
                    citation="表现突出")
    text = _pdf_text(api.get(f"{CERTS}/{honour['serial']}/pdf", world.staff_a))
    assert "抗疫先锋" in text and "张小三" in text
    assert _verify(api, honour["serial"]).get_json()["kind"] == "honor"


def test_certificates_are_listed_for_staff_in_reach_and_for_their_holder(api, world):
    api.earn(world.vol_a, world.staff_a)
    api.earn(world.vol_b, world.staff_b)
    mine = _issue(api, world, world.vol_a, kind="service_record")["serial"]
    honour = _issue(api, world, world.vol_a, kind="honor")["serial"]
    theirs = _issue(api, world, world.vol_b, who=world.staff_b, kind="service_record")["serial"]

    def serials(who, query=""):
        resp = api.get(f"{CERTS}{query}", who)
        assert resp.status_code == 200, resp.get_json()
        return [item["serial"] for item in resp.get_json()["items"]]

    assert serials(world.staff_a) == [honour, mine]
    assert serials(world.staff_a, "?kind=service_record") == [mine]
    assert serials(world.staff_a, f"?member_id={world.vol_b.id}") == []
    assert serials(world.vol_a) == [honour, mine]
    assert serials(world.vol_b) == [theirs]
    assert serials(world.merchant_a) == []
    assert set(serials(world.admin)) == {mine, honour, theirs}
    page = api.get(f"{CERTS}?per_page=1&page=2", world.staff_a).get_json()
    assert (page["total"], page["page"], page["per_page"]) == (2, 2, 1)
    assert [item["serial"] for item in page["items"]] == [mine]


# --- leaderboards ----------------------------------------------------------------------


def _earn_at(api, member, reviewer, start: datetime, hours: int) -> None:
    """Approved hours of a member from a given moment."""
    created = api.post("/api/v1/service-records", reviewer, json={
        "category": "cleanup", "started_at": start.isoformat(),
        "ended_at": (start + timedelta(hours=hours)).isoformat(), "place": "社区广场",
        "description": "清理垃圾", "member_id": member.id})
    assert created.status_code == 201, created.get_json()
    approved = api.post(f"/api/v1/service-records/{created.get_json()['id']}/approve",
                        reviewer)
    assert approved.status_code == 200, approved.get_json()


@pytest.fixture
def crowd(api, make, world):
    """Hours all begun at one moment: 2 h for vol_a and 王大明 (A1), 1 h for vol_a2 (A2),
    9 h for vol_b (B1). Returns the local date they count for, and 王大明."""
    wang = make.user(["volunteer"], world.units["A1"], display_name="王大明")
    start = datetime.now(SHANGHAI).replace(second=0, microsecond=0) - timedelta(hours=12)
    _earn_at(api, world.vol_a, world.staff_a, start, 2)
    _earn_at(api, wang, world.staff_a, start, 2)
    _earn_at(api, world.vol_a2, world.staff_a, start, 1)
    _earn_at(api, world.vol_b, world.staff_b, start, 9)
    return start.date().isoformat(), wang


def _board(api, who, query: str):
    resp = api.get(f"/api/v1/leaderboards?{query}", who)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_ties_share_a_rank_and_names_are_masked(api, world, crowd):
    day, _wang = crowd
    for who in (world.vol_a, world.staff_a, world.merchant_a, world.vol_b):
        board = _board(api, who, f"scope_id={world.units['A']}&period=month&date={day}")
        assert board["entries"] == [
            {"rank": 1, "name": "张*三", "value": "2.00"},
            {"rank": 1, "name": "王*明", "value": "2.00"},
            {"rank": 3, "name": "李*", "value": "1.00"},
        ]
        assert (board["period"], board["metric"], board["group"], board["scope_id"]) == (
            "month", "hours", "member", world.units["A"])
    points = _board(api, world.vol_a, f"scope_id={world.units['A']}&metric=points&date={day}")
    assert [e["value"] for e in points["entries"]] == ["20.00", "20.00", "10.00"]
    top = _board(api, world.vol_a, f"scope_id={world.units['street']}&limit=1&date={day}")
    assert top["entries"] == [{"rank": 1, "name": "A**** S****", "value": "9.00"}]


def test_a_board_opens_on_the_callers_community_in_the_current_month(api, world, crowd):
    board = _board(api, world.vol_a, "")
    assert board["scope_id"] == world.units["A"]
    assert (board["period"], board["metric"], board["group"]) == ("month", "hours", "member")
    assert board["from"].endswith("-01")
    assert _board(api, world.vol_b, "")["scope_id"] == world.units["B"]
    assert _board(api, world.staff_a, "")["scope_id"] == world.units["A"]


def test_a_member_who_opts_out_leaves_the_member_board_but_counts_for_the_grid(api, world,
                                                                             crowd):
    day, _wang = crowd
    query = f"scope_id={world.units['A']}&date={day}"
    resp = api._call("PUT", "/api/v1/users/me/boards", world.vol_a, json={"on_boards": False})
    assert resp.status_code == 200 and resp.get_json() == {"on_boards": False}
    names = [e["name"] for e in _board(api, world.staff_a, query)["entries"]]
    assert names == ["王*明", "李*"]
    grids = _board(api, world.vol_a, f"{query}&group=grid")["entries"]
    assert grids == [{"rank": 1, "name": "第一网格", "value": "4.00"},
                     {"rank": 2, "name": "第二网格", "value": "1.00"}]
    back = api._call("PUT", "/api/v1/users/me/boards", world.vol_a, json={"on_boards": True})
    assert back.get_json() == {"on_boards": True}
    assert "张*三" in [e["name"] for e in _board(api, world.staff_a, query)["entries"]]


def test_grid_and_team_boards(api, world, crowd):
    day, _wang = crowd
    street = _board(api, world.vol_b, f"scope_id={world.units['street']}&group=grid&date={day}")
    assert street["entries"] == [
        {"rank": 1, "name": "和谐社区 第一网格", "value": "9.00"},
        {"rank": 2, "name": "阳光社区 第一网格", "value": "4.00"},
        {"rank": 3, "name": "阳光社区 第二网格", "value": "1.00"},
    ]
    team = api.post("/api/v1/teams", world.staff_a, json={
        "org_unit_id": world.units["A"], "name": "红马甲", "leader_id": world.vol_a.id})
    assert team.status_code == 201, team.get_json()
    added = api.post(f"/api/v1/teams/{team.get_json()['id']}/members", world.staff_a,
                     json={"member_id": world.vol_a2.id})
    assert added.status_code == 201, added.get_json()
    teams = _board(api, world.vol_a, f"scope_id={world.units['A']}&group=team&date={day}")
    assert teams["entries"] == [{"rank": 1, "name": "红马甲", "value": "3.00"}]


@pytest.mark.parametrize("period,first,last", [
    ("week", lambda d: d - timedelta(days=d.weekday()),
     lambda d: d - timedelta(days=d.weekday()) + timedelta(days=6)),
    ("month", lambda d: d.replace(day=1),
     lambda d: (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)),
    ("year", lambda d: d.replace(month=1, day=1), lambda d: d.replace(month=12, day=31)),
])
def test_a_board_states_the_bounds_of_its_period(api, world, crowd, period, first, last):
    day, _wang = crowd
    board = _board(api, world.vol_a, f"scope_id={world.units['A']}&period={period}&date={day}")
    served = date.fromisoformat(day)
    assert (board["from"], board["to"]) == (first(served).isoformat(), last(served).isoformat())
    assert [e["value"] for e in board["entries"]] == ["2.00", "2.00", "1.00"]
    before = _board(api, world.vol_a, f"scope_id={world.units['A']}&period={period}"
                                      f"&date={(first(served) - timedelta(days=1)).isoformat()}")
    assert before["entries"] == []


def test_the_all_time_board_has_no_bounds(api, world, crowd):
    board = _board(api, world.vol_a, f"scope_id={world.units['A']}&period=all")
    assert (board["from"], board["to"]) == (None, None)
    assert len(board["entries"]) == 3


@pytest.mark.parametrize("query", [
    "period=decade", "metric=smiles", "group=family", "limit=0", "limit=101", "limit=x",
    "limit=1e3", "scope_id=abc", "scope_id=0", "date=2026-02-30", "date=yesterday",
    "date=1999-12-31", "date=3000-01-01", "date=",
])
def test_bad_board_parameters_are_422(api, world, query):
    resp = api.get(f"/api/v1/leaderboards?{query}", world.vol_a)
    assert resp.status_code == 422, query
    assert resp.get_json()["code"] == "validation_error"


def test_a_board_of_an_unknown_unit_is_404_and_needs_a_token(api, world):
    resp = api.get("/api/v1/leaderboards?scope_id=999999", world.vol_a)
    assert resp.status_code == 404
    assert resp.get_json()["code"] == "not_found"
    anonymous = api.client.get(f"/api/v1/leaderboards?scope_id={world.units['A']}")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["code"] == "unauthenticated"


def test_the_boards_choice_must_be_a_boolean(api, world):
    for body in ({}, {"on_boards": "no"}, {"on_boards": 0}, {"on_boards": None},
                 {"on_boards": False, "extra": 1}):
        resp = api._call("PUT", "/api/v1/users/me/boards", world.vol_a, json=body)
        assert resp.status_code == 422, body
    assert _board(api, world.vol_a, "")["scope_id"] == world.units["A"]


# --- volunteer teams -------------------------------------------------------------------


def test_staff_run_a_team_in_their_reach(api, world):
    created = api.post("/api/v1/teams", world.staff_a, json={
        "org_unit_id": world.units["A"], "name": "红马甲", "description": "周末巡逻",
        "leader_id": world.vol_a.id})
    assert created.status_code == 201, created.get_json()
    team = created.get_json()
    path = f"/api/v1/teams/{team['id']}"
    assert (team["name"], team["leader_id"], team["member_count"]) == (
        "红马甲", world.vol_a.id, 1)
    assert [(m["member_id"], m["name"]) for m in team["members"]] == [(world.vol_a.id, "张小三")]

    added = api.post(f"{path}/members", world.staff_a, json={"member_id": world.vol_a2.id})
    assert added.status_code == 201, added.get_json()
    assert (added.get_json()["member_id"], added.get_json()["name"]) == (world.vol_a2.id, "李四")
    assert added.get_json()["joined_at"]
    again = api.post(f"{path}/members", world.staff_a, json={"member_id": world.vol_a2.id})
    assert again.status_code == 409
    other = api.post(f"{path}/members", world.staff_a, json={"member_id": world.vol_b.id})
    assert other.status_code in (403, 422)

    # A member sees the team, with their own name in full and others' masked.
    seen = api.get(path, world.vol_a).get_json()
    assert {m["name"] for m in seen["members"]} == {"张小三", "李*"}
    assert seen["member_count"] == 2

    renamed = api._call("PATCH", path, world.staff_a, json={"name": "蓝马甲"})
    assert renamed.status_code == 200, renamed.get_json()
    assert (renamed.get_json()["name"], renamed.get_json()["description"]) == ("蓝马甲",
                                                                                "周末巡逻")
    lead = api._call("PUT", f"{path}/leader", world.staff_a, json={"member_id": world.vol_a2.id})
    assert lead.status_code == 200 and lead.get_json()["leader_id"] == world.vol_a2.id
    not_in_team = api._call("PUT", f"{path}/leader", world.staff_a,
                            json={"member_id": world.vol_b.id})
    assert not_in_team.status_code == 422
    removed = api.delete(f"{path}/members/{world.vol_a2.id}", world.staff_a)
    assert removed.status_code == 204
    after = api.get(path, world.staff_a).get_json()
    assert after["leader_id"] is None and after["member_count"] == 1
    assert api.delete(f"{path}/members/{world.vol_a2.id}", world.staff_a).status_code == 404
    cleared = api._call("PUT", f"{path}/leader", world.staff_a, json={"member_id": None})
    assert cleared.status_code == 200 and cleared.get_json()["leader_id"] is None

    listed = api.get("/api/v1/teams", world.staff_a).get_json()
    assert [(t["id"], t["member_count"]) for t in listed["items"]] == [(team["id"], 1)]
    assert listed["total"] == 1
    assert api.get(f"/api/v1/teams?org_unit_id={world.units['B']}",
                   world.staff_a).get_json()["total"] == 0
    assert api.get("/api/v1/teams?org_unit_id=999999", world.staff_a).status_code == 404
    assert api.get("/api/v1/teams", world.vol_a).get_json()["total"] == 1
    assert api.get("/api/v1/teams", world.vol_a2).get_json()["total"] == 0
    assert api.get("/api/v1/teams", world.staff_b).get_json()["total"] == 0


def test_staff_of_another_community_cannot_touch_the_team(api, world):
    created = api.post("/api/v1/teams", world.staff_a, json={
        "org_unit_id": world.units["A1"], "name": "护河队", "leader_id": world.vol_a.id})
    team_id = created.get_json()["id"]
    path = f"/api/v1/teams/{team_id}"
    for resp in (api.get(path, world.staff_b),
                 api._call("PATCH", path, world.staff_b, json={"name": "x"}),
                 api.post(f"{path}/members", world.staff_b, json={"member_id": world.vol_b.id}),
                 api.delete(f"{path}/members/{world.vol_a.id}", world.staff_b),
                 api._call("PUT", f"{path}/leader", world.staff_b, json={"member_id": None})):
        assert resp.status_code == 404, resp.get_json()
        assert resp.get_json()["code"] == "not_found"
    assert api.get(path, world.vol_b).status_code == 404
    assert api._call("PATCH", path, world.vol_a, json={"name": "x"}).status_code == 403
    assert api.post("/api/v1/teams", world.staff_b, json={
        "org_unit_id": world.units["A"], "name": "越界队"}).status_code == 403
    assert api.get(path, world.staff_a).get_json()["name"] == "护河队"
    same_name = api.post("/api/v1/teams", world.staff_a, json={
        "org_unit_id": world.units["A1"], "name": "护河队"})
    assert same_name.status_code == 409
