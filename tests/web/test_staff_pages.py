"""The staff desk: approval queue, members, categories and merchants, within reach only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from timebank.errors import ValidationFailed
from timebank.extensions import db
from timebank.models import (
    CategoryRate,
    CorrectionRequest,
    Merchant,
    Offer,
    ServiceCategory,
    ServiceRecord,
    User,
)
from timebank.services import records
from timebank.timeutil import today


def _row(page: str, record_id: int) -> str:
    """The queue's table row of one record ('' when the record is not listed)."""
    found = re.search(rf'<tr data-testid="record-{record_id}">(.*?)</tr>', page, re.S)
    return found.group(1) if found else ""


def _listed(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'<tr data-testid="record-(\d+)">', page)}


def _status(app, record_id: int) -> tuple[str, str | None]:
    with app.app_context():
        record = db.session.get(ServiceRecord, record_id)
        return record.status, record.reject_reason


def _user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def _logged(api, who, **kw) -> int:
    resp = api.log(who, **kw)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _insert_overlap(app, record_id: int) -> int:
    """A copy of a record over the same hours, as an import might leave it (the service refuses)."""
    with app.app_context():
        src = db.session.get(ServiceRecord, record_id)
        copy = ServiceRecord(
            member_id=src.member_id, category_id=src.category_id, org_unit_id=src.org_unit_id,
            title=src.title, started_at=src.started_at + timedelta(minutes=30),
            ended_at=src.ended_at + timedelta(minutes=30), hours_minor=src.hours_minor,
            place=src.place, description=src.description, status="pending",
            expected_points_minor=src.expected_points_minor, created_by_id=src.member_id)
        db.session.add(copy)
        db.session.commit()
        return copy.id


# --- who may use the desk ---------------------------------------------------------------


DESK_PAGES = ["/desk/", "/desk/members", "/desk/members/new", "/desk/categories",
              "/desk/merchants"]


@pytest.mark.parametrize("path", DESK_PAGES)
@pytest.mark.parametrize("who, status", [
    ("vol_a", 403), ("merchant_a", 403), ("staff_a", 200), ("admin", 200),
])
def test_desk_pages_belong_to_staff_and_admins(web, world, path, who, status):
    web.login(getattr(world, who))
    assert web.get(path).status_code == status


def test_signed_out_visitors_are_sent_to_sign_in(web):
    resp = web.get("/desk/")
    assert resp.status_code == 302 and "/login" in resp.location


def test_staff_start_on_the_queue(web, world):
    web.login(world.staff_a)
    assert web.get("/").location.endswith("/desk/")


# --- the approval queue -----------------------------------------------------------------


def test_the_queue_shows_pending_records_in_reach_only(web, web_factory, api, world):
    mine = _logged(api, world.vol_a, ago=5)
    theirs = _logged(api, world.vol_b, ago=5)
    done = api.earn(world.vol_a2, world.staff_a, ago=30)["id"]
    web.login(world.staff_a)
    page = web.text(web.get("/desk/"))
    assert _listed(page) == {mine}
    row = _row(page, mine)
    assert "张小三" in row  # staff see their members' full names
    assert "第一网格" in row and "环境清洁" in row
    assert "2.00" in row and "20.00" in row
    assert done not in _listed(page)
    other = web_factory()
    other.login(world.staff_b)
    assert _listed(other.text(other.get("/desk/"))) == {theirs}
    admin = web_factory()
    admin.login(world.admin)
    assert _listed(admin.text(admin.get("/desk/"))) == {mine, theirs}


def test_the_queue_filters_by_grid_category_and_date(app, make, web, api, world):
    make.category("patrol", "5.00", "治安巡逻")
    a1_old = _logged(api, world.vol_a, ago=24 * 10)
    a1_new = _logged(api, world.vol_a, ago=5, category="patrol")
    a2_new = _logged(api, world.vol_a2, ago=5)
    web.login(world.staff_a)
    assert _listed(web.text(web.get("/desk/"))) == {a1_old, a1_new, a2_new}
    by_grid = web.text(web.get(f"/desk/?grid={world.units['A2']}"))
    assert _listed(by_grid) == {a2_new}
    assert _listed(web.text(web.get(f"/desk/?grid={world.units['A']}"))) == {
        a1_old, a1_new, a2_new}
    assert _listed(web.text(web.get("/desk/?category=patrol"))) == {a1_new}
    with app.app_context():
        day = today()
    week_ago = (day - timedelta(days=7)).isoformat()
    assert _listed(web.text(web.get(f"/desk/?from={week_ago}"))) == {a1_new, a2_new}
    assert _listed(web.text(web.get(f"/desk/?to={week_ago}"))) == {a1_old}
    both = web.text(web.get(f"/desk/?grid={world.units['A1']}&category=cleanup&to={day}"))
    assert _listed(both) == {a1_old}


