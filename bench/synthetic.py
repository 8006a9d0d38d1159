"""The benchmark's input files: US Superstore repeated to any number of lines (generated, git-ignored)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench" / "data"
SAMPLE = Path(os.environ.get("SAMPLE_DATA_DIR", REPO.parent / "shared" / "data"))


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
