"""Service categories with dated rates, and service records: log, list, approve, reject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete

from tests.factories import hours_ago
from timebank.extensions import db
from timebank.models import Account

CATEGORIES = "/api/v1/categories"
RECORDS = "/api/v1/service-records"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def assert_problem(resp, status: int, code: str) -> dict:
    """An RFC 7807 problem with the given status and stable code."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status and body["code"] == code
    return body


def created(resp) -> dict:
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def span(start: datetime, hours: float) -> dict:
    return {"started_at": start.isoformat(),
            "ended_at": (start + timedelta(hours=hours)).isoformat()}


def record_body(start: datetime, hours: float, **extra) -> dict:
    return {"category": "cleanup", "place": "社区广场", "description": "清理垃圾",
            **span(start, hours), **extra}


def an_hour_boundary(hours_back: int) -> datetime:
    """A whole hour some hours back, in Shanghai time (fixed points make overlaps exact)."""
    now = datetime.now(UTC).astimezone(SHANGHAI).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=hours_back)


def ids(resp) -> list[int]:
    assert resp.status_code == 200, resp.get_json()
    return [item["id"] for item in resp.get_json()["items"]]


# --- categories ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["staff_a", "admin"])
def test_staff_and_admins_add_categories(api, world, who):
    resp = api.post(CATEGORIES, getattr(world, who),
                    json={"code": "elder-care", "name": "助老服务", "points_per_hour": "12.50"})
    assert created(resp) == {"code": "elder-care", "name": "助老服务",
                             "points_per_hour": "12.50"}

    listed = api.get(CATEGORIES, world.vol_a)
    assert listed.status_code == 200
    assert listed.get_json()["items"] == [
        {"code": "cleanup", "name": "环境清洁", "points_per_hour": "10.00"},
        {"code": "elder-care", "name": "助老服务", "points_per_hour": "12.50"},
    ]


@pytest.mark.parametrize("who", ["vol_a", "vol_a2", "merchant_a"])
def test_members_cannot_add_categories(api, world, who):
    resp = api.post(CATEGORIES, getattr(world, who),
                    json={"code": "tutoring", "name": "课业辅导", "points_per_hour": "8.00"})
    assert_problem(resp, 403, "forbidden")
    assert [c["code"] for c in api.get(CATEGORIES, world.vol_a).get_json()["items"]] == [
        "cleanup"]


def test_a_duplicate_category_code_is_409(api, world):
    resp = api.post(CATEGORIES, world.staff_a,
                    json={"code": "cleanup", "name": "又一个", "points_per_hour": "99.00"})
    assert_problem(resp, 409, "already_exists")
    assert api.get(CATEGORIES, world.vol_a).get_json()["items"] == [
        {"code": "cleanup", "name": "环境清洁", "points_per_hour": "10.00"}]


@pytest.mark.parametrize("rate", ["12.345", "0.001", "abc", "-1.00", True, "1e400", 1e308,
                                  "NaN", "10000.01"])
def test_a_bad_points_per_hour_is_422_never_rounded(api, world, rate):
    resp = api.post(CATEGORIES, world.staff_a,
                    json={"code": "tutoring", "name": "课业辅导", "points_per_hour": rate})
    body = assert_problem(resp, 422, "validation_error")
    assert set(body["errors"]) == {"points_per_hour"}
    assert all(isinstance(m, str) for m in body["errors"]["points_per_hour"])
    assert "tutoring" not in [c["code"] for c in
                              api.get(CATEGORIES, world.vol_a).get_json()["items"]]


def test_category_code_and_name_are_required(api, world):
    resp = api.post(CATEGORIES, world.staff_a, json={"points_per_hour": "5.00"})
    body = assert_problem(resp, 422, "validation_error")
    assert {"code", "name"} <= set(body["errors"])


def test_a_rate_change_is_201_and_applies_from_its_date(api, world):
    yesterday = (datetime.now(UTC).astimezone(SHANGHAI) - timedelta(days=1)).date()
    resp = api.post(f"{CATEGORIES}/cleanup/rates", world.staff_a,
                    json={"points_per_hour": "15.00", "effective_from": yesterday.isoformat()})
    assert created(resp) == {"points_per_hour": "15.00",
                             "effective_from": yesterday.isoformat()}
    # The list shows the rate in force today.
    assert api.get(CATEGORIES, world.vol_a).get_json()["items"][0]["points_per_hour"] == "15.00"

    before = created(api.log(world.vol_a, ago=24 * 4, length=2))
    after = created(api.log(world.vol_a, ago=1, length=1))
    assert before["expected_points"] == "20.00"  # service before the change: old rate
    assert after["expected_points"] == "15.00"   # service from the change on: new rate

    approved_before = api.post(f"{RECORDS}/{before['id']}/approve", world.staff_a).get_json()
    approved_after = api.post(f"{RECORDS}/{after['id']}/approve", world.staff_a).get_json()
    assert approved_before["points_awarded"] == "20.00"
    assert approved_after["points_awarded"] == "15.00"
    assert api.balance(world.vol_a) == "35.00"