@pytest.mark.parametrize("query", [
    "grid=abc", "grid=-1", "grid=99999999999999999999999", "grid=0", "category=nope",
    "category=" + "x" * 5000, "from=2024-13-45", "from=abc", "to=99999-01-01",
    "to=0001-01-01", "from=2030-01-01&to=2020-01-01", "page=-1", "page=abc",
    "page=99999999999999", "page=0", "from=2024-01-01T00:00", "grid=1e3",
])
def test_garbage_queue_filters_are_ignored_not_a_500(web, api, world, query):
    record = _logged(api, world.vol_a, ago=5)
    web.login(world.staff_a)
    resp = web.get(f"/desk/?{query}")
    assert resp.status_code == 200
    if "page" not in query:
        assert _listed(web.text(resp)) == {record}, query


def test_a_grid_out_of_reach_is_ignored_as_a_filter(web, api, world):
    record = _logged(api, world.vol_a, ago=5)
    _logged(api, world.vol_b, ago=5)
    web.login(world.staff_a)
    resp = web.get(f"/desk/?grid={world.units['B1']}")
    assert resp.status_code == 200
    assert _listed(web.text(resp)) == {record}


def test_the_queue_is_paged(app, web, api, world):
    ids = [_logged(api, world.vol_a, ago=3 + n * 3, length=1) for n in range(52)]
    web.login(world.staff_a)
    first = _listed(web.text(web.get("/desk/")))
    second = _listed(web.text(web.get("/desk/?page=2")))
    assert len(first) == 50 and len(second) == 2
    assert first | second == set(ids)


def test_flags_mark_overlap_long_late_and_logged_by_someone_else(app, web, api, world):
    plain = _logged(api, world.vol_a, ago=5, length=2)
    overlapping = _insert_overlap(app, plain)
    long = _logged(api, world.vol_a, ago=30, length=9)
    late = _logged(api, world.vol_a, ago=24 * 40, length=1)
    proxy = _logged(api, world.staff_a, ago=50, length=1, member_id=world.vol_a.id)
    web.login(world.staff_a)
    page = web.text(web.get("/desk/"))

    def flags(record_id):
        return set(re.findall(r'data-testid="flag-(\w+)"', _row(page, record_id)))

    assert flags(plain) == {"overlap"}
    assert flags(overlapping) == {"overlap"}
    assert flags(long) == {"long"}
    assert flags(late) == {"late"}
    assert flags(proxy) == {"proxy"}


def test_flags_take_one_query_however_many_records(app, api, world):
    for n in range(12):
        _logged(api, world.vol_a, ago=3 + n * 3, length=1)
    with app.app_context():
        rows = list(db.session.scalars(select(ServiceRecord)))
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            few = records.queue_flags(rows[:2])
            count_few = len(statements)
            many = records.queue_flags(rows)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert count_few == 1 and len(statements) == 2
        assert len(few) == 2 and len(many) == 12
        assert records.queue_flags([]) == {}


