"""Small factories: units, users with bearer tokens, categories, merchants, and a standard world.

They use the same services as the app (the flush-only building blocks), commit, and hand back
plain values, so tests talk to the app as its clients do.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from werkzeug.security import generate_password_hash

from timebank.extensions import db
from timebank.models import ApiToken
from timebank.services import categories, merchants, org, users
from timebank.units import to_minor

PASSWORD = "correct-horse-9"
_PASSWORD_HASH = generate_password_hash(PASSWORD)


@dataclass
class Person:
    id: int
    username: str
    token: str
    org_unit_id: int
    roles: list[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    units: dict[str, int] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    merchants: dict[str, int] = field(default_factory=dict)
    offers: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, name):
        people = self.__dict__.get("people", {})
        if name in people:
            return people[name]
        raise AttributeError(name)


class Factory:
    def __init__(self, app):
        self.app = app
        self._n = 0

    def unit(self, kind: str, name: str, parent_id: int | None = None) -> int:
        with self.app.app_context():
            parent = org.get_unit(parent_id) if parent_id else None
            unit = org.add_unit(parent, kind, name)
            db.session.commit()
            return unit.id

    def user(self, roles: list[str], org_unit_id: int, *, username: str | None = None,
             display_name: str = "张小三", merchant_id: int | None = None,
             phone: str | None = None) -> Person:
        self._n += 1
        username = username or f"user{self._n}"
        with self.app.app_context():
            user = users.add_user(username=username, password=PASSWORD,
                                  password_hash=_PASSWORD_HASH, display_name=display_name,
                                  roles=roles, org_unit_id=org_unit_id,
                                  merchant_id=merchant_id, phone=phone)
            raw = secrets.token_urlsafe(24)
            db.session.add(ApiToken(user_id=user.id,
                                    token_hash=hashlib.sha256(raw.encode()).hexdigest(),
                                    expires_at=datetime.now(UTC) + timedelta(days=1)))
            db.session.commit()
            return Person(user.id, username, raw, org_unit_id, sorted(roles))

    def category(self, code: str, rate: str, name: str | None = None) -> str:
        with self.app.app_context():
            categories.add_category(code, name or code, to_minor(Decimal(rate)))
            db.session.commit()
        return code

    def merchant(self, name: str, org_unit_id: int) -> int:
        with self.app.app_context():
            merchant = merchants.add_merchant(name, org_unit_id)
            db.session.commit()
            return merchant.id

    def offer(self, merchant_id: int, title: str, cost: str) -> int:
        with self.app.app_context():
            from timebank.models import Merchant

            offer = merchants.add_offer(db.session.get(Merchant, merchant_id), title,
                                        to_minor(Decimal(cost)))
            db.session.commit()
            return offer.id


@pytest.fixture
def make(app) -> Factory:
    return Factory(app)


@pytest.fixture
def world(make) -> World:
    """A street with communities A and B, their staff, members, merchants and one category."""
    return build_world(make)


def build_world(make: Factory) -> World:
    """The standard world of the `world` fixture, for fixtures of a wider scope."""
    w = World()
    w.units["street"] = make.unit("street", "幸福街道")
    w.units["A"] = make.unit("community", "阳光社区", w.units["street"])
    w.units["B"] = make.unit("community", "和谐社区", w.units["street"])
    w.units["A1"] = make.unit("grid", "第一网格", w.units["A"])
    w.units["A2"] = make.unit("grid", "第二网格", w.units["A"])
    w.units["B1"] = make.unit("grid", "第一网格", w.units["B"])
    w.merchants["MA"] = make.merchant("惠民肉菜店", w.units["A"])
    w.merchants["MB"] = make.merchant("便民超市", w.units["B"])
    w.offers["OA"] = make.offer(w.merchants["MA"], "八折优惠", "10.00")
    w.offers["OB"] = make.offer(w.merchants["MB"], "满减券", "10.00")
    make.category("cleanup", "10.00", "环境清洁")
    w.people["admin"] = make.user(["admin"], w.units["street"], username="admin",
                                  display_name="管理员")
    w.people["staff_a"] = make.user(["staff"], w.units["A"], username="staff_a",
                                    display_name="陈社工")
    w.people["staff_b"] = make.user(["staff"], w.units["B"], username="staff_b",
                                    display_name="林社工")
    w.people["vol_a"] = make.user(["volunteer"], w.units["A1"], username="vol_a",
                                  display_name="张小三")
    w.people["vol_a2"] = make.user(["gridworker"], w.units["A2"], username="vol_a2",
                                   display_name="李四")
    w.people["vol_b"] = make.user(["volunteer"], w.units["B1"], username="vol_b",
                                  display_name="Alice Smith")
    w.people["merchant_a"] = make.user(["merchant"], w.units["A"], username="merchant_a",
                                       display_name="王老板", merchant_id=w.merchants["MA"])
    w.people["merchant_b"] = make.user(["merchant"], w.units["B"], username="merchant_b",
                                       display_name="赵老板", merchant_id=w.merchants["MB"])
    return w


def hours_ago(hours: float, *, length: float = 2.0) -> tuple[str, str]:
    """An ISO span that ended `hours` ago and lasted `length` hours (Shanghai offset)."""
    end = datetime.now(UTC) - timedelta(hours=hours)
    start = end - timedelta(hours=length)
    return (start.replace(microsecond=0).astimezone().isoformat(),
            end.replace(microsecond=0).astimezone().isoformat())


class Api:
    """The test client speaking JSON with a person's bearer token."""

    def __init__(self, client):
        self.client = client

    def _call(self, method, path, who, json=None, headers=None, **kw):
        hdrs = dict(who.auth) if who is not None else {}
        hdrs.update(headers or {})
        return self.client.open(path, method=method, json=json, headers=hdrs, **kw)

    def get(self, path, who=None, **kw):
        return self._call("GET", path, who, **kw)

    def post(self, path, who=None, json=None, **kw):
        return self._call("POST", path, who, json=json, **kw)

    def delete(self, path, who=None, **kw):
        return self._call("DELETE", path, who, **kw)

    # --- shortcuts for common steps ---

    def log(self, who, *, ago: float = 3, length: float = 2, category="cleanup", **extra):
        start, end = hours_ago(ago, length=length)
        body = {"category": category, "started_at": start, "ended_at": end,
                "place": "社区广场", "description": "清理垃圾", **extra}
        return self.post("/api/v1/service-records", who, json=body)

    def earn(self, member, reviewer, *, ago: float = 3, length: float = 2) -> dict:
        """Log hours for a member as staff and approve them; returns the approval body."""
        created = self.log(reviewer, ago=ago, length=length, member_id=member.id)
        assert created.status_code == 201, created.get_json()
        approved = self.post(f"/api/v1/service-records/{created.get_json()['id']}/approve",
                             reviewer)
        assert approved.status_code == 200, approved.get_json()
        return approved.get_json()

    def code(self, member) -> str:
        resp = self.post("/api/v1/redemption-codes", member)
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()["code"]

    def balance(self, member, who=None) -> str:
        resp = self.get(f"/api/v1/members/{member.id}/balance", who or member)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["balance"]


@pytest.fixture
def api(client) -> Api:
    return Api(client)
