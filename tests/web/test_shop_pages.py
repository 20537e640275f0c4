"""The points-shop pages: members order rewards with their points and follow their orders;
staff add and change rewards and hand orders over (or cancel them) at the desk."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from timebank.extensions import db
from timebank.models import Account, Reward, RewardOrder, User
from timebank.services import ledger, rewards

BIG = "99999999999999999999999"
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


# --- helpers ----------------------------------------------------------------------------


def _login(web, person) -> None:
    """Sign this browser session in as the person, whoever was signed in before."""
    web.post("/logout")
    web._token = None
    web.login(person)


def _user(person) -> User:
    return db.session.get(User, person.id)


def _earn(api, member, staff, times: int = 1) -> None:
    """100.00 points per time: ten approved hours of clean-up on a day of their own."""
    for n in range(times):
        api.earn(member, staff, ago=3 + 30 * n, length=10)


def _reward(app, staff, unit_id: int, *, title="大米 5kg", kind="goods", cost=3000,
            stock: int | None = 5, limit: int | None = None, description="东北大米") -> int:
    with app.app_context():
        return rewards.create_reward(actor=_user(staff), org_unit_id=unit_id, title=title,
                                     kind=kind, points_cost_minor=cost, stock=stock,
                                     per_member_limit=limit, description=description).id


def _order_via_service(app, member, reward_id: int, quantity: int = 1) -> int:
    with app.app_context():
        return rewards.place_order(actor=_user(member), reward_id=reward_id,
                                   quantity=quantity).id


def _balance(app, person) -> int:
    with app.app_context():
        return ledger.member_account(person.id).balance_minor


def _stock(app, reward_id: int) -> int | None:
    with app.app_context():
        return db.session.get(Reward, reward_id).stock


def _reward_row(app, reward_id: int) -> dict:
    with app.app_context():
        r = db.session.get(Reward, reward_id)
        return {"title": r.title, "kind": r.kind, "description": r.description,
                "cost": r.points_cost_minor, "stock": r.stock, "limit": r.per_member_limit,
                "active": r.is_active, "unit": r.org_unit_id}


def _orders(app) -> list[tuple[int, int, int, int, str]]:
    """Every order as (member, reward, quantity, points, status), oldest first."""
    with app.app_context():
        return [(o.member_id, o.reward_id, o.quantity, o.points_minor, o.status)
                for o in db.session.scalars(select(RewardOrder).order_by(RewardOrder.id))]


def _status(app, order_id: int) -> str:
    with app.app_context():
        return db.session.get(RewardOrder, order_id).status


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


def _shop_account(app, unit_id: int, kind: str = "shop") -> int:
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.key == f"{kind}:{unit_id}"))
        return account.balance_minor if account is not None else 0


def _ledger_ok(app) -> None:
    with app.app_context():
        assert ledger.verify().ok


def _flashes(page: str) -> str:
    return " ".join(re.findall(r'<div class="alert[^"]*"[^>]*role="alert"[^>]*>(.*?)</div>',
                               page, re.S))


def _has_danger(page: str) -> bool:
    return re.search(r'class="alert alert-danger[^"]*"[^>]*role="alert"', page) is not None


def _form_key(page: str, reward_id: int) -> str:
    form = re.search(rf'data-testid="order-form-{reward_id}">(.*?)</form>', page, re.S)
    assert form, f"no order form for reward {reward_id}"
    found = re.search(r'name="form_key" value="([0-9a-f]{32})"', form.group(1))
    assert found, "no form key in the order form"
    return found.group(1)


def _order(web, reward_id: int, quantity="1", **extra):
    """Open the catalogue and send the reward's order form, like a browser."""
    page = web.text(web.get("/shop/"))
    form = {"quantity": quantity, "form_key": _form_key(page, reward_id), **extra}
    return web.post(f"/shop/rewards/{reward_id}/order", form)


def _card(page: str, reward_id: int) -> str:
    """The catalogue card of one reward: from its marker to the next card (or the end)."""
    start = page.find(f'data-testid="reward-{reward_id}"')
    assert start >= 0, f"no card for reward {reward_id}"
    end = page.find('data-testid="reward-', start + 1)
    return page[start:end if end > 0 else len(page)]


def _row(page: str, prefix: str, item_id: int) -> str:
    found = re.search(rf'<tr data-testid="{prefix}-{item_id}"(.*?)</tr>', page, re.S)
    assert found, f"no row {prefix}-{item_id}"
    return found.group(1)


def _reward_form(**extra) -> dict:
    form = {"title": "保温杯", "kind": "goods", "description": "304不锈钢",
            "points_cost": "20.00", "stock": "10", "per_member_limit": "2"}
    form.update(extra)
    return {k: v for k, v in form.items() if v is not None}


# --- who may open which page ------------------------------------------------------------


MEMBER_PAGES = ["/shop/", "/shop/orders"]
DESK_PAGES = ["/shop/desk", "/shop/desk/rewards/new"]


