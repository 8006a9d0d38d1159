"""The Glue job's pure DataFrame functions, each called directly on a few rows built here.

``read_raw`` reads tiny CSV files; ``type_columns``, ``prepare_returns`` and ``join_orders_returns`` take
DataFrames from ``spark.createDataFrame`` with a profile written out by hand, so each test says exactly how
the columns are written and what comes out. ``run_job`` (tests/glue/test_join_job.py) wires them together.
"""

from __future__ import annotations

from datetime import date, datetime

import csv_profile
import pytest
from csv_profile import ColumnProfile, CsvProfile, NumberFormat
from ecommerce_join_data import (
    CORRUPT,
    MATCHED,
    RAW_LINE,
    REASON,
    join_key,
    join_orders_returns,
    prepare_returns,
    read_raw,
    repair_columns,
    type_columns,
)

pytestmark = pytest.mark.spark

PROCESSED_AT = datetime(2024, 5, 6, 7, 8, 9)
DATE_FORMAT = {f.label: f for f in csv_profile.DATE_FORMATS}


def column(
    name: str, *, date_format: str = "M/D/YYYY", has_time: bool = False, number: NumberFormat | None = None
) -> ColumnProfile:
    """A column as the profiler describes it; its kind comes from the contract, as in csv_profile."""
    kind = csv_profile.contract_kind(name)
    return ColumnProfile(
        name,
        name.replace("_", " ").title(),
        kind,
        date_format=DATE_FORMAT[date_format] if kind == "date" else None,
        has_time=has_time,
        number_format=(number or NumberFormat()) if kind in ("integer", "double") else None,
    )


def profile(kind: str, *columns: ColumnProfile, delimiter: str = ",", decimal: str = ".") -> CsvProfile:
    return CsvProfile(kind, "utf-8", delimiter, decimal, "\n", tuple(columns), 1, True)


def raw_frame(spark, prof: CsvProfile, rows: list[tuple]):
    """What read_raw gives: every column a string, plus the corrupt-record column (None: a whole line)."""
    schema = ", ".join(f"`{name}` string" for name in [*prof.names, CORRUPT])
    return spark.createDataFrame(
        [(*row, None) if len(row) == len(prof.names) else row for row in rows], schema
    )


def rows(frame, *columns: str) -> list[tuple]:
    return [tuple(r) for r in frame.select(*columns).collect()]


# ------------------------------------------------------------------------------------------- read_raw


def test_read_raw_reads_every_field_as_text_and_drops_repeated_headers(spark, tmp_path):
    """Two exports concatenated: the second header is no data. Quotes are RFC 4180 (doubled), fields are
    trimmed, an empty field is null, leading zeros and money stay as written, a short line is kept whole in
    the corrupt-record column."""
    text = (
        "Order ID,Order Date,Product Name,Postal Code,Sales\n"
        'CA-1,11/28/2016,"Bush ""Somerset"" Bookcase",04101,"$1,261.96"\n'
        "CA-2, 11/29/2016 ,Chair,,12.5\n"
        "Order ID,Order Date,Product Name,Postal Code,Sales\n"
        "CA-3,11/30/2016,Desk,02134,7\n"
        "CA-4,12/31/2016\n"
    )
    path = tmp_path / "orders.csv"
    path.write_text(text, encoding="utf-8")
    prof = csv_profile.profile_bytes(path.read_bytes(), kind="orders", max_bad_fraction=0.5)
    assert prof.names == ["order_id", "order_date", "product_name", "postal_code", "sales"]

    raw = read_raw(spark, str(path), prof)

    assert raw.columns == [*prof.names, CORRUPT]
    assert all(f.dataType.simpleString() == "string" for f in raw.schema.fields)
    assert sorted(rows(raw, *raw.columns)) == [
        ("CA-1", "11/28/2016", 'Bush "Somerset" Bookcase', "04101", "$1,261.96", None),
        ("CA-2", "11/29/2016", "Chair", None, "12.5", None),
        ("CA-3", "11/30/2016", "Desk", "02134", "7", None),
        ("CA-4", "12/31/2016", None, None, None, "CA-4,12/31/2016"),
    ]


def test_read_raw_reads_a_semicolon_export_after_excels_sep_line(spark, tmp_path):
    path = tmp_path / "returns.csv"
    path.write_bytes(b"sep=;\nReturned;Order ID\nYes;CA-1\nYes;CA-2\n")
    prof = csv_profile.profile_bytes(path.read_bytes(), kind="returns")
    assert (prof.sep_hint, prof.delimiter, prof.names) == (True, ";", ["returned", "order_id"])

    raw = read_raw(spark, str(path), prof)

    assert sorted(rows(raw, "returned", "order_id", CORRUPT)) == [
        ("Yes", "CA-1", None),
        ("Yes", "CA-2", None),
    ]


