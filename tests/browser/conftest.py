"""The ``make run`` stack in a real browser: ``localaws/run.sh`` on free ports, driven by Playwright.

The stack is a separate process group (local AWS with its own Spark + the Streamlit console), so it does not
share ports or state with the in-process local AWS of ``tests/e2e``. The browser is Debian's ``chromium``
(``.ci/run`` installs it with apt), not Playwright's download.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI containers run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STACK_START_TIMEOUT = 300  # Spark warm-up and the deploy on a cold, shared machine
STACK_STOP_TIMEOUT = 60


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the make-run stack in Debian's chromium")


@dataclass(frozen=True)
class ConsoleStack:
    url: str  # the console
    aws_url: str  # the local AWS
    state_dir: Path
    process: subprocess.Popen

    def logs(self, lines: int = 30) -> str:
        """The tail of each log, for failure messages."""
        parts = []
        for name in ("run_local.out", "local-aws.log", "console.log"):
            path = self.state_dir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name} ---\n" + "\n".join(tail))
        return "\n".join(parts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def responds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_group_gone(pgid: int, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()  # reap the script so its own pid does not linger as a zombie
        if not group_alive(pgid):
            return True
        time.sleep(0.2)
    return False


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
    state_dir = tmp_path_factory.mktemp("make-run-state")
    aws_port, console_port = free_port(), free_port()
    # The user's ECOMMERCE_* must not redirect the test stack; everything else is make run's environment.
    env = {name: value for name, value in os.environ.items() if not name.startswith("ECOMMERCE_")}
    env.update(
        ECOMMERCE_LOCAL_PORT=str(aws_port),
        CONSOLE_PORT=str(console_port),
        STATE_DIR=str(state_dir),
        OPEN_BROWSER="0",
    )
    with (state_dir / "run_local.out").open("wb") as out:
        process = subprocess.Popen(
            ["bash", "localaws/run.sh"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives `make run`
        )
    stack = ConsoleStack(
        url=f"http://127.0.0.1:{console_port}",
        aws_url=f"http://127.0.0.1:{aws_port}",
        state_dir=state_dir,
        process=process,
    )
    try:
        deadline = time.monotonic() + STACK_START_TIMEOUT
        aws_log = state_dir / "local-aws.log"
        while not (
            aws_log.exists()
            and "ready" in aws_log.read_text(errors="replace")
            and responds(f"{stack.url}/_stcore/health")
        ):
            if process.poll() is not None:
                pytest.fail(f"localaws/run.sh exited with {process.returncode}:\n{stack.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the make-run stack did not come up in {STACK_START_TIMEOUT} s:\n{stack.logs()}")
            time.sleep(0.5)
        yield stack
    finally:
        stop_stack(stack)


def stop_stack(stack: ConsoleStack) -> None:
    """SIGINT to the whole group (what Ctrl-C in the terminal does); anything left is killed and reported."""
    pgid = stack.process.pid
    if not group_alive(pgid):
        return
    os.killpg(pgid, signal.SIGINT)
    if wait_group_gone(pgid, stack.process, STACK_STOP_TIMEOUT):
        return
    os.killpg(pgid, signal.SIGKILL)
    wait_group_gone(pgid, stack.process, 10)
    pytest.fail(f"the make-run stack was still running {STACK_STOP_TIMEOUT} s after Ctrl-C:\n{stack.logs()}")


@contextmanager
def second_console(
    stack: ConsoleStack, folder: Path, *extra_args: str, port: int | None = None, **env: str
) -> Iterator[str]:
    """Another ``streamlit run Home.py`` on the stack's local AWS, fresh (no request served yet); its URL."""
    port = port or free_port()
    environ = {name: value for name, value in os.environ.items() if not name.startswith("ECOMMERCE_")}
    environ.update(
        ECOMMERCE_TARGET="local",
        ECOMMERCE_ENDPOINT_URL=stack.aws_url,
        ECOMMERCE_LOCAL_STATE_DIR=str(stack.state_dir),
        **env,
    )
    log_path = folder / "console.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), *extra_args],
            cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while not responds(f"{url}/_stcore/health"):
                assert process.poll() is None, log_path.read_text(errors="replace")
                assert time.monotonic() < deadline, f"the console did not start: {log_path}"
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


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
