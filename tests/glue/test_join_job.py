"""The Glue job on real local Spark: the sample exports, bad inputs, quarantine and atomic publish."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import boto3
import ecommerce_join_data
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from csv_profile import ProfileError
from ecommerce_join_data import (
    JobArgs,
    JobError,
    Report,
    check_schema_change,
    prune_runs,
    require_java,
    run_job,
    utc_iso,
)
from moto import mock_aws

from services import demo_data
from tests import exports
from tests.conftest import REPO

pytestmark = pytest.mark.spark
SCRIPT = REPO / "pipeline" / "glue" / "ecommerce_join_data.py"


def run(spark, tmp_path, orders, returns, run_id="r1", **kwargs):
    args = JobArgs(str(orders), str(returns), str(tmp_path / "out"), run_id, **kwargs)
    return run_job(spark, args)


def read_output(report) -> pd.DataFrame:
    return pd.read_parquet(report.run_path)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_seed_exact_table(spark, tmp_path, sample_data):
    orders, returns = sample_data / "seed/ordercsv.csv", sample_data / "seed/returncsv.csv"
    report = run(spark, tmp_path, orders, returns)
    out = read_output(report).sort_values("order_id").reset_index(drop=True)

    expected = pd.read_csv(orders, dtype=str).rename(columns=lambda c: c.strip().lower().replace(" ", "_"))
    expected_returns = pd.read_csv(returns, dtype=str).rename(
        columns=lambda c: c.strip().lower().replace(" ", "_")
    )
    expected = expected.merge(expected_returns, on="order_id", how="left", indicator=True)
    expected["is_returned"] = expected.pop("_merge") == "both"
    expected = expected.sort_values("order_id").reset_index(drop=True)

    assert (report.rows_in, report.rows_out, report.returned_lines, report.quarantined_lines) == (
        20,
        20,
        10,
        0,
    )
    assert list(out.columns[:4]) == ["order_id", "customer_id", "product_id", "order_date"]
    assert {
        "is_returned",
        "return_reason",
        "return_date",
        "run_id",
        "processed_at",
        "order_year",
        "order_month",
    } <= set(out.columns)
    assert out["order_id"].tolist() == expected["order_id"].tolist()
    assert out["is_returned"].tolist() == expected["is_returned"].tolist()
    assert out["return_reason"].fillna("").tolist() == expected["return_reason"].fillna("").tolist()
    assert [str(d) for d in out["order_date"]] == expected["order_date"].tolist()
    assert [str(d) if pd.notna(d) else None for d in out["return_date"]] == [
        d if isinstance(d, str) else None for d in expected["return_date"]
    ]
    assert set(out["run_id"]) == {"r1"}
    assert report.orders["encoding"] == "utf-8" and report.orders["delimiter"] == ","
    assert Path(report.run_path, "_quality", "report.json").exists()


def test_us_superstore(spark, tmp_path, sample_data):
    orders, returns = sample_data / "superstore-us/orders.csv", sample_data / "superstore-us/returns.csv"
    report = run(spark, tmp_path, orders, returns)
    out = read_output(report)
    source = pd.read_csv(orders, dtype=str)

    assert (report.rows_in, report.rows_out, report.returned_lines) == (9994, 9994, 800)
    assert len(out) == 9994 and out["is_returned"].notna().all() and out["is_returned"].sum() == 800
    assert report.join_key == ["order_id"]
    assert report.orders["date_formats"]["order_date"] == "M/D/YYYY"
    # Doubled quotes inside product names stay inside one field (Spark's default escape splits 8.6% of lines).
    assert sorted(out["product_name"]) == sorted(source["Product Name"])
    assert out["sales"].sum() == pytest.approx(source["Sales"].astype(float).sum())
    schema = pq.read_schema(next(Path(report.run_path).rglob("*.parquet")))
    assert schema.field("postal_code").type == pa.string() and schema.field("row_id").type == pa.string()
    assert schema.field("order_date").type == pa.date32() and schema.field("ship_date").type == pa.date32()
    assert schema.field("sales").type == pa.float64() and schema.field("quantity").type == pa.int64()
    assert schema.field("processed_at").type == pa.timestamp("us", tz="UTC")
    assert report.unmatched_returns == 0


def test_global_superstore_joins_on_order_and_market(spark, tmp_path, sample_data):
    orders, returns = (
        sample_data / "superstore-global/orders.csv",
        sample_data / "superstore-global/returns.csv",
    )
    report = run(spark, tmp_path, orders, returns)
    out = read_output(report)

    assert report.join_key == ["order_id", "market"]
    assert report.orders["encoding"] == "cp1252"
    assert (report.rows_in, report.rows_out, report.returned_lines) == (51290, 51290, 3041)
    assert out["is_returned"].sum() == 3041
    text = "".join(out["product_name"])
    assert "\u201d" in text or "\u2019" in text or "\u201c" in text  # curly quotes decoded as cp1252
    assert "\ufffd" not in text


def parquet_schema(report) -> pa.Schema:
    return pq.read_schema(next(Path(report.run_path).rglob("*.parquet")))


def assert_contract_schema(schema: pa.Schema) -> None:
    assert {f.name: f.type for f in schema} == {f.name: exports.contract_type(f.name) for f in schema}


@pytest.mark.parametrize("kind", list(exports.KINDS))
def test_real_exports_join_exactly(spark, tmp_path, sample_data, kind):
    """US Superstore as Excel, shops and marketplaces write it: the same table as the clean export."""
    orders = tmp_path / f"{kind}.csv"
    orders.write_bytes(exports.KINDS[kind](sample_data))
    expected = exports.expected_us(sample_data)

    report = run(spark, tmp_path, orders, sample_data / "superstore-us/returns.csv")
    out = read_output(report)

    assert (report.rows_in, report.rows_out, report.quarantined_lines) == (expected.rows, expected.rows, 0)
    assert report.returned_lines == out["is_returned"].sum() == expected.returned_lines
    assert out["sales"].sum() == pytest.approx(expected.sales) == report.sales_out
    assert sorted(out["order_date"]) == expected.order_dates  # the date as written, whatever the offset
    schema = parquet_schema(report)
    assert_contract_schema(schema)
    assert schema.field("sales").type == pa.float64() and schema.field("quantity").type == pa.int64()
    assert schema.field("order_date").type == pa.date32() and schema.field("ship_date").type == pa.date32()


def test_demo_exports_join_whole(spark, tmp_path):
    """The project's own demo pair (services/demo_data, what `make demo-data` writes): every line typed
    and out, none quarantined or repaired, and exactly the lines of the returned orders marked returned."""
    export = demo_data.demo_export()
    orders, returns = tmp_path / "orders.csv", tmp_path / "returns.csv"
    orders.write_bytes(export.orders)
    returns.write_bytes(export.returns)
    source = pd.read_csv(orders, dtype=str, keep_default_na=False)
    returned_ids = set(pd.read_csv(returns, dtype=str)["Order ID"])
    returned_lines = int(source["Order ID"].isin(returned_ids).sum())

    report = run(spark, tmp_path, orders, returns)
    out = read_output(report)

    assert (report.rows_in, report.rows_out, report.quarantined_lines) == (len(source), len(source), 0)
    assert len(source) == export.lines
    assert report.returned_lines == out["is_returned"].sum() == returned_lines == export.returned_lines
    assert (report.returns_in, report.returns_rejected, report.unmatched_returns) == (len(returned_ids), 0, 0)
    assert set(out.loc[out["is_returned"], "order_id"]) == returned_ids
    assert report.warnings == [] and not any(report.repairs.values())
    assert report.orders["date_formats"] == {"order_date": "M/D/YYYY", "ship_date": "M/D/YYYY"}
    assert out["sales"].sum() == pytest.approx(source["Sales"].astype(float).sum()) == report.sales_out
    assert sorted(out["postal_code"]) == sorted(source["Postal Code"])  # leading zeros kept
    assert sorted(out["product_name"]) == sorted(source["Product Name"])  # doubled quotes inside one field
    assert_contract_schema(parquet_schema(report))


def table_of(report) -> pd.DataFrame:
    """The run's rows without what differs per run, in one order."""
    out = read_output(report).drop(columns=["run_id", "processed_at"])
    return out.sort_values(["row_id"]).reset_index(drop=True)


