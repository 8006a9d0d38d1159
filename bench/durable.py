"""Part ``durable``: the local AWS as `make run` starts it (``python -m localaws``, its own process group),
driven through many real runs of the seed batch under new keys.

Measures the restart time (SIGKILL, then start to ``ready``) with 20 runs of history, and the resident
memory of the local AWS (the Python process, and its Spark JVM separately) after every 10 runs up to 50,
with the state dir's size.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench.synthetic import SAMPLE
from tests.support.stack import LocalAwsProcess

MACHINE = "ETL-StepFunction-Controller"


def _rss_mb(pgid: int) -> dict[str, float]:
    """Resident memory of the process group: the Python server and the JVMs it started."""
    ps = shutil.which("ps") or "/bin/ps"
    listing = subprocess.run([ps, "-o", "rss=,comm=", "-g", str(pgid)], capture_output=True, text=True).stdout
    python = java = 0
    for line in listing.splitlines():
        kilobytes, _, command = line.strip().partition(" ")
        if "java" in command:
            java += int(kilobytes)
        elif "python" in command:
            python += int(kilobytes)
    return {"python_mb": round(python / 1024), "spark_jvm_mb": round(java / 1024)}


def _size_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def _start(local: LocalAwsProcess) -> float:
    """Seconds from the command to ``ready``; then the clients the benchmark drives."""
    ready = local.start()
    local.s3, local.sfn = local.client("s3"), local.client("stepfunctions")
    return ready


def bench_durable(runs: int = 50, restart_after: int = 20) -> dict:
    from tests.support import batches

    seed = SAMPLE / "seed"
    if not (seed / "ordercsv.csv").exists():
        sys.exit(f"sample data not found at {SAMPLE}: the benchmark uploads the seed batch")
    orders, returns = (seed / "ordercsv.csv").read_bytes(), (seed / "returncsv.csv").read_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-durable-") as folder:
        local = LocalAwsProcess(Path(folder) / "state", ECOMMERCE_GLUE_WAIT_SECONDS="1")
        first_start = _start(local)
        memory, restart = [], {}
        try:
            machine = batches.state_machine_arn(local.sfn, MACHINE)
            for done in range(1, runs + 1):
                batch = batches.put_batch(
                    local.s3,
                    ("ecommerce-orders-raw", f"soak/{done}-{uuid.uuid4().hex[:6]}/orders.csv", orders),
                    ("ecommerce-returns-raw", f"soak/{done}-{uuid.uuid4().hex[:6]}/returns.csv", returns),
                )
                arn = batches.find_execution(local.sfn, machine, batch)
                status = batches.wait_execution(local.sfn, arn, timeout=300)["status"]
                if status != "SUCCEEDED":
                    sys.exit(f"soak run {done} ended {status}:\n{local.log.read_text()[-2000:]}")
                batches.wait_all_ended(local.sfn, machine, timeout=300)
                if done % 10 == 0:
                    memory.append(
                        {"runs": done, **_rss_mb(local.process.pid), "state_mb": _size_mb(Path(folder))}
                    )
                    print(f"durable: {memory[-1]}", file=sys.stderr, flush=True)
                if done == restart_after:
                    executions = len(batches.executions(local.sfn, machine))
                    local.kill()
                    ready = round(_start(local), 2)
                    restored = re.search(r"restored .* in ([0-9.]+) s", local.log.read_text())
                    restart = {
                        "runs": done,
                        "executions": executions,
                        "sigkill_to_ready_s": ready,
                        "restore_s": float(restored.group(1)) if restored else None,
                    }
                    if len(batches.executions(local.sfn, machine)) != executions:
                        sys.exit("the restart lost executions")
        finally:
            local.stop()
    return {
        "part": "durable",
        "measure": "python -m localaws: SIGKILL → ready with history; RSS every 10 runs of the seed batch",
        "first_start_s": round(first_start, 2),
        "restart": restart,
        "memory": memory,
    }
