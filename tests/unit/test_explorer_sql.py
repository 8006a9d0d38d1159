"""The Explorer's SQL safety without AWS: the SQL box's read-only check and LIMIT, filters as parameters,
and CSV cells that cannot run as spreadsheet formulas."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest
import sqlglot

from services import explorer
from services.explorer import Filters, UnsafeQuery, where_clause
from stack.settings import Settings


def checked_select(sql: str, max_rows: int = explorer.SQL_BOX_MAX_ROWS) -> str:
    return explorer.checked_select(Settings(), sql, max_rows)


COLUMNS = ("order_id", "order_date", "region", "category", "segment", "sales", "profit", "is_returned",
           "order_year", "order_month")  # fmt: skip


def limit_of(sql: str) -> int:
    tree = sqlglot.parse_one(sql, read="athena")
    return int(tree.args["limit"].expression.this)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM joined_data",
        "select region, count(*) from joined_data group by 1",
        "WITH r AS (SELECT * FROM joined_data WHERE is_returned) SELECT count(*) FROM r",
        "SELECT region FROM joined_data UNION SELECT category FROM joined_data",
        "SELECT 1 INTERSECT SELECT 1",
        "SELECT * FROM joined_data;",
        "(SELECT order_id FROM joined_data) LIMIT 3",
    ],
)
def test_read_only_queries_are_accepted(sql):
    checked = checked_select(sql)

    assert isinstance(sqlglot.parse_one(checked, read="athena"), sqlglot.exp.Query)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DROP TABLE joined_data", "not DROP statements"),
        ("INSERT INTO joined_data SELECT * FROM joined_data", "not INSERT statements"),
        ("DELETE FROM joined_data", "not DELETE statements"),
        ("CREATE TABLE copy AS SELECT * FROM joined_data", "not CREATE statements"),
        ("ALTER TABLE joined_data ADD COLUMNS (x int)", "not ALTER statements"),
        ("UNLOAD (SELECT * FROM joined_data) TO 's3://elsewhere/' WITH (format = 'PARQUET')", "UNLOAD"),
        ("CALL system.sync_partition_metadata('a', 'b', 'FULL')", "CALL"),
        ("MSCK REPAIR TABLE joined_data", "MSCK"),
        ("SELECT 1; DELETE FROM joined_data", "Only one statement is allowed, found 2"),
        ("SELECT 1; SELECT 2", "Only one statement is allowed, found 2"),
        ("WITH gone AS (DELETE FROM joined_data) SELECT 1", "found DELETE in the query"),
        ("SELECT * INTO stolen FROM joined_data", "SELECT … INTO"),
        ("SELECT * FROM joined_data WHERE region = ?", "Parameters (?)"),
        ("SELEC * FROM joined_data", "does not parse"),
        ("   ", "Enter one SELECT query"),
    ],
)
def test_anything_else_is_rejected_with_a_reason(sql, message):
    with pytest.raises(UnsafeQuery, match=None) as raised:
        checked_select(sql)

    assert message in str(raised.value)


def test_a_limit_is_added_when_absent():
    assert limit_of(checked_select("SELECT * FROM joined_data", max_rows=500)) == 500
    assert limit_of(checked_select("SELECT 1 UNION ALL SELECT 2", max_rows=500)) == 500


def test_a_larger_limit_is_lowered_and_a_smaller_one_kept():
    assert limit_of(checked_select("SELECT * FROM joined_data LIMIT 1000000", max_rows=500)) == 500
    assert limit_of(checked_select("SELECT * FROM joined_data LIMIT 7", max_rows=500)) == 7
    assert limit_of(checked_select("SELECT * FROM joined_data LIMIT ALL", max_rows=500)) == 500
    assert (
        limit_of(checked_select("SELECT * FROM joined_data FETCH FIRST 9000 ROWS ONLY", max_rows=500)) == 500
    )


def test_an_inner_limit_does_not_lift_the_outer_one():
    checked = checked_select("SELECT * FROM (SELECT * FROM joined_data LIMIT 99999)", max_rows=500)

    assert limit_of(checked) == 500


# --- filters


def test_filter_values_are_parameters_never_sql_text():
    hostile = "West' OR '1'='1"
    filters = Filters.of(date(2016, 1, 1), date(2016, 12, 31), "returned", region=[hostile, "East"],
                         segment=["Home Office"])  # fmt: skip

    sql, params = where_clause(filters, COLUMNS)

    assert "West" not in sql and "East" not in sql and "Home Office" not in sql and "2016" not in sql
    assert sql == (
        "WHERE order_date BETWEEN ? AND ? AND order_year BETWEEN ? AND ? AND is_returned "
        'AND "region" IN (?, ?) AND "segment" IN (?)'
    )
    assert params == [
        "DATE '2016-01-01'", "DATE '2016-12-31'", "2016", "2016",
        "'West'' OR ''1''=''1'", "'East'", "'Home Office'",
    ]  # fmt: skip
    assert sql.count("?") == len(params)


def test_each_parameter_is_one_literal():
    for value in ("West' OR '1'='1", "a'); DROP TABLE joined_data; --", "O'Brien"):
        literal = explorer.sql_literal(value)
        (parsed,) = sqlglot.parse(literal, read="athena")
        assert isinstance(parsed, sqlglot.exp.Literal) and parsed.this == value


def test_no_filters_no_where():
    assert where_clause(Filters(), COLUMNS) == ("", [])
    assert where_clause(Filters.of(returned="not_returned"), COLUMNS) == ("WHERE NOT is_returned", [])


def test_filter_columns_must_be_table_columns():
    with pytest.raises(ValueError, match="not a column"):
        where_clause(Filters.of(**{"region) OR (1=1": ["x"]}), COLUMNS)
    with pytest.raises(ValueError, match="not a column"):
        where_clause(Filters.of(sub_category=["Paper"]), COLUMNS)


def test_view_sql_carries_the_filter_parameters():
    settings = Settings()
    filters = Filters.of(region=["West"])

    for spec in explorer.available_views(COLUMNS):
        sql, params = explorer.view_sql(spec.key, settings, filters, COLUMNS)
        assert '"ecommerce_analytics"."joined_data"' in sql and "West" not in sql
        assert params == ["'West'"]
        sqlglot.parse_one(sql, read="athena")  # valid Athena SQL


def test_views_need_their_columns():
    keys = {v.key for v in explorer.available_views(("order_id", "order_date", "is_returned", "order_year",
                                                       "order_month"))}  # fmt: skip

    assert keys == {"month"}


# --- downloads


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_name": [
                '=HYPERLINK("http://x")',
                "+1+2",
                "-2+3",
                "@SUM(A1)",
                "\tx",
                "\ry",
                "Chair",
                None,
            ],
            "profit": [-41.5, -1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            "quantity": pd.array([-1, 2, 3, 4, 5, 6, 7, None], dtype="Int64"),
            "is_returned": [True, False, True, False, True, False, True, False],
        }
    )


def test_csv_neutralises_formula_cells_and_keeps_numbers():
    text = explorer.to_csv_bytes(frame()).decode()
    back = pd.read_csv(io.StringIO(text), keep_default_na=False)

    assert list(back["product_name"]) == ["'=HYPERLINK(\"http://x\")", "'+1+2", "'-2+3", "'@SUM(A1)", "'\tx",
                                          "'\ry", "Chair", ""]  # fmt: skip
    assert back["profit"].tolist()[:2] == [-41.5, -1.0]
    first_row = text.split("\r\n")[1]
    assert first_row.endswith(",-41.5,-1,True")  # numbers as they are: unquoted, no prefix


def test_neutralising_leaves_the_frame_alone():
    original = frame()

    explorer.neutralise_formulas(original)

    assert original["product_name"][0].startswith("=")


def test_parquet_round_trips():
    back = pd.read_parquet(io.BytesIO(explorer.to_parquet_bytes(frame())))

    assert back["product_name"][0] == '=HYPERLINK("http://x")'  # Parquet is data, not a spreadsheet
    assert back["profit"][0] == -41.5 and back["quantity"][0] == -1


@pytest.mark.parametrize(
    "reason",
    [
        "Unable to write the query results to s3://ecommerce-processed/athena-results/1b2c.csv: boom",
        "IO Error: No files found that match the pattern "
        '"/home/ops/console/.local-aws/athena-cache/ecommerce-processed/x.parquet"',
        "HIVE_CANNOT_OPEN_SPLIT: Error opening s3a://other-bucket/secret/part-0.parquet",
    ],
)
def test_error_text_names_no_files(reason):
    cleaned = explorer.clean_reason(reason)

    assert "s3://" not in cleaned and "s3a://" not in cleaned
    assert ".local-aws" not in cleaned and "/home/ops" not in cleaned
    assert cleaned.split(" ")[0] == reason.split(" ")[0]  # the kind of error stays


def test_error_text_keeps_the_sentence_around_a_location():
    cleaned = explorer.clean_reason("Unable to write the query results to s3://b/athena-results/1.csv: boom")

    assert cleaned == "Unable to write the query results to <s3 location>: boom"


def test_error_text_keeps_what_helps():
    reason = "SYNTAX_ERROR: line 1:8: Column 'regoin' cannot be resolved; 1/2 done at 10:30"

    assert explorer.clean_reason(reason) == reason


def test_csv_neutralises_the_header_row_too():
    frame = pd.DataFrame([[1, "a"]], columns=['=HYPERLINK("https://evil/x","y")', "@SUM(A1)"])

    header = explorer.to_csv_bytes(frame).decode().split("\r\n")[0]

    assert header == '"\'=HYPERLINK(""https://evil/x"",""y"")",\'@SUM(A1)'


def test_repeated_column_names_are_neutralised_each():
    frame = pd.DataFrame([["=1", "=2"]], columns=["a", "a"])

    assert explorer.to_csv_bytes(frame).decode().split("\r\n")[1] == "'=1,'=2"


def test_chart_labels_from_data_are_shown_as_written():
    evil = "<a href='https://evil/'>click</a><img src=x>"
    frame = pd.DataFrame(
        {"category": [evil, "Office"], "lines": [1, 2], "returned_lines": [1, 0], "return_rate": [1.0, 0.0]}
    )

    figure = explorer.chart("category", frame)

    labels = list(figure.data[0].x)
    assert labels == ["&lt;a href=&#x27;https://evil/&#x27;&gt;click&lt;/a&gt;&lt;img src=x&gt;", "Office"]
    assert "<a" not in figure.to_json() and "<img" not in figure.to_json()
    assert frame["category"][0] == evil  # the caller's frame (and its downloads) keep the value