# ---------------------------------------------------------------------------------------- type_columns

ORDERS = profile(
    "orders",
    column("order_id"),
    column("order_date"),
    column("postal_code"),
    column("quantity"),
    column("sales", number=NumberFormat(".", formatted=True)),
)


def typed_rows(spark, prof: CsvProfile, values: list[tuple], required=("order_id", "order_date")):
    typed = type_columns(raw_frame(spark, prof, values), prof, required)
    return typed, {r["order_id"]: r.asDict() for r in typed.collect()}


def test_type_columns_gives_the_contract_types(spark):
    typed, _ = typed_rows(spark, ORDERS, [("CA-1", "11/8/2016", "04101", "2", "261.96")])
    types = {f.name: f.dataType.simpleString() for f in typed.schema.fields}
    assert {name: types[name] for name in ORDERS.names} == {
        "order_id": "string",
        "order_date": "date",
        "postal_code": "string",  # a code: leading zeros kept
        "quantity": "bigint",
        "sales": "double",
    }
    assert types[REASON] == types[RAW_LINE] == "string"


def test_type_columns_cleans_currency_grouping_and_accounting_negatives(spark):
    _, by_id = typed_rows(
        spark,
        ORDERS,
        [
            ("plain", "11/8/2016", "04101", "2", "261.96"),
            ("money", "11/8/2016", "04101", "2", "$1,261.96"),
            ("negative", "11/8/2016", "04101", "2", "($41.91)"),
            ("grouped", "11/8/2016", "04101", "2", "1,261,000"),
            ("whole", "11/8/2016", "04101", "3.0", "USD 5"),
        ],
    )
    assert {k: (v["sales"], v["quantity"], v[REASON]) for k, v in by_id.items()} == {
        "plain": (261.96, 2, None),
        "money": (1261.96, 2, None),
        "negative": (-41.91, 2, None),
        "grouped": (1261000.0, 2, None),
        "whole": (5.0, 3, None),
    }
    flags = {
        k: sorted(c.removeprefix("_repair ") for c in v if c.startswith("_repair ") and v[c])
        for k, v in by_id.items()
    }
    assert flags == {
        "plain": [],
        "money": ["sales: currency stripped", "sales: thousands separators removed"],
        "negative": ["sales: accounting negative", "sales: currency stripped"],
        "grouped": ["sales: thousands separators removed"],
        "whole": ["sales: currency stripped"],
    }


def test_type_columns_reads_a_decimal_comma(spark):
    prof = profile(
        "orders",
        column("order_id"),
        column("order_date", date_format="D.M.YYYY"),
        column("sales", number=NumberFormat(",", formatted=True)),
        delimiter=";",
        decimal=",",
    )
    _, by_id = typed_rows(
        spark,
        prof,
        [("a", "8.11.2016", "261,96"), ("b", "8.11.2016", "1.261,96 €"), ("c", "31.12.2016", "(0,5)")],
    )
    assert {k: (v["order_date"], v["sales"], v[REASON]) for k, v in by_id.items()} == {
        "a": (date(2016, 11, 8), 261.96, None),
        "b": (date(2016, 11, 8), 1261.96, None),
        "c": (date(2016, 12, 31), -0.5, None),
    }


def test_type_columns_keeps_the_date_as_written_and_drops_a_time(spark):
    prof = profile("orders", column("order_id"), column("order_date", has_time=True))
    _, by_id = typed_rows(
        spark,
        prof,
        [
            ("a", "11/8/2016 0:00"),
            ("b", "12/31/2016 11:59 PM"),
            ("c", "1/2/2017"),
            ("d", "2016-11-08T23:30:00-05:00"),
        ],
    )
    assert {
        k: (v["order_date"], v["_repair order_date: time dropped"], v[REASON]) for k, v in by_id.items()
    } == {
        "a": (date(2016, 11, 8), True, None),
        "b": (date(2016, 12, 31), True, None),
        "c": (date(2017, 1, 2), None, None),
        "d": (None, None, "order_date: '2016-11-08T23:30:00-05:00' is not M/D/YYYY"),  # another format
    }