@pytest.mark.parametrize("path", MEMBER_PAGES)
@pytest.mark.parametrize("who, status", [
    ("vol_a", 200), ("vol_a2", 200), ("vol_b", 200), ("merchant_a", 403), ("staff_a", 302),
    ("admin", 302),
])
def test_member_pages_belong_to_volunteers_and_gridworkers(web, world, path, who, status):
    _login(web, getattr(world, who))
    resp = web.get(path)
    assert resp.status_code == status
    if status == 302:  # staff have the desk instead
        assert resp.location.endswith("/shop/desk")


@pytest.mark.parametrize("path", DESK_PAGES)
@pytest.mark.parametrize("who, status", [
    ("staff_a", 200), ("staff_b", 200), ("admin", 200), ("vol_a", 403), ("vol_a2", 403),
    ("merchant_a", 403),
])
def test_desk_pages_belong_to_staff_and_admins(web, world, path, who, status):
    _login(web, getattr(world, who))
    assert web.get(path).status_code == status


@pytest.mark.parametrize("path", [*MEMBER_PAGES, *DESK_PAGES, "/shop/desk/rewards/1"])
def test_signed_out_visitors_are_sent_to_sign_in(web, path):
    resp = web.get(path)
    assert resp.status_code == 302 and "/login" in resp.location


def test_signed_out_posts_change_nothing(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"])
    order_id = _order_via_service(app, world.vol_a, reward_id)
    for path in (f"/shop/rewards/{reward_id}/order", f"/shop/orders/{order_id}/cancel",
                 f"/shop/desk/orders/{order_id}/hand-over",
                 f"/shop/desk/orders/{order_id}/cancel", "/shop/desk/rewards/new",
                 f"/shop/desk/rewards/{reward_id}"):
        resp = web.post(path, {"quantity": "1", **_reward_form()})
        assert resp.status_code in (302, 400), path
    assert _status(app, order_id) == "reserved" and _count(app, RewardOrder) == 1
    assert _count(app, Reward) == 1 and _reward_row(app, reward_id)["title"] == "大米 5kg"


def test_staff_and_merchants_cannot_order_or_cancel_as_members(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"])
    order_id = _order_via_service(app, world.vol_a, reward_id)
    for who in ("staff_a", "admin", "merchant_a"):
        _login(web, getattr(world, who))
        assert web.post(f"/shop/rewards/{reward_id}/order", {"quantity": "1"}).status_code == 403
        assert web.post(f"/shop/orders/{order_id}/cancel").status_code == 403
    assert _orders(app) == [(world.vol_a.id, reward_id, 1, 3000, "reserved")]
    assert _stock(app, reward_id) == 4


# --- members: the catalogue ----------------------------------------------------------------


def test_the_catalogue_shows_what_the_community_and_street_offer(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    rice = _reward(app, world.staff_a, world.units["A"], stock=5, limit=2)
    haircut = _reward(app, world.staff_a, world.units["A1"], title="理发服务", kind="service",
                      cost=1500, stock=None)
    street = _reward(app, world.admin, world.units["street"], title="电影票", cost=5000,
                     stock=0)
    other = _reward(app, world.staff_b, world.units["B"], title="食用油")
    gone = _reward(app, world.staff_a, world.units["A"], title="旧台历")
    with app.app_context():
        rewards.update_reward(actor=_user(world.staff_a), reward_id=gone, is_active=False)
    _order_via_service(app, world.vol_a, rice)

    _login(web, world.vol_a2)  # another member of community A: sees the same rewards
    page = web.text(web.get("/shop/"))
    assert all(f'data-testid="reward-{r}"' in page for r in (rice, haircut, street))
    assert f'data-testid="reward-{other}"' not in page and "食用油" not in page
    assert f'data-testid="reward-{gone}"' not in page and "旧台历" not in page

    _login(web, world.vol_a)
    page = web.text(web.get("/shop/"))
    assert re.search(r'data-testid="balance">70\.00<', page)
    assert re.search(r'data-testid="held">30\.00<', page)
    card = _card(page, rice)
    assert "大米 5kg" in card and "东北大米" in card and 'data-kind="goods"' in card
    assert re.search(r'data-testid="price">30\.00<', card)
    assert 'data-stock="4"' in card
    assert re.search(r'data-testid="limit">[^<]*2[^<]*1', card)  # at most 2; you have 1
    assert f'data-testid="order-form-{rice}"' in card
    service = _card(page, haircut)
    assert 'data-kind="service"' in service and 'data-stock=""' in service
    assert 'data-testid="limit"' not in service
    empty = _card(page, street)
    assert 'data-stock="0"' in empty and f'data-testid="order-form-{street}"' not in empty
    assert 'data-testid="why-not"' in empty

    # Vol B sees the street's reward and B's, not A's.
    _login(web, world.vol_b)
    page = web.text(web.get("/shop/"))
    assert f'data-testid="reward-{street}"' in page and f'data-testid="reward-{other}"' in page
    assert f'data-testid="reward-{rice}"' not in page and f'data-testid="reward-{haircut}"' \
        not in page


def test_a_member_at_the_limit_or_short_of_points_gets_no_order_form(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)  # 100.00
    once_only = _reward(app, world.staff_a, world.units["A"], title="理发服务", kind="service",
                        cost=1500, stock=None, limit=1)
    dear = _reward(app, world.staff_a, world.units["A"], title="电饭煲", cost=50000)
    _order_via_service(app, world.vol_a, once_only)
    _login(web, world.vol_a)
    page = web.text(web.get("/shop/"))
    assert f'data-testid="order-form-{once_only}"' not in page
    assert f'data-testid="order-form-{dear}"' not in page
    assert _card(page, once_only).count('data-testid="why-not"') == 1
    assert _card(page, dear).count('data-testid="why-not"') == 1


# --- members: ordering ---------------------------------------------------------------------


def test_a_member_orders_the_points_are_held_and_the_stock_goes_down(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)  # 100.00
    reward_id = _reward(app, world.staff_a, world.units["A"], stock=5)
    _login(web, world.vol_a)
    resp = _order(web, reward_id, "2")
    assert resp.status_code == 302 and resp.location.endswith("/shop/orders")
    page = web.text(web.follow(resp))
    assert "大米 5kg" in _flashes(page) and "60.00" in _flashes(page)
    assert _orders(app) == [(world.vol_a.id, reward_id, 2, 6000, "reserved")]
    assert _balance(app, world.vol_a) == 4000
    assert _stock(app, reward_id) == 3
    assert _shop_account(app, world.units["A"], "hold") == 6000
    order_id = db_order_id(app)
    item = re.search(rf'data-testid="order-{order_id}"(.*?)</li>', page, re.S).group(1)
    assert 'data-status="reserved"' in item and ">60.00<" in item
    assert f'data-testid="cancel-{order_id}"' in item
    assert re.search(r'data-testid="balance">40\.00<', page)
    _ledger_ok(app)


def db_order_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.max(RewardOrder.id)))


def test_a_double_submit_of_one_order_form_places_one_order(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], stock=5)
    _login(web, world.vol_a)
    page = web.text(web.get("/shop/"))
    form = {"quantity": "1", "form_key": _form_key(page, reward_id)}
    first = web.post(f"/shop/rewards/{reward_id}/order", form)
    second = web.post(f"/shop/rewards/{reward_id}/order", form)
    assert first.status_code == second.status_code == 302
    assert second.location.endswith("/shop/orders")
    told = web.text(web.follow(second))
    assert 'class="alert alert-info' in told and not _has_danger(told)
    assert len(_orders(app)) == 1
    assert _balance(app, world.vol_a) == 7000 and _stock(app, reward_id) == 4
    # A fresh form (a new key) orders again.
    assert _order(web, reward_id).status_code == 302
    assert len(_orders(app)) == 2 and _balance(app, world.vol_a) == 4000


