"""The points shop in a real browser: staff add a reward at the desk, a member orders it on a
phone (the points are set aside at once), staff hand it over, and the member sees it handed over."""

from __future__ import annotations

from sqlalchemy import select

from tests.e2e.steps import fits, sign_in
from timebank.extensions import db
from timebank.models import Reward, RewardOrder
from timebank.services import ledger


def test_a_member_orders_a_reward_staff_hand_it_over_and_the_member_sees_it(
        app, api, world, new_page, screenshot):
    api.earn(world.vol_a, world.staff_a, length=10)  # 100.00 points

    # Staff add rice to the shop of community A, from the desk.
    desk = new_page(width=1280, height=900)
    sign_in(desk, world.staff_a, "**/desk/")
    desk.goto("/shop/desk")
    desk.click("[data-testid=new-reward-link]")
    desk.wait_for_url("**/shop/desk/rewards/new")
    desk.select_option("select[name=org_unit_id]", str(world.units["A"]))
    desk.fill("input[name=title]", "大米 5kg")
    desk.check("input[name=kind][value=goods]", force=True)
    desk.fill("textarea[name=description]", "东北大米")
    desk.fill("input[name=points_cost]", "30.00")
    desk.fill("input[name=stock]", "5")
    desk.fill("input[name=per_member_limit]", "2")
    screenshot(desk, "shop-1-staff-add-reward")
    desk.click("[data-testid=save-reward]")
    desk.wait_for_url("**/shop/desk")
    with app.app_context():
        reward_id = db.session.scalar(select(Reward.id).where(Reward.title == "大米 5kg"))
    assert reward_id is not None
    row = desk.locator(f"[data-testid=desk-rewards] [data-testid=reward-{reward_id}]")
    assert row.locator("[data-testid=price]").inner_text().strip() == "30.00"

    # The member orders two on a small phone; the points are set aside at once.
    phone = new_page(width=360, height=740)
    sign_in(phone, world.vol_a, "**/me/")
    phone.goto("/shop/")
    assert phone.inner_text("[data-testid=balance]").strip() == "100.00"
    card = phone.locator(f"[data-testid=reward-{reward_id}]")
    assert card.locator("[data-testid=title]").inner_text().strip() == "大米 5kg"
    assert card.locator("[data-testid=stock]").get_attribute("data-stock") == "5"
    fits(phone, 360)
    screenshot(phone, "shop-2-member-catalogue")
    card.locator("input[name=quantity]").fill("2")
    card.locator(f"[data-testid=order-{reward_id}]").click()
    phone.wait_for_url("**/shop/orders")
    assert phone.locator(".alert-success").count() == 1
    assert phone.inner_text("[data-testid=balance]").strip() == "40.00"
    assert phone.inner_text("[data-testid=held]").strip() == "60.00"
    with app.app_context():
        order_id = db.session.scalar(select(RewardOrder.id))
        assert db.session.get(Reward, reward_id).stock == 3
    item = phone.locator(f"[data-testid=order-{order_id}]")
    assert item.locator("[data-testid=status]").get_attribute("data-status") == "reserved"
    assert item.locator("[data-testid=points]").inner_text().strip() == "60.00"
    assert item.locator(f"[data-testid=cancel-{order_id}]").count() == 1
    fits(phone, 360)
    screenshot(phone, "shop-3-member-order-waiting")

    # Staff see the order waiting, with the member's name in full, and hand it over.
    desk.goto("/shop/desk")
    waiting = desk.locator(f"[data-testid=desk-orders] [data-testid=order-{order_id}]")
    assert waiting.locator("[data-testid=member]").inner_text().startswith("张小三")
    assert waiting.locator("[data-testid=quantity]").inner_text().strip() == "2"
    screenshot(desk, "shop-4-desk-waiting")
    waiting.locator(f"[data-testid=hand-over-{order_id}]").click()
    desk.wait_for_url("**/shop/desk")
    assert desk.locator(".alert-success").count() == 1
    assert desk.locator(f"[data-testid=desk-orders] [data-testid=order-{order_id}]").count() == 0
    desk.set_viewport_size({"width": 360, "height": 740})
    for path in ("/shop/desk", "/shop/desk/rewards/new", f"/shop/desk/rewards/{reward_id}",
                 "/shop/desk?status=fulfilled"):
        desk.goto(path)
        fits(desk, 360)

    # The member sees it handed over; nothing is left to cancel and the points stay spent.
    phone.reload()
    item = phone.locator(f"[data-testid=order-{order_id}]")
    assert item.locator("[data-testid=status]").get_attribute("data-status") == "fulfilled"
    assert item.locator(f"[data-testid=cancel-{order_id}]").count() == 0
    assert phone.inner_text("[data-testid=balance]").strip() == "40.00"
    assert phone.locator("[data-testid=held]").count() == 0
    fits(phone, 360)
    screenshot(phone, "shop-5-member-handed-over")
    with app.app_context():
        assert ledger.verify().ok
