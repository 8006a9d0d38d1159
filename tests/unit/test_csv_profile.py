"""csv_profile: sniffing CSV exports (docs/DATA_CONTRACT.md); synthetic cases, then ../shared/data samples."""

from __future__ import annotations

import datetime
import gzip
import io
import json
import time
import zipfile

import csv_profile
import pytest
from csv_profile import DATE_FORMATS, CsvProfile, ProfileError, profile_bytes, snake_case

FORMATS = {f.label: f for f in DATE_FORMATS}


def orders_csv(rows: list[list[str]], header=("Order ID", "Order Date"), sep=",", eol="\r\n") -> bytes:
    return eol.join(sep.join(r) for r in [list(header), *rows]).encode() + eol.encode()


def profile(text: str | bytes, kind: str = "orders", **kw) -> CsvProfile:
    return profile_bytes(text.encode() if isinstance(text, str) else text, kind=kind, **kw)


def kinds(p: CsvProfile) -> dict[str, str]:
    return {c.name: c.kind for c in p.columns}


# --------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "snake"),
    [
        ("Sub-Category", "sub_category"),
        ("Country/Region", "country_region"),
        (" ORDER ID ", "order_id"),
        ("Order Id", "order_id"),
        ("order_id", "order_id"),
        ("\ufeffOrder ID", "order_id"),
        ("OrderID", "order_id"),
        ("orderDate", "order_date"),
        ("Order  Date", "order_date"),
        ("__Ship Cost ($)__", "ship_cost"),
        ("Return Reason", "return_reason"),
    ],
)
def test_snake_case(raw, snake):
    assert snake_case(raw) == snake


def test_names_and_sources_keep_header_text():
    p = profile("\ufeff Order ID ,Order Date,Sub-Category\n1,2016-01-05,Chairs\n")
    assert p.names == ["order_id", "order_date", "sub_category"]
    assert [c.source for c in p.columns] == ["Order ID", "Order Date", "Sub-Category"]
    assert p.column("sub_category").source == "Sub-Category"
    assert p.column("nope") is None


def test_duplicate_names_after_snake_casing_are_named():
    with pytest.raises(ProfileError, match="duplicate column names") as err:
        profile("Order ID,Order Date,order_id\n1,2016-01-05,1\n")
    assert "'Order ID' and 'order_id' both become order_id" in str(err.value)


def test_empty_header_cell_gets_a_positional_name():
    p = profile("Order ID,Order Date,\n1,2016-01-05,\n")
    assert p.names == ["order_id", "order_date", "column_3"]


# --------------------------------------------------------------------------------------------- dialect


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_each_delimiter(sep):
    rows = [["A1", "2016-01-05", "Chairs, red", "3"], ["A2", "2016-01-06", "Desk", "4"]]
    rows = [[f'"{v}"' if sep in v or "," in v else v for v in r] for r in rows]
    p = profile(orders_csv(rows, header=("Order ID", "Order Date", "Product Name", "Quantity"), sep=sep))
    assert p.delimiter == sep
    assert p.names == ["order_id", "order_date", "product_name", "quantity"]
    assert p.preview(1)[0]["product_name"] == "Chairs, red"
    assert kinds(p)["quantity"] == "integer"
    assert p.spark_read_options()["sep"] == sep


def test_utf8_bom():
    p = profile(b"\xef\xbb\xbf" + "Order ID,Order Date,City\n1,2016-01-05,Zürich\n".encode())
    assert p.encoding == "utf-8-sig"
    assert p.spark_encoding == "UTF-8"
    assert p.names[0] == "order_id"
    assert p.preview()[0]["city"] == "Zürich"


def test_plain_utf8():
    p = profile("Order ID,Order Date,City\n1,2016-01-05,Zürich\n")
    assert (p.encoding, p.spark_encoding) == ("utf-8", "UTF-8")


def test_cp1252_with_curly_quotes():
    text = "Order ID,Order Date,Product Name\r\n1,05-01-2016,“Best” chair – Müller’s\r\n"
    p = profile(text.encode("cp1252"))
    assert p.encoding == "cp1252"
    assert p.spark_encoding == "windows-1252"
    assert p.preview()[0]["product_name"] == "“Best” chair – Müller’s"  # latin-1 would give \x93 etc.


@pytest.mark.parametrize(("eol", "expected"), [("\r\n", "\r\n"), ("\n", "\n")])
def test_line_terminator(eol, expected):
    p = profile(orders_csv([["1", "2016-01-05"], ["2", "2016-01-06"]], eol=eol))
    assert p.line_terminator == expected
    assert p.sample_rows == 2
    assert p.preview(2)[1] == {"order_id": "2", "order_date": "2016-01-06"}


def test_doubled_quotes_inside_quoted_field():
    text = (
        '"Order ID","Order Date","Product Name"\n'
        '"1","1/15/2016","Stur-D-Stor Shelving, Vertical 5-Shelf: 72""H x 36""W"\n'
        '"2","1/16/2016","Binder, White, 1"""\n'
    )
    p = profile(text)
    assert p.delimiter == ","
    assert [r["product_name"] for r in p.preview()] == [
        'Stur-D-Stor Shelving, Vertical 5-Shelf: 72"H x 36"W',
        'Binder, White, 1"',
    ]
    assert p.spark_read_options()["escape"] == '"'


