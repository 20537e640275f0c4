"""Steps the browser journeys share."""

from __future__ import annotations

from tests.factories import PASSWORD


def sign_in(page, person, lands_on: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", person.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lands_on)


def fits(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways at {width} px ({scroll} px)"
