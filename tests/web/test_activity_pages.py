"""Activity pages: members browse, sign up and check in; staff create, run, close and approve."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from timebank.errors import CheckInRefused
from timebank.extensions import db
from timebank.models import Activity, ActivitySignup, ServiceRecord, User
from timebank.models.base import utcnow
from timebank.services import activities, audit
from timebank.timeutil import local

# --- helpers ----------------------------------------------------------------------------


def _activity(app, world, *, capacity=10, starts_in=timedelta(hours=-1),
              length=timedelta(hours=2), unit="A1", by="staff_a", title="楼道清理") -> int:
    """An open activity made through the service (by default running now: check-in works)."""
    with app.app_context():
        staff = db.session.get(User, getattr(world, by).id)
        start = utcnow() + starts_in
        return activities.create_activity(
            actor=staff, title=title, category="cleanup", org_unit_id=world.units[unit],
            starts_at=start, ends_at=start + length, place="3号楼楼道", capacity=capacity,
            description="清理楼道杂物", organiser="阳光社区居委会", person_in_charge="陈主任").id


def _past(app, world, **kw) -> int:
    """An open activity of two hours that ended an hour ago (attendance is all in the past)."""
    return _activity(app, world, starts_in=timedelta(hours=-3), **kw)


def _code(app, world, activity_id: int, by="staff_a") -> str:
    with app.app_context():
        staff = db.session.get(User, getattr(world, by).id)
        return activities.checkin_code(activity_id, actor=staff).code


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def _signup(app, activity_id: int, person) -> dict | None:
    with app.app_context():
        row = activities.signup_of(activity_id, person.id)
        if row is None:
            return None
        return {"status": row.status, "in": row.checked_in_at, "out": row.checked_out_at,
                "in_by": row.checked_in_by_id, "record": row.service_record_id}


def _attend(app, world, activity_id: int, person, *, by="staff_a", minutes=120) -> None:
    """Attendance by hand from the activity's start, for `minutes`."""
    with app.app_context():
        activity = db.session.get(Activity, activity_id)
        activities.mark_attendance(
            activity_id, actor=db.session.get(User, getattr(world, by).id), member_id=person.id,
            checked_in_at=activity.starts_at,
            checked_out_at=activity.starts_at + timedelta(minutes=minutes))


def _status(app, activity_id: int) -> str:
    with app.app_context():
        return db.session.get(Activity, activity_id).status


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


def _english(web) -> None:
    """Text checks read the English wording, whatever the Chinese catalogue holds."""
    web.post("/language", {"lang": "en"})