def test_quoted_field_spanning_lines():
    p = profile('Order ID,Order Date,Note\r\n1,2016-01-05,"two\r\nlines"\r\n2,2016-01-06,one\r\n')
    assert p.multiline
    assert p.sample_rows == 2
    assert p.preview()[0]["note"] == "two\r\nlines"
    assert p.spark_read_options()["multiLine"] == "true"
    assert not profile(orders_csv([["1", "2016-01-05"]])).multiline


def test_decimal_comma_with_semicolon():
    text = "Order ID;Order Date;Sales;Quantity;Discount\n1;05.01.2016;261,96;2;0\n2;06.01.2016;-14,5;3;0,2\n"
    p = profile(text)
    assert (p.delimiter, p.decimal) == (";", ",")
    assert kinds(p) == {
        "order_id": "string",
        "order_date": "date",
        "sales": "double",
        "quantity": "integer",
        "discount": "double",
    }
    assert p.column("order_date").date_format.label == "D.M.YYYY"


def test_decimal_point_with_semicolon():
    p = profile("Order ID;Order Date;Sales\n1;2016-01-05;261.96\n2;2016-01-06;3\n")
    assert (p.delimiter, p.decimal) == (";", ".")
    assert kinds(p)["sales"] == "double"


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_utf16_unicode_text(bom):
    text = "Order ID\tOrder Date\tCity\r\nA1\t1/25/2016\tZürich\r\nA2\t1/26/2016\tMalmö\r\n"
    p = profile_bytes(bom + text.encode("utf-16-le" if bom == b"\xff\xfe" else "utf-16-be"), kind="orders")
    assert (p.encoding, p.spark_encoding, p.delimiter) == (
        "utf-16-le" if bom == b"\xff\xfe" else "utf-16-be",
        "UTF-16",
        "\t",
    )
    assert p.spark_read_options()["multiLine"] == "true"  # Spark's line splitting breaks UTF-16
    assert p.preview(2)[1] == {"order_id": "A2", "order_date": "1/26/2016", "city": "Malmö"}


def test_utf16_head_cut_anywhere():
    data = "\ufeffOrder ID\tOrder Date\r\n".encode("utf-16-le") + "".join(
        f"A{i}\t1/25/2016\r\n" for i in range(100)
    ).encode("utf-16-le")
    for cut in (301, 302, 303):
        p = profile_bytes(data[:cut], kind="orders", complete=False)
        assert p.names == ["order_id", "order_date"] and not p.complete
        assert p.sample_rows == data[:cut].decode("utf-16-le", "ignore").count("\n") - 1


@pytest.mark.parametrize(("hint", "sep"), [("sep=;", ";"), ("sep=,", ","), ("SEP=|", "|"), ("sep=\t", "\t")])
def test_excel_sep_hint_sets_the_delimiter_and_is_no_data(hint, sep):
    text = f"{hint}\r\nOrder ID{sep}Order Date{sep}Sales\r\n1{sep}2016-01-05{sep}3\r\n"
    p = profile(text)
    assert (p.delimiter, p.sep_hint, p.names) == (sep, True, ["order_id", "order_date", "sales"])
    assert p.sample_rows == 1 and p.to_report()["sep_hint"] is True


def test_sep_hint_with_an_odd_delimiter_is_refused():
    with pytest.raises(ProfileError, match="first line 'sep=#' names the delimiter '#'"):
        profile("sep=#\nOrder ID#Order Date\n1#2016-01-05\n")


def test_a_repeated_header_is_no_data():
    text = "Order ID,Order Date,Sales\n1,2016-01-05,3\nOrder ID,Order Date,Sales\n2,2016-01-06,4\n"
    p = profile(text)
    assert p.sample_rows == 2 and p.warnings == ()


def test_blank_lines_are_not_rows():
    p = profile("\r\nOrder ID,Order Date\r\n1,2016-01-05\r\n\r\n2,2016-01-06\r\n\r\n")
    assert p.names == ["order_id", "order_date"]
    assert p.sample_rows == 2


# --------------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("label", "values", "spark"),
    [
        ("YYYY-MM-DD", ["2016-01-05", "2016-1-5", "2016-12-31"], "yyyy-M-d"),
        ("M/D/YYYY", ["1/5/2016", "01/05/2016", "11/28/2016"], "M/d/yyyy"),
        ("D/M/YYYY", ["1/5/2016", "05/01/2016", "28/11/2016"], "d/M/yyyy"),
        ("DD-MM-YYYY", ["05-01-2016", "5-1-2016", "31-12-2016"], "d-M-yyyy"),
        ("D.M.YYYY", ["5.1.2016", "05.01.2016", "31.12.2016"], "d.M.yyyy"),
    ],
)
def test_each_date_format_is_inferred(label, values, spark):
    p = profile(orders_csv([[str(i), v] for i, v in enumerate(values)]))
    fmt = p.column("order_date").date_format
    assert (p.column("order_date").kind, fmt.label, fmt.spark_pattern) == ("date", label, spark)
    assert p.to_report()["date_formats"] == {"order_date": label}