def test_bulk_approve_credits_each_member_and_reports_failures(app, web, api, world):
    first = _logged(api, world.vol_a, ago=5, length=2)
    second = _logged(api, world.vol_a2, ago=5, length=1.5)
    foreign = _logged(api, world.vol_b, ago=5)
    own = _logged(api, world.staff_a, ago=5)  # staff may log hours, never approve them
    web.login(world.staff_a)
    web.get("/desk/")
    resp = web.post("/desk/review", {"ids": [first, second, foreign, own, 2**31 - 2, first],
                                     "action": "approve"})
    assert resp.status_code == 302
    page = web.text(web.follow(resp))
    assert "alert-warning" in page and "alert-danger" in page  # some went through, some not
    assert _listed(page) == {own}
    assert 'data-testid="own"' in _row(page, own)
    assert re.search(r'data-testid="queue-total">\D*1\D', page)
    assert _status(app, first)[0] == "approved"
    assert _status(app, second)[0] == "approved"
    assert _status(app, foreign)[0] == "pending"
    assert _status(app, own)[0] == "pending"
    assert api.balance(world.vol_a) == "20.00"
    assert api.balance(world.vol_a2) == "15.00"
    assert api.balance(world.vol_b) == "0.00"
    again = web.post("/desk/review", {"ids": [first], "action": "approve"})
    assert again.status_code == 302
    assert api.balance(world.vol_a) == "20.00"


@pytest.mark.parametrize("form", [
    {"action": "approve"},
    {"ids": "", "action": "approve"},
    {"ids": "abc", "action": "approve"},
    {"ids": "-5", "action": "approve"},
    {"ids": "99999999999999999999999", "action": "approve"},
    {"ids": "RECORD", "action": "explode"},
    {"ids": "RECORD"},
    {"ids": ["RECORD", "x"], "action": "approve"},
])
def test_a_malformed_review_form_changes_nothing(app, web, api, world, form):
    record = _logged(api, world.vol_a, ago=5)
    form = {k: ([record if i == "RECORD" else i for i in v] if isinstance(v, list)
                else (record if v == "RECORD" else v)) for k, v in form.items()}
    web.login(world.staff_a)
    resp = web.post("/desk/review", form)
    assert resp.status_code == 302
    assert web.follow(resp).status_code == 200
    assert _status(app, record) == ("pending", None)


def test_more_than_the_bulk_limit_is_refused_whole(app, web, api, world):
    record = _logged(api, world.vol_a, ago=5)
    web.login(world.staff_a)
    ids = [record] + list(range(100000, 100000 + records.MAX_BULK))
    resp = web.post("/desk/review", {"ids": ids, "action": "approve"})
    assert resp.status_code == 302
    assert _status(app, record)[0] == "pending"


def test_bulk_reject_needs_a_reason_and_records_it(app, web, api, world):
    first = _logged(api, world.vol_a, ago=5)
    second = _logged(api, world.vol_a2, ago=5)
    foreign = _logged(api, world.vol_b, ago=5)
    web.login(world.staff_a)
    for reason in ("", "   ", "x" * 501):
        resp = web.post("/desk/review", {"ids": [first, second], "action": "reject",
                                         "reason": reason})
        assert resp.status_code == 302
        assert _status(app, first) == ("pending", None)
    resp = web.post("/desk/review", {"ids": [first, second, foreign], "action": "reject",
                                     "reason": " 照片不清楚 "})
    assert resp.status_code == 302
    assert _status(app, first) == ("rejected", "照片不清楚")
    assert _status(app, second) == ("rejected", "照片不清楚")
    assert _status(app, foreign) == ("pending", None)
    assert api.balance(world.vol_a) == "0.00"


def test_bulk_reject_service_refuses_a_missing_reason_before_anything(app, api, world):
    record = _logged(api, world.vol_a, ago=5)
    with app.app_context():
        staff = db.session.get(User, world.staff_a.id)
        with pytest.raises(ValidationFailed):
            records.bulk_reject([record], reviewer=staff, reason="  ")
        db.session.rollback()
        result = records.bulk_reject([record, record, 2**31 - 1], reviewer=staff, reason="重复")
        assert result.rejected == [record]
        assert result.failed == [(2**31 - 1, "not_found")]


