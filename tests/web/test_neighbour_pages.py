"""The time-bank pages: requests for help, giving points, family links and the staff desk."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import (
    AuditEvent,
    FamilyLink,
    HelpRequest,
    PointsPolicy,
    ServiceRecord,
    Transfer,
    User,
)
from timebank.timeutil import today

PHONES = {"vol_a": "13800000001", "vol_a2": "13800000002", "vol_b": "13800000003"}


@pytest.fixture
def elder(make, world):
    return make.user(["volunteer"], world.units["A1"], username="elder", display_name="王奶奶",
                     phone="13800000009")


@pytest.fixture
def phones(app, world):
    with app.app_context():
        for name, phone in PHONES.items():
            db.session.get(User, getattr(world, name).id).phone = phone
        db.session.commit()
    return PHONES


def _login(web, person) -> None:
    """Sign this browser session in as the person, whoever was signed in before."""
    web.post("/logout")
    web._token = None
    web.login(person)


def _earn(api, member, staff, times: int = 1) -> None:
    """20.00 points per time: two approved hours on a day of their own."""
    for n in range(times):
        api.earn(member, staff, ago=3 + 30 * n)


def _day(app, days: int = 0) -> str:
    with app.app_context():
        return (today() + timedelta(days=days)).isoformat()


def _request_form(app, **extra) -> dict:
    return {"title": "陪同就医", "description": "周三上午去社区医院", "category": "cleanup",
            "day": _day(app), "time": "00:00", "offered_points": "5.00", **extra}


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


def _help_request(app, request_id: int) -> HelpRequest:
    with app.app_context():
        found = db.session.get(HelpRequest, request_id)
        db.session.expunge(found)
        return found


def _only_request_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(HelpRequest.id))


def _posted(web, app, who, **extra) -> int:
    """Post a request through the page as `who`; the new request's id."""
    _login(web, who)
    resp = web.post("/neighbours/new", _request_form(app, **extra))
    assert resp.status_code == 302, web.text(resp)[-2000:]
    found = re.search(r"/neighbours/requests/(\d+)$", resp.location)
    assert found, resp.location
    return int(found.group(1))


def _ids(page: str, prefix: str) -> set[int]:
    return {int(n) for n in re.findall(rf'data-testid="{prefix}-(\d+)"', page)}


def _section(page: str, testid: str) -> str:
    found = re.search(rf'<ul class="[^"]*" data-testid="{testid}">(.*?)</ul>', page, re.S)
    return found.group(1) if found else ""


def _flashes(page: str) -> str:
    return " ".join(re.findall(r'<div class="alert[^"]*"[^>]*role="alert"[^>]*>(.*?)</div>',
                               page, re.S))


def _record_of(app, member) -> tuple[int, str]:
    with app.app_context():
        record = db.session.scalar(select(ServiceRecord)
                                   .where(ServiceRecord.member_id == member.id))
        return record.id, record.status


def _policy(app, unit_id: int) -> tuple[str, int, int] | None:
    with app.app_context():
        row = db.session.scalar(select(PointsPolicy)
                                .where(PointsPolicy.org_unit_id == unit_id)
                                .order_by(PointsPolicy.effective_from.desc()))
        return None if row is None else (row.transfer_mode, row.per_transfer_limit_minor,
                                         row.monthly_transfer_limit_minor)


def _set_policy(web, staff, unit_id: int, mode: str, per: str = "50.00", month: str = "80.00"):
    _login(web, staff)
    resp = web.post(f"/neighbours/desk/policy/{unit_id}",
                    {"mode": mode, "per_transfer_limit": per, "monthly_limit": month})
    assert resp.status_code == 302, web.text(resp)[-2000:]


# --- who may open which page ----------------------------------------------------------------


MEMBER_PAGES = ["/neighbours/", "/neighbours/new", "/neighbours/give", "/neighbours/family"]
DESK_PAGES = ["/neighbours/desk", "/neighbours/desk/members", "/neighbours/desk/links",
              "/neighbours/desk/policy"]


@pytest.mark.parametrize("path", MEMBER_PAGES)
@pytest.mark.parametrize("who, status", [
    ("vol_a", 200), ("vol_a2", 200), ("merchant_a", 403), ("staff_a", 302), ("admin", 302),
])
def test_member_pages_belong_to_volunteers_and_gridworkers(web, world, path, who, status):
    _login(web, getattr(world, who))
    resp = web.get(path)
    assert resp.status_code == status
    if status == 302:  # staff have the desk instead
        assert resp.location.endswith("/neighbours/desk")


@pytest.mark.parametrize("path", DESK_PAGES)
@pytest.mark.parametrize("who, status", [
    ("vol_a", 403), ("merchant_a", 403), ("staff_a", 200), ("admin", 200),
])
def test_desk_pages_belong_to_staff_and_admins(web, world, path, who, status):
    _login(web, getattr(world, who))
    assert web.get(path).status_code == status


@pytest.mark.parametrize("path", MEMBER_PAGES + DESK_PAGES + ["/neighbours/requests/1"])
def test_signed_out_visitors_are_sent_to_sign_in(web, path):
    resp = web.get(path)
    assert resp.status_code == 302 and "/login" in resp.location


def test_the_menu_links_to_the_time_bank_pages(web, world):
    _login(web, world.vol_a)
    page = web.text(web.get("/me/"))
    assert 'href="/neighbours/"' in page and 'href="/neighbours/give"' in page
    _login(web, world.staff_a)
    assert 'href="/neighbours/desk"' in web.text(web.get("/desk/"))


# --- requests for help: the whole loop ------------------------------------------------------


