"""Explorer: the published table through Athena: filters, ready-made views, an SQL box and downloads."""

from __future__ import annotations

import botocore.exceptions
import pandas as pd
import streamlit as st

from services import console, explorer
from services.console import Settings

DOWNLOAD_LIMIT = 100_000
RETURNED_CHOICES = {"All lines": "all", "Returned only": "returned", "Not returned": "not_returned"}

settings = console.frame()
settings_key = repr(settings)


# Query results are cached by run id: a new published run is a new key, so nothing stale survives a publish.
@st.cache_data(ttl=600, show_spinner="Loading the filter choices…")
def choices(settings_key: str, run_id: str, columns: tuple[str, ...], _settings: Settings):
    return explorer.filter_choices(_settings, console.session(_settings), columns)


@st.cache_data(ttl=600, show_spinner=False)
def summary(settings_key: str, run_id: str, filters: explorer.Filters, columns: tuple[str, ...], _settings):
    return explorer.summary(_settings, console.session(_settings), filters, columns)


@st.cache_data(ttl=600, show_spinner=False)
def view(settings_key: str, run_id: str, key: str, filters: explorer.Filters, columns: tuple, _settings):
    return explorer.run_view(key, _settings, console.session(_settings), filters, columns)


@st.cache_data(ttl=600, show_spinner=False)
def preview(settings_key: str, run_id: str, filters: explorer.Filters, columns: tuple, _settings):
    return explorer.filtered_rows(_settings, console.session(_settings), filters, columns)


def download_buttons(name: str, frame: pd.DataFrame | None, key: str, rows=None) -> None:
    """CSV and Parquet buttons; ``rows`` (a callable) fetches the rows only when a button is clicked."""
    fetch = rows or (lambda: frame)
    csv, parquet = st.columns(2)
    csv.download_button(
        "Download CSV", lambda: explorer.to_csv_bytes(fetch()), file_name=f"{name}.csv", mime="text/csv",
        key=f"{key}_csv", on_click="ignore", icon="📄",
    )  # fmt: skip
    parquet.download_button(
        "Download Parquet", lambda: explorer.to_parquet_bytes(fetch()), file_name=f"{name}.parquet",
        mime="application/vnd.apache.parquet", key=f"{key}_parquet", on_click="ignore", icon="🧱",
    )  # fmt: skip


st.title("Explorer")

try:
    run = console.published(settings)
except console.UNREACHABLE as exc:
    console.lost_connection(settings, exc)
except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
    st.error(f"Cannot read the table {settings.database}.{settings.table} from the Glue catalog: {exc}")
    st.stop()
if run is None:
    st.info("No run published yet — upload files on the Upload page.", icon="📭")
    st.page_link("pages/upload.py", label="Go to Upload", icon="⬆️")
    st.stop()

st.caption(
    f"Table `{settings.database}.{settings.table}` · run **{run.run_id}** · batch {run.batch_time} · "
    f"{run.rows if run.rows is not None else '?'} lines, "
    f"{run.returned_lines if run.returned_lines is not None else '?'} returned · "
    f"published {run.published_at} · `{run.location}`"
)
st.caption(console.lineage_markdown(run))
columns = run.columns

# --- filters
try:
    options = choices(settings_key, run.run_id, columns, settings)
except explorer.QueryError as exc:
    st.error(f"Athena could not read the table: {console.escape_markdown(str(exc))}")
    st.stop()

with st.container(border=True):
    left, middle, right = st.columns([2, 1, 3])
    dates = ()
    if options.min_date and options.max_date:
        dates = left.date_input(
            "Order date",
            value=(options.min_date, options.max_date),
            min_value=options.min_date,
            max_value=options.max_date,
            key="explorer_dates",
        )
    returned = middle.radio("Lines", list(RETURNED_CHOICES), key="explorer_returned")
    chosen: dict[str, list[str]] = {}
    dimension_columns = right.columns(max(1, len(options.dimensions)))
    for place, (name, values) in zip(dimension_columns, options.dimensions.items(), strict=False):
        chosen[name] = place.multiselect(
            name.replace("_", " ").capitalize(), values, placeholder="All", key=f"explorer_{name}"
        )

start = end = None
if len(dates) == 2 and tuple(dates) != (options.min_date, options.max_date):
    start, end = dates
