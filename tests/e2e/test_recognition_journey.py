"""Certificates in a real browser: staff issue a service-record certificate at the desk, the
member finds it on a phone and downloads the PDF, and anyone can check it without signing in."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pypdf

from tests.e2e.steps import fits, sign_in


def test_staff_issue_a_certificate_the_member_downloads_it_and_anyone_verifies_it(
        app, api, world, new_page, screenshot):
    api.earn(world.vol_a, world.staff_a, length=3)  # 3.00 approved hours

    # Staff issue a service-record certificate from the recognition desk.
    desk = new_page(width=1280, height=900)
    sign_in(desk, world.staff_a, "**/desk/")
    desk.goto("/recognition/desk")
    desk.click("[data-testid=issue-link]")
    desk.wait_for_url("**/recognition/desk/issue")
    desk.select_option("select[name=member_id]", str(world.vol_a.id))
    desk.select_option("select[name=kind]", "service_record")
    desk.fill("input[name=person_in_charge]", "陈主任")
    screenshot(desk, "recognition-1-staff-issue-form")
    desk.click("[data-testid=issue-button]")
    desk.wait_for_url("**/recognition/certificates/*")
    serial = desk.inner_text("[data-testid=serial]").strip()
    assert re.fullmatch(r"TB\d{4}-\d{6,10}-[A-Z2-7]{10}", serial)
    assert desk.inner_text("[data-testid=holder]").strip() == "张小三"
    assert desk.inner_text("[data-testid=hours]").strip() == "3.00"
    desk.goto("/recognition/desk")
    assert desk.locator(f"[data-testid=certificate-{serial}]").count() == 1
    # On a phone the desk's tables scroll inside themselves, not the whole page.
    desk.set_viewport_size({"width": 360, "height": 740})
    for path in ("/recognition/desk", "/recognition/desk/issue", "/recognition/desk/teams",
                 "/recognition/desk/red-flag", f"/recognition/certificates/{serial}"):
        desk.goto(path)
        fits(desk, 360)

    # The member finds it on a phone, under "certificates and stars" in the folded menu.
    phone = new_page(width=360, height=740)
    sign_in(phone, world.vol_a, "**/me/")
    phone.click(".navbar-toggler")
    phone.wait_for_selector("#mainnav.show")
    phone.click("nav >> a[href='/recognition/']")
    phone.wait_for_url("**/recognition/")
    item = phone.locator(f"[data-testid=certificate-{serial}]")
    assert item.locator("[data-testid=serial]").inner_text() == serial
    assert item.locator("[data-testid=valid]").count() == 1
    assert phone.inner_text("[data-testid=total-hours]").strip() == "3.00"
    fits(phone, 360)
    screenshot(phone, "recognition-2-member-certificates")

    with phone.expect_download() as caught:
        item.locator(f"[data-testid=pdf-{serial}]").click()
    download = caught.value
    assert download.suggested_filename == f"{serial}.pdf"
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"%PDF")
    text = re.sub(r"\s+", "", "".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(content)).pages))
    assert serial in text and "张小三" in text

    # Anyone opens the verification link without signing in; the holder's name is masked.
    verify_href = item.locator(f"[data-testid=verify-{serial}]").get_attribute("href")
    assert verify_href == f"/verify/{serial}"
    public = new_page(width=360, height=740)
    resp = public.goto(verify_href)
    assert "/login" not in public.url
    if "boards.verify_serial" in app.view_functions:
        assert resp.status == 200
        status = public.locator("[data-testid=verify-status]")
        assert status.get_attribute("data-status") == "valid"
        assert serial in public.content() and "张小三" not in public.content()
        fits(public, 360)
        screenshot(public, "recognition-3-public-verification")
    # Without the boards pages (built separately) there is no public page to check yet.
