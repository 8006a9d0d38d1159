"""The Upload page's peak memory while a person uploads a ~200 MB orders export in a real browser.

The `make run` stack (the local AWS and the console, each its own process), Debian's chromium driven by
Playwright: open the Upload page, choose the file, wait for the check, click "Upload orders", wait for
"Uploaded to". The console process's resident memory is read from /proc: VmRSS before the file is chosen,
and VmHWM (the kernel's peak, reset through clear_refs just before) once the upload is done.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.support.stack import CHROMIUM, CHROMIUM_ARGS, REPO, LocalAwsProcess, free_port, responds


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def bench_upload_memory(orders_csv: Path) -> dict:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: apt-get install chromium (the browser the console test uses)")
    console_port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as state:
        python = sys.executable
        origins = f"http://127.0.0.1:{console_port},http://localhost:{console_port}"
        local = LocalAwsProcess(Path(state) / "aws", ECOMMERCE_CONSOLE_ORIGINS=origins)
        console = None
        try:
            local.start()
            console_env = {
                **local.environment,
                "ECOMMERCE_TARGET": "local",
                "ECOMMERCE_ENDPOINT_URL": local.url,
                "ECOMMERCE_LOCAL_STATE_DIR": str(local.state_dir),
            }
            console = subprocess.Popen(
                [python, "-m", "streamlit", "run", "Home.py", "--server.port", str(console_port)],
                cwd=REPO,
                env=console_env,
                stdout=(Path(state) / "console.log").open("w"),
                stderr=subprocess.STDOUT,
            )
            base = f"http://127.0.0.1:{console_port}"
            wait_for(lambda: responds(f"{base}/_stcore/health"), 60, "the console did not start")
            samples: list[int] = []
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.is_set():
                    samples.append(status_kb(console.pid, "VmRSS"))
                    time.sleep(0.05)

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"{base}/upload")
                page.get_by_label("Orders CSV", exact=True).wait_for(timeout=60_000)
                time.sleep(1)
                before_kb = status_kb(console.pid, "VmRSS")
                Path(f"/proc/{console.pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                started = time.perf_counter()
                page.get_by_label("Orders CSV", exact=True).set_input_files(str(orders_csv))
                button = page.get_by_role("button", name="Upload orders")
                button.wait_for(timeout=300_000)
                checked_kb, checked_peak_kb = status_kb(console.pid, "VmRSS"), status_kb(console.pid, "VmHWM")
                checked_at = time.perf_counter() - started
                button.click()
                page.get_by_text("Uploaded to").wait_for(timeout=300_000)
                elapsed = time.perf_counter() - started
                peak_kb = status_kb(console.pid, "VmHWM")
                sampling.set()
                sampler.join()
                browser.close()
            return {
                "bench": "upload_page_memory",
                "file_mb": round(orders_csv.stat().st_size / 2**20, 1),
                "rss_before_mb": round(before_kb / 1024, 1),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "peak_sampled_mb": round(max(samples) / 1024, 1),
                # In the browser → console transfer and the check (profile, row count, digest):
                "peak_until_checked_mb": round(checked_peak_kb / 1024, 1),
                "rss_when_checked_mb": round(checked_kb / 1024, 1),
                "seconds_to_checked": round(checked_at, 2),
                "target_mb": 300,
                "seconds_choose_to_uploaded": round(elapsed, 2),
            }
        finally:
            if console is not None:
                console.terminate()
                try:
                    console.wait(30)
                except subprocess.TimeoutExpired:
                    console.kill()
            local.stop()
