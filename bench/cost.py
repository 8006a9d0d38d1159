"""Part ``cost``: what runs cost on AWS, on paper, from a real local run (docs/COST.md).

One batch (the returns file, then the orders file: the day ADR 0004 describes) runs through the deployed
pipeline on a local AWS in this process, after one warm-up batch. From the histories of the executions the
batch started come the state transitions (states entered) and the Lambda invocations with their durations.
The Glue job's throughput per core is measured by running the job script on US Superstore (its fixed
start-up time) and on the bench's 1M-line file, then scaled to Glue workers for 10k, 1M and 5M lines and
for 50 GB. Prices: us-east-1 list prices (PRICES), as of 2026-12.

    python -m bench --only cost
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES = {
    "sfn_per_transition": 0.025 / 1000,  # Standard workflows
    "lambda_per_gb_second": 0.0000166667,  # x86
    "lambda_per_request": 0.20 / 1_000_000,
    "glue_per_dpu_hour": 0.44,  # Spark jobs, Glue 5.0: per second, 1-minute minimum
    "s3_per_gb_month": 0.023,  # Standard
    "s3_per_put": 0.005 / 1000,
    "s3_per_get": 0.0004 / 1000,
    "athena_per_tb_scanned": 5.0,  # 10 MB minimum per query
}
WORKER_DPU = {"G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8}
WORKER_VCPU = {"G.1X": 4, "G.2X": 8, "G.4X": 16, "G.8X": 32}
GLUE_MINIMUM_S = 60
ATHENA_MINIMUM_BYTES = 10 * 1024**2
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


@dataclass(frozen=True)
class GlueThroughput:
    """The job script measured locally: its fixed time (start-up, profiling, publish) and lines per second
    per core beyond it."""

    fixed_s: float
    lines_per_core_s: float
    bytes_per_line: float

    def run_seconds(self, lines: float, worker_type: str, workers: int) -> float:
        """On Glue: the driver is one worker, the executors' cores are the other workers' vCPUs."""
        executor_cores = WORKER_VCPU[worker_type] * max(1, workers - 1)
        return self.fixed_s + lines / (self.lines_per_core_s * executor_cores)

    def dpu_seconds(self, lines: float, worker_type: str, workers: int) -> float:
        billed = max(GLUE_MINIMUM_S, self.run_seconds(lines, worker_type, workers))
        return workers * WORKER_DPU[worker_type] * billed


def transitions(rows: list[Any]) -> int:
    """State transitions as Standard workflows bill them: one per state entered."""
    return sum(row.visits for row in rows)


def lambda_tasks(asl: dict[str, Any], rows: list[Any]) -> dict[str, tuple[int, float]]:
    """{state: (invocations, seconds in the state)} for the Lambda Tasks the execution entered."""
    states = asl["States"]
    return {
        row.state: (row.visits + row.retries, row.duration_s)
        for row in rows
        if str(states.get(row.state, {}).get("Resource", "")).startswith(LAMBDA_INVOKE)
    }


def measure_glue(lines: int = 1_000_000, cores: int = 2) -> tuple[GlueThroughput, int]:
    """The job script on US Superstore and on ``lines`` synthetic lines; also the Parquet bytes per line."""
    from bench.measure import glue_script, timed
    from bench.synthetic import SAMPLE, synthesize

    us = SAMPLE / "superstore-us"
    orders, returns = synthesize(lines)
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        small = timed(glue_script(us / "orders.csv", us / "returns.csv", Path(tmp) / "small", "cost"))
        large = timed(glue_script(orders, returns, Path(tmp) / "large", "cost"))
        parquet = sum(p.stat().st_size for p in (Path(tmp) / "large").rglob("*.parquet"))
    small_lines = sum(1 for _ in (us / "orders.csv").open("rb")) - 1
    per_core = (lines - small_lines) / ((large - small) * cores)
    return GlueThroughput(small, per_core, orders.stat().st_size / lines), parquet // lines


def measure_run() -> dict[str, Any]:
    """One warm batch on a local AWS: its executions' transitions and Lambda tasks."""
    from bench.synthetic import SAMPLE
    from services import execution_reads, run_detail
    from stack import aws
    from stack.settings import Settings
    from tests.support import batches
    from tests.support.stack import start_deployed_local_aws

    us = SAMPLE / "superstore-us"
    orders_bytes, returns_bytes = (us / "orders.csv").read_bytes(), (us / "returns.csv").read_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-cost-aws-") as state_dir:
        local = start_deployed_local_aws(0, Path(state_dir), Settings.from_env(target="local"))
        try:
            settings = local.settings
            s3, sfn = aws.client(settings, "s3"), aws.client(settings, "stepfunctions")
            machine = batches.state_machine_arn(sfn, settings.state_machine)

            def batch(tag: str) -> list[dict[str, Any]]:
                before = {e["executionArn"] for e in batches.executions(sfn, machine)}
                put = batches.put_batch(
                    s3,
                    (settings.orders_bucket, f"cost/{tag}/orders.csv", orders_bytes),
                    (settings.returns_bucket, f"cost/{tag}/returns.csv", returns_bytes),
                )
                described = batches.wait_execution(
                    sfn, batches.find_execution(sfn, machine, put), timeout=300
                )
                if described["status"] != "SUCCEEDED":
                    sys.exit(f"cost bench: run {described['name']} {described['status']}")
                ended = batches.wait_all_ended(sfn, machine, timeout=300)
                local.wait_idle(300)
                return [e for e in ended if e["executionArn"] not in before]

            batch(f"warm-{uuid.uuid4().hex[:8]}")
            started = batch(uuid.uuid4().hex[:8])
            asl = run_detail.definition(sfn, started[0]["executionArn"])
            executions = []
            for execution in sorted(started, key=lambda e: e["startDate"]):
                events = execution_reads.history(sfn, execution["executionArn"])
                rows = run_detail.state_rows(events, execution["status"])
                executions.append(
                    {
                        "name": execution["name"],
                        "status": execution["status"],
                        "states": [name for row in rows for name in [row.state] * row.visits],
                        "transitions": transitions(rows),
                        "lambda_tasks": lambda_tasks(asl, rows),
                    }
                )
        finally:
            local.stop()
    return {"executions": executions, "uploads": 2}


