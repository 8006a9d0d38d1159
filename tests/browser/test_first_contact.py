"""A new user's first look (#12), in chromium at 1400 and 1000 px wide: the Run monitor opened from the
sidebar shows the latest run; no metric value is cut short ("SUCCEE…", "817,8…"); the state graph's labels
are drawn at a readable size. Screenshots go to SHOTS_DIR (default: the test's tmp dir)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from services import demo_data
from stack import aws
from stack.settings import Settings
from tests.browser.test_console_browser import PAGE_TIMEOUT, assert_no_exception, wait_idle
from tests.support import batches

WIDTHS = (1400, 1000)
LINES = 20_000
MIN_LABEL_PX = 11  # rendered height of a state's name in the graph

# Every metric value (and what is inside it) whose text is wider than its box: cut off or ellipsised.
CUT_METRICS = """() => [...document.querySelectorAll('[data-testid=stMetricValue]')]
  .filter(value => [value, ...value.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
  .map(value => value.innerText)"""
METRICS = "() => [...document.querySelectorAll('[data-testid=stMetricValue]')].map(e => e.innerText)"
# The rendered heights of a graph's node labels (the SVG is scaled to its box): the n-th graph's.
LABEL_HEIGHTS = """n => [...document.querySelectorAll('[data-testid=stGraphVizChart]')[n]
  .querySelectorAll('g.node text')].map(t => t.getBoundingClientRect().height)"""


@pytest.fixture(scope="module")
def demo_run(console_stack) -> dict:
    """A demo export of 20,000 lines (six-figure sums, as in #12: "817,8…") run to SUCCEEDED."""
    settings = Settings(
        target="local", endpoint_url=console_stack.aws_url, local_state_dir=str(console_stack.state_dir)
    )
    s3, sfn = aws.client(settings, "s3"), aws.client(settings, "stepfunctions")
    folder = f"first-contact-{uuid.uuid4().hex[:8]}"
    batch = batches.put_batch(
        s3,
        (settings.orders_bucket, f"{folder}/orders.csv", demo_data.orders_csv(lines=LINES)),
        (settings.returns_bucket, f"{folder}/returns.csv", demo_data.returns_csv(lines=LINES)),
    )
    machine = batches.state_machine_arn(sfn, settings.state_machine)
    described = batches.wait_execution(sfn, batches.find_execution(sfn, machine, batch), timeout=240)
    assert described["status"] == "SUCCEEDED", described
    batches.wait_all_ended(sfn, machine, timeout=120)
    return described


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def narrow_page(browser, console_stack) -> Page:
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT)
    yield context.new_page()
    context.close()


def metrics_whole(page: Page, shots: Path, name: str, expected: list[str]) -> None:
    """At each width: the expected metric values are shown, none of them cut short."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        wait_idle(page)
        page.screenshot(path=str(shots / f"{name}-{width}.png"))
        shown = page.evaluate(METRICS)
        assert set(expected) <= set(shown), (width, shown)
        assert page.evaluate(CUT_METRICS) == [], f"cut short at {width} px"


def test_monitor_opens_the_latest_run_whole_and_legible(narrow_page, console_stack, demo_run, shots):
    page = narrow_page
    page.goto(console_stack.url)
    wait_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Run monitor").click()
    wait_idle(page)
    assert_no_exception(page)

    # Opened from the sidebar (no ?execution=): the latest run, here the demo run.
    expect(page.get_by_text(demo_run["name"]).first).to_be_visible(timeout=PAGE_TIMEOUT)
    metrics_whole(page, shots, "monitor", ["SUCCEEDED", "processed"])
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    heights = page.evaluate(LABEL_HEIGHTS, 0)  # the run's path, beside the table
    assert heights and round(min(heights)) >= MIN_LABEL_PX, heights

    page.get_by_text("Every state of the state machine").click()
    wait_idle(page)
    page.screenshot(path=str(shots / "monitor-every-state.png"), full_page=True)
    heights = page.evaluate(LABEL_HEIGHTS, 1)
    assert heights and round(min(heights)) >= MIN_LABEL_PX, heights


def test_explorer_shows_whole_sums(narrow_page, console_stack, demo_run, shots):
    page = narrow_page
    page.goto(f"{console_stack.url}/explorer")
    expect(page.get_by_text("Sales lost to returns")).to_be_visible(timeout=PAGE_TIMEOUT)
    assert_no_exception(page)
    sums = page.evaluate(METRICS)
    assert any(len(value) >= len("817,812.34") for value in sums), sums  # cut to "817,8…" before
    metrics_whole(page, shots, "explorer", sums)