def _flashes(page: str) -> str:
    """The text of the page's flash messages."""
    return " ".join(" ".join(re.sub(r"<[^>]+>", " ", m).split())
                    for m in re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', page, re.S))


def _local_input(app, moment) -> str:
    with app.app_context():
        return local(moment).strftime("%Y-%m-%dT%H:%M")


# --- who may open which page ----------------------------------------------------------------


MEMBER_PAGES = ["/activities/", "/activities/mine", "/activities/{id}",
                "/activities/{id}/check-in"]
STAFF_PAGES = ["/activities/manage", "/activities/new", "/activities/{id}/organise",
               "/activities/{id}/code.json", "/activities/{id}/close",
               "/activities/{id}/cancel", "/activities/{id}/screen"]


@pytest.mark.parametrize("path", MEMBER_PAGES)
@pytest.mark.parametrize("who, status", [
    ("vol_a", 200), ("vol_a2", 200), ("vol_b", 404), ("staff_a", 403), ("merchant_a", 403),
])
def test_member_pages_belong_to_members_of_the_community(app, web, world, path, who, status):
    activity_id = _activity(app, world)
    web.login(getattr(world, who))
    resp = web.get(path.format(id=activity_id))
    expected = 200 if status == 404 and "{id}" not in path else status
    assert resp.status_code == expected, path


@pytest.mark.parametrize("path", STAFF_PAGES)
@pytest.mark.parametrize("who, status", [
    ("staff_a", 200), ("admin", 200), ("staff_b", 403), ("vol_a", 403), ("merchant_a", 403),
])
def test_staff_pages_belong_to_staff_in_reach(app, web, world, path, who, status):
    activity_id = _activity(app, world)
    web.login(getattr(world, who))
    resp = web.get(path.format(id=activity_id))
    expected = 200 if who == "staff_b" and "{id}" not in path else status
    assert resp.status_code == expected, path


def test_signed_out_visitors_are_sent_to_sign_in_and_back(app, web, world):
    activity_id = _activity(app, world)
    resp = web.get(f"/activities/{activity_id}/check-in?code=123456")
    assert resp.status_code == 302 and "/login" in resp.location
    assert "check-in" in resp.location  # back to the scanned page after signing in


@pytest.mark.parametrize("path", [
    "/activities/999999", "/activities/99999999999999999999", "/activities/abc",
    "/activities/-1", "/activities/0/organise", "/activities/99999999999/code.json",
    "/activities/1.5/check-in",
])
def test_unknown_or_malformed_activity_ids_are_404(app, web, world, path):
    web.login(world.staff_a if "organise" in path or "json" in path else world.vol_a)
    assert web.get(path).status_code == 404


# --- members: browse, detail, sign up, waitlist ---------------------------------------------


def test_browse_lists_open_upcoming_activities_of_the_members_community(app, web, world):
    running = _activity(app, world, title="正在进行")
    later = _activity(app, world, starts_in=timedelta(days=2), title="周末义诊", unit="A2",
                      capacity=1)
    ended = _past(app, world, title="已经结束")
    foreign = _activity(app, world, by="staff_b", unit="B1", title="别的社区")
    called_off = _activity(app, world, title="取消了")
    with app.app_context():
        activities.cancel_activity(called_off, actor=db.session.get(User, world.staff_a.id))
        activities.sign_up(later, actor=db.session.get(User, world.vol_a2.id))
    web.login(world.vol_a)
    page = web.text(web.get("/activities/"))
    listed = {int(n) for n in re.findall(r'data-testid="activity-(\d+)"', page)}
    assert listed == {running, later}
    assert {ended, foreign, called_off}.isdisjoint(listed)
    assert "3号楼楼道" in page and "环境清洁" in page
    card = re.search(rf'data-testid="activity-{later}"(.*?)</a>', page, re.S).group(1)
    assert 'data-places="0"' in card  # full: the waitlist
    card = re.search(rf'data-testid="activity-{running}"(.*?)</a>', page, re.S).group(1)
    assert 'data-places="10"' in card
    with app.app_context():
        start = local(db.session.get(Activity, running).starts_at).strftime("%H:%M")
    assert start in card  # shown in the local zone
    # The member's own status shows in the list.
    web.post(f"/activities/{running}/sign-up")
    card = re.search(rf'data-testid="activity-{running}"(.*?)</a>',
                     web.text(web.get("/activities/")), re.S).group(1)
    assert 'data-status="registered"' in card and 'data-places="9"' in card


def test_the_activity_page_shows_the_record_fields(app, web, world):
    activity_id = _activity(app, world, length=timedelta(minutes=150))
    web.login(world.vol_a)
    page = web.text(web.get(f"/activities/{activity_id}"))
    for testid, text in [("title", "楼道清理"), ("place", "3号楼楼道"),
                         ("category", "环境清洁"), ("planned-hours", "2.50"),
                         ("organiser", "阳光社区居委会"), ("person-in-charge", "陈主任"),
                         ("content", "清理楼道杂物")]:
        assert re.search(rf'data-testid="{testid}"[^>]*>\s*{text}', page), testid
    with app.app_context():
        activity = db.session.get(Activity, activity_id)
        start, end = local(activity.starts_at), local(activity.ends_at)
    when = re.search(r'data-testid="when"[^>]*>(.*?)<', page).group(1)
    assert start.strftime("%H:%M") in when and end.strftime("%H:%M") in when
    assert f"{start.year}年{start.month}月{start.day}日" in when  # Chinese date


def test_sign_up_waitlist_and_cancel_with_promotion(app, web, web_factory, world):
    activity_id = _activity(app, world, capacity=1)
    first, second = web, web_factory()
    first.login(world.vol_a)
    second.login(world.vol_a2)
    _english(second)
    resp = first.post(f"/activities/{activity_id}/sign-up")
    assert resp.status_code == 302 and resp.location.endswith(f"/activities/{activity_id}")
    assert _signup(app, activity_id, world.vol_a)["status"] == "registered"
    page = second.text(second.get(f"/activities/{activity_id}"))
    assert "Join the waitlist" in page
    resp = second.post(f"/activities/{activity_id}/sign-up")
    page = second.text(second.follow(resp))
    assert "number 1 on the waitlist" in page
    assert _signup(app, activity_id, world.vol_a2)["status"] == "waitlisted"
    # Twice is refused with the reason; nothing changes.
    again = first.follow(first.post(f"/activities/{activity_id}/sign-up"))
    assert "已经报名" in _flashes(first.text(again))
    # The first cancels: the place goes to the waitlist.
    resp = first.post(f"/activities/{activity_id}/cancel-sign-up")
    assert resp.status_code == 302
    assert _signup(app, activity_id, world.vol_a)["status"] == "cancelled"
    assert _signup(app, activity_id, world.vol_a2)["status"] == "registered"
    page = second.text(second.get(f"/activities/{activity_id}"))
    assert "You have a place in this activity." in page
    # The first may sign up again, now at the end of the waitlist.
    first.post(f"/activities/{activity_id}/sign-up")
    assert _signup(app, activity_id, world.vol_a)["status"] == "waitlisted"


def test_cancelling_without_a_sign_up_is_refused_plainly(app, web, world):
    activity_id = _activity(app, world)
    web.login(world.vol_a)
    _english(web)
    page = web.text(web.follow(web.post(f"/activities/{activity_id}/cancel-sign-up")))
    assert "You are not signed up." in _flashes(page)
    assert _signup(app, activity_id, world.vol_a) is None


def test_a_member_of_another_community_gets_404_and_cannot_sign_up(app, web, world):
    activity_id = _activity(app, world)
    web.login(world.vol_b)
    assert web.get(f"/activities/{activity_id}").status_code == 404
    assert web.get(f"/activities/{activity_id}/check-in?code=123456").status_code == 404
    resp = web.post(f"/activities/{activity_id}/sign-up")
    assert resp.status_code in (302, 404)
    code = _code(app, world, activity_id)
    web.post(f"/activities/{activity_id}/check-in", {"code": code})
    assert _count(app, ActivitySignup) == 0


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(app, web, web_factory,
                                                                     world):
    activity_id = _activity(app, world)
    web.login(world.vol_a)
    resp = web.post(f"/activities/{activity_id}/sign-up", csrf=False)
    assert resp.status_code == 302
    assert "表单已过期" in web.text(web.follow(resp))
    assert _signup(app, activity_id, world.vol_a) is None
    web.post(f"/activities/{activity_id}/sign-up")
    code = _code(app, world, activity_id)
    web.post(f"/activities/{activity_id}/check-in", {"code": code}, csrf=False)
    assert _signup(app, activity_id, world.vol_a)["in"] is None
    staff = web_factory()
    staff.login(world.staff_a)
    staff.post(f"/activities/{activity_id}/close", csrf=False)
    staff.post(f"/activities/{activity_id}/cancel", csrf=False)
    assert _status(app, activity_id) == "open"


# --- members: check-in and check-out with the rotating code ------------------------------------


def test_check_in_and_out_with_the_current_code(app, web, world):
    activity_id = _activity(app, world)
    web.login(world.vol_a)
    web.post(f"/activities/{activity_id}/sign-up")
    code = _code(app, world, activity_id)
    # The scanned address opens the page with the code filled in: one press checks in.
    page = web.text(web.get(f"/activities/{activity_id}/check-in?code={code}"))
    field = re.search(r'<input[^>]*name="code"[^>]*>', page).group(0)
    assert f'value="{code}"' in field
    for attribute in ('inputmode="numeric"', 'autocomplete="one-time-code"', 'maxlength="6"'):
        assert attribute in field
    assert 'data-testid="check-in"' in page
    resp = web.post(f"/activities/{activity_id}/check-in", {"code": code})
    assert resp.status_code == 302
    assert resp.location.endswith(f"/activities/{activity_id}/check-in")  # the code is not kept
    page = web.text(web.follow(resp))
    assert 'data-state="checked-in"' in page and 'data-testid="check-out"' in page
    row = _signup(app, activity_id, world.vol_a)
    assert row["in"] is not None and row["out"] is None and row["in_by"] == world.vol_a.id
    # Checking in twice is harmless.
    web.post(f"/activities/{activity_id}/check-in", {"code": code})
    assert _signup(app, activity_id, world.vol_a)["in"] == row["in"]
    resp = web.post(f"/activities/{activity_id}/check-out",
                    {"code": _code(app, world, activity_id)})
    page = web.text(web.follow(resp))
    assert 'data-state="done"' in page
    assert _signup(app, activity_id, world.vol_a)["out"] is not None
    mine = web.text(web.get("/activities/mine"))
    assert f'data-testid="mine-{activity_id}"' in mine and 'data-attended="yes"' in mine


@pytest.mark.parametrize("typed", ["WRONG", "abcdef", "", "12345", "1234567", "１２３４５６",
                                   "x" * 5000])
def test_a_wrong_or_malformed_code_is_refused_with_the_reason_and_changes_nothing(
        app, web, world, typed):
    activity_id = _activity(app, world)
    web.login(world.vol_a)
    web.post(f"/activities/{activity_id}/sign-up")
    code = _code(app, world, activity_id)
    typed = _wrong(code) if typed == "WRONG" else typed
    resp = web.post(f"/activities/{activity_id}/check-in", {"code": typed})
    if typed == _wrong(code) or typed == "１２３４５６":
        # Six digits reach the service, which says why it refuses.
        assert resp.status_code == 302
        page = web.text(web.follow(resp))
        assert "签到码错误或已过期" in _flashes(page)
    else:
        assert resp.status_code == 422
        assert 'data-testid="error-code"' in web.text(resp)
    assert _signup(app, activity_id, world.vol_a)["in"] is None


def test_the_code_of_another_activity_or_a_stale_code_is_refused(app, web, world):
    activity_id = _activity(app, world)
    other_id = _activity(app, world)
    web.login(world.vol_a)
    web.post(f"/activities/{activity_id}/sign-up")
    with app.app_context():
        staff = db.session.get(User, world.staff_a.id)
        current = activities.checkin_code(activity_id, actor=staff).code
        stale = activities.checkin_code(activity_id, actor=staff,
                                        at=utcnow() - timedelta(minutes=10)).code
        foreign = activities.checkin_code(other_id, actor=staff).code
    for bad in {stale, foreign} - {current}:
        page = web.text(web.follow(web.post(f"/activities/{activity_id}/check-in",
                                            {"code": bad})))
        assert "签到码错误或已过期" in _flashes(page)
    assert _signup(app, activity_id, world.vol_a)["in"] is None


def test_check_in_outside_the_activity_time_is_refused(app, web, world):
    early = _activity(app, world, starts_in=timedelta(hours=3))
    ended = _activity(app, world, starts_in=timedelta(hours=-5))
    web.login(world.vol_a)
    _english(web)
    web.post(f"/activities/{early}/sign-up")
    with app.app_context():
        member = db.session.get(User, world.vol_a.id)
        db.session.add(ActivitySignup(activity_id=ended, member_id=member.id,
                                      status="registered"))
        db.session.commit()
    page = web.text(web.follow(web.post(f"/activities/{early}/check-in",
                                        {"code": _code(app, world, early)})))
    assert "Check-in opens 30 minutes before the start." in _flashes(page)
    page = web.text(web.follow(web.post(f"/activities/{ended}/check-in",
                                        {"code": _code(app, world, ended)})))
    assert "check-in is closed" in _flashes(page)
    assert _signup(app, early, world.vol_a)["in"] is None
    assert _signup(app, ended, world.vol_a)["in"] is None


def test_without_a_place_the_check_in_page_says_so_and_the_service_refuses(app, web,
                                                                             web_factory, world):
    activity_id = _activity(app, world, capacity=1)
    other = web_factory()
    other.login(world.vol_a2)
    other.post(f"/activities/{activity_id}/sign-up")
    web.login(world.vol_a)
    web.post(f"/activities/{activity_id}/sign-up")  # waitlisted
    page = web.text(web.get(f"/activities/{activity_id}/check-in"))
    assert 'data-state="no-place"' in page
    resp = web.post(f"/activities/{activity_id}/check-in",
                    {"code": _code(app, world, activity_id)})
    assert "没有该活动的名额" in _flashes(web.text(web.follow(resp)))
    assert _signup(app, activity_id, world.vol_a)["in"] is None


def test_full_width_digits_from_a_chinese_keyboard_are_read_as_digits(app, web, world):
    activity_id = _activity(app, world)
    web.login(world.vol_a)
    web.post(f"/activities/{activity_id}/sign-up")
    wide = "".join(chr(ord(d) + 0xFEE0) for d in _code(app, world, activity_id))
    resp = web.post(f"/activities/{activity_id}/check-in", {"code": f" {wide} "})
    assert resp.status_code == 302
    assert _signup(app, activity_id, world.vol_a)["in"] is not None
    # The service itself refuses such text plainly rather than failing on it.
    with app.app_context(), pytest.raises(CheckInRefused):
        activities.check_out(activity_id, member=db.session.get(User, world.vol_a.id),
                             code="１２３４５６")


def test_a_nul_character_in_the_code_is_refused(app, web, world):
    activity_id = _activity(app, world)
    web.login(world.vol_a)
    web.post(f"/activities/{activity_id}/sign-up")
    resp = web.post(f"/activities/{activity_id}/check-in", {"code": "12\x003456"})
    assert resp.status_code == 302
    assert _signup(app, activity_id, world.vol_a)["in"] is None


# --- staff: creating ---------------------------------------------------------------------------


def _new_form(app, world, **extra) -> dict:
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=1)
    return {"title": "周末义诊", "category": "cleanup", "org_unit_id": world.units["A2"],
            "starts_at": _local_input(app, start),
            "ends_at": _local_input(app, start + timedelta(hours=3)),
            "place": "社区卫生站", "capacity": "15", "description": "量血压、测血糖",
            "organiser": "", "person_in_charge": "", **extra}