@pytest.mark.parametrize(
    ("label", "text", "expected"),
    [
        ("YYYY-MM-DD", "2016-01-05", datetime.date(2016, 1, 5)),
        ("YYYY-MM-DD", "2016-1-5", datetime.date(2016, 1, 5)),
        ("M/D/YYYY", "1/5/2016", datetime.date(2016, 1, 5)),
        ("M/D/YYYY", "01/05/2016", datetime.date(2016, 1, 5)),
        ("D/M/YYYY", "1/5/2016", datetime.date(2016, 5, 1)),
        ("DD-MM-YYYY", "31-07-2012", datetime.date(2012, 7, 31)),
        ("D.M.YYYY", "31.7.2012", datetime.date(2012, 7, 31)),
        ("M/D/YYYY", " 1/5/2016 ", datetime.date(2016, 1, 5)),
        ("M/D/YYYY", "2/30/2016", None),
        ("M/D/YYYY", "13/1/2016", None),
        ("M/D/YYYY", "1/5/16", None),
        ("YYYY-MM-DD", "2023-08-01 10:00:00", None),
        ("DD-MM-YYYY", "2016-01-05", None),
        ("YYYY-MM-DD", "foo", None),
    ],
)
def test_date_format_parse(label, text, expected):
    assert FORMATS[label].parse(text) == expected


@pytest.mark.parametrize(
    ("written", "date_part", "has_time"),
    [
        ("11/8/2016", "11/8/2016", False),
        ("11/8/2016 0:00", "11/8/2016", True),  # Excel
        ("11/8/2016 3:15 PM", "11/8/2016", True),  # Excel, 12-hour
        ("11/8/2016 03:15:07 am", "11/8/2016", True),
        ("2016-11-08 10:02:03", "2016-11-08", True),
        ("2016-11-08T10:02:03-05:00", "2016-11-08", True),  # the date in the export's own offset
        ("2016-11-08T23:30:00+0530", "2016-11-08", True),
        ("2016-11-08T10:02:03.123Z", "2016-11-08", True),
        ("2016-11-08T10:02", "2016-11-08", True),
        ("8.11.2016 10:02", "8.11.2016", True),
    ],
)
def test_dates_with_a_time(written, date_part, has_time):
    assert csv_profile.split_time(written) == (date_part, has_time)


@pytest.mark.parametrize(
    "written", ["11/8/2016 noon", "11/8/2016 3 PM", "2016-11-08T", "11/8/2016 10:02 EST"]
)
def test_what_is_no_date_with_a_time(written):
    assert csv_profile.split_time(written) is None


@pytest.mark.parametrize(
    ("values", "label"),
    [
        (["11/8/2016 0:00", "11/28/2016 0:00", "1/5/2016 13:45"], "M/D/YYYY"),
        (["11/8/2016 3:15 PM", "12/28/2016 11:00 AM"], "M/D/YYYY"),
        (["2016-11-08T10:02:03-05:00", "2016-11-09T01:00:00Z"], "YYYY-MM-DD"),
        (["28-11-2016 10:02", "05-01-2016 10:02"], "DD-MM-YYYY"),
    ],
)
def test_date_columns_with_times_keep_their_format(values, label):
    p = profile(orders_csv([[str(i), v] for i, v in enumerate(values)]))
    column = p.column("order_date")
    assert (column.kind, column.date_format.label, column.has_time) == ("date", label, True)
    assert p.to_report()["dates_with_time"] == ["order_date"]


def test_times_do_not_settle_an_ambiguous_date():
    with pytest.raises(ProfileError, match="values fit both M/D/YYYY and D/M/YYYY"):
        profile(orders_csv([["1", "1/5/2016 0:00"], ["2", "2/6/2016 13:00"]]))


def test_ambiguous_day_month_is_an_error():
    with pytest.raises(ProfileError) as err:
        profile(orders_csv([["1", "1/5/2016"], ["2", "2/6/2016"], ["3", "12/11/2016"]]))
    message = str(err.value)
    assert message.startswith("orders file")
    assert "order_date: values fit both M/D/YYYY and D/M/YYYY" in message


def test_ambiguity_tie_with_one_failure_each_is_still_ambiguous():
    rows = [[str(i), v] for i, v in enumerate(["13/1/2016", "1/13/2016"] + ["1/5/2016"] * 200)]
    with pytest.raises(ProfileError, match="values fit both M/D/YYYY and D/M/YYYY"):
        profile(orders_csv(rows))


def test_day_equal_to_month_is_not_ambiguous():
    p = profile(orders_csv([["1", "1/1/2016"], ["2", "2/2/2016"]]))
    assert p.column("order_date").date_format.label == "M/D/YYYY"


def test_ambiguous_column_takes_the_format_of_another_date_column():
    rows = [["1", "1/25/2016", "2/3/2016"], ["2", "3/4/2016", "3/5/2016"]]
    p = profile(orders_csv(rows, header=("Order ID", "Order Date", "Ship Date")))
    assert p.column("ship_date").date_format.label == "M/D/YYYY"
    assert any("ship_date" in w and "like order_date" in w for w in p.warnings)


