"""Run monitor: one execution live (state graph, per-state table, Glue run, quality report, actions).

Opens the execution named by the ``execution`` query parameter (its ARN); without one, the latest run (a
running one first). A picker of recent runs switches between them and puts the chosen one in the URL.
"""

from datetime import UTC, datetime

import streamlit as st
from botocore.exceptions import BotoCoreError, ClientError

from services import console, execution_reads, run_detail

REFRESH_SECONDS = 2.0
PICKER = "monitor_run"  # the run picker's widget key
STATUS_ICONS = {"RUNNING": "🔵", "SUCCEEDED": "🟢", "FAILED": "🔴", "TIMED_OUT": "🟠", "ABORTED": "⚪"}

settings = console.frame()
sfn = console.client("stepfunctions")
st.title("Run monitor")


@st.cache_data(ttl=10, show_spinner=False)
def recent(settings_key: str) -> list[dict]:
    machine = execution_reads.state_machine_arn(sfn, settings)
    return execution_reads.list_executions(sfn, machine, limit=100)


def pick_execution() -> str:
    """The run named by ``?execution=``, else the latest (a running one first), with a picker of recent
    runs; picking one puts it in the URL, so that the URL is a bookmark of that run."""
    try:
        listed = recent(repr(settings))
    except LookupError as exc:  # nothing deployed yet
        st.warning(f"{exc} Deploy it from the Admin page.")
        st.page_link("pages/admin.py", label="Admin", icon="🛠️")
        st.stop()
    named = st.query_params.get("execution")
    latest = execution_reads.latest(listed)
    if named is None and latest is None:
        st.info(
            "No runs yet: upload an orders and a returns file on the Upload page to start one.",
            icon="📭",
        )
        st.page_link("pages/upload.py", label="Go to Upload", icon="⬆️")
        st.stop()
    shown = named or latest["executionArn"]
    labels = {
        e["executionArn"]: f"{STATUS_ICONS.get(e['status'], '')} {e['name']} · {e['status']} · "
        f"{e['startDate']:%Y-%m-%d %H:%M:%S}"
        for e in listed
    }
    options = list(labels) if shown in labels else [shown, *labels]  # a bookmark older than the list
    # The URL decides which run is shown; the picker follows it, and a pick goes into the URL.
    if st.session_state.get(PICKER) != shown:
        st.session_state[PICKER] = shown
    chosen = st.selectbox(
        "Run (newest first)",
        options,
        key=PICKER,
        format_func=lambda arn: labels.get(arn, arn.rsplit(":", 1)[-1]),
        on_change=lambda: st.query_params.update(execution=st.session_state[PICKER]),
    )
    if named is None:
        which = "the running run" if latest["status"] == "RUNNING" else "the newest run"
        st.caption(f"No run in the link: showing {which}. Pick another above; the URL then names it.")
    return chosen


def duration(start: datetime, stop: datetime | None) -> str:
    seconds = ((stop or datetime.now(UTC)) - start).total_seconds()
    return f"{seconds:,.1f} s"


def header(described: dict, outcome: str) -> None:
    status = described["status"]
    st.markdown(f"### {STATUS_ICONS.get(status, '')} `{described['name']}`")
    with console.metric_row():
        st.metric("Status", status, width="content")
        # A parked run is waiting, not stuck; a superseded or export-missing one did not fail (ADR 0004).
        st.metric("Outcome", outcome, width="content")
        st.metric("Started (UTC)", f"{described['startDate']:%Y-%m-%d %H:%M:%S}", width="content")
        st.metric("Duration", duration(described["startDate"], described.get("stopDate")), width="content")
    if described.get("redriveCount"):  # the same execution, resumed: its history holds every attempt
        st.caption(
            f"Redriven {described['redriveCount']}× · last redrive "
            f"{described['redriveDate']:%Y-%m-%d %H:%M:%S} UTC"
        )


def failure_banner(failure: run_detail.Failure) -> None:
    where = failure.failed_state
    if failure.graph_state and failure.graph_state != failure.failed_state:
        where += f" (seen in state {failure.graph_state})"
    where, error, cause = (console.escape_markdown(text) for text in (where, failure.error, failure.cause))
    st.error(f"**Failed state: {where}** · **{error}**\n\n{cause}", icon="🚨")