def test_staff_create_an_activity_with_all_its_fields(app, web, world):
    web.login(world.staff_a)
    form_page = web.text(web.get("/activities/new"))
    units = re.search(r'<select[^>]*name="org_unit_id".*?</select>', form_page, re.S).group(0)
    assert "第一网格" in units and "第二网格" in units and "和谐社区" not in units
    assert "幸福街道" not in units.replace("幸福街道 / ", "")  # no street-level activities
    form = _new_form(app, world)
    resp = web.post("/activities/new", form)
    assert resp.status_code == 302, web.text(resp)[:3000]
    with app.app_context():
        activity = db.session.scalar(select(Activity))
        assert activity.title == "周末义诊" and activity.place == "社区卫生站"
        assert activity.capacity == 15 and activity.org_unit_id == world.units["A2"]
        assert activity.description == "量血压、测血糖"
        assert activity.organiser == "阳光社区"  # the community, when left empty
        assert activity.person_in_charge == "陈社工"  # the creator, when left empty
        assert local(activity.starts_at).strftime("%Y-%m-%dT%H:%M") == form["starts_at"]
        assert activity.ends_at - activity.starts_at == timedelta(hours=3)
        assert activity.created_by_id == world.staff_a.id and activity.status == "open"
    assert resp.location.endswith(f"/activities/{activity.id}/organise")
    page = web.text(web.follow(resp))
    assert "周末义诊" in page and re.search(r'data-testid="planned-hours">\s*3\.00', page)
    listed = web.text(web.get("/activities/manage"))
    assert f'data-testid="activity-{activity.id}"' in listed