@pytest.mark.parametrize("head_bytes", [None, 4096], ids=["whole-head", "partial-head"])
def test_a_gzip_pair_gives_the_table_of_the_plain_pair(spark, tmp_path, sample_data, monkeypatch, head_bytes):
    """.csv.gz exports (read by Spark's codec, profiled decompressed) publish the same table as the .csv
    pair; with a head that is not the whole file, the job reads the stream to its end before Spark."""
    orders, returns = sample_data / "superstore-us/orders.csv", sample_data / "superstore-us/returns.csv"
    plain = run(spark, tmp_path / "plain", orders, returns)
    packed = {}
    for name, source in (("orders", orders), ("returns", returns)):
        packed[name] = tmp_path / f"{name}.csv.gz"
        packed[name].write_bytes(gzip.compress(source.read_bytes()))
    if head_bytes:
        monkeypatch.setattr(ecommerce_join_data, "HEAD_BYTES", head_bytes)

    report = run(spark, tmp_path / "gz", packed["orders"], packed["returns"])

    assert report.orders["compression"] == report.returns["compression"] == "gzip"
    assert plain.orders["compression"] is None
    assert report.orders["complete"] is (head_bytes is None)
    assert (report.rows_in, report.rows_out, report.returned_lines) == (9994, 9994, 800)
    pd.testing.assert_frame_equal(table_of(report), table_of(plain))