def test_posting_a_request_holds_the_offered_points_at_once(app, web, api, world, elder):
    _earn(api, elder, world.staff_a)
    _login(web, elder)
    form = web.text(web.get("/neighbours/new"))
    assert re.search(r'data-testid="balance">\s*20\.00<', form)
    assert 'data-testid="hold-note"' in form
    request_id = _posted(web, app, elder, offered_points="5.50")
    assert api.balance(elder) == "14.50"
    detail = web.text(web.get(f"/neighbours/requests/{request_id}"))
    assert re.search(r'data-testid="offered">\s*5\.50<', detail)
    assert 'data-testid="cancel"' in detail and 'data-testid="claim"' not in detail
    req = _help_request(app, request_id)
    assert (req.status, req.beneficiary_id, req.created_by_id) == ("open", elder.id, elder.id)
    assert req.org_unit_id == world.units["A1"] and req.offered_points_minor == 550
    mine = web.text(web.get("/neighbours/"))
    assert request_id in _ids(_section(mine, "my-requests"), "request")
    assert request_id in _ids(_section(mine, "open-requests"), "request")
    assert 'data-testid="yours"' in mine
    assert re.search(r'data-testid="balance">\s*14\.50<', mine)


def test_an_offer_without_points_and_an_empty_offer_field_hold_nothing(app, web, api, world,
                                                                      elder):
    request_id = _posted(web, app, elder, offered_points="")
    assert _help_request(app, request_id).offered_points_minor == 0
    assert api.balance(elder) == "0.00"


def test_claim_confirm_approve_pays_the_helper_the_offered_points(app, web, web_factory, api,
                                                                  world, elder):
    _earn(api, elder, world.staff_a)
    request_id = _posted(web, app, elder, offered_points="5.00")

    helper = web_factory()
    _login(helper, world.vol_a)
    listing = helper.text(helper.get("/neighbours/"))
    item = _section(listing, "open-requests")
    assert request_id in _ids(item, "request")
    assert "王*奶" in item and "王奶奶" not in listing  # the beneficiary's name is masked
    assert f'data-testid="claim-{request_id}"' in listing
    resp = helper.post(f"/neighbours/requests/{request_id}/claim")
    assert resp.status_code == 302
    req = _help_request(app, request_id)
    assert (req.status, req.helper_id) == ("claimed", world.vol_a.id)
    listing = helper.text(helper.get("/neighbours/"))
    assert request_id in _ids(_section(listing, "taken-requests"), "request")
    assert request_id not in _ids(_section(listing, "open-requests"), "request")

    late = web_factory()
    _login(late, world.vol_a2)
    resp = late.post(f"/neighbours/requests/{request_id}/claim")
    assert resp.status_code == 302
    assert "该需求已被其他人认领" in late.text(late.follow(resp))
    assert _help_request(app, request_id).helper_id == world.vol_a.id

    _login(web, elder)
    detail = web.text(web.get(f"/neighbours/requests/{request_id}"))
    assert 'data-testid="confirm-form"' in detail
    assert detail.count('type="radio"') == 5 and 'name="rating"' in detail
    assert "张*三" in detail  # the helper, masked for the beneficiary too
    resp = web.post(f"/neighbours/requests/{request_id}/complete",
                    {"rating": "4", "comment": "很耐心，谢谢"})
    assert resp.status_code == 302
    detail = web.text(web.follow(resp))
    assert 'data-testid="waiting-approval"' in detail
    assert re.search(r'data-testid="rating">4<', detail) and "很耐心，谢谢" in detail
    req = _help_request(app, request_id)
    assert (req.status, req.rating, req.completed_by_id) == ("completed", 4, elder.id)
    record_id, status = _record_of(app, world.vol_a)
    assert status == "pending"
    assert api.balance(world.vol_a) == "0.00" and api.balance(elder) == "15.00"

    desk = web_factory()
    _login(desk, world.staff_a)
    desk.get("/desk/")
    assert desk.post("/desk/review", {"ids": [record_id], "action": "approve"}
                     ).status_code == 302
    assert _record_of(app, world.vol_a)[1] == "approved"
    assert api.balance(world.vol_a) == "15.00"  # 1 h × 10.00 for the hours, 5.00 offered
    assert api.balance(elder) == "15.00"
    assert 'data-testid="paid"' in web.text(web.get(f"/neighbours/requests/{request_id}"))
    assert "邻里互助积分" in helper.text(helper.get("/me/transactions"))


def test_cancelling_returns_the_held_points_and_only_the_beneficiary_may(app, web, web_factory,
                                                                         api, world, elder):
    _earn(api, elder, world.staff_a)
    request_id = _posted(web, app, elder, offered_points="8.00")
    assert api.balance(elder) == "12.00"
    other = web_factory()
    _login(other, world.vol_a2)
    assert other.post(f"/neighbours/requests/{request_id}/cancel").status_code == 302
    other.post(f"/neighbours/requests/{request_id}/claim")
    assert other.post(f"/neighbours/requests/{request_id}/cancel").status_code == 302
    assert _help_request(app, request_id).status == "claimed"  # the helper cannot cancel
    assert api.balance(elder) == "12.00"
    resp = web.post(f"/neighbours/requests/{request_id}/cancel")
    assert resp.status_code == 302
    assert _help_request(app, request_id).status == "cancelled"
    assert api.balance(elder) == "20.00"
    assert 'data-testid="returned"' in web.text(web.get(f"/neighbours/requests/{request_id}"))
    again = web.post(f"/neighbours/requests/{request_id}/cancel")
    assert again.status_code == 302
    assert api.balance(elder) == "20.00"