elif len(dates) == 1:  # the second date is still being picked
    start = dates[0]
filters = explorer.Filters.of(start, end, RETURNED_CHOICES[returned], **chosen)

# --- summary
try:
    totals = summary(settings_key, run.run_id, filters, columns, settings)
except explorer.QueryError as exc:
    st.error(f"Athena could not run the query: {console.escape_markdown(str(exc))}")
    st.stop()
lines, returned_lines = int(totals["lines"]), int(totals["returned_lines"] or 0)
with console.metric_row():
    st.metric("Matching lines", f"{lines:,}", width="content")
    st.metric("Returned lines", f"{returned_lines:,}", width="content")
    st.metric("Return rate", f"{returned_lines / lines:.1%}" if lines else "–", width="content")
    if "sales_lost" in totals:
        st.metric("Sales lost to returns", f"{totals['sales_lost'] or 0:,.2f}", width="content")
    if "profit_lost" in totals:
        st.metric("Profit lost to returns", f"{totals['profit_lost'] or 0:,.2f}", width="content")

# --- ready-made views
views = explorer.available_views(columns)
if views and lines:
    for tab, spec in zip(st.tabs([v.title for v in views]), views, strict=True):
        with tab:
            try:
                frame = view(settings_key, run.run_id, spec.key, filters, columns, settings)
            except explorer.QueryError as exc:
                st.error(f"Athena could not run this view: {console.escape_markdown(str(exc))}")
                continue
            if frame.empty:
                st.info("No lines match the filters.")
                continue
            st.plotly_chart(explorer.chart(spec.key, frame), key=f"explorer_chart_{spec.key}")
            st.dataframe(frame, hide_index=True)
            download_buttons(spec.key, frame, key=f"explorer_view_{spec.key}")
unavailable = explorer.missing_views(columns)
if unavailable:
    st.caption(
        "Not available for this table: "
        + "; ".join(f"{v.title.lower()} (no {', '.join(missing)} column)" for v, missing in unavailable)
        + "."
    )

# --- matching lines
st.subheader("Matching lines")
try:
    rows = preview(settings_key, run.run_id, filters, columns, settings)
except explorer.QueryError as exc:
    st.error(f"Athena could not read the matching lines: {console.escape_markdown(str(exc))}")
    st.stop()
st.caption(
    f"The first {min(len(rows), explorer.ROWS_PREVIEW_LIMIT):,} of {lines:,} by order date. "
    f"Downloads hold up to {DOWNLOAD_LIMIT:,} lines."
)
st.dataframe(rows, hide_index=True)
download_buttons(
    "joined_data",
    None,
    key="explorer_rows",
    rows=lambda: explorer.filtered_rows(
        settings, console.session(settings), filters, columns, DOWNLOAD_LIMIT
    ),
)

# --- the SQL box
st.subheader("SQL")
st.caption(
    f"One read-only SELECT on database `{settings.database}` (Athena SQL). "
    f"At most {explorer.SQL_BOX_MAX_ROWS:,} rows come back: a LIMIT is added or lowered."
)
sql = st.text_area(
    "Query",
    value=f"SELECT * FROM {settings.table} WHERE is_returned LIMIT 100",  # noqa: S608 (a suggestion; sql_guard checks what runs)
    height=120,
    key="explorer_sql",
)
if st.button("Run query", key="explorer_run_sql", type="primary"):
    st.session_state.pop("explorer_sql_result", None)
    try:
        ran, result = explorer.run_select(settings, console.session(settings), sql)
    except explorer.UnsafeQuery as exc:
        st.error(f"Query not run. {console.escape_markdown(str(exc))}", icon="🚫")
    except explorer.QueryError as exc:
        st.error(f"Athena could not run the query: {console.escape_markdown(str(exc))}")
    else:
        st.session_state["explorer_sql_result"] = (run.run_id, ran, result)
if "explorer_sql_result" in st.session_state:
    result_run, ran, result = st.session_state["explorer_sql_result"]
    st.code(ran, language="sql")
    st.caption(f"{len(result):,} row(s) from run {result_run}.")
    st.dataframe(result, hide_index=True)
    download_buttons("query", result, key="explorer_sql_result")