def test_ambiguous_optional_column_is_an_error_too():
    text = "Order ID,Return Date\n1,1/5/2016\n2,2/6/2016\n"
    with pytest.raises(
        ProfileError, match="^returns file: return_date: values fit both M/D/YYYY and D/M/YYYY"
    ):
        profile(text, kind="returns")


def test_order_date_that_is_no_date():
    with pytest.raises(ProfileError) as err:
        profile(orders_csv([["1", "foo"], ["2", "bar"]]))
    assert str(err.value) == (
        "orders file: order_date: values are not dates in a supported format (e.g. 'foo'); "
        "use YYYY-MM-DD, M/D/YYYY, D/M/YYYY, DD-MM-YYYY or D.M.YYYY, optionally with a time"
    )


def test_order_date_in_an_unsupported_layout():
    with pytest.raises(ProfileError, match=r"not dates in a supported format \(e.g. '2016/01/05'\)"):
        profile(orders_csv([["1", "2016/01/05"]]))


def test_order_date_with_too_many_bad_values():
    rows = [[str(i), "2016-01-05"] for i in range(50)] + [["x", "soon"], ["y", "later"]]
    with pytest.raises(ProfileError, match=r"order_date: 2 of 52 values \(3.8%\) are not YYYY-MM-DD dates"):
        profile(orders_csv(rows))


def test_order_date_empty_everywhere():
    with pytest.raises(ProfileError, match="order_date is empty in every row"):
        profile(orders_csv([["1", ""], ["2", " "]]))


def test_bad_dates_below_tolerance_are_left_for_quarantine():
    rows = [[str(i), "2016-01-05"] for i in range(199)] + [["x", "2016-02-30"]]
    p = profile(orders_csv(rows))
    assert p.column("order_date").kind == "date"
    assert any("1 of 200 values are not dates" in w and "'2016-02-30'" in w for w in p.warnings)
    with pytest.raises(ProfileError):
        profile(orders_csv(rows), max_bad_fraction=0)


def test_iso_with_time_is_not_a_date():
    p = profile("Order ID,Order Date,Created\n1,2016-01-05,2023-08-01 10:00:00\n")
    assert p.column("created").kind == "string"


# --------------------------------------------------------------------------------------------- kinds


def test_ids_and_postal_codes_stay_strings():
    header = ("Row ID", "Order ID", "Order Date", "Customer ID", "Postal Code", "ZIP", "Phone", "Quantity")
    p = profile(
        orders_csv([["1", "7", "2016-01-05", "123", "02138", "02138", "5551234", "2"]], header=header)
    )
    assert kinds(p) == {
        "row_id": "string",
        "order_id": "string",
        "order_date": "date",
        "customer_id": "string",
        "postal_code": "string",
        "zip": "string",
        "phone": "string",
        "quantity": "integer",
    }
    assert p.preview()[0]["postal_code"] == "02138"


def test_kinds_come_from_the_contract_not_the_values():
    header = ("Order ID", "Order Date", "Sales", "Quantity", "Profit", "Rate", "Sku", "Mixed", "Ship Date")
    rows = [
        ["1", "2016-01-05", "261.96", "2", "-41", "1e-3", "007", "x", "2016-01-07"],
        ["2", "2016-01-06", "3", "-4", "2.5E+2", ".5", "120", "2", ""],
    ]
    assert kinds(profile(orders_csv(rows, header=header))) == {
        "order_id": "string",
        "order_date": "date",
        "sales": "double",
        "quantity": "integer",
        "profit": "double",
        "rate": "string",  # not in the contract: text, whatever the values look like
        "sku": "string",
        "mixed": "string",
        "ship_date": "date",
    }
    assert {n: csv_profile.contract_kind(n) for n in ("sales", "order_id", "postal_code", "notes")} == {
        "sales": "double",
        "order_id": "string",
        "postal_code": "string",
        "notes": "string",
    }


def test_a_contract_column_empty_in_the_head_keeps_its_kind():
    p = profile("Order ID,Order Date,Sales,Ship Date\n1,2016-01-05,,\n")
    assert (p.column("sales").kind, p.column("ship_date").kind) == ("double", "date")
    assert p.column("ship_date").date_format is None


def test_bad_numbers_below_tolerance_are_left_for_quarantine():
    rows = [[str(i), "2016-01-05", "2"] for i in range(199)] + [["x", "2016-01-05", "two"]]
    p = profile(orders_csv(rows, header=("Order ID", "Order Date", "Quantity")))
    assert kinds(p)["quantity"] == "integer"
    assert any("quantity: 1 of 200 values are not whole numbers (e.g. 'two')" in w for w in p.warnings)


def test_a_number_column_that_does_not_parse_is_refused_with_column_and_example():
    rows = [[str(i), "2016-01-05", "12.5"] for i in range(50)] + [["x", "2016-01-05", "n/a"]]
    with pytest.raises(ProfileError) as err:
        profile(orders_csv(rows, header=("Order ID", "Order Date", "Sales")))
    assert str(err.value) == (
        "orders file: sales: 1 of 51 values (2.0%) are not numbers (e.g. 'n/a'); "
        "sales is a number column in the data contract, fix these values"
    )