def test_a_gzip_utf16_export_reads_as_one_stream(spark, tmp_path, sample_data):
    """Excel's Unicode Text, gzip-compressed: Spark's multiLine reader decompresses it too."""
    orders = tmp_path / "unicode.csv.gz"
    orders.write_bytes(gzip.compress(exports.unicode_text(sample_data)))
    expected = exports.expected_us(sample_data)
    report = run(spark, tmp_path, orders, sample_data / "superstore-us/returns.csv")
    assert report.orders["encoding"].startswith("utf-16") and report.orders["compression"] == "gzip"
    assert (report.rows_out, report.returned_lines, report.quarantined_lines) == (
        expected.rows,
        expected.returned_lines,
        0,
    )
    assert report.sales_out == pytest.approx(expected.sales)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_gzip_fails_before_spark_with_a_clear_message(
    spark, tmp_path, sample_data, monkeypatch, damage
):
    packed = bytearray(gzip.compress((sample_data / "superstore-us/orders.csv").read_bytes()))
    if damage == "truncated":
        del packed[-1000:]
    else:
        packed[-1000] ^= 0xFF
    orders = tmp_path / "orders.csv.gz"
    orders.write_bytes(bytes(packed))
    monkeypatch.setattr(ecommerce_join_data, "HEAD_BYTES", 4096)  # the damage is beyond the profiled head
    with pytest.raises(ProfileError, match=f"^orders file is a {damage} gzip file"):
        run(spark, tmp_path, orders, sample_data / "superstore-us/returns.csv")
    assert not (tmp_path / "out").exists()
    assert orders.read_bytes() == packed  # the input stays as it was


def test_a_name_that_does_not_say_gzip_is_refused(spark, tmp_path):
    lines = "Order ID,Order Date\nO1,2016-01-02\n"
    returns = write(tmp_path / "returns.csv", "Order ID\nO1\n")
    hidden = tmp_path / "orders.csv"
    hidden.write_bytes(gzip.compress(lines.encode()))
    with pytest.raises(JobError, match="is gzip-compressed but its name does not end in .gz"):
        run(spark, tmp_path, hidden, returns)
    claimed = write(tmp_path / "orders.csv.gz", lines)
    with pytest.raises(JobError, match="is named .gz but is not gzip-compressed"):
        run(spark, tmp_path, claimed, returns)


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("a/orders.csv.gz", "orders.csv.gz"),
        ("a/Orders.CSV.GZ", "Orders.CSV.gz"),
        ("a/_x.csv", "x.csv"),
        ("a/", "input.csv"),
    ],
)
def test_the_pinned_copy_keeps_a_lower_case_gz_suffix(key, name):
    assert ecommerce_join_data.pinned_name(key) == name


WRITTEN = {
    ".": ["261.96", "-41.9136", "+12.5", "$1,261.96", "1,261,000", "(41.91)", "($1,261.96)", "-$41.91",
          "$-41.91", "USD 1,261.96", "1261.96 USD", "£5", "1,26.96", "1.261,96", "(41.91", "1$2", "n/a"],
    ",": ["1.261,96", "1.261,96 €", "€ -3,5", "EUR 1.000", "261,96", "(0,5)", "1,261.96", "1.26", "12,5%"],
}  # fmt: skip
DATES = ["11/8/2016", "11/8/2016 0:00", "11/8/2016 3:15 PM", "11/8/2016 03:15:07 am", "11/8/2016 noon",
         "2/30/2016 0:00", "11/8/2016 10:02 EST"]  # fmt: skip


