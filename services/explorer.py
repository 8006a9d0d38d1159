"""The Explorer's data access: the published run, filtered Athena queries through awswrangler, the SQL box's
read-only check and the download files.

Every query goes through ``run_query`` (``wr.athena.read_sql_query`` without CTAS or UNLOAD, which the local
AWS does not run). Filter values only ever travel as Athena execution parameters (``?`` + ``params``),
never inside the SQL text.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import boto3
import pandas as pd
import run_lineage
from run_lineage import human_size
from sqlglot import exp

from services import sql_guard
from stack.settings import Settings

WRANGLER_SERVICES = ("s3", "athena", "glue", "sts")
DIALECT = sql_guard.DIALECT
SQL_BOX_MAX_ROWS = 10_000
ROWS_PREVIEW_LIMIT = 1_000
TOP_PRODUCTS = 15
# The filters the page offers, in order, when the published table has the column.
FILTER_DIMENSIONS = ("region", "category", "segment")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
ReturnedChoice = Literal["all", "returned", "not_returned"]


class QueryError(Exception):
    """An Athena query that failed, with Athena's reason (cleaned: see ``clean_reason``)."""


UnsafeQuery = sql_guard.UnsafeQuery  # pages catch it from here, with QueryError


# --- awswrangler and the published run -------------------------------------------------------------------


def configure_wrangler(settings: Settings) -> None:
    """Point awswrangler's clients at the settings' endpoint (the local AWS); None = real AWS endpoints.

    awswrangler builds its own clients from the session, so ``stack.aws``'s endpoint does not reach it.
    """
    for service in WRANGLER_SERVICES:
        setattr(wr().config, f"{service}_endpoint_url", settings.endpoint_url)


def wr() -> Any:
    import awswrangler  # slow to import (~1 s): only when a query runs

    return awswrangler


@dataclass(frozen=True)
class PublishedRun:
    """What the Glue table points at now: the run's parameters written by the Glue job's atomic publish."""

    run_id: str
    batch_time: str | None
    rows: int | None
    returned_lines: int | None
    published_at: str | None
    location: str
    columns: tuple[str, ...] = field(default=())  # data columns then partition keys, lower case
    inputs: tuple[run_lineage.InputFile, ...] = field(default=())  # the raw objects it was built from

    def lineage(self) -> list[str]:
        """One line per input file: ``orders: s3://…/orders.csv, version …, 2.0 MB, uploaded …``."""
        return [item.describe() for item in self.inputs]


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def published_run(settings: Settings, glue_client: Any) -> PublishedRun | None:
    """The published run, or None when no run has published the table yet."""
    try:
        table = glue_client.get_table(DatabaseName=settings.database, Name=settings.table)["Table"]
    except glue_client.exceptions.EntityNotFoundException:
        return None
    parameters = table.get("Parameters") or {}
    if not parameters.get("run_id"):
        return None
    descriptor = table.get("StorageDescriptor") or {}
    columns = [*(descriptor.get("Columns") or []), *(table.get("PartitionKeys") or [])]
    return PublishedRun(
        run_id=parameters["run_id"],
        batch_time=parameters.get("batch_time"),
        rows=_int_or_none(parameters.get("rows")),
        returned_lines=_int_or_none(parameters.get("returned_lines")),
        published_at=parameters.get("published_at"),
        location=descriptor.get("Location", ""),
        columns=tuple(c["Name"].lower() for c in columns),
        inputs=tuple(run_lineage.inputs_from_parameters(parameters)),
    )


def run_query(
    settings: Settings, session: boto3.Session, sql: str, params: Sequence[str] | None = None
) -> pd.DataFrame:
    """One Athena query through awswrangler; ``params`` are SQL literals bound to the ``?`` marks.

    The result file is sized before it is read: one over ``settings.query_result_max_bytes`` is refused, so
    a wide result cannot exhaust the console's memory.
    """
    configure_wrangler(settings)
    awswrangler = wr()
    try:
        execution = awswrangler.athena.start_query_execution(
            sql,
            database=settings.database,
            workgroup=settings.athena_workgroup,
            params=list(params) if params else None,
            paramstyle="qmark",
            boto3_session=session,
            wait=True,
        )
    except (awswrangler.exceptions.QueryFailed, awswrangler.exceptions.QueryCancelled) as exc:
        raise QueryError(clean_reason(str(exc))) from exc
    output = (execution.get("ResultConfiguration") or {}).get("OutputLocation")
    if output:
        size = awswrangler.s3.size_objects([output], boto3_session=session).get(output) or 0
        if size > settings.query_result_max_bytes:
            raise QueryError(
                f"The result is {human_size(size)}, over the console's limit of "
                f"{human_size(settings.query_result_max_bytes)}: select fewer columns or rows."
            )
    return awswrangler.athena.get_query_results(execution["QueryExecutionId"], boto3_session=session)