def state_section(asl: dict, rows: list, failure: run_detail.Failure | None) -> None:
    statuses = run_detail.mark_failure(run_detail.state_statuses(asl, rows), failure)
    legend = " · ".join(
        f"<span style='color:{colour}'>■</span> {status}"
        for status, colour in run_detail.STATE_COLOURS.items()
    )
    graph, table = st.columns([2, 3])
    with graph:
        # The run's path at its natural size (readable); the whole machine is too wide for a column.
        st.graphviz_chart(run_detail.dot_graph(asl, statuses, path_only=True), width="content")
        st.caption(legend, unsafe_allow_html=True)
    with table:
        st.dataframe(
            execution_reads.naive_utc(run_detail.state_frame(rows, failure)),
            hide_index=True,
            width="stretch",
            column_config={
                "entered": st.column_config.DatetimeColumn("entered (UTC)", format="HH:mm:ss.SSS"),
                "exited": st.column_config.DatetimeColumn("exited (UTC)", format="HH:mm:ss.SSS"),
                "duration_s": st.column_config.NumberColumn("duration (s)", format="%.3f"),
                "visits": st.column_config.NumberColumn(help="Times the state was entered (polling loops)"),
                "retries": st.column_config.NumberColumn(help="Task attempts beyond the first (Retry)"),
            },
        )
    with st.expander("Every state of the state machine (the ways this run did not take in grey)"):
        st.graphviz_chart(run_detail.dot_graph(asl, statuses), width="content")
        st.caption(legend, unsafe_allow_html=True)


def glue_section(reference: dict | None) -> None:
    st.subheader("Glue run")
    if reference is None:
        st.caption("No Glue run yet: TriggerGlueJob has not run.")
        return
    try:
        run = run_detail.glue_run(console.client("glue"), reference["job_name"], reference["job_run_id"])
    except ClientError as exc:
        st.warning(f"Glue run {reference['job_run_id']}: {console.escape_markdown(str(exc))}")
        return
    with console.metric_row():
        st.metric("State", run["state"] or "?", width="content")
        duration_s = run["duration_s"]
        st.metric("Duration", f"{duration_s} s" if duration_s is not None else "–", width="content")
    st.caption(
        f"Job `{reference['job_name']}` · job run id `{run['id']}` · run_id `{reference.get('run_id')}`"
    )
    if run["error"]:
        st.error(f"Glue error: {console.escape_markdown(str(run['error']))}")


def run_report(reference: dict | None) -> dict | None:
    if reference is None or not reference.get("run_id"):
        return None
    return run_detail.quality_report(console.client("s3"), settings, reference["run_id"])


PUBLICATION_BOXES = {"live": st.success, "replaced": st.info, "pending": st.info, "not published": st.warning}


def publication_section(category: str, reference: dict | None, report: dict | None, failure) -> None:
    """What this run did to the published table: the run it published (live or since replaced), or why
    it published nothing."""
    run_id = (reference or {}).get("run_id")
    try:
        live = console.published(settings, expect=run_id if report and report.get("published") else None)
    except (BotoCoreError, ClientError):
        live = None
    found = run_detail.publication(category, run_id, report, live.run_id if live else None, failure)
    PUBLICATION_BOXES[found.outcome](console.escape_markdown(found.text), icon="🗂️")
    if found.outcome == "live":
        st.page_link("pages/explorer.py", label="Explore the published data", icon="🔎")


def quality_section(reference: dict | None, report: dict | None) -> None:
    st.subheader("Data quality")
    if reference is None or not reference.get("run_id"):
        st.caption("No report yet.")
        return
    uri = run_detail.quality_report_uri(settings, reference["run_id"])
    if report is None:
        st.caption(f"No report at {uri} (yet).")
        return
    labels = {
        "rows_in": "rows in",
        "rows_out": "rows out",
        "returned_lines": "returned",
        "unmatched_returns": "unmatched",
        "quarantined_lines": "quarantined",
    }
    with console.metric_row():
        for name, label in labels.items():
            st.metric(label, report.get(name, "–"), help=name, width="content")
        st.metric("published", "yes" if report.get("published") else "no", width="content")
    for warning in report.get("warnings") or []:
        st.warning(console.escape_markdown(str(warning)))
    for file, repairs in (report.get("repairs") or {}).items():
        if repairs:  # lines the job cleaned up, per kind: a surprise shows here
            listed = ", ".join(f"{what} ×{count:,}" for what, count in repairs.items())
            st.info(console.escape_markdown(f"Repaired in {file}: {listed}"))
    with st.expander(f"Full report · {uri}"):
        st.json(report)


