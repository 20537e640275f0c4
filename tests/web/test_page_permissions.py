"""The permission matrix of the pages: every page × role → what the person gets.

Every rule of the URL map outside `/api/`, `static` and `/bootstrap/` must be listed here or
in PUBLIC (with the reason it is open to anyone): a new page fails
`test_every_page_is_in_the_matrix` until its permissions are written down.

Each entry builds its path (creating what it needs in community A, fresh for every role),
its form (valid for the roles allowed to send it) and says, per role, what happens:

- a status for a page (GET), or for a form that is answered directly;
- DONE: the form is sent, answered with a redirect and a success message, and the named
  tables changed;
- DENIED: the form is refused with a redirect and a "not allowed"/"not found" message;
- REFUSED: the form is refused with a redirect and a message giving the domain reason.

A refused or denied form, and any answer of 400 or more, changes nothing in the database.
Nobody outside community A (staff_b, vol_b) and nobody refused ever sees the distinguishing
text of what the entry created (and those who may, do see it: the check is not empty).
Without signing in, every page sends to the sign-in page and no form changes anything.

One world per page (a test), one browser session per role signing in through the form; the
failures of every role are told together, by page and role.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import wraps

import pytest
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from tests.factories import PASSWORD
from timebank import create_app
from timebank.errors import Forbidden, NotFound
from timebank.extensions import db
from timebank.models import (
    Activity,
    Certificate,
    CorrectionRequest,
    FamilyLink,
    HelpRequest,
    MemberImport,
    Offer,
    Redemption,
    Reward,
    RewardOrder,
    ServiceRecord,
    User,
    VolunteerTeam,
)
from timebank.services import corrections, member_import, merchants
from timebank.timeutil import zone

ROLES = ("admin", "staff_a", "staff_b", "vol_a", "vol_b", "merchant_a")
# Whoever is outside community A: never sees what the entry created there.
OUTSIDERS = ("staff_b", "vol_b")

PUBLIC = {
    ("GET", "/login"): "the sign-in form itself",
    ("POST", "/login"): "the sign-in form itself",
    ("GET", "/healthz"): "the load balancer's health check",
    ("POST", "/language"): "choosing the language works before signing in",
    ("POST", "/large-font"): "larger type works before signing in (kept in the session)",
    ("GET", "/verify"): "anyone may check a certificate's number",
    ("GET", "/verify/<path:serial>"): "anyone may check a certificate's number",
    ("GET", "/board"): "the community screens hang in public places",
    ("GET", "/board/<int:community_id>"): "the community screens hang in public places",
}


@dataclass(frozen=True)
class Form:
    """What sending a form does: its status, whether it changes data, the message shown."""

    status: int
    changes: bool
    message: str  # "success", "denied", "refused", or "" when no message is asked for


DONE = Form(302, True, "success")
DENIED = Form(302, False, "denied")
REFUSED = Form(302, False, "refused")
UPLOADED = Form(302, True, "")
SIGNED_OUT = Form(302, True, "success")  # the session ends: its token is revoked


class Ctx:
    """What a builder needs: the app, the JSON API with bearer tokens, the world, and `n`,
    a number of its own for each role (so that names and dates do not collide)."""

    def __init__(self, app, api, world):
        self.app, self.api, self.world = app, api, world
        self.n = 0
        self.kept: dict = {}

    def user(self, person) -> User:
        return db.session.get(User, person.id)


@dataclass
class Page:
    path: Callable[[Ctx], str]
    expected: dict[str, int | Form]
    body: Callable[[Ctx], dict] | None = None
    secret: Callable[[Ctx], str] | str | None = None
    tables: tuple[str, ...] = ()  # what an allowed form changes (at least these)
    multipart: bool = False
    # Who is shown the secret; by default whoever gets the page (200) inside community A.
    seen_by: tuple[str, ...] | None = None
    done: Callable[[Ctx], bool] | None = None  # after an allowed form: what it should have done
    after: Callable | None = None  # a last check with the browser session: a problem or None


# --- builders: objects of community A --------------------------------------------------


def _keep(name: str) -> Callable:
    """The builder's result is also kept as ctx.kept[name], for the checks after the form."""

    def decorator(build: Callable) -> Callable:
        @wraps(build)
        def wrapper(ctx: Ctx, *args, **kwargs):
            made = build(ctx, *args, **kwargs)
            ctx.kept[name] = made
            return made

        return wrapper

    return decorator


def _ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def _local(ctx: Ctx, moment: datetime) -> str:
    """As an <input type=datetime-local> sends it."""
    with ctx.app.app_context():
        return moment.astimezone(zone()).strftime("%Y-%m-%dT%H:%M")


@_keep("record")
def _record(ctx: Ctx) -> int:
    """A pending record of vol_a, logged by staff of A."""
    resp = ctx.api.log(ctx.world.staff_a, member_id=ctx.world.vol_a.id,
                       ago=3 + 3 * ctx.n, place="甲社区秘密地点")
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _own_record(ctx: Ctx) -> int:
    """A record vol_a logged, with a correction request of theirs waiting for staff."""
    resp = ctx.api.log(ctx.world.vol_a, ago=3 + 3 * ctx.n, place="甲社区秘密地点")
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@_keep("correction")
def _correction(ctx: Ctx) -> int:
    record_id = _own_record(ctx)
    with ctx.app.app_context():
        made = corrections.request_correction(record_id, member=ctx.user(ctx.world.vol_a),
                                              message="甲社区秘密更正")
        return made.id


def _activity(ctx: Ctx, *, sign_up=False, check_in=False) -> int:
    """An activity of grid A1 happening now."""
    api, w = ctx.api, ctx.world
    start = _ago(1)
    resp = api.post("/api/v1/activities", w.staff_a, json={
        "title": "甲社区秘密活动", "category": "cleanup", "org_unit_id": w.units["A1"],
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(),
        "place": "1号楼", "capacity": 5})
    assert resp.status_code == 201, resp.get_json()
    activity_id = resp.get_json()["id"]
    if sign_up or check_in:
        assert api.post(f"/api/v1/activities/{activity_id}/signups", w.vol_a)\
            .status_code == 201
    if check_in:
        assert api.post(f"/api/v1/activities/{activity_id}/check-in", w.vol_a,
                        json=_code_of(ctx, activity_id)).status_code == 200
    ctx.kept["activity"] = activity_id
    return activity_id


def _code_of(ctx: Ctx, activity_id: int) -> dict:
    resp = ctx.api.get(f"/api/v1/activities/{activity_id}/checkin-code", ctx.world.staff_a)
    return {"code": resp.get_json()["code"]}


