"""`make bench`: the Glue script against DuckDB, then the local end-to-end latency.

Part ``glue``: synthetic Superstore-shaped data, the US Superstore export repeated with suffixed Order
IDs, so every field keeps its real shape (quoted fields, doubled quotes, M/D/YYYY dates). Both engines run
as a whole process (start-up included), read the CSVs, left-join the deduplicated returns and write
Parquet partitioned by order year and month.

Part ``e2e``: the local AWS in this process (localaws on a free port, settings from the
environment as for ``make run``), warmed with one run. Then, each time under new keys so that each pair is
a new batch: PUT the US Superstore returns, then the orders, and time from the return of that second PUT
until the execution has SUCCEEDED and Athena (``wr.athena.read_sql_query``) shows the new run's rows.

Part ``durable`` (bench/durable.py): restart time with 20 runs of history, RSS after 50 runs.

Part ``console`` (bench/console_upload.py): the Global export uploaded in chromium until SUCCEEDED.

Part ``cost`` (bench/cost.py): one run's transitions, Lambda and Glue use, priced for AWS (docs/COST.md).

    python -m bench [--only glue|e2e|upload|explorer|durable|cost|console] [--lines 1000000 5000000]
                    [--repeat 1] [--e2e-runs 5] [--console-runs 3] [--soak-runs 50]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.measure import glue_script, spread, timed
from bench.synthetic import DATA, SAMPLE, synthesize

REPO = Path(__file__).resolve().parents[1]

DUCKDB_JOIN = """
import duckdb, sys
orders, returns, out = sys.argv[1:4]
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
con.execute(f'''
COPY (
  WITH o AS (
    SELECT * REPLACE (strptime("Order Date", '%m/%d/%Y')::DATE AS "Order Date",
                      strptime("Ship Date", '%m/%d/%Y')::DATE AS "Ship Date")
    FROM read_csv('{orders}', header = true, quote = '"', escape = '"', all_varchar = true)
  ), r AS (
    SELECT DISTINCT ON ("Order ID") "Order ID", Returned
    FROM read_csv('{returns}', header = true, all_varchar = true)
  )
  SELECT o.* REPLACE (o."Sales"::DOUBLE AS "Sales", o."Quantity"::BIGINT AS "Quantity",
                      o."Discount"::DOUBLE AS "Discount", o."Profit"::DOUBLE AS "Profit"),
         r."Order ID" IS NOT NULL AS is_returned, r.Returned AS returned,
         year(o."Order Date") AS order_year, month(o."Order Date") AS order_month
  FROM o LEFT JOIN r USING ("Order ID")
) TO '{out}' (FORMAT parquet, PARTITION_BY (order_year, order_month), COMPRESSION snappy)
''')
"""


def bench_glue_vs_duckdb(lines: int, repeat: int) -> dict:
    orders, returns = synthesize(lines)
    out = DATA / "out"
    results: dict[str, list[float]] = {"duckdb": [], "glue_script": []}
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        results["duckdb"].append(
            timed([sys.executable, "-c", DUCKDB_JOIN, str(orders), str(returns), str(out / "duckdb")])
        )
        results["glue_script"].append(timed(glue_script(orders, returns, out / "spark", "bench")))
    duck, spark = statistics.median(results["duckdb"]), statistics.median(results["glue_script"])
    shutil.rmtree(out, ignore_errors=True)
    return {
        "lines": lines,
        "csv_mb": round(orders.stat().st_size / 1e6),
        "duckdb_s": round(duck, 2),
        "glue_script_s": round(spark, 2),
        "ratio": round(spark / duck, 2),
        "target_ratio": 3.0,
    }


E2E_TARGET_MEDIAN_S = 4.0  # issue #11 (was 8 s, issue #3)
RUN_SQL = "SELECT run_id, count(*) AS n, count_if(is_returned) AS r FROM joined_data GROUP BY run_id"


def bench_e2e(runs: int) -> dict:
    """Second PUT → execution SUCCEEDED and the new run queryable, ``runs`` times on a warm local AWS."""
    import awswrangler as wr

    from stack import aws
    from stack.settings import Settings
    from tests.support import batches
    from tests.support.stack import start_deployed_local_aws

    us = SAMPLE / "superstore-us"
    if not (us / "orders.csv").exists():
        sys.exit(f"sample data not found at {SAMPLE}: the benchmark uploads superstore-us")
    orders_bytes, returns_bytes = (us / "orders.csv").read_bytes(), (us / "returns.csv").read_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-local-aws-") as state_dir:
        local = start_deployed_local_aws(0, Path(state_dir), Settings.from_env(target="local"))
        try:
            settings = local.settings
            for service in ("s3", "athena", "glue", "sts"):
                setattr(wr.config, f"{service}_endpoint_url", local.url)
            session = aws.session(settings)
            s3, sfn = aws.client(settings, "s3", session), aws.client(settings, "stepfunctions", session)
            glue_client = aws.client(settings, "glue", session)
            machine = batches.state_machine_arn(sfn, settings.state_machine)

            def one_run(tag: str) -> dict:
                before = len(batches.executions(sfn, machine))
                batch = batches.put_batch(
                    s3,
                    (settings.orders_bucket, f"bench/{tag}/orders.csv", orders_bytes),
                    (settings.returns_bucket, f"bench/{tag}/returns.csv", returns_bytes),
                    first="returns",
                )
                arn = batches.find_execution(sfn, machine, batch)
                described = batches.wait_execution(sfn, arn, timeout=300, interval=0.05)
                succeeded = time.monotonic() - batch.second_put_done
                if described["status"] != "SUCCEEDED":
                    sys.exit(f"e2e run {described['name']} {described['status']}: {described.get('cause')}")
                glue = json.loads(described["output"])["glue"]
                run_id = glue["run_id"]
                deadline = time.monotonic() + 60
                while True:
                    rows = wr.athena.read_sql_query(
                        RUN_SQL, database=settings.database, workgroup=settings.athena_workgroup,
                        ctas_approach=False, unload_approach=False, boto3_session=session,
                    ).to_dict("records")  # fmt: skip
                    if [(r["run_id"], r["n"], r["r"]) for r in rows] == [(run_id, 9994, 800)]:
                        break
                    if time.monotonic() > deadline:
                        sys.exit(f"e2e run {run_id} SUCCEEDED but the table shows {rows}")
                    time.sleep(0.05)
                queryable = time.monotonic() - batch.second_put_done
                # Let the run that the first PUT started (new returns, older orders) end as well.
                batches.wait_all_ended(sfn, machine, timeout=300)
                local.wait_idle(300)
                job = glue_client.get_job_run(JobName=glue["job_name"], RunId=glue["job_run_id"])
                job_run = job["JobRun"]
                return {
                    "succeeded_s": round(succeeded, 2),
                    "queryable_s": round(queryable, 2),
                    "glue_run_s": round((job_run["CompletedOn"] - job_run["StartedOn"]).total_seconds(), 2),
                    "executions_started": len(batches.executions(sfn, machine)) - before,
                }

            one_run(f"warm-{uuid.uuid4().hex[:8]}")
            samples = [one_run(f"{i}-{uuid.uuid4().hex[:8]}") for i in range(runs)]
        finally:
            local.stop()
    latencies = [s["queryable_s"] for s in samples]
    return {
        "part": "e2e",
        "data": "superstore-us (9,994 order lines, 800 returned)",
        "measure": "second PUT returned -> execution SUCCEEDED and the new run_id queryable in Athena",
        "runs": runs,
        **spread(latencies),
        "target_median_s": E2E_TARGET_MEDIAN_S,
        "succeeded_median_s": round(statistics.median(s["succeeded_s"] for s in samples), 2),
        "glue_wait_seconds": settings.glue_wait_seconds,
        "pairing_window_seconds": settings.pairing_window_seconds,
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parts = ("glue", "e2e", "upload", "explorer", "durable", "cost", "console")
    parser.add_argument("--only", choices=parts, help="run one part (default: all)")
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--e2e-runs", type=int, default=5)
    parser.add_argument("--upload-lines", type=int, default=860_000, help="≈200 MB of orders for upload")
    parser.add_argument("--explorer-lines", type=int, default=10_000_000)
    parser.add_argument("--explorer-repeat", type=int, default=7)
    parser.add_argument("--console-runs", type=int, default=3, help="Global uploads through the console")
    parser.add_argument("--soak-runs", type=int, default=50, help="runs for the local AWS memory soak")
    args = parser.parse_args()
    if args.only in (None, "glue"):
        for lines in args.lines:
            result = bench_glue_vs_duckdb(lines, args.repeat)
            print(json.dumps(result), flush=True)
    if args.only in (None, "e2e"):
        print(json.dumps(bench_e2e(args.e2e_runs)), flush=True)
    if args.only in (None, "upload"):
        from bench.upload_memory import bench_upload_memory

        orders_csv, _ = synthesize(args.upload_lines)
        print(json.dumps(bench_upload_memory(orders_csv)), flush=True)
    if args.only in (None, "explorer"):
        from bench.explorer import bench_explorer

        print(json.dumps(bench_explorer(args.explorer_lines, args.explorer_repeat)), flush=True)
    if args.only in (None, "durable"):
        from bench.durable import bench_durable

        print(json.dumps(bench_durable(args.soak_runs)), flush=True)
    if args.only in (None, "cost"):
        from bench.cost import bench_cost

        print(json.dumps(bench_cost(), default=str), flush=True)
    if args.only in (None, "console"):
        from bench.console_upload import bench_console_upload

        print(json.dumps(bench_console_upload(args.console_runs)), flush=True)


if __name__ == "__main__":
    main()
