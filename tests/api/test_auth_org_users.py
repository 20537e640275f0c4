"""Conventions (bearer tokens, problems, list pages), the organisation tree, users and roles."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import PASSWORD
from timebank.extensions import db
from timebank.models import ApiToken

TOKENS = "/api/v1/auth/tokens"
ME = "/api/v1/users/me"
UNITS = "/api/v1/org-units"
USERS = "/api/v1/users"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client, username: str, password: str = PASSWORD):
    return client.post(TOKENS, json={"username": username, "password": password})


def assert_problem(resp, status: int, code: str) -> dict:
    """An RFC 7807 problem with the given status and stable code."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    return body


def new_user_body(username: str, org_unit_id: int, roles: list[str], **extra) -> dict:
    return {"username": username, "password": "long-enough-pw", "display_name": "王小明",
            "roles": roles, "org_unit_id": org_unit_id, **extra}


# --- auth tokens -----------------------------------------------------------------------


def test_sign_in_answers_201_with_token_expiry_and_user(client, world):
    resp = sign_in(client, "vol_a")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert set(body) == {"token", "expires_at", "user"}
    assert isinstance(body["token"], str) and len(body["token"]) >= 32
    assert body["user"] == {"id": world.vol_a.id, "username": "vol_a", "display_name": "张小三",
                            "roles": ["volunteer"], "org_unit_id": world.units["A1"]}
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires.utcoffset() == timedelta(hours=8)  # answered in Asia/Shanghai
    assert expires > datetime.now(UTC) + timedelta(days=1)

    me = client.get(ME, headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.get_json()["id"] == world.vol_a.id


@pytest.mark.parametrize("username, password", [
    ("vol_a", "wrong-password"),
    ("nobody-here", PASSWORD),
])
def test_sign_in_with_wrong_credentials_is_401_unauthenticated(client, world, username,
                                                               password):
    resp = sign_in(client, username, password)
    body = assert_problem(resp, 401, "unauthenticated")
    assert "token" not in body


def test_sign_in_without_password_is_422_with_field_errors(client, world):
    resp = client.post(TOKENS, json={"username": "vol_a"})
    body = assert_problem(resp, 422, "validation_error")
    assert "password" in body["errors"]


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer not-a-real-token"},
    {"Authorization": f"Basic {PASSWORD}"},
], ids=["missing", "empty", "garbage", "wrong-scheme"])
def test_requests_without_a_valid_bearer_are_401(client, world, headers):
    resp = client.get(ME, headers=headers)
    assert_problem(resp, 401, "unauthenticated")
    assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_an_expired_token_is_401(app, client, world):
    raw = secrets.token_urlsafe(24)
    with app.app_context():
        db.session.add(ApiToken(user_id=world.vol_a.id,
                                token_hash=hashlib.sha256(raw.encode()).hexdigest(),
                                expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
    assert_problem(client.get(ME, headers=bearer(raw)), 401, "unauthenticated")


def test_revoking_the_current_token_is_204_and_it_stops_working(client, world):
    first = sign_in(client, "vol_a").get_json()["token"]
    second = sign_in(client, "vol_a").get_json()["token"]
    assert client.get(ME, headers=bearer(first)).status_code == 200

    resp = client.delete(f"{TOKENS}/current", headers=bearer(first))
    assert resp.status_code == 204
    assert resp.get_data() == b""

    assert_problem(client.get(ME, headers=bearer(first)), 401, "unauthenticated")
    assert_problem(client.delete(f"{TOKENS}/current", headers=bearer(first)), 401,
                   "unauthenticated")
    # Only that token: the user's other sessions go on.
    assert client.get(ME, headers=bearer(second)).status_code == 200


def test_revoking_needs_a_token(client, world):
    assert_problem(client.delete(f"{TOKENS}/current"), 401, "unauthenticated")


# --- list pages ------------------------------------------------------------------------


def test_lists_answer_items_total_page_per_page(api, world):
    resp = api.get(f"{UNITS}?parent_id={world.units['A']}", world.admin)
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"items", "total", "page", "per_page"}
    assert [u["id"] for u in body["items"]] == [world.units["A1"], world.units["A2"]]
    assert (body["total"], body["page"], body["per_page"]) == (2, 1, 20)


def test_page_and_per_page_select_a_slice(api, world):
    url = f"{UNITS}?parent_id={world.units['A']}&per_page=1"
    first = api.get(f"{url}&page=1", world.admin).get_json()
    second = api.get(f"{url}&page=2", world.admin).get_json()
    beyond = api.get(f"{url}&page=3", world.admin).get_json()
    assert [u["id"] for u in first["items"]] == [world.units["A1"]]
    assert [u["id"] for u in second["items"]] == [world.units["A2"]]
    assert (second["total"], second["page"], second["per_page"]) == (2, 2, 1)
    assert beyond["items"] == [] and beyond["total"] == 2


@pytest.mark.parametrize("query", ["per_page=0", "per_page=101", "page=0", "page=x"])
def test_paging_out_of_range_is_422(api, world, query):
    resp = api.get(f"{UNITS}?{query}", world.admin)
    body = assert_problem(resp, 422, "validation_error")
    assert query.split("=")[0] in body["errors"]


# --- organisation ----------------------------------------------------------------------


def test_admin_adds_a_grid_under_a_community_with_its_path(api, world):
    resp = api.post(UNITS, world.admin,
                    json={"parent_id": world.units["A"], "kind": "grid", "name": "第三网格"})
    assert resp.status_code == 201, resp.get_json()
    unit = resp.get_json()
    assert unit["parent_id"] == world.units["A"]
    assert (unit["kind"], unit["name"]) == ("grid", "第三网格")
    assert unit["path"] == f"/{world.units['street']}/{world.units['A']}/{unit['id']}/"

    fetched = api.get(f"{UNITS}/{unit['id']}", world.vol_a)
    assert fetched.status_code == 200
    assert fetched.get_json() == unit


def test_admin_adds_a_top_level_street(api, world):
    resp = api.post(UNITS, world.admin, json={"parent_id": None, "kind": "street",
                                              "name": "光明街道"})
    assert resp.status_code == 201, resp.get_json()
    unit = resp.get_json()
    assert unit["parent_id"] is None
    assert unit["path"] == f"/{unit['id']}/"


def test_a_building_may_skip_the_grid_below_a_community(api, world):
    resp = api.post(UNITS, world.admin,
                    json={"parent_id": world.units["B"], "kind": "building", "name": "3号楼"})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["path"].startswith(f"/{world.units['street']}/{world.units['B']}/")


@pytest.mark.parametrize("parent, kind", [
    ("street", "grid"),
    ("street", "building"),
    ("A", "street"),
    ("A", "community"),
    ("A1", "grid"),
    (None, "grid"),
])
def test_a_unit_of_the_wrong_kind_for_its_parent_is_422(api, world, parent, kind):
    parent_id = world.units[parent] if parent else None
    before = api.get(f"{UNITS}?parent_id={parent_id}" if parent_id else UNITS,
                     world.admin).get_json()["total"]
    resp = api.post(UNITS, world.admin, json={"parent_id": parent_id, "kind": kind,
                                              "name": "新单位"})
    body = assert_problem(resp, 422, "validation_error")
    assert "kind" in body["errors"]
    after = api.get(f"{UNITS}?parent_id={parent_id}" if parent_id else UNITS,
                    world.admin).get_json()["total"]
    assert after == before


def test_an_unknown_kind_is_422(api, world):
    resp = api.post(UNITS, world.admin,
                    json={"parent_id": world.units["A"], "kind": "village", "name": "x"})
    assert "kind" in assert_problem(resp, 422, "validation_error")["errors"]


def test_staff_add_units_inside_their_subtree_only(api, world):
    inside = api.post(UNITS, world.staff_a,
                      json={"parent_id": world.units["A"], "kind": "grid", "name": "第三网格"})
    assert inside.status_code == 201, inside.get_json()
    outside = api.post(UNITS, world.staff_a,
                       json={"parent_id": world.units["B"], "kind": "grid", "name": "第九网格"})
    assert_problem(outside, 403, "forbidden")
    top = api.post(UNITS, world.staff_a, json={"parent_id": None, "kind": "street",
                                               "name": "别的街道"})
    assert_problem(top, 403, "forbidden")


def test_volunteers_cannot_add_units(api, world):
    resp = api.post(UNITS, world.vol_a,
                    json={"parent_id": world.units["A1"], "kind": "building", "name": "1号楼"})
    assert_problem(resp, 403, "forbidden")


def test_get_unit_by_id(api, world):
    resp = api.get(f"{UNITS}/{world.units['B1']}", world.staff_a)
    assert resp.status_code == 200
    assert resp.get_json() == {
        "id": world.units["B1"], "parent_id": world.units["B"], "kind": "grid",
        "name": "第一网格",
        "path": f"/{world.units['street']}/{world.units['B']}/{world.units['B1']}/",
    }


def test_list_children_of_a_parent_and_the_top_level(api, world):
    children = api.get(f"{UNITS}?parent_id={world.units['street']}", world.vol_a).get_json()
    assert [(u["id"], u["kind"]) for u in children["items"]] == [
        (world.units["A"], "community"), (world.units["B"], "community")]
    assert children["total"] == 2
    top = api.get(UNITS, world.vol_a).get_json()
    assert [u["id"] for u in top["items"]] == [world.units["street"]]


@pytest.mark.parametrize("unit_id", [999999, 2**31, 10**30])
def test_unknown_unit_is_404_not_found(api, world, unit_id):
    assert_problem(api.get(f"{UNITS}/{unit_id}", world.admin), 404, "not_found")


def test_unknown_parent_is_404_not_found(api, world):
    assert_problem(api.get(f"{UNITS}?parent_id=999999", world.admin), 404, "not_found")
    resp = api.post(UNITS, world.admin, json={"parent_id": 999999, "kind": "grid",
                                              "name": "x"})
    assert_problem(resp, 404, "not_found")
    # An id no unit can have is refused as input, never passed to the database.
    resp = api.post(UNITS, world.admin, json={"parent_id": 2**31, "kind": "grid", "name": "x"})
    assert "parent_id" in assert_problem(resp, 422, "validation_error")["errors"]


# --- users and roles -------------------------------------------------------------------


def test_admin_creates_a_staff_member_who_can_sign_in(api, client, world):
    body = new_user_body("staff_new", world.units["B"], ["staff"], phone="13800000001")
    resp = api.post(USERS, world.admin, json=body)
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert set(created) == {"id", "username", "display_name", "roles", "org_unit_id"}
    assert created["username"] == "staff_new"
    assert created["display_name"] == "王小明"
    assert created["roles"] == ["staff"]
    assert created["org_unit_id"] == world.units["B"]

    token = sign_in(client, "staff_new", "long-enough-pw")
    assert token.status_code == 201
    assert token.get_json()["user"]["id"] == created["id"]


@pytest.mark.parametrize("roles", [["admin"], ["merchant"], ["volunteer", "gridworker"]])
def test_admin_creates_anyone(api, world, roles):
    extra = {"merchant_id": world.merchants["MA"]} if "merchant" in roles else {}
    resp = api.post(USERS, world.admin,
                    json=new_user_body("someone", world.units["A"], roles, **extra))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["roles"] == sorted(roles)


@pytest.mark.parametrize("roles, unit", [
    (["volunteer"], "A1"),
    (["gridworker"], "A2"),
    (["volunteer"], "A"),
])
def test_staff_create_members_inside_their_subtree(api, world, roles, unit):
    resp = api.post(USERS, world.staff_a,
                    json=new_user_body("newbie", world.units[unit], roles))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["org_unit_id"] == world.units[unit]
    assert resp.get_json()["roles"] == roles


@pytest.mark.parametrize("unit", ["B", "B1", "street"])
def test_staff_cannot_create_members_outside_their_subtree(api, client, world, unit):
    resp = api.post(USERS, world.staff_a,
                    json=new_user_body("stranger", world.units[unit], ["volunteer"]))
    assert_problem(resp, 403, "forbidden")
    assert sign_in(client, "stranger", "long-enough-pw").status_code == 401


@pytest.mark.parametrize("roles", [["staff"], ["admin"], ["volunteer", "staff"]])
def test_staff_cannot_create_staff_or_admins(api, client, world, roles):
    resp = api.post(USERS, world.staff_a,
                    json=new_user_body("climber", world.units["A1"], roles))
    assert_problem(resp, 403, "forbidden")
    assert sign_in(client, "climber", "long-enough-pw").status_code == 401


@pytest.mark.parametrize("who", ["vol_a", "vol_a2", "merchant_a"])
def test_members_and_merchants_cannot_create_users(api, world, who):
    resp = api.post(USERS, getattr(world, who),
                    json=new_user_body("friend", world.units["A1"], ["volunteer"]))
    assert_problem(resp, 403, "forbidden")


def test_a_duplicate_username_is_409(api, world):
    resp = api.post(USERS, world.admin,
                    json=new_user_body("vol_a", world.units["A1"], ["volunteer"]))
    assert_problem(resp, 409, "already_exists")


def test_user_fields_are_validated_422(api, world):
    body = new_user_body("x", world.units["A1"], ["superuser"], password="short")
    resp = api.post(USERS, world.admin, json=body)
    errors = assert_problem(resp, 422, "validation_error")["errors"]
    assert "username" in errors
    assert any(key.startswith("roles") for key in errors)


def test_a_short_password_is_422(api, world):
    body = new_user_body("shorty", world.units["A1"], ["volunteer"], password="1234567")
    errors = assert_problem(api.post(USERS, world.admin, json=body), 422,
                            "validation_error")["errors"]
    assert "password" in errors


def test_users_me_describes_the_signed_in_member(api, world):
    resp = api.get(ME, world.vol_b)
    assert resp.status_code == 200
    assert resp.get_json() == {
        "id": world.vol_b.id, "username": "vol_b", "display_name": "Alice Smith",
        "roles": ["volunteer"], "org_unit_id": world.units["B1"],
        "balance": "0.00", "total_hours": "0.00", "star_level": 0,
    }


def test_users_me_counts_approved_hours_and_points(api, world):
    api.earn(world.vol_a, world.staff_a, ago=10, length=1.5)
    me = api.get(ME, world.vol_a).get_json()
    assert (me["balance"], me["total_hours"], me["star_level"]) == ("15.00", "1.50", 0)