def test_a_rate_change_never_changes_approved_points(api, world):
    approved = api.earn(world.vol_a, world.staff_a, ago=24 * 3, length=2)
    assert approved["points_awarded"] == "20.00"
    pending = created(api.log(world.vol_a, ago=24 * 2, length=2))
    assert pending["expected_points"] == "20.00"

    week_ago = (datetime.now(UTC).astimezone(SHANGHAI) - timedelta(days=7)).date()
    created(api.post(f"{CATEGORIES}/cleanup/rates", world.admin,
                     json={"points_per_hour": "30.00", "effective_from": week_ago.isoformat()}))

    record = api.get(f"{RECORDS}/{approved['id']}", world.vol_a).get_json()
    assert (record["status"], record["points_awarded"]) == ("approved", "20.00")
    assert record["transaction_id"] == approved["transaction_id"]
    assert api.balance(world.vol_a) == "20.00"
    # A record still pending is approved at the rate in force on its service date.
    later = api.post(f"{RECORDS}/{pending['id']}/approve", world.staff_a).get_json()
    assert later["points_awarded"] == "60.00"
    assert api.balance(world.vol_a) == "80.00"


def test_rate_changes_are_refused_properly(api, world):
    body = {"points_per_hour": "15.00", "effective_from": "2030-01-01"}
    assert_problem(api.post(f"{CATEGORIES}/cleanup/rates", world.vol_a, json=body), 403,
                   "forbidden")
    assert_problem(api.post(f"{CATEGORIES}/nothing/rates", world.staff_a, json=body), 404,
                   "not_found")
    bad = api.post(f"{CATEGORIES}/cleanup/rates", world.staff_a,
                   json={"points_per_hour": "15.005", "effective_from": "2030-01-01"})
    assert "points_per_hour" in assert_problem(bad, 422, "validation_error")["errors"]
    created(api.post(f"{CATEGORIES}/cleanup/rates", world.staff_a, json=body))
    assert_problem(api.post(f"{CATEGORIES}/cleanup/rates", world.staff_a, json=body), 409,
                   "already_exists")


# --- logging hours ---------------------------------------------------------------------


def test_logging_hours_is_201_pending_with_hours_and_expected_points(api, world):
    start = an_hour_boundary(6)
    resp = api.post(RECORDS, world.vol_a, json=record_body(start, 1.5))
    record = created(resp)
    assert record["member_id"] == world.vol_a.id
    assert record["category"] == "cleanup"
    assert record["status"] == "pending"
    assert record["hours"] == "1.50"
    assert record["expected_points"] == "15.00"
    assert datetime.fromisoformat(record["started_at"]) == start
    assert datetime.fromisoformat(record["ended_at"]) == start + timedelta(hours=1.5)
    assert record["started_at"].endswith("+08:00")
    assert record["org_unit_id"] == world.units["A1"]
    assert isinstance(record["id"], int)


def test_staff_log_hours_for_a_member_in_reach(api, world):
    record = created(api.log(world.staff_a, ago=4, member_id=world.vol_a2.id))
    assert record["member_id"] == world.vol_a2.id
    assert record["org_unit_id"] == world.units["A2"]
    assert ids(api.get(RECORDS, world.vol_a2)) == [record["id"]]


@pytest.mark.parametrize("who, member", [
    ("vol_a", "vol_a2"),
    ("vol_a", "vol_b"),
    ("staff_b", "vol_a"),
    ("merchant_a", "vol_a"),
])
def test_logging_hours_for_someone_out_of_reach_is_403(api, world, who, member):
    resp = api.log(getattr(world, who), member_id=getattr(world, member).id)
    assert_problem(resp, 403, "forbidden")
    assert ids(api.get(RECORDS, world.admin)) == []


@pytest.mark.parametrize("hours", [0, -1])
def test_an_end_not_after_the_start_is_422(api, world, hours):
    start = an_hour_boundary(5)
    body = record_body(start, 1)
    body["ended_at"] = (start + timedelta(hours=hours)).isoformat()
    resp = api.post(RECORDS, world.vol_a, json=body)
    assert "ended_at" in assert_problem(resp, 422, "validation_error")["errors"]