def test_the_helper_may_give_a_request_back_for_another_to_take(app, web, web_factory, world,
                                                                 elder):
    request_id = _posted(web, app, elder, offered_points="")
    helper = web_factory()
    _login(helper, world.vol_a)
    helper.post(f"/neighbours/requests/{request_id}/claim")
    assert 'data-testid="release"' in helper.text(helper.get(f"/neighbours/requests/{request_id}"))
    assert helper.post(f"/neighbours/requests/{request_id}/release").status_code == 302
    assert _help_request(app, request_id).status == "open"
    other = web_factory()
    _login(other, world.vol_a2)
    other.post(f"/neighbours/requests/{request_id}/claim")
    assert _help_request(app, request_id).helper_id == world.vol_a2.id


def test_too_few_points_for_the_offer_are_told_on_the_field_and_nothing_is_saved(
        app, web, api, world, elder):
    _earn(api, elder, world.staff_a)
    _login(web, elder)
    resp = web.post("/neighbours/new", _request_form(app, offered_points="20.01"))
    assert resp.status_code == 422
    page = web.text(resp)
    error = re.search(r'data-testid="error-offered_points">(.*?)</div>\s*</div>', page, re.S)
    assert error and "20.00" in error.group(1)
    assert 'value="陪同就医"' in page  # what was typed is kept
    assert _count(app, HelpRequest) == 0 and api.balance(elder) == "20.00"


@pytest.mark.parametrize("bad, field", [
    ({"offered_points": "1.234"}, "offered_points"),
    ({"offered_points": "-5"}, "offered_points"),
    ({"offered_points": "abc"}, "offered_points"),
    ({"offered_points": "1e999999"}, "offered_points"),
    ({"offered_points": "99999999999999999999"}, "offered_points"),
    ({"offered_points": "NaN"}, "offered_points"),
    ({"offered_points": "Infinity"}, "offered_points"),
    ({"day": "2024-13-45"}, "day"),
    ({"day": "abc"}, "day"),
    ({"day": ""}, "day"),
    ({"day": "0001-01-01"}, "day"),
    ({"day": "9999-12-31"}, "day"),
    ({"day": "PAST"}, "day"),
    ({"day": "FAR"}, "day"),
    ({"time": "25:00"}, "time"),
    ({"time": "noon"}, "time"),
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"description": "x" * 2001}, "description"),
    ({"category": "nope"}, "category"),
    ({"category": ""}, "category"),
])
def test_malformed_request_forms_are_told_on_the_field_and_hold_nothing(app, web, api, world,
                                                                        elder, bad, field):
    _earn(api, elder, world.staff_a)
    if bad.get("day") == "PAST":
        bad = {"day": _day(app, -30)}
    elif bad.get("day") == "FAR":
        bad = {"day": _day(app, 400)}
    _login(web, elder)
    resp = web.post("/neighbours/new", _request_form(app, **bad))
    assert resp.status_code == 422
    assert f'data-testid="error-{field}"' in web.text(resp)
    assert _count(app, HelpRequest) == 0
    assert api.balance(elder) == "20.00"


def test_a_nul_character_saves_nothing(app, web, world, elder):
    _login(web, elder)
    resp = web.post("/neighbours/new", _request_form(app, title="陪同\x00就医"))
    assert resp.status_code == 302
    assert _count(app, HelpRequest) == 0


@pytest.mark.parametrize("form", [
    {}, {"rating": ""}, {"rating": "0"}, {"rating": "6"}, {"rating": "abc"}, {"rating": "4.5"},
    {"rating": "-1"}, {"rating": "99999999999999999999"}, {"rating": "5", "comment": "x" * 2001},
])
def test_a_malformed_rating_confirms_nothing(app, web, web_factory, api, world, elder, form):
    _earn(api, elder, world.staff_a)
    request_id = _posted(web, app, elder)
    helper = web_factory()
    _login(helper, world.vol_a)
    helper.post(f"/neighbours/requests/{request_id}/claim")
    resp = web.post(f"/neighbours/requests/{request_id}/complete", form)
    assert resp.status_code == 422
    page = web.text(resp)
    assert 'data-testid="error-rating"' in page or 'data-testid="error-comment"' in page
    assert _help_request(app, request_id).status == "claimed"
    assert _count(app, ServiceRecord) == 1  # only the elder's earned hours
    assert api.balance(elder) == "15.00"


def test_the_helper_cannot_confirm_their_own_help(app, web, web_factory, world, elder):
    request_id = _posted(web, app, elder, offered_points="")
    helper = web_factory()
    _login(helper, world.vol_a)
    helper.post(f"/neighbours/requests/{request_id}/claim")
    assert 'data-testid="confirm-form"' not in helper.text(
        helper.get(f"/neighbours/requests/{request_id}"))
    resp = helper.post(f"/neighbours/requests/{request_id}/complete", {"rating": "5"})
    assert resp.status_code == 302
    assert _help_request(app, request_id).status == "claimed"


# --- reach --------------------------------------------------------------------------------


def test_requests_stay_within_their_community_and_the_staff_reach(app, web, web_factory, world,
                                                                  elder):
    request_id = _posted(web, app, elder, offered_points="")
    outsider = web_factory()
    _login(outsider, world.vol_b)
    assert request_id not in _ids(outsider.text(outsider.get("/neighbours/")), "request")
    assert outsider.get(f"/neighbours/requests/{request_id}").status_code == 404
    assert outsider.post(f"/neighbours/requests/{request_id}/claim").status_code == 302
    assert _help_request(app, request_id).status == "open"
    other_staff = web_factory()
    _login(other_staff, world.staff_b)
    assert request_id not in _ids(other_staff.text(other_staff.get("/neighbours/desk")),
                                  "request")
    assert other_staff.get(f"/neighbours/requests/{request_id}").status_code == 404
    assert other_staff.post(f"/neighbours/requests/{request_id}/cancel").status_code == 302
    assert _help_request(app, request_id).status == "open"
    for path in ("/neighbours/requests/99999", "/neighbours/requests/99999999999999",
                 "/neighbours/requests/abc", "/neighbours/requests/-1"):
        assert web.get(path).status_code == 404, path
    assert web.post("/neighbours/requests/99999/claim").status_code == 302


def test_the_desk_lists_requests_in_reach_by_status(app, web, web_factory, world, elder):
    open_a = _posted(web, app, elder, offered_points="")
    claimed_a = _posted(web, app, elder, offered_points="", title="修水管")
    open_b = _posted(web_factory(), app, world.vol_b, offered_points="")
    helper = web_factory()
    _login(helper, world.vol_a)
    helper.post(f"/neighbours/requests/{claimed_a}/claim")
    desk = web_factory()
    _login(desk, world.staff_a)
    page = desk.text(desk.get("/neighbours/desk"))
    assert _ids(page, "request") == {open_a}
    assert "王奶奶" in page  # staff see the names in full
    assert _ids(desk.text(desk.get("/neighbours/desk?status=claimed")), "request") == {
        claimed_a}
    assert f'data-testid="confirm-{claimed_a}"' in desk.text(
        desk.get("/neighbours/desk?status=claimed"))
    assert _ids(desk.text(desk.get("/neighbours/desk?status=all")), "request") == {
        open_a, claimed_a}
    for junk in ("status=nope", "status=" + "x" * 3000, "page=abc", "page=-1", "page=0",
                 "page=99999999999"):
        resp = desk.get(f"/neighbours/desk?{junk}")
        assert resp.status_code == 200, junk
    assert _ids(desk.text(desk.get("/neighbours/desk?status=nope")), "request") == {open_a}
    admin = web_factory()
    _login(admin, world.admin)
    assert _ids(admin.text(admin.get("/neighbours/desk")), "request") == {open_a, open_b}


def test_long_lists_are_paged(app, web, web_factory, world, elder):
    from timebank.models.base import utcnow
    from timebank.services import helping

    with app.app_context():
        ids = [helping.post_request(
            actor=db.session.get(User, elder.id), title=f"求助{n}", description="",
            category="cleanup", org_unit_id=world.units["A1"],
            needed_at=utcnow() + timedelta(hours=n + 1)).id for n in range(22)]
    _login(web, world.vol_a)
    first = _ids(_section(web.text(web.get("/neighbours/")), "open-requests"), "request")
    second = _ids(_section(web.text(web.get("/neighbours/?page=2")), "open-requests"),
                  "request")
    assert len(first) == 20 and len(second) == 2 and first | second == set(ids)
    assert 'class="pagination' in web.text(web.get("/neighbours/"))
    desk = web_factory()
    _login(desk, world.staff_a)
    assert len(_ids(desk.text(desk.get("/neighbours/desk")), "request")) == 22
    assert 'class="pagination' not in desk.text(desk.get("/neighbours/desk"))


# --- staff acting for an elder --------------------------------------------------------------


def test_staff_post_and_confirm_for_an_elder_and_the_history_names_both(
        app, web, web_factory, api, world, elder):
    _earn(api, elder, world.staff_a)
    _login(web, world.staff_a)
    members = web.text(web.get("/neighbours/desk/members?q=王奶奶"))
    assert f'data-testid="ask-for-{elder.id}"' in members
    form = web.text(web.get(f"/neighbours/desk/members/{elder.id}/request"))
    assert "王奶奶" in form and re.search(r'data-testid="balance">\s*20\.00<', form)
    resp = web.post(f"/neighbours/desk/members/{elder.id}/request",
                    _request_form(app, offered_points="6.00"))
    assert resp.status_code == 302
    request_id = _only_request_id(app)
    req = _help_request(app, request_id)
    assert (req.beneficiary_id, req.created_by_id) == (elder.id, world.staff_a.id)
    assert api.balance(elder) == "14.00"  # held from the elder, not from the staff member

    helper = web_factory()
    _login(helper, world.vol_a)
    helper.post(f"/neighbours/requests/{request_id}/claim")
    detail = web.text(web.get(f"/neighbours/requests/{request_id}"))
    assert 'data-testid="confirm-form"' in detail and 'data-testid="cancel"' in detail
    resp = web.post(f"/neighbours/requests/{request_id}/complete", {"rating": "5"})
    assert resp.status_code == 302
    req = _help_request(app, request_id)
    assert (req.status, req.rating, req.completed_by_id) == ("completed", 5, world.staff_a.id)

    with app.app_context():
        events = {e.action: (e.actor_id, e.on_behalf_of_id) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.subject_type == "help_request",
                                     AuditEvent.subject_id == request_id))}
    assert events["help_request.post"] == (world.staff_a.id, elder.id)
    assert events["help_request.complete"] == (world.staff_a.id, elder.id)
    history = web.text(web.get(f"/neighbours/requests/{request_id}"))
    rows = re.findall(r'<li class="list-group-item" data-testid="event">(.*?)</li>', history,
                      re.S)
    assert len(rows) == 3
    assert all("陈社工" in row and "王奶奶" in row for row in (rows[0], rows[2]))
    # the elder's own page does not show the staff trail
    elder_page = web_factory()
    _login(elder_page, elder)
    assert 'data-testid="events"' not in elder_page.text(
        elder_page.get(f"/neighbours/requests/{request_id}"))


def test_staff_cancel_for_an_elder_and_the_points_go_back(app, web, api, world, elder):
    _earn(api, elder, world.staff_a)
    _login(web, world.staff_a)
    web.post(f"/neighbours/desk/members/{elder.id}/request",
             _request_form(app, offered_points="6.00"))
    request_id = _only_request_id(app)
    assert web.post(f"/neighbours/requests/{request_id}/cancel").status_code == 302
    assert _help_request(app, request_id).status == "cancelled"
    assert api.balance(elder) == "20.00"


def test_staff_cannot_act_for_members_out_of_reach(app, web, api, world, elder):
    _earn(api, elder, world.staff_a)
    _login(web, world.staff_b)
    assert elder.id not in _ids(web.text(web.get("/neighbours/desk/members")), "member")
    assert web.get(f"/neighbours/desk/members/{elder.id}/request").status_code == 403
    assert web.get(f"/neighbours/desk/members/{elder.id}/give").status_code == 403
    assert web.get("/neighbours/desk/members/99999/request").status_code == 404
    resp = web.post(f"/neighbours/desk/members/{elder.id}/request", _request_form(app))
    assert resp.status_code in (302, 403)
    assert _count(app, HelpRequest) == 0 and api.balance(elder) == "20.00"
    # nor for fellow staff, who take no part in the time bank
    _login(web, world.staff_a)
    assert web.get(f"/neighbours/desk/members/{world.staff_a.id}/request").status_code == 403


# --- giving points: the policy --------------------------------------------------------------


def test_with_giving_switched_off_there_is_no_form_and_a_post_moves_nothing(
        app, web, api, world, phones):
    _earn(api, world.vol_a, world.staff_a)
    _login(web, world.vol_a)
    page = web.text(web.get("/neighbours/give"))
    assert 'data-testid="giving-off"' in page and 'data-testid="give-form"' not in page
    for form in ({"phone": phones["vol_a2"], "amount": "5.00", "confirmed": "1"},
                 {"to_member_id": world.vol_a2.id, "amount": "5.00"}):
        assert web.post("/neighbours/give", form).status_code == 302
    assert _count(app, Transfer) == 0 and api.balance(world.vol_a) == "20.00"


def test_family_giving_needs_a_link_confirmed_by_staff_within_the_limits(
        app, web, web_factory, api, world, phones):
    _earn(api, world.vol_a, world.staff_a, times=5)  # 100.00
    desk = web_factory()
    _set_policy(desk, world.staff_a, world.units["A"], "family")
    assert _policy(app, world.units["A"]) == ("family", 5000, 8000)
    _login(web, world.vol_a)
    page = web.text(web.get("/neighbours/give"))
    assert 'data-testid="no-family"' in page
    assert re.search(r'data-testid="per-transfer-limit">\s*50\.00<', page)
    assert re.search(r'data-testid="left-this-month">\s*80\.00<', page)
    resp = web.post("/neighbours/give", {"to_member_id": world.vol_a2.id, "amount": "5.00"})
    assert resp.status_code == 422
    assert _count(app, Transfer) == 0

    resp = web.post("/neighbours/family", {"phone": phones["vol_a2"], "relation": "spouse"})
    assert resp.status_code == 302
    with app.app_context():
        link = db.session.scalar(select(FamilyLink))
        link_id = link.id
        assert (link.status, link.relation, link.requested_by_id) == (
            "pending", "spouse", world.vol_a.id)
    family = web.text(web.get("/neighbours/family"))
    assert f'data-testid="link-{link_id}"' in family and "李*" in family
    assert 'data-testid="no-family"' in web.text(web.get("/neighbours/give"))  # still pending

    other_desk = web_factory()
    _login(other_desk, world.staff_b)
    assert link_id not in _ids(other_desk.text(other_desk.get("/neighbours/desk/links")),
                               "link")
    assert other_desk.post(f"/neighbours/desk/links/{link_id}/confirm").status_code == 302
    assert other_desk.post(f"/neighbours/family/{link_id}/revoke").status_code == 302
    with app.app_context():
        assert db.session.get(FamilyLink, link_id).status == "pending"
    links = desk.text(desk.get("/neighbours/desk/links"))
    assert link_id in _ids(_section(links, "pending-links"), "link")
    assert "张小三" in links and "李四" in links
    assert desk.post(f"/neighbours/desk/links/{link_id}/confirm").status_code == 302
    with app.app_context():
        assert db.session.get(FamilyLink, link_id).status == "confirmed"
    assert link_id in _ids(_section(desk.text(desk.get("/neighbours/desk/links")),
                                    "confirmed-links"), "link")

    page = web.text(web.get("/neighbours/give"))
    assert 'data-testid="give-form"' in page and f'value="{world.vol_a2.id}"' in page
    resp = web.post("/neighbours/give", {"to_member_id": world.vol_a2.id, "amount": "10.00",
                                         "memo": "给你买菜"})
    assert resp.status_code == 302
    assert api.balance(world.vol_a) == "90.00" and api.balance(world.vol_a2) == "10.00"

    too_big = web.post("/neighbours/give", {"to_member_id": world.vol_a2.id, "amount": "60.00"})
    assert too_big.status_code == 422
    assert "每次最多 50.00 积分" in web.text(too_big)
    assert 'data-testid="error-amount"' in web.text(too_big)
    assert web.post("/neighbours/give", {"to_member_id": world.vol_a2.id, "amount": "50.00"}
                    ).status_code == 302
    over_month = web.post("/neighbours/give", {"to_member_id": world.vol_a2.id,
                                               "amount": "30.00"})
    assert over_month.status_code == 422
    assert "每月最多 80.00 积分；本月还可转赠 20.00" in web.text(over_month)
    assert re.search(r'data-testid="left-this-month">\s*20\.00<', web.text(over_month))
    assert api.balance(world.vol_a) == "40.00" and api.balance(world.vol_a2) == "60.00"
    assert _count(app, Transfer) == 2

    # both see the gifts, with the other's name masked; the ledger history has them too
    mine = web.text(web.get("/neighbours/give"))
    assert len(re.findall(r'data-testid="gift-amount">-', mine)) == 2
    assert "李*" in mine and "给你买菜" in mine
    theirs = web_factory()
    _login(theirs, world.vol_a2)
    received = theirs.text(theirs.get("/neighbours/give"))
    assert re.findall(r'data-testid="gift-amount">([^<]+)<', received) == ["+50.00", "+10.00"]
    assert "张*三" in received and "张小三" not in received
    for session in (web, theirs):
        assert "成员间转赠积分" in session.text(session.get("/me/transactions"))

    # the relative ends the link: family giving stops
    assert theirs.post(f"/neighbours/family/{link_id}/revoke").status_code == 302
    with app.app_context():
        assert db.session.get(FamilyLink, link_id).status == "revoked"
    assert 'data-testid="no-family"' in web.text(web.get("/neighbours/give"))
    assert web.post("/neighbours/give", {"to_member_id": world.vol_a2.id, "amount": "1.00"}
                    ).status_code == 422
    assert _count(app, Transfer) == 2


def test_giving_to_anyone_in_the_street_goes_by_phone_with_a_confirmation_step(
        app, web, web_factory, api, world, make, phones):
    _earn(api, world.vol_a, world.staff_a, times=2)
    _set_policy(web_factory(), world.admin, world.units["street"], "any", "30.00", "100.00")
    far_street = make.unit("street", "平安街道")
    make.user(["volunteer"], make.unit("community", "新村社区", far_street),
              display_name="孙八", phone="13900000003")
    _login(web, world.vol_a)
    page = web.text(web.get("/neighbours/give"))
    assert 'data-testid="give-form"' in page and 'name="phone"' in page

    step = web.post("/neighbours/give", {"phone": phones["vol_b"], "amount": "12.50",
                                         "memo": "谢谢帮忙"})
    assert step.status_code == 200
    check = web.text(step)
    assert 'data-testid="confirm-step"' in check
    assert "A**** S****" in check and "Alice Smith" not in check
    assert "12.50" in check and "138****0003" in check
    assert _count(app, Transfer) == 0
    resp = web.post("/neighbours/give", {"phone": phones["vol_b"], "amount": "12.50",
                                         "memo": "谢谢帮忙", "confirmed": "1"})
    assert resp.status_code == 302
    assert api.balance(world.vol_a) == "27.50" and api.balance(world.vol_b) == "12.50"
    assert "A**** S****" in web.text(web.get("/neighbours/give"))
    other = web_factory()
    _login(other, world.vol_b)
    assert "张*三" in other.text(other.get("/neighbours/give"))

    for phone in ("13900000003", "13899999999", phones["vol_a"], "abc", "",
                  "1" * 30):
        for confirmed in ("", "1"):
            resp = web.post("/neighbours/give", {"phone": phone, "amount": "1.00",
                                                 "confirmed": confirmed})
            assert resp.status_code == 422, phone
            assert 'data-testid="error-phone"' in web.text(resp)
    resp = web.post("/neighbours/give", {"phone": phones["vol_b"], "amount": "30.01",
                                         "confirmed": "1"})
    assert resp.status_code == 422 and "每次最多 30.00 积分" in web.text(resp)
    assert _count(app, Transfer) == 1


def test_a_community_rule_overrides_the_street_rule(web, web_factory, world):
    _set_policy(web_factory(), world.admin, world.units["street"], "any")
    _set_policy(web_factory(), world.staff_a, world.units["A"], "off")
    _login(web, world.vol_a)
    assert 'data-testid="giving-off"' in web.text(web.get("/neighbours/give"))
    other = web_factory()
    _login(other, world.vol_b)
    assert 'data-testid="give-form"' in other.text(other.get("/neighbours/give"))


@pytest.mark.parametrize("amount", ["1.234", "-5", "0", "abc", "", "1e30", "NaN",
                                    "99999999999999999999", "0.001"])
def test_malformed_amounts_are_told_on_the_field_and_move_nothing(app, web, web_factory, api,
                                                                  world, phones, amount):
    _earn(api, world.vol_a, world.staff_a)
    _set_policy(web_factory(), world.staff_a, world.units["A"], "any")
    _login(web, world.vol_a)
    for confirmed in ("", "1"):
        resp = web.post("/neighbours/give", {"phone": phones["vol_a2"], "amount": amount,
                                             "confirmed": confirmed})
        assert resp.status_code == 422
        assert 'data-testid="error-amount"' in web.text(resp)
    assert _count(app, Transfer) == 0 and api.balance(world.vol_a) == "20.00"


def test_giving_more_than_the_balance_is_refused_on_the_field(app, web, web_factory, api,
                                                             world, phones):
    _earn(api, world.vol_a, world.staff_a)
    _set_policy(web_factory(), world.staff_a, world.units["A"], "any")
    _login(web, world.vol_a)
    resp = web.post("/neighbours/give", {"phone": phones["vol_a2"], "amount": "20.01",
                                         "confirmed": "1"})
    assert resp.status_code == 422
    error = re.search(r'data-testid="error-amount">(.*?)</div>\s*</div>', web.text(resp), re.S)
    assert error and "20.00" in error.group(1)
    assert _count(app, Transfer) == 0


def test_staff_give_for_an_elder_and_the_audit_names_both(app, web, web_factory, api, world,
                                                         elder, phones):
    _earn(api, elder, world.staff_a)
    _set_policy(web, world.staff_a, world.units["A"], "any")
    members = web.text(web.get("/neighbours/desk/members"))
    assert f'data-testid="give-for-{elder.id}"' in members
    page = web.text(web.get(f"/neighbours/desk/members/{elder.id}/give"))
    assert "王奶奶" in page and re.search(r'data-testid="balance">\s*20\.00<', page)
    step = web.post(f"/neighbours/desk/members/{elder.id}/give",
                    {"phone": phones["vol_a"], "amount": "5.00"})
    assert step.status_code == 200 and 'data-testid="confirm-step"' in web.text(step)
    assert "张小三" in web.text(step)  # staff see the names of their members in full
    resp = web.post(f"/neighbours/desk/members/{elder.id}/give",
                    {"phone": phones["vol_a"], "amount": "5.00", "confirmed": "1"})
    assert resp.status_code == 302 and resp.location.endswith(
        f"/neighbours/desk/members/{elder.id}/give")
    assert api.balance(elder) == "15.00" and api.balance(world.vol_a) == "5.00"
    with app.app_context():
        gift = db.session.scalar(select(Transfer))
        assert (gift.from_member_id, gift.to_member_id, gift.created_by_id) == (
            elder.id, world.vol_a.id, world.staff_a.id)
        event = db.session.scalar(select(AuditEvent)
                                  .where(AuditEvent.action == "transfer.create"))
        assert (event.actor_id, event.on_behalf_of_id) == (world.staff_a.id, elder.id)


# --- family links -------------------------------------------------------------------------


@pytest.mark.parametrize("form", [
    {"phone": "", "relation": "spouse"},
    {"phone": "abc", "relation": "spouse"},
    {"phone": "13899999999", "relation": "spouse"},  # nobody
    {"phone": "OWN", "relation": "spouse"},
    {"phone": "VOL_A2", "relation": "boss"},
    {"phone": "VOL_A2", "relation": ""},
    {"phone": "VOL_A2"},
    {"phone": "1" * 100, "relation": "spouse"},
])
def test_malformed_family_link_requests_add_nothing(app, web, world, phones, form):
    form = {k: {"OWN": phones["vol_a"], "VOL_A2": phones["vol_a2"]}.get(v, v)
            for k, v in form.items()}
    _login(web, world.vol_a)
    resp = web.post("/neighbours/family", form)
    assert resp.status_code == 422
    assert 'data-testid="error-' in web.text(resp)
    assert _count(app, FamilyLink) == 0


def test_a_second_link_request_is_told_and_staff_staff_and_strangers_cannot_end_it(
        app, web, web_factory, world, phones):
    _login(web, world.vol_a)
    web.post("/neighbours/family", {"phone": phones["vol_a2"], "relation": "sibling"})
    again = web.post("/neighbours/family", {"phone": phones["vol_a2"], "relation": "sibling"})
    assert again.status_code == 422
    assert _count(app, FamilyLink) == 1
    with app.app_context():
        link_id = db.session.scalar(select(FamilyLink.id))
    stranger = web_factory()
    _login(stranger, world.vol_b)
    assert stranger.post(f"/neighbours/family/{link_id}/revoke").status_code == 302
    assert stranger.post("/neighbours/family/99999/revoke").status_code == 302
    with app.app_context():
        assert db.session.get(FamilyLink, link_id).status == "pending"
    desk = web_factory()
    _login(desk, world.staff_a)
    assert desk.post(f"/neighbours/family/{link_id}/revoke").status_code == 302
    with app.app_context():
        assert db.session.get(FamilyLink, link_id).status == "revoked"
    # asked for again after it ended
    assert web.post("/neighbours/family", {"phone": phones["vol_a2"], "relation": "sibling"}
                    ).status_code == 302
    with app.app_context():
        assert db.session.get(FamilyLink, link_id).status == "pending"


# --- the policy desk ----------------------------------------------------------------------


def test_the_policy_page_shows_each_unit_in_reach_with_its_rule(web, web_factory, world):
    _login(web, world.staff_a)
    page = web.text(web.get("/neighbours/desk/policy"))
    assert _ids(page, "policy") == {world.units["A"]}
    admin = web_factory()
    _login(admin, world.admin)
    page = admin.text(admin.get("/neighbours/desk/policy"))
    assert _ids(page, "policy") == {world.units["street"], world.units["A"], world.units["B"]}
    _set_policy(web, world.staff_a, world.units["A"], "family", "12.00", "34.00")
    page = web.text(web.get("/neighbours/desk/policy"))
    assert 'value="12.00"' in page and 'value="34.00"' in page
    assert re.search(r'<option selected value="family">|<option value="family" selected',
                     page)


def test_staff_cannot_set_the_rule_outside_their_reach(app, web, world):
    _login(web, world.staff_b)
    assert web.post(f"/neighbours/desk/policy/{world.units['A']}",
                    {"mode": "any", "per_transfer_limit": "10.00", "monthly_limit": "20.00"}
                    ).status_code == 302
    _login(web, world.staff_a)
    assert web.post(f"/neighbours/desk/policy/{world.units['street']}",
                    {"mode": "any", "per_transfer_limit": "10.00", "monthly_limit": "20.00"}
                    ).status_code == 302
    assert web.post("/neighbours/desk/policy/99999",
                    {"mode": "any", "per_transfer_limit": "10.00", "monthly_limit": "20.00"}
                    ).status_code == 302
    assert web.post(f"/neighbours/desk/policy/{world.units['A1']}",  # a grid
                    {"mode": "any", "per_transfer_limit": "10.00", "monthly_limit": "20.00"}
                    ).status_code == 422
    with app.app_context():
        assert db.session.scalar(select(func.count(PointsPolicy.id))) == 0


