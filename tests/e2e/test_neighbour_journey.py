"""The time bank in a real browser: an elder asks for help on a phone, a neighbour takes it, the
elder rates it with stars, staff approve and the helper is paid; then points are given by phone."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.steps import fits, sign_in
from timebank.extensions import db
from timebank.models import User


def test_a_neighbour_helps_an_elder_and_is_paid_then_points_are_given(app, api, make, world,
                                                                     new_page, screenshot):
    elder = make.user(["volunteer"], world.units["A1"], username="elder",
                      display_name="王奶奶", phone="13800000009")
    api.earn(elder, world.staff_a)  # 20.00 points
    with app.app_context():
        from timebank.timeutil import today

        day = (today() - timedelta(days=1)).isoformat()
        db.session.get(User, world.vol_b.id).phone = "13800000003"
        db.session.commit()

    # The elder asks for help on a small phone, offering 5.00 points.
    elder_phone = new_page(width=360, height=740)
    sign_in(elder_phone, elder, "**/me/")
    elder_phone.click(".navbar-toggler")  # the menu is folded on a phone
    elder_phone.wait_for_selector("#mainnav.show")  # unfolded, not still moving
    elder_phone.click("nav >> a[href='/neighbours/']")
    elder_phone.wait_for_url("**/neighbours/")
    elder_phone.click("[data-testid=neighbours-nav] a[href='/neighbours/new']")
    assert elder_phone.inner_text("[data-testid=balance]").strip() == "20.00"
    elder_phone.fill("input[name=title]", "陪同去社区医院")
    elder_phone.select_option("select[name=category]", "cleanup")
    elder_phone.fill("input[name=day]", day)
    elder_phone.fill("input[name=time]", "09:30")
    elder_phone.fill("input[name=offered_points]", "5.00")
    elder_phone.fill("textarea[name=description]", "上午九点半在小区门口等")
    elder_phone.click("[data-testid=request-form] button[type=submit]")
    elder_phone.wait_for_url("**/neighbours/requests/*")
    assert elder_phone.inner_text("[data-testid=offered]").strip() == "5.00"
    fits(elder_phone, 360)
    screenshot(elder_phone, "neighbours-1-elder-asked-for-help")

    # A neighbour sees the request with the elder's name masked and takes it.
    helper = new_page(width=360, height=740)
    sign_in(helper, world.vol_a, "**/me/")
    helper.goto("/neighbours/")
    item = helper.locator("[data-testid=open-requests] li").filter(has_text="陪同去社区医院")
    assert item.locator("[data-testid=beneficiary]").inner_text() == "王*奶"
    fits(helper, 360)
    screenshot(helper, "neighbours-2-open-requests")
    item.locator("button[data-testid^=claim-]").click()
    helper.wait_for_url("**/neighbours/requests/*")
    assert helper.locator("[data-testid=release]").count() == 1

    # The elder confirms the help with four stars, by keyboard on the star buttons.
    elder_phone.reload()
    elder_phone.locator("label[data-testid=rating-3]").click()
    elder_phone.keyboard.press("ArrowRight")
    assert elder_phone.is_checked("input[name=rating][value='4']")
    elder_phone.fill("textarea[name=comment]", "小张很耐心")
    fits(elder_phone, 360)
    screenshot(elder_phone, "neighbours-3-elder-rates-the-help")
    elder_phone.click("[data-testid=confirm-button]")
    elder_phone.wait_for_selector("[data-testid=waiting-approval]")
    assert elder_phone.inner_text("[data-testid=rating]") == "4"

    # Staff approve the helper's hour in the queue; the offered points reach the helper.
    desk = new_page(width=1280, height=900)
    sign_in(desk, world.staff_a, "**/desk/")
    desk.locator("[data-testid=queue] tbody tr").filter(has_text="陪同去社区医院") \
        .locator("input[type=checkbox]").check()
    desk.click("[data-testid=approve-selected]")
    desk.wait_for_selector(".alert-success")
    helper.goto("/me/")
    assert helper.inner_text("[data-testid=balance]").strip() == "15.00"  # 10.00 + 5.00
    elder_phone.reload()
    assert elder_phone.locator("[data-testid=paid]").count() == 1

    # Staff open giving to anyone in the street; the helper gives to a neighbour by phone.
    desk.goto("/neighbours/desk/policy")
    unit = world.units["A"]
    desk.select_option(f"#mode-{unit}", "any")
    desk.fill(f"#per-{unit}", "10.00")
    desk.fill(f"#month-{unit}", "30.00")
    desk.click(f"[data-testid=save-{unit}]")
    desk.wait_for_selector(".alert-success")
    screenshot(desk, "neighbours-4-staff-giving-rules")

    helper.goto("/neighbours/give")
    assert helper.inner_text("[data-testid=left-this-month]").strip() == "30.00"
    helper.fill("input[name=phone]", "138 0000 0003")
    helper.fill("input[name=amount]", "6.00")
    helper.fill("input[name=memo]", "谢谢你上次帮忙")
    helper.click("[data-testid=check-recipient]")
    helper.wait_for_selector("[data-testid=confirm-step]")
    assert helper.inner_text("[data-testid=recipient]") == "A**** S****"
    fits(helper, 360)
    screenshot(helper, "neighbours-5-check-the-name-before-giving")
    helper.click("[data-testid=confirm-give]")
    helper.wait_for_selector("[data-testid=gift-history]")
    assert helper.inner_text("[data-testid=left-this-month]").strip() == "24.00"
    assert helper.locator("[data-testid=gift-amount]").first.inner_text() == "-6.00"
    fits(helper, 360)
    screenshot(helper, "neighbours-6-gift-in-the-history")

    receiver = new_page(width=360, height=740)
    sign_in(receiver, world.vol_b, "**/me/")
    receiver.goto("/neighbours/give")
    assert receiver.locator("[data-testid=gift-amount]").first.inner_text() == "+6.00"
    assert "张*三" in receiver.inner_text("[data-testid=gift-history]")