def test_open_correction_requests_are_answered_from_the_queue(app, web, web_factory, api,
                                                              world):
    record = _logged(api, world.vol_a, ago=5)
    member = web_factory()
    member.login(world.vol_a)
    member.get("/me/records")
    member.post(f"/me/records/{record}/correction", {"message": "结束时间应为11点"})
    with app.app_context():
        request_id = db.session.scalar(select(CorrectionRequest.id))
    other = web_factory()
    other.login(world.staff_b)
    assert f'data-testid="correction-{request_id}"' not in other.text(other.get("/desk/"))
    other.post(f"/desk/corrections/{request_id}/resolve", {"resolution": "不归我管"})
    web.login(world.staff_a)
    page = web.text(web.get("/desk/"))
    assert f'data-testid="correction-{request_id}"' in page and "结束时间应为11点" in page
    assert web.post(f"/desk/corrections/{request_id}/resolve",
                    {"resolution": " "}).status_code == 302
    with app.app_context():
        assert db.session.get(CorrectionRequest, request_id).resolved_at is None
    resp = web.post(f"/desk/corrections/{request_id}/resolve", {"resolution": "已改为11点"})
    assert resp.status_code == 302
    with app.app_context():
        req = db.session.get(CorrectionRequest, request_id)
        assert req.resolution == "已改为11点" and req.resolved_by_id == world.staff_a.id
    assert f'data-testid="correction-{request_id}"' not in web.text(web.get("/desk/"))
    assert web.post("/desk/corrections/99999999999/resolve",
                    {"resolution": "x"}).status_code == 404


# --- members ---------------------------------------------------------------------------


def _new_member(world, **extra):
    return {"username": "wang_wu", "display_name": "王五", "phone": "13812345678",
            "password": "long-enough-1", "roles": ["volunteer"],
            "org_unit_id": world.units["A2"], **extra}


def _members(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'data-testid="member-(\d+)"', page)}


def _count_users(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)))


def test_members_are_listed_within_reach_with_masked_phones(app, make, web, world):
    make.user(["volunteer"], world.units["A1"], username="phoned", display_name="赵六",
              phone="13912345678")
    web.login(world.staff_a)
    page = web.text(web.get("/desk/members"))
    assert "张小三" in page and "李四" in page and "赵六" in page
    assert "Alice Smith" not in page
    assert "139****5678" in page and "13912345678" not in page
    listed = _members(page)
    assert world.staff_a.id not in listed and world.merchant_a.id not in listed  # not members
    assert "赵六" in web.text(web.get("/desk/members?q=赵"))
    assert "赵六" in web.text(web.get("/desk/members?q=5678"))
    only = web.text(web.get("/desk/members?q=vol_a2"))
    assert "李四" in only and "张小三" not in only
    assert _members(web.text(web.get("/desk/members?q=%25"))) == set()  # LIKE wildcards are text
    for junk in ("q=" + "x" * 5000, "q=%_", "page=abc", "page=-3", "q=\\"):
        assert web.get(f"/desk/members?{junk}").status_code == 200


def test_staff_add_a_member_who_can_then_sign_in(app, web, web_factory, world):
    web.login(world.staff_a)
    web.get("/desk/members/new")
    resp = web.post("/desk/members/new", _new_member(world))
    assert resp.status_code == 302, web.text(resp)[:3000]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "wang_wu"))
        assert user.display_name == "王五" and user.roles == ["volunteer"]
        assert user.org_unit_id == world.units["A2"] and user.phone == "13812345678"
    assert "138****5678" in web.text(web.get("/desk/members"))
    newcomer = web_factory()
    resp = newcomer.post("/login", {"username": "wang_wu", "password": "long-enough-1"})
    assert resp.status_code == 302


@pytest.mark.parametrize("bad", [
    {"roles": ["staff"]}, {"roles": ["admin"]}, {"roles": []}, {"roles": ["nope"]},
    {"org_unit_id": "B1"}, {"org_unit_id": "abc"}, {"org_unit_id": "99999999999999999999"},
    {"org_unit_id": ""}, {"username": ""}, {"username": "a b"}, {"username": "x" * 65},
    {"password": "short"}, {"display_name": ""}, {"display_name": "x" * 101},
    {"phone": "phone"}, {"phone": "1" * 30}, {"username": "vol_a"},
])
def test_a_bad_new_member_form_adds_nobody(app, web, world, bad):
    if bad.get("org_unit_id") == "B1":
        bad = {"org_unit_id": world.units["B1"]}
    before = _count_users(app)
    web.login(world.staff_a)
    resp = web.post("/desk/members/new", _new_member(world, **bad))
    assert resp.status_code in (302, 422)
    assert _count_users(app) == before