def test_a_refused_order_frees_its_form_key(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], stock=1)
    _login(web, world.vol_a)
    page = web.text(web.get("/shop/"))
    form = {"quantity": "2", "form_key": _form_key(page, reward_id)}
    refused = web.post(f"/shop/rewards/{reward_id}/order", form)
    assert _has_danger(web.text(web.follow(refused)))
    assert _orders(app) == []
    assert web.post(f"/shop/rewards/{reward_id}/order", {**form, "quantity": "1"}
                    ).status_code == 302
    assert len(_orders(app)) == 1 and _stock(app, reward_id) == 0


def test_the_member_cancels_and_gets_points_and_stock_back_once(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], stock=5)
    _login(web, world.vol_a)
    _order(web, reward_id, "2")
    order_id = db_order_id(app)
    resp = web.post(f"/shop/orders/{order_id}/cancel")
    assert resp.status_code == 302 and resp.location.endswith("/shop/orders")
    page = web.text(web.follow(resp))
    assert "60.00" in _flashes(page) and not _has_danger(page)
    assert _status(app, order_id) == "cancelled"
    assert _balance(app, world.vol_a) == 10000 and _stock(app, reward_id) == 5
    item = re.search(rf'data-testid="order-{order_id}"(.*?)</li>', page, re.S).group(1)
    assert 'data-status="cancelled"' in item and f'data-testid="cancel-{order_id}"' not in item
    again = web.follow(web.post(f"/shop/orders/{order_id}/cancel"))
    assert _has_danger(web.text(again))
    assert _balance(app, world.vol_a) == 10000 and _stock(app, reward_id) == 5
    _ledger_ok(app)