def _closed_activity(ctx: Ctx) -> int:
    """An activity that ended, vol_a present throughout, closed: its record waits."""
    api, w = ctx.api, ctx.world
    activity_id = _activity(ctx, sign_up=True)
    with ctx.app.app_context():  # signed up beforehand; it ended an hour ago
        db.session.execute(update(Activity).where(Activity.id == activity_id).values(
            starts_at=_ago(3 + 3 * ctx.n), ends_at=_ago(1 + 3 * ctx.n)))
        db.session.commit()
    resp = api.get(f"/api/v1/activities/{activity_id}", w.staff_a).get_json()
    assert api.post(f"/api/v1/activities/{activity_id}/attendance", w.staff_a, json={
        "member_id": w.vol_a.id, "checked_in_at": resp["starts_at"],
        "checked_out_at": resp["ends_at"]}).status_code == 200
    closed = api.post(f"/api/v1/activities/{activity_id}/close", w.staff_a)
    assert closed.status_code == 200, closed.get_json()
    pending = api.get(f"/api/v1/activities/{activity_id}/pending-records", w.staff_a)
    ids = pending.get_json()["ids"]
    assert ids, pending.get_json()
    ctx.kept["records"] = ids
    return activity_id


@_keep("help")
def _help(ctx: Ctx, *, by="vol_a2", claimed_by=None) -> int:
    """An open request for help in community A, posted by `by`."""
    api = ctx.api
    resp = api.post("/api/v1/help-requests", getattr(ctx.world, by), json={
        "title": "甲社区秘密求助", "description": "厨房漏水", "category": "cleanup",
        "org_unit_id": ctx.world.units["A2"],
        "needed_at": _ago(2 + 3 * ctx.n).isoformat()})
    assert resp.status_code == 201, resp.get_json()
    request_id = resp.get_json()["id"]
    if claimed_by:
        assert api.post(f"/api/v1/help-requests/{request_id}/claim",
                        getattr(ctx.world, claimed_by)).status_code == 200
    return request_id