def test_a_taken_phone_is_told_next_to_the_form(app, make, web, world):
    make.user(["volunteer"], world.units["A1"], phone="13812345678")
    before = _count_users(app)
    web.login(world.staff_a)
    resp = web.post("/desk/members/new", _new_member(world))
    assert resp.status_code == 422
    assert 'value="wang_wu"' in web.text(resp)  # what was typed is kept
    assert _count_users(app) == before


def test_an_admin_may_make_staff(app, web, world):
    web.login(world.admin)
    resp = web.post("/desk/members/new", _new_member(world, roles=["staff"],
                                                     org_unit_id=world.units["B1"]))
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "wang_wu")).roles == [
            "staff"]


def test_staff_edit_a_members_name_phone_grid_and_roles(app, web, world):
    web.login(world.staff_a)
    form = web.text(web.get(f"/desk/members/{world.vol_a.id}"))
    assert 'value="张小三"' in form
    resp = web.post(f"/desk/members/{world.vol_a.id}", {
        "display_name": "张小山", "phone": "13700001111", "org_unit_id": world.units["A2"],
        "roles": ["volunteer", "gridworker"]})
    assert resp.status_code == 302
    user = _user(app, world.vol_a.id)
    assert user.display_name == "张小山" and user.phone == "13700001111"
    assert user.org_unit_id == world.units["A2"]
    assert "13700001111" in web.text(web.get(f"/desk/members/{world.vol_a.id}"))
    assert "137****1111" in web.text(web.get("/desk/members"))
    with app.app_context():
        assert db.session.get(User, world.vol_a.id).roles == ["gridworker", "volunteer"]


@pytest.mark.parametrize("bad", [
    {"roles": ["staff"]}, {"roles": []}, {"org_unit_id": "B1"}, {"org_unit_id": "x"},
    {"display_name": ""}, {"phone": "12ab"}, {"phone": "13912345678"},
])
def test_a_bad_member_edit_changes_nothing(app, make, web, world, bad):
    make.user(["volunteer"], world.units["A1"], phone="13912345678")
    if bad.get("org_unit_id") == "B1":
        bad = {"org_unit_id": world.units["B1"]}
    form = {"display_name": "改名", "phone": "", "org_unit_id": world.units["A1"],
            "roles": ["volunteer"], **bad}
    web.login(world.staff_a)
    resp = web.post(f"/desk/members/{world.vol_a.id}", form)
    assert resp.status_code in (302, 422)
    user = _user(app, world.vol_a.id)
    assert user.display_name == "张小三" and user.phone is None
    assert user.org_unit_id == world.units["A1"]


def test_staff_cannot_open_or_change_members_out_of_reach(app, web, world):
    web.login(world.staff_b)
    assert web.get(f"/desk/members/{world.vol_a.id}").status_code == 403
    assert web.get(f"/desk/members/{world.staff_a.id}").status_code == 403
    assert web.get("/desk/members/99999").status_code == 404
    assert web.get("/desk/members/99999999999999").status_code == 404
    edit = web.post(f"/desk/members/{world.vol_a.id}", {
        "display_name": "被改了", "org_unit_id": world.units["B1"], "roles": ["volunteer"]})
    assert edit.status_code in (302, 403)
    off = web.post(f"/desk/members/{world.vol_a.id}/active", {"active": "0"})
    assert off.status_code == 302
    user = _user(app, world.vol_a.id)
    assert user.display_name == "张小三" and user.is_active
    assert user.org_unit_id == world.units["A1"]
    assert world.vol_a.id not in _members(web.text(web.get("/desk/members")))


def test_staff_cannot_manage_fellow_staff_or_themselves(app, web, world):
    web.login(world.staff_a)
    assert web.get(f"/desk/members/{world.staff_a.id}").status_code == 403
    web.post(f"/desk/members/{world.staff_a.id}/active", {"active": "0"})
    assert _user(app, world.staff_a.id).is_active


