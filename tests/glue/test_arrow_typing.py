"""``arrow_typing.type_table`` against the job's ``type_columns``: the same raw rows typed by Spark and by
pyarrow give the same columns, types and values, reject reasons, raw lines and repair flags, row for row."""

from __future__ import annotations

import csv_profile
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from arrow_typing import SparkOnly, supports, type_table
from csv_profile import ColumnProfile, CsvProfile, NumberFormat
from ecommerce_join_data import CORRUPT, profile_file, read_raw, type_columns
from pyspark.sql import functions as F

from tests import exports

pytestmark = pytest.mark.spark


def column(name: str, fmt: csv_profile.DateFormat | None = None, has_time: bool = False, number=None):
    kind = csv_profile.contract_kind(name)
    return ColumnProfile(
        name,
        name.replace("_", " ").title(),
        kind,
        date_format=fmt,
        has_time=has_time,
        number_format=number if kind in ("integer", "double") else None,
    )


def profile(*columns: ColumnProfile, delimiter: str = ",", decimal: str = ".") -> CsvProfile:
    return CsvProfile("orders", "utf-8", delimiter, decimal, "\n", tuple(columns), 1, True)


def comparable(array: pa.ChunkedArray) -> list:
    """Compared exactly: dates as epoch days (year 0 is no Python date), doubles by repr (-0.0, nan)."""
    if pa.types.is_date32(array.type):
        return array.cast(pa.int32()).to_pylist()
    if pa.types.is_floating(array.type):
        return [None if v is None else repr(v) for v in array.to_pylist()]
    return array.to_pylist()


def assert_same(typed_by_spark, typed_by_arrow: pa.Table, inputs: list) -> None:
    expected = pa.Table.from_batches(typed_by_spark._collect_as_arrow())
    assert [(f.name, f.type) for f in typed_by_arrow.schema] == [(f.name, f.type) for f in expected.schema]
    assert typed_by_arrow.num_rows == expected.num_rows
    for name in expected.column_names:
        want, got = comparable(expected.column(name)), comparable(typed_by_arrow.column(name))
        differ = [(inputs[i], w, g) for i, (w, g) in enumerate(zip(want, got, strict=True)) if w != g]
        assert not differ, f"{name}: (row, Spark, pyarrow) {differ[:10]}"


def check(spark, prof: CsvProfile, rows: list[tuple], required: tuple[str, ...] = ()) -> pa.Table:
    """Type the rows (one string per column, plus the corrupt record when given) both ways and compare."""
    rows = [(*row, None) if len(row) == len(prof.names) else tuple(row) for row in rows]
    names = [*prof.names, CORRUPT]
    frame = spark.createDataFrame(rows, ", ".join(f"`{n}` string" for n in names)).coalesce(1)
    raw = pa.table({n: pa.array([r[i] for r in rows], pa.string()) for i, n in enumerate(names)})
    typed = type_table(raw, prof, required)
    assert_same(type_columns(frame, prof, required), typed, rows)
    return typed


# ------------------------------------------------------------------------------------------- dates

# (year, month, day) as text, written in each format's order and separator.
DATE_PARTS = [
    ("2016", "11", "8"), ("2016", "1", "2"), ("2016", "02", "29"), ("2015", "2", "29"), ("2016", "2", "30"),
    ("2016", "4", "31"), ("2016", "13", "1"), ("2016", "0", "1"), ("2016", "1", "0"), ("2016", "12", "31"),
    ("0000", "1", "1"), ("0001", "1", "1"), ("9999", "12", "31"), ("1900", "2", "29"), ("2000", "2", "29"),
    ("216", "11", "8"), ("02016", "11", "8"), ("2016", "011", "008"), ("2016", "0" * 17 + "11", "8"),
    ("2016", "0" * 18 + "11", "8"), ("2016", "0" * 19 + "1", "8"), ("2016", "111", "8"), ("2016", "x", "8"),
    ("2016", "+1", "8"), ("2016", "-1", "8"), ("2016", "", "8"), ("2016", "1", "99999999999999999999"),
]  # fmt: skip
TIMES = ["", " 0:00", " 3:15 PM", " 03:15:07 am", "T10:02:03Z", "T22:30:00-05:00", " 10:02:03.123456+0100",
         "\t11:59 p.m.", " noon", " 25", "T", " 0:00\n", "\n", " 0:00\r\n", "\r\n\n", " 10:02 EST",
         " 0:00 ", "  1:30"]  # fmt: skip