def test_a_fractional_quantity_is_not_truncated():
    rows = [[str(i), "2016-01-05", "2.5"] for i in range(5)]
    with pytest.raises(ProfileError, match=r"quantity: 5 of 5 values .* not whole numbers \(e.g. '2.5'\)"):
        profile(orders_csv(rows, header=("Order ID", "Order Date", "Quantity")))
    p = profile(orders_csv([["1", "2016-01-05", "2.0"]], header=("Order ID", "Order Date", "Quantity")))
    assert p.column("quantity").kind == "integer"


# ----------------------------------------------------------------------------------------- written numbers


@pytest.mark.parametrize(
    ("decimal", "written", "value", "repairs"),
    [
        (".", "261.96", 261.96, []),
        (".", "-41.9136", -41.9136, []),
        (".", "+12.5", 12.5, []),
        (".", "$1,261.96", 1261.96, ["currency stripped", "thousands separators removed"]),
        (".", "1,261.96", 1261.96, ["thousands separators removed"]),
        (".", "1,261,000", 1261000.0, ["thousands separators removed"]),
        (".", "(41.91)", -41.91, ["accounting negative"]),
        (
            ".",
            "($1,261.96)",
            -1261.96,
            ["currency stripped", "thousands separators removed", "accounting negative"],
        ),  # noqa: E501
        (".", "-$41.91", -41.91, ["currency stripped"]),
        (".", "$-41.91", -41.91, ["currency stripped"]),
        (".", "USD 1,261.96", 1261.96, ["currency stripped", "thousands separators removed"]),
        (".", "1261.96 USD", 1261.96, ["currency stripped"]),
        (".", "£5", 5.0, ["currency stripped"]),
        (".", "  +7.5 ", 7.5, []),
        (",", "1.261,96", 1261.96, ["thousands separators removed"]),
        (",", "1.261,96 €", 1261.96, ["currency stripped", "thousands separators removed"]),
        (",", "€ -3,5", -3.5, ["currency stripped"]),
        (",", "EUR 1.000", 1000.0, ["currency stripped", "thousands separators removed"]),
        (",", "261,96", 261.96, []),
        (",", "(0,5)", -0.5, ["accounting negative"]),
    ],
)
def test_numbers_as_people_write_them(decimal, written, value, repairs):
    fmt = csv_profile.NumberFormat(decimal)
    assert fmt.parse(written) == pytest.approx(value)
    assert fmt.repairs(written) == repairs


@pytest.mark.parametrize(
    ("decimal", "written"),
    [
        (".", "1,26.96"),  # grouping not in threes
        (".", "1.261,96"),  # the other decimal mark
        (".", "$"),
        (".", "(41.91"),  # unbalanced
        (".", "(-41.91)"),
        (".", "12 34"),
        (".", "1$2"),
        (".", "n/a"),
        (".", "NaN"),
        (",", "1,261.96"),
        (",", "1.26"),  # a decimal point in a decimal-comma column
    ],
)
def test_what_is_no_number(decimal, written):
    assert csv_profile.NumberFormat(decimal).parse(written) is None


@pytest.mark.parametrize(
    ("values", "decimal", "formatted"),
    [
        (["261.96", "3", "-41.9"], ".", False),
        (["$1,261.96", "$3.00", "($41.91)"], ".", True),
        (["1.261,96", "3", "12,5"], ",", True),
        (["261,96", "3", "12,5"], ",", False),
        (["1,261", "2,000"], ".", True),  # ambiguous alone; a comma-delimited file reads 1,261 as 1261
    ],
)
def test_number_format_per_column(values, decimal, formatted):
    rows = [[str(i), "2016-01-05", f'"{v}"'] for i, v in enumerate(values)]
    p = profile(orders_csv(rows, header=("Order ID", "Order Date", "Sales")))
    assert p.column("sales").number_format == csv_profile.NumberFormat(decimal, formatted)
    assert p.decimal == decimal


def test_decimal_mark_is_per_column():
    text = "Order ID;Order Date;Sales;Discount\n1;2016-01-05;1.261,96;0,2\n2;2016-01-06;3,5;0\n"
    p = profile(text)
    assert p.column("sales").number_format.decimal == p.column("discount").number_format.decimal == ","
    text = "Order ID;Order Date;Sales;Discount\n1;2016-01-05;1,261.96;0.2\n2;2016-01-06;3.5;0\n"
    assert profile(text).column("sales").number_format.decimal == "."


def test_empty_values_are_ignored():
    rows = [["1", "2016-01-05", ""], ["2", "2016-01-06", "4.5"], ["3", "", ""]]
    p = profile(orders_csv(rows, header=("Order ID", "Order Date", "Discount")))
    assert kinds(p) == {"order_id": "string", "order_date": "date", "discount": "double"}


def test_text_column_of_many_rows_is_string():
    rows = [[str(i), "2016-01-05", f"Product {i}", str(i % 7)] for i in range(5000)]
    p = profile(orders_csv(rows, header=("Order ID", "Order Date", "Product Name", "Quantity")))
    assert kinds(p)["product_name"] == "string"
    assert kinds(p)["quantity"] == "integer"