def test_a_deactivated_member_cannot_sign_in_and_keeps_their_history(app, web, web_factory,
                                                                     api, world):
    api.earn(world.vol_a, world.staff_a)
    web.login(world.staff_a)
    web.get(f"/desk/members/{world.vol_a.id}")
    resp = web.post(f"/desk/members/{world.vol_a.id}/active", {"active": "0"})
    assert resp.status_code == 302
    assert not _user(app, world.vol_a.id).is_active
    assert 'data-testid="inactive"' in web.text(web.get("/desk/members"))
    member = web_factory()
    assert member.post("/login", {"username": "vol_a", "password": "correct-horse-9"}
                       ).status_code == 200
    assert api.get("/api/v1/users/me", world.vol_a).status_code == 401  # token revoked too
    assert api.balance(world.vol_a, world.staff_a) == "20.00"
    with app.app_context():
        assert db.session.scalar(select(func.count(ServiceRecord.id))
                                 .where(ServiceRecord.member_id == world.vol_a.id)) == 1
    web.post(f"/desk/members/{world.vol_a.id}/active", {"active": "1"})
    assert _user(app, world.vol_a.id).is_active
    assert member.post("/login", {"username": "vol_a", "password": "correct-horse-9"}
                       ).status_code == 302


def test_a_signed_in_member_is_signed_out_once_deactivated(web, web_factory, world):
    member = web_factory()
    member.login(world.vol_a)
    assert member.get("/me/").status_code == 200
    web.login(world.staff_a)
    web.post(f"/desk/members/{world.vol_a.id}/active", {"active": "0"})
    assert member.get("/me/").status_code == 302


@pytest.mark.parametrize("value", ["", "2", "yes", "x" * 1000])
def test_a_malformed_activation_form_changes_nothing(app, web, world, value):
    web.login(world.staff_a)
    assert web.post(f"/desk/members/{world.vol_a.id}/active",
                    {"active": value}).status_code == 302
    assert _user(app, world.vol_a.id).is_active


# --- forms without their CSRF token -----------------------------------------------------


def test_forms_without_the_csrf_token_change_nothing(app, web, api, world):
    record = _logged(api, world.vol_a, ago=5)
    web.login(world.staff_a)
    before_users = _count_users(app)
    posts = [
        ("/desk/review", {"ids": record, "action": "approve"}),
        ("/desk/review", {"ids": record, "action": "reject", "reason": "x"}),
        ("/desk/members/new", _new_member(world)),
        (f"/desk/members/{world.vol_a.id}", {"display_name": "被改了",
                                             "org_unit_id": world.units["A1"],
                                             "roles": ["volunteer"]}),
        (f"/desk/members/{world.vol_a.id}/active", {"active": "0"}),
        ("/desk/categories/new", {"code": "repair", "name": "维修", "points_per_hour": "5"}),
        ("/desk/categories/cleanup/rate", {"points_per_hour": "12.00",
                                           "effective_from": "2030-01-01"}),
        ("/desk/merchants/new", {"name": "新店", "org_unit_id": world.units["A"]}),
        (f"/desk/merchants/{world.merchants['MA']}/offers", {"title": "新券",
                                                             "points_cost": "5"}),
        (f"/desk/offers/{world.offers['OA']}/active", {"active": "0"}),
    ]
    for path, form in posts:
        resp = web.post(path, form, csrf=False)
        assert resp.status_code == 302, path
    assert _status(app, record) == ("pending", None)
    assert _count_users(app) == before_users
    user = _user(app, world.vol_a.id)
    assert user.display_name == "张小三" and user.is_active
    with app.app_context():
        assert db.session.scalar(select(func.count(CategoryRate.id))) == 1
        assert db.session.scalar(select(func.count(Merchant.id))) == 2
        assert db.session.scalar(select(func.count(Offer.id))) == 2
        assert db.session.get(Offer, world.offers["OA"]).is_active


# --- categories ------------------------------------------------------------------------


def _rates(app, code: str) -> list[tuple[str, int]]:
    with app.app_context():
        return [(r.effective_from.isoformat(), r.points_per_hour_minor) for r in db.session.scalars(
            select(CategoryRate).join(ServiceCategory).where(ServiceCategory.code == code)
            .order_by(CategoryRate.effective_from))]