def test_out_of_stock_is_told_and_nothing_changes(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], stock=2)
    _login(web, world.vol_a)
    page = web.text(web.follow(_order(web, reward_id, "3")))
    assert _has_danger(page) and "大米 5kg" in _flashes(page) and "2" in _flashes(page)
    assert _orders(app) == [] and _stock(app, reward_id) == 2
    assert _balance(app, world.vol_a) == 10000
    # Someone else takes the last ones while the page is open.
    page = web.text(web.get("/shop/"))
    key = _form_key(page, reward_id)
    _earn(api, world.vol_a2, world.staff_a)
    _order_via_service(app, world.vol_a2, reward_id, 2)
    resp = web.post(f"/shop/rewards/{reward_id}/order", {"quantity": "1", "form_key": key})
    page = web.text(web.follow(resp))
    assert _has_danger(page) and "大米 5kg" in _flashes(page)
    assert len(_orders(app)) == 1 and _stock(app, reward_id) == 0
    assert _balance(app, world.vol_a) == 10000


def test_the_limit_per_member_is_told_and_nothing_changes(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], title="理发服务", kind="service",
                        cost=1500, stock=None, limit=2)
    _login(web, world.vol_a)
    assert _order(web, reward_id, "1").status_code == 302
    page = web.text(web.follow(_order(web, reward_id, "2")))
    flashes = _flashes(page)
    assert _has_danger(page) and "理发服务" in flashes and "2" in flashes and "1" in flashes
    assert len(_orders(app)) == 1 and _balance(app, world.vol_a) == 8500
    # A cancelled order no longer counts.
    order_id = db_order_id(app)
    web.post(f"/shop/orders/{order_id}/cancel")
    assert _order(web, reward_id, "2").status_code == 302
    assert [o[2] for o in _orders(app)] == [1, 2]


def test_too_few_points_is_told_with_the_balance_and_nothing_changes(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)  # 100.00
    reward_id = _reward(app, world.staff_a, world.units["A"], cost=4000, stock=5)
    _login(web, world.vol_a)
    page = web.text(web.follow(_order(web, reward_id, "3")))
    flashes = _flashes(page)
    assert _has_danger(page) and "120.00" in flashes and "100.00" in flashes
    assert _orders(app) == [] and _stock(app, reward_id) == 5
    assert _balance(app, world.vol_a) == 10000
    _ledger_ok(app)


def test_a_withdrawn_reward_cannot_be_ordered(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"])
    _login(web, world.vol_a)
    key = _form_key(web.text(web.get("/shop/")), reward_id)
    with app.app_context():
        rewards.update_reward(actor=_user(world.staff_a), reward_id=reward_id, is_active=False)
    resp = web.post(f"/shop/rewards/{reward_id}/order", {"quantity": "1", "form_key": key})
    assert _has_danger(web.text(web.follow(resp)))
    assert _orders(app) == [] and _stock(app, reward_id) == 5


@pytest.mark.parametrize("quantity", [
    "0", "-1", "101", "1000000", BIG, "abc", "", "   ", "1.5", "1e2", "٣", "²", "2\n2",
    None,
])
def test_malformed_quantities_are_told_and_order_nothing(app, web, api, world, quantity):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], cost=100, stock=None)
    _login(web, world.vol_a)
    page = web.text(web.get("/shop/"))
    form = {"form_key": _form_key(page, reward_id)}
    if quantity is not None:
        form["quantity"] = quantity
    resp = web.post(f"/shop/rewards/{reward_id}/order", form)
    assert resp.status_code == 302
    assert _has_danger(web.text(web.follow(resp)))
    assert _orders(app) == [] and _balance(app, world.vol_a) == 10000


def test_full_width_digits_from_a_chinese_keyboard_are_read_as_a_quantity(app, web, api,
                                                                         world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], stock=5)
    _login(web, world.vol_a)
    assert _order(web, reward_id, "２").status_code == 302
    assert _orders(app) == [(world.vol_a.id, reward_id, 2, 6000, "reserved")]


