"""Upload: check each team's export the way the Glue job will; the browser sends it straight to S3."""

import base64

import pandas as pd
import streamlit as st

from services import console, demo_data, uploads

settings = console.frame()
st.title("Upload")
if not console.require_operator(settings):  # read-only console: says why
    st.stop()
st.caption(
    "Each team uploads its own export. An upload starts a run that joins the newest orders file with the "
    "newest returns file; when one of them is missing, the run waits for it. CSV files may be "
    "gzip-compressed (`.csv.gz`). Files go from your browser straight to S3, in parts."
)
with st.expander("No export at hand? Download demo files"):
    st.caption(
        "A made-up orders export in the US Superstore's columns and its returns export: download both, then "
        "put each in its slot below. The same files every time (`make demo-data` writes them too)."
    )
    demo_orders, demo_returns = st.columns(2)
    # Generated only when clicked (services/demo_data: pure, in memory, a few hundred KB).
    demo_orders.download_button(
        "Demo orders CSV", demo_data.orders_csv, file_name="demo-orders.csv", mime="text/csv",
        key="demo-orders", on_click="ignore", icon="📄",
    )  # fmt: skip
    demo_returns.download_button(
        "Demo returns CSV", demo_data.returns_csv, file_name="demo-returns.csv", mime="text/csv",
        key="demo-returns", on_click="ignore", icon="📄",
    )  # fmt: skip


@st.cache_data(max_entries=8, show_spinner=False)
def check(
    kind: str, token: str, name: str, size: int, rows: int, _head: str, unreadable: str | None
) -> uploads.CheckedFile | str:
    """The check result for one chosen file (cached per token: reruns do not profile it again)."""
    try:
        head = base64.b64decode(_head)
        return uploads.check_head(kind, name, size, head, rows, settings, unreadable=unreadable)
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
        f"**Date formats:** {summary['date formats']} · **decimal mark:** `{summary['decimal mark']}` · "
        f"**compression:** {summary['compression']} · **repairs:** {summary['repairs']}"
    )
    st.success(
        f"Required columns present: {', '.join(uploads.csv_profile.REQUIRED[checked.kind])}", icon="✅"
    )
    for warning in checked.profile.warnings:
        st.warning(warning)
    st.dataframe(pd.DataFrame(checked.profile.preview(10)), hide_index=True)


def show_run() -> None:
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
    plans = st.session_state.setdefault("upload_plans", {})  # token → DirectUpload in flight
    done = st.session_state.setdefault("uploads", {})  # token → UploadResult
    slot_key = f"upload-{kind}"
    previous = (st.session_state.get(slot_key) or {}).get("picked") or {}
    plan = plans.get(previous.get("token"))
    state = console.s3_upload(
        slot_key, f"{kind.capitalize()} CSV", uploads.PROFILE_HEAD_BYTES, plan.for_browser() if plan else None
    )
    picked = state.picked
    if not picked:
        return
    token = picked["token"]
    s3 = console.client("s3")
    # Another file in the slot: the previous file's upload will never complete, abort it now.
    for stale in uploads.abandon_plans(s3, plans, kind, keep=token):
        st.caption(f"Cancelled the unfinished upload of `{stale.key}`.")
    result = check(
        kind, token, picked["name"], picked["size"], picked["rows"], picked["head"], picked.get("unreadable")
    )
    if isinstance(result, str):
        st.error(f"Refused: {console.escape_markdown(result)}", icon="🚫")
        return
    show_check(result)

    plan = plans.get(token)
    if plan is not None and state.uploaded and state.uploaded.get("upload_id") == plan.upload_id:
        try:
            done[token] = uploads.finish_upload(s3, plans.pop(token))
        except uploads.UploadRefused as exc:
            st.error(console.escape_markdown(str(exc)), icon="🚫")
    elif plan is not None and state.failed and state.failed.get("upload_id") == plan.upload_id:
        uploads.abort_upload(s3, plans.pop(token))
        failed = console.escape_markdown(str(state.failed.get("error")))
        st.error(f"The upload failed: {failed}. Nothing was stored; try again.", icon="🚫")

    if token in done:
        st.success(f"Uploaded to `{done[token].uri}`", icon="✅")
        show_run()
    elif token in plans:
        st.caption("Uploading from your browser… keep this page open.")
    elif st.button(f"Upload {kind}", key=f"start-{kind}", type="primary"):
        uploads.abandon_plans(s3, plans, kind)  # a plan this one replaces is aborted, never left behind
        try:
            plan = uploads.start_upload(s3, settings, result)
        except uploads.UploadRefused as exc:
            st.error(f"Refused: {console.escape_markdown(str(exc))}", icon="🚫")
            return
        # Recorded before the rerun, so a double click finds the plan and does not start a second upload.
        plans[token] = plan
        st.rerun()


orders_column, returns_column = st.columns(2, gap="large")
with orders_column:
    st.subheader("Orders")
    upload_slot("orders")
with returns_column:
    st.subheader("Returns")
    upload_slot("returns")