@pytest.mark.parametrize("decimal", [".", ","])
def test_spark_reads_each_written_number_as_the_profiler_does(spark, decimal):
    """NumberFormat.regex runs in Java in the job and in Python in the profiler: the same values come out."""
    import csv_profile

    fmt = csv_profile.NumberFormat(decimal, formatted=True)
    profile = csv_profile.CsvProfile(
        "orders",
        "utf-8",
        ";",
        decimal,
        "\n",
        (csv_profile.ColumnProfile("sales", "Sales", "double", number_format=fmt),),
        1,
        True,
    )
    raw = spark.createDataFrame([(v, None) for v in WRITTEN[decimal]], "sales string, _corrupt_record string")
    typed = ecommerce_join_data.type_columns(raw, profile).toPandas()
    assert [None if pd.isna(v) else v for v in typed["sales"]] == [fmt.parse(v) for v in WRITTEN[decimal]]
    repairs = {
        c.removeprefix("_repair sales: "): typed[c].fillna(False).tolist() for c in typed if "repair" in c
    }
    assert [[what for what, flags in repairs.items() if flags[i]] for i in range(len(typed))] == [
        fmt.repairs(v) if fmt.parse(v) is not None else [] for v in WRITTEN[decimal]
    ]


def test_spark_reads_each_date_with_a_time_as_the_profiler_does(spark):
    import csv_profile

    us = next(f for f in csv_profile.DATE_FORMATS if f.label == "M/D/YYYY")
    for has_time in (False, True):
        column = csv_profile.ColumnProfile("order_date", "Order Date", "date", us, has_time=has_time)
        profile = csv_profile.CsvProfile("orders", "utf-8", ",", ".", "\n", (column,), 1, True)
        raw = spark.createDataFrame([(v, None) for v in DATES], "order_date string, _corrupt_record string")
        typed = ecommerce_join_data.type_columns(raw, profile).toPandas()
        expected = [us.parse(split[0]) if (split := csv_profile.split_time(v)) else None for v in DATES]
        assert [None if pd.isna(v) else v for v in typed["order_date"]] == expected
        assert typed["_repair order_date: time dropped"].fillna(False).tolist() == [
            d is not None and v != "11/8/2016" for v, d in zip(DATES, expected, strict=True)
        ]


def test_repairs_are_counted_per_kind(spark, tmp_path, sample_data):
    header, rows = exports.us_rows(sample_data)
    sales, profit = float(rows[0][header.index("Sales")]), rows[0][header.index("Profit")]
    thousands = sum(float(r[header.index("Sales")]) >= 1000 for r in rows)
    negative_profits = sum(r[header.index("Profit")].startswith("-") for r in rows)
    orders = tmp_path / "orders.csv"
    orders.write_bytes(exports.currency(sample_data))
    report = run(spark, tmp_path, orders, sample_data / "superstore-us/returns.csv")
    assert report.repairs["orders"] == {
        "sales: currency stripped": 9994,
        "sales: thousands separators removed": thousands,
        "profit: currency stripped": 9994,
        "profit: thousands separators removed": sum(
            abs(float(r[header.index("Profit")])) >= 1000 for r in rows
        ),
        "profit: accounting negative": negative_profits,
    }
    out = read_output(report)
    first = out[out["row_id"] == "1"].iloc[0]
    assert (first["sales"], first["profit"]) == (sales, pytest.approx(float(profit)))

    orders.write_bytes(exports.excel_times(sample_data))
    report = run(spark, tmp_path, orders, sample_data / "superstore-us/returns.csv", run_id="r2")
    assert report.repairs["orders"] == {"order_date: time dropped": 9994, "ship_date: time dropped": 9994}
    assert report.orders["dates_with_time"] == ["order_date", "ship_date"]


def test_a_time_after_a_plain_head_is_repaired_and_counted(spark, tmp_path, monkeypatch):
    """The head decides nothing about types: values the head did not show are cleaned too, and counted."""
    lines = ["Order ID,Order Date,Sales"] + [f"O{i},1/{i % 28 + 1}/2024,{i}.5" for i in range(200)]
    lines += ["X1,1/5/2024 3:15 PM,$1,000.00".replace("$1,000.00", '"$1,000.00"')]
    orders = write(tmp_path / "orders.csv", "\n".join(lines) + "\n")
    monkeypatch.setattr(ecommerce_join_data, "HEAD_BYTES", 400)
    report = run(spark, tmp_path, orders, write(tmp_path / "returns.csv", "Order ID\nO1\n"))
    assert report.quarantined_lines == 0 and report.rows_out == 201
    assert report.repairs["orders"] == {
        "order_date: time dropped": 1,
        "sales: currency stripped": 1,
        "sales: thousands separators removed": 1,
    }
    assert report.sales_out == pytest.approx(sum(i + 0.5 for i in range(200)) + 1000)