def redrive_action(col, described: dict, events: list) -> None:
    fail_state = run_detail.redrive_reenters(events) if described["status"] == "FAILED" else None
    if fail_state is not None:  # ADR 0018
        col.caption(
            f"No redrive: it would re-enter the Fail state {fail_state} and fail again (Step Functions "
            "redrives from the unsuccessful state). Fix the cause, then rerun."
        )
        return
    if not col.button("Redrive", key="redrive", help="Resume where it stopped (RedriveExecution)"):
        return
    try:
        run_detail.redrive(sfn, described["executionArn"])
    except ClientError as exc:
        if run_detail.redrive_unsupported(exc):
            st.warning(
                f"This Step Functions endpoint does not support RedriveExecution "
                f"({settings.endpoint_url or 'AWS'} answered: {exc}). Use Rerun instead."
            )
        else:
            st.error(f"Redrive refused: {exc}")
        return
    st.session_state[f"redriven:{described['executionArn']}"] = True
    recent.clear()
    st.rerun()  # the whole page, which follows the running execution again


def actions_section(described: dict, events: list) -> None:
    status = described["status"]
    visitor = console.current_access(settings)
    if not visitor.is_admin:
        st.caption(f"Stop, redrive and rerun are admin actions. {console.notice(visitor)}")
        return
    cols = st.columns(3)
    if status == "RUNNING" and cols[0].button("Stop run", key="stop", type="primary"):
        stopped = run_detail.stop(
            sfn, described["executionArn"], console.user_email(), console.client("glue"), settings.glue_job
        )
        st.toast("Stop requested" + (f"; Glue run {', '.join(stopped)} stopped" if stopped else ""))
    if st.session_state.pop(f"redriven:{described['executionArn']}", False):
        st.success("Redrive started: this page follows it.")
    if status in ("FAILED", "TIMED_OUT", "ABORTED"):
        redrive_action(cols[1], described, events)
        if cols[2].button(
            "Rerun",
            key="rerun",
            help="Start the state machine again with the same input under a new name: the same files "
            "(the run fails with a clear reason if one was replaced since).",
        ):
            new_arn = run_detail.rerun(sfn, described, datetime.now(UTC))
            recent.clear()
            st.session_state[f"rerun:{described['executionArn']}"] = new_arn
    new_arn = st.session_state.get(f"rerun:{described['executionArn']}")
    if new_arn:
        st.success(f"Rerun started: `{new_arn.rsplit(':', 1)[-1]}`")
        st.page_link(
            "pages/monitor.py", label="Open the rerun", icon="📡", query_params={"execution": new_arn}
        )


def show(arn: str) -> None:
    try:
        described = execution_reads.describe(sfn, arn)
    except ClientError as exc:
        st.error(f"Cannot open execution {arn}: {exc}")
        return
    live = described["status"] not in execution_reads.TERMINAL

    @st.fragment(run_every=REFRESH_SECONDS if live else None)
    def body() -> None:
        current = execution_reads.describe(sfn, arn)
        if live and current["status"] in execution_reads.TERMINAL:
            st.rerun()  # the run ended: redraw the page once, without the refresh timer
        events = execution_reads.history(sfn, arn)
        failure = run_detail.root_cause(events) if current["status"] in execution_reads.TERMINAL else None
        waiting = execution_reads.waiting_for(events) if current["status"] == "RUNNING" else None
        category = execution_reads.category(current, waiting)
        header(current, category)
        if waiting:
            st.info(f"Waiting for the {waiting} export: its upload resumes this run.", icon="⏳")
        if failure is not None:
            failure_banner(failure)
        reference = run_detail.glue_reference(events)
        report = run_report(reference)
        publication_section(category, reference, report, failure)
        rows = run_detail.state_rows(events, current["status"])
        state_section(run_detail.definition(sfn, arn), rows, failure)
        left, right = st.columns(2)
        with left:
            glue_section(reference)
        with right:
            quality_section(reference, report)
        inputs, outputs = st.columns(2)
        with inputs.expander("Execution input"):
            st.json(current.get("input") or "{}")
        with outputs.expander("Execution output"):
            st.json(current.get("output") or "null")
        st.subheader("Actions")
        actions_section(current, events)

    body()


@st.cache_data(ttl=60, show_spinner=False)
def own_machine(settings_key: str) -> str:
    return execution_reads.state_machine_arn(sfn, settings)


execution_arn = pick_execution()
try:
    machine_arn = own_machine(repr(settings))
except (LookupError, ClientError) as exc:
    st.error(f"Cannot find the state machine: {exc}")
else:
    if run_detail.belongs_to(execution_arn, machine_arn):
        show(execution_arn)
    else:  # the link may come from anywhere: show runs of this pipeline only
        st.error(f"Refused: this monitor opens runs of {settings.state_machine} only.")
