"""Step Functions executions of the ETL state machine: what the run monitor and the history pages show.

Plain functions over boto3 clients and ``Settings`` (no Streamlit): reading executions, their event history,
the Glue run and the data-quality report; pure transformations of those (per-state table, state colours,
root cause, KPIs, filters); and the admin actions (stop, redrive, rerun).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from pipeline.lambdas import config as lambda_config
from pipeline.lambdas import pairing, runs
from stack import aws
from stack.settings import Settings

TERMINAL = aws.TERMINAL_STATUSES
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
DATE_PRESETS = ("Today", "Last 7 days", "Last 30 days", "All")

# What a state did, as the graph colours it.
SUCCEEDED, FAILED, RUNNING, NOT_VISITED = "succeeded", "failed", "running", "not visited"
STATE_COLOURS = {SUCCEEDED: "#2e7d32", FAILED: "#c62828", RUNNING: "#f9a825", NOT_VISITED: "#bdbdbd"}

_TASK_SCHEDULED = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})
_TASK_FAILED = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
        "ActivityFailed",
        "ActivityTimedOut",
        "ActivityScheduleFailed",
    }
)
_TASK_SUCCEEDED = frozenset({"TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded"})
_EXECUTION_ENDED = {
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
}


# --- reading ---------------------------------------------------------------------------------------


def state_machine_arn(sfn: Any, settings: Settings) -> str:
    return aws.state_machine_arn(sfn, settings.state_machine)


def belongs_to(execution_arn: str, machine_arn: str) -> bool:
    """True only for an execution of this state machine: ``…:execution:<machine name>:<execution name>``."""
    prefix = machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"
    name = execution_arn[len(prefix) :] if execution_arn.startswith(prefix) else ""
    return bool(name) and ":" not in name


def list_executions(sfn: Any, machine_arn: str, limit: int = 200) -> list[dict[str, Any]]:
    """The newest ``limit`` executions (list_executions pages newest first), newest first."""
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn):
        found.extend(page["executions"])
        if len(found) >= limit:
            break
    found.sort(key=lambda e: e["startDate"], reverse=True)
    return found[:limit]


def describe(sfn: Any, arn: str) -> dict[str, Any]:
    described = sfn.describe_execution(executionArn=arn)
    described.pop("ResponseMetadata", None)
    return described


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn, includeExecutionData=True)
    return [event for page in pages for event in page["events"]]


def definition(sfn: Any, arn: str) -> dict[str, Any]:
    """The ASL that this execution ran (the state machine may have been redeployed since)."""
    return json.loads(sfn.describe_state_machine_for_execution(executionArn=arn)["definition"])


# What a run amounts to (ADR 0004): only processed and failed runs processed files, so only they count in
# the success rate and the durations; the others are categories of their own.
PROCESSED, FAILED_RUN, RUNNING_RUN = "processed", "failed", "running"
SUPERSEDED, EXPORT_MISSING = "superseded", "export missing"
CATEGORIES = (
    PROCESSED,
    FAILED_RUN,
    RUNNING_RUN,
    "waiting for orders",
    "waiting for returns",
    SUPERSEDED,
    EXPORT_MISSING,
)
PROCESSING = frozenset({PROCESSED, FAILED_RUN})
PARKED_STATE = "AwaitCounterpart"


def waiting_for(events: Sequence[Mapping[str, Any]]) -> str | None:
    """ "orders" or "returns" while the execution is parked in AwaitCounterpart, else None."""
    open_state: Mapping[str, Any] | None = None
    for event in events:
        if event["type"].endswith("StateEntered"):
            open_state = event["stateEnteredEventDetails"]
        elif event["type"].endswith("StateExited"):
            open_state = None
        elif event["type"] in _EXECUTION_ENDED or event["type"] == "ExecutionSucceeded":
            return None
    if open_state is None or open_state.get("name") != PARKED_STATE:
        return None
    files = _json_object(open_state.get("input")).get("files") or {}
    side = files.get("waiting_for") if isinstance(files, dict) else None
    return str(side) if side in ("orders", "returns") else None


def category(described: Mapping[str, Any], waiting: str | None = None) -> str:
    """processed, failed, running, waiting for <side>, superseded or export missing."""
    status = described.get("status")
    if status == "RUNNING":
        return f"waiting for {waiting}" if waiting else RUNNING_RUN
    if status != "SUCCEEDED":
        return FAILED_RUN if status in TERMINAL else RUNNING_RUN
    output = _json_object(described.get("output"))
    if isinstance(output.get("missing"), dict):
        return EXPORT_MISSING
    pairing = output.get("pairing")
    if isinstance(pairing, dict) and pairing.get("outcome") == "superseded":
        return SUPERSEDED
    return PROCESSED


def runs_frame(sfn: Any, machine_arn: str, limit: int = 200, workers: int = 8) -> pd.DataFrame:
    """One row per execution (newest first) with its input files: list_executions does not return the
    input, so each execution is described (in parallel); a running ``awaiting-…`` one also has its history
    read, to tell a parked execution (waiting for its counterpart) from one that processes."""
    listed = list_executions(sfn, machine_arn, limit)

    def read(listed_one: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        described = describe(sfn, listed_one["executionArn"])
        parked = None
        if described["status"] == "RUNNING" and described["name"].startswith("awaiting-"):
            parked = waiting_for(history(sfn, described["executionArn"]))
        return described, parked

    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(read, listed))
    return frame_from_described([d for d, _ in found], {d["executionArn"]: w for d, w in found if w})


def frame_from_described(
    described: Iterable[Mapping[str, Any]], waiting: Mapping[str, str] | None = None
) -> pd.DataFrame:
    rows = []
    waiting = waiting or {}
    for execution in described:
        files = input_files(execution.get("input"))
        processed = processed_files(execution)
        start, stop = execution.get("startDate"), execution.get("stopDate")
        rows.append(
            {
                "name": execution["name"],
                "status": execution["status"],
                "category": category(execution, waiting.get(execution["executionArn"])),
                "start": pd.Timestamp(start),
                "stop": pd.Timestamp(stop) if stop is not None else pd.NaT,
                "duration_s": (stop - start).total_seconds() if stop is not None else math.nan,
                "orders_key": processed.get("orders", {}).get("key") or files["orders"],
                "returns_key": processed.get("returns", {}).get("key") or files["returns"],
                "files": processed,
                "arn": execution["executionArn"],
            }
        )
    columns = [
        "name",
        "status",
        "category",
        "start",
        "stop",
        "duration_s",
        "orders_key",
        "returns_key",
        "files",
        "arn",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("start", "stop"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["duration_s"] = frame["duration_s"].astype(float)
    return frame.sort_values("start", ascending=False, ignore_index=True)


def processed_files(described: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The files a run took, by side: those it checked (its output's ``files``) or else those its input
    names (a resumed ``awaiting-…`` run took its counterpart too, which only the output shows)."""
    found: dict[str, dict[str, Any]] = {}
    sources = (_json_object(described.get("output")).get("files"), _json_object(described.get("input")))
    for source in sources:
        if not isinstance(source, dict):
            continue
        for side in ("orders", "returns"):
            obj = source.get(side)
            if side not in found and isinstance(obj, dict) and obj.get("key"):
                found[side] = obj
    return found


