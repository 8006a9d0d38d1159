"""Reading the ETL state machine's executions, and what a run amounts to: shared by the run monitor
(services/run_detail.py) and the history (services/history.py).

Plain functions over boto3 clients and ``Settings`` (no Streamlit): the state machine's ARN, listing,
describing and the event history of executions; whether a run is parked waiting for its counterpart and its
outcome category (ADR 0004); the tables' time columns as naive UTC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from stack import aws
from stack.settings import Settings

TERMINAL = aws.TERMINAL_STATUSES
# The events that end an execution unsuccessfully, with the field of their details.
EXECUTION_ENDED = {
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
}

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
PARKED_STATE = "AwaitCounterpart"
REDRIVEN = "ExecutionRedriven"  # a redrive appends the next attempt to the same history


# --- reading ---------------------------------------------------------------------------------------


def state_machine_arn(sfn: Any, settings: Settings) -> str:
    return aws.state_machine_arn(sfn, settings.state_machine)


def list_executions(sfn: Any, machine_arn: str, limit: int = 200) -> list[dict[str, Any]]:
    """The newest ``limit`` executions (list_executions pages newest first), newest first."""
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn):
        found.extend(page["executions"])
        if len(found) >= limit:
            break
    found.sort(key=lambda e: e["startDate"], reverse=True)
    return found[:limit]


def latest(executions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The run to open when none is named: the newest RUNNING one, else the newest; None without runs."""
    running = [e for e in executions if e.get("status") == "RUNNING"]
    return max(running or executions, key=lambda e: e["startDate"], default=None)


def describe(sfn: Any, arn: str) -> dict[str, Any]:
    described = sfn.describe_execution(executionArn=arn)
    described.pop("ResponseMetadata", None)
    return described


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn, includeExecutionData=True)
    return [event for page in pages for event in page["events"]]


def latest_attempt(events: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """The events since the last redrive (all of them for an execution never redriven)."""
    redriven = [i for i, event in enumerate(events) if event["type"] == REDRIVEN]
    return events[redriven[-1] + 1 :] if redriven else events


def json_object(text: Any) -> dict[str, Any]:
    """The JSON object of an execution's input or output text; {} for anything else."""
    if not isinstance(text, str):
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:  # outputs over 256 KB arrive truncated
        return {}
    return parsed if isinstance(parsed, dict) else {}


# --- what a run amounts to ----------------------------------------------------------------------------


def waiting_for(events: Sequence[Mapping[str, Any]]) -> str | None:
    """ "orders" or "returns" while the execution is parked in AwaitCounterpart, else None."""
    open_state: Mapping[str, Any] | None = None
    for event in latest_attempt(events):
        if event["type"].endswith("StateEntered"):
            open_state = event["stateEnteredEventDetails"]
        elif event["type"].endswith("StateExited"):
            open_state = None
        elif event["type"] in EXECUTION_ENDED or event["type"] == "ExecutionSucceeded":
            return None
    if open_state is None or open_state.get("name") != PARKED_STATE:
        return None
    files = json_object(open_state.get("input")).get("files") or {}
    side = files.get("waiting_for") if isinstance(files, dict) else None
    return str(side) if side in ("orders", "returns") else None


def category(described: Mapping[str, Any], waiting: str | None = None) -> str:
    """processed, failed, running, waiting for <side>, superseded or export missing."""
    status = described.get("status")
    if status == "RUNNING":
        return f"waiting for {waiting}" if waiting else RUNNING_RUN
    if status != "SUCCEEDED":
        return FAILED_RUN if status in TERMINAL else RUNNING_RUN
    output = json_object(described.get("output"))
    if isinstance(output.get("missing"), dict):
        return EXPORT_MISSING
    pairing = output.get("pairing")
    if isinstance(pairing, dict) and pairing.get("outcome") == "superseded":
        return SUPERSEDED
    return PROCESSED


# --- tables ----------------------------------------------------------------------------------------------


def naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """Time-zone-aware columns as naive UTC, for tables (pyarrow warns on aware columns with pandas 3)."""
    frame = frame.copy()
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame
