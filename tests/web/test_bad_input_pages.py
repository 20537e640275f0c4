"""Hostile input through the pages: stored as typed, shown escaped, or refused with a reason.

Every form a person can write text into receives the same hostile strings; every refusal is
a 4xx or a flash message, never a 500, and leaves the counts of rows as they were.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import (
    Activity,
    Certificate,
    HelpRequest,
    LedgerTransaction,
    Merchant,
    ServiceRecord,
    User,
    VolunteerTeam,
)
from timebank.models.base import utcnow
from timebank.timeutil import local, today

HOSTILE = ["'; DROP TABLE user_account; --", "<script>alert(1)</script>",
           '"><img src=x onerror=alert(1)>', "{{7*7}}"]
MODELS = (ServiceRecord, LedgerTransaction, User, Merchant, Activity, HelpRequest,
          Certificate, VolunteerTeam)


def _counts(app) -> tuple[int, ...]:
    with app.app_context():
        return tuple(db.session.scalar(select(func.count(model.id))) for model in MODELS)


def _alerts(page: str) -> str:
    return " ".join(re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', page, re.S))


def _has_message(page: str) -> bool:
    """A flash message, a field error or an error page's explanation a person can read."""
    lead = re.search(r'<p class="lead">(.+?)</p>', page, re.S)
    return bool(_alerts(page).strip()) or "invalid-feedback" in page or bool(
        lead and lead.group(1).strip())


def assert_shown_escaped(page: str, value: str, where: str = "") -> None:
    """The text is on the page exactly as typed, and only in its escaped form."""
    assert str(escape(value)) in page, (where, value)
    if any(ch in value for ch in "<>\"'"):
        assert value not in page, (where, value)


@dataclass
class Ctx:
    """A world and one signed-in browser per person, as the tests' cases need them."""

    app: object
    api: object
    world: object
    web_factory: Callable
    sessions: dict = field(default_factory=dict)
    done: set = field(default_factory=set)

    def once(self, step: str, fn: Callable) -> None:
        """Set something up the first time a case asks for it."""
        if step not in self.done:
            self.done.add(step)
            fn()

    def web(self, who: str):
        if who not in self.sessions:
            browser = self.web_factory()
            browser.login(getattr(self.world, who))
            self.sessions[who] = browser
        return self.sessions[who]

    def text(self, who: str, path: str) -> str:
        resp = self.web(who).get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        return resp.get_data(as_text=True)

    def local_input(self, moment, pattern: str = "%Y-%m-%dT%H:%M") -> str:
        with self.app.app_context():
            return local(moment).strftime(pattern)

    def day(self, days: int = 0) -> str:
        with self.app.app_context():
            return (today() + timedelta(days=days)).isoformat()


@pytest.fixture
def ctx(app, api, world, web_factory) -> Ctx:
    return Ctx(app, api, world, web_factory)


def _sent(resp, status: int = 302):
    assert resp.status_code == status, resp.get_data(as_text=True)[-1500:]
    return resp


def _form_key(page: str) -> str:
    found = re.search(r'name="form_key"[^>]*value="([0-9a-f]{32})"', page) or re.search(
        r'value="([0-9a-f]{32})"[^>]*name="form_key"', page)
    assert found, "no form key on the page"
    return found.group(1)


# --- every text field a person can write: (how it is written, where it is shown) ----------
#
# A case writes `value` through its page form and returns the (who, path) of the pages that
# show it. The value must then be on each page, escaped.

TEXT_CASES: dict[str, Callable] = {}


def text_case(*names: str):
    def register(fn):
        for name in names:
            TEXT_CASES[name] = fn
        return fn
    return register


def _log_form(ctx: Ctx, **extra) -> dict:
    return {"category": "cleanup", "day": ctx.day(-3), "start": "09:00", "end": "11:00",
            "place": "社区广场", "description": "清理楼道杂物", **extra}


@text_case("record place", "record description")
def _record(ctx: Ctx, name: str, value: str):
    key = name.split()[1]
    _sent(ctx.web("vol_a").post("/me/log", _log_form(ctx, **{key: value})))
    if key == "description":  # shown on no page: stored as typed
        with ctx.app.app_context():
            assert db.session.scalar(select(ServiceRecord.description)) == value
        return []
    return [("staff_a", "/desk/"), ("vol_a", "/me/records")]


def _pending_record(ctx: Ctx) -> int:
    resp = ctx.api.log(ctx.world.vol_a, ago=30)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _approved_record(ctx: Ctx) -> int:
    return ctx.api.earn(ctx.world.vol_a, ctx.world.staff_a, ago=30)["id"]


@text_case("correction message")
def _correction(ctx: Ctx, name: str, value: str):
    record_id = _approved_record(ctx)
    _sent(ctx.web("vol_a").post(f"/me/records/{record_id}/correction", {"message": value}))
    return [("staff_a", "/desk/")]


@text_case("correction answer")
def _correction_answer(ctx: Ctx, name: str, value: str):
    record_id = _approved_record(ctx)
    _sent(ctx.web("vol_a").post(f"/me/records/{record_id}/correction", {"message": "时间不对"}))
    page = ctx.text("staff_a", "/desk/")
    request_id = re.search(r'data-testid="correction-(\d+)"', page).group(1)
    _sent(ctx.web("staff_a").post(f"/desk/corrections/{request_id}/resolve",
                                  {"resolution": value}))
    return [("vol_a", "/me/records")]


@text_case("reject reason")
def _reject(ctx: Ctx, name: str, value: str):
    record_id = _pending_record(ctx)
    _sent(ctx.web("staff_a").post("/desk/review", {"ids": [record_id], "action": "reject",
                                                   "reason": value}))
    return [("vol_a", "/me/records")]


def _activity_form(ctx: Ctx, **extra) -> dict:
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=1)
    return {"title": "周末义诊", "category": "cleanup", "org_unit_id": ctx.world.units["A2"],
            "starts_at": ctx.local_input(start),
            "ends_at": ctx.local_input(start + timedelta(hours=3)),
            "place": "社区卫生站", "capacity": "15", "description": "量血压、测血糖",
            "organiser": "", "person_in_charge": "", **extra}


@text_case("activity title", "activity place", "activity description", "activity organiser",
           "activity person_in_charge")
def _activity(ctx: Ctx, name: str, value: str):
    key = name.split()[1]
    resp = _sent(ctx.web("staff_a").post("/activities/new", _activity_form(ctx, **{key: value})))
    shown = [("staff_a", resp.location)]
    if key == "title":
        shown += [("vol_a", "/activities/"), ("staff_a", "/activities/manage")]
    return shown


def _request_form(ctx: Ctx, **extra) -> dict:
    return {"title": "陪同就医", "description": "周三上午去社区医院", "category": "cleanup",
            "day": ctx.day(1), "time": "10:00", "offered_points": "5.00", **extra}


@text_case("help title", "help description")
def _help(ctx: Ctx, name: str, value: str):
    ctx.api.earn(ctx.world.vol_a, ctx.world.staff_a)
    key = name.split()[1]
    page = ctx.text("vol_a", "/neighbours/new")
    resp = _sent(ctx.web("vol_a").post("/neighbours/new", {
        **_request_form(ctx, **{key: value}), "form_key": _form_key(page)}))
    shown = [("vol_a", resp.location)]
    if key == "title":
        shown += [("vol_a2", "/neighbours/")]
    return shown


@text_case("team name", "team description")
def _team(ctx: Ctx, name: str, value: str):
    key = name.split()[1]
    form = {"org_unit_id": str(ctx.world.units["A"]), "name": "红马甲", "description": "",
            key: value}
    resp = _sent(ctx.web("staff_a").post("/recognition/desk/teams", form))
    shown = [("staff_a", resp.location)]
    if key == "name":
        shown += [("staff_a", "/recognition/desk/teams")]
    return shown


@text_case("team new name")
def _team_rename(ctx: Ctx, name: str, value: str):
    resp = _sent(ctx.web("staff_a").post("/recognition/desk/teams", {
        "org_unit_id": str(ctx.world.units["A"]), "name": "红马甲", "description": ""}))
    team_path = resp.location
    _sent(ctx.web("staff_a").post(f"{team_path}/rename", {"name": value, "description": ""}))
    return [("staff_a", team_path)]


@text_case("certificate title", "certificate citation", "certificate person_in_charge")
def _certificate(ctx: Ctx, name: str, value: str):
    key = name.split()[1]
    page = ctx.text("staff_a", "/recognition/desk/issue")
    form = {"member_id": str(ctx.world.vol_a.id), "kind": "honor", "period_from": "",
            "period_to": "", "person_in_charge": "陈主任", "title": "优秀志愿者",
            "citation": "热心服务", key: value, "form_key": _form_key(page)}
    resp = _sent(ctx.web("staff_a").post("/recognition/desk/issue", form))
    pdf = ctx.web("staff_a").get(resp.location.split("?")[0] + ".pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    return [("staff_a", resp.location)]


@text_case("revocation reason")
def _revocation(ctx: Ctx, name: str, value: str):
    page = ctx.text("staff_a", "/recognition/desk/issue")
    resp = _sent(ctx.web("staff_a").post("/recognition/desk/issue", {
        "member_id": str(ctx.world.vol_a.id), "kind": "honor", "period_from": "",
        "period_to": "", "person_in_charge": "", "title": "优秀志愿者", "citation": "热心服务",
        "form_key": _form_key(page)}))
    certificate = resp.location.split("?")[0]
    _sent(ctx.web("staff_a").post(f"{certificate}/revoke", {"reason": value}))
    return [("staff_a", certificate)]


def _reward_form(ctx: Ctx, **extra) -> dict:
    return {"title": "保温杯", "kind": "goods", "description": "304不锈钢",
            "points_cost": "20.00", "stock": "10", "per_member_limit": "2",
            "org_unit_id": str(ctx.world.units["A"]), **extra}


@text_case("reward title", "reward description")
def _reward(ctx: Ctx, name: str, value: str):
    key = name.split()[1]
    _sent(ctx.web("staff_a").post("/shop/desk/rewards/new", _reward_form(ctx, **{key: value})))
    shown = [("vol_a", "/shop/")]
    if key == "title":
        shown += [("staff_a", "/shop/desk")]
    return shown


@text_case("merchant name", "merchant address")
def _merchant(ctx: Ctx, name: str, value: str):
    key = name.split()[1]
    form = {"name": "社区理发店", "address": "", "org_unit_id": str(ctx.world.units["A"]),
            key: value}
    _sent(ctx.web("staff_a").post("/desk/merchants/new", form))
    return [("staff_a", "/desk/merchants")]


@text_case("offer title", "offer description")
def _offer(ctx: Ctx, name: str, value: str):
    key = name.split()[1]
    form = {"title": "理发一次", "points_cost": "15.00", "description": "", key: value}
    _sent(ctx.web("staff_a").post(f"/desk/merchants/{ctx.world.merchants['MA']}/offers", form))
    shown = [("staff_a", "/desk/merchants")]
    if key == "title":
        shown += [("merchant_a", "/till/")]
    return shown


def _member_form(ctx: Ctx, **extra) -> dict:
    return {"username": "wang_wu", "display_name": "王五", "phone": "13812345678",
            "password": "long-enough-1", "roles": ["volunteer"],
            "org_unit_id": ctx.world.units["A2"], **extra}


@text_case("member display_name", "member party_unit")
def _member(ctx: Ctx, name: str, value: str):
    key = name.split()[1]
    extra = {"is_party_member": "y"} if key == "party_unit" else {}
    _sent(ctx.web("staff_a").post("/desk/members/new", _member_form(ctx, **extra,
                                                                    **{key: value})))
    with ctx.app.app_context():
        member_id = db.session.scalar(select(User.id).where(User.username == "wang_wu"))
    shown = [("staff_a", f"/desk/members/{member_id}")]
    if key == "display_name":
        shown += [("staff_a", "/desk/members")]
    return shown


@text_case("member new display_name")
def _member_rename(ctx: Ctx, name: str, value: str):
    vol_a = ctx.world.vol_a
    _sent(ctx.web("staff_a").post(f"/desk/members/{vol_a.id}", {
        "display_name": value, "phone": "", "org_unit_id": vol_a.org_unit_id,
        "roles": ["volunteer"]}))
    return [("staff_a", "/desk/members"), ("vol_a", "/me/")]


@text_case("category name")
def _category(ctx: Ctx, name: str, value: str):
    _sent(ctx.web("admin").post("/desk/categories/new", {
        "code": "visit", "name": value, "points_per_hour": "12.00"}))
    return [("admin", "/desk/categories"), ("vol_a", "/me/log")]


@text_case("policy note")
def _policy(ctx: Ctx, name: str, value: str):
    unit = ctx.world.units["A"]
    _sent(ctx.web("staff_a").post(f"/policy/{unit}", {
        "effective_from": ctx.day(1), "transfer_mode": "family",
        "per_transfer_limit": "10.00", "monthly_transfer_limit": "30.00",
        "expiry_mode": "never", "expiry_months": "", "daily_hours_cap": "",
        "rate_cleanup": "", "note": value}))
    return [("staff_a", f"/policy/{unit}")]


@text_case("gift memo")
def _gift(ctx: Ctx, name: str, value: str):
    path, form = _gift_form(ctx)
    _sent(ctx.web("vol_a").post(path, {**form, "memo": value}))
    return [("vol_a2", "/me/transactions"), ("vol_a", "/neighbours/give")]


@text_case("gift memo being checked")
def _gift_check(ctx: Ctx, name: str, value: str):
    path, form = _gift_form(ctx)
    resp = _sent(ctx.web("vol_a").post(path, {**form, "memo": value, "confirmed": ""}), 200)
    assert_shown_escaped(resp.get_data(as_text=True), value, "the check step")
    return []


@text_case("thanks comment")
def _thanks(ctx: Ctx, name: str, value: str):
    path, form = _help_form(ctx)
    created = _sent(ctx.web("vol_a").post(path, form)).location
    request_id = created.rstrip("/").rsplit("/", 1)[1]
    _sent(ctx.web("vol_a2").post(f"/neighbours/requests/{request_id}/claim"))
    _sent(ctx.web("vol_a").post(f"/neighbours/requests/{request_id}/complete",
                                {"rating": "5", "comment": value}))
    return [("vol_a", created), ("vol_a2", created)]


TEXT_PARAMS = [(name, n) for name in TEXT_CASES for n in range(len(HOSTILE))]


@pytest.mark.parametrize("name,n", TEXT_PARAMS, ids=[f"{c} {n}" for c, n in TEXT_PARAMS])
def test_hostile_text_is_stored_as_typed_and_shown_escaped(app, ctx, name, n):
    value = HOSTILE[n]
    shown = TEXT_CASES[name](ctx, name, value)
    for who, path in shown:
        page = ctx.text(who, path)
        assert_shown_escaped(page, value, f"{who} {path}")
    with app.app_context():  # the database is intact: every account is still there
        assert db.session.scalar(select(func.count(User.id))) >= len(ctx.world.people)


# --- bodies that are not a browser's form ------------------------------------------------
#
# (path, who, a valid form) of forms that create something; each receives bodies no browser
# sends. The CSRF token travels in the header, so the form itself is what gets judged.


def _plain_forms(ctx: Ctx) -> dict[str, tuple[str, str, dict]]:
    w = ctx.world
    return {
        "log hours": ("/me/log", "vol_a", _log_form(ctx)),
        "activity": ("/activities/new", "staff_a", _activity_form(ctx)),
        "team": ("/recognition/desk/teams", "staff_a",
                 {"org_unit_id": str(w.units["A"]), "name": "红马甲", "description": ""}),
        "reward": ("/shop/desk/rewards/new", "staff_a", _reward_form(ctx)),
        "merchant": ("/desk/merchants/new", "staff_a",
                     {"name": "社区理发店", "address": "", "org_unit_id": str(w.units["A"])}),
        "offer": (f"/desk/merchants/{w.merchants['MA']}/offers", "staff_a",
                  {"title": "理发一次", "points_cost": "15.00", "description": ""}),
        "member": ("/desk/members/new", "staff_a", _member_form(ctx)),
        "category": ("/desk/categories/new", "admin",
                     {"code": "visit", "name": "探访", "points_per_hour": "12.00"}),
    }


FORM_NAMES = ["log hours", "activity", "team", "reward", "merchant", "offer", "member",
              "category"]


def _urlencoded(form: dict) -> bytes:
    from urllib.parse import urlencode

    return urlencode(form, doseq=True).encode()


def _multipart(form: dict, field_name: str, raw: bytes) -> tuple[bytes, str]:
    parts = []
    for name, value in form.items():
        for one in value if isinstance(value, list) else [value]:
            data = raw if name == field_name else str(one).encode()
            parts.append(b'--xx\r\nContent-Disposition: form-data; name="' + name.encode()
                         + b'"\r\n\r\n' + data + b"\r\n")
    return b"".join(parts) + b"--xx--\r\n", "multipart/form-data; boundary=xx"


def _text_field(form: dict) -> str:
    return next(name for name in ("title", "name", "display_name", "place") if name in form)


BODIES: dict[str, Callable[[dict], tuple[bytes, str]]] = {
    "json": lambda form: (json.dumps(form).encode(), "application/json"),
    "json list": lambda form: (json.dumps(list(form)).encode(), "application/json"),
    "json number": lambda form: (b"5", "application/json"),
    "json with numbers for text": lambda form: (
        json.dumps({**form, _text_field(form): 5}).encode(), "application/json"),
    "json with an object for text": lambda form: (
        json.dumps({**form, _text_field(form): {"a": 1}}).encode(), "application/json"),
    "broken json": lambda form: (b'{"name": ', "application/json"),
    "text/plain": lambda form: (_urlencoded(form), "text/plain"),
    "no content type": lambda form: (_urlencoded(form), ""),
    "malformed form": lambda form: (b"&&==%%%;;" + b"=" * 50, "application/x-www-form-urlencoded"),
    "raw bytes not UTF-8": lambda form: (
        _urlencoded(form) + b"&" + _text_field(form).encode() + b"=\xff\xfe",
        "application/x-www-form-urlencoded"),
    "a lone surrogate as bytes": lambda form: (
        _urlencoded({k: v for k, v in form.items() if k != _text_field(form)})
        + b"&" + _text_field(form).encode() + b"=\xed\xa0\x80",
        "application/x-www-form-urlencoded"),
    "multipart field not UTF-8": lambda form: _multipart(form, _text_field(form), b"\xff\xfe"),
    "NUL": lambda form: (_urlencoded({**form, _text_field(form): "红\x00马甲"}),
                         "application/x-www-form-urlencoded"),
}


def _refused_with_a_message(browser, resp) -> None:
    """A 4xx page with the reason on it, or a redirect to a page with a flash message."""
    if resp.status_code in (301, 302, 303):
        page = browser.text(browser.follow(resp))
        assert "alert-danger" in page or "alert-warning" in page, page[-1500:]
        return
    assert 400 <= resp.status_code < 500, resp.status_code
    assert resp.mimetype == "text/html"
    assert _has_message(resp.get_data(as_text=True))


@pytest.mark.parametrize("form_name", FORM_NAMES)
def test_bodies_a_browser_never_sends_are_refused_and_change_nothing(app, ctx, form_name):
    path, who, form = _plain_forms(ctx)[form_name]
    browser = ctx.web(who)
    token = browser.token()
    before = _counts(app)
    for body in sorted(BODIES):
        data, content_type = BODIES[body](form)
        resp = browser.client.post(path, data=data, headers={
            "Content-Type": content_type, "X-CSRFToken": token,
            "Referer": f"http://localhost{path}"})
        _refused_with_a_message(browser, resp)
        assert _counts(app) == before, body


@pytest.mark.parametrize("form_name", FORM_NAMES)
def test_a_form_over_the_size_limit_gets_the_friendly_413_page(app, ctx, form_name):
    path, who, form = _plain_forms(ctx)[form_name]
    browser = ctx.web(who)
    before = _counts(app)
    huge = {**form, _text_field(form): "长" * app.config["MAX_CONTENT_LENGTH"]}
    resp = browser.post(path, huge)
    assert resp.status_code == 413
    page = browser.text(resp)
    assert resp.mimetype == "text/html" and "提交的内容过大" in page and "没有保存" in page
    assert _counts(app) == before


def test_the_413_page_speaks_english_too(app, ctx):
    browser = ctx.web("vol_a")
    browser.post("/language", {"lang": "en"})
    resp = browser.post("/me/log", _log_form(ctx, description="x" * (2 * 1024 * 1024)))
    assert resp.status_code == 413 and "What was sent is too large" in browser.text(resp)


# --- query strings --------------------------------------------------------------------------

LIST_PAGES = [
    ("vol_a", "/activities/"), ("vol_a", "/activities/mine"), ("staff_a", "/activities/manage"),
    ("vol_a", "/me/records"), ("vol_a", "/me/transactions"), ("staff_a", "/desk/"),
    ("staff_a", "/desk/members"), ("staff_a", "/desk/merchants"), ("vol_a", "/neighbours/"),
    ("staff_a", "/neighbours/desk"), ("staff_a", "/neighbours/desk/members"),
    ("vol_a", "/shop/"), ("vol_a", "/shop/orders"), ("staff_a", "/shop/desk"),
    ("staff_a", "/recognition/desk"), ("staff_a", "/recognition/desk/teams"),
    ("admin", "/audit/"), ("staff_a", "/reports/"), ("staff_a", "/settlements/"),
    ("merchant_a", "/till/statement"), ("vol_a", "/leaderboards"), ("vol_a", "/board"),
    ("staff_a", "/policy/"),
]
BAD_QUERIES = [
    "page=-1", "page=0", "page=99999999999999999999", "page=x", "page=1e9", "page=%EF%BC%91",
    "page=", "page=1&page=2", "status=lost", "kind=diploma", "q=" + "q" * 5000,
    "q=%27%3B%20DROP%20TABLE%20user_account%3B%20--", "q=%25%5F%5C", "q=%ff%fe",
    "q=%ED%A0%80", "month=2026-13", "month=0001-01", "from=0001-01-01&to=9999-12-31",
    "from=2026-02-30", "year=-1", "date=2026-02-30", "period=decade", "grid=abc",
    "category=%3Cscript%3Ealert(1)%3C/script%3E", "unit_id=99999999999", "community_id=-1",
    "nosuch=1",
]


@pytest.mark.parametrize("who,path", LIST_PAGES)
def test_list_pages_survive_any_query_string(ctx, who, path):
    for query in BAD_QUERIES:
        resp = ctx.web(who).get(f"{path}?{query}")
        if resp.status_code in (301, 302, 303):  # e.g. a report normalising its dates
            resp = ctx.web(who).get(resp.location)
        page = resp.get_data(as_text=True)
        assert resp.status_code == 200 or (  # or a page that says what is unknown
            400 <= resp.status_code < 500 and _has_message(page)), (path, query)
        assert "<script>alert" not in page and "<script>&" not in page


@pytest.mark.parametrize("query", ["page=-1", "page=0", "page=abc", "page=99999999999999",
                                   "page=１", "nosuch=1"])
def test_a_bad_page_number_shows_the_first_page(ctx, query):
    first = re.findall(r'data-testid="member-(\d+)"', ctx.text("staff_a", "/desk/members"))
    assert first
    assert re.findall(r'data-testid="member-(\d+)"',
                      ctx.text("staff_a", f"/desk/members?{query}")) == first


@pytest.mark.parametrize("who,path", [
    ("staff_a", "/desk/members?q=a%00b"), ("staff_a", "/neighbours/desk/members?q=%00"),
    ("staff_a", "/recognition/desk/teams?q=%00"), ("admin", "/audit/?action=%00"),
    ("vol_a", "/verify?serial=TB%00"), ("vol_a", "/activities/?page=%00"),
    ("vol_a", "/leaderboards?period=%00"), ("staff_a", "/audit/?actor=%00"),
])
def test_a_nul_in_a_search_is_a_400_page(ctx, who, path):
    resp = ctx.web(who).get(path)
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert _has_message(resp.get_data(as_text=True))


@pytest.mark.parametrize("who,path", [
    ("staff_a", "/desk/members"), ("vol_a", "/activities/"), ("staff_a", "/audit/"),
    ("vol_a", "/verify"), ("vol_a", "/leaderboards"), (None, "/login"),
])
@pytest.mark.parametrize("raw", ["q=\xff\xfe", "page=\xed\xa0\x80", "next=\xc3"])
def test_a_query_string_that_is_not_utf8_is_a_400_page(ctx, who, path, raw):
    browser = ctx.web(who) if who else ctx.web_factory()
    # The raw bytes as a server hands them over: the WSGI environ holds them as latin-1.
    resp = browser.client.get(path, environ_overrides={"QUERY_STRING": raw})
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert _has_message(resp.get_data(as_text=True))


def _accepted(app, browser, path: str, form: dict) -> None:
    """The valid form goes through: the refusals before were about the one field."""
    before = _state(app)
    resp = browser.post(path, form, headers={"Referer": f"http://localhost{path}"})
    assert resp.status_code == 302, browser.text(resp)[-1500:]
    assert "alert-danger" not in browser.text(browser.follow(resp))
    assert _state(app) != before


# --- amounts, hours and points ----------------------------------------------------------------

AMOUNTS = ["-1", "0", "1e9", "1.234", "NaN", "Infinity", "-Infinity", "1e400", "", "abc",
           "0x10", "1,000", "１０"]


def _state(app) -> tuple[int, ...]:
    """Counts of everything a form with an amount could add."""
    from timebank.models import (
        CategoryRate,
        Offer,
        PointsPolicy,
        Posting,
        Reward,
        RewardOrder,
        ServiceCategory,
        Transfer,
    )

    with app.app_context():
        return tuple(db.session.scalar(select(func.count(model.id))) for model in (
            *MODELS, Posting, Offer, Reward, RewardOrder, Transfer, PointsPolicy, CategoryRate,
            ServiceCategory))


def _earn(ctx: Ctx) -> None:
    ctx.once("earn", lambda: ctx.api.earn(ctx.world.vol_a, ctx.world.staff_a))


def _order_form(ctx: Ctx) -> tuple[str, dict]:
    _earn(ctx)
    ctx.once("reward", lambda: _sent(ctx.web("staff_a").post("/shop/desk/rewards/new",
                                                             _reward_form(ctx))))
    page = ctx.text("vol_a", "/shop/")
    reward_id = re.search(r'data-testid="order-form-(\d+)"', page).group(1)
    form = re.search(rf'data-testid="order-form-{reward_id}">(.*?)</form>', page, re.S).group(1)
    key = re.search(r'name="form_key" value="([0-9a-f]{32})"', form).group(1)
    return f"/shop/rewards/{reward_id}/order", {"quantity": "1", "form_key": key}


def _gift_form(ctx: Ctx) -> tuple[str, dict]:
    _earn(ctx)

    def allow_gifts():
        with ctx.app.app_context():
            db.session.get(User, ctx.world.vol_a2.id).phone = "13800000002"
            db.session.commit()
        _sent(ctx.web("admin").post(f"/neighbours/desk/policy/{ctx.world.units['street']}",
                                    {"mode": "any", "per_transfer_limit": "30.00",
                                     "monthly_limit": "100.00"}))

    ctx.once("gifts", allow_gifts)
    page = ctx.text("vol_a", "/neighbours/give")
    return "/neighbours/give", {"phone": "13800000002", "amount": "3.00", "memo": "",
                                "confirmed": "1", "form_key": _form_key(page)}


def _help_form(ctx: Ctx) -> tuple[str, dict]:
    _earn(ctx)
    page = ctx.text("vol_a", "/neighbours/new")
    return "/neighbours/new", {**_request_form(ctx), "form_key": _form_key(page)}


def _policy_form(ctx: Ctx) -> tuple[str, dict]:
    return f"/policy/{ctx.world.units['A']}", {
        "effective_from": ctx.day(1), "transfer_mode": "family", "per_transfer_limit": "10.00",
        "monthly_transfer_limit": "30.00", "expiry_mode": "rolling", "expiry_months": "6",
        "daily_hours_cap": "8.00", "rate_cleanup": "15.00", "note": ""}


# form: (who, how to get the path and a valid form); the fields that take an amount, with the
# values among AMOUNTS that are a sensible amount there (the rest must be refused).
AMOUNT_FORMS: dict[str, tuple[str, Callable]] = {
    "help": ("vol_a", _help_form),
    "gift": ("vol_a", _gift_form),
    "order": ("vol_a", _order_form),
    "reward": ("staff_a", lambda ctx: ("/shop/desk/rewards/new", _reward_form(ctx))),
    "offer": ("staff_a", lambda ctx: (f"/desk/merchants/{ctx.world.merchants['MA']}/offers",
                                      {"title": "理发一次", "points_cost": "15.00",
                                       "description": ""})),
    "category": ("admin", lambda ctx: ("/desk/categories/new", {
        "code": "visit", "name": "探访", "points_per_hour": "12.00"})),
    "rate": ("admin", lambda ctx: ("/desk/categories/cleanup/rate", {
        "points_per_hour": "12.00", "effective_from": ctx.day(1)})),
    "policy": ("staff_a", _policy_form),
    "transfer policy": ("staff_a", lambda ctx: (
        f"/neighbours/desk/policy/{ctx.world.units['A']}",
        {"mode": "any", "per_transfer_limit": "30.00", "monthly_limit": "100.00"})),
    "activity": ("staff_a", lambda ctx: ("/activities/new", _activity_form(ctx))),
}
FULL_WIDTH_OK = {"１０"}  # typed with a Chinese input method: the same number
AMOUNT_FIELDS = [
    ("help", "offered_points", {"0", ""} | FULL_WIDTH_OK),  # nothing offered is fine
    ("gift", "amount", FULL_WIDTH_OK),
    ("order", "quantity", FULL_WIDTH_OK - {"１０"}),  # ten would pass the limit per member
    ("reward", "points_cost", FULL_WIDTH_OK),
    ("reward", "stock", {"0"} | FULL_WIDTH_OK),
    ("reward", "per_member_limit", {""} | FULL_WIDTH_OK),
    ("offer", "points_cost", FULL_WIDTH_OK),
    ("category", "points_per_hour", {"0"} | FULL_WIDTH_OK),
    ("rate", "points_per_hour", {"0"} | FULL_WIDTH_OK),
    ("policy", "per_transfer_limit", FULL_WIDTH_OK),
    ("policy", "monthly_transfer_limit", FULL_WIDTH_OK),
    ("policy", "daily_hours_cap", {""} | FULL_WIDTH_OK),
    ("policy", "expiry_months", FULL_WIDTH_OK),
    ("policy", "rate_cleanup", {"0", ""} | FULL_WIDTH_OK),
    ("transfer policy", "per_transfer_limit", FULL_WIDTH_OK),
    ("transfer policy", "monthly_limit", FULL_WIDTH_OK),
    ("activity", "capacity", FULL_WIDTH_OK),
]


@pytest.mark.parametrize("form_name,field_name,valid", AMOUNT_FIELDS,
                         ids=[f"{f} {n}" for f, n, _v in AMOUNT_FIELDS])
def test_amounts_out_of_reason_are_refused_in_every_form(app, ctx, form_name, field_name,
                                                         valid):
    who, build = AMOUNT_FORMS[form_name]
    browser = ctx.web(who)
    path, form = build(ctx)
    for value in AMOUNTS:
        if value in valid:
            continue
        if "form_key" in form:  # a fresh form each time, as after reloading the page
            path, form = build(ctx)
        _refused_and_unchanged(app, browser, path, {**form, field_name: value},
                               f"{value!r} in {form_name}.{field_name}")
    _accepted(app, browser, *build(ctx))


def _refused_and_unchanged(app, browser, path: str, form: dict, label: str) -> None:
    """Send the form: it is refused with a message, and nothing changed."""
    before = _state(app)
    resp = browser.post(path, form, headers={"Referer": f"http://localhost{path}"})
    try:
        _refused_with_a_message(browser, resp)
    except AssertionError as exc:
        raise AssertionError(f"{label}: {exc}") from exc
    assert _state(app) == before, f"{label} changed data"


# --- dates and times ------------------------------------------------------------------------

DAYS = ["0001-01-01", "1900-01-01", "9999-12-31", "2100-01-01", "2026-02-30", "2026-13-01",
        "26-01-05", "yesterday", ""]
MOMENTS = ["0001-01-01T09:00", "1900-01-01T09:00", "9999-12-31T23:59", "2100-01-01T09:00",
           "2026-02-30T09:00", "2030-01-05T09:00+08:00", "2030-01-05T25:00", "9", ""]
TIMES = ["25:00", "09:60", "9", "09:00+08:00", "-01:00", "０９:００", ""]


def _rate_form(ctx: Ctx) -> tuple[str, dict]:
    return "/desk/categories/cleanup/rate", {"points_per_hour": "12.00",
                                             "effective_from": ctx.day(1)}


def _issue_form(ctx: Ctx) -> tuple[str, dict]:
    page = ctx.text("staff_a", "/recognition/desk/issue")
    return "/recognition/desk/issue", {
        "member_id": str(ctx.world.vol_a.id), "kind": "honor", "period_from": "2026-01-01",
        "period_to": "2026-02-01", "person_in_charge": "", "title": "优秀志愿者",
        "citation": "热心服务", "form_key": _form_key(page)}


DATE_FORMS: dict[str, tuple[str, Callable]] = {
    "log hours": ("vol_a", lambda ctx: ("/me/log", _log_form(ctx))),
    "help": ("vol_a", _help_form),
    "activity": ("staff_a", lambda ctx: ("/activities/new", _activity_form(ctx))),
    "policy": ("staff_a", _policy_form),
    "rate": ("admin", _rate_form),
    "certificate": ("staff_a", _issue_form),
}
DATE_FIELDS = [
    ("log hours", "day", DAYS), ("log hours", "start", TIMES), ("log hours", "end", TIMES),
    ("help", "day", DAYS), ("help", "time", TIMES),
    ("activity", "starts_at", MOMENTS), ("activity", "ends_at", MOMENTS),
    ("policy", "effective_from", DAYS), ("rate", "effective_from", DAYS),
    ("certificate", "period_from", [d for d in DAYS if d]),  # both optional
    ("certificate", "period_to", [d for d in DAYS if d]),
]


@pytest.mark.parametrize("form_name,field_name,values", DATE_FIELDS,
                         ids=[f"{f} {n}" for f, n, _v in DATE_FIELDS])
def test_dates_out_of_reason_are_refused_in_every_form(app, ctx, form_name, field_name,
                                                       values):
    who, build = DATE_FORMS[form_name]
    browser = ctx.web(who)
    for value in values:
        path, form = build(ctx)
        _refused_and_unchanged(app, browser, path, {**form, field_name: value},
                               f"{value!r} in {form_name}.{field_name}")
    _accepted(app, browser, *build(ctx))