def test_a_fractional_quantity_is_quarantined_not_truncated(spark, tmp_path, monkeypatch):
    lines = ["Order ID,Order Date,Quantity"] + [f"O{i},2024-01-05,{i % 5 + 1}" for i in range(300)]
    lines.append("X1,2024-01-05,2.5")
    orders = write(tmp_path / "orders.csv", "\n".join(lines) + "\n")
    monkeypatch.setattr(ecommerce_join_data, "HEAD_BYTES", 400)
    report = run(spark, tmp_path, orders, write(tmp_path / "returns.csv", "Order ID\nO1\n"))
    assert (report.rows_out, report.quarantined_lines) == (300, 1)
    assert report.quarantine_reasons == {"quantity: not a whole number": 1}
    assert report.quarantine_examples == {"quantity: not a whole number": "2.5"}


def test_unknown_columns_stay_text(spark, tmp_path):
    orders = write(
        tmp_path / "orders.csv",
        "Order ID,Order Date,Rate,Created,Code\nO1,2024-01-05,1.5,2024-01-05,007\nO2,2024-01-06,2,,12\n",
    )
    report = run(
        spark, tmp_path, orders, write(tmp_path / "returns.csv", "Order ID,Return Date\nO1,2024-02-01\n")
    )
    schema = parquet_schema(report)
    assert_contract_schema(schema)
    assert [schema.field(n).type for n in ("rate", "created", "code", "return_date")] == [
        pa.string(),
        pa.string(),
        pa.string(),
        pa.date32(),
    ]
    assert sorted(read_output(report)["code"]) == ["007", "12"]


def test_a_repeated_header_is_dropped_in_every_read_mode(spark, tmp_path):
    """Two exports concatenated: the second header is no data, also quoted differently or in UTF-16 (which
    Spark reads as one stream rather than line by line)."""
    first = "Order ID,Order Date,Sales\nO1,2024-01-05,3\nO2,2024-01-05,4\n"
    variants = {
        "same header": (first + "Order ID,Order Date,Sales\nO3,2024-01-06,5\n").encode(),
        "quoted header": (first + '"Order ID","Order Date","Sales"\nO3,2024-01-06,5\n').encode(),
        "utf-16": b"\xff\xfe" + (first + "Order ID,Order Date,Sales\nO3,2024-01-06,5\n").encode("utf-16-le"),
    }
    returns = write(tmp_path / "returns.csv", "Order ID\nO1\n")
    for name, data in variants.items():
        orders = tmp_path / f"{name}.csv"
        orders.write_bytes(data)
        report = run(spark, tmp_path, orders, returns, run_id=name.replace(" ", "-"))
        assert (report.rows_in, report.rows_out, report.sales_out) == (3, 3, 12.0), name


def test_quarantine_below_threshold_warns(spark, tmp_path):
    lines = ["Order ID,Order Date,Sales"] + [f"O{i},2024-01-{i % 28 + 1:02d},{i}.5" for i in range(300)]
    lines[5] = "O4,2024-13-45,4.5"  # not a date
    lines[6] = "O5,2024-01-06"  # wrong field count
    orders = write(tmp_path / "orders.csv", "\n".join(lines) + "\n")
    returns = write(tmp_path / "returns.csv", "Order ID,Returned\nO1,Yes\nO2,Yes\nO2,Yes\nZZ,Yes\n")
    report = run(spark, tmp_path, orders, returns, max_quarantine_fraction=0.01)

    assert (report.rows_in, report.rows_out, report.quarantined_lines) == (300, 298, 2)
    assert report.returned_lines == 2 and report.unmatched_returns == 1
    assert any("quarantined" in w for w in report.warnings)
    reasons = " ".join(report.quarantine_reasons)
    assert "order_date" in reasons and "wrong number of fields" in reasons
    quarantine = pd.concat(
        pd.read_csv(p) for p in Path(report.run_path, "_quality", "quarantine").glob("*.csv")
    )
    assert sorted(quarantine["line"].str.split(",").str[0]) == ["O4", "O5"]