def uploads_frame(uploads: Iterable[runs.S3Object], frame: pd.DataFrame) -> pd.DataFrame:
    """Every upload with the run that took it, or the run that superseded it (the first run that took a
    newer upload of the same side), or neither yet (waiting, or a run still to come)."""
    taken: dict[tuple[str, str, str], str] = {}
    newer: dict[str, list[tuple[Any, str]]] = {"orders": [], "returns": []}
    for _, row in frame.sort_values("start").iterrows():
        for side, obj in (row["files"] or {}).items():
            taken.setdefault((side, obj.get("key", ""), str(obj.get("etag", "")).strip('"')), row["name"])
            try:
                newer[side].append((runs.upload_rank(runs.S3Object.from_dict(obj)), row["name"]))
            except ValueError:
                continue
    rows = []
    for upload in uploads:
        side = "orders" if "orders" in upload.bucket else "returns"
        run = taken.get((side, upload.key, upload.etag))
        superseded_by = None
        if run is None:
            later = sorted(item for item in newer[side] if item[0] > runs.upload_rank(upload))
            superseded_by = later[0][1] if later else None
        rows.append(
            {
                "side": side,
                "key": upload.key,
                "uploaded_at": pd.Timestamp(runs.upload_time(upload)),
                "run": run,
                "superseded_by": superseded_by,
                "status": "in a run" if run else "superseded" if superseded_by else "not run yet",
            }
        )
    columns = ["side", "key", "uploaded_at", "status", "run", "superseded_by"]
    return pd.DataFrame(rows, columns=columns).sort_values("uploaded_at", ascending=False, ignore_index=True)


