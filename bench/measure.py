"""What the bench parts share: timing a whole process, the Glue script's command line, a spread of samples."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "pipeline" / "glue" / "ecommerce_join_data.py"


def timed(command: list[str]) -> float:
    """Seconds a command takes, start-up included; exits with its stderr when it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return elapsed


def glue_script(orders: Path, returns: Path, out: Path, run_id: str) -> list[str]:
    """The Glue job script run locally on two files, as a command."""
    return [sys.executable, str(SCRIPT), "--orders_path", str(orders), "--returns_path", str(returns),
            "--output_path", str(out), "--run_id", run_id]  # fmt: skip


def spread(seconds: Iterable[float], digits: int = 2) -> dict[str, float]:
    """Median, min and max of timed samples."""
    values = list(seconds)
    return {
        "median_s": round(statistics.median(values), digits),
        "min_s": round(min(values), digits),
        "max_s": round(max(values), digits),
    }