# Where a reason names a file: S3 URIs (other queries' result files), local absolute paths.
_S3_URI = re.compile(r"s3a?://[^\s'\"]*[^\s'\".,:;)]")  # not the punctuation after it
_LOCAL_PATH = re.compile(r"(?<![\w:/])(?:/[\w.@%+=-]+){2,}/?")


def clean_reason(reason: str) -> str:
    """Athena's reason without file names: no local paths, no S3 locations of results or data."""
    return _LOCAL_PATH.sub("<path>", _S3_URI.sub("<s3 location>", reason)).strip()


# --- filters --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the user picked. Hashable, so cached query results are keyed by it."""

    start: date | None = None
    end: date | None = None
    returned: ReturnedChoice = "all"
    # (column, chosen values) pairs; a column with no values is not filtered.
    dimensions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(
        cls,
        start: date | None = None,
        end: date | None = None,
        returned: ReturnedChoice = "all",
        **dimensions: Sequence[str],
    ) -> Filters:
        chosen = tuple((name, tuple(values)) for name, values in dimensions.items() if values)
        return cls(start, end, returned, chosen)


def sql_literal(value: str | int | float | date) -> str:
    """An Athena execution parameter: a SQL literal (Athena binds it as a value, never as SQL)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int | float):
        return repr(value)
    return exp.Literal.string(str(value)).sql(dialect=DIALECT)


def quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=DIALECT)


def table_ref(settings: Settings) -> str:
    return f"{quote(settings.database)}.{quote(settings.table)}"


def where_clause(filters: Filters, columns: Sequence[str]) -> tuple[str, list[str]]:
    """``WHERE …`` with one ``?`` per value and the matching parameters; "" when nothing is filtered.

    Column names are checked against the table's columns, values are parameters.
    """
    conditions: list[str] = []
    params: list[str] = []
    known = set(columns)
    if filters.start is not None or filters.end is not None:
        start, end = filters.start or date.min, filters.end or date.max
        conditions.append("order_date BETWEEN ? AND ?")
        params += [sql_literal(start), sql_literal(end)]
        if {"order_year"} <= known:  # lets Athena prune partitions (partition projection on order_year)
            conditions.append("order_year BETWEEN ? AND ?")
            params += [sql_literal(start.year), sql_literal(end.year)]
    if filters.returned == "returned":
        conditions.append("is_returned")
    elif filters.returned == "not_returned":
        conditions.append("NOT is_returned")
    for name, values in filters.dimensions:
        if not values:
            continue
        if not IDENTIFIER.match(name) or name not in known:
            raise ValueError(f"cannot filter on {name!r}: not a column of the published table")
        conditions.append(f"{quote(name)} IN ({', '.join('?' for _ in values)})")
        params += [sql_literal(v) for v in values]
    if not conditions:
        return "", []
    return "WHERE " + " AND ".join(conditions), params


@dataclass(frozen=True)
class FilterChoices:
    min_date: date | None
    max_date: date | None
    dimensions: dict[str, list[str]]


def filter_choices(settings: Settings, session: boto3.Session, columns: Sequence[str]) -> FilterChoices:
    """Order date bounds and the distinct values of each filter dimension the table has, in one query."""
    # SQL from the quoted table name, fixed text and FILTER_DIMENSIONS names only: no user input.
    table = table_ref(settings)
    parts = [
        f"SELECT 'min_order_date' AS dimension, CAST(min(order_date) AS varchar) AS value FROM {table}",  # noqa: S608
        f"SELECT 'max_order_date' AS dimension, CAST(max(order_date) AS varchar) AS value FROM {table}",  # noqa: S608
    ]
    dimensions = [d for d in FILTER_DIMENSIONS if d in columns]
    for name in dimensions:
        column = quote(name)
        parts.append(
            f"SELECT '{name}' AS dimension, CAST({column} AS varchar) AS value FROM {table} "  # noqa: S608
            f"WHERE {column} IS NOT NULL GROUP BY {column}"
        )
    frame = run_query(settings, session, "\nUNION ALL\n".join(parts))
    values: dict[str, list[str]] = {d: [] for d in dimensions}
    bounds: dict[str, date | None] = {"min_order_date": None, "max_order_date": None}
    for dimension, value in zip(frame["dimension"], frame["value"], strict=True):
        if dimension in bounds:
            bounds[dimension] = date.fromisoformat(str(value)[:10]) if pd.notna(value) else None
        else:
            values[dimension].append(str(value))
    return FilterChoices(
        bounds["min_order_date"], bounds["max_order_date"], {d: sorted(v) for d, v in values.items()}
    )


# --- ready-made views -----------------------------------------------------------------------------------

RETURNED_SALES = "sum(CASE WHEN is_returned THEN sales ELSE 0 END)"
RETURNED_PROFIT = "sum(CASE WHEN is_returned THEN profit ELSE 0 END)"
# Not count_if: on no rows the local AWS's DuckDB gives NULL where Athena gives 0 (FILTER is 0 on both).
RETURNED_LINES = "count(*) FILTER (WHERE is_returned)"
RETURN_RATE = f"CAST({RETURNED_LINES} AS double) / count(*)"


@dataclass(frozen=True)
class View:
    key: str
    title: str
    needs: tuple[str, ...]  # columns the table must have


VIEWS = (
    View("category", "Return rate by category", ("category",)),
    View("sub_category", "Return rate by sub-category", ("sub_category",)),
    View("region", "Return rate by region", ("region",)),
    View("month", "Return rate by month", ("order_year", "order_month")),
    View("top_products", "Top returned products", ("product_name",)),
    View("lost", "Sales and profit lost to returns", ("category", "sales", "profit")),
)


def available_views(columns: Sequence[str]) -> list[View]:
    return [v for v in VIEWS if set(v.needs) <= set(columns)]


def missing_views(columns: Sequence[str]) -> list[tuple[View, list[str]]]:
    return [(v, [c for c in v.needs if c not in columns]) for v in VIEWS if not set(v.needs) <= set(columns)]


def view_sql(
    view: str, settings: Settings, filters: Filters, columns: Sequence[str]
) -> tuple[str, list[str]]:
    """The SQL and parameters of one ready-made view under the filters."""
    # The view is one of VIEWS' keys, the table quoted, filter values `?` parameters: no user text in SQL.
    where, params = where_clause(filters, columns)
    table = table_ref(settings)
    if view in ("category", "sub_category", "region"):
        sql = (
            f"SELECT {view}, count(*) AS lines, {RETURNED_LINES} AS returned_lines, "  # noqa: S608
            f"{RETURN_RATE} AS return_rate FROM {table} {where} GROUP BY {view} ORDER BY return_rate DESC"
        )
    elif view == "month":
        sql = (
            f"SELECT order_year, order_month, count(*) AS lines, {RETURNED_LINES} AS returned_lines, "  # noqa: S608
            f"{RETURN_RATE} AS return_rate FROM {table} {where} "
            "GROUP BY order_year, order_month ORDER BY order_year, order_month"
        )
    elif view == "top_products":
        money = f", {RETURNED_SALES} AS sales_lost" if "sales" in columns else ""
        sql = (
            f"SELECT product_name, {RETURNED_LINES} AS returned_lines, count(*) AS lines{money} "  # noqa: S608
            f"FROM {table} {where} GROUP BY product_name HAVING {RETURNED_LINES} > 0 "
            f"ORDER BY returned_lines DESC, product_name LIMIT {TOP_PRODUCTS}"
        )
    elif view == "lost":
        sql = (
            f"SELECT category, sum(sales) AS sales, {RETURNED_SALES} AS sales_lost, "  # noqa: S608
            f"sum(profit) AS profit, {RETURNED_PROFIT} AS profit_lost "
            f"FROM {table} {where} GROUP BY category ORDER BY sales_lost DESC"
        )
    else:
        raise ValueError(f"unknown view {view!r}")
    return sql, params


def chart(view: str, frame: pd.DataFrame) -> Any:
    """The Plotly figure of a ready-made view; data labels escaped (Plotly reads tags in text)."""
    import plotly.express as px

    frame = plot_safe(frame)
    if view in ("category", "sub_category", "region"):
        figure = px.bar(frame, x=view, y="return_rate", hover_data=["lines", "returned_lines"])
    elif view == "month":
        figure = px.line(
            frame, x="month", y="return_rate", markers=True, hover_data=["lines", "returned_lines"]
        )
        figure.update_xaxes(dtick="M1", tickformat="%b %Y")  # whole months, also for a single point
    elif view == "top_products":
        figure = px.bar(frame, x="returned_lines", y="product_name", orientation="h")
        figure.update_yaxes(autorange="reversed", title=None)
    else:  # lost
        figure = px.bar(frame, x="category", y=["sales_lost", "profit_lost"], barmode="group")
    if "return_rate" in frame:
        figure.update_yaxes(tickformat=".0%", title="return rate")
    figure.update_layout(margin={"t": 10, "b": 10}, height=360)
    return figure


def plot_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells show as written in Plotly: ``<a href>``, ``<img>`` & co. become entities."""
    safe = frame.copy()
    for position in range(safe.shape[1]):  # by position: the SQL box may repeat a column name
        if _is_text(safe.iloc[:, position]):
            safe.isetitem(position, safe.iloc[:, position].map(html.escape, na_action="ignore"))
    return safe