def test_type_columns_gives_each_bad_value_a_reason_and_keeps_the_line(spark):
    prof = ORDERS
    values = [
        ("bad-date", "2/30/2016", "04101", "2", "10"),
        ("bad-number", "11/8/2016", "04101", "2", "n/a"),
        ("half", "11/8/2016", "04101", "2.5", "10"),
        ("two", "13/13/2016", "04101", "x", "1$2"),
        (None, "11/8/2016", "04101", "2", "10"),
        ("no-date", None, "04101", "2", "10"),
        ("fine", "11/8/2016", None, None, None),  # empty optional fields are no problem
        ("short", "11/8/2016", None, None, None, "short,11/8/2016"),  # wrong field count
    ]
    typed, by_id = typed_rows(spark, prof, values)
    assert {k: v[REASON] for k, v in by_id.items()} == {
        "bad-date": "order_date: '2/30/2016' is not M/D/YYYY",
        "bad-number": "sales: 'n/a' is not a number",
        "half": "quantity: '2.5' is not a whole number",
        "two": "order_date: '13/13/2016' is not M/D/YYYY; quantity: 'x' is not a whole number; "
        "sales: '1$2' is not a number",
        None: "order_id: empty",
        "no-date": "order_date: empty",
        "fine": None,
        "short": "wrong number of fields, expected 5",
    }
    assert {k: v[RAW_LINE] for k, v in by_id.items()} == {
        "bad-date": "bad-date,2/30/2016,04101,2,10",
        "bad-number": "bad-number,11/8/2016,04101,2,n/a",
        "half": "half,11/8/2016,04101,2.5,10",
        "two": "two,13/13/2016,04101,x,1$2",
        None: ",11/8/2016,04101,2,10",
        "no-date": "no-date,,04101,2,10",
        "fine": None,
        "short": "short,11/8/2016",  # the line as read, not rebuilt from the fields
    }
    assert (by_id["bad-date"]["order_date"], by_id["half"]["quantity"], by_id["half"]["sales"]) == (
        None,
        None,
        10.0,
    )
    number_repairs = ["currency stripped", "thousands separators removed", "accounting negative"]
    assert repair_columns(typed) == [
        "_repair order_date: time dropped",
        *[f"_repair {name}: {what}" for name in ("quantity", "sales") for what in number_repairs],
    ]


def test_type_columns_requires_only_what_it_is_told(spark):
    prof = profile("returns", column("returned"), column("order_id"))
    typed = type_columns(raw_frame(spark, prof, [("Yes", None), (None, "CA-1")]), prof, ("order_id",))
    assert sorted(rows(typed, "order_id", REASON), key=str) == [("CA-1", None), (None, "order_id: empty")]


# ------------------------------------------------------------------------------------- prepare_returns


def returns_frame(spark, columns: list[str], values: list[tuple]):
    """Typed returns as type_columns leaves them: data columns, a reject reason and the raw line."""
    schema = ", ".join(f"`{c}` string" for c in [*columns, REASON, RAW_LINE])
    return spark.createDataFrame(values, schema).coalesce(1)


def test_prepare_returns_keeps_the_first_valid_line_per_order(spark):
    returns = returns_frame(
        spark,
        ["returned", "order_id", "reason"],
        [
            ("Yes", "CA-1", "first", None, None),
            ("Yes", "CA-2", "rejected", "returned: bad", "Yes,CA-2,rejected"),
            ("Yes", "CA-1", "second", None, None),
            ("No", "CA-2", "valid", None, None),
            ("Yes", "CA-3", "only", None, None),
            ("Yes", "CA-1", "third", None, None),
        ],
    )
    prepared = prepare_returns(returns, ["order_id"], ["order_id", "order_date", "sales"])
    assert prepared.columns == ["returned", "order_id", "reason", MATCHED]
    assert sorted(rows(prepared, "order_id", "returned", "reason", MATCHED)) == [
        ("CA-1", "Yes", "first", True),
        ("CA-2", "No", "valid", True),  # the rejected line before it is not a return
        ("CA-3", "Yes", "only", True),
    ]


def test_prepare_returns_prefixes_columns_that_clash_with_the_orders_or_the_run_columns(spark):
    returns = returns_frame(
        spark,
        ["order_id", "market", "customer_id", "run_id", "is_returned", "returned"],
        [("CA-1", "EU", "C-9", "x", "y", "Yes", None, None)],
    )
    prepared = prepare_returns(
        returns, ["order_id", "market"], ["order_id", "market", "customer_id", "sales"]
    )
    assert prepared.columns == [
        "order_id",
        "market",  # a key column: not renamed
        "return_customer_id",
        "return_run_id",
        "return_is_returned",
        "returned",
        MATCHED,
    ]


def test_prepare_returns_dedupes_per_order_and_market(spark):
    returns = returns_frame(
        spark,
        ["order_id", "market", "returned"],
        [
            ("ES-1", "EU", "first", None, None),
            ("ES-1", "APAC", "other market", None, None),
            ("ES-1", "EU", "second", None, None),
        ],
    )
    prepared = prepare_returns(returns, ["order_id", "market"], ["order_id", "market"])
    assert sorted(rows(prepared, "order_id", "market", "returned")) == [
        ("ES-1", "APAC", "other market"),
        ("ES-1", "EU", "first"),
    ]