def test_a_malformed_form_key_orders_nothing(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"])
    _login(web, world.vol_a)
    resp = web.post(f"/shop/rewards/{reward_id}/order", {"quantity": "1", "form_key": "x' OR 1"})
    assert resp.status_code == 302 and _has_danger(web.text(web.follow(resp)))
    assert _orders(app) == []


def test_bad_reward_and_order_ids_are_not_found(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"])
    order_id = _order_via_service(app, world.vol_a, reward_id)
    _login(web, world.vol_a)
    unicode_ids = [str(reward_id).translate(ARABIC_INDIC), str(reward_id).translate(FULL_WIDTH)]
    for bad in ["abc", "0", "-1", "999999", BIG, "1.0", *unicode_ids]:
        assert web.post(f"/shop/rewards/{bad}/order", {"quantity": "1"}).status_code == 404, bad
    for bad in ["abc", "0", "999999", BIG, str(order_id).translate(ARABIC_INDIC),
                str(order_id).translate(FULL_WIDTH)]:
        assert web.post(f"/shop/orders/{bad}/cancel").status_code == 404, bad
    _login(web, world.staff_a)
    for bad in ["abc", "0", "999999", BIG, str(reward_id).translate(ARABIC_INDIC)]:
        assert web.get(f"/shop/desk/rewards/{bad}").status_code == 404, bad
        assert web.post(f"/shop/desk/rewards/{bad}", _reward_form()).status_code == 404, bad
    for bad in ["abc", "0", "999999", BIG, str(order_id).translate(FULL_WIDTH)]:
        assert web.post(f"/shop/desk/orders/{bad}/hand-over").status_code == 404, bad
        assert web.post(f"/shop/desk/orders/{bad}/cancel").status_code == 404, bad
    for bad in ["abc", "999999", BIG, str(reward_id).translate(ARABIC_INDIC)]:
        assert web.get(f"/shop/desk?reward_id={bad}").status_code == 404, bad
    assert _orders(app) == [(world.vol_a.id, reward_id, 1, 3000, "reserved")]
    assert _reward_row(app, reward_id)["title"] == "大米 5kg" and _stock(app, reward_id) == 4


# --- staff: the desk ---------------------------------------------------------------------


def test_staff_add_a_reward_and_members_see_it(app, web, world):
    _login(web, world.staff_a)
    page = web.text(web.get("/shop/desk/rewards/new"))
    options = re.findall(r'<option[^>]*value="(\d+)"', page)
    assert str(world.units["A"]) in options and str(world.units["A1"]) in options
    assert str(world.units["B"]) not in options and str(world.units["street"]) not in options
    resp = web.post("/shop/desk/rewards/new",
                    _reward_form(org_unit_id=str(world.units["A1"])))
    assert resp.status_code == 302 and resp.location.endswith("/shop/desk")
    page = web.text(web.follow(resp))
    assert "保温杯" in _flashes(page)
    with app.app_context():
        reward_id = db.session.scalar(select(Reward.id))
    assert _reward_row(app, reward_id) == {
        "title": "保温杯", "kind": "goods", "description": "304不锈钢", "cost": 2000,
        "stock": 10, "limit": 2, "active": True, "unit": world.units["A1"]}
    row = _row(page, "reward", reward_id)
    assert "保温杯" in row and ">20.00<" in row and f'data-testid="edit-{reward_id}"' in row
    # An unlimited service without a limit.
    web.post("/shop/desk/rewards/new", _reward_form(
        org_unit_id=str(world.units["A"]), title="上门理发", kind="service", stock="",
        unlimited="y", per_member_limit="", description=""))
    with app.app_context():
        service = db.session.scalars(select(Reward).where(Reward.title == "上门理发")).one()
        assert (service.kind, service.stock, service.per_member_limit) == ("service", None, None)
    _login(web, world.vol_a)
    page = web.text(web.get("/shop/"))
    assert f'data-testid="reward-{reward_id}"' in page and "上门理发" in page


@pytest.mark.parametrize("bad, field", [
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": "长" * 101}, "title"),
    ({"kind": "food"}, "kind"),
    ({"kind": None}, "kind"),
    ({"points_cost": ""}, "points_cost"),
    ({"points_cost": "abc"}, "points_cost"),
    ({"points_cost": "0"}, "points_cost"),
    ({"points_cost": "-5"}, "points_cost"),
    ({"points_cost": "1.001"}, "points_cost"),
    ({"points_cost": "2000000"}, "points_cost"),
    ({"points_cost": BIG}, "points_cost"),
    ({"stock": ""}, "stock"),
    ({"stock": "-1"}, "stock"),
    ({"stock": "abc"}, "stock"),
    ({"stock": "1.5"}, "stock"),
    ({"stock": "2000000"}, "stock"),
    ({"stock": BIG}, "stock"),
    ({"stock": "٣"}, "stock"),
    ({"per_member_limit": "0"}, "per_member_limit"),
    ({"per_member_limit": "-2"}, "per_member_limit"),
    ({"per_member_limit": "x"}, "per_member_limit"),
    ({"description": "长" * 2001}, "description"),
    ({"org_unit_id": "B"}, "org_unit_id"),
    ({"org_unit_id": "street"}, "org_unit_id"),
    ({"org_unit_id": "A-unicode"}, "org_unit_id"),
    ({"org_unit_id": "999999"}, "org_unit_id"),
    ({"org_unit_id": ""}, "org_unit_id"),
    ({"org_unit_id": None}, "org_unit_id"),
])
def test_bad_reward_forms_are_told_on_the_field_and_add_nothing(app, web, world, bad, field):
    units = {"B": str(world.units["B"]), "street": str(world.units["street"]),
             "A-unicode": str(world.units["A"]).translate(ARABIC_INDIC)}
    if "org_unit_id" in bad and bad["org_unit_id"] in units:
        bad = {"org_unit_id": units[bad["org_unit_id"]]}
    _login(web, world.staff_a)
    form = _reward_form(org_unit_id=str(world.units["A"]))
    form.update(bad)
    resp = web.post("/shop/desk/rewards/new", {k: v for k, v in form.items() if v is not None})
    assert resp.status_code == 422
    assert f'data-testid="error-{field}"' in web.text(resp)
    assert _count(app, Reward) == 0


def test_staff_edit_a_reward_and_placed_orders_keep_their_price(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], stock=5, limit=3)
    _order_via_service(app, world.vol_a, reward_id)
    _login(web, world.staff_a)
    page = web.text(web.get(f"/shop/desk/rewards/{reward_id}"))
    assert 'value="大米 5kg"' in page and 'value="30.00"' in page and 'value="4"' in page
    assert 'name="stock_seen" type="hidden" value="4"' in page
    resp = web.post(f"/shop/desk/rewards/{reward_id}", {
        "title": "大米 10kg", "kind": "goods", "description": "新米", "points_cost": "55.50",
        "stock": "8", "stock_seen": "4", "per_member_limit": "", "is_active": "y"})
    assert resp.status_code == 302
    assert "大米 10kg" in _flashes(web.text(web.follow(resp)))
    assert _reward_row(app, reward_id) == {
        "title": "大米 10kg", "kind": "goods", "description": "新米", "cost": 5550,
        "stock": 8, "limit": None, "active": True, "unit": world.units["A"]}
    assert _orders(app)[0][3] == 3000  # the order placed before keeps its points
    # Kind, unlimited stock, withdrawn.
    web.post(f"/shop/desk/rewards/{reward_id}", {
        "title": "大米 10kg", "kind": "service", "points_cost": "55.50", "unlimited": "y",
        "stock": "", "stock_seen": "8"})
    row = _reward_row(app, reward_id)
    assert (row["kind"], row["stock"], row["active"]) == ("service", None, False)
    _login(web, world.vol_a)
    page = web.text(web.get("/shop/"))
    assert f'data-testid="reward-{reward_id}"' not in page
    assert web.post(f"/shop/rewards/{reward_id}/order", {"quantity": "1"}).status_code == 302
    assert len(_orders(app)) == 1


def test_an_edit_leaving_the_stock_alone_keeps_orders_placed_meanwhile(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], stock=5)
    _login(web, world.staff_a)
    page = web.text(web.get(f"/shop/desk/rewards/{reward_id}"))
    assert 'name="stock_seen" type="hidden" value="5"' in page
    _order_via_service(app, world.vol_a, reward_id, 2)  # while the form is open
    resp = web.post(f"/shop/desk/rewards/{reward_id}", {
        "title": "大米 5kg（新米）", "kind": "goods", "points_cost": "30.00", "stock": "5",
        "stock_seen": "5", "is_active": "y"})
    assert resp.status_code == 302
    assert _reward_row(app, reward_id)["title"] == "大米 5kg（新米）"
    assert _stock(app, reward_id) == 3


