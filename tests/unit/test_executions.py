"""services/executions.py pure functions: per-state table, root cause, graph, KPIs and filters (no AWS).

The failed-run history below is a real ``get_execution_history`` of the local AWS (returns file without an
order id column), trimmed to the fields that the functions read; the retry and Catch sequences follow the
event order that Step Functions documents for a Task's Retry and Catch.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from services import executions as ex
from stack import aws

JOB_RUN = "jr_559ca90de00b4a13"
GLUE = {
    "job_name": "ecommerce_join_data",
    "job_run_id": JOB_RUN,
    "run_id": "20261125T220905Z-1d69e31d",
    "orders_path": "s3://ecommerce-orders-raw/recbad/orders.csv",
    "returns_path": "s3://ecommerce-returns-raw/recbad/returns.csv",
}
GLUE_CAUSE = (
    f"Glue job ecommerce_join_data run {JOB_RUN} ended in state FAILED: ProfileError: returns file has no "
    "order id column (found: returned, order_reference) "
    "(orders: s3://ecommerce-orders-raw/recbad/orders.csv, returns: s3://ecommerce-returns-raw/recbad/returns.csv)"
)
FAILURE = {"failed_state": "GlueJob", "error": "GlueJobFailed", "cause": GLUE_CAUSE}
DAY = "2026-11-25T"


def event(time: str, kind: str, name: str | None = None, **details) -> dict:
    """An event in the shape boto3 returns (``time`` = HH:MM:SS.fff on DAY)."""
    result = {"timestamp": datetime.fromisoformat(DAY + time).replace(tzinfo=UTC), "type": kind}
    if kind.endswith("StateEntered"):
        result["stateEnteredEventDetails"] = {"name": name, "input": "{}"}
    elif kind.endswith("StateExited"):
        result["stateExitedEventDetails"] = {"name": name, "output": json.dumps(details.get("output", {}))}
    elif kind == "ExecutionFailed":
        result["executionFailedEventDetails"] = {"error": details["error"], "cause": details["cause"]}
    elif kind == "TaskFailed":
        result["taskFailedEventDetails"] = {
            "resourceType": "lambda",
            "resource": "invoke",
            "error": details["error"],
            "cause": details["cause"],
        }
    elif kind.startswith("Task"):
        result[f"{kind[0].lower()}{kind[1:]}EventDetails"] = {"resourceType": "lambda", "resource": "invoke"}
    return result


def task(start: str, end: str, name: str, output: dict | None = None) -> list[dict]:
    return [
        event(start, "TaskStateEntered", name),
        event(start, "TaskScheduled"),
        event(start, "TaskStarted"),
        event(end, "TaskSucceeded"),
        event(end, "TaskStateExited", name, output=output or {}),
    ]


def passing(kind: str, start: str, end: str, name: str, output: dict | None = None) -> list[dict]:
    return [event(start, f"{kind}StateEntered", name), event(end, f"{kind}StateExited", name, output=output)]


# The recorded failed run (37 events).
FAILED_RUN = [
    event("22:09:06.114", "ExecutionStarted"),
    *passing("Pass", "22:09:06.117", "22:09:06.118", "Init"),
    *task("22:09:06.118", "22:09:06.917", "CheckForFiles"),
    *passing("Pass", "22:09:06.917", "22:09:06.919", "CountFileCheck"),
    *passing("Choice", "22:09:06.919", "22:09:06.919", "FilesExist"),
    *task("22:09:06.919", "22:09:07.273", "TriggerGlueJob", {"glue": GLUE}),
    *passing("Wait", "22:09:07.273", "22:09:08.274", "WaitForGlue", {"glue": GLUE}),
    *task("22:09:08.274", "22:09:08.679", "CheckGlueJobStatus", {"glue": GLUE}),
    *passing("Pass", "22:09:08.679", "22:09:08.682", "CountGluePoll", {"glue": GLUE}),
    *passing("Choice", "22:09:08.682", "22:09:08.685", "GlueJobOutcome", {"glue": GLUE}),
    *passing(
        "Pass", "22:09:08.685", "22:09:08.689", "RecordGlueJobFailed", {"glue": GLUE, "failure": FAILURE}
    ),
    *task("22:09:08.689", "22:09:08.708", "NotifyFailure", {"glue": GLUE, "failure": FAILURE}),
    event("22:09:08.708", "FailStateEntered", "ETLFailed"),
    event(
        "22:09:08.710", "ExecutionFailed", error="ETLFailed", cause=f"GlueJobFailed in GlueJob: {GLUE_CAUSE}"
    ),
]

ASL = {
    "StartAt": "Init",
    "States": {
        "Init": {"Type": "Pass", "Next": "CheckForFiles"},
        "CheckForFiles": {
            "Type": "Task",
            "Next": "FilesExist",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "RecordCheckForFilesError"}],
        },
        "FilesExist": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "NotifySuccess"}],
            "Default": "CheckForFiles",
        },
        "NotifySuccess": {"Type": "Task", "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "RecordCheckForFilesError": {"Type": "Pass", "Next": "Failed"},
        "Failed": {"Type": "Fail"},
    },
}


def by_state(rows) -> dict[str, ex.StateRow]:
    return {row.state: row for row in rows}


def test_state_rows_of_a_recorded_failed_run():
    rows = ex.state_rows(FAILED_RUN, "FAILED")

    assert [r.state for r in rows] == [
        "Init",
        "CheckForFiles",
        "CountFileCheck",
        "FilesExist",
        "TriggerGlueJob",
        "WaitForGlue",
        "CheckGlueJobStatus",
        "CountGluePoll",
        "GlueJobOutcome",
        "RecordGlueJobFailed",
        "NotifyFailure",
        "ETLFailed",
    ]
    states = by_state(rows)
    assert states["CheckForFiles"].type == "Task" and states["FilesExist"].type == "Choice"
    assert states["CheckForFiles"].duration_s == pytest.approx(0.799)
    assert states["WaitForGlue"].duration_s == pytest.approx(1.001)
    assert states["TriggerGlueJob"].entered == datetime(2026, 11, 25, 22, 9, 6, 919000, tzinfo=UTC)
    assert states["TriggerGlueJob"].exited == datetime(2026, 11, 25, 22, 9, 7, 273000, tzinfo=UTC)
    assert all(r.retries == 0 and r.visits == 1 for r in rows)
    assert states["ETLFailed"].status == ex.FAILED and states["ETLFailed"].exited is None
    assert {r.status for r in rows if r.state != "ETLFailed"} == {ex.SUCCEEDED}


def test_a_polling_loop_counts_visits_not_retries():
    loop = []
    for second in range(3):
        loop += passing("Wait", f"10:00:0{second}.000", f"10:00:0{second}.500", "WaitForGlue")
        loop += task(f"10:00:0{second}.500", f"10:00:0{second}.750", "CheckGlueJobStatus")

    states = by_state(ex.state_rows(loop, "RUNNING"))

    assert states["CheckGlueJobStatus"].visits == 3 and states["CheckGlueJobStatus"].retries == 0
    assert states["CheckGlueJobStatus"].duration_s == pytest.approx(0.75)
    assert (
        states["CheckGlueJobStatus"].entered.second == 0 and states["CheckGlueJobStatus"].exited.second == 2
    )


def test_a_retried_task_counts_its_extra_attempts_and_last_error():
    retried = [
        event("10:00:00.000", "TaskStateEntered", "TriggerGlueJob"),
        event("10:00:00.010", "TaskScheduled"),
        event("10:00:00.020", "TaskStarted"),
        event("10:00:00.500", "TaskFailed", error="TransientError", cause="ConcurrentRunsExceededException"),
        event("10:00:01.500", "TaskScheduled"),
        event("10:00:01.510", "TaskStarted"),
        event("10:00:01.900", "TaskFailed", error="TransientError", cause="ThrottlingException"),
        event("10:00:03.900", "TaskScheduled"),
        event("10:00:03.910", "TaskStarted"),
        event("10:00:04.000", "TaskSucceeded"),
        event("10:00:04.000", "TaskStateExited", "TriggerGlueJob", output={"glue": GLUE}),
    ]

    (row,) = ex.state_rows(retried, "RUNNING")

    assert (row.visits, row.retries, row.task_failures) == (1, 2, 2)
    assert row.status == ex.SUCCEEDED  # the last attempt succeeded
    assert row.last_error == "TransientError: ThrottlingException"
    assert row.duration_s == pytest.approx(4.0)


def test_a_state_in_progress_is_running_until_the_execution_ends():
    started = [
        *passing("Pass", "10:00:00.000", "10:00:00.001", "Init"),
        event("10:00:00.001", "TaskStateEntered", "CheckForFiles"),
        event("10:00:00.002", "TaskScheduled"),
    ]

    assert by_state(ex.state_rows(started, "RUNNING"))["CheckForFiles"].status == ex.RUNNING
    assert by_state(ex.state_rows(started, "ABORTED"))["CheckForFiles"].status == ex.FAILED


def test_root_cause_of_the_recorded_glue_failure():
    failure = ex.root_cause(FAILED_RUN)

    assert failure.failed_state == "GlueJob"
    assert failure.error == "GlueJobFailed"
    assert "returns file has no order id column" in failure.cause
    # GlueJob is no state of the definition: the Task that observed it is marked instead.
    assert failure.graph_state == "CheckGlueJobStatus"
    assert failure.execution_error == "ETLFailed"


def test_root_cause_of_a_caught_task_failure_names_that_task():
    record = {"failed_state": "CheckForFiles", "error": "AccessDenied", "cause": "s3:ListBucket denied"}
    caught = [
        *passing("Pass", "10:00:00.000", "10:00:00.001", "Init"),
        event("10:00:00.001", "TaskStateEntered", "CheckForFiles"),
        event("10:00:00.002", "TaskScheduled"),
        event("10:00:00.003", "TaskStarted"),
        event("10:00:00.400", "TaskFailed", error="AccessDenied", cause="s3:ListBucket denied"),
        event("10:00:00.401", "TaskStateExited", "CheckForFiles", output={"error": {}}),
        *passing("Pass", "10:00:00.401", "10:00:00.402", "RecordCheckForFilesError", {"failure": record}),
        event("10:00:00.403", "FailStateEntered", "Failed"),
        event("10:00:00.404", "ExecutionFailed", error="ETLFailed", cause="AccessDenied in CheckForFiles"),
    ]

    failure = ex.root_cause(caught)
    rows = by_state(ex.state_rows(caught, "FAILED"))

    assert (failure.failed_state, failure.error, failure.cause) == (
        "CheckForFiles",
        "AccessDenied",
        "s3:ListBucket denied",
    )
    assert failure.graph_state == "CheckForFiles"
    assert rows["CheckForFiles"].status == ex.FAILED and rows["CheckForFiles"].task_failures == 1
    assert rows["RecordCheckForFilesError"].status == ex.SUCCEEDED


def test_root_cause_without_a_failure_record_uses_the_execution_error():
    uncaught = [
        event("10:00:00.001", "TaskStateEntered", "CheckForFiles"),
        event("10:00:00.002", "TaskScheduled"),
        event("10:00:00.400", "TaskFailed", error="Lambda.Unknown", cause="boom"),
        event("10:00:00.404", "ExecutionFailed", error="Lambda.Unknown", cause="boom"),
    ]

    failure = ex.root_cause(uncaught)

    assert (failure.failed_state, failure.error, failure.cause) == ("CheckForFiles", "Lambda.Unknown", "boom")


def test_no_root_cause_while_running_or_after_success():
    assert ex.root_cause(FAILED_RUN[:-2]) is None
    succeeded = [
        *task("10:00:00.000", "10:00:01.000", "NotifySuccess"),
        event("10:00:01.0", "ExecutionSucceeded"),
    ]
    assert ex.root_cause(succeeded) is None


def test_glue_reference_comes_from_the_trigger_output():
    assert ex.glue_reference(FAILED_RUN) == GLUE
    assert ex.glue_reference(FAILED_RUN[:14]) is None  # before TriggerGlueJob exited


def test_statuses_and_graph_colour_every_state():
    events = [
        *passing("Pass", "10:00:00.000", "10:00:00.001", "Init"),
        event("10:00:00.001", "TaskStateEntered", "CheckForFiles"),
    ]
    statuses = ex.state_statuses(ASL, ex.state_rows(events, "RUNNING"))

    assert statuses == {
        "Init": ex.SUCCEEDED,
        "CheckForFiles": ex.RUNNING,
        "FilesExist": ex.NOT_VISITED,
        "NotifySuccess": ex.NOT_VISITED,
        "Done": ex.NOT_VISITED,
        "RecordCheckForFilesError": ex.NOT_VISITED,
        "Failed": ex.NOT_VISITED,
    }
    dot = ex.dot_graph(ASL, statuses)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert f'"Init" [fillcolor="{ex.STATE_COLOURS[ex.SUCCEEDED]}"' in dot
    assert f'"CheckForFiles" [fillcolor="{ex.STATE_COLOURS[ex.RUNNING]}"' in dot
    assert '"CheckForFiles" -> "RecordCheckForFilesError" [style=dashed' in dot
    assert '"FilesExist" -> "CheckForFiles" [style=dotted]' in dot
    assert '__start -> "Init"' in dot


def test_mark_failure_and_state_frame_mark_the_attributed_state():
    rows = ex.state_rows(FAILED_RUN, "FAILED")
    failure = ex.root_cause(FAILED_RUN)

    frame = ex.state_frame(rows, failure)
    statuses = ex.mark_failure({r.state: r.status for r in rows}, failure)

    assert frame.set_index("state").loc["CheckGlueJobStatus", "status"] == ex.FAILED
    assert statuses["CheckGlueJobStatus"] == ex.FAILED and statuses["TriggerGlueJob"] == ex.SUCCEEDED
    assert list(frame.columns[:6]) == ["state", "type", "status", "entered", "exited", "duration_s"]


# --- history ------------------------------------------------------------------------------------------


def described(name, status, start, seconds, orders="", returns=""):
    start = datetime.fromisoformat(start).replace(tzinfo=UTC)
    execution_input = {}
    if orders:
        execution_input["orders"] = {"bucket": "ecommerce-orders-raw", "key": orders}
    if returns:
        execution_input["returns"] = {"bucket": "ecommerce-returns-raw", "key": returns}
    return {
        "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:ETL:{name}",
        "name": name,
        "status": status,
        "startDate": start,
        "stopDate": None if seconds is None else start + timedelta(seconds=seconds),
        "input": json.dumps(execution_input),
    }


@pytest.fixture
def frame() -> pd.DataFrame:
    return ex.frame_from_described(
        [
            described("a", "SUCCEEDED", "2026-11-20T10:00:00", 10, "seed/orders.csv", "seed/returns.csv"),
            described("b", "SUCCEEDED", "2026-11-21T10:00:00", 20, "us/Orders.csv", "us/returns.csv"),
            described("c", "FAILED", "2026-11-22T10:00:00", 30, "broken/orders.csv", "broken/returns.csv"),
            described("d", "SUCCEEDED", "2026-11-25T09:00:00", 40, "seed/orders.csv", "seed/returns.csv"),
            described("e", "RUNNING", "2026-11-25T10:00:00", None, "seed/orders.csv", "seed/returns.csv"),
            described("f-rerun", "ABORTED", "2026-11-25T11:00:00", 100),
        ]
    )


def test_frame_is_newest_first_with_files_and_durations(frame):
    assert list(frame["name"]) == ["f-rerun", "e", "d", "c", "b", "a"]
    assert frame.loc[frame["name"] == "c", "orders_key"].item() == "broken/orders.csv"
    assert frame.loc[frame["name"] == "f-rerun", "orders_key"].item() == ""
    assert math.isnan(frame.loc[frame["name"] == "e", "duration_s"].item())
    assert frame.loc[frame["name"] == "d", "duration_s"].item() == 40.0


def test_kpis(frame):
    kpis = ex.kpis(frame)

    assert kpis.runs == 6 and kpis.ended == 5
    assert kpis.success_rate == pytest.approx(3 / 5)
    assert kpis.p50_s == pytest.approx(30.0)  # of 10, 20, 30, 40, 100
    assert kpis.p90_s == pytest.approx(76.0)  # linear interpolation between 40 and 100
    assert kpis.runs_per_day == pytest.approx(6 / 6)  # Nov 20 to Nov 25 inclusive


def test_waiting_superseded_and_missing_runs_are_not_failures_and_do_not_count_in_the_kpis(frame):
    """A day with a lone upload: the waiting run is 'waiting for orders', not a failure (ADR 0004)."""
    start = "2026-11-26T09:00:00"
    waiting = described("awaiting-orders-1", "RUNNING", start, None, returns="r.csv")
    superseded = {
        **described("awaiting-orders-2", "SUCCEEDED", start, 3600, returns="r0.csv"),
        "output": json.dumps({"pairing": {"outcome": "superseded", "superseded_by": "awaiting-orders-1"}}),
    }
    missing = {
        **described("awaiting-returns-3", "SUCCEEDED", start, 86400, orders="o.csv"),
        "output": json.dumps({"missing": {"export": "returns", "message": "returns export missing: …"}}),
    }
    rows = [
        described(n, s, t, d, o, r)
        for n, s, t, d, o, r in (
            ("a", "SUCCEEDED", "2026-11-20T10:00:00", 10, "o", "r"),
            ("c", "FAILED", "2026-11-22T10:00:00", 30, "o", "r"),
        )
    ]
    more = ex.frame_from_described([*rows, waiting, superseded, missing], {waiting["executionArn"]: "orders"})

    assert dict(zip(more["name"], more["category"], strict=True)) == {
        "a": "processed",
        "c": "failed",
        "awaiting-orders-1": "waiting for orders",
        "awaiting-orders-2": "superseded",
        "awaiting-returns-3": "export missing",
    }
    kpis = ex.kpis(more)
    assert kpis.ended == 2 and kpis.success_rate == pytest.approx(1 / 2)  # not 3 of 4
    assert kpis.p90_s == pytest.approx(28.0)  # the day-long waits are no run durations
    assert (kpis.waiting, kpis.superseded, kpis.export_missing) == (1, 1, 1)


def test_waiting_for_reads_the_parked_state():
    def entered(name, data=None):
        return {
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": name, "input": json.dumps(data)},
        }

    parked = [entered("CheckForFiles"), {"type": "TaskStateExited", "stateExitedEventDetails": {}}]
    parked.append(entered("AwaitCounterpart", {"files": {"waiting_for": "orders"}}))
    assert ex.waiting_for(parked) == "orders"
    resumed = [*parked, {"type": "TaskStateExited", "stateExitedEventDetails": {}}, entered("CheckForFiles")]
    assert ex.waiting_for(resumed) is None


def test_every_upload_of_a_burst_is_in_a_run_or_superseded():
    from pipeline.lambdas import runs

    t0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def up(side, ms, key):
        at = t0 + timedelta(milliseconds=ms)
        return runs.S3Object.create(f"ecommerce-{side}-raw", key, f"e{key}", at, 1, None, at)

    o = [up("orders", 0, "o1"), up("orders", 100, "o2")]
    r = [up("returns", 200, "r1"), up("returns", 300, "r2")]
    run = {**described("batch-x", "SUCCEEDED", "2026-11-26T09:00:01", 5), "input": json.dumps({})}
    run["output"] = json.dumps({"files": {"orders": o[1].to_dict(), "returns": r[1].to_dict()}})
    frame = ex.frame_from_described([run])

    table = ex.uploads_frame([*o, *r], frame)

    by_key = {row["key"]: row for _, row in table.iterrows()}
    assert by_key["o2"]["run"] == "batch-x" and by_key["r2"]["run"] == "batch-x"
    assert by_key["o1"]["status"] == "superseded" and by_key["o1"]["superseded_by"] == "batch-x"
    assert by_key["r1"]["superseded_by"] == "batch-x"
    assert list(table["key"]) == ["r2", "r1", "o2", "o1"]  # newest upload first


def test_kpis_of_nothing():
    kpis = ex.kpis(ex.frame_from_described([]))
    assert (kpis.runs, kpis.success_rate, kpis.p50_s, kpis.p90_s, kpis.runs_per_day) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_filters(frame):
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    assert list(ex.filter_runs(frame, ["FAILED"])["name"]) == ["c"]
    assert list(ex.filter_runs(frame, ["SUCCEEDED", "RUNNING"], ex.preset_since("Today", now))["name"]) == [
        "e",
        "d",
    ]
    a_week_after_b = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert list(ex.filter_runs(frame, since=ex.preset_since("Last 7 days", a_week_after_b))["name"]) == [
        "f-rerun",
        "e",
        "d",
        "c",
        "b",
    ]
    assert len(ex.filter_runs(frame, since=ex.preset_since("All", now))) == 6
    assert list(ex.filter_runs(frame, file_name="ORDERS.csv ")["name"]) == ["e", "d", "c", "b", "a"]
    assert list(ex.filter_runs(frame, file_name="broken")["name"]) == ["c"]
    assert list(ex.filter_runs(frame, ["SUCCEEDED"], file_name="seed")["name"]) == ["d", "a"]
    assert ex.filter_runs(frame, []).empty


def test_presets():
    now = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
    assert ex.preset_since("Today", now) == datetime(2026, 11, 25, tzinfo=UTC)
    assert ex.preset_since("Last 30 days", now) == now - timedelta(days=30)
    with pytest.raises(ValueError, match="unknown date preset"):
        ex.preset_since("Yesterday", now)


def test_pages(frame):
    assert ex.page_count(6, 4) == 2 and ex.page_count(0, 4) == 1
    assert list(ex.page_of(frame, 2, 4)["name"]) == ["b", "a"]
    assert list(ex.page_of(frame, 1, 4)["name"]) == ["f-rerun", "e", "d", "c"]


def test_input_files_of_odd_inputs():
    assert ex.input_files(None) == {"orders": "", "returns": ""}
    assert ex.input_files("not json") == {"orders": "", "returns": ""}
    assert ex.input_files('{"orders": {"key": "x.csv"}}') == {"orders": "x.csv", "returns": ""}


def client_error(code: str, status: int, message: str) -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "RedriveExecution")


def test_redrive_unsupported_tells_a_missing_api_from_a_refusal():
    moto_page = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>"
    assert aws.is_unsupported(client_error("500", 500, moto_page))
    assert aws.is_unsupported(client_error("UnknownOperationException", 400, "Unknown operation"))
    assert not aws.is_unsupported(client_error("ExecutionNotRedrivable", 400, "not redrivable"))
    assert not aws.is_unsupported(client_error("InternalFailure", 500, '{"message": "oops"}'))


def test_naive_utc_keeps_the_utc_wall_time(frame):
    shown = ex.naive_utc(frame)
    assert shown["start"].dt.tz is None
    assert shown.loc[shown["name"] == "a", "start"].item() == pd.Timestamp("2026-11-20T10:00:00")
    assert frame["start"].dt.tz is not None  # the input is left alone


def test_belongs_to_takes_only_executions_of_the_state_machine():
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:ETL-StepFunction-Controller"
    own = "arn:aws:states:us-east-1:123456789012:execution:ETL-StepFunction-Controller:batch-1"
    assert ex.belongs_to(own, machine)
    assert not ex.belongs_to(own.replace("ETL-StepFunction-Controller", "Payroll"), machine)
    assert not ex.belongs_to(own.replace("123456789012", "999999999999"), machine)
    assert not ex.belongs_to(machine.replace(":stateMachine:", ":execution:") + ":", machine)
    assert not ex.belongs_to(own + ":extra", machine)
    assert not ex.belongs_to(
        "arn:aws:states:us-east-1:123456789012:execution:ETL-StepFunction-Controller-2:b", machine
    )


def test_the_glue_run_of_an_execution_is_found_before_and_after_the_trigger_reports_it():
    from pipeline.lambdas import runs

    orders = {"bucket": "o", "key": "k.csv", "etag": "e1", "last_modified": "2026-11-25T18:30:00Z", "size": 5}
    returns = {
        "bucket": "r",
        "key": "r.csv",
        "etag": "e2",
        "last_modified": "2026-11-25T18:31:00Z",
        "size": 5,
    }
    checked = [event("10:00:01.000", "TaskStateExited", "CheckForFiles", output={"files": {
        "both_exist": True, "orders": orders, "returns": returns}})]  # fmt: skip
    expected = runs.run_id("2026-11-25T18:31:00Z", "batch-x")
    # Stopped while TriggerGlueJob runs: the run id is derived as the trigger derives it.
    assert ex.glue_run_id(checked, "batch-x") == expected
    reported = [*checked, event("10:00:02.000", "TaskStateExited", "TriggerGlueJob", output={
        "glue": {"job_run_id": "jr_1", "run_id": "reported"}})]  # fmt: skip
    assert ex.glue_run_id(reported, "batch-x") == "reported"
    assert ex.glue_run_id([event("10:00:00.000", "PassStateExited", "Init")], "batch-x") is None
