"""Part ``console``: the Global Superstore export (51,290 lines, 12 MB) uploaded through the console in
chromium, until its run has SUCCEEDED.

The ``make run`` stack (``localaws/run.sh``: the local AWS, the deploy, the console) and Debian's chromium
driven by Playwright. Each sample, on a freshly opened Upload page and under new file names (so that each
pair is a new batch): upload the returns, then choose the orders file and click "Upload orders". Clocks,
from that click: the execution SUCCEEDED (read from Step Functions every 50 ms), and "SUCCEEDED" shown on
the run monitor the Upload page links to (which refreshes itself every couple of seconds).

    python -m bench --only console [--console-runs 3]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from bench.measure import spread
from bench.synthetic import SAMPLE
from tests.support import batches
from tests.support.stack import CHROMIUM, CHROMIUM_ARGS, REGION, start_console_stack, stop_console_stack

TARGET_S = 8.0  # issue #11
PAGE_TIMEOUT_MS = 120_000


def stepfunctions(stack) -> object:
    import boto3

    from localaws import credentials

    keys = credentials.load(stack.state_dir / credentials.FILE_NAME)
    session = boto3.Session(keys.access_key_id, keys.secret_access_key, region_name=REGION)
    return session.client("stepfunctions", endpoint_url=stack.aws_url)


def upload(page, label: str, file: Path, button: str) -> float:
    """Choose ``file`` in the slot and click its button once it is offered; the time of the click."""
    page.get_by_label(label, exact=True).set_input_files(str(file))
    offered = page.get_by_role("button", name=button)
    offered.wait_for(timeout=PAGE_TIMEOUT_MS)
    clicked = time.perf_counter()
    offered.click()
    return clicked


def one_sample(page, sfn, base: str, folder: Path, tag: str) -> dict:
    global_export = SAMPLE / "superstore-global"
    orders, returns = folder / f"orders-{tag}.csv", folder / f"returns-{tag}.csv"
    shutil.copyfile(global_export / "orders.csv", orders)
    shutil.copyfile(global_export / "returns.csv", returns)
    page.goto(f"{base}/upload")
    upload(page, "Returns CSV", returns, "Upload returns")
    page.get_by_text("Uploaded to").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    clicked = upload(page, "Orders CSV", orders, "Upload orders")
    link = page.get_by_role("link", name="Open run in monitor").last
    link.wait_for(timeout=PAGE_TIMEOUT_MS)
    linked = time.perf_counter() - clicked
    arn = urllib.parse.unquote(link.get_attribute("href").split("execution=", 1)[1])
    described = batches.wait_execution(sfn, arn, timeout=300, interval=0.05)
    succeeded = time.perf_counter() - clicked
    if described["status"] != "SUCCEEDED":
        sys.exit(f"console bench: run {described['name']} {described['status']}: {described.get('cause')}")
    link.click()
    page.get_by_text("SUCCEEDED", exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    shown = time.perf_counter() - clicked
    return {"run_linked_s": round(linked, 2), "succeeded_s": round(succeeded, 2), "shown_s": round(shown, 2)}


def bench_console_upload(runs: int = 3) -> dict:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} not found: apt-get install chromium (the browser the console test uses)")
    if not (SAMPLE / "superstore-global" / "orders.csv").exists():
        sys.exit(f"sample data not found at {SAMPLE}: the benchmark uploads superstore-global")
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        folder = Path(tmp)
        (folder / "state").mkdir()
        stack = start_console_stack(folder / "state")
        try:
            sfn = stepfunctions(stack)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page()
                one_sample(page, sfn, stack.url, folder, "warm")
                samples = [one_sample(page, sfn, stack.url, folder, str(i)) for i in range(runs)]
                browser.close()
        finally:
            stop_console_stack(stack)
    succeeded = [s["succeeded_s"] for s in samples]
    return {
        "part": "console",
        "data": "superstore-global (51,290 order lines, 12 MB)",
        "measure": "click on 'Upload orders' (returns uploaded before) -> the execution SUCCEEDED",
        "runs": runs,
        **spread(succeeded),
        "target_s": TARGET_S,
        "shown_in_monitor_median_s": round(statistics.median(s["shown_s"] for s in samples), 2),
        "samples": samples,
    }