def test_an_end_in_the_future_is_422(api, world):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    resp = api.post(RECORDS, world.vol_a, json=record_body(start, 2))
    assert "ended_at" in assert_problem(resp, 422, "validation_error")["errors"]
    assert ids(api.get(RECORDS, world.vol_a)) == []


@pytest.mark.parametrize("field, value", [
    ("started_at", "2026-03-01T09:00:00"),  # no offset
    ("started_at", "yesterday"),
    ("category", ""),
    ("place", ""),
])
def test_malformed_record_fields_are_422(api, world, field, value):
    body = record_body(an_hour_boundary(6), 1, **{field: value})
    resp = api.post(RECORDS, world.vol_a, json=body)
    assert field in assert_problem(resp, 422, "validation_error")["errors"]


def test_an_unknown_category_is_404(api, world):
    resp = api.post(RECORDS, world.vol_a,
                    json=record_body(an_hour_boundary(6), 1, category="nothing"))
    assert_problem(resp, 404, "not_found")


@pytest.mark.parametrize("approve_first", [False, True], ids=["pending", "approved"])
def test_overlapping_a_pending_or_approved_record_is_409(api, world, approve_first):
    start = an_hour_boundary(8)
    first = created(api.post(RECORDS, world.vol_a, json=record_body(start, 2)))
    if approve_first:
        assert api.post(f"{RECORDS}/{first['id']}/approve", world.staff_a).status_code == 200
    for offset, hours in ((1, 2), (-1, 2), (0.5, 1), (-1, 4)):
        resp = api.post(RECORDS, world.vol_a,
                        json=record_body(start + timedelta(hours=offset), hours))
        assert_problem(resp, 409, "overlapping_record")
    # Staff recording for the member are refused too.
    resp = api.post(RECORDS, world.staff_a,
                    json=record_body(start, 2, member_id=world.vol_a.id))
    assert_problem(resp, 409, "overlapping_record")
    assert ids(api.get(RECORDS, world.vol_a)) == [first["id"]]


def test_back_to_back_and_other_members_spans_do_not_overlap(api, world):
    start = an_hour_boundary(8)
    created(api.post(RECORDS, world.vol_a, json=record_body(start, 2)))
    created(api.post(RECORDS, world.vol_a, json=record_body(start + timedelta(hours=2), 1)))
    created(api.post(RECORDS, world.vol_a2, json=record_body(start, 2)))


def test_overlapping_a_rejected_record_is_allowed(api, world):
    start = an_hour_boundary(8)
    first = created(api.post(RECORDS, world.vol_a, json=record_body(start, 2)))
    rejected = api.post(f"{RECORDS}/{first['id']}/reject", world.staff_a,
                        json={"reason": "时间填错了"})
    assert rejected.status_code == 200
    again = created(api.post(RECORDS, world.vol_a, json=record_body(start, 2)))
    assert again["status"] == "pending"


# --- listing ---------------------------------------------------------------------------


@pytest.fixture
def logged(api, world) -> dict[str, int]:
    """Records of vol_a (A1, one approved), vol_a2 (A2) and vol_b (B1)."""
    out = {
        "a_old": created(api.log(world.vol_a, ago=30))["id"],
        "a_new": created(api.log(world.vol_a, ago=3))["id"],
        "a2": created(api.log(world.vol_a2, ago=5))["id"],
        "b": created(api.log(world.vol_b, ago=7))["id"],
    }
    assert api.post(f"{RECORDS}/{out['a_old']}/approve", world.staff_a).status_code == 200
    return out


def test_a_volunteer_lists_only_their_own_records(api, world, logged):
    assert ids(api.get(RECORDS, world.vol_a)) == [logged["a_new"], logged["a_old"]]
    assert ids(api.get(RECORDS, world.vol_b)) == [logged["b"]]
    # Asking for someone else's gives nothing of theirs.
    assert ids(api.get(f"{RECORDS}?member_id={world.vol_a2.id}", world.vol_a)) == []


def test_staff_list_their_reach_and_admins_everything(api, world, logged):
    page = api.get(RECORDS, world.staff_a).get_json()
    assert [i["id"] for i in page["items"]] == [logged["a_new"], logged["a2"], logged["a_old"]]
    assert (page["total"], page["page"], page["per_page"]) == (3, 1, 20)
    assert ids(api.get(RECORDS, world.staff_b)) == [logged["b"]]
    assert sorted(ids(api.get(RECORDS, world.admin))) == sorted(logged.values())


def test_staff_of_another_community_cannot_fetch_a_record(api, world, logged):
    assert_problem(api.get(f"{RECORDS}/{logged['a_new']}", world.staff_b), 404, "not_found")
    assert api.get(f"{RECORDS}/{logged['a_new']}", world.staff_a).status_code == 200