def _is_text(column: pd.Series) -> bool:
    numeric = pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
    return not numeric and (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column))


def run_view(
    view: str, settings: Settings, session: boto3.Session, filters: Filters, columns: Sequence[str]
) -> pd.DataFrame:
    sql, params = view_sql(view, settings, filters, columns)
    frame = run_query(settings, session, sql, params)
    if view == "month" and not frame.empty:
        frame.insert(
            0,
            "month",
            [
                f"{int(y):04d}-{int(m):02d}"
                for y, m in zip(frame["order_year"], frame["order_month"], strict=True)
            ],
        )
    return frame


def summary_sql(settings: Settings, filters: Filters, columns: Sequence[str]) -> tuple[str, list[str]]:
    where, params = where_clause(filters, columns)
    money = ""
    if "sales" in columns:
        money += f", sum(sales) AS sales, {RETURNED_SALES} AS sales_lost"
    if "profit" in columns:
        money += f", sum(profit) AS profit, {RETURNED_PROFIT} AS profit_lost"
    sql = (
        f"SELECT count(*) AS lines, {RETURNED_LINES} AS returned_lines{money} "  # noqa: S608
        f"FROM {table_ref(settings)} {where}"
    )
    return sql, params


def summary(settings: Settings, session: boto3.Session, filters: Filters, columns: Sequence[str]) -> dict:
    """Matching lines, returned lines and (when the table has them) sales and profit, total and lost."""
    sql, params = summary_sql(settings, filters, columns)
    (row,) = run_query(settings, session, sql, params).to_dict("records")
    return {k: (None if pd.isna(v) else v) for k, v in row.items()}


