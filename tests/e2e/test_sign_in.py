"""Signing in, in a real browser on a phone-sized screen."""

from __future__ import annotations


def test_a_member_signs_in_on_a_phone_and_the_page_fits(new_page, world, screenshot):
    page = new_page(width=360, height=740)
    page.goto("/login")
    page.fill("input[name=username]", world.vol_a.username)
    page.fill("input[name=password]", "correct-horse-9")
    page.keyboard.press("Enter")
    page.wait_for_url("**/me/**")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways on a 360 px phone ({width} px)"
    screenshot(page, "sign-in-volunteer-home")
