"""`make bench`: time the Glue script against DuckDB doing the same join, in the same run.

Synthetic Superstore-shaped data: the US Superstore export repeated with suffixed Order IDs, so every
field keeps its real shape (quoted fields, doubled quotes, M/D/YYYY dates). Both engines run as a whole
process (start-up included), read the CSVs, left-join the deduplicated returns and write Parquet
partitioned by order year and month.

    python -m bench [--lines 1000000 5000000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench" / "data"
SAMPLE = Path(os.environ.get("SAMPLE_DATA_DIR", REPO.parent / "shared" / "data"))
SCRIPT = REPO / "pipeline" / "glue" / "ecommerce_join_data.py"

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


def synthesize(lines: int) -> tuple[Path, Path]:
    """Orders: US Superstore repeated with `-<copy>` Order ID suffixes; returns repeated the same way."""
    import duckdb

    orders_csv, returns_csv = DATA / f"orders_{lines}.csv", DATA / f"returns_{lines}.csv"
    if orders_csv.exists() and returns_csv.exists():
        return orders_csv, returns_csv
    DATA.mkdir(parents=True, exist_ok=True)
    us = SAMPLE / "superstore-us"
    if not (us / "orders.csv").exists():
        sys.exit(f"sample data not found at {SAMPLE}: the benchmark is built from superstore-us")
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(
        f"CREATE TABLE us AS SELECT * FROM read_csv('{us / 'orders.csv'}', all_varchar=true, "
        "quote='\"', escape='\"')"
    )
    base = con.execute("SELECT count(*) FROM us").fetchone()[0]
    copies = -(-lines // base)
    con.execute(f"""
        COPY (
          SELECT us.* REPLACE ((c.range * {base} + "Row ID"::BIGINT)::VARCHAR AS "Row ID",
                            "Order ID" || '-' || c.range AS "Order ID")
          FROM us, range({copies}) c
          ORDER BY c.range, "Row ID"::BIGINT LIMIT {lines}
        ) TO '{orders_csv}' (HEADER, DELIMITER ',', QUOTE '"', ESCAPE '"')
    """)
    con.execute(f"""
        COPY (
          SELECT Returned, "Order ID" || '-' || c.range AS "Order ID"
          FROM read_csv('{us / "returns.csv"}', all_varchar=true), range({copies}) c
        ) TO '{returns_csv}' (HEADER, DELIMITER ',')
    """)
    return orders_csv, returns_csv


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return elapsed


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
        results["glue_script"].append(
            timed([sys.executable, str(SCRIPT), "--orders_path", str(orders), "--returns_path", str(returns),
                   "--output_path", str(out / "spark"), "--run_id", "bench"])
        )  # fmt: skip
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for lines in args.lines:
        result = bench_glue_vs_duckdb(lines, args.repeat)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