@pytest.mark.parametrize("bad, field", [
    ({"title": ""}, "title"),
    ({"points_cost": "0"}, "points_cost"),
    ({"stock": "abc"}, "stock"),
    ({"stock": "2000000"}, "stock"),
    ({"per_member_limit": "0"}, "per_member_limit"),
    ({"kind": "food"}, "kind"),
])
def test_a_bad_edit_is_told_on_the_field_and_changes_nothing(app, web, world, bad, field):
    reward_id = _reward(app, world.staff_a, world.units["A"])
    before = _reward_row(app, reward_id)
    _login(web, world.staff_a)
    form = {"title": "新名字", "kind": "goods", "points_cost": "10.00", "stock": "7",
            "stock_seen": "5", "is_active": "y", **bad}
    resp = web.post(f"/shop/desk/rewards/{reward_id}", form)
    assert resp.status_code == 422 and f'data-testid="error-{field}"' in web.text(resp)
    assert _reward_row(app, reward_id) == before


def test_staff_hand_an_order_over_and_the_points_go_to_the_shop(app, web, web_factory, api,
                                                                world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"])
    member = web_factory()
    _login(member, world.vol_a)
    _order(member, reward_id, "2")
    order_id = db_order_id(app)

    _login(web, world.staff_a)
    page = web.text(web.get("/shop/desk"))
    row = _row(page, "order", order_id)
    assert "张小三" in row and "大米 5kg" in row and ">60.00<" in row  # the name in full
    assert f'data-testid="hand-over-{order_id}"' in row
    resp = web.post(f"/shop/desk/orders/{order_id}/hand-over")
    assert resp.status_code == 302
    page = web.text(web.follow(resp))
    assert "张小三" in _flashes(page) and not _has_danger(page)
    assert _status(app, order_id) == "fulfilled"
    assert f'data-testid="order-{order_id}"' not in page  # no longer waiting
    assert _balance(app, world.vol_a) == 4000 and _stock(app, reward_id) == 3
    assert _shop_account(app, world.units["A"]) == 6000
    assert _shop_account(app, world.units["A"], "hold") == 0
    # Twice: told, nothing paid twice; cancelling a handed-over order is refused too.
    assert _has_danger(web.text(web.follow(
        web.post(f"/shop/desk/orders/{order_id}/hand-over"))))
    assert _has_danger(web.text(web.follow(web.post(f"/shop/desk/orders/{order_id}/cancel"))))
    assert _shop_account(app, world.units["A"]) == 6000 and _balance(app, world.vol_a) == 4000
    assert _status(app, order_id) == "fulfilled"
    page = web.text(web.get("/shop/desk?status=fulfilled"))
    assert f'data-testid="order-{order_id}"' in page
    assert f'data-testid="hand-over-{order_id}"' not in page
    # The member sees it handed over, with no cancel button.
    page = member.text(member.get("/shop/orders"))
    item = re.search(rf'data-testid="order-{order_id}"(.*?)</li>', page, re.S).group(1)
    assert 'data-status="fulfilled"' in item and f'data-testid="cancel-{order_id}"' not in item
    assert member.post(f"/shop/orders/{order_id}/cancel").status_code == 302
    assert _status(app, order_id) == "fulfilled"
    _ledger_ok(app)


def test_staff_cancel_an_order_and_the_member_gets_points_and_stock_back(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"])
    order_id = _order_via_service(app, world.vol_a, reward_id, 2)
    _login(web, world.staff_a)
    resp = web.post(f"/shop/desk/orders/{order_id}/cancel")
    assert resp.status_code == 302 and "张小三" in _flashes(web.text(web.follow(resp)))
    assert _status(app, order_id) == "cancelled"
    assert _balance(app, world.vol_a) == 10000 and _stock(app, reward_id) == 5
    page = web.text(web.get("/shop/desk?status=cancelled"))
    assert f'data-testid="order-{order_id}"' in page
    _ledger_ok(app)


def test_the_desk_filters_orders_by_status_and_reward(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    rice = _reward(app, world.staff_a, world.units["A"])
    cup = _reward(app, world.staff_a, world.units["A"], title="保温杯", cost=1000)
    waiting = _order_via_service(app, world.vol_a, rice)
    handed = _order_via_service(app, world.vol_a, cup)
    cancelled = _order_via_service(app, world.vol_a, cup)
    with app.app_context():
        rewards.fulfil(actor=_user(world.staff_a), order_id=handed)
        rewards.cancel(actor=_user(world.vol_a), order_id=cancelled)
    _login(web, world.staff_a)

    def shown(path: str) -> set[int]:
        page = web.text(web.get(path))
        return {int(i) for i in re.findall(r'<tr data-testid="order-(\d+)"', page)}

    assert shown("/shop/desk") == {waiting}
    assert shown("/shop/desk?status=reserved") == {waiting}
    assert shown("/shop/desk?status=fulfilled") == {handed}
    assert shown("/shop/desk?status=cancelled") == {cancelled}
    assert shown("/shop/desk?status=all") == {waiting, handed, cancelled}
    assert shown(f"/shop/desk?status=all&reward_id={cup}") == {handed, cancelled}
    page = web.text(web.get("/shop/desk?status=nonsense"))
    assert 'class="alert alert-warning' in page
    assert {int(i) for i in re.findall(r'<tr data-testid="order-(\d+)"', page)} == {waiting}
    assert web.get("/shop/desk?page=abc&rewards_page=-1").status_code == 200


def test_staff_and_members_of_another_community_cannot_see_or_act(app, web, web_factory, api,
                                                                  world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"])
    order_id = _order_via_service(app, world.vol_a, reward_id, 2)
    second = _order_via_service(app, world.vol_a, reward_id, 1)
    before = _reward_row(app, reward_id)

    _login(web, world.staff_b)
    page = web.text(web.get("/shop/desk?status=all"))
    assert f'data-testid="reward-{reward_id}"' not in page and "大米 5kg" not in page
    assert f'data-testid="order-{order_id}"' not in page and "张小三" not in page
    assert web.get(f"/shop/desk/rewards/{reward_id}").status_code == 404
    assert web.get(f"/shop/desk?reward_id={reward_id}").status_code == 404
    assert web.post(f"/shop/desk/rewards/{reward_id}", {
        "title": "改名", "kind": "goods", "points_cost": "1.00", "stock": "0",
        "stock_seen": "2", "is_active": "y"}).status_code == 404
    assert web.post(f"/shop/desk/orders/{order_id}/hand-over").status_code == 404
    assert web.post(f"/shop/desk/orders/{second}/cancel").status_code == 404
    resp = web.post("/shop/desk/rewards/new", _reward_form(org_unit_id=str(world.units["A"])))
    assert resp.status_code == 422

    outsider = web_factory()
    _login(outsider, world.vol_b)
    assert f'data-testid="reward-{reward_id}"' not in outsider.text(outsider.get("/shop/"))
    assert outsider.post(f"/shop/rewards/{reward_id}/order", {"quantity": "1"}
                         ).status_code == 404
    assert outsider.post(f"/shop/orders/{order_id}/cancel").status_code == 404
    assert f'data-testid="order-{order_id}"' not in outsider.text(outsider.get("/shop/orders"))

    # A neighbour in the same community cannot cancel someone else's order either.
    neighbour = web_factory()
    _login(neighbour, world.vol_a2)
    assert neighbour.post(f"/shop/orders/{order_id}/cancel").status_code == 404
    assert f'data-testid="order-{order_id}"' not in neighbour.text(
        neighbour.get("/shop/orders"))

    assert _reward_row(app, reward_id) == before and _count(app, Reward) == 1
    assert [o[4] for o in _orders(app)] == ["reserved", "reserved"]
    assert _balance(app, world.vol_a) == 10000 - 9000


def test_the_admin_sees_every_community_and_a_street_reward_belongs_to_the_street(
        app, web, api, world):
    _earn(api, world.vol_b, world.staff_b)
    street = _reward(app, world.admin, world.units["street"], title="电影票")
    order_id = _order_via_service(app, world.vol_b, street)
    _login(web, world.staff_a)  # community staff do not manage the street's rewards
    assert f'data-testid="reward-{street}"' not in web.text(web.get("/shop/desk"))
    assert web.get(f"/shop/desk/rewards/{street}").status_code == 404
    assert web.post(f"/shop/desk/orders/{order_id}/hand-over").status_code == 404
    _login(web, world.admin)
    page = web.text(web.get("/shop/desk"))
    assert f'data-testid="reward-{street}"' in page
    assert "Alice Smith" in _row(page, "order", order_id)
    assert web.post(f"/shop/desk/orders/{order_id}/hand-over").status_code == 302
    assert _status(app, order_id) == "fulfilled"


def test_forms_without_the_csrf_token_change_nothing(app, web, web_factory, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"])
    order_id = _order_via_service(app, world.vol_a, reward_id)
    before = _reward_row(app, reward_id)
    _login(web, world.vol_a)
    key = _form_key(web.text(web.get("/shop/")), reward_id)
    for path, form in [
        (f"/shop/rewards/{reward_id}/order", {"quantity": "1", "form_key": key}),
        (f"/shop/orders/{order_id}/cancel", {}),
    ]:
        resp = web.post(path, form, csrf=False)
        assert resp.status_code == 302, path
    assert _has_danger(web.text(web.get("/shop/")))
    desk = web_factory()
    _login(desk, world.staff_a)
    for path, form in [
        (f"/shop/desk/orders/{order_id}/hand-over", {}),
        (f"/shop/desk/orders/{order_id}/cancel", {}),
        ("/shop/desk/rewards/new", _reward_form(org_unit_id=str(world.units["A"]))),
        (f"/shop/desk/rewards/{reward_id}", _reward_form(stock_seen="4", is_active="y")),
    ]:
        assert desk.post(path, form, csrf=False).status_code == 302, path
    assert _orders(app) == [(world.vol_a.id, reward_id, 1, 3000, "reserved")]
    assert _reward_row(app, reward_id) == before and _count(app, Reward) == 1
    assert _balance(app, world.vol_a) == 7000 and _stock(app, reward_id) == 4
    # With the token, the same order form still works (its key was never used).
    assert web.post(f"/shop/rewards/{reward_id}/order", {"quantity": "1", "form_key": key}
                    ).status_code == 302
    assert len(_orders(app)) == 2


def test_the_pages_read_in_english(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    reward_id = _reward(app, world.staff_a, world.units["A"], stock=None)
    _order_via_service(app, world.vol_a, reward_id)
    _login(web, world.vol_a)
    web.post("/language", {"lang": "en"})
    page = web.text(web.get("/shop/"))
    assert "Points shop" in page and "Unlimited" in page
    assert "Waiting for hand-over" in web.text(web.get("/shop/orders"))


def test_long_lists_are_paged(app, web, api, world):
    _earn(api, world.vol_a, world.staff_a)
    ids = {_reward(app, world.staff_a, world.units["A"], title=f"奖品{n:02d}", cost=100 + n,
                   stock=None) for n in range(35)}

    def shown(page: str, marker: str) -> list[int]:
        return [int(i) for i in re.findall(marker + r'(\d+)"', page)]

    _login(web, world.vol_a)
    first = shown(web.text(web.get("/shop/")), r'class="card h-100" data-testid="reward-')
    second = shown(web.text(web.get("/shop/?page=2")), r'class="card h-100" data-testid="reward-')
    assert (len(first), len(second)) == (20, 15) and set(first) | set(second) == ids
    _login(web, world.staff_a)
    marker = r'<tr data-testid="reward-'
    desk_first = shown(web.text(web.get("/shop/desk")), marker)
    desk_page = web.text(web.get("/shop/desk?rewards_page=2"))
    desk_second = shown(desk_page, marker)
    assert (len(desk_first), len(desk_second)) == (30, 5)
    assert set(desk_first) | set(desk_second) == ids
    assert "rewards_page=1" in desk_page  # a link back to the first page
    assert len(shown(web.text(web.get("/shop/desk?rewards_page=abc")), marker)) == 30


def test_the_demo_has_a_points_shop(app):
    from timebank.services import demo

    with app.app_context():
        demo.seed(members=12)
        titles = set(db.session.scalars(select(Reward.title)))
        assert {"大米 5kg", "理发服务", "保温杯"} <= titles
        assert db.session.scalar(select(func.count(RewardOrder.id))
                                 .where(RewardOrder.status == "reserved")) >= 1
        assert ledger.verify().ok