@pytest.mark.parametrize("bad, field", [
    ({"title": ""}, "title"), ({"title": "   "}, "title"), ({"title": "x" * 201}, "title"),
    ({"place": ""}, "place"), ({"category": "nope"}, "category"),
    ({"org_unit_id": "B1"}, "org_unit_id"), ({"org_unit_id": "street"}, "org_unit_id"),
    ({"org_unit_id": "abc"}, "org_unit_id"), ({"org_unit_id": "99999999999999999999"},
                                              "org_unit_id"),
    ({"capacity": "0"}, "capacity"), ({"capacity": "-3"}, "capacity"),
    ({"capacity": "99999999999999999999999"}, "capacity"), ({"capacity": "abc"}, "capacity"),
    ({"capacity": ""}, "capacity"), ({"capacity": "1e3"}, "capacity"),
    ({"starts_at": ""}, "starts_at"), ({"starts_at": "2026-02-30T09:00"}, "starts_at"),
    ({"starts_at": "tomorrow"}, "starts_at"), ({"starts_at": "9999-12-31T23:59"}, "starts_at"),
    ({"ends_at": "0001-01-01T00:00"}, "ends_at"), ({"ends_at": "END_BEFORE"}, "ends_at"),
    ({"ends_at": "TOO_LONG"}, "ends_at"), ({"description": "x" * 5000}, "description"),
    ({"organiser": "x" * 101}, "organiser"),
])
def test_an_invalid_activity_form_says_why_next_to_the_field_and_saves_nothing(
        app, web, world, bad, field):
    form = _new_form(app, world)
    start = utcnow() + timedelta(days=1)
    replacements = {"B1": world.units["B1"], "street": world.units["street"],
                    "END_BEFORE": _local_input(app, start - timedelta(hours=1)),
                    "TOO_LONG": _local_input(app, start + timedelta(hours=30))}
    if bad.get("ends_at") in ("END_BEFORE", "TOO_LONG"):
        form["starts_at"] = _local_input(app, start)
    form.update({k: replacements.get(v, v) for k, v in bad.items()})
    web.login(world.staff_a)
    resp = web.post("/activities/new", form)
    assert resp.status_code == 422
    assert f'data-testid="error-{field}"' in web.text(resp)
    assert 'value="社区卫生站"' in web.text(resp) or field == "place"  # what was typed is kept
    assert _count(app, Activity) == 0


