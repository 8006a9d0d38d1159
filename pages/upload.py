"""Upload: check each team's export the way the Glue job will, stream it to its raw bucket, follow the run."""

import threading

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from services import console, uploads

settings = console.frame()
st.title("Upload")
st.caption(
    "Each team uploads its own export. An upload starts a run that joins the newest orders file with the "
    "newest returns file; when one of them is missing, the run waits for it."
)


@st.cache_data(max_entries=8, show_spinner=False)
def check(kind: str, name: str, file_id: str, _file) -> uploads.CheckedFile | str:
    """The check result for this uploaded file (cached per file id: reruns do not re-read it)."""
    try:
        return uploads.check_file(kind, name, _file, settings)
    except uploads.UploadRefused as exc:
        return str(exc)


def show_check(checked: uploads.CheckedFile) -> None:
    summary = checked.summary()
    cols = st.columns(4)
    cols[0].metric("Rows", f"{checked.rows:,}")
    cols[1].metric("Size", summary["size"])
    cols[2].metric("Encoding", summary["encoding"])
    cols[3].metric("Delimiter", summary["delimiter"])
    st.markdown(
        f"**Date formats:** {summary['date formats']} · **decimal mark:** `{summary['decimal mark']}`"
    )
    st.success(
        f"Required columns present: {', '.join(uploads.csv_profile.REQUIRED[checked.kind])}", icon="✅"
    )
    for warning in checked.profile.warnings:
        st.warning(warning)
    st.dataframe(pd.DataFrame(checked.profile.preview(10)), hide_index=True)


def show_run(kind: str) -> None:
    """The run the latest upload started or joined, with a link to the monitor."""
    with st.spinner("Looking for the run this upload started…"):
        run = uploads.find_run(console.client("s3"), console.client("stepfunctions"), settings)
    if run is None:
        st.warning(
            "No run has started yet. The Execution history page shows it once the upload event arrives."
        )
        return
    st.info(f"Run **{run['name']}** · {run['status']}")
    st.page_link(
        "pages/monitor.py",
        label="Open run in monitor",
        icon="📡",
        query_params={"execution": run["executionArn"]},
    )


def upload_slot(kind: str) -> None:
    label = kind.capitalize()
    uploaded = st.file_uploader(f"{label} CSV", key=f"file-{kind}")
    if uploaded is None:
        return
    result = check(kind, uploaded.name, uploaded.file_id, uploaded)
    if isinstance(result, str):
        st.error(f"Refused: {result}", icon="🚫")
        return
    show_check(result)

    done = st.session_state.setdefault("uploads", {})
    marker = (kind, uploaded.file_id, result.sha256)
    if marker not in done and st.button(f"Upload {kind}", key=f"upload-{kind}", type="primary"):
        bar = st.progress(0.0, text=f"Uploading {result.name}…")
        sent, lock, context = 0, threading.Lock(), get_script_run_ctx()

        def progress(n: int) -> None:  # called from the transfer's worker threads
            nonlocal sent
            add_script_run_ctx(threading.current_thread(), context)
            with lock:
                sent += n
                bar.progress(min(sent / max(result.size, 1), 1.0), text=f"{uploads.human_size(sent)} sent")

        # Recorded before the rerun a double click would cause can read it: one upload per file.
        done[marker] = uploads.upload(console.client("s3"), settings, result, uploaded, progress)
        st.rerun()  # draw the page again without the button
    if marker in done:
        outcome = done[marker]
        if outcome.already_there:
            st.success(f"Already uploaded (same content): `{outcome.uri}`", icon="✅")
        else:
            st.success(f"Uploaded to `{outcome.uri}`", icon="✅")
        show_run(kind)


orders_column, returns_column = st.columns(2, gap="large")
with orders_column:
    st.subheader("Orders")
    upload_slot("orders")
with returns_column:
    st.subheader("Returns")
    upload_slot("returns")
