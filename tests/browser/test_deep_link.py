"""A bookmark opened cold (#12): when the very first request to a fresh console is a deep link, the page
shows Home.py's navigation (sections, page titles), for that visitor and the next."""

from __future__ import annotations

import pytest

from tests.support.stack import second_console

TITLES = ["Home", "Upload", "Run monitor", "Execution history", "Explorer", "Admin", "Notifications"]


@pytest.fixture
def fresh_console(console_stack, tmp_path):
    with second_console(console_stack, tmp_path) as url:
        yield url


def sidebar_links(page) -> list[str]:
    nav = page.get_by_test_id("stSidebarNavItems")
    nav.get_by_role("link").first.wait_for()
    return [link.inner_text().strip() for link in nav.get_by_role("link").all()]


def test_a_deep_link_first_shows_the_same_navigation_as_home(browser, fresh_console, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    first = context.new_page()

    first.goto(f"{fresh_console}/explorer")  # the console's very first request
    first.get_by_role("heading", name="Explorer").first.wait_for()
    first.screenshot(path=str(tmp_path / "deep-link.png"))

    assert [t.split("\n")[-1] for t in sidebar_links(first)] == TITLES
    sections = first.get_by_test_id("stNavSectionHeader").all_inner_texts()
    assert [s.strip() for s in sections] == ["Operate", "Data", "Admin"]
    later = context.new_page()
    later.goto(f"{fresh_console}/upload")
    later.get_by_role("heading", name="Upload").first.wait_for()
    assert [t.split("\n")[-1] for t in sidebar_links(later)] == TITLES
    context.close()