OTHER_DATES = ["2016-11-08", "11/8/2016", "8.11.2016", "8-11-2016", "20161108", "11/8", "", " ", "Nov 8 2016",
               "2016-11-08T23:30:00-05:00", "11/8/2016 0:00", "١١/8/2016", "11/8/2016/1", "//"]  # fmt: skip


def written(fmt: csv_profile.DateFormat, year: str, month: str, day: str) -> str:
    separator = next(c for c in fmt.spark_pattern if not c.isalpha())
    by_letter = {"y": year, "m": month, "d": day}
    return separator.join(by_letter[letter] for letter in fmt.order)


@pytest.mark.parametrize("has_time", [False, True])
@pytest.mark.parametrize("fmt", csv_profile.DATE_FORMATS, ids=lambda f: f.label)
def test_dates_in_each_format_with_and_without_a_time(spark, fmt, has_time):
    values = [written(fmt, *parts) + time for parts in DATE_PARTS for time in TIMES] + OTHER_DATES
    prof = profile(column("order_id"), column("order_date", fmt, has_time), column("ship_date", fmt))
    typed = check(spark, prof, [(str(i), v, v) for i, v in enumerate(values)], ("order_id", "order_date"))
    assert pc.sum(pc.is_valid(typed["order_date"])).as_py() > len(DATE_PARTS)  # not all refused
    assert pc.any(pc.is_valid(typed["_repair order_date: time dropped"])).as_py()


def test_a_date_column_without_a_format_takes_the_first(spark):
    prof = profile(column("order_id"), column("ship_date"))
    check(spark, prof, [("a", "2016-11-08"), ("b", "11/8/2016"), ("c", None), ("d", "2016-1-2 3:04")])


# ------------------------------------------------------------------------------------------- numbers

JAVA_NUMBERS = [
    "1", "+1", "-1", ".5", "5.", ".", "+.5", "-5.", " 5 ", "\t5\n", "\x015\x1f", "1e5", "1E+5", "1e-5", "1e",
    "e5", "1d", "1.5F", "1.5fd", "1.5e5d", "1 d", "NaN", "+NaN", "-NaN", "nan", "+nan", "NAN", " nan ",
    "Infinity", "+Infinity", "-Infinity", "infinity", "inf", "+inf", "-inf", "INF", "Inf", "-INFINITY",
    "Infinityd", "NaNd", "infinit", "0x10", "1_000", "1e400", "-1e400", "1e-400", "4.9e-324",
    "2.2250738585072011e-308", "00012", "-0", "-0.0", "0.1", "0.30000000000000004",
    "123456789012345678901234",
    "1e99999999999", "\u00a05", "5\u00a0", "١", "--5", "+-5", "5-", "1,5", "1.5.5", "0.0000000000000000001",
    "9007199254740993", "",
]  # fmt: skip
WHOLE = ["2", "2.0", "2.5", "1e3", "1.5e1", "-3", "-0.0", "NaN", "Infinity", "-inf", "1e400",
         "9007199254740993", "9223372036854775807", "9223372036854775808", "9.3e18", "-9223372036854775808",
         "-9223372036854775809", "-9.3e18", "4503599627370495.5", "0.999999999999999999"]  # fmt: skip


def number_rows(values: list[str]) -> list[tuple]:
    return [(str(i), v, v) for i, v in enumerate(values)]


@pytest.mark.parametrize("decimal", [".", ","])
def test_numbers_as_sparks_cast_and_the_integer_rule(spark, decimal):
    fmt = NumberFormat(decimal)
    prof = profile(
        column("order_id"), column("sales", number=fmt), column("quantity", number=fmt), decimal=decimal
    )
    values = JAVA_NUMBERS + WHOLE + [v.replace(".", ",") for v in JAVA_NUMBERS + WHOLE if "." in v]
    typed = check(spark, prof, number_rows(values))
    assert pc.sum(pc.is_valid(typed["quantity"])).as_py() > 10