# --------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("head", [b"", b"   \r\n\r\n", b"\xef\xbb\xbf"])
def test_empty(head):
    with pytest.raises(ProfileError, match="^orders file is empty$"):
        profile_bytes(head, kind="orders")


def test_header_only():
    with pytest.raises(ProfileError, match="^orders file has a header but no data rows$"):
        profile_bytes(b"Order ID,Order Date\r\n", kind="orders")
    with pytest.raises(ProfileError, match="^returns file has a header but no data rows$"):
        profile_bytes(b"Returned,Order ID\r\n\r\n", kind="returns")


def test_nul_bytes_are_binary():
    with pytest.raises(ProfileError, match=r"^orders file is not CSV text \(it looks binary\)$"):
        profile_bytes(b"Order ID,Order Date\n1\x00\x00\x002016-01-05\n", kind="orders")


def test_undecodable_garbage_is_binary():
    garbage = bytes((i * 37 + 11) % 256 or 1 for i in range(4096))
    with pytest.raises(ProfileError, match=r"not CSV text \(it looks binary\)"):
        profile_bytes(garbage, kind="returns")


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_xlsx_signature_is_named():
    workbook = zipped({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
    with pytest.raises(ProfileError) as err:
        profile_bytes(workbook, kind="orders")
    assert str(err.value) == "orders file is not CSV text (it looks like an Excel workbook, export it as CSV)"


def test_zip_signature_and_gzip_twice_are_named():
    with pytest.raises(ProfileError, match=r"^returns file is not CSV text \(it looks like a zip archive"):
        profile_bytes(zipped({"returns.csv": b"Order ID\n1\n"}), kind="returns")
    twice = gzip.compress(gzip.compress(b"Order ID,Order Date\n1,2016-01-05\n"))
    with pytest.raises(ProfileError, match=r"^orders file is not CSV text \(it is gzip-compressed twice"):
        profile_bytes(twice, kind="orders")


def test_utf16_without_a_bom_is_refused():
    with pytest.raises(ProfileError, match="looks binary"):
        profile_bytes("Order ID,Order Date\n1,2016-01-05\n".encode("utf-16-le"), kind="orders")


def test_broken_utf16_is_named():
    with pytest.raises(ProfileError, match="UTF-16 byte-order mark but is not valid UTF-16"):
        profile_bytes(b"\xff\xfe" + "Order ID\n".encode("utf-16-le") + b"\x00\xd8A\x00", kind="orders")


def test_missing_column_lists_what_was_found():
    with pytest.raises(ProfileError) as err:
        profile("Returned,Order Number\nYes,CA-1\n", kind="returns")
    assert str(err.value) == "returns file has no order id column (found: returned, order_number)"


def test_missing_both_orders_columns():
    with pytest.raises(
        ProfileError, match=r"^orders file has no order id or order date column \(found: a, b\)$"
    ):
        profile("A,B\n1,2\n")


def test_returns_file_in_the_orders_slot_gets_a_hint():
    with pytest.raises(ProfileError) as err:
        profile("Returned,Order ID\r\nYes,CA-2017-153822\r\n", kind="orders")
    assert str(err.value) == (
        "orders file has no order date column (found: returned, order_id) — is this a returns file?"
    )


def test_orders_file_in_the_returns_slot_gets_a_warning():
    p = profile(
        orders_csv([["1", "2016-01-05", "3.5"]], header=("Order ID", "Order Date", "Sales")), kind="returns"
    )
    assert any("is it an orders file?" in w for w in p.warnings)
    seed_like = profile("Order ID,Return Reason,Return Date\nO104,Defective,2023-08-03\n", kind="returns")
    assert seed_like.warnings == ()


def test_field_count_mismatch():
    rows = [["1", "2016-01-05"], ["2", "2016-01-06", "extra"], ["3"]]
    with pytest.raises(ProfileError) as err:
        profile(orders_csv(rows))
    assert str(err.value) == (
        "orders file: 2 of 3 rows do not have the header's 2 fields (split on comma), e.g. line 3 has 3"
    )
    many = [[str(i), "2016-01-05"] for i in range(300)] + [["x", "2016-01-05", "extra"]]
    p = profile(orders_csv(many))
    assert p.sample_rows == 301
    assert any("1 of 301 rows" in w for w in p.warnings)


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        profile_bytes(b"a\n1\n", kind="customers")


def test_profile_error_is_a_value_error():
    assert issubclass(ProfileError, ValueError)


# --------------------------------------------------------------------------------------------- partial heads


def test_incomplete_head_drops_the_partial_last_line():
    data = orders_csv(
        [[str(i), "2016-01-05", "Chair"] for i in range(10)], header=("Order ID", "Order Date", "P")
    )
    head = data[: len(data) - 4]  # "…,Ch" of the last row
    p = profile_bytes(head, kind="orders", complete=False)
    assert (p.sample_rows, p.complete) == (9, False)
    assert p.preview(20)[-1]["p"] == "Chair"
    assert profile_bytes(data, kind="orders").sample_rows == 10


def test_incomplete_head_cut_inside_a_multibyte_character():
    data = "Order ID,Order Date,City\n1,2016-01-05,Zürich\n2,2016-01-06,Zürich\n".encode()
    cut = data.rindex("ü".encode()) + 1  # between the two bytes of the last ü
    p = profile_bytes(data[:cut], kind="orders", complete=False)
    assert p.encoding == "utf-8"  # not cp1252 because of the cut
    assert p.sample_rows == 1
    assert p.preview()[0]["city"] == "Zürich"


def test_incomplete_head_cut_inside_a_quoted_multiline_field():
    data = b'Order ID,Order Date,Note\n1,2016-01-05,plain\n2,2016-01-06,"first\nsecond\nthird"\n'
    head = data[: data.index(b"second") + 3]
    p = profile_bytes(head, kind="orders", complete=False)
    assert p.sample_rows == 1
    assert p.multiline


def test_incomplete_head_without_a_complete_row():
    with pytest.raises(ProfileError, match="no complete data row in the first 30 bytes read"):
        profile_bytes(b"Order ID,Order Date\n1,2016-01-", kind="orders", complete=False)
    with pytest.raises(ProfileError, match="no complete line"):
        profile_bytes(b"Order ID,Order Da", kind="orders", complete=False)


# --------------------------------------------------------------------------------------------- report


def test_report_is_json():
    p = profile(
        "Order ID;Order Date;Sales\r\n1;1/25/2016;261,96\r\n".encode("cp1252"),
    )
    report = json.loads(json.dumps(p.to_report()))
    assert report["encoding"] == "utf-8"
    assert report["delimiter"] == ";"
    assert report["decimal"] == ","
    assert report["date_formats"] == {"order_date": "M/D/YYYY"}
    assert report["columns"] == [
        {"name": "order_id", "source": "Order ID", "kind": "string"},
        {"name": "order_date", "source": "Order Date", "kind": "date"},
        {"name": "sales", "source": "Sales", "kind": "double"},
    ]
    assert report["sample_rows"] == 1


def test_preview_limits_rows():
    p = profile(orders_csv([[str(i), "2016-01-05"] for i in range(30)]))
    assert len(p.preview()) == 5
    assert len(p.preview(100)) == 30
    assert p.preview(0) == []


def test_required_constant():
    assert csv_profile.REQUIRED == {"orders": ("order_id", "order_date"), "returns": ("order_id",)}


# --------------------------------------------------------------------------------------------- real samples


def read(sample_data, relative: str) -> bytes:
    return (sample_data / relative).read_bytes()


def test_seed_orders(sample_data):
    p = profile_bytes(read(sample_data, "seed/ordercsv.csv"), kind="orders")
    assert (p.encoding, p.delimiter, p.line_terminator, p.sample_rows) == ("utf-8", ",", "\r\n", 20)
    assert p.column("order_date").date_format.label == "YYYY-MM-DD"
    assert p.names == ["order_id", "customer_id", "product_id", "order_date"]


def test_seed_returns(sample_data):
    p = profile_bytes(read(sample_data, "seed/returncsv.csv"), kind="returns")
    assert p.names == ["order_id", "return_reason", "return_date"]
    assert p.column("return_date").date_format.label == "YYYY-MM-DD"
    assert p.sample_rows == 10


def test_us_orders(sample_data):
    p = profile_bytes(read(sample_data, "superstore-us/orders.csv"), kind="orders")
    assert (p.encoding, p.delimiter, p.decimal, p.line_terminator) == ("utf-8", ",", ".", "\n")
    assert p.sample_rows == 9994
    assert p.to_report()["date_formats"] == {"order_date": "M/D/YYYY", "ship_date": "M/D/YYYY"}
    k = kinds(p)
    assert (k["postal_code"], k["sales"], k["quantity"], k["discount"], k["profit"]) == (
        "string",
        "double",
        "integer",
        "double",
        "double",
    )
    assert k["row_id"] == k["order_id"] == "string"
    assert 'Vertical 5-Shelf: 72"H x 36"W x 18 1/2"D' in p.preview(20)[16]["product_name"]
    assert p.warnings == ()


def test_global_orders(sample_data):
    p = profile_bytes(read(sample_data, "superstore-global/orders.csv"), kind="orders")
    assert (p.encoding, p.spark_encoding, p.delimiter, p.line_terminator) == (
        "cp1252",
        "windows-1252",
        ",",
        "\r\n",
    )
    assert p.sample_rows == 51290
    assert p.to_report()["date_formats"] == {"order_date": "DD-MM-YYYY", "ship_date": "DD-MM-YYYY"}
    assert p.column("market").kind == "string"
    assert kinds(p)["postal_code"] == "string"
    assert kinds(p)["shipping_cost"] == "double"
    assert p.warnings == ()


def test_global_orders_8mb_head(sample_data):
    data = read(sample_data, "superstore-global/orders.csv")
    head = data[: 8 * 1024 * 1024]
    assert not head.endswith(b"\n")
    started = time.perf_counter()
    p = profile_bytes(head, kind="orders", complete=False)
    elapsed = time.perf_counter() - started
    whole = profile_bytes(data, kind="orders")
    assert not p.complete and 30000 < p.sample_rows < 51290
    assert p.sample_rows == head.count(b"\n") - 1
    assert p.columns == whole.columns
    assert (p.encoding, p.delimiter, p.decimal) == (whole.encoding, whole.delimiter, whole.decimal)
    assert elapsed < 3, f"profiling an 8 MB head took {elapsed:.2f} s"  # ~0.3 s; guards against blow-ups


@pytest.mark.parametrize(
    ("relative", "names", "rows"),
    [
        ("superstore-us/returns.csv", ["returned", "order_id"], 296),
        ("superstore-global/returns.csv", ["returned", "order_id", "market"], 1172),
    ],
)
def test_returns_samples(sample_data, relative, names, rows):
    p = profile_bytes(read(sample_data, relative), kind="returns")
    assert (p.names, p.sample_rows, p.encoding) == (names, rows, "utf-8")
    assert all(c.kind == "string" for c in p.columns)


def test_returns_sample_in_the_orders_slot(sample_data):
    with pytest.raises(ProfileError, match="is this a returns file"):
        profile_bytes(read(sample_data, "superstore-us/returns.csv"), kind="orders")


# --------------------------------------------------------------------------------------------- gzip

GZ_ORDERS = b"Order ID,Order Date,Sales\n" + b"".join(
    b"O%d,2016-01-%02d,%d.5\n" % (i, i % 28 + 1, i) for i in range(50)
)


def test_a_gzip_file_is_profiled_decompressed():
    plain, packed = (
        profile_bytes(GZ_ORDERS, kind="orders"),
        profile_bytes(gzip.compress(GZ_ORDERS), kind="orders"),
    )
    assert packed.compression == "gzip" and plain.compression is None
    assert packed.to_report() == {**plain.to_report(), "compression": "gzip"}
    assert packed.complete and packed.preview(50) == plain.preview(50)


def test_gzip_members_one_after_another_are_one_file():
    half = GZ_ORDERS.index(b"O25,")
    p = profile_bytes(gzip.compress(GZ_ORDERS[:half]) + gzip.compress(GZ_ORDERS[half:]), kind="orders")
    assert (p.compression, p.complete, p.sample_rows) == ("gzip", True, 50)


def test_a_gzip_bomb_is_profiled_on_a_bounded_head():
    bomb = gzip.compress(GZ_ORDERS + b"O9,2016-01-05,1.5\n" * 3_000_000, compresslevel=9)  # ~57 MB of text
    assert len(bomb) < 200_000
    p = profile_bytes(bomb, kind="orders", max_text_bytes=64 * 1024)
    assert p.compression == "gzip" and not p.complete
    assert p.sample_rows < 64 * 1024 // 18  # no more text than the limit was read


def test_a_partial_gzip_head_is_a_partial_profile():
    data = GZ_ORDERS * 40
    packed = gzip.compress(data)
    p = profile_bytes(packed[: len(packed) // 2], kind="orders", complete=False)
    assert p.compression == "gzip" and not p.complete and 0 < p.sample_rows < data.count(b"\n")


def test_a_truncated_gzip_file_is_refused():
    packed = gzip.compress(GZ_ORDERS)
    with pytest.raises(ProfileError) as err:
        profile_bytes(packed[:-12], kind="orders")  # the whole file, its end cut off
    assert str(err.value) == (
        "orders file is a truncated gzip file (the compressed data ends before the end of its stream); "
        "upload the whole file again"
    )


@pytest.mark.parametrize("where", ["data", "crc"])
def test_a_corrupt_gzip_file_is_refused(where):
    packed = bytearray(gzip.compress(GZ_ORDERS))
    packed[len(packed) // 2 if where == "data" else -6] ^= 0xFF
    with pytest.raises(
        ProfileError, match=r"^returns file is a corrupt gzip file \(Error -3 while decompressing"
    ):
        profile_bytes(bytes(packed), kind="returns")


def chunks(data: bytes, size: int = 1000):
    return (data[i : i + size] for i in range(0, len(data), size))


def test_check_gzip_reads_a_stream_to_its_end():
    packed = gzip.compress(GZ_ORDERS * 200)
    csv_profile.check_gzip(chunks(packed + gzip.compress(b"O1,2016-01-01,1\n")))
    with pytest.raises(ProfileError, match="^orders file is a truncated gzip file"):
        csv_profile.check_gzip(chunks(packed[:-3]), what="orders file")
    broken = bytearray(packed)
    broken[-7] ^= 0x01  # the CRC-32 in the trailer
    with pytest.raises(ProfileError, match="corrupt gzip file .*incorrect data check"):
        csv_profile.check_gzip(chunks(bytes(broken)))
    with pytest.raises(ProfileError, match="corrupt gzip file"):
        csv_profile.check_gzip(chunks(packed + b"junk after the end"))


def test_gunzip_head_keeps_memory_to_its_limit():
    packed = gzip.compress(b"x" * 50_000_000)  # 50 MB of text in ~50 KB
    text, complete = csv_profile.gunzip_head(packed, complete=True, limit=100_000)
    assert (len(text), complete) == (100_000, False)


def test_a_gzip_sample_profiles_as_the_plain_sample(sample_data):
    data = read(sample_data, "superstore-us/orders.csv")
    plain, packed = profile_bytes(data, kind="orders"), profile_bytes(gzip.compress(data), kind="orders")
    assert packed.to_report() == {**plain.to_report(), "compression": "gzip"}