def test_a_form_missing_fields_or_with_nul_saves_nothing(app, web, world):
    web.login(world.staff_a)
    assert web.post("/activities/new", {}).status_code == 422
    form = _new_form(app, world, title="义诊\x00")
    assert web.post("/activities/new", form).status_code == 302
    assert _count(app, Activity) == 0


# --- staff: the list, reach ---------------------------------------------------------------------


def test_the_staff_list_shows_activities_in_reach_by_status(app, web, web_factory, world):
    mine = _activity(app, world, capacity=1)
    done = _past(app, world, title="已结束的")
    called_off = _activity(app, world, title="取消的")
    theirs = _activity(app, world, by="staff_b", unit="B1")
    with app.app_context():
        staff = db.session.get(User, world.staff_a.id)
        activities.close_activity(done, actor=staff)
        activities.cancel_activity(called_off, actor=staff)
        activities.sign_up(mine, actor=db.session.get(User, world.vol_a.id))
        activities.sign_up(mine, actor=db.session.get(User, world.vol_a2.id))

    def listed(page):
        return {int(n) for n in re.findall(r'<tr data-testid="activity-(\d+)"', page)}

    web.login(world.staff_a)
    page = web.text(web.get("/activities/manage"))
    assert listed(page) == {mine}
    row = re.search(rf'data-testid="activity-{mine}"(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-testid="registered">\s*1 / 1', row)
    assert re.search(r'data-testid="waitlisted">\s*1<', row)
    assert listed(web.text(web.get("/activities/manage?status=closed"))) == {done}
    assert listed(web.text(web.get("/activities/manage?status=cancelled"))) == {called_off}
    assert listed(web.text(web.get("/activities/manage?status=all"))) == {mine, done,
                                                                          called_off}
    for junk in ("status=nope", "status=" + "x" * 3000, "page=-1", "page=abc",
                 "page=99999999999999"):
        assert web.get(f"/activities/manage?{junk}").status_code == 200
    other = web_factory()
    other.login(world.staff_b)
    assert listed(other.text(other.get("/activities/manage?status=all"))) == {theirs}
    admin = web_factory()
    admin.login(world.admin)
    assert listed(admin.text(admin.get("/activities/manage?status=all"))) == {
        mine, done, called_off, theirs}