def filtered_rows(
    settings: Settings,
    session: boto3.Session,
    filters: Filters,
    columns: Sequence[str],
    limit: int = ROWS_PREVIEW_LIMIT,
) -> pd.DataFrame:
    where, params = where_clause(filters, columns)
    order = " ORDER BY order_date" if "order_date" in columns else ""
    sql = f"SELECT * FROM {table_ref(settings)} {where}{order} LIMIT {int(limit)}"  # noqa: S608 (quoted table, ? parameters)
    return run_query(settings, session, sql, params)


# --- the SQL box ----------------------------------------------------------------------------------------


def checked_select(settings: Settings, sql: str, max_rows: int = SQL_BOX_MAX_ROWS) -> str:
    """The SQL box's query as it will run, checked by ``services.sql_guard`` (raises ``UnsafeQuery``)."""
    return sql_guard.checked_select(sql, settings.database, settings.table, max_rows)


def run_select(settings: Settings, session: boto3.Session, sql: str, max_rows: int = SQL_BOX_MAX_ROWS):
    """The SQL box: check, limit and run. Returns (the SQL that ran, the rows)."""
    safe = checked_select(settings, sql, max_rows)
    return safe, run_query(settings, session, safe)


# --- downloads ------------------------------------------------------------------------------------------

# OWASP CSV injection: a cell starting with one of these may run as a formula in a spreadsheet.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where text cells and column names that start like a formula get a leading single quote;
    numbers are kept."""
    safe = frame.copy()
    for position in range(safe.shape[1]):  # by position: the SQL box may repeat a column name
        if _is_text(safe.iloc[:, position]):  # not numbers, dates, timestamps
            safe.isetitem(position, safe.iloc[:, position].map(_neutralised, na_action="ignore"))
    # The header row too: a column alias is text the SQL box's user chose.
    safe.columns = [_neutralised(str(name)) for name in safe.columns]
    return safe


def _neutralised(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) else value


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    # CRLF, as RFC 4180 says: the csv writer then also quotes cells holding a bare CR.
    return neutralise_formulas(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