def test_quarantine_above_threshold_fails_with_reasons(spark, tmp_path, monkeypatch):
    lines = (
        ["Order ID,Order Date"] + [f"O{i},2024-01-0{i % 9 + 1}" for i in range(50)] + ["X1,not-a-date"] * 3
    )
    orders = write(tmp_path / "orders.csv", "\n".join(lines) + "\n")
    returns = write(tmp_path / "returns.csv", "Order ID\nO1\n")
    # The profile sees only the head of a big file; bad lines further down are caught by the Spark pass.
    monkeypatch.setattr(ecommerce_join_data, "HEAD_BYTES", 400)
    with pytest.raises(JobError, match=r"3 of 53 order lines .* above the 1.0% limit.*order_date"):
        run(spark, tmp_path, orders, returns)
    report = (tmp_path / "out" / "run_id=r1" / "_quality" / "report.json").read_text()
    assert '"status": "FAILED"' in report


def test_too_many_bad_values_in_the_profiled_head_fail_early(spark, tmp_path):
    lines = (
        ["Order ID,Order Date"] + [f"O{i},2024-01-0{i % 9 + 1}" for i in range(50)] + ["X1,not-a-date"] * 3
    )
    orders = write(tmp_path / "orders.csv", "\n".join(lines) + "\n")
    returns = write(tmp_path / "returns.csv", "Order ID\nO1\n")
    with pytest.raises(
        ProfileError, match=r"order_date: 3 of 53 values .* are not YYYY-MM-DD dates .*'not-a-date'"
    ):
        run(spark, tmp_path, orders, returns)


@pytest.mark.parametrize(
    ("orders_text", "returns_text", "message"),
    [
        (
            "Order ID,Order Date\nO1,2024-01-01\n",
            "Returned,Order Number\nYes,O1\n",
            "returns file has no order id column",
        ),
        ("", "Order ID\nO1\n", "orders file is empty"),
        ("Order ID,Order Date\n", "Order ID\nO1\n", "orders file has a header but no data rows"),
        (
            "Order ID,Order Date\nO1,1/2/2024\nO2,3/4/2024\n",
            "Order ID\nO1\n",
            "values fit both M/D/YYYY and D/M/YYYY",
        ),
    ],
    ids=["missing-column", "empty", "header-only", "ambiguous-dates"],
)
def test_bad_inputs_fail_with_actionable_message(spark, tmp_path, orders_text, returns_text, message):
    orders = write(tmp_path / "orders.csv", orders_text)
    returns = write(tmp_path / "returns.csv", returns_text)
    with pytest.raises(ProfileError, match=message):
        run(spark, tmp_path, orders, returns)
    assert not (tmp_path / "out").exists()