def test_staff_of_another_community_cannot_manage_the_activity(app, web, world):
    activity_id = _activity(app, world)
    with app.app_context():
        activities.sign_up(activity_id, actor=db.session.get(User, world.vol_a.id))
    web.login(world.staff_b)
    assert web.get(f"/activities/{activity_id}/organise").status_code == 403
    assert web.get(f"/activities/{activity_id}/code.json").status_code == 403
    now = utcnow()
    web.post(f"/activities/{activity_id}/attendance", {
        "member": str(world.vol_a.id), "checked_in_at": _local_input(app, now),
        "checked_out_at": _local_input(app, now)})
    web.post(f"/activities/{activity_id}/close")
    web.post(f"/activities/{activity_id}/cancel")
    assert _status(app, activity_id) == "open"
    assert _signup(app, activity_id, world.vol_a)["in"] is None


# --- staff: the organiser page ------------------------------------------------------------------


def test_the_organiser_page_shows_sign_ups_attendance_and_the_code(app, make, web, world):
    phoned = make.user(["volunteer"], world.units["A1"], username="phoned",
                       display_name="赵六", phone="13912345678")
    activity_id = _activity(app, world, capacity=1)
    with app.app_context():
        activities.sign_up(activity_id, actor=db.session.get(User, phoned.id))
        activities.sign_up(activity_id, actor=db.session.get(User, world.vol_a.id))
        activities.check_in(activity_id, member=db.session.get(User, phoned.id),
                            code=activities.checkin_code(
                                activity_id, actor=db.session.get(User, world.staff_a.id)).code)
    web.login(world.staff_a)
    page = web.text(web.get(f"/activities/{activity_id}/organise"))
    row = re.search(rf'data-testid="signup-{phoned.id}"(.*?)</tr>', page, re.S).group(1)
    assert "赵六" in row and "139****5678" in row and "13912345678" not in page
    assert 'data-status="registered"' in row
    assert re.search(r'data-testid="checked-in">\s*\d\d:\d\d', row)
    row = re.search(rf'data-testid="signup-{world.vol_a.id}"(.*?)</tr>', page, re.S).group(1)
    assert "张小三" in row and 'data-status="waitlisted"' in row
    # The code in large digits, its QR code with the member's check-in address, a countdown.
    code = _code(app, world, activity_id)
    shown = re.search(r'data-testid="checkin-code" data-code="(\d{6})"', page).group(1)
    assert shown == code or len(shown) == 6  # it may just have rotated
    url = re.search(r'data-testid="checkin-url">([^<]+)<', page).group(1)
    assert url == f"http://127.0.0.1:5000/activities/{activity_id}/check-in?code={shown}"
    assert "<svg" in re.search(r'data-testid="checkin-qr">(.*?)</div>', page, re.S).group(1)
    assert re.search(r'data-testid="code-countdown">\d:\d\d<', page)
    assert "activity-code.js" in page
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', page)
    assert not re.search(r"<script>(?!\s*</script>)", page)  # no inline code
    screen = web.text(web.get(f"/activities/{activity_id}/screen"))
    assert 'data-testid="checkin-code"' in screen


