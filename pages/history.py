"""Execution history: filter the ETL runs, KPIs, duration over time, and open a run in the monitor."""

from datetime import UTC, datetime

import pandas as pd
import plotly.express as px
import streamlit as st
from botocore.exceptions import ClientError

from services import console, execution_reads, history

CATEGORY_COLOURS = {
    "processed": "#2e7d32",
    "failed": "#c62828",
    "running": "#1565c0",
    "waiting for orders": "#90caf9",
    "waiting for returns": "#90caf9",
    "superseded": "#9e9e9e",
    "export missing": "#ef6c00",
}
OUTCOME_COLOURS = {
    "SUCCEEDED": "#2e7d32",
    "FAILED": "#c62828",
    "TIMED_OUT": "#ef6c00",
    "ABORTED": "#757575",
    "RUNNING": "#1565c0",
    "PENDING_REDRIVE": "#6a1b9a",
}

settings = console.frame()
st.title("Execution history")


@st.cache_data(ttl=30, show_spinner="Loading executions…")
def load_runs(settings_key: str, limit: int):
    sfn = console.client("stepfunctions", settings)
    return history.runs_frame(sfn, execution_reads.state_machine_arn(sfn, settings), limit=limit)


@st.cache_data(ttl=30, show_spinner=False)
def load_uploads(settings_key: str) -> list:
    return history.list_uploads(console.client("s3", settings), settings)


filters = st.columns([3, 2, 3, 1, 1])
statuses = filters[0].multiselect("Status", history.STATUSES, default=list(history.STATUSES))
preset = filters[1].selectbox("Started", history.DATE_PRESETS, index=1)
file_name = filters[2].text_input("File name contains", placeholder="e.g. orders.csv")
limit = filters[3].selectbox("Newest", [100, 200, 500], index=1, help="How many executions to load")
if filters[4].button("Refresh", icon="🔄"):
    load_runs.clear()
    load_uploads.clear()

try:
    all_runs = load_runs(repr(settings), limit)
except (LookupError, ClientError) as exc:
    st.error(f"Cannot list executions: {exc}")
    st.stop()

runs = history.filter_runs(all_runs, statuses, history.preset_since(preset, datetime.now(UTC)), file_name)
kpis = history.kpis(runs)
with console.metric_row():
    st.metric("Runs", kpis.runs, width="content")
    st.metric(
        "Success rate",
        "–" if kpis.success_rate is None else f"{kpis.success_rate:.0%}",
        help="Of the runs that processed files: waiting, superseded and export-missing runs are not failures",
        width="content",
    )
    st.metric("p50 duration", "–" if kpis.p50_s is None else f"{kpis.p50_s:,.1f} s", width="content")
    st.metric("p90 duration", "–" if kpis.p90_s is None else f"{kpis.p90_s:,.1f} s", width="content")
    per_day = "–" if kpis.runs_per_day is None else f"{kpis.runs_per_day:,.1f}"
    st.metric("Runs per day", per_day, width="content")
    waiting_help = "Lone uploads parked until their counterpart arrives"
    st.metric("Waiting", kpis.waiting, help=waiting_help, width="content")
    st.metric(
        "Superseded", kpis.superseded, help="Waiting runs that a newer upload took over", width="content"
    )
    missing_help = "The counterpart never came within the window"
    st.metric("Export missing", kpis.export_missing, help=missing_help, width="content")

if runs.empty:
    st.info(f"No runs match these filters ({len(all_runs)} loaded).")
    st.stop()

chart = px.scatter(
    runs[runs["category"].isin(history.PROCESSING)].dropna(subset=["duration_s"]),
    x="start",
    y="duration_s",
    color="category",
    color_discrete_map=CATEGORY_COLOURS,
    hover_data=["name", "status", "orders_key", "returns_key"],
    labels={"start": "Started (UTC)", "duration_s": "Duration (s)", "category": "Outcome"},
)
chart.update_layout(height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10})
chart.update_xaxes(tickformat="%b %d %H:%M")
if runs["start"].nunique() == 1:  # one point: plotly would zoom to milliseconds around it
    only = runs["start"].iloc[0]
    chart.update_xaxes(range=[only - pd.Timedelta(hours=1), only + pd.Timedelta(hours=1)])
st.plotly_chart(chart, width="stretch")

pager = st.columns([1, 1, 4])
size = pager[0].selectbox("Rows per page", [10, 25, 50, 100], index=1)
pages = history.page_count(len(runs), size)
number = pager[1].number_input("Page", min_value=1, max_value=pages, value=1, step=1)
pager[2].caption(f"{len(runs)} runs · page {number} of {pages} · select a row to open it in the monitor")

page = history.page_of(runs, int(number), size)
selection = st.dataframe(
    execution_reads.naive_utc(
        page[["name", "category", "status", "start", "duration_s", "orders_key", "returns_key"]]
    ),
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key="history_table",
    column_config={
        "start": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
        "orders_key": "orders file",
        "returns_key": "returns file",
        "category": "outcome",
    },
)

# Every upload is in a run or superseded by one (ADR 0004): a burst leaves nothing silently ignored.
st.subheader("Uploads")
try:
    uploads = history.uploads_frame(load_uploads(repr(settings)), all_runs)
except ClientError as exc:
    st.warning(f"Cannot list the uploads: {exc}")
else:
    st.dataframe(
        execution_reads.naive_utc(uploads),
        hide_index=True,
        width="stretch",
        key="uploads_table",
        column_config={
            "uploaded_at": st.column_config.DatetimeColumn(
                "uploaded (UTC)", format="YYYY-MM-DD HH:mm:ss.SSS"
            ),
            "superseded_by": "superseded by run",
        },
    )
chosen = selection.selection.rows if selection else []
if chosen:
    st.switch_page("pages/monitor.py", query_params={"execution": page.loc[chosen[0], "arn"]})
