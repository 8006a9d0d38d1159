"""The Explorer page and its service on the seed run, through Athena on the local AWS.

Expected numbers come from the seed CSVs with pandas, not from the pipeline.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date

import pandas as pd
import pytest
import sqlglot

from services import explorer
from stack import aws
from tests.e2e.console.conftest import page, plain
from tests.unit.test_sql_guard import LEGITIMATE

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def seed_lines(sample_data) -> pd.DataFrame:
    """The seed order lines with is_returned, as the join defines it (order id in the returns file)."""
    orders = pd.read_csv(sample_data / "seed/ordercsv.csv", dtype=str)
    returns = pd.read_csv(sample_data / "seed/returncsv.csv", dtype=str)
    orders["order_date"] = pd.to_datetime(orders["Order Date"]).dt.date
    orders["is_returned"] = orders["Order ID"].isin(set(returns["Order ID"]))
    return orders


def metric(app, label: str) -> str:
    (found,) = [m.value for m in app.metric if m.label == label]
    return found


def opened(console_env):
    app = page("explorer.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_shows_the_published_run_and_all_lines(console_env, seed_run, seed_lines):
    app = opened(console_env)

    run_id = json.loads(seed_run["output"])["glue"]["run_id"]
    assert any(run_id in c.value for c in app.caption)
    captions = plain("\n".join(c.value for c in app.caption))
    assert "Built from:" in captions and f"orders: s3://{console_env.orders_bucket}/console-" in captions
    assert metric(app, "Matching lines") == str(len(seed_lines))
    assert metric(app, "Returned lines") == str(int(seed_lines["is_returned"].sum()))


def test_returned_only(console_env, seed_run, seed_lines):
    app = opened(console_env)

    app.radio(key="explorer_returned").set_value("Returned only").run()

    assert not app.exception
    assert metric(app, "Matching lines") == str(int(seed_lines["is_returned"].sum()))
    assert metric(app, "Return rate") == "100.0%"


def test_order_date_range_and_not_returned(console_env, seed_run, seed_lines):
    start, end = date(2023, 8, 3), date(2023, 8, 10)
    expected = seed_lines[
        seed_lines["order_date"].between(start, end) & ~seed_lines["is_returned"]
    ]  # fmt: skip
    app = opened(console_env)

    app.date_input(key="explorer_dates").set_value((start, end))
    app.radio(key="explorer_returned").set_value("Not returned").run()

    assert not app.exception
    assert 0 < len(expected) < len(seed_lines)
    assert metric(app, "Matching lines") == str(len(expected))
    assert metric(app, "Returned lines") == "0"


def test_sql_box_refuses_drop(console_env, seed_run):
    app = opened(console_env)

    app.text_area(key="explorer_sql").set_value("DROP TABLE joined_data")
    app.button(key="explorer_run_sql").click().run()

    assert [plain(e.value) for e in app.error] == [
        "Query not run. Only SELECT queries are allowed, not DROP statements."
    ]
    assert "explorer_sql_result" not in app.session_state


def test_sql_box_runs_a_select_with_a_limit(console_env, seed_run, seed_lines):
    app = opened(console_env)

    app.text_area(key="explorer_sql").set_value(
        "SELECT order_id FROM joined_data WHERE is_returned ORDER BY 1"
    )
    app.button(key="explorer_run_sql").click().run()

    assert not app.error and not app.exception
    assert app.code[-1].value.endswith(f"LIMIT {explorer.SQL_BOX_MAX_ROWS}")
    run_id, ran, result = app.session_state["explorer_sql_result"]
    assert list(result["order_id"]) == sorted(seed_lines.loc[seed_lines["is_returned"], "Order ID"])
    assert app.download_button(key="explorer_sql_result_csv").label == "Download CSV"


def test_download_buttons(console_env, seed_run):
    app = opened(console_env)

    labels = {b.key: b.label for b in app.download_button}

    assert labels["explorer_rows_csv"] == "Download CSV"
    assert labels["explorer_rows_parquet"] == "Download Parquet"
    assert labels["explorer_view_month_csv"] == "Download CSV"


def test_no_published_table_says_so(console_env, seed_run, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_TABLE", "never_published")

    app = opened(console_env)

    assert [i.value for i in app.info] == ["No run published yet — upload files on the Upload page."]
    assert not app.metric


def published_copy(settings, name: str, run_id: str | None = None) -> None:
    """Publish the seed run's table definition under another table name (as the Glue job's pointer swap
    would), optionally claiming another run id."""
    glue = aws.client(settings, "glue")
    table = glue.get_table(DatabaseName=settings.database, Name=settings.table)["Table"]
    kept = ("StorageDescriptor", "PartitionKeys", "TableType", "Parameters")
    definition = {key: table[key] for key in kept}
    definition["Parameters"] = {**definition["Parameters"], **({"run_id": run_id} if run_id else {})}
    try:
        glue.update_table(DatabaseName=settings.database, TableInput={"Name": name, **definition})
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=settings.database, TableInput={"Name": name, **definition})


def test_a_run_published_after_the_page_said_none_shows_at_once(console_env, seed_run, monkeypatch):
    """A user sees the run succeed and opens the Explorer: the console's cached "nothing published yet"
    (from a page opened seconds before) must not hide it."""
    name = f"published_later_{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("ECOMMERCE_TABLE", name)
    nothing = "No run published yet — upload files on the Upload page."
    assert [i.value for i in opened(console_env).info] == [nothing]

    published_copy(console_env, name)

    app = opened(console_env)
    assert not app.info, [i.value for i in app.info]
    assert f"run **{json.loads(seed_run['output'])['glue']['run_id']}**" in app.caption[0].value


def test_a_run_known_to_have_published_is_read_again(console_env, seed_run):
    """The monitor knows its run published; a cached answer naming another run is re-read, not shown."""
    from services import console

    name = f"republished_{uuid.uuid4().hex[:6]}"
    settings = dataclasses.replace(console_env, table=name)
    published_copy(console_env, name, run_id="earlier-run")
    assert console.published(settings).run_id == "earlier-run"

    published_copy(console_env, name, run_id="later-run")

    assert console.published(settings, expect="later-run").run_id == "later-run"


# --- the service, as the page calls it
# --- the service, as the page calls it


def test_published_run(console_env, seed_run, seed_lines):
    settings = console_env
    glue = aws.client(settings, "glue")

    run = explorer.published_run(settings, glue)

    assert run.run_id == json.loads(seed_run["output"])["glue"]["run_id"]
    assert (run.rows, run.returned_lines) == (len(seed_lines), int(seed_lines["is_returned"].sum()))
    assert run.location.startswith(settings.output_path + f"run_id={run.run_id}")
    assert {"order_id", "order_date", "is_returned", "order_year", "order_month"} <= set(run.columns)
    assert explorer.published_run(dataclasses.replace(settings, table="nope"), glue) is None


def test_a_hostile_filter_value_matches_nothing(console_env, seed_run, seed_lines):
    settings = console_env
    session = aws.session(settings)
    columns = explorer.published_run(settings, aws.client(settings, "glue", session)).columns

    hostile = explorer.summary(
        settings, session, explorer.Filters.of(product_id=["P001' OR '1'='1"]), columns
    )
    honest = explorer.summary(settings, session, explorer.Filters.of(product_id=["P001"]), columns)

    assert hostile == {"lines": 0, "returned_lines": 0}
    assert honest["lines"] == int((seed_lines["Product ID"] == "P001").sum()) > 0


def test_filter_choices_and_month_view(console_env, seed_run, seed_lines):
    settings = console_env
    session = aws.session(settings)
    columns = explorer.published_run(settings, aws.client(settings, "glue", session)).columns

    choices = explorer.filter_choices(settings, session, columns)
    months = explorer.run_view("month", settings, session, explorer.Filters(), columns)

    assert (choices.min_date, choices.max_date) == (
        seed_lines["order_date"].min(),
        seed_lines["order_date"].max(),
    )
    assert list(months["month"]) == ["2023-08"]
    assert int(months["lines"][0]) == len(seed_lines)
    assert months["return_rate"][0] == pytest.approx(seed_lines["is_returned"].mean())


# --- the SQL box's guard against the real engine (#9)


# The corpus is written for the US Superstore's columns; the seed table has fewer, so each maps to one
# of the same kind.
SEED_COLUMNS = {"region": "customer_id", "category": "product_id", "product_name": "product_id",
                "sales": "order_month", "profit": "order_year"}  # fmt: skip


def on_seed_columns(sql: str) -> str:
    def rename(node):
        if isinstance(node, sqlglot.exp.Column) and node.name in SEED_COLUMNS:
            node.set("this", sqlglot.exp.to_identifier(SEED_COLUMNS[node.name]))
        return node

    return sqlglot.parse_one(sql, read="athena").transform(rename).sql(dialect="athena")


@pytest.mark.parametrize("sql", LEGITIMATE)
def test_the_legitimate_corpus_runs_on_athena(console_env, seed_run, sql):
    settings = console_env

    ran, result = explorer.run_select(settings, aws.session(settings), on_seed_columns(sql))

    assert ran.endswith(f"LIMIT {explorer.SQL_BOX_MAX_ROWS}") or " LIMIT " in ran
    assert isinstance(result, pd.DataFrame) and len(result.columns) > 0


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM hr.salaries",
        "WITH a AS (SELECT * FROM information_schema.tables) SELECT * FROM a",
        "SELECT * FROM joined_data, LATERAL read_parquet('.local-aws/athena-cache/*/*.parquet')",
    ],
)
def test_sql_box_refuses_other_tables(console_env, seed_run, sql):
    app = opened(console_env)

    app.text_area(key="explorer_sql").set_value(sql)
    app.button(key="explorer_run_sql").click().run()

    (error,) = [plain(e.value) for e in app.error]
    assert error.startswith("Query not run.") and ("published table" in error or "Table functions" in error)
    assert "explorer_sql_result" not in app.session_state


def test_a_result_over_the_byte_cap_is_refused_before_it_is_read(console_env, seed_run, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_QUERY_RESULT_MAX_BYTES", "20000")  # the page's own results are smaller
    app = opened(console_env)

    app.text_area(key="explorer_sql").set_value("SELECT order_id, repeat('x', 5000) AS wide FROM joined_data")
    app.button(key="explorer_run_sql").click().run()

    (error,) = [plain(e.value) for e in app.error]
    assert "over the console's limit of" in error
    assert "explorer_sql_result" not in app.session_state
