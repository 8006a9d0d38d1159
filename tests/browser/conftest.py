"""The ``make run`` stack in a real browser: ``localaws/run.sh`` on free ports (tests/support/stack.py),
driven by Playwright.

The stack is a separate process group (local AWS with its own Spark + the Streamlit console), so it does not
share ports or state with the in-process local AWS of ``tests/e2e``. The browser is Debian's ``chromium``
(``.ci/run`` installs it with apt), not Playwright's download.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    ConsoleStack,
    StackError,
    start_console_stack,
    stop_console_stack,
)


def missing_requirement(message: str) -> None:
    """Skip with the reason, except under CI=true where it is a failure (as ``sample_data`` does)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        missing_requirement(f"{CHROMIUM} not found: `apt-get install chromium` (or set CHROMIUM)")
    return CHROMIUM


# Package scope: the stack (and its Spark) stops when tests/browser is done, not at the end of `make test`.
@pytest.fixture(scope="package")
def console_stack(tmp_path_factory, sample_data, chromium_path) -> Iterator[ConsoleStack]:
    """``bash localaws/run.sh`` as ``make run`` starts it; Ctrl-C (SIGINT to the group) on teardown."""
    try:
        stack = start_console_stack(tmp_path_factory.mktemp("make-run-state"))
    except StackError as exc:
        pytest.fail(str(exc))
    try:
        yield stack
    finally:
        try:
            stop_console_stack(stack)
        except StackError as exc:
            pytest.fail(str(exc))


@pytest.fixture(scope="package")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, console_stack):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    """docs/screenshots with UPDATE_SCREENSHOTS=1 (for the README), else the test's tmp dir."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        target = REPO / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path