def test_categories_show_the_rate_in_force_and_take_a_new_one(app, web, world):
    web.login(world.staff_a)
    page = web.text(web.get("/desk/categories"))
    assert re.search(r'data-testid="current-rate">\s*10\.00<', page)
    with app.app_context():
        day = today()
    later = (day + timedelta(days=30)).isoformat()
    resp = web.post("/desk/categories/cleanup/rate",
                    {"points_per_hour": "12.50", "effective_from": later})
    assert resp.status_code == 302
    page = web.text(web.get("/desk/categories"))
    assert re.search(r'data-testid="current-rate">\s*10\.00<', page)
    assert f"{later}: 12.50" in page
    web.post("/desk/categories/cleanup/rate",
             {"points_per_hour": "11", "effective_from": day.isoformat()})
    page = web.text(web.get("/desk/categories"))
    assert re.search(r'data-testid="current-rate">\s*11\.00<', page)
    assert _rates(app, "cleanup") == [("2000-01-01", 1000), (day.isoformat(), 1100),
                                      (later, 1250)]


@pytest.mark.parametrize("form", [
    {"points_per_hour": "abc"}, {"points_per_hour": "1e999999"}, {"points_per_hour": "-1"},
    {"points_per_hour": "10.001"}, {"points_per_hour": "NaN"}, {"points_per_hour": ""},
    {"points_per_hour": "10001"}, {"effective_from": "garbage"}, {"effective_from": ""},
    {"effective_from": "1999-01-01"}, {"effective_from": "2000-01-01"},
])
def test_a_bad_rate_changes_nothing(app, web, world, form):
    web.login(world.staff_a)
    resp = web.post("/desk/categories/cleanup/rate",
                    {"points_per_hour": "12.00", "effective_from": "2030-01-01", **form})
    assert resp.status_code == 302
    assert web.follow(resp).status_code == 200
    assert _rates(app, "cleanup") == [("2000-01-01", 1000)]


def test_a_rate_for_an_unknown_category_or_a_taken_date_is_refused(app, web, world):
    web.login(world.staff_a)
    good = {"points_per_hour": "12.00", "effective_from": "2030-01-01"}
    assert web.post("/desk/categories/nope/rate", good).status_code == 302
    assert web.post("/desk/categories/cleanup/rate", good).status_code == 302
    assert web.post("/desk/categories/cleanup/rate",
                    {**good, "points_per_hour": "13.00"}).status_code == 302
    assert _rates(app, "cleanup") == [("2000-01-01", 1000), ("2030-01-01", 1200)]


def test_staff_add_a_category_and_bad_ones_are_refused(app, web, world):
    web.login(world.staff_a)
    resp = web.post("/desk/categories/new",
                    {"code": "repair", "name": "家电维修", "points_per_hour": "15.50"})
    assert resp.status_code == 302
    assert "家电维修" in web.text(web.get("/desk/categories"))
    assert _rates(app, "repair") == [("2000-01-01", 1550)]
    for bad in ({"code": "repair"}, {"code": "Bad Code"}, {"code": ""}, {"name": ""},
                {"points_per_hour": "x"}, {"code": "x" * 40}):
        form = {"code": "other", "name": "其他", "points_per_hour": "1", **bad}
        assert web.post("/desk/categories/new", form).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(ServiceCategory.id))) == 2


# --- merchants -------------------------------------------------------------------------


def test_merchants_in_reach_are_listed_with_their_offers(web, world):
    web.login(world.staff_a)
    page = web.text(web.get("/desk/merchants"))
    assert f'data-testid="merchant-{world.merchants["MA"]}"' in page
    assert f'data-testid="offer-{world.offers["OA"]}"' in page
    assert f'data-testid="merchant-{world.merchants["MB"]}"' not in page


