"""The whole console journey in a real browser against the ``make run`` stack.

Upload the seed files on the Upload page, follow the link to the Run monitor until SUCCEEDED, then download
the published table as CSV from the Explorer; a screenshot of every page on the way (``docs/screenshots``
with ``UPDATE_SCREENSHOTS=1``, the test's tmp dir otherwise).
"""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

from csv_profile import snake_case
from playwright.sync_api import Page, expect

from stack.settings import Settings

RUN_TIMEOUT = 240_000  # upload → Lambda → Step Functions → Spark on a cold, shared machine (ms)
PAGE_TIMEOUT = 60_000
IDLE = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'


def wait_idle(page: Page, timeout: float = PAGE_TIMEOUT) -> None:
    """Until Streamlit has finished its reruns: connected, script not running, no "Running..." icon.

    Idle must hold for a moment: a click's rerun may not have started yet, and ``st.rerun()`` ends one run
    just before the next starts.
    """
    deadline = time.monotonic() + timeout / 1000
    running_icon = page.get_by_test_id("stStatusWidgetRunningIcon")
    while True:
        page.wait_for_timeout(500)
        remaining = max(deadline - time.monotonic(), 0.1) * 1000
        page.wait_for_selector(IDLE, timeout=remaining)
        expect(running_icon).to_have_count(0, timeout=remaining)
        page.wait_for_timeout(500)
        if page.locator(IDLE).count() == 1 and running_icon.count() == 0:
            return
        assert time.monotonic() < deadline, f"{page.url} did not stay idle within {timeout / 1000:.0f} s"


def assert_no_exception(page: Page) -> None:
    errors = page.get_by_test_id("stException")
    assert errors.count() == 0, f"{page.url} shows an exception:\n" + "\n".join(errors.all_inner_texts())


def open_page(page: Page, nav_label: str, path: str) -> None:
    """Click the sidebar navigation link, as a user does, and wait for the page to render."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=nav_label).click()
    page.wait_for_url(re.compile(rf"://[^/]+/{re.escape(path)}(\?.*)?$"), timeout=PAGE_TIMEOUT)
    wait_idle(page)
    assert_no_exception(page)


def screenshot(page: Page, folder: Path, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main container, so grow the viewport to the content."""
    viewport = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], section.main, body')]"
        ".map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], height)})
    wait_idle(page)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    page.set_viewport_size(viewport)


def upload(page: Page, label: str, file: Path, button: str, uploads_so_far: int) -> None:
    chooser = page.get_by_label(label, exact=True)  # the slot's file input (services/s3_upload.js)
    expect(chooser).to_have_count(1)
    chooser.set_input_files(file)
    page.get_by_role("button", name=button).click(timeout=PAGE_TIMEOUT)
    expect(page.get_by_text("Uploaded to")).to_have_count(uploads_so_far + 1, timeout=PAGE_TIMEOUT)
    wait_idle(page)
    assert_no_exception(page)


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_upload_monitor_explore(page: Page, console_stack, sample_data, screenshot_dir, tmp_path):
    seed = sample_data / "seed"
    orders, returns = read_csv(seed / "ordercsv.csv"), read_csv(seed / "returncsv.csv")
    order_id = next(name for name in orders[0] if snake_case(name) == "order_id")
    returned_ids = {row[order_id] for row in returns}

    page.goto(console_stack.url)
    wait_idle(page)
    assert_no_exception(page)
    expect(page.get_by_test_id("stSidebar")).to_contain_text(console_stack.aws_url)

    open_page(page, "Upload", "upload")
    upload(page, "Orders CSV", seed / "ordercsv.csv", "Upload orders", uploads_so_far=0)
    upload(page, "Returns CSV", seed / "returncsv.csv", "Upload returns", uploads_so_far=1)
    # Both uploads belong to the same run: each shows the link to it.
    monitor_link = page.get_by_role("link", name="Open run in monitor").last
    expect(monitor_link).to_be_visible(timeout=RUN_TIMEOUT)
    screenshot(page, screenshot_dir, "upload")

    monitor_link.click()
    page.wait_for_url("**/monitor?execution=*", timeout=PAGE_TIMEOUT)
    # The monitor refreshes itself (st.fragment(run_every=…)) until the run has ended.
    expect(page.get_by_text("SUCCEEDED", exact=True).first).to_be_visible(timeout=RUN_TIMEOUT)
    wait_idle(page)
    assert_no_exception(page)
    screenshot(page, screenshot_dir, "monitor")

    open_page(page, "Execution history", "history")
    # The run's row in the table (the status filter above it names SUCCEEDED too).
    # (st.dataframe draws on a canvas; its cells are mirrored in an off-screen accessible table.)
    run_cells = page.locator('[role="gridcell"]').get_by_text("SUCCEEDED", exact=True)
    expect(run_cells).to_have_count(1, timeout=PAGE_TIMEOUT)
    screenshot(page, screenshot_dir, "history")

    open_page(page, "Explorer", "explorer")
    # The download of the matching lines (the ready-made views above it have their own buttons).
    matching_lines = page.get_by_role("heading", name="Matching lines")
    download_button = matching_lines.locator("xpath=following::button[contains(., 'Download CSV')][1]")
    expect(download_button).to_be_visible(timeout=PAGE_TIMEOUT)
    screenshot(page, screenshot_dir, "explorer")
    with page.expect_download(timeout=PAGE_TIMEOUT) as download_info:
        download_button.click()
    assert download_info.value.suggested_filename.endswith(".csv")
    downloaded = tmp_path / "explorer.csv"
    download_info.value.save_as(downloaded)

    rows = read_csv(downloaded)
    assert len(rows) == len(orders)
    expected_columns = {snake_case(name) for name in [*orders[0], *returns[0]]} | {"is_returned"}
    assert expected_columns <= set(rows[0]), f"missing columns: {expected_columns - set(rows[0])}"
    assert sorted(row["order_id"] for row in rows) == sorted(row[order_id] for row in orders)
    flagged = {row["order_id"] for row in rows if row["is_returned"].strip().lower() in {"true", "1"}}
    assert flagged == returned_ids & {row[order_id] for row in orders}

    open_page(page, "Admin", "admin")
    screenshot(page, screenshot_dir, "admin")

    open_page(page, "Notifications", "notifications")
    # The run's success message, read from the stack's state dir (SNS → notifications.jsonl).
    expect(page.get_by_text(Settings().success_topic).first).to_be_visible(timeout=PAGE_TIMEOUT)
    screenshot(page, screenshot_dir, "notifications")

    # Home last: the dashboard with the run in it.
    open_page(page, "Home", "")
    screenshot(page, screenshot_dir, "home")
