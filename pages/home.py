"""Home: pipeline health at a glance, the published table, shortcuts."""

from datetime import UTC, datetime

import streamlit as st
from botocore.exceptions import BotoCoreError, ClientError

from services import console, health

settings = console.frame()
st.title("Orders & Returns pipeline")
now = datetime.now(UTC)

try:
    runs = console.runs()
    published = console.published()
except LookupError as exc:  # nothing deployed yet
    st.warning(f"{exc} Deploy it from the Admin page.")
    st.page_link("pages/admin.py", label="Admin", icon="🛠️")
    st.stop()
except console.UNREACHABLE as exc:
    console.lost_connection(settings, exc)
except (BotoCoreError, ClientError) as exc:
    st.error(f"Cannot read the pipeline's state: {exc}", icon="🚫")
    st.stop()

state = health.health(runs, now)
st.subheader("Pipeline health")
with console.metric_row():
    st.metric("Last run", state.last_status or "no runs yet", help=state.last_name, width="content")
    last_publish = health.age(published.published_at if published else None, now)
    st.metric("Last successful publish", last_publish, width="content")
    st.metric("Runs today", state.runs_today, width="content")
    st.metric(
        "Success rate (7 days)",
        "–" if state.success_rate_7d is None else f"{state.success_rate_7d:.0%}",
        help=f"{state.ended_7d} ended runs",
        width="content",
    )
if state.last_status == "FAILED":
    st.error(f"The last run, {console.escape_markdown(state.last_name)}, failed.", icon="🚨")
if state.last_arn:
    st.page_link(
        "pages/monitor.py", label="Open the last run", icon="📡", query_params={"execution": state.last_arn}
    )

st.subheader("Published table")
if published is None:
    st.info("No run has published the table yet: upload an orders and a returns file.")
else:
    with console.metric_row():
        st.metric("Rows", f"{published.rows:,}" if published.rows is not None else "–", width="content")
        returned = published.returned_lines
        st.metric("Returned lines", f"{returned:,}" if returned is not None else "–", width="content")
        st.metric("Run", published.run_id, width="content")
    st.caption(
        f"`{settings.database}.{settings.table}` · batch {published.batch_time} · "
        f"published {published.published_at} · {published.location}"
    )
    st.caption(console.lineage_markdown(published))

st.subheader("Go to")
cols = st.columns(5)
cols[0].page_link("pages/upload.py", label="Upload files", icon="⬆️")
cols[1].page_link("pages/monitor.py", label="Run monitor", icon="📡")
cols[2].page_link("pages/history.py", label="Execution history", icon="🕘")
cols[3].page_link("pages/explorer.py", label="Explore the data", icon="🔎")
cols[4].page_link("pages/admin.py", label="Admin", icon="🛠️")