def test_record_list_filters(api, world, logged):
    def listed(query: str, who=world.staff_a) -> list[int]:
        return ids(api.get(f"{RECORDS}?{query}", who))

    assert listed("status=pending") == [logged["a_new"], logged["a2"]]
    assert listed("status=approved") == [logged["a_old"]]
    assert listed("status=rejected") == []
    assert listed(f"member_id={world.vol_a2.id}") == [logged["a2"]]
    assert listed(f"org_unit_id={world.units['A1']}") == [logged["a_new"], logged["a_old"]]
    assert listed(f"org_unit_id={world.units['A']}&status=pending") == [logged["a_new"],
                                                                        logged["a2"]]
    # Filters never widen the reach.
    assert listed(f"org_unit_id={world.units['B1']}") == []
    assert listed(f"member_id={world.vol_b.id}") == []
    assert listed(f"org_unit_id={world.units['street']}", world.admin) == [
        logged["a_new"], logged["a2"], logged["b"], logged["a_old"]]
    page = api.get(f"{RECORDS}?per_page=2&page=2", world.staff_a).get_json()
    assert [i["id"] for i in page["items"]] == [logged["a_old"]] and page["total"] == 3


@pytest.mark.parametrize("query", ["status=done", "member_id=abc", "org_unit_id=0",
                                   "member_id=2147483648", "per_page=101"])
def test_bad_record_filters_are_422(api, world, query):
    assert_problem(api.get(f"{RECORDS}?{query}", world.staff_a), 422, "validation_error")


# --- approving and rejecting -----------------------------------------------------------


def test_approving_is_200_with_points_and_transaction(api, world):
    record = created(api.log(world.vol_a, ago=5, length=2.5))
    resp = api.post(f"{RECORDS}/{record['id']}/approve", world.staff_a)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["id"] == record["id"]
    assert body["status"] == "approved"
    assert body["points_awarded"] == "25.00"
    assert isinstance(body["transaction_id"], int)
    fetched = api.get(f"{RECORDS}/{record['id']}", world.vol_a).get_json()
    assert (fetched["status"], fetched["transaction_id"]) == ("approved", body["transaction_id"])
    assert api.balance(world.vol_a) == "25.00"


def test_an_admin_approves_anywhere(api, world):
    record = created(api.log(world.vol_b, ago=5))
    resp = api.post(f"{RECORDS}/{record['id']}/approve", world.admin)
    assert resp.status_code == 200 and resp.get_json()["points_awarded"] == "20.00"


@pytest.mark.parametrize("who", ["staff_a", "admin"])
def test_approving_ones_own_hours_is_403_self_approval(api, world, who):
    person = getattr(world, who)
    record = created(api.log(person, ago=5))
    assert_problem(api.post(f"{RECORDS}/{record['id']}/approve", person), 403,
                   "self_approval")
    assert api.get(f"{RECORDS}/{record['id']}", person).get_json()["status"] == "pending"
    assert api.balance(person) == "0.00"


def test_a_volunteer_cannot_approve(api, world):
    record = created(api.log(world.vol_a, ago=5))
    assert_problem(api.post(f"{RECORDS}/{record['id']}/approve", world.vol_a), 403,
                   "forbidden")
    assert api.balance(world.vol_a) == "0.00"


def test_approving_a_record_that_is_not_pending_is_409(api, world):
    approved = created(api.log(world.vol_a, ago=5))
    rejected = created(api.log(world.vol_a, ago=10))
    assert api.post(f"{RECORDS}/{approved['id']}/approve", world.staff_a).status_code == 200
    assert api.post(f"{RECORDS}/{rejected['id']}/reject", world.staff_a,
                    json={"reason": "无人证明"}).status_code == 200

    assert_problem(api.post(f"{RECORDS}/{approved['id']}/approve", world.staff_a), 409,
                   "invalid_transition")
    assert_problem(api.post(f"{RECORDS}/{rejected['id']}/approve", world.staff_a), 409,
                   "invalid_transition")
    assert_problem(api.post(f"{RECORDS}/{approved['id']}/reject", world.staff_a,
                            json={"reason": "改主意"}), 409, "invalid_transition")
    assert api.balance(world.vol_a) == "20.00"


@pytest.mark.parametrize("record_id", [999999, 2**31, 10**30])
def test_approving_an_unknown_record_is_404(api, world, record_id):
    assert_problem(api.post(f"{RECORDS}/{record_id}/approve", world.staff_a), 404,
                   "not_found")


