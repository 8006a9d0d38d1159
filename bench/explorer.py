"""Part ``explorer``: the Explorer's group-by on a 10M-line table, through awswrangler on the local AWS.

The synthetic Superstore-shaped files of part ``glue`` are published through the real pipeline (PUT returns,
then orders, wait for SUCCEEDED) on a local AWS in this process. Then the Explorer's "return rate by category"
view runs through ``services.explorer.run_view``, the function the page calls, with no filter: the first
time (cold: the local Athena copies the run's Parquet from S3 into its cache) and ``repeat`` times warm.

    python -m bench --only explorer [--explorer-lines 10000000] [--explorer-repeat 7]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

TARGET_S = 1.0  # issue #11, at 10M lines


def bench_explorer(lines: int = 1_000_000, repeat: int = 7) -> dict:
    from bench.measure import spread
    from bench.synthetic import synthesize
    from services import explorer
    from stack import aws
    from stack.settings import Settings
    from tests.support import batches
    from tests.support.stack import start_deployed_local_aws

    orders_csv, returns_csv = synthesize(lines)
    with tempfile.TemporaryDirectory(prefix="bench-explorer-") as state_dir:
        local = start_deployed_local_aws(0, Path(state_dir), Settings.from_env(target="local"))
        try:
            settings = local.settings
            session = aws.session(settings)
            s3, sfn = aws.client(settings, "s3", session), aws.client(settings, "stepfunctions", session)
            tag = uuid.uuid4().hex[:8]
            started = time.monotonic()
            # Multipart, as the console uploads: one 2.3 GB PUT holds the local S3 for a minute.
            returns = batches.upload_file(
                s3, settings.returns_bucket, f"bench-explorer/{tag}/returns.csv", returns_csv
            )
            orders = batches.upload_file(
                s3, settings.orders_bucket, f"bench-explorer/{tag}/orders.csv", orders_csv
            )
            batch = batches.Batch(orders, returns, "returns", time.monotonic())
            machine = batches.state_machine_arn(sfn, settings.state_machine)
            described = batches.wait_execution(sfn, batches.find_execution(sfn, machine, batch), timeout=900)
            if described["status"] != "SUCCEEDED":
                name, status = described["name"], described["status"]
                sys.exit(f"explorer bench: run {name} {status}: {described.get('cause')}")
            batches.wait_all_ended(sfn, machine, timeout=900)
            local.wait_idle(300)
            published_s = time.monotonic() - started
            run = explorer.published_run(settings, aws.client(settings, "glue", session))
            if run is None or run.rows != lines:
                sys.exit(f"explorer bench: the published table is {run}, expected {lines} rows")

            def once() -> tuple[float, float]:
                begin = time.perf_counter()
                frame = explorer.run_view("category", settings, session, explorer.Filters(), run.columns)
                elapsed = time.perf_counter() - begin
                counted = int(frame["lines"].sum())
                if counted != lines:
                    sys.exit(f"explorer bench: the view counts {counted} lines, not {lines}")
                engine = frame.query_metadata["Statistics"]["EngineExecutionTimeInMillis"] / 1000
                return elapsed, engine

            cold, cold_engine = once()
            samples = [once() for _ in range(repeat)]
            files = sum(1 for f in (Path(state_dir) / "athena" / "data").rglob("*.parquet"))
        finally:
            local.stop()
    totals = [s[0] for s in samples]
    engines = [s[1] for s in samples]
    return {
        "part": "explorer",
        "measure": "services.explorer.run_view('category') = wr.athena.read_sql_query on the local AWS, warm",
        "lines": lines,
        "published_in_s": round(published_s, 1),
        "parquet_files": files,
        "repeat": repeat,
        **spread(totals, digits=3),
        "target_s": TARGET_S,
        # The local Athena's own time (Parquet sync + DuckDB); the rest is HTTP, polling and the result read.
        "engine_median_s": round(statistics.median(engines), 3),
        "cold_s": round(cold, 3),
        "cold_engine_s": round(cold_engine, 3),
    }
