"""Importing members in a real browser: the upload goes through the progress script."""

from __future__ import annotations

import re

from tests.e2e.steps import sign_in

ROWS = ["姓名,手机号,网格,身份证号,角色,党员,党组织,用户名",
        "王五,13812345678,第一网格,11010519491231002X,志愿者,是,阳光社区党支部,wangwu",
        "赵六,13912345678,第二网格,,网格员,否,,"]


def test_staff_upload_with_progress_check_and_import(new_page, world, screenshot, tmp_path):
    listing = tmp_path / "名单.csv"
    listing.write_bytes(("\ufeff" + "\r\n".join(ROWS) + "\r\n").encode())
    page = new_page(width=1280, height=900)
    sign_in(page, world.staff_a, "**/desk/")
    page.goto("/members/import/")
    page.select_option("select[name=org_unit_id]", str(world.units["A"]))
    page.set_input_files("input[name=file]", str(listing))
    with page.expect_request(lambda r: r.method == "POST" and
                             r.headers.get("x-upload-progress") == "1"):
        page.click("[data-testid=upload]")
    page.wait_for_url(re.compile(r".*/members/import/\d+$"))
    assert page.locator("[data-testid=row-2]").is_visible()
    assert "110105********002X" in page.content()
    screenshot(page, "member-import-preview")
    page.fill("input[name=password]", "first-pass-2026")
    page.click("[data-testid=confirm]")
    page.wait_for_url("**/result")
    assert "wangwu" in page.locator("[data-testid=imported-rows]").inner_text()
    screenshot(page, "member-import-result")


def test_a_refused_file_comes_back_as_a_message(new_page, world, tmp_path):
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a workbook")
    page = new_page()
    sign_in(page, world.staff_a, "**/desk/")
    page.goto("/members/import/")
    page.set_input_files("input[name=file]", str(broken))
    page.click("[data-testid=upload]")
    page.wait_for_selector(".alert-danger")
    assert page.url.endswith("/members/import/")