def lambda_estimate(executions: list[dict[str, Any]], uploads: int, memory_mb: int) -> dict[str, Any]:
    """Invocations and GB-seconds. A Task's time in its state is the Lambda's time, except where the
    state waits by design (the task-token park; the local Glue status check's wait, one read on AWS):
    those, and the S3-triggered on-upload Lambda, are priced at the median of the others."""
    waits = {"AwaitCounterpart", "CheckGlueJobStatus"}
    timed = [
        seconds / count
        for execution in executions
        for state, (count, seconds) in execution["lambda_tasks"].items()
        if state not in waits and count
    ]
    typical = statistics.median(timed) if timed else 0.5
    invocations, seconds = uploads, uploads * typical
    for execution in executions:
        for state, (count, spent) in execution["lambda_tasks"].items():
            invocations += count
            seconds += count * typical if state in waits else spent
    gb_seconds = seconds * memory_mb / 1024
    dollars = gb_seconds * PRICES["lambda_per_gb_second"] + invocations * PRICES["lambda_per_request"]
    return {
        "invocations": invocations,
        "typical_s": round(typical, 3),
        "gb_seconds": round(gb_seconds, 2),
        "usd": round(dollars, 7),
    }


def monthly(
    lines: int,
    glue: GlueThroughput,
    parquet_bytes_per_line: float,
    keep_runs: int,
    queries: int = 100,
) -> dict[str, float]:
    """S3 and Athena for 30 daily runs of ``lines`` order lines and ``queries`` a day. Raw uploads are
    kept (each day is a new key; versioning expires only replaced files). The table keeps ``keep_runs``
    runs. Every query is priced as a scan of the whole published run (Athena reads only the columns a query
    names: an upper bound)."""
    gb = 1024**3
    raw_gb = 30 * lines * glue.bytes_per_line / gb  # after the month; storage is billed on the average
    run_bytes = lines * parquet_bytes_per_line
    processed_gb = keep_runs * run_bytes / gb
    scanned_tb = 30 * queries * max(ATHENA_MINIMUM_BYTES, run_bytes) / 1024**4
    storage = (raw_gb / 2 + processed_gb) * PRICES["s3_per_gb_month"]
    return {
        "raw_gb_end_of_month": round(raw_gb, 2),
        "processed_gb": round(processed_gb, 3),
        "s3_storage_usd": round(storage, 4),
        "athena_tb_scanned": round(scanned_tb, 4),
        "athena_usd": round(scanned_tb * PRICES["athena_per_tb_scanned"], 2),
    }


def bench_cost() -> dict[str, Any]:
    from deploy.deployer import LAMBDA_MEMORY_MB
    from stack.settings import Settings

    aws_settings = Settings.from_env(target="aws")
    run = measure_run()
    glue, parquet_bytes_per_line = measure_glue()
    worker, glue_hour = aws_settings.glue_worker_type, PRICES["glue_per_dpu_hour"]
    sizes = {"10k lines": 10_000, "1M lines": 1_000_000, "5M lines": 5_000_000}
    sizes["50 GB"] = 50e9 / glue.bytes_per_line
    glue_runs = {
        name: {
            "lines": round(lines),
            **{
                f"{workers} x {worker}": {
                    "run_s": round(glue.run_seconds(lines, worker, workers), 1),
                    "dpu_s": round(glue.dpu_seconds(lines, worker, workers)),
                    "usd": round(glue.dpu_seconds(lines, worker, workers) / 3600 * glue_hour, 4),
                }
                for workers in sorted({aws_settings.glue_workers, 10})
            },
        }
        for name, lines in sizes.items()
    }
    published = next(e for e in run["executions"] if "ETLSucceeded" in e["states"])
    return {
        "part": "cost",
        "executions": run["executions"],
        "transitions_per_successful_day": sum(e["transitions"] for e in run["executions"]),
        "transitions_of_the_published_run": published["transitions"],
        "transitions_usd": sum(e["transitions"] for e in run["executions"]) * PRICES["sfn_per_transition"],
        "lambda": lambda_estimate(run["executions"], run["uploads"], LAMBDA_MEMORY_MB),
        "lambda_memory_mb": LAMBDA_MEMORY_MB,
        "glue_fixed_s": round(glue.fixed_s, 1),
        "glue_lines_per_core_s": round(glue.lines_per_core_s),
        "csv_bytes_per_line": round(glue.bytes_per_line),
        "parquet_bytes_per_line": parquet_bytes_per_line,
        "glue_runs": glue_runs,
        "glue_minimum_s": GLUE_MINIMUM_S,
        "monthly": {
            name: monthly(lines, glue, parquet_bytes_per_line, aws_settings.keep_runs)
            for name, lines in (("10k lines/day", 10_000), ("1M lines/day", 1_000_000))
        },
        "prices": PRICES,
    }


if __name__ == "__main__":
    print(json.dumps(bench_cost(), default=str, indent=1))