def test_binary_file_is_refused(spark, tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    returns = write(tmp_path / "returns.csv", "Order ID\nO1\n")
    with pytest.raises(ProfileError, match="orders file is not CSV text"):
        run(spark, tmp_path, orders, returns)


def test_standalone_command(tmp_path, sample_data):
    out = tmp_path / "out"
    seed = sample_data / "seed"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--orders_path", str(seed / "ordercsv.csv"), "--returns_path",
         str(seed / "returncsv.csv"), "--output_path", str(out), "--run_id", "cli"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"rows_out": 20' in done.stdout
    table = pd.read_parquet(out / "run_id=cli")
    assert len(table) == 20 and table["is_returned"].sum() == 10

    bad = write(tmp_path / "bad_returns.csv", "Returned,Order Number\nYes,O101\n")
    failed = subprocess.run(
        [sys.executable, str(SCRIPT), "--orders_path", str(seed / "ordercsv.csv"), "--returns_path", str(bad),
         "--output_path", str(tmp_path / "out2")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert failed.returncode == 1
    assert "returns file has no order id column (found: returned, order_number)" in failed.stderr


@pytest.mark.parametrize("kind", list(exports.KINDS))
def test_standalone_command_joins_each_export_kind(tmp_path, sample_data, kind):
    orders, out = tmp_path / f"{kind}.csv", tmp_path / "out"
    orders.write_bytes(exports.KINDS[kind](sample_data))
    returns = sample_data / "superstore-us/returns.csv"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--orders_path", str(orders), "--returns_path", str(returns),
         "--output_path", str(out), "--run_id", "cli"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    expected = exports.expected_us(sample_data)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["rows_out"], summary["returned_lines"], summary["quarantined_lines"]) == (
        expected.rows,
        expected.returned_lines,
        0,
    )
    table = pd.read_parquet(out / "run_id=cli")
    assert table["sales"].sum() == pytest.approx(expected.sales)
    assert sorted(table["order_date"]) == expected.order_dates


@pytest.fixture
def catalog(fake_aws_env):
    with mock_aws():
        glue = boto3.client("glue")
        glue.create_database(DatabaseInput={"Name": "ecommerce_analytics"})
        yield glue


def test_publish_is_atomic_and_ignores_older_batches(spark, tmp_path, sample_data, catalog):
    seed = sample_data / "seed"
    orders, returns = seed / "ordercsv.csv", seed / "returncsv.csv"
    names = {"database": "ecommerce_analytics", "table": "joined_data"}

    def table():
        return catalog.get_table(DatabaseName="ecommerce_analytics", Name="joined_data")["Table"]

    first = run(
        spark, tmp_path, orders, returns, "20240102T000000Z-a", batch_time="2024-01-02T00:00:00Z", **names
    )
    assert first.published
    published = table()
    assert published["StorageDescriptor"]["Location"] == first.run_path
    assert published["Parameters"]["run_id"] == "20240102T000000Z-a"
    assert published["Parameters"]["storage.location.template"].startswith(first.run_path)
    assert [k["Name"] for k in published["PartitionKeys"]] == ["order_year", "order_month"]
    columns = {c["Name"]: c["Type"] for c in published["StorageDescriptor"]["Columns"]}
    assert columns["order_date"] == "date" and columns["is_returned"] == "boolean"
    assert columns["processed_at"] == "timestamp" and "order_year" not in columns

    older = run(
        spark, tmp_path, orders, returns, "20240101T000000Z-b", batch_time="2024-01-01T00:00:00Z", **names
    )
    assert not older.published and "older than the published run" in older.warnings[0]
    assert table()["Parameters"]["run_id"] == "20240102T000000Z-a"

    bad_returns = write(tmp_path / "bad.csv", "Returned,Order Number\nYes,O101\n")
    with pytest.raises(ProfileError):
        run(
            spark,
            tmp_path,
            orders,
            bad_returns,
            "20240103T000000Z-c",
            batch_time="2024-01-03T00:00:00Z",
            **names,
        )
    assert table()["Parameters"]["run_id"] == "20240102T000000Z-a"

    newer = run(
        spark, tmp_path, orders, returns, "20240104T000000Z-d", batch_time="2024-01-04T00:00:00Z", **names
    )
    assert newer.published and table()["StorageDescriptor"]["Location"] == newer.run_path


def test_a_publish_names_its_inputs_keeps_its_table_definition_and_is_audited(
    spark, tmp_path, sample_data, catalog
):
    seed = sample_data / "seed"
    orders, returns = seed / "ordercsv.csv", seed / "returncsv.csv"
    audit = tmp_path / "audit"
    names = {"database": "ecommerce_analytics", "table": "joined_data", "audit_path": str(audit)}

    first = run(
        spark, tmp_path, orders, returns, "20240102T000000Z-a", batch_time="2024-01-02T00:00:00Z", **names
    )
    second = run(
        spark, tmp_path, orders, returns, "20240103T000000Z-b", batch_time="2024-01-03T00:00:00Z", **names
    )

    parameters = catalog.get_table(DatabaseName="ecommerce_analytics", Name="joined_data")["Table"][
        "Parameters"
    ]
    assert parameters["orders_source"] == str(orders) and parameters["returns_source"] == str(returns)
    assert parameters["orders_size"] == str(orders.stat().st_size)
    assert parameters["returns_uploaded_at"].startswith("20")
    report = json.loads(Path(second.run_path, "_quality", "report.json").read_text())
    assert report["inputs"]["orders"]["source"] == str(orders)
    assert report["inputs"]["returns"]["size"] == returns.stat().st_size
    # Each run that reached publishing keeps the definition a rollback puts back.
    kept = json.loads(Path(first.run_path, "_quality", "table.json").read_text())
    assert kept["StorageDescriptor"]["Location"] == first.run_path
    assert kept["Parameters"]["run_id"] == "20240102T000000Z-a"
    entries = [json.loads(p.read_text()) for p in sorted(audit.iterdir())]
    assert [(e["action"], e["run_id"], e["previous_run_id"]) for e in entries] == [
        ("publish", "20240102T000000Z-a", None),
        ("publish", "20240103T000000Z-b", "20240102T000000Z-a"),
    ]
    assert entries[1]["who"] == "local run of the Glue script"
    assert entries[1]["batch_time"] == "2024-01-03T00:00:00.000Z"


def test_sales_that_do_not_parse_fail_the_run_and_keep_the_table(
    spark, tmp_path, sample_data, catalog, monkeypatch
):
    returns = sample_data / "superstore-us/returns.csv"
    names = {"database": "ecommerce_analytics", "table": "joined_data"}

    def table():
        return catalog.get_table(DatabaseName="ecommerce_analytics", Name="joined_data")["Table"]

    good = tmp_path / "currency.csv"
    good.write_bytes(exports.currency(sample_data))
    first = run(
        spark, tmp_path, good, returns, "20240102T000000Z-a", batch_time="2024-01-02T00:00:00Z", **names
    )
    assert first.published
    published = table()
    columns = {c["Name"]: c["Type"] for c in published["StorageDescriptor"]["Columns"]}
    assert columns["sales"] == "double" and columns["quantity"] == "bigint"
    assert published["Parameters"]["contract_version"] == "1"

    header, rows = exports.us_rows(sample_data)
    sales = header.index("Sales")
    for row in rows[10::20]:  # 5% of the lines, none in the first 2000 bytes
        row[sales] = "see invoice"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(exports.write_csv(header, rows).encode())
    # In the profiled head: refused before Spark with the column and a value.
    with pytest.raises(ProfileError, match=r"sales: .* are not numbers \(e.g. 'see invoice'\)"):
        run(spark, tmp_path, bad, returns, "20240103T000000Z-b", batch_time="2024-01-03T00:00:00Z", **names)
    assert table()["VersionId"] == published["VersionId"]

    # Beyond the profiled head: the Spark pass quarantines them and the run fails above the limit.
    monkeypatch.setattr(ecommerce_join_data, "HEAD_BYTES", 2000)
    with pytest.raises(
        JobError, match=r"above the 1.0% limit: sales: not a number ×500 \(e.g. 'see invoice'\)"
    ):
        run(spark, tmp_path, bad, returns, "20240104T000000Z-c", batch_time="2024-01-04T00:00:00Z", **names)
    assert table()["VersionId"] == published["VersionId"]
    assert table()["Parameters"]["run_id"] == "20240102T000000Z-a"
    assert {c["Name"]: c["Type"] for c in table()["StorageDescriptor"]["Columns"]} == columns


def _table(version: str | None, **types: str) -> dict:
    parameters = {} if version is None else {"contract_version": version}
    columns = [{"Name": n, "Type": t} for n, t in types.items()]
    return {"Parameters": parameters, "StorageDescriptor": {"Columns": columns}}


def test_a_column_type_changes_only_by_a_contract_migration():
    report = Report("r", "out/run_id=r/", "o", "r")
    run_definition = _table("1", sales="double", notes="string")
    check_schema_change(
        _table("1", sales="double", city="string"), run_definition, report
    )  # columns come and go
    with pytest.raises(
        JobError, match=r"would change the type of published columns \(sales string → double\)"
    ):
        check_schema_change(_table("1", sales="string"), run_definition, report)
    with pytest.raises(JobError, match="follows data contract version 2, this job writes version 1"):
        check_schema_change(_table("2", sales="double"), run_definition, report)
    assert not report.warnings
    # A table from before the contract (a run that published sales as text) is migrated by the next run.
    check_schema_change(_table(None, sales="string"), run_definition, report)
    assert report.warnings == ["table migrated from data contract version 0 to 1: sales string → double"]


def test_prune_keeps_newest_runs_and_current(tmp_path):
    for run_id in ["20240101-a", "20240102-b", "20240103-c", "20240104-d"]:
        (tmp_path / f"run_id={run_id}").mkdir()
    deleted = prune_runs(str(tmp_path), keep=2, current="20240101-a")
    assert deleted == ["run_id=20240102-b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run_id=20240101-a",
        "run_id=20240103-c",
        "run_id=20240104-d",
    ]


def test_batch_times_compare_in_one_form():
    assert (
        utc_iso("2024-01-02T01:00:00+01:00") == utc_iso("2024-01-02T00:00:00Z") == "2024-01-02T00:00:00.000Z"
    )
    assert utc_iso("2024-01-02T00:00:00") == "2024-01-02T00:00:00.000Z"  # naive means UTC
    # A burst: two batches within one second are ordered by their milliseconds.
    assert utc_iso("2024-01-02T00:00:00.400Z") > utc_iso("2024-01-02T00:00:00.120Z")


def test_missing_java_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit, match="Java 17 is required.*apt-get install openjdk-17-jre-headless"):
        require_java()