def list_uploads(s3: Any, settings: Settings, limit: int = 500) -> list[runs.S3Object]:
    """The newest uploads of each side from the pairing ledger (ADR 0004)."""
    cfg = lambda_config.LambdaConfig(
        orders_bucket=settings.orders_bucket,
        returns_bucket=settings.returns_bucket,
        pairing_path=settings.pairing_path,
    )
    return [u for side in runs.SIDES for u in pairing.uploads(cfg, s3, side, limit=limit)]


def input_files(execution_input: str | None) -> dict[str, str]:
    """The orders and returns keys named in an execution input ('' when absent, e.g. a rerun with {})."""
    try:
        parsed = json.loads(execution_input or "{}")
    except json.JSONDecodeError:
        parsed = {}
    parsed = parsed if isinstance(parsed, dict) else {}
    keys = {}
    for kind in ("orders", "returns"):
        obj = parsed.get(kind)
        keys[kind] = str(obj.get("key", "")) if isinstance(obj, dict) else ""
    return keys


# --- the per-state table ----------------------------------------------------------------------------


@dataclass
class StateRow:
    state: str
    type: str
    status: str = RUNNING
    entered: datetime | None = None  # first entry
    exited: datetime | None = None  # last exit
    duration_s: float = 0.0  # summed over the visits
    visits: int = 0  # a polling loop enters a state many times
    retries: int = 0  # task attempts beyond the first within a visit (the state's Retry)
    task_failures: int = 0
    last_error: str | None = None
    _open_since: datetime | None = field(default=None, repr=False)
    _attempts: int = field(default=0, repr=False)
    _last_task_failed: bool = field(default=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "type": self.type,
            "status": self.status,
            "entered": self.entered,
            "exited": self.exited,
            "duration_s": round(self.duration_s, 3),
            "visits": self.visits,
            "retries": self.retries,
            "task_failures": self.task_failures,
            "last_error": self.last_error,
        }


def _state_type(event_type: str, suffix: str) -> str:
    return event_type[: -len(suffix)] if event_type.endswith(suffix) else event_type


def _failure_text(details: Mapping[str, Any]) -> str:
    error, cause = details.get("error") or "", details.get("cause") or ""
    return f"{error}: {cause}" if error and cause else error or cause