# --------------------------------------------------------------------------------- join_orders_returns


def orders_frame(spark, columns: list[str], values: list[tuple]):
    """Valid typed orders: order_date a date, the rest text, plus the job's own ``_`` columns."""
    fields = ", ".join(f"`{c}` {'date' if c == 'order_date' else 'string'}" for c in columns)
    return spark.createDataFrame(
        [(*v, None, None) for v in values], f"{fields}, `{REASON}` string, `{RAW_LINE}` string"
    )


def test_join_keeps_every_order_line_and_marks_the_returned_ones(spark):
    orders = orders_frame(
        spark,
        ["order_id", "order_date", "product"],
        [
            ("CA-1", date(2016, 11, 8), "chair"),
            ("CA-1", date(2016, 11, 8), "desk"),  # two lines of one returned order: both returned
            ("CA-2", date(2017, 1, 31), "lamp"),
            ("CA-3", date(2017, 2, 1), "pen"),
        ],
    )
    returns = prepare_returns(
        returns_frame(
            spark,
            ["returned", "order_id", "product"],
            [
                ("Yes", "CA-1", "chair", None, None),
                ("Yes", "CA-1", "desk", None, None),
                ("Yes", "XX-9", "-", None, None),
            ],
        ),
        ["order_id"],
        ["order_id", "order_date", "product"],
    )

    joined = join_orders_returns(orders, returns, ["order_id"], "run-7", PROCESSED_AT)

    assert joined.columns == [
        "order_id",
        "order_date",
        "product",
        "is_returned",
        "returned",
        "return_product",
        "run_id",
        "processed_at",
        "order_year",
        "order_month",
    ]
    assert sorted(rows(joined, "order_id", "product", "is_returned", "returned", "return_product")) == [
        ("CA-1", "chair", True, "Yes", "chair"),  # the first return line of CA-1
        ("CA-1", "desk", True, "Yes", "chair"),
        ("CA-2", "lamp", False, None, None),
        ("CA-3", "pen", False, None, None),
    ]
    assert sorted(rows(joined, "order_id", "order_year", "order_month", "run_id", "processed_at")) == [
        ("CA-1", 2016, 11, "run-7", PROCESSED_AT),
        ("CA-1", 2016, 11, "run-7", PROCESSED_AT),
        ("CA-2", 2017, 1, "run-7", PROCESSED_AT),
        ("CA-3", 2017, 2, "run-7", PROCESSED_AT),
    ]
    types = {f.name: f.dataType.simpleString() for f in joined.schema.fields}
    assert (types["is_returned"], types["processed_at"], types["order_year"]) == (
        "boolean",
        "timestamp",
        "int",
    )


def test_join_on_order_id_and_market_when_both_files_have_a_market(spark):
    orders_profile = profile("orders", column("order_id"), column("market"), column("order_date"))
    returns_profile = profile("returns", column("returned"), column("order_id"), column("market"))
    key = join_key(orders_profile, returns_profile)
    assert key == ["order_id", "market"]
    assert join_key(orders_profile, profile("returns", column("returned"), column("order_id"))) == [
        "order_id"
    ]

    orders = orders_frame(
        spark,
        ["order_id", "market", "order_date"],
        [
            ("ES-1", "EU", date(2016, 3, 1)),
            ("ES-1", "APAC", date(2016, 3, 2)),
            ("ES-2", "EU", date(2016, 3, 3)),
        ],
    )
    returns = prepare_returns(
        returns_frame(spark, ["returned", "order_id", "market"], [("Yes", "ES-1", "EU", None, None)]),
        key,
        orders_profile.names,
    )

    joined = join_orders_returns(orders, returns, key, "r", PROCESSED_AT)

    assert sorted(rows(joined, "order_id", "market", "is_returned")) == [
        ("ES-1", "APAC", False),  # the same order id in another market was not returned
        ("ES-1", "EU", True),
        ("ES-2", "EU", False),
    ]


def test_join_without_returns_marks_nothing_returned(spark):
    orders = orders_frame(spark, ["order_id", "order_date"], [("CA-1", date(2016, 1, 1)), ("CA-2", None)])
    returns = prepare_returns(returns_frame(spark, ["returned", "order_id"], []), ["order_id"], ["order_id"])
    joined = join_orders_returns(orders, returns, ["order_id"], "r", PROCESSED_AT)
    assert sorted(rows(joined, "order_id", "is_returned", "returned", "order_year"), key=str) == [
        ("CA-1", False, None, 2016),
        ("CA-2", False, None, None),
    ]