@pytest.mark.parametrize("bad, field", [
    ({"mode": "maybe"}, "mode"), ({"mode": ""}, "mode"),
    ({"per_transfer_limit": "1.234"}, "per_transfer_limit"),
    ({"per_transfer_limit": "-5"}, "per_transfer_limit"),
    ({"per_transfer_limit": "0"}, "per_transfer_limit"),
    ({"per_transfer_limit": "abc"}, "per_transfer_limit"),
    ({"per_transfer_limit": ""}, "per_transfer_limit"),
    ({"monthly_limit": "1e30"}, "monthly_limit"),
    ({"monthly_limit": "99999999999999999999"}, "monthly_limit"),
    ({"per_transfer_limit": "50.00", "monthly_limit": "20.00"}, "per_transfer_limit"),
])
def test_a_malformed_rule_is_told_on_the_field_and_saves_nothing(app, web, world, bad, field):
    _login(web, world.staff_a)
    form = {"mode": "any", "per_transfer_limit": "10.00", "monthly_limit": "20.00", **bad}
    resp = web.post(f"/neighbours/desk/policy/{world.units['A']}", form)
    assert resp.status_code == 422
    assert f'data-testid="error-{field}"' in web.text(resp)
    assert _policy(app, world.units["A"]) is None


# --- forms without their CSRF token ---------------------------------------------------------


def test_forms_without_the_csrf_token_change_nothing(app, web, web_factory, api, world, elder,
                                                     phones):
    _earn(api, elder, world.staff_a)
    request_id = _posted(web, app, elder)
    _login(web, world.vol_a)
    web.post("/neighbours/family", {"phone": phones["vol_a2"], "relation": "spouse"})
    with app.app_context():
        link_id = db.session.scalar(select(FamilyLink.id))
    _set_policy(web_factory(), world.staff_a, world.units["A"], "any")
    before = (api.balance(elder), _count(app, HelpRequest), _count(app, Transfer))
    member_posts = [
        ("/neighbours/new", _request_form(app)),
        (f"/neighbours/requests/{request_id}/claim", {}),
        ("/neighbours/give", {"phone": phones["vol_a2"], "amount": "1.00", "confirmed": "1"}),
        ("/neighbours/family", {"phone": phones["vol_b"], "relation": "spouse"}),
        (f"/neighbours/family/{link_id}/revoke", {}),
    ]
    for path, form in member_posts:
        assert web.post(path, form, csrf=False).status_code == 302, path
    beneficiary = web_factory()
    _login(beneficiary, elder)
    for path, form in [(f"/neighbours/requests/{request_id}/cancel", {}),
                       (f"/neighbours/requests/{request_id}/complete", {"rating": "5"})]:
        assert beneficiary.post(path, form, csrf=False).status_code == 302, path
    desk = web_factory()
    _login(desk, world.staff_a)
    desk_posts = [
        (f"/neighbours/desk/members/{elder.id}/request", _request_form(app)),
        (f"/neighbours/desk/members/{elder.id}/give", {"phone": phones["vol_a"],
                                                       "amount": "1.00", "confirmed": "1"}),
        (f"/neighbours/desk/links/{link_id}/confirm", {}),
        (f"/neighbours/desk/policy/{world.units['A']}", {
            "mode": "off", "per_transfer_limit": "1.00", "monthly_limit": "2.00"}),
    ]
    for path, form in desk_posts:
        assert desk.post(path, form, csrf=False).status_code == 302, path
    assert (api.balance(elder), _count(app, HelpRequest), _count(app, Transfer)) == before
    assert _help_request(app, request_id).status == "open"
    with app.app_context():
        assert db.session.get(FamilyLink, link_id).status == "pending"
        assert db.session.scalar(select(func.count(FamilyLink.id))) == 1
    assert _policy(app, world.units["A"]) == ("any", 5000, 8000)


def _form_key(page: str) -> str:
    found = re.search(r'name="form_key"[^>]*value="([0-9a-f]{32})"', page) or re.search(
        r'value="([0-9a-f]{32})"[^>]*name="form_key"', page)
    assert found, "no form key on the page"
    return found.group(1)


def test_a_gift_sent_twice_from_one_form_moves_the_points_once(app, web, api, world, phones):
    _earn(api, world.vol_a, world.staff_a)
    _set_policy(web, world.admin, world.units["street"], "any", "30.00", "100.00")
    _login(web, world.vol_a)
    gift = {"phone": phones["vol_a2"], "amount": "3.00", "memo": ""}
    check = web.text(web.post("/neighbours/give", gift))
    key = _form_key(check)  # the check step carries the key of the form it came from
    first = web.post("/neighbours/give", {**gift, "confirmed": "1", "form_key": key})
    assert first.status_code == 302
    again = web.post("/neighbours/give", {**gift, "confirmed": "1", "form_key": key})
    assert again.status_code == 302
    assert "已经提交过" in _flashes(web.text(web.follow(again)))
    assert _count(app, Transfer) == 1
    assert api.balance(world.vol_a) == "17.00" and api.balance(world.vol_a2) == "3.00"
    fresh = _form_key(web.text(web.get("/neighbours/give")))
    assert fresh != key
    assert web.post("/neighbours/give", {**gift, "confirmed": "1", "form_key": fresh})\
        .status_code == 302
    assert api.balance(world.vol_a) == "14.00"


def test_a_request_posted_twice_from_one_form_holds_the_points_once(app, web, api, world,
                                                                    elder):
    _earn(api, elder, world.staff_a)
    _login(web, elder)
    key = _form_key(web.text(web.get("/neighbours/new")))
    form = _request_form(app, form_key=key)
    assert web.post("/neighbours/new", form).status_code == 302
    again = web.post("/neighbours/new", form)
    assert again.status_code == 302
    assert _count(app, HelpRequest) == 1
    assert api.balance(elder) == "15.00"


def test_a_refused_form_may_be_sent_again_with_its_key(app, web, api, world, elder):
    _login(web, elder)
    key = _form_key(web.text(web.get("/neighbours/new")))
    refused = web.post("/neighbours/new", _request_form(app, form_key=key))  # no points yet
    assert refused.status_code == 422 and _count(app, HelpRequest) == 0
    _earn(api, elder, world.staff_a)
    assert web.post("/neighbours/new", _request_form(app, form_key=key)).status_code == 302
    assert _count(app, HelpRequest) == 1
