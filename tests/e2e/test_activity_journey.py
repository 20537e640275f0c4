"""An organised activity end to end in a real browser: created, joined, checked in, credited."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.e2e.steps import fits, sign_in

CODE = "[data-testid=checkin-code]"


def _current_code(desk) -> str:
    code = desk.get_attribute(CODE, "data-code")
    assert code and re.fullmatch(r"\d{6}", code), code
    return code


def _shows_the_code(desk) -> None:
    """The QR code is drawn at a scannable size and the digits stay inside their panel."""
    qr = desk.locator("[data-testid=checkin-qr] svg").bounding_box()
    assert qr and qr["width"] >= 150 and qr["height"] >= 150, qr
    overflow = desk.eval_on_selector(CODE, "el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"the code is {overflow} px wider than its panel"


def test_an_activity_from_creation_to_points(app, new_page, world, screenshot):
    # Codes rotate every few seconds here, so the organiser's screen is seen to renew itself.
    app.config["CHECKIN_CODE_SECONDS"] = 8
    with app.app_context():
        from timebank.models.base import utcnow
        from timebank.timeutil import local

        # Two planned hours, 100 minutes of them gone: check-in is open, and 90 minutes of
        # attendance (enough for credit) already lie in the past.
        start = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=100)
        moments = {name: local(at).strftime("%Y-%m-%dT%H:%M") for name, at in {
            "start": start, "end": start + timedelta(hours=2),
            "left": start + timedelta(minutes=90)}.items()}

    # Community staff open an activity from the desk.
    desk = new_page(width=1280, height=900)
    sign_in(desk, world.staff_a, "**/desk/")
    desk.click("nav a.nav-link[href='/activities/manage']")
    desk.wait_for_url("**/activities/manage")
    desk.click("[data-testid=activity-new]")
    desk.fill("input[name=title]", "楼道大扫除")
    desk.select_option("select[name=category]", "cleanup")
    desk.select_option("select[name=org_unit_id]", str(world.units["A1"]))
    desk.fill("input[name=starts_at]", moments["start"])
    desk.fill("input[name=ends_at]", moments["end"])
    desk.fill("input[name=place]", "5号楼楼道")
    desk.fill("input[name=capacity]", "10")
    desk.fill("textarea[name=description]", "清理楼道杂物，张贴防火提示")
    desk.click("[data-testid=create]")
    desk.wait_for_url(re.compile(r".*/activities/\d+/organise$"))
    activity_id = int(re.search(r"/activities/(\d+)/organise", desk.url).group(1))
    desk.wait_for_selector(CODE)
    screenshot(desk, "activity-1-staff-opened-the-activity")

    # A volunteer finds it on a 360 px phone and signs up.
    phone = new_page(width=360, height=740)
    sign_in(phone, world.vol_a, "**/me/")
    phone.goto("/activities/")
    phone.click(f"[data-testid=activity-{activity_id}]")
    phone.wait_for_url(f"**/activities/{activity_id}")
    assert phone.inner_text("[data-testid=place]") == "5号楼楼道"
    assert phone.inner_text("[data-testid=planned-hours]") == "2.00"
    phone.click("[data-testid=sign-up]")
    phone.wait_for_selector("[data-testid=signup-status][data-status=registered]")
    fits(phone, 360)
    screenshot(phone, "activity-2-member-signed-up")

    # The organiser's screen shows a 6-digit code with its QR code, and renews it by itself.
    desk.reload()
    first = _current_code(desk)
    _shows_the_code(desk)
    assert f"/activities/{activity_id}/check-in?code={first}" in desk.inner_text(
        "[data-testid=checkin-url]")
    desk.wait_for_function(
        "old => document.querySelector('[data-testid=checkin-code]').dataset.code !== old",
        arg=first)
    renewed = _current_code(desk)
    assert renewed in desk.inner_text("[data-testid=checkin-url]")
    _shows_the_code(desk)
    screenshot(desk, "activity-3-organiser-code")

    # The volunteer types the code shown now and is checked in with one press.
    phone.click("[data-testid=go-check-in]")
    phone.wait_for_url(f"**/activities/{activity_id}/check-in")
    field = phone.locator("[data-testid=code-input]")
    assert field.get_attribute("inputmode") == "numeric"
    assert field.get_attribute("autocomplete") == "one-time-code"
    field.fill(_current_code(desk))
    phone.click("[data-testid=check-in]")
    phone.wait_for_selector("[data-state=checked-in]")
    fits(phone, 360)
    screenshot(phone, "activity-4-member-checked-in")

    # … and out again with the code of that moment.
    phone.fill("[data-testid=code-input]", _current_code(desk))
    phone.click("[data-testid=check-out]")
    phone.wait_for_selector("[data-state=done]")
    screenshot(phone, "activity-5-member-checked-out")

    # The organiser sees it, and records the real stay by hand (the member came early).
    desk.reload()
    row = desk.locator(f"[data-testid=signup-{world.vol_a.id}]")
    assert re.search(r"\d\d:\d\d", row.locator("[data-testid=checked-in]").inner_text())
    desk.select_option("select[name=member]", str(world.vol_a.id))
    desk.fill("input[name=checked_in_at]", moments["start"])
    desk.fill("input[name=checked_out_at]", moments["left"])
    desk.click("[data-testid=record-attendance]")
    desk.wait_for_selector(".alert-success")
    assert row.locator("[data-testid=present]").inner_text() == "1.50"
    assert row.locator("[data-testid=by-staff]").count() == 1

    # Closing asks first, then makes the record; staff approve it from the same page.
    desk.click("[data-testid=close]")
    desk.wait_for_selector(f"[data-testid=preview-{world.vol_a.id}] [data-credited=yes]")
    screenshot(desk, "activity-6-close-confirmation")
    desk.click("[data-testid=confirm-close]")
    desk.wait_for_selector("[data-testid=approve-form]")
    assert desk.locator(f"[data-testid=signup-{world.vol_a.id}] "
                        "[data-testid=record-status][data-status=pending]").count() == 1
    desk.click("[data-testid=approve-all]")
    desk.wait_for_selector("[data-testid=records-none]")
    assert desk.locator(f"[data-testid=signup-{world.vol_a.id}] "
                        "[data-testid=record-status][data-status=approved]").count() == 1
    screenshot(desk, "activity-7-closed-and-approved")

    # The volunteer sees the points and the approved record.
    phone.goto("/me/")
    assert phone.inner_text("[data-testid=balance]").strip() == "15.00"
    phone.goto("/activities/mine")
    entry = phone.locator(f"[data-testid=mine-{activity_id}]")
    assert entry.locator("[data-testid=record-status][data-status=approved]").count() == 1
    assert "+15.00" in entry.inner_text()
    fits(phone, 360)
    screenshot(phone, "activity-8-member-sees-the-points")