@pytest.mark.parametrize("decimal", [".", ","])
def test_each_number_alone_as_sparks_cast(spark, decimal):
    """One value per table: a column Arrow's cast takes whole goes another way than one with a bad value."""
    fmt = NumberFormat(decimal)
    prof = profile(
        column("order_id"), column("sales", number=fmt), column("quantity", number=fmt), decimal=decimal
    )
    rows = [(*row, None) for row in number_rows(JAVA_NUMBERS + WHOLE + MONEY[decimal])]
    names = [*prof.names, CORRUPT]
    frame = spark.createDataFrame(rows, ", ".join(f"`{n}` string" for n in names)).coalesce(1)
    alone = [
        type_table(pa.table({n: pa.array([v], pa.string()) for n, v in zip(names, row, strict=True)}), prof)
        for row in rows
    ]
    assert_same(type_columns(frame, prof), pa.concat_tables(alone), rows)


# Currency, grouping, accounting negatives (NumberFormat.regex), and near misses.
MONEY = {
    ".": ["261.96", "-41.9136", "+12.5", "$1,261.96", "1,261,000", "(41.91)", "($1,261.96)", "-$41.91",
          "$-41.91", "USD 1,261.96", "1261.96 USD", "£5", "¥ 5", "€5", "EUR5", "GBP 1,000.5", "1,26.96",
          "1.261,96", "(41.91", "1$2", "n/a", "$ - 5", "- $5", "$5\n", "$5\r\n", "$5\n\n", "$5\u2028",
          "\u00a0$5\u00a0", "$\u202f5", "$1,261.96e2", "(1e3)", "$.5", "$5.", "( $5 )", "$$5", "USD",
          "$", "()", "(-5)", "$1,2345", "1,234,567.891", ",5", "$,5", "5 $", "$5 USD", "+$5", "$+5",
          "$-5 USD", "($-5)", "\u00a0(5)", " ($5)",
          "\t$5", "$5 ", "usd 5", "$2.0", "$2.5", "(2)", "2,000", "2,000.0"],
    ",": ["1.261,96", "1.261,96 €", "€ -3,5", "EUR 1.000", "261,96", "(0,5)", "1,261.96", "1.26", "12,5%",
          "€1.000.000,5", "1.000", "1.000,", ",5", "(€ 1,5)", "1 261,96", "1.261,96\n", "2,0 €", "2,5 €",
          "2.000 €", "(2)", "\u00a0(2,5)", "€", "1,5e3 €", "1.5", "+1,5"],
}  # fmt: skip


@pytest.mark.parametrize("decimal", [".", ","])
def test_currency_grouping_and_accounting_negatives(spark, decimal):
    fmt = NumberFormat(decimal, formatted=True)
    prof = profile(
        column("order_id"), column("sales", number=fmt), column("quantity", number=fmt), decimal=decimal
    )
    typed = check(spark, prof, number_rows(MONEY[decimal]))
    for what in ("currency stripped", "thousands separators removed", "accounting negative"):
        assert pc.any(pc.is_valid(typed[f"_repair sales: {what}"])).as_py(), what


def test_a_number_column_without_a_format_takes_the_files_decimal_mark(spark):
    prof = profile(column("order_id"), column("sales"), column("discount"), delimiter=";", decimal=",")
    check(spark, prof, [("a", "0,5", "1.261,96 €"), ("b", "2.5", "(3)"), ("c", None, "x")])


# ------------------------------------------------------------------------------------ reasons and lines


def test_bad_values_empties_a_corrupt_line_and_text_columns(spark):
    us = next(f for f in csv_profile.DATE_FORMATS if f.label == "M/D/YYYY")
    prof = profile(
        column("row_id"),
        column("order_id"),
        column("order_date", us),
        column("ship_date", us, has_time=True),
        column("postal_code"),
        column("quantity", number=NumberFormat()),
        column("sales", number=NumberFormat(formatted=True)),
        column("discount"),
        column("notes"),  # a column the contract does not know: text, whatever it holds
        column("sub_category"),
        delimiter="|",
    )
    rows = [
        ("1", "CA-1", "11/8/2016", "11/11/2016 0:00", "04101", "2", "$261.96", "0", "2.5", "x"),
        ("2", "CA-2", "2/30/2016", "13/1/2016", "04101", "2.5", "1$2", "n/a", "11/8/2016", "%s"),
        ("3", None, None, None, None, None, None, None, None, None),
        ("4", "CA-4", "11/8/2016", None, None, "x", None, None, "(41.91)", "'q'"),
        ("5", "", "", "", "", "", "", "", "", ""),
        ("6", "CA-6", "11/8/2016", None, None, None, None, None, None, None, "6|CA-6|11/8/2016"),
        ("7", "CA-7", "x", None, None, "1e3", "%d", None, None, None, '7|CA-7|x|"|"|'),
        ("8", "CA-8", "11/8/2016 0:00", "11/8/2016 0:00", "0", "0", "0", "0", "0", "0", ""),
        (None, None, None, None, None, None, None, None, None, None, "a line that is no record"),
        ("10", "CA-10", "11/8/2016", None, None, None, "€ 5 %s '", "1;5", "\n", "\u00e9"),
    ]
    typed = check(spark, prof, rows, ("order_id", "order_date"))
    assert typed["_reject_reason"].null_count == 1  # only row 1 is fine