def test_staff_add_a_merchant_and_an_offer_and_withdraw_it(app, web, world):
    web.login(world.staff_a)
    resp = web.post("/desk/merchants/new", {"name": "社区理发店", "org_unit_id": world.units["A1"],
                                            "address": "幸福路1号"})
    assert resp.status_code == 302
    with app.app_context():
        merchant = db.session.scalar(select(Merchant).where(Merchant.name == "社区理发店"))
        merchant_id = merchant.id
        assert merchant.org_unit_id == world.units["A1"] and merchant.address == "幸福路1号"
    resp = web.post(f"/desk/merchants/{merchant_id}/offers",
                    {"title": "理发九折", "points_cost": "30.00", "description": "每月一次"})
    assert resp.status_code == 302
    with app.app_context():
        offer = db.session.scalar(select(Offer).where(Offer.merchant_id == merchant_id))
        offer_id = offer.id
        assert offer.points_cost_minor == 3000 and offer.is_active
    assert f'data-testid="offer-{offer_id}"' in web.text(web.get("/desk/merchants"))
    web.post(f"/desk/offers/{offer_id}/active", {"active": "0"})
    with app.app_context():
        assert not db.session.get(Offer, offer_id).is_active
    page = web.text(web.get("/desk/merchants"))
    assert f'data-testid="offer-{offer_id}"' in page and 'data-testid="restore"' in page
    web.post(f"/desk/offers/{offer_id}/active", {"active": "1"})
    with app.app_context():
        assert db.session.get(Offer, offer_id).is_active


def test_a_withdrawn_offer_cannot_be_redeemed(api, web, world):
    api.earn(world.vol_a, world.staff_a)
    web.login(world.staff_a)
    web.post(f"/desk/offers/{world.offers['OA']}/active", {"active": "0"})
    resp = api.post("/api/v1/redemptions", world.merchant_a,
                    json={"code": api.code(world.vol_a), "offer_id": world.offers["OA"]})
    assert resp.status_code == 404
    assert api.balance(world.vol_a) == "20.00"


def test_staff_cannot_touch_merchants_out_of_reach(app, web, world):
    web.login(world.staff_a)
    web.post("/desk/merchants/new", {"name": "越界店", "org_unit_id": world.units["B1"]})
    web.post(f"/desk/merchants/{world.merchants['MB']}/offers",
             {"title": "越界券", "points_cost": "5"})
    web.post(f"/desk/offers/{world.offers['OB']}/active", {"active": "0"})
    with app.app_context():
        assert db.session.scalar(select(func.count(Merchant.id))) == 2
        assert db.session.scalar(select(func.count(Offer.id))) == 2
        assert db.session.get(Offer, world.offers["OB"]).is_active


@pytest.mark.parametrize("path, form", [
    ("/desk/merchants/new", {"name": "", "org_unit_id": "A"}),
    ("/desk/merchants/new", {"name": "店", "org_unit_id": "abc"}),
    ("/desk/merchants/new", {"name": "店", "org_unit_id": "99999999999999999999"}),
    ("/desk/merchants/new", {"name": "x" * 101, "org_unit_id": "A"}),
    ("/desk/merchants/MA/offers", {"title": "券", "points_cost": "0"}),
    ("/desk/merchants/MA/offers", {"title": "券", "points_cost": "-3"}),
    ("/desk/merchants/MA/offers", {"title": "券", "points_cost": "1e30"}),
    ("/desk/merchants/MA/offers", {"title": "券", "points_cost": "1.234"}),
    ("/desk/merchants/MA/offers", {"title": "", "points_cost": "5"}),
    ("/desk/merchants/999999/offers", {"title": "券", "points_cost": "5"}),
    ("/desk/merchants/99999999999999/offers", {"title": "券", "points_cost": "5"}),
    ("/desk/offers/999999/active", {"active": "0"}),
    ("/desk/offers/OA/active", {"active": "maybe"}),
])
def test_malformed_merchant_forms_change_nothing(app, web, world, path, form):
    path = path.replace("MA", str(world.merchants["MA"])).replace("OA", str(world.offers["OA"]))
    form = {k: (world.units["A"] if v == "A" else v) for k, v in form.items()}
    web.login(world.staff_a)
    resp = web.post(path, form)
    assert resp.status_code in (302, 404)
    with app.app_context():
        assert db.session.scalar(select(func.count(Merchant.id))) == 2
        assert db.session.scalar(select(func.count(Offer.id))) == 2
        assert db.session.get(Offer, world.offers["OA"]).is_active


def test_a_deactivated_members_pending_hours_stay_in_the_queue(app, web, api, world):
    record = _logged(api, world.vol_a, ago=5)
    web.login(world.staff_a)
    web.post(f"/desk/members/{world.vol_a.id}/active", {"active": "0"})
    assert record in _listed(web.text(web.get("/desk/")))
    assert _status(app, record) == ("pending", None)