def state_rows(events: Sequence[Mapping[str, Any]], execution_status: str = "RUNNING") -> list[StateRow]:
    """One row per state in the order the states were first entered.

    Task events do not name their state: they belong to the state entered last and not yet exited (this
    state machine has no Parallel or Map states, where several would be open at once). A state whose last
    task attempt failed was left through a Catch and counts as failed, as does a Fail state and a state
    still open when the execution ended.
    """
    rows: dict[str, StateRow] = {}
    open_states: list[str] = []
    for event in events:
        kind = event["type"]
        when = event["timestamp"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            row = rows.setdefault(name, StateRow(name, _state_type(kind, "StateEntered")))
            row.visits += 1
            row.entered = row.entered or when
            row.status = FAILED if row.type == "Fail" else RUNNING
            row._open_since, row._attempts, row._last_task_failed = when, 0, False
            open_states.append(name)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            row = rows[name]
            if row._open_since is not None:
                row.duration_s += (when - row._open_since).total_seconds()
            row.exited, row._open_since = when, None
            if row.type != "Fail":
                row.status = FAILED if row._last_task_failed else SUCCEEDED
            if name in open_states:
                open_states.remove(name)
        elif open_states:
            row = rows[open_states[-1]]
            if kind in _TASK_SCHEDULED:
                row._attempts += 1
                if row._attempts > 1:
                    row.retries += 1
            elif kind in _TASK_FAILED:
                row.task_failures += 1
                row._last_task_failed = True
                details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
                row.last_error = _failure_text(details) or kind
            elif kind in _TASK_SUCCEEDED:
                row._last_task_failed = False
    if execution_status in TERMINAL:
        for name in open_states:  # the execution ended inside these states
            rows[name].status = FAILED
    return list(rows.values())


def state_statuses(asl: Mapping[str, Any], rows: Iterable[StateRow]) -> dict[str, str]:
    """Every state of the definition with its status ('not visited' for the others)."""
    visited = {row.state: row.status for row in rows}
    return {name: visited.get(name, NOT_VISITED) for name in asl.get("States", {})}


def state_frame(rows: Iterable[StateRow], failure: Failure | None = None) -> pd.DataFrame:
    """The per-state table, with the state that a failure is attributed to marked failed."""
    frame = pd.DataFrame([row.as_dict() for row in rows], columns=list(StateRow("", "").as_dict()))
    for column in ("entered", "exited"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    if failure is not None and failure.graph_state is not None:
        frame.loc[frame["state"] == failure.graph_state, "status"] = FAILED
    return frame


# --- failures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    failed_state: str  # as the state machine recorded it, e.g. "GlueJob" or "CheckForFiles"
    error: str
    cause: str
    graph_state: str | None  # the state of the definition to mark as failed
    execution_error: str | None = None  # ExecutionFailed's error and cause (the Fail state's)
    execution_cause: str | None = None


def _json_object(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:  # outputs over 256 KB arrive truncated
        return {}
    return parsed if isinstance(parsed, dict) else {}


def root_cause(events: Sequence[Mapping[str, Any]]) -> Failure | None:
    """Why the execution failed, or None if it did not.

    The failure paths go through a ``Record…`` Pass state that writes ``$.failure`` = {failed_state, error,
    cause} before NotifyFailure, so the last state output holding ``failure`` names the real cause (the
    ExecutionFailed event only carries the Fail state's summary). ``failed_state`` may be a step that is
    not a state (``GlueJob``): the graph then marks the last Task state before the record, the one that
    observed the failure. Without a record (an abort, a timeout, an uncaught error) the execution's own
    error and the state that was open or failed last are reported.
    """
    ended = next((e for e in reversed(events) if e["type"] in _EXECUTION_ENDED), None)
    if ended is None:
        return None
    ended_details = ended.get(_EXECUTION_ENDED[ended["type"]], {})
    execution_error = ended_details.get("error") or ended["type"]
    execution_cause = ended_details.get("cause") or ""

    visited: set[str] = set()
    last_task: str | None = None
    record: dict[str, Any] | None = None
    task_before_record: str | None = None
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            visited.add(event["stateEnteredEventDetails"]["name"])
        elif kind.endswith("StateExited"):
            details = event["stateExitedEventDetails"]
            failure = _json_object(details.get("output")).get("failure")
            # Later states carry the same record on: the first state that wrote it counts.
            if isinstance(failure, dict) and failure.get("failed_state") and failure != record:
                record, task_before_record = failure, last_task
            if kind == "TaskStateExited":
                last_task = details["name"]
    if record is not None:
        failed_state = str(record["failed_state"])
        return Failure(
            failed_state=failed_state,
            error=str(record.get("error") or execution_error),
            cause=str(record.get("cause") or execution_cause),
            graph_state=failed_state if failed_state in visited else task_before_record,
            execution_error=execution_error,
            execution_cause=execution_cause,
        )
    failed_rows = [row for row in state_rows(events, "FAILED") if row.status == FAILED]
    state = failed_rows[-1].state if failed_rows else None
    return Failure(
        failed_state=state or "(execution)",
        error=execution_error,
        cause=execution_cause or (failed_rows[-1].last_error or "" if failed_rows else ""),
        graph_state=state,
        execution_error=execution_error,
        execution_cause=execution_cause,
    )


def mark_failure(statuses: dict[str, str], failure: Failure | None) -> dict[str, str]:
    """The statuses with the state that the failure is attributed to marked failed."""
    if failure is not None and failure.graph_state in statuses:
        statuses = {**statuses, failure.graph_state: FAILED}
    return statuses


# --- the graph ---------------------------------------------------------------------------------------


def _dot_id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def transitions(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(target, kind) for every way out of a state: next, choice, default, catch."""
    found = []
    if state.get("Next"):
        found.append((state["Next"], "next"))
    for choice in state.get("Choices", []):
        found.append((choice["Next"], "choice"))
    if state.get("Default"):
        found.append((state["Default"], "default"))
    for catch in state.get("Catch", []):
        found.append((catch["Next"], "catch"))
    return list(dict.fromkeys(found))


def dot_graph(asl: Mapping[str, Any], statuses: Mapping[str, str]) -> str:
    """Graphviz DOT of the state machine, each state filled with the colour of its status."""
    lines = [
        "digraph ETL {",
        '  graph [rankdir=TB, bgcolor="transparent", fontname="Helvetica"];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, fontcolor="white"];',
        '  edge [color="#757575", arrowsize=0.6];',
        '  __start [label="", shape=circle, width=0.2, style=filled, fillcolor="#424242"];',
        f"  __start -> {_dot_id(asl['StartAt'])};",
    ]
    for name, state in asl.get("States", {}).items():
        status = statuses.get(name, NOT_VISITED)
        font = "black" if status in (NOT_VISITED, RUNNING) else "white"
        shape = "diamond" if state.get("Type") == "Choice" else "box"
        tooltip = f"{state.get('Type', '')} · {status}"
        lines.append(
            f'  {_dot_id(name)} [fillcolor="{STATE_COLOURS[status]}", fontcolor="{font}", shape={shape}, '
            f'tooltip="{tooltip}"];'
        )
        for target, kind in transitions(state):
            style = {"catch": ' [style=dashed, color="#c62828"]', "default": " [style=dotted]"}.get(kind, "")
            lines.append(f"  {_dot_id(name)} -> {_dot_id(target)}{style};")
    lines.append("}")
    return "\n".join(lines)


# --- Glue run and quality report -----------------------------------------------------------------------


def glue_reference(events: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """{job_name, job_run_id, run_id, …} that TriggerGlueJob put at ``$.glue``, once it has run."""
    for event in reversed(events):
        if event["type"].endswith("StateExited"):
            glue = _json_object(event["stateExitedEventDetails"].get("output")).get("glue")
            if isinstance(glue, dict) and glue.get("job_run_id"):
                return glue
    return None


def glue_run(glue: Any, job_name: str, job_run_id: str) -> dict[str, Any]:
    run = glue.get_job_run(JobName=job_name, RunId=job_run_id)["JobRun"]
    return {
        "id": run["Id"],
        "state": run.get("JobRunState"),
        "started": run.get("StartedOn"),
        "completed": run.get("CompletedOn"),
        "duration_s": run.get("ExecutionTime"),
        "error": run.get("ErrorMessage"),
    }


def quality_report_uri(settings: Settings, run_id: str) -> str:
    return runs.report_uri(settings.output_path, run_id)


def quality_report(s3: Any, settings: Settings, run_id: str) -> dict[str, Any] | None:
    """The run's data-quality report as the Glue job wrote it, or None when there is none."""
    return lambda_config.read_quality_report(s3, settings.output_path, run_id)


# --- history: filters and KPIs ----------------------------------------------------------------------------


def preset_since(preset: str, now: datetime) -> datetime | None:
    """The start of a date-range preset, in ``now``'s time zone (None = all time)."""
    if preset == "Today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if preset == "Last 7 days":
        return now - timedelta(days=7)
    if preset == "Last 30 days":
        return now - timedelta(days=30)
    if preset == "All":
        return None
    raise ValueError(f"unknown date preset {preset!r}; expected one of {DATE_PRESETS}")


def filter_runs(
    frame: pd.DataFrame,
    statuses: Iterable[str] | None = None,
    since: datetime | None = None,
    file_name: str = "",
) -> pd.DataFrame:
    """Runs with one of ``statuses`` (None = any), started at or after ``since``, whose orders or returns
    key contains ``file_name`` (case-insensitive)."""
    keep = pd.Series(True, index=frame.index)
    if statuses is not None:
        keep &= frame["status"].isin(list(statuses))
    if since is not None:
        keep &= frame["start"] >= pd.Timestamp(since)
    needle = file_name.strip().lower()
    if needle:
        keep &= frame["orders_key"].str.lower().str.contains(needle, regex=False) | frame[
            "returns_key"
        ].str.lower().str.contains(needle, regex=False)
    return frame[keep].reset_index(drop=True)


@dataclass(frozen=True)
class Kpis:
    runs: int
    ended: int  # runs that processed files and ended (processed or failed)
    success_rate: float | None  # processed / ended
    p50_s: float | None  # over those ended runs
    p90_s: float | None
    runs_per_day: float | None  # over the calendar days from the first run to the last
    waiting: int = 0
    superseded: int = 0
    export_missing: int = 0


def kpis(frame: pd.DataFrame) -> Kpis:
    """Success rate and durations over the runs that processed files; a run that waited, was superseded
    or whose counterpart never came is counted in its own category (ADR 0004)."""
    categories = (
        frame["category"] if "category" in frame else frame["status"].map(lambda s: category({"status": s}))
    )
    ended = frame[categories.isin(PROCESSING)]
    durations = ended["duration_s"].dropna()
    if frame.empty:
        per_day = None
    else:
        days = (frame["start"].max().normalize() - frame["start"].min().normalize()).days + 1
        per_day = len(frame) / days
    return Kpis(
        runs=len(frame),
        ended=len(ended),
        success_rate=float((ended["status"] == "SUCCEEDED").mean()) if len(ended) else None,
        p50_s=float(durations.quantile(0.5)) if len(durations) else None,
        p90_s=float(durations.quantile(0.9)) if len(durations) else None,
        runs_per_day=per_day,
        waiting=int(categories.str.startswith("waiting for").sum()),
        superseded=int((categories == SUPERSEDED).sum()),
        export_missing=int((categories == EXPORT_MISSING).sum()),
    )


def page_of(frame: pd.DataFrame, page: int, size: int) -> pd.DataFrame:
    """Rows of page ``page`` (1-based) of ``size`` rows."""
    start = (max(page, 1) - 1) * size
    return frame.iloc[start : start + size].reset_index(drop=True)


def page_count(rows: int, size: int) -> int:
    return max(1, math.ceil(rows / size))


def naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """Time-zone-aware columns as naive UTC, for tables (pyarrow warns on aware columns with pandas 3)."""
    frame = frame.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


# --- actions --------------------------------------------------------------------------------------------


def stop(
    sfn: Any, arn: str, who: str | None = None, glue: Any = None, job_name: str | None = None
) -> list[str]:
    """Stop the execution, then (given ``glue`` and ``job_name``) its Glue run, so that the abandoned run
    never publishes later. Returns the ids of the Glue job runs that were stopped."""
    sfn.stop_execution(
        executionArn=arn, error="StoppedFromConsole", cause=f"Stopped from the console by {who or 'an admin'}"
    )
    if glue is None or job_name is None:
        return []
    run = glue_run_id(history(sfn, arn), arn.rsplit(":", 1)[-1])
    if run is None:
        return []  # it had not got past CheckForFiles: no Glue run
    stopped, _errors = lambda_config.stop_job_runs(glue, job_name, run)  # errors: runs that ended meanwhile
    return stopped


def glue_run_id(events: Sequence[Mapping[str, Any]], execution_name: str) -> str | None:
    """The run id of the execution's Glue run: what TriggerGlueJob reported, or else derived (as
    TriggerGlueJob derives it) from the files CheckForFiles found; None before that."""
    reference = glue_reference(events)
    if reference is not None and reference.get("run_id"):
        return str(reference["run_id"])
    for event in reversed(events):
        if event["type"].endswith("StateExited"):
            files = _json_object(event["stateExitedEventDetails"].get("output")).get("files")
            pair = runs.named_pair(files) if isinstance(files, dict) else None
            if pair is not None:
                return runs.run_id(runs.batch_time(*pair), execution_name)
    return None


def rerun_input(described: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> str:
    """The input of a rerun: the pair the run took (a resumed ``awaiting-…`` run names one file in its
    input; the pair it was resumed with is in its history), else the execution's own input."""
    if runs.named_pair(described.get("input")) is None:
        for event in reversed(events):
            if event["type"].endswith("StateExited"):
                output = _json_object(event["stateExitedEventDetails"].get("output"))
                for source in (output.get("files"), output.get("pairing")):
                    pair = runs.named_pair(source) if isinstance(source, dict) else None
                    if pair is not None:
                        return json.dumps({"orders": pair[0].to_dict(), "returns": pair[1].to_dict()})
    return described.get("input") or "{}"


def rerun(sfn: Any, described: Mapping[str, Any], now: datetime) -> str:
    """Start the state machine again with the files the execution took, under a new name; the new ARN.

    CheckForFiles takes the files the input names (still the same bytes); an input that names one file
    (a run that never got its counterpart) waits for its counterpart again.
    """
    events = (
        history(sfn, described["executionArn"]) if runs.named_pair(described.get("input")) is None else []
    )
    response = sfn.start_execution(
        stateMachineArn=described["stateMachineArn"],
        name=runs.rerun_name(described["name"], now),
        input=rerun_input(described, events),
    )
    return response["executionArn"]


def redrive(sfn: Any, arn: str) -> None:
    sfn.redrive_execution(executionArn=arn)