@pytest.mark.parametrize("required", [(), ("order_id",), ("order_id", "returned")])
def test_required_columns_as_told(spark, required):
    prof = CsvProfile("returns", "utf-8", ",", ".", "\n", (column("returned"), column("order_id")), 1, True)
    check(
        spark,
        prof,
        [("Yes", None), (None, "CA-1"), (None, None), ("Yes", "CA-2", "Yes,CA-2,extra")],
        required,
    )


# ------------------------------------------------------------------------------------- sample exports

SAMPLES = [
    ("superstore-us/orders.csv", "orders"),
    ("superstore-us/returns.csv", "returns"),
    ("superstore-global/orders.csv", "orders"),
    ("superstore-global/returns.csv", "returns"),
    ("seed/ordercsv.csv", "orders"),
    ("seed/returncsv.csv", "returns"),
]


def check_file(spark, path: str, kind: str) -> pa.Table:
    prof = profile_file(path, kind, csv_profile.MAX_BAD_FRACTION)
    raw_frame = read_raw(spark, path, prof).coalesce(1).cache()
    raw = pa.Table.from_batches(raw_frame._collect_as_arrow())
    required = csv_profile.REQUIRED[kind]
    typed = type_table(raw, prof, required)
    assert_same(type_columns(raw_frame, prof, required), typed, raw.to_pylist())
    raw_frame.unpersist()
    return typed


@pytest.mark.parametrize(("name", "kind"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_each_sample_export_through_its_profile(spark, sample_data, name, kind):
    typed = check_file(spark, str(sample_data / name), kind)
    assert typed.num_rows > 0


@pytest.mark.parametrize("variant", sorted(exports.KINDS))
def test_each_rewritten_export_through_its_profile(spark, sample_data, tmp_path, variant):
    path = tmp_path / "orders.csv"
    path.write_bytes(exports.KINDS[variant](sample_data))
    typed = check_file(spark, str(path), "orders")
    assert typed["_reject_reason"].null_count == typed.num_rows  # every line of these exports is good


# ------------------------------------------------------------------------------------- what Spark alone reads


@pytest.mark.parametrize(
    ("kind", "value"),
    [("date", "11/8/+20160"), ("date", "11/8/-2016"), ("double", "0x1p3"), ("double", " -0X1.8P1d")],
)
def test_values_only_spark_reads_raise_spark_only(spark, kind, value):
    us = next(f for f in csv_profile.DATE_FORMATS if f.label == "M/D/YYYY")
    name = "order_date" if kind == "date" else "sales"
    prof = profile(column("order_id"), column(name, us, number=NumberFormat()))
    frame = spark.createDataFrame([("a", value, None)], f"order_id string, {name} string, {CORRUPT} string")
    assert type_columns(frame, prof).select(F.col(name).isNotNull()).first()[0]  # Spark reads it
    raw = pa.table({"order_id": ["a"], name: [value], CORRUPT: pa.nulls(1, pa.string())})
    with pytest.raises(SparkOnly):
        type_table(raw, prof)


def test_supports_only_the_patterns_it_translates():
    odd = csv_profile.DateFormat("D MMM YYYY", "d MMM yyyy")
    assert supports(profile(column("order_id"), column("order_date", csv_profile.DATE_FORMATS[1])))
    assert not supports(profile(column("order_id"), column("order_date", odd)))
