"""One execution in detail, as the Run monitor shows it.

Plain functions over boto3 clients and ``Settings`` (no Streamlit): the execution's event history as one row
per state, the root cause of a failure, the state machine as a DOT graph coloured by state, the Glue run and
the data-quality report; and the admin actions (stop, redrive, rerun).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from pipeline.asl import checks
from pipeline.lambdas import config as lambda_config
from pipeline.lambdas import runs
from services import execution_reads as reads
from stack import aws
from stack.settings import Settings

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


# --- reading ---------------------------------------------------------------------------------------


def belongs_to(execution_arn: str, machine_arn: str) -> bool:
    """True only for an execution of this state machine: ``…:execution:<machine name>:<execution name>``."""
    prefix = machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"
    name = execution_arn[len(prefix) :] if execution_arn.startswith(prefix) else ""
    return bool(name) and ":" not in name


def definition(sfn: Any, arn: str) -> dict[str, Any]:
    """The ASL that this execution ran (the state machine may have been redeployed since)."""
    return json.loads(sfn.describe_state_machine_for_execution(executionArn=arn)["definition"])


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
        elif kind == reads.REDRIVEN:  # the states the last attempt ended in failed; a redrive goes on
            for name in open_states:
                rows[name].status, rows[name]._open_since = FAILED, None
            open_states.clear()
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
    if execution_status in reads.TERMINAL:
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


def root_cause(events: Sequence[Mapping[str, Any]]) -> Failure | None:
    """Why the execution failed, or None if it did not.

    The failure paths go through a ``Record…`` Pass state that writes ``$.failure`` = {failed_state, error,
    cause} before NotifyFailure, so the last state output holding ``failure`` names the real cause (the
    ExecutionFailed event only carries the Fail state's summary). ``failed_state`` may be a step that is
    not a state (``GlueJob``): the graph then marks the last Task state before the record, the one that
    observed the failure. Without a record (an abort, a timeout, an uncaught error) the execution's own
    error and the state that was open or failed last are reported.
    """
    attempt = reads.latest_attempt(events)  # a redriven run that succeeded did not fail
    ended = next((e for e in reversed(attempt) if e["type"] in reads.EXECUTION_ENDED), None)
    if ended is None:
        return None
    ended_details = ended.get(reads.EXECUTION_ENDED[ended["type"]], {})
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
            failure = reads.json_object(details.get("output")).get("failure")
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


def dot_graph(asl: Mapping[str, Any], statuses: Mapping[str, str], path_only: bool = False) -> str:
    """Graphviz DOT of the state machine, each state filled with the colour of its status.

    ``path_only``: only the states the run visited and the ways out between them, a short chain whose
    labels stay readable in a narrow column; the whole machine is about 1,600 px wide at its natural size.
    """
    shown = [
        name
        for name in asl.get("States", {})
        if not path_only or statuses.get(name, NOT_VISITED) != NOT_VISITED
    ]
    lines = [
        "digraph ETL {",
        '  graph [rankdir=TB, bgcolor="transparent", fontname="Helvetica", ranksep=0.25, nodesep=0.2];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, fontcolor="white",',
        '        height=0.3, margin="0.12,0.03"];',
        '  edge [color="#757575", arrowsize=0.6];',
        '  __start [label="", shape=circle, width=0.15, height=0.15, style=filled, fillcolor="#424242"];',
        f"  __start -> {_dot_id(asl['StartAt'])};",
    ]
    for name in shown:
        state = asl["States"][name]
        status = statuses.get(name, NOT_VISITED)
        font = "black" if status in (NOT_VISITED, RUNNING) else "white"
        shape = "diamond" if state.get("Type") == "Choice" else "box"
        tooltip = f"{state.get('Type', '')} · {status}"
        lines.append(
            f'  {_dot_id(name)} [fillcolor="{STATE_COLOURS[status]}", fontcolor="{font}", shape={shape}, '
            f'tooltip="{tooltip}"];'
        )
        ways = dict.fromkeys((edge.target, edge.kind) for edge in checks.ways_out(name, state))
        for target, kind in ways:  # two rules with one target: one arrow
            if target not in shown:
                continue
            style = {"catch": ' [style=dashed, color="#c62828"]', "default": " [style=dotted]"}.get(kind, "")
            lines.append(f"  {_dot_id(name)} -> {_dot_id(target)}{style};")
    lines.append("}")
    return "\n".join(lines)


# --- Glue run and quality report -----------------------------------------------------------------------


def glue_reference(events: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """{job_name, job_run_id, run_id, …} that TriggerGlueJob put at ``$.glue``, once it has run."""
    for event in reversed(events):
        if event["type"].endswith("StateExited"):
            glue = reads.json_object(event["stateExitedEventDetails"].get("output")).get("glue")
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


@dataclass(frozen=True)
class Publication:
    """What an execution did to the published table: the run it published, or why it published nothing."""

    outcome: str  # "live", "replaced", "not published", "pending"
    text: str
    run_id: str | None = None


def publication(
    category: str,
    run_id: str | None,
    report: Mapping[str, Any] | None,
    live_run_id: str | None,
    failure: Failure | None = None,
) -> Publication:
    """The monitor's answer to "what did this run publish?" from the run's category (execution_reads), its
    Glue run id and quality report, the run the table points at now, and the failure's root cause."""
    if report and report.get("published"):
        if run_id == live_run_id:
            return Publication("live", f"Published run {run_id}: the table shows it now.", run_id)
        return Publication(
            "replaced",
            f"Published run {run_id}; the table has since moved to run {live_run_id or '(none)'}.",
            run_id,
        )
    if category in (reads.RUNNING_RUN, "waiting for orders", "waiting for returns"):
        return Publication("pending", "Nothing published yet: the run is still going.", run_id)
    if category == reads.SUPERSEDED:
        reason = "a newer upload superseded these files; the newer run publishes them"
    elif category == reads.EXPORT_MISSING:
        reason = "the other export never arrived within the pairing window"
    elif report and (warnings := [w for w in report.get("warnings") or [] if "not published" in str(w)]):
        reason = str(warnings[0]).removeprefix("not published: ")
    elif failure is not None:
        reason = f"it failed in {failure.failed_state}: {failure.error}"
    elif report and report.get("status") == "FAILED":
        reason = f"the Glue job failed: {report.get('error')}"
    else:
        reason = "it ended before the Glue job wrote a report"
    return Publication("not published", f"Nothing published: {reason}.", run_id)


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
    run = glue_run_id(reads.history(sfn, arn), arn.rsplit(":", 1)[-1])
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
            files = reads.json_object(event["stateExitedEventDetails"].get("output")).get("files")
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
                output = reads.json_object(event["stateExitedEventDetails"].get("output"))
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
        reads.history(sfn, described["executionArn"])
        if runs.named_pair(described.get("input")) is None
        else []
    )
    response = sfn.start_execution(
        stateMachineArn=described["stateMachineArn"],
        name=runs.rerun_name(described["name"], now),
        input=rerun_input(described, events),
    )
    return response["executionArn"]


def redrive(sfn: Any, arn: str) -> None:
    """RedriveExecution: the same execution goes on from the state it failed, stopped or timed out in."""
    sfn.redrive_execution(executionArn=arn)


def redrive_reenters(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The Fail state that a redrive would re-enter, and fail in again, or None.

    Step Functions redrives from the unsuccessful state, and re-enters a Fail state as it is. Every caught
    failure of this state machine ends in ETLFailed after NotifyFailure, so only runs that were stopped
    (or timed out) resume anything (ADR 0018).
    """
    entered = [e for e in reads.latest_attempt(events) if e["type"].endswith("StateEntered")]
    if entered and entered[-1]["type"] == "FailStateEntered":
        return str(entered[-1]["stateEnteredEventDetails"]["name"])
    return None


def redrive_unsupported(exc: BaseException) -> bool:
    """Whether a refused redrive means that the endpoint has no RedriveExecution (rerun instead), rather
    than that the execution cannot be redriven."""
    return aws.is_unsupported(exc)