def test_rejecting_with_a_reason_is_200(api, world):
    record = created(api.log(world.vol_a2, ago=5))
    resp = api.post(f"{RECORDS}/{record['id']}/reject", world.staff_a,
                    json={"reason": "  活动未举行  "})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["id"], body["status"]) == (record["id"], "rejected")
    fetched = api.get(f"{RECORDS}/{record['id']}", world.vol_a2).get_json()
    assert (fetched["status"], fetched["reject_reason"]) == ("rejected", "活动未举行")
    assert fetched["points_awarded"] is None
    assert api.balance(world.vol_a2) == "0.00"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}])
def test_rejecting_without_a_reason_is_422(api, world, body):
    record = created(api.log(world.vol_a, ago=5))
    resp = api.post(f"{RECORDS}/{record['id']}/reject", world.staff_a, json=body)
    assert "reason" in assert_problem(resp, 422, "validation_error")["errors"]
    assert api.get(f"{RECORDS}/{record['id']}", world.vol_a).get_json()["status"] == "pending"


def test_rejecting_ones_own_record_is_403_self_approval(api, world):
    record = created(api.log(world.staff_a, ago=5))
    resp = api.post(f"{RECORDS}/{record['id']}/reject", world.staff_a,
                    json={"reason": "自己的"})
    assert_problem(resp, 403, "self_approval")


def test_bulk_approve_reports_each_failure_with_its_code(api, world):
    good1 = created(api.log(world.vol_a, ago=5))["id"]
    good2 = created(api.log(world.vol_a2, ago=5, length=1))["id"]
    already = created(api.log(world.vol_a, ago=10))["id"]
    assert api.post(f"{RECORDS}/{already}/approve", world.staff_a).status_code == 200
    own = created(api.log(world.staff_a, ago=5))["id"]
    rejected = created(api.log(world.vol_a, ago=20))["id"]
    assert api.post(f"{RECORDS}/{rejected}/reject", world.staff_a,
                    json={"reason": "重复"}).status_code == 200

    resp = api.post(f"{RECORDS}/bulk-approve", world.staff_a,
                    json={"ids": [good1, already, own, 999999, good2, rejected]})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["approved"] == [good1, good2]
    assert body["failed"] == [
        {"id": already, "code": "invalid_transition"},
        {"id": own, "code": "self_approval"},
        {"id": 999999, "code": "not_found"},
        {"id": rejected, "code": "invalid_transition"},
    ]
    assert api.balance(world.vol_a) == "40.00"
    assert api.balance(world.vol_a2) == "10.00"
    assert api.balance(world.staff_a) == "0.00"


def test_a_record_that_cannot_be_paid_fails_alone_in_a_bulk_approval(app, api, world):
    """The batch finds the one record it cannot pay and approves the others without it."""
    good = created(api.log(world.vol_a, ago=5))["id"]
    unpayable = created(api.log(world.vol_a2, ago=5, length=1))["id"]
    later = created(api.log(world.vol_a, ago=10))["id"]
    with app.app_context():  # a member whose points account has gone (nothing posted yet)
        db.session.execute(delete(Account).where(Account.user_id == world.vol_a2.id))
        db.session.commit()

    resp = api.post(f"{RECORDS}/bulk-approve", world.staff_a,
                    json={"ids": [good, unpayable, later]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"approved": [good, later],
                               "failed": [{"id": unpayable, "code": "not_found"}]}
    assert api.get(f"{RECORDS}/{unpayable}", world.vol_a2).get_json()["status"] == "pending"
    assert api.balance(world.vol_a) == "40.00"


def test_bulk_approve_is_for_staff_and_needs_ids(api, world):
    record = created(api.log(world.vol_a, ago=5))["id"]
    assert_problem(api.post(f"{RECORDS}/bulk-approve", world.vol_a2, json={"ids": [record]}),
                   403, "forbidden")
    assert_problem(api.post(f"{RECORDS}/bulk-approve", world.staff_a, json={"ids": []}),
                   422, "validation_error")
    assert_problem(api.post(f"{RECORDS}/bulk-approve", world.staff_a, json={}),
                   422, "validation_error")
    assert api.get(f"{RECORDS}/{record}", world.vol_a).get_json()["status"] == "pending"


def test_a_quarter_hour_earns_a_quarter_of_the_rate(api, world):
    start, end = hours_ago(0.1, length=0.25)
    resp = api.post(RECORDS, world.vol_a, json={"category": "cleanup", "started_at": start,
                                                "ended_at": end, "place": "楼道",
                                                "description": "扫地"})
    record = created(resp)
    assert (record["hours"], record["expected_points"]) == ("0.25", "2.50")
