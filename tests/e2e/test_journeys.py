"""The three everyday journeys end to end in a real browser: hours → approval → points → till."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.e2e.steps import fits, sign_in


def test_hours_become_points_and_are_spent_at_a_partner_shop(app, new_page, world, screenshot):
    with app.app_context():
        from timebank.timeutil import today

        day = (today() - timedelta(days=2)).isoformat()

    # A volunteer logs 3 hours on a phone.
    phone = new_page(width=360, height=740)
    sign_in(phone, world.vol_a, "**/me/")
    phone.click("text=登记时长 >> nth=-1")
    phone.select_option("select[name=category]", "cleanup")
    phone.fill("input[name=day]", day)
    phone.fill("input[name=start]", "09:00")
    phone.fill("input[name=end]", "12:00")
    phone.fill("input[name=place]", "3号楼楼道")
    phone.fill("textarea[name=description]", "清理楼道杂物")
    phone.click("button[type=submit]")
    phone.wait_for_url("**/me/records")
    assert phone.locator("[data-testid=status]").first.inner_text() == "待审核"
    fits(phone, 360)
    screenshot(phone, "journey-1-volunteer-logged-hours")

    # Community staff approve it (with everything else selected) in bulk at a desk.
    desk = new_page(width=1280, height=900)
    sign_in(desk, world.staff_a, "**/desk/")
    row = desk.locator("[data-testid=queue] tbody tr").filter(has_text="3号楼楼道")
    assert row.locator("[data-testid=points]").inner_text() == "30.00"
    desk.check("#select-all")
    desk.click("[data-testid=approve-selected]")
    desk.wait_for_selector(".alert-success")
    assert "已通过 1 条" in desk.inner_text(".alert-success")
    screenshot(desk, "journey-2-staff-approved-in-bulk")

    # The volunteer's balance shows the points; they open their code.
    phone.goto("/me/")
    assert phone.inner_text("[data-testid=balance]").strip() == "30.00"
    phone.click("[data-testid=show-code]")
    digits = phone.inner_text("[data-testid=code]")
    code = re.sub(r"\D", "", digits)
    assert len(code) == 8
    assert phone.locator("[data-testid=qr] svg").count() == 1
    fits(phone, 360)
    screenshot(phone, "journey-3-volunteer-code")

    # The merchant types the code and presses Enter for the first offer, keyboard only.
    till = new_page(width=768, height=1024)
    sign_in(till, world.merchant_a, "**/till/")
    till.focus("[data-testid=code-input]")
    till.keyboard.type(code)
    till.keyboard.press("Enter")
    till.wait_for_selector("[data-testid=till-result]")
    assert till.inner_text("[data-testid=result-points]") == "10.00"
    assert till.inner_text("[data-testid=result-name]") == "张*三"
    screenshot(till, "journey-4-merchant-redeemed")

    # The same code again is refused, unmistakably.
    till.focus("[data-testid=code-input]")
    till.keyboard.type(code)
    till.keyboard.press("Enter")
    till.wait_for_selector("[data-testid=till-error]")
    assert "已被使用" in till.inner_text("[data-testid=till-error]")

    # Both see the result: the volunteer's balance and history, the merchant's day.
    phone.goto("/me/")
    assert phone.inner_text("[data-testid=balance]").strip() == "20.00"
    phone.goto("/me/transactions")
    assert phone.locator("[data-testid=balance-after]").first.inner_text() == "20.00"
    screenshot(phone, "journey-5-volunteer-sees-the-spend")
    till.goto("/till/today")
    assert till.inner_text("[data-testid=today-points]") == "10.00"
    screenshot(till, "journey-6-merchant-today")