def test_the_code_endpoint_gives_the_current_code_and_its_qr(app, web, world):
    activity_id = _activity(app, world)
    web.login(world.staff_a)
    resp = web.get(f"/activities/{activity_id}/code.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert set(body) >= {"code", "rotates_at", "expires_at", "qr_svg", "url", "seconds_left"}
    assert body["code"] in {_code(app, world, activity_id),
                            _code(app, world, activity_id)}  # a rotation may fall between
    assert body["url"].endswith(f"/activities/{activity_id}/check-in?code={body['code']}")
    assert body["qr_svg"].startswith("<svg") and 1 <= body["seconds_left"] <= 60
    assert body["rotates_at"].endswith("+08:00")  # answered in the local zone
    with app.app_context():
        activities.cancel_activity(activity_id, actor=db.session.get(User, world.staff_a.id))
    resp = web.get(f"/activities/{activity_id}/code.json")
    assert resp.status_code == 409 and resp.get_json()["code"] == "invalid_transition"


def test_attendance_by_hand_is_audited_with_both_names(app, web, world):
    activity_id = _past(app, world)
    with app.app_context():
        activity = db.session.get(Activity, activity_id)
        start, end = activity.starts_at, activity.ends_at
    web.login(world.staff_a)
    page = web.text(web.get(f"/activities/{activity_id}/organise"))
    assert 'data-testid="attendance-form"' in page
    resp = web.post(f"/activities/{activity_id}/attendance", {
        "member": "", "other_member": str(world.vol_a2.id),
        "checked_in_at": _local_input(app, start + timedelta(minutes=5)),
        "checked_out_at": _local_input(app, end - timedelta(minutes=5))})
    assert resp.status_code == 302, web.text(resp)[:2000]
    row = _signup(app, activity_id, world.vol_a2)
    assert row["status"] == "registered" and row["in_by"] == world.staff_a.id
    with app.app_context():
        events = [e for e in audit.events_about("activity", activity_id)
                  if e.action == "activity.attendance.by_staff"]
        assert len(events) == 1
        assert events[0].actor_id == world.staff_a.id
        assert events[0].on_behalf_of_id == world.vol_a2.id
    page = web.text(web.follow(resp))
    item = re.search(r'data-action="activity.attendance.by_staff"(.*?)</li>', page, re.S).group(1)
    assert "陈社工" in item and "李四" in item
    row = re.search(rf'data-testid="signup-{world.vol_a2.id}"(.*?)</tr>', page, re.S).group(1)
    assert 'data-testid="by-staff"' in row
    assert re.search(r'data-testid="present">\s*1\.83', row)  # 110 minutes


@pytest.mark.parametrize("bad", [
    {"member": "", "other_member": ""},
    {"member": "999999"},
    {"member": "abc"},
    {"member": "", "other_member": "abc"},
    {"member": "", "other_member": "99999999999"},
    {"member": "", "other_member": "0"},
    {"member": "", "other_member": "VOL_B"},
    {"member": "", "other_member": "STAFF_A"},
    {"member": "", "other_member": "MERCHANT_A"},
    {"member": "", "other_member": "2147483000"},
    {"member": "VOL_A", "other_member": "VOL_A2"},
    {"checked_in_at": "OUT", "checked_out_at": "IN"},
    {"checked_in_at": "LONG_BEFORE"},
    {"checked_out_at": "FUTURE"},
    {"checked_in_at": ""},
    {"checked_out_at": "2026-13-01T09:00"},
    {"checked_in_at": "9999-01-01T00:00"},
])
def test_bad_attendance_by_hand_changes_nothing(app, web, world, bad):
    activity_id = _activity(app, world)
    with app.app_context():
        activities.sign_up(activity_id, actor=db.session.get(User, world.vol_a.id))
        activity = db.session.get(Activity, activity_id)
        start = activity.starts_at
    ids = {"VOL_A": world.vol_a.id, "VOL_A2": world.vol_a2.id, "VOL_B": world.vol_b.id,
           "STAFF_A": world.staff_a.id, "MERCHANT_A": world.merchant_a.id}
    times = {"IN": _local_input(app, start + timedelta(minutes=10)),
             "OUT": _local_input(app, start + timedelta(minutes=50)),
             "LONG_BEFORE": _local_input(app, start - timedelta(hours=5)),
             "FUTURE": _local_input(app, utcnow() + timedelta(hours=3))}
    form = {"member": str(world.vol_a.id), "other_member": "", "checked_in_at": times["IN"],
            "checked_out_at": times["OUT"]}
    form.update({k: str(ids.get(v, times.get(v, v))) for k, v in bad.items()})
    web.login(world.staff_a)
    resp = web.post(f"/activities/{activity_id}/attendance", form)
    assert resp.status_code in (302, 422)
    if resp.status_code == 422:
        assert 'data-testid="error-' in web.text(resp) or "alert-danger" in web.text(resp)
    assert _signup(app, activity_id, world.vol_a)["in"] is None
    assert _count(app, ActivitySignup) == 1


# --- staff: closing, cancelling, approving -------------------------------------------------------


def test_closing_makes_records_and_tells_who_was_not_credited(app, web, world):
    activity_id = _past(app, world)
    _attend(app, world, activity_id, world.vol_a, minutes=120)
    _attend(app, world, activity_id, world.vol_a2, minutes=30)  # 25%: not enough
    web.login(world.staff_a)
    _english(web)
    confirm = web.text(web.get(f"/activities/{activity_id}/close"))
    assert re.search(rf'data-testid="preview-{world.vol_a.id}".*?data-credited="yes"', confirm,
                     re.S)
    assert re.search(rf'data-testid="preview-{world.vol_a2.id}".*?data-credited="no"', confirm,
                     re.S)
    assert _status(app, activity_id) == "open"  # the confirmation page changes nothing
    resp = web.post(f"/activities/{activity_id}/close")
    assert resp.status_code == 302 and resp.location.endswith(f"/activities/{activity_id}/organise")
    page = web.text(web.follow(resp))
    flashes = _flashes(page)
    assert "1 records were made" in flashes
    assert "李四" in flashes and "less than 60%" in flashes
    assert _status(app, activity_id) == "closed"
    with app.app_context():
        made = db.session.scalars(select(ServiceRecord)).all()
        assert [(r.member_id, r.status, r.hours_minor, r.title, r.person_in_charge)
                for r in made] == [(world.vol_a.id, "pending", 200, "楼道清理", "陈主任")]
    row = re.search(rf'data-testid="signup-{world.vol_a2.id}"(.*?)</tr>', page, re.S).group(1)
    assert 'data-testid="not-credited"' in row
    assert f'data-testid="pending-{made[0].id}"' in page
    # Closing twice is refused with a message; nothing more is made.
    again = web.post(f"/activities/{activity_id}/close")
    assert "already been closed" in _flashes(web.text(web.follow(again)))
    assert "already been closed" in _flashes(web.text(web.get(
        f"/activities/{activity_id}/close", follow_redirects=True)))
    assert _count(app, ServiceRecord) == 1
    assert 'data-testid="attendance-form"' not in web.text(
        web.get(f"/activities/{activity_id}/organise"))


def test_closing_a_second_time_through_the_service_race_is_refused(app, web, world):
    activity_id = _past(app, world)
    web.login(world.staff_a)
    _english(web)
    web.get(f"/activities/{activity_id}/close")
    with app.app_context():
        activities.close_activity(activity_id, actor=db.session.get(User, world.admin.id))
    page = web.text(web.follow(web.post(f"/activities/{activity_id}/close")))
    assert "already been closed" in _flashes(page)


def test_cancelling_calls_the_activity_off_for_members(app, web, web_factory, world):
    activity_id = _activity(app, world)
    member = web_factory()
    member.login(world.vol_a)
    member.post(f"/activities/{activity_id}/sign-up")
    web.login(world.staff_a)
    assert 'data-testid="confirm-cancel"' in web.text(web.get(
        f"/activities/{activity_id}/cancel"))
    resp = web.post(f"/activities/{activity_id}/cancel")
    assert resp.status_code == 302
    assert _status(app, activity_id) == "cancelled"
    assert f'data-testid="activity-{activity_id}"' not in member.text(member.get("/activities/"))
    member.post(f"/activities/{activity_id}/check-in", {"code": "123456"})
    assert _signup(app, activity_id, world.vol_a)["in"] is None
    assert 'data-state="not-open"' in member.text(member.get(
        f"/activities/{activity_id}/check-in"))
    # Cancelled activities cannot be closed, and cancelling twice changes nothing.
    web.post(f"/activities/{activity_id}/close")
    web.post(f"/activities/{activity_id}/cancel")
    assert _status(app, activity_id) == "cancelled"
    assert _count(app, ServiceRecord) == 0


def test_bulk_approve_from_the_activity_page_credits_points(app, api, make, web, web_factory,
                                                            world):
    both = make.user(["staff", "volunteer"], world.units["A"], username="both",
                     display_name="王双岗")
    activity_id = _past(app, world)
    _attend(app, world, activity_id, world.vol_a, minutes=120)
    _attend(app, world, activity_id, world.vol_a2, minutes=90)
    _attend(app, world, activity_id, both, minutes=120)
    with app.app_context():
        activities.close_activity(activity_id, actor=db.session.get(User, world.staff_a.id))
        pending = activities.pending_records_of(db.session.get(Activity, activity_id))
        own = db.session.scalar(select(ServiceRecord.id)
                                .where(ServiceRecord.member_id == both.id))
    assert len(pending) == 3
    # A staff member who took part cannot approve their own hours; the others go through.
    web.login(both)
    _english(web)
    page = web.text(web.get(f"/activities/{activity_id}/organise"))
    assert 'data-testid="approve-form"' in page
    resp = web.post(f"/activities/{activity_id}/approve", {"ids": pending})
    assert resp.status_code == 302
    flashes = _flashes(web.text(web.follow(resp)))
    assert "2 approved, 1 failed." in flashes
    assert f"Record {own}: you cannot review your own hours" in flashes
    assert api.balance(world.vol_a) == "20.00"
    assert api.balance(world.vol_a2) == "15.00"
    assert api.balance(both) == "0.00"
    # Another staff member approves the rest; a record of another activity is not taken.
    other_record = api.log(world.vol_a, ago=30).get_json()["id"]
    staff = web_factory()
    staff.login(world.staff_a)
    _english(staff)
    resp = staff.post(f"/activities/{activity_id}/approve", {"ids": [own, other_record]})
    flashes = _flashes(staff.text(staff.follow(resp)))
    assert "1 approved, 1 failed." in flashes
    assert f"Record {other_record}: not a record of this activity" in flashes
    assert api.balance(both) == "20.00"
    with app.app_context():
        assert db.session.get(ServiceRecord, other_record).status == "pending"
    # The member sees the points and the approved record.
    member = web_factory()
    member.login(world.vol_a)
    mine = member.text(member.get("/activities/mine"))
    assert 'data-status="approved"' in mine and "+20.00" in mine
    assert re.search(r'data-testid="balance">\s*20\.00<', member.text(member.get("/me/")))


@pytest.mark.parametrize("ids", [[], [""], ["abc"], ["-4"], ["99999999999999999999"]])
def test_a_malformed_approval_changes_nothing(app, api, web, world, ids):
    activity_id = _past(app, world)
    _attend(app, world, activity_id, world.vol_a)
    with app.app_context():
        activities.close_activity(activity_id, actor=db.session.get(User, world.staff_a.id))
    web.login(world.staff_a)
    resp = web.post(f"/activities/{activity_id}/approve", {"ids": ids})
    assert resp.status_code == 302
    assert web.follow(resp).status_code == 200
    assert api.balance(world.vol_a) == "0.00"


def test_staff_of_another_community_cannot_approve_the_activitys_records(app, api, web, world):
    activity_id = _past(app, world)
    _attend(app, world, activity_id, world.vol_a)
    with app.app_context():
        activities.close_activity(activity_id, actor=db.session.get(User, world.staff_a.id))
        pending = activities.pending_records_of(db.session.get(Activity, activity_id))
    web.login(world.staff_b)
    web.post(f"/activities/{activity_id}/approve", {"ids": pending})
    assert api.balance(world.vol_a) == "0.00"