@_keep("member")
def _member(ctx: Ctx, *, phone: str | None = None) -> int:
    """A new volunteer of grid A1 with a name nobody else has."""
    body = {"username": f"newbie{ctx.n}{next(_serial)}", "password": "long-enough-9",
            "display_name": "甲社区秘密成员", "roles": ["volunteer"],
            "org_unit_id": ctx.world.units["A1"]}
    if phone:
        body["phone"] = phone
    resp = ctx.api.post("/api/v1/users", ctx.world.staff_a, json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


_serial = itertools.count(1)


def _phone() -> str:
    return f"139{next(_serial):08d}"


def _recipient(ctx: Ctx) -> str:
    """The phone number of a new member of A1, to give points to or link with."""
    phone = _phone()
    _member(ctx, phone=phone)
    return phone


def _giving_allowed(ctx: Ctx) -> None:
    """Community A lets anyone give, and vol_a has points to give."""
    ctx.api.earn(ctx.world.vol_a, ctx.world.staff_a, ago=3 + 3 * ctx.n)
    resp = ctx.api._call("PUT", f"/api/v1/org-units/{ctx.world.units['A']}/transfer-policy",
                         ctx.world.staff_a, json={"mode": "any", "per_transfer_limit": "10.00",
                                                  "monthly_limit": "50.00"})
    assert resp.status_code == 200, resp.get_json()


@_keep("link")
def _link(ctx: Ctx) -> int:
    resp = ctx.api.post("/api/v1/family-links", ctx.world.vol_a,
                        json={"relative_id": _member(ctx), "relation": "配偶"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _certificate(ctx: Ctx) -> str:
    """A service certificate of vol_a, issued by staff of A."""
    ctx.api.earn(ctx.world.vol_a, ctx.world.staff_a, ago=3 + 3 * ctx.n)
    resp = ctx.api.post("/api/v1/certificates", ctx.world.staff_a,
                        json={"member_id": ctx.world.vol_a.id, "kind": "service_record"})
    assert resp.status_code == 201, resp.get_json()
    ctx.kept["serial"] = resp.get_json()["serial"]
    return ctx.kept["serial"]


@_keep("team")
def _team(ctx: Ctx) -> int:
    """A volunteer team of grid A1 led by vol_a."""
    resp = ctx.api.post("/api/v1/teams", ctx.world.staff_a, json={
        "org_unit_id": ctx.world.units["A1"], "name": f"甲社区秘密队{ctx.n}",
        "leader_id": ctx.world.vol_a.id})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@_keep("reward")
def _reward(ctx: Ctx) -> int:
    """A reward of community A, and points for vol_a to order it with."""
    ctx.api.earn(ctx.world.vol_a, ctx.world.staff_a, ago=3 + 3 * ctx.n)
    resp = ctx.api.post("/api/v1/rewards", ctx.world.staff_a, json={
        "title": "甲社区秘密大米", "kind": "goods", "points_cost": "5.00", "stock": None,
        "org_unit_id": ctx.world.units["A"]})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@_keep("order")
def _order(ctx: Ctx) -> int:
    """An order of vol_a waiting for hand-over."""
    resp = ctx.api.post(f"/api/v1/rewards/{_reward(ctx)}/orders", ctx.world.vol_a)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@_keep("redemption")
def _redemption(ctx: Ctx) -> int:
    api, w = ctx.api, ctx.world
    api.earn(w.vol_a, w.staff_a, ago=3 + 3 * ctx.n)
    resp = api.post("/api/v1/redemptions", w.merchant_a,
                    json={"code": api.code(w.vol_a), "offer_id": w.offers["OA"]})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@_keep("offer")
def _offer(ctx: Ctx) -> int:
    resp = ctx.api.post(f"/api/v1/merchants/{ctx.world.merchants['MA']}/offers",
                        ctx.world.merchant_a, json={"title": "饮料", "points_cost": "3.00"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


IMPORT_HEADER = "姓名,手机号,网格,身份证号,角色,党员,党组织,用户名"


def _import_csv(ctx: Ctx) -> bytes:
    rows = [IMPORT_HEADER, f"甲社区秘密导入,{_phone()},第一网格,,,,,"]
    return ("\ufeff" + "\r\n".join(rows) + "\r\n").encode()


@_keep("import")
def _import(ctx: Ctx, *, confirmed=False) -> int:
    """A checked list of one member for community A, as staff of A uploaded it."""
    with ctx.app.app_context():
        batch = member_import.preview(ctx.user(ctx.world.staff_a), ctx.world.units["A"],
                                      "甲社区秘密名单.csv", _import_csv(ctx))
        batch_id = batch.id
        if confirmed:
            member_import.confirm(ctx.user(ctx.world.staff_a), batch_id,
                                  password="first-pass-2026")
        return batch_id


def _month(ctx: Ctx) -> str:
    """An ended month of its own for each role, with one redemption at merchant A."""
    return f"2024-{ctx.n + 1:02d}"


def _past_redemption(ctx: Ctx) -> str:
    month = _month(ctx)
    with ctx.app.app_context():
        code = merchants.issue_code(member=ctx.user(ctx.world.vol_a), ttl_seconds=300)
        ctx.api.earn(ctx.world.vol_a, ctx.world.staff_a, ago=3 + 3 * ctx.n)
        db.session.rollback()
        made = merchants.redeem(actor=ctx.user(ctx.world.merchant_a), code=code.code,
                                offer_id=ctx.world.offers["OA"])
        db.session.execute(update(Redemption).where(Redemption.id == made.id).values(
            created_at=datetime.fromisoformat(f"{month}-10T02:00:00+00:00")))
        db.session.commit()
    return month


def _now(ctx: Ctx, column, kept):
    """A column of the row the builder made (its id kept as `kept`, or the id itself)."""
    row_id = ctx.kept[kept] if isinstance(kept, str) else kept
    with ctx.app.app_context():
        return db.session.scalar(select(column).where(column.class_.id == row_id))


def _certificate_revoked(ctx: Ctx) -> bool:
    with ctx.app.app_context():
        return db.session.scalar(select(Certificate.revoked_at).where(
            Certificate.serial == ctx.kept["serial"])) is not None


def _form_key() -> str:
    import uuid

    return uuid.uuid4().hex


# --- who gets what --------------------------------------------------------------------

EVERYONE = dict.fromkeys(ROLES, 200)
STAFF = {"admin": 200, "staff_a": 200, "staff_b": 200, "vol_a": 403, "vol_b": 403,
         "merchant_a": 403}
MEMBERS = {"admin": 200, "staff_a": 403, "staff_b": 403, "vol_a": 200, "vol_b": 200,
           "merchant_a": 403}
# member_page: staff and administrators are sent to their desk, a shop is refused.
MEMBER_PAGE = {"admin": 302, "staff_a": 302, "staff_b": 302, "vol_a": 200, "vol_b": 200,
               "merchant_a": 403}
MERCHANT = {"admin": 403, "staff_a": 403, "staff_b": 403, "vol_a": 403, "vol_b": 403,
            "merchant_a": 200}
STAFF_OF_A = {**STAFF, "staff_b": 403}
STAFF_OF_A_404 = {**STAFF, "staff_b": 404}
# Forms of the staff desk about something of community A.
STAFF_OF_A_FORM = {"admin": DONE, "staff_a": DONE, "staff_b": DENIED, "vol_a": 403,
                   "vol_b": 403, "merchant_a": 403}
# A form of the staff desk naming a unit of A: staff of B cannot even choose it.
STAFF_UNIT_FORM = {**STAFF_OF_A_FORM, "staff_b": 422}
# A request for help or a certificate: its people and staff of A; nobody else learns of it.
SHARED_VIEW = {"admin": 200, "staff_a": 200, "staff_b": 404, "vol_a": 200, "vol_b": 404,
               "merchant_a": 403}
ACTIVITY_VIEW = {"admin": 200, "staff_a": 403, "staff_b": 403, "vol_a": 200, "vol_b": 404,
                 "merchant_a": 403}
MEMBER_PAGE_FORM = {"admin": 302, "staff_a": 302, "staff_b": 302, "vol_a": DONE,
                    "vol_b": DONE, "merchant_a": 403}

MATRIX: dict[tuple[str, str], Page] = {
    ("GET", "/"): Page(lambda c: "/", dict.fromkeys(ROLES, 302)),
    ("POST", "/logout"): Page(lambda c: "/logout", dict.fromkeys(ROLES, SIGNED_OUT),
                              after=lambda web: None if web.get("/").location.startswith(
                                  "/login") else "still signed in after signing out"),
    # The street's board: vol_a is on it, by full name only for themself.
    ("GET", "/leaderboards"): Page(
        lambda c: (c.api.earn(c.world.vol_a, c.world.staff_a, ago=3 + 3 * c.n),
                   f"/leaderboards?scope={c.world.units['street']}")[1], EVERYONE,
        secret="张小三", seen_by=("vol_a",)),
    # --- the volunteer's pages ---
    ("GET", "/me/"): Page(lambda c: "/me/", MEMBERS),
    ("GET", "/me/code"): Page(lambda c: "/me/code", MEMBERS),
    # As in the API, anyone signed in may ask for a code (an administrator too).
    ("POST", "/me/code"): Page(lambda c: "/me/code", {**MEMBERS, "admin": Form(200, True, ""),
                                                      "vol_a": Form(200, True, ""),
                                                      "vol_b": Form(200, True, "")},
                               tables=("redemption_code",)),
    ("GET", "/me/log"): Page(lambda c: "/me/log", MEMBERS),
    ("POST", "/me/log"): Page(
        lambda c: "/me/log",
        {**MEMBERS, "admin": DONE, "vol_a": DONE, "vol_b": DONE},
        body=lambda c: {"category": "cleanup", "day": (date.today() - timedelta(
            days=1 + c.n)).isoformat(), "start": "09:00", "end": "11:00", "place": "广场",
            "description": "清扫"}, tables=("service_record",)),
    ("GET", "/me/records"): Page(lambda c: f"/me/records?{_own_record(c)}", MEMBERS,
                                 secret="甲社区秘密地点", seen_by=("vol_a",)),
    ("POST", "/me/records/<int:record_id>/correction"): Page(
        lambda c: f"/me/records/{_own_record(c)}/correction",
        {**MEMBERS, "admin": DENIED, "vol_a": DONE, "vol_b": DENIED},
        body=lambda c: {"message": "时长填错了"}, tables=("correction_request",)),
    ("GET", "/me/transactions"): Page(lambda c: "/me/transactions", MEMBERS),
    # --- the merchant's till ---
    ("GET", "/till/"): Page(lambda c: "/till/", MERCHANT),
    ("POST", "/till/"): Page(
        lambda c: "/till/", {**MERCHANT, "merchant_a": Form(200, True, "")},
        body=lambda c: (c.api.earn(c.world.vol_a, c.world.staff_a, ago=3 + 3 * c.n),
                        {"code": c.api.code(c.world.vol_a),
                         "offer_id": c.world.offers["OA"]})[1],
        tables=("redemption",)),
    ("POST", "/till/redemptions/<int:redemption_id>/refund"): Page(
        lambda c: f"/till/redemptions/{_redemption(c)}/refund",
        # As in the API, an administrator may refund any redemption.
        {**MERCHANT, "admin": DONE, "merchant_a": DONE}, tables=("redemption",),
        done=lambda c: _now(c, Redemption.status, "redemption") == "refunded"),
    ("GET", "/till/statement"): Page(lambda c: "/till/statement", MERCHANT),
    ("GET", "/till/statement.csv"): Page(lambda c: "/till/statement.csv", MERCHANT),
    ("GET", "/till/statement.xlsx"): Page(lambda c: "/till/statement.xlsx", MERCHANT),
    ("GET", "/till/today"): Page(lambda c: "/till/today", MERCHANT),
    # --- the staff desk ---
    ("GET", "/desk/"): Page(lambda c: f"/desk/?{_record(c)}", STAFF, secret="甲社区秘密地点"),
    ("POST", "/desk/review"): Page(
        lambda c: "/desk/review",
        {**STAFF_OF_A_FORM, "staff_b": REFUSED},
        body=lambda c: {"ids": [_record(c)], "action": "approve"},
        tables=("service_record",),
        done=lambda c: _now(c, ServiceRecord.status, "record") == "approved"),
    ("POST", "/desk/corrections/<int:request_id>/resolve"): Page(
        lambda c: f"/desk/corrections/{_correction(c)}/resolve", STAFF_OF_A_FORM,
        body=lambda c: {"resolution": "已改正"}, tables=("correction_request",),
        done=lambda c: _now(c, CorrectionRequest.resolution, "correction") == "已改正"),
    ("GET", "/desk/categories"): Page(lambda c: "/desk/categories", STAFF),
    ("POST", "/desk/categories/new"): Page(
        lambda c: "/desk/categories/new", {**STAFF_OF_A_FORM, "staff_b": DONE},
        body=lambda c: {"code": f"patrol{c.n}", "name": f"巡逻{c.n}",
                        "points_per_hour": "5.00"}, tables=("service_category",)),
    ("POST", "/desk/categories/<code>/rate"): Page(
        lambda c: "/desk/categories/cleanup/rate", {**STAFF_OF_A_FORM, "staff_b": DONE},
        body=lambda c: {"points_per_hour": "12.00",
                        "effective_from": f"2030-01-{c.n + 1:02d}"},
        tables=("category_rate",)),
    ("GET", "/desk/members"): Page(lambda c: f"/desk/members?{_member(c)}", STAFF,
                                   secret="甲社区秘密成员"),
    ("GET", "/desk/members/new"): Page(lambda c: "/desk/members/new", STAFF),
    ("POST", "/desk/members/new"): Page(
        lambda c: "/desk/members/new", STAFF_UNIT_FORM,
        body=lambda c: {"username": f"added{c.n}", "password": "long-enough-9",
                        "display_name": "新成员", "org_unit_id": c.world.units["A1"],
                        "roles": "volunteer"}, tables=("user_account",)),
    ("GET", "/desk/members/<int:member_id>"): Page(
        lambda c: f"/desk/members/{_member(c)}", STAFF_OF_A, secret="甲社区秘密成员"),
    ("POST", "/desk/members/<int:member_id>"): Page(
        lambda c: f"/desk/members/{_member(c)}", STAFF_OF_A_FORM,
        body=lambda c: {"display_name": "改过的名字", "org_unit_id": c.world.units["A1"],
                        "roles": "volunteer"}, tables=("user_account",),
        done=lambda c: _now(c, User.display_name, "member") == "改过的名字"),
    ("POST", "/desk/members/<int:member_id>/active"): Page(
        lambda c: f"/desk/members/{_member(c)}/active", STAFF_OF_A_FORM,
        body=lambda c: {"active": "0"}, tables=("user_account",),
        done=lambda c: _now(c, User.is_active, "member") is False),
    ("GET", "/desk/merchants"): Page(lambda c: "/desk/merchants", STAFF, secret="惠民肉菜店"),
    ("POST", "/desk/merchants/new"): Page(
        lambda c: "/desk/merchants/new", {**STAFF_OF_A_FORM, "staff_b": REFUSED},
        body=lambda c: {"name": f"新店{c.n}", "org_unit_id": c.world.units["A1"]},
        tables=("merchant",)),
    ("POST", "/desk/merchants/<int:merchant_id>/offers"): Page(
        lambda c: f"/desk/merchants/{c.world.merchants['MA']}/offers", STAFF_OF_A_FORM,
        body=lambda c: {"title": f"饮料{c.n}", "points_cost": "3.00"}, tables=("offer",)),
    ("POST", "/desk/offers/<int:offer_id>/active"): Page(
        lambda c: f"/desk/offers/{_offer(c)}/active", STAFF_OF_A_FORM,
        body=lambda c: {"active": "0"}, tables=("offer",),
        done=lambda c: _now(c, Offer.is_active, "offer") is False),
    # --- activities ---
    ("GET", "/activities/"): Page(lambda c: f"/activities/?{_activity(c)}", MEMBERS,
                                  secret="甲社区秘密活动"),
    ("GET", "/activities/mine"): Page(
        lambda c: f"/activities/mine?{_activity(c, sign_up=True)}", MEMBERS,
        secret="甲社区秘密活动", seen_by=("vol_a",)),
    ("GET", "/activities/manage"): Page(lambda c: f"/activities/manage?{_activity(c)}", STAFF,
                                        secret="甲社区秘密活动"),
    ("GET", "/activities/new"): Page(lambda c: "/activities/new", STAFF),
    ("POST", "/activities/new"): Page(
        lambda c: "/activities/new", STAFF_UNIT_FORM,
        body=lambda c: {"title": "清扫", "category": "cleanup",
                        "org_unit_id": c.world.units["A1"], "starts_at": "2030-05-01T09:00",
                        "ends_at": "2030-05-01T11:00", "place": "广场", "capacity": "3"},
        tables=("activity",)),
    ("GET", "/activities/<int:activity_id>"): Page(
        lambda c: f"/activities/{_activity(c)}", ACTIVITY_VIEW, secret="甲社区秘密活动"),
    ("POST", "/activities/<int:activity_id>/sign-up"): Page(
        lambda c: f"/activities/{_activity(c)}/sign-up",
        {**MEMBERS, "admin": REFUSED, "vol_a": DONE, "vol_b": DENIED},
        tables=("activity_signup",)),
    ("POST", "/activities/<int:activity_id>/cancel-sign-up"): Page(
        lambda c: f"/activities/{_activity(c, sign_up=True)}/cancel-sign-up",
        {**MEMBERS, "admin": REFUSED, "vol_a": DONE, "vol_b": DENIED},
        tables=("activity_signup",)),
    ("GET", "/activities/<int:activity_id>/check-in"): Page(
        lambda c: f"/activities/{_activity(c)}/check-in", ACTIVITY_VIEW,
        secret="甲社区秘密活动"),
    ("POST", "/activities/<int:activity_id>/check-in"): Page(
        lambda c: f"/activities/{_activity(c, sign_up=True)}/check-in",
        {**MEMBERS, "admin": REFUSED, "vol_a": DONE, "vol_b": DENIED},
        body=lambda c: _code_of(c, c.kept["activity"]), tables=("activity_signup",)),
    ("POST", "/activities/<int:activity_id>/check-out"): Page(
        lambda c: f"/activities/{_activity(c, check_in=True)}/check-out",
        {**MEMBERS, "admin": REFUSED, "vol_a": DONE, "vol_b": DENIED},
        body=lambda c: _code_of(c, c.kept["activity"]), tables=("activity_signup",)),
    ("GET", "/activities/<int:activity_id>/organise"): Page(
        lambda c: f"/activities/{_activity(c)}/organise", STAFF_OF_A, secret="甲社区秘密活动"),
    ("GET", "/activities/<int:activity_id>/screen"): Page(
        lambda c: f"/activities/{_activity(c)}/screen", STAFF_OF_A, secret="甲社区秘密活动"),
    ("GET", "/activities/<int:activity_id>/code.json"): Page(
        lambda c: f"/activities/{_activity(c)}/code.json", STAFF_OF_A),
    ("POST", "/activities/<int:activity_id>/attendance"): Page(
        lambda c: f"/activities/{_activity(c, sign_up=True)}/attendance", STAFF_OF_A_FORM,
        body=lambda c: {"member": str(c.world.vol_a.id), "checked_in_at": _local(c, _ago(1)),
                        "checked_out_at": _local(c, _ago(0.5))},
        tables=("activity_signup",)),
    ("GET", "/activities/<int:activity_id>/close"): Page(
        lambda c: f"/activities/{_activity(c)}/close", STAFF_OF_A, secret="甲社区秘密活动"),
    ("POST", "/activities/<int:activity_id>/close"): Page(
        lambda c: f"/activities/{_activity(c)}/close", STAFF_OF_A_FORM, tables=("activity",),
        done=lambda c: _now(c, Activity.status, "activity") == "closed"),
    ("GET", "/activities/<int:activity_id>/cancel"): Page(
        lambda c: f"/activities/{_activity(c)}/cancel", STAFF_OF_A, secret="甲社区秘密活动"),
    ("POST", "/activities/<int:activity_id>/cancel"): Page(
        lambda c: f"/activities/{_activity(c)}/cancel", STAFF_OF_A_FORM,
        tables=("activity",),
        done=lambda c: _now(c, Activity.status, "activity") == "cancelled"),
    ("POST", "/activities/<int:activity_id>/approve"): Page(
        lambda c: f"/activities/{_closed_activity(c)}/approve", STAFF_OF_A_FORM,
        body=lambda c: {"ids": c.kept["records"]}, tables=("service_record",),
        done=lambda c: all(_now(c, ServiceRecord.status, record_id) == "approved"
                           for record_id in c.kept["records"])),
    # --- the time bank between neighbours ---
    ("GET", "/neighbours/"): Page(lambda c: f"/neighbours/?{_help(c)}", MEMBER_PAGE,
                                  secret="甲社区秘密求助"),
    ("GET", "/neighbours/new"): Page(lambda c: "/neighbours/new", MEMBER_PAGE),
    ("POST", "/neighbours/new"): Page(
        lambda c: "/neighbours/new", MEMBER_PAGE_FORM,
        body=lambda c: {"title": "买菜", "category": "cleanup",
                        "day": (date.today() + timedelta(days=1)).isoformat(),
                        "time": "09:00", "offered_points": "", "form_key": _form_key()},
        tables=("help_request",)),
    ("GET", "/neighbours/requests/<int:request_id>"): Page(
        lambda c: f"/neighbours/requests/{_help(c)}", SHARED_VIEW, secret="甲社区秘密求助"),
    ("POST", "/neighbours/requests/<int:request_id>/claim"): Page(
        lambda c: f"/neighbours/requests/{_help(c)}/claim",
        {**MEMBER_PAGE, "vol_a": DONE, "vol_b": DENIED}, tables=("help_request",),
        done=lambda c: _now(c, HelpRequest.status, "help") == "claimed"),
    ("POST", "/neighbours/requests/<int:request_id>/release"): Page(
        lambda c: f"/neighbours/requests/{_help(c, claimed_by='vol_a')}/release",
        {"admin": DONE, "staff_a": DONE, "staff_b": DENIED, "vol_a": DONE, "vol_b": DENIED,
         "merchant_a": 403}, tables=("help_request",),
        done=lambda c: _now(c, HelpRequest.status, "help") == "open"),
    ("POST", "/neighbours/requests/<int:request_id>/cancel"): Page(
        lambda c: f"/neighbours/requests/{_help(c)}/cancel",
        {"admin": DONE, "staff_a": DONE, "staff_b": DENIED, "vol_a": DENIED, "vol_b": DENIED,
         "merchant_a": 403}, tables=("help_request",),
        done=lambda c: _now(c, HelpRequest.status, "help") == "cancelled"),
    ("POST", "/neighbours/requests/<int:request_id>/complete"): Page(
        lambda c: f"/neighbours/requests/{_help(c, by='vol_a', claimed_by='vol_a2')}/complete",
        {"admin": DONE, "staff_a": DONE, "staff_b": DENIED, "vol_a": DONE, "vol_b": DENIED,
         "merchant_a": 403}, body=lambda c: {"rating": "5"}, tables=("help_request",),
        done=lambda c: _now(c, HelpRequest.status, "help") == "completed"),
    ("GET", "/neighbours/give"): Page(lambda c: "/neighbours/give", MEMBER_PAGE),
    ("POST", "/neighbours/give"): Page(
        lambda c: (_giving_allowed(c), "/neighbours/give")[1],
        {**MEMBER_PAGE_FORM, "vol_b": REFUSED},
        body=lambda c: {"phone": _recipient(c), "amount": "1.00", "confirmed": "1",
                        "form_key": _form_key()},
        tables=("transfer",)),
    ("GET", "/neighbours/family"): Page(lambda c: "/neighbours/family", MEMBER_PAGE),
    ("POST", "/neighbours/family"): Page(
        lambda c: "/neighbours/family", MEMBER_PAGE_FORM,
        body=lambda c: {"phone": _recipient(c), "relation": "spouse"}, tables=("family_link",)),
    ("POST", "/neighbours/family/<int:link_id>/revoke"): Page(
        lambda c: f"/neighbours/family/{_link(c)}/revoke",
        {"admin": DONE, "staff_a": DONE, "staff_b": DENIED, "vol_a": DONE, "vol_b": DENIED,
         "merchant_a": 403}, tables=("family_link",),
        done=lambda c: _now(c, FamilyLink.status, "link") == "revoked"),
    ("GET", "/neighbours/desk"): Page(lambda c: f"/neighbours/desk?{_help(c)}", STAFF,
                                      secret="甲社区秘密求助"),
    ("GET", "/neighbours/desk/members"): Page(
        lambda c: f"/neighbours/desk/members?{_member(c)}", STAFF, secret="甲社区秘密成员"),
    ("GET", "/neighbours/desk/members/<int:member_id>/give"): Page(
        lambda c: f"/neighbours/desk/members/{_member(c)}/give", STAFF_OF_A,
        secret="甲社区秘密成员"),
    ("POST", "/neighbours/desk/members/<int:member_id>/give"): Page(
        lambda c: (_giving_allowed(c),
                   f"/neighbours/desk/members/{c.world.vol_a.id}/give")[1],
        STAFF_OF_A_FORM,
        body=lambda c: {"phone": _recipient(c), "amount": "1.00", "confirmed": "1",
                        "form_key": _form_key()},
        tables=("transfer",)),
    ("GET", "/neighbours/desk/members/<int:member_id>/request"): Page(
        lambda c: f"/neighbours/desk/members/{_member(c)}/request", STAFF_OF_A,
        secret="甲社区秘密成员"),
    ("POST", "/neighbours/desk/members/<int:member_id>/request"): Page(
        lambda c: f"/neighbours/desk/members/{_member(c)}/request", STAFF_OF_A_FORM,
        body=lambda c: {"title": "买菜", "category": "cleanup",
                        "day": (date.today() + timedelta(days=1)).isoformat(),
                        "time": "09:00", "offered_points": "", "form_key": _form_key()},
        tables=("help_request",)),
    ("GET", "/neighbours/desk/links"): Page(lambda c: f"/neighbours/desk/links?{_link(c)}",
                                            STAFF, secret="甲社区秘密成员"),
    ("POST", "/neighbours/desk/links/<int:link_id>/confirm"): Page(
        lambda c: f"/neighbours/desk/links/{_link(c)}/confirm", STAFF_OF_A_FORM,
        tables=("family_link",),
        done=lambda c: _now(c, FamilyLink.status, "link") == "confirmed"),
    ("GET", "/neighbours/desk/policy"): Page(lambda c: "/neighbours/desk/policy", STAFF),
    ("POST", "/neighbours/desk/policy/<int:unit_id>"): Page(
        lambda c: f"/neighbours/desk/policy/{c.world.units['A']}", STAFF_OF_A_FORM,
        body=lambda c: {"mode": "family", "per_transfer_limit": f"{5 + c.n}.00",
                        "monthly_limit": "30.00"}, tables=("points_policy",)),
    # --- the points policy ---
    ("GET", "/policy/"): Page(lambda c: "/policy/", STAFF),
    ("GET", "/policy/<int:unit_id>"): Page(lambda c: f"/policy/{c.world.units['A']}",
                                           STAFF_OF_A),
    ("POST", "/policy/<int:unit_id>"): Page(
        lambda c: f"/policy/{c.world.units['A']}", STAFF_OF_A_FORM,
        body=lambda c: {"effective_from": (date.today() + timedelta(days=2 + c.n)).isoformat(),
                        "transfer_mode": "family", "per_transfer_limit": "5.00",
                        "monthly_transfer_limit": "10.00", "expiry_mode": "end_of_next_year"},
        tables=("points_policy",)),
    # --- recognition ---
    ("GET", "/recognition/"): Page(lambda c: "/recognition/", MEMBER_PAGE),
    ("POST", "/recognition/boards-choice"): Page(
        lambda c: "/recognition/boards-choice", MEMBER_PAGE_FORM,
        body=lambda c: {"shown": "0"}, tables=("user_account",)),
    ("GET", "/recognition/certificates/<serial>"): Page(
        lambda c: f"/recognition/certificates/{_certificate(c)}", SHARED_VIEW,
        secret=lambda c: c.kept["serial"]),
    ("GET", "/recognition/certificates/<serial>.pdf"): Page(
        lambda c: f"/recognition/certificates/{_certificate(c)}.pdf", SHARED_VIEW,
        secret=lambda c: c.kept["serial"], seen_by=()),
    ("POST", "/recognition/certificates/<serial>/revoke"): Page(
        lambda c: f"/recognition/certificates/{_certificate(c)}/revoke", STAFF_OF_A_FORM,
        body=lambda c: {"reason": "时长有误"}, tables=("certificate",),
        done=lambda c: _certificate_revoked(c)),
    ("GET", "/recognition/desk"): Page(lambda c: f"/recognition/desk?{_certificate(c)}", STAFF,
                                       secret=lambda c: c.kept["serial"]),
    ("GET", "/recognition/desk/issue"): Page(lambda c: "/recognition/desk/issue", STAFF),
    ("POST", "/recognition/desk/issue"): Page(
        lambda c: "/recognition/desk/issue", STAFF_UNIT_FORM,
        body=lambda c: (c.api.earn(c.world.vol_a, c.world.staff_a, ago=3 + 3 * c.n),
                        {"member_id": str(c.world.vol_a.id), "kind": "service_record",
                         "form_key": _form_key()})[1], tables=("certificate",)),
    ("GET", "/recognition/desk/red-flag"): Page(lambda c: "/recognition/desk/red-flag", STAFF),
    ("GET", "/recognition/desk/teams"): Page(lambda c: f"/recognition/desk/teams?{_team(c)}",
                                             STAFF, secret="甲社区秘密队"),
    ("POST", "/recognition/desk/teams"): Page(
        lambda c: "/recognition/desk/teams", STAFF_UNIT_FORM,
        body=lambda c: {"org_unit_id": str(c.world.units["A1"]), "name": f"护河队{c.n}"},
        tables=("volunteer_team",)),
    ("GET", "/recognition/desk/teams/<int:team_id>"): Page(
        lambda c: f"/recognition/desk/teams/{_team(c)}", STAFF_OF_A_404, secret="甲社区秘密队"),
    ("POST", "/recognition/desk/teams/<int:team_id>/rename"): Page(
        lambda c: f"/recognition/desk/teams/{_team(c)}/rename", STAFF_OF_A_FORM,
        body=lambda c: {"name": f"蓝马甲{c.n}"}, tables=("volunteer_team",),
        done=lambda c: _now(c, VolunteerTeam.name, "team") == f"蓝马甲{c.n}"),
    ("POST", "/recognition/desk/teams/<int:team_id>/members"): Page(
        lambda c: f"/recognition/desk/teams/{_team(c)}/members", STAFF_OF_A_FORM,
        body=lambda c: {"member_id": str(c.world.vol_a2.id)}, tables=("team_membership",)),
    ("POST", "/recognition/desk/teams/<int:team_id>/members/<int:member_id>/remove"): Page(
        lambda c: f"/recognition/desk/teams/{_team(c)}/members/{c.world.vol_a.id}/remove",
        STAFF_OF_A_FORM, tables=("team_membership",)),
    ("POST", "/recognition/desk/teams/<int:team_id>/leader"): Page(
        lambda c: f"/recognition/desk/teams/{_team(c)}/leader", STAFF_OF_A_FORM,
        body=lambda c: {"member_id": ""}, tables=("volunteer_team",),
        done=lambda c: _now(c, VolunteerTeam.leader_id, "team") is None),
    # --- reports of community A ---
    ("GET", "/reports/"): Page(lambda c: f"/reports/?unit_id={c.world.units['A']}",
                               STAFF_OF_A_404),
    ("GET", "/reports/export/records.<fmt>"): Page(
        lambda c: f"/reports/export/records.csv?unit_id={c.world.units['A']}",
        STAFF_OF_A_404),
    ("GET", "/reports/export/transactions.<fmt>"): Page(
        lambda c: f"/reports/export/transactions.xlsx?unit_id={c.world.units['A']}",
        STAFF_OF_A_404),
    ("GET", "/reports/party"): Page(lambda c: f"/reports/party?unit_id={c.world.units['A']}",
                                    STAFF_OF_A_404),
    ("GET", "/reports/party.<fmt>"): Page(
        lambda c: f"/reports/party.csv?unit_id={c.world.units['A']}", STAFF_OF_A_404),
    # --- member import ---
    ("GET", "/members/import/"): Page(lambda c: f"/members/import/?{_import(c)}", STAFF,
                                      secret="甲社区秘密名单"),
    ("POST", "/members/import/"): Page(
        # Uploaded: straight on to the checked preview, without a message.
        lambda c: "/members/import/", {**STAFF_OF_A_FORM, "admin": UPLOADED,
                                       "staff_a": UPLOADED, "staff_b": REFUSED},
        body=lambda c: {"org_unit_id": str(c.world.units["A"]),
                        "file": (io.BytesIO(_import_csv(c)), "名单.csv")},
        multipart=True, tables=("member_import",)),
    ("GET", "/members/import/template.csv"): Page(lambda c: "/members/import/template.csv",
                                                  STAFF),
    ("GET", "/members/import/<int:import_id>"): Page(
        lambda c: f"/members/import/{_import(c)}", STAFF_OF_A, secret="甲社区秘密导入"),
    ("POST", "/members/import/<int:import_id>/confirm"): Page(
        lambda c: f"/members/import/{_import(c)}/confirm", STAFF_OF_A_FORM,
        body=lambda c: {"password": "first-pass-2026"}, tables=("user_account",),
        done=lambda c: _now(c, MemberImport.status, "import") == "imported"),
    ("POST", "/members/import/<int:import_id>/discard"): Page(
        lambda c: f"/members/import/{_import(c)}/discard", STAFF_OF_A_FORM,
        tables=("member_import",),
        done=lambda c: _now(c, MemberImport.status, "import") == "discarded"),
    ("GET", "/members/import/<int:import_id>/result"): Page(
        lambda c: f"/members/import/{_import(c, confirmed=True)}/result", STAFF_OF_A,
        secret="甲社区秘密导入"),
    # --- the audit trail ---
    ("GET", "/audit/"): Page(lambda c: f"/audit/?{_team(c)}", STAFF, secret="甲社区秘密队"),
    # --- settling with merchants ---
    ("GET", "/settlements/"): Page(lambda c: f"/settlements/?month={_past_redemption(c)}",
                                   STAFF, secret="惠民肉菜店"),
    ("GET", "/settlements/<month>.<any(csv, xlsx):fmt_>"): Page(
        lambda c: f"/settlements/{_past_redemption(c)}.csv", STAFF, secret="惠民肉菜店"),
    ("GET", "/settlements/<int:merchant_id>/<month>"): Page(
        lambda c: f"/settlements/{c.world.merchants['MA']}/{_past_redemption(c)}",
        STAFF_OF_A_404, secret="惠民肉菜店"),
    ("GET", "/settlements/<int:merchant_id>/<month>.<any(csv, xlsx):fmt_>"): Page(
        lambda c: f"/settlements/{c.world.merchants['MA']}/{_past_redemption(c)}.xlsx",
        STAFF_OF_A_404),
    ("POST", "/settlements/<int:merchant_id>/<month>/settle"): Page(
        lambda c: f"/settlements/{c.world.merchants['MA']}/{_past_redemption(c)}/settle",
        {**STAFF_OF_A_FORM, "staff_b": 404}, body=lambda c: {"note": "已对账"},
        tables=("merchant_settlement",)),
    # --- the points shop ---
    ("GET", "/shop/"): Page(lambda c: f"/shop/?{_reward(c)}", MEMBER_PAGE,
                            secret="甲社区秘密大米"),
    ("POST", "/shop/rewards/<reward_id>/order"): Page(
        lambda c: f"/shop/rewards/{_reward(c)}/order",
        {"admin": 403, "staff_a": 403, "staff_b": 403, "vol_a": DONE, "vol_b": 404,
         "merchant_a": 403},
        body=lambda c: {"quantity": "1", "form_key": _form_key()}, tables=("reward_order",)),
    ("GET", "/shop/orders"): Page(lambda c: f"/shop/orders?{_order(c)}", MEMBER_PAGE,
                                  secret="甲社区秘密大米"),
    ("POST", "/shop/orders/<order_id>/cancel"): Page(
        lambda c: f"/shop/orders/{_order(c)}/cancel",
        {"admin": 403, "staff_a": 403, "staff_b": 403, "vol_a": DONE, "vol_b": 404,
         "merchant_a": 403}, tables=("reward_order",),
        done=lambda c: _now(c, RewardOrder.status, "order") == "cancelled"),
    ("GET", "/shop/desk"): Page(lambda c: f"/shop/desk?{_order(c)}", STAFF,
                                secret="甲社区秘密大米"),
    ("POST", "/shop/desk/orders/<order_id>/hand-over"): Page(
        lambda c: f"/shop/desk/orders/{_order(c)}/hand-over", {**STAFF_OF_A_FORM,
                                                               "staff_b": 404},
        tables=("reward_order",),
        done=lambda c: _now(c, RewardOrder.status, "order") == "fulfilled"),
    ("POST", "/shop/desk/orders/<order_id>/cancel"): Page(
        lambda c: f"/shop/desk/orders/{_order(c)}/cancel", {**STAFF_OF_A_FORM,
                                                            "staff_b": 404},
        tables=("reward_order",),
        done=lambda c: _now(c, RewardOrder.status, "order") == "cancelled"),
    ("GET", "/shop/desk/rewards/new"): Page(lambda c: "/shop/desk/rewards/new", STAFF),
    ("POST", "/shop/desk/rewards/new"): Page(
        lambda c: "/shop/desk/rewards/new", STAFF_UNIT_FORM,
        body=lambda c: {"title": "毛巾", "kind": "goods", "points_cost": "3.00",
                        "unlimited": "y", "org_unit_id": str(c.world.units["A"])},
        tables=("reward",)),
    ("GET", "/shop/desk/rewards/<reward_id>"): Page(
        lambda c: f"/shop/desk/rewards/{_reward(c)}", STAFF_OF_A_404, secret="甲社区秘密大米"),
    ("POST", "/shop/desk/rewards/<reward_id>"): Page(
        lambda c: f"/shop/desk/rewards/{_reward(c)}", {**STAFF_OF_A_FORM, "staff_b": 404},
        body=lambda c: {"title": "甲社区秘密大米", "kind": "goods", "points_cost": "6.00",
                        "unlimited": "y", "stock_seen": "", "is_active": "y"},
        tables=("reward",),
        done=lambda c: _now(c, Reward.points_cost_minor, "reward") == 600),
}


# --- running one entry ----------------------------------------------------------------


def _page_rules() -> set[tuple[str, str]]:
    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "x"})
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            if not rule.rule.startswith(("/api/", "/bootstrap/")) and rule.endpoint != "static"
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_page_is_in_the_matrix():
    assert _page_rules() - set(PUBLIC) - set(MATRIX) == set(), "pages without an entry"
    assert set(MATRIX) - _page_rules() == set(), "entries without a page"
    assert set(PUBLIC) - _page_rules() == set(), "public entries without a page"
    assert set(PUBLIC) & set(MATRIX) == set()
    assert all(set(page.expected) == set(ROLES) for page in MATRIX.values())


def _snapshot(app) -> dict[str, list]:
    """Every row of every table, to tell what a request changed."""
    with app.app_context():
        return {table.name: sorted(map(repr, db.session.execute(table.select()).all()))
                for table in db.metadata.sorted_tables}


def _changed(before: dict, after: dict) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def _flashes(web) -> list[tuple[str, str]]:
    with web.client.session_transaction() as session:
        return list(session.get("_flashes", []))


def _denial_texts(app) -> tuple[str, ...]:
    with app.test_request_context():
        return (str(Forbidden.title), str(NotFound.title))


def _secret_of(page: Page, ctx: Ctx) -> str | None:
    return page.secret(ctx) if callable(page.secret) else page.secret


_addresses = itertools.count(1)


def _browser(web_factory):
    """A browser session of its own, from an address of its own (as different people sign in
    from different devices; a limit on sign-ins per address is not what this file tests)."""
    web = web_factory()
    n = next(_addresses)
    web.client.environ_base["REMOTE_ADDR"] = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    return web


def _check_role(app, web_factory, ctx: Ctx, method: str, page: Page, role: str) -> list[str]:
    """What went wrong for one role (empty: nothing)."""
    problems: list[str] = []
    web = _browser(web_factory)
    if role != "anonymous":
        web.login(getattr(ctx.world, role))
    path = page.path(ctx)
    secret = _secret_of(page, ctx)
    if method == "POST":
        body = page.body(ctx) if page.body else {}
        web.get("/no-such-page")  # every page carries the form token; this one is the lightest
        before = _snapshot(app)
        resp = web.post(path, body, content_type="multipart/form-data") if page.multipart \
            else web.post(path, body)
        changed = _changed(before, _snapshot(app))
    else:
        resp = web.get(path)
        changed = set()
    text = resp.get_data(as_text=True) if resp.mimetype in ("text/html", "application/json",
                                                            "text/csv") else ""
    flashes = _flashes(web) if method == "POST" else []
    said = " | ".join(f"{kind}: {message}" for kind, message in flashes)

    if role == "anonymous":
        if resp.status_code != 302 or "/login" not in (resp.location or ""):
            problems.append(f"expected a redirect to /login, got {resp.status_code} "
                            f"{resp.location}")
        if changed:
            problems.append(f"changed {sorted(changed)} without signing in")
        return problems

    expected = page.expected[role]
    outcome = expected if isinstance(expected, Form) else Form(
        expected, False, "") if method == "POST" else None
    status = outcome.status if outcome else expected
    if resp.status_code != status:
        problems.append(f"expected {status}, got {resp.status_code} {resp.location or ''} "
                        f"[{said}] {text[:200] if resp.status_code >= 500 else ''}")
    if outcome is not None:
        wanted = set(page.tables) if outcome.changes else set()
        if outcome.changes and not wanted <= changed:
            problems.append(f"expected {sorted(wanted)} to change; changed: {sorted(changed)} "
                            f"[{said}]")
        if not outcome.changes and changed:
            problems.append(f"was refused but changed {sorted(changed)} [{said}]")
        kinds = {kind for kind, _message in flashes}
        if not outcome.changes and outcome.message != "success" and "success" in kinds:
            problems.append(f"changed nothing but said it did [{said}]")
        if outcome.changes and page.done is not None and not page.done(ctx):
            problems.append(f"did not do what it should [{said}]")
        if outcome.changes and "danger" in kinds:
            problems.append(f"went through with an error message [{said}]")
        if outcome.message == "success" and (kinds - {"success", "warning", "info"}
                                             or "success" not in kinds):
            problems.append(f"expected a success message, got [{said}]")
        if outcome.message in ("denied", "refused") and (
                "danger" not in kinds or "success" in kinds):
            problems.append(f"expected a refusal message, got [{said}]")
        if outcome.message == "denied" and not any(
                message in _denial_texts(app) or any(
                    word in message for word in ("找不到", "没有", "不存在", "不允许", "无权"))
                for kind, message in flashes if kind == "danger"):
            problems.append(f"expected 'not allowed' or 'not found', got [{said}]")
        if resp.status_code >= 400 and changed:
            problems.append(f"answered {resp.status_code} but changed {sorted(changed)}")
    shown = bool(secret) and (secret in text or any(secret in m for _kind, m in flashes))
    if shown and (role in OUTSIDERS or resp.status_code != 200):
        problems.append(f"shows {secret!r} to {role}")
    if secret and method == "GET" and not shown and role in _seen_by(page):
        problems.append(f"does not show {secret!r} to {role}, so the check above proves "
                        "nothing")
    if page.after is not None and (problem := page.after(web)):
        problems.append(problem)
    return problems


def _seen_by(page: Page) -> tuple[str, ...]:
    if page.seen_by is not None:
        return page.seen_by
    return tuple(role for role, expected in page.expected.items()
                 if expected == 200 and role not in OUTSIDERS)


@pytest.fixture
def quick_sign_in(app, world):
    """The same password under a cheaper hash: signing in hundreds of times stays quick (the
    form, the check and the session are the real ones)."""
    cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    with app.app_context():
        db.session.execute(update(User).where(
            User.id.in_([person.id for person in world.people.values()]))
            .values(password_hash=cheap))
        db.session.commit()


@pytest.mark.parametrize("endpoint", sorted(MATRIX), ids=lambda e: f"{e[0]} {e[1]}")
def test_each_role_gets_the_expected_answer(app, api, world, web_factory, quick_sign_in,
                                            endpoint):
    """One world per page; for each role its own objects and its own browser session."""
    method, _rule = endpoint
    page = MATRIX[endpoint]
    ctx = Ctx(app, api, world)
    failures = []
    for n, role in enumerate(("anonymous", *ROLES)):
        ctx.n, ctx.kept = n, {}
        for problem in _check_role(app, web_factory, ctx, method, page, role):
            failures.append(f"{method} {endpoint[1]} as {role}: {problem}")
    assert not failures, "\n".join(failures)


# Pages whose address names something of community A in an argument (not in the path):
# staff of A get it, staff of B are refused and learn nothing of it.
ARGUMENTS = {
    "/shop/desk?reward_id=": (_reward, "甲社区秘密大米"),
    "/recognition/desk/issue?member_id=": (_member, "甲社区秘密成员"),
    "/recognition/desk/red-flag?community_id=": (lambda c: c.world.units["A"], "阳光社区"),
    "/reports/party?unit_id=": (lambda c: c.world.units["A"], "阳光社区"),
}


@pytest.mark.parametrize("address", sorted(ARGUMENTS))
def test_an_argument_naming_community_a_is_refused_to_staff_of_b(
        app, api, world, web_factory, quick_sign_in, address):
    build, secret = ARGUMENTS[address]
    path = f"{address}{build(Ctx(app, api, world))}"
    for role, allowed in (("staff_a", True), ("staff_b", False)):
        web = _browser(web_factory)
        web.login(getattr(world, role))
        resp = web.get(path)
        text = web.text(resp)
        if allowed:
            assert resp.status_code == 200, f"{address} as {role}: {resp.status_code}"
            assert secret in text, f"{address} as {role}: {secret!r} is not on the page"
        else:
            assert resp.status_code in (403, 404), f"{address} as {role}: {resp.status_code}"
            assert secret not in text, f"{address} as {role}: shows {secret!r}"


def test_the_public_pages_show_a_member_of_a_only_by_the_masked_name(app, api, world,
                                                                   web_factory):
    """The community screen and the certificate check are open to anyone: the name is masked."""
    serial = _certificate(Ctx(app, api, world))
    web = _browser(web_factory)
    for path in (f"/board/{world.units['A']}", f"/verify/{serial}"):
        resp = web.get(path)
        assert resp.status_code == 200, path
        assert "张*三" in web.text(resp) and "张小三" not in web.text(resp), path
