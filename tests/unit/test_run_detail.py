"""services/run_detail.py: per-state table, root cause, graph, Glue run id, quality report, actions (no AWS).

The failed-run history below is a real ``get_execution_history`` of the local AWS (returns file without an
order id column), trimmed to the fields that the functions read; the retry and Catch sequences follow the
event order that Step Functions documents for a Task's Retry and Catch.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from services import run_detail as rd
from stack.settings import Settings

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


# A recorded failed run (31 events; the states as since ADR 0023).
FAILED_RUN = [
    event("22:09:06.114", "ExecutionStarted"),
    *task("22:09:06.118", "22:09:06.917", "CheckForFiles"),
    *passing("Choice", "22:09:06.919", "22:09:06.919", "FilesExist"),
    *task("22:09:06.919", "22:09:07.273", "TriggerGlueJob", {"glue": GLUE}),
    *passing("Wait", "22:09:07.273", "22:09:08.274", "WaitForGlue", {"glue": GLUE}),
    *task("22:09:08.274", "22:09:08.679", "CheckGlueJobStatus", {"glue": GLUE}),
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
    "StartAt": "CheckForFiles",
    "States": {
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


def by_state(rows) -> dict[str, rd.StateRow]:
    return {row.state: row for row in rows}


def test_state_rows_of_a_recorded_failed_run():
    rows = rd.state_rows(FAILED_RUN, "FAILED")

    assert [r.state for r in rows] == [
        "CheckForFiles",
        "FilesExist",
        "TriggerGlueJob",
        "WaitForGlue",
        "CheckGlueJobStatus",
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
    assert states["ETLFailed"].status == rd.FAILED and states["ETLFailed"].exited is None
    assert {r.status for r in rows if r.state != "ETLFailed"} == {rd.SUCCEEDED}


def test_a_polling_loop_counts_visits_not_retries():
    loop = []
    for second in range(3):
        loop += passing("Wait", f"10:00:0{second}.000", f"10:00:0{second}.500", "WaitForGlue")
        loop += task(f"10:00:0{second}.500", f"10:00:0{second}.750", "CheckGlueJobStatus")

    states = by_state(rd.state_rows(loop, "RUNNING"))

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

    (row,) = rd.state_rows(retried, "RUNNING")

    assert (row.visits, row.retries, row.task_failures) == (1, 2, 2)
    assert row.status == rd.SUCCEEDED  # the last attempt succeeded
    assert row.last_error == "TransientError: ThrottlingException"
    assert row.duration_s == pytest.approx(4.0)


def test_a_state_in_progress_is_running_until_the_execution_ends():
    started = [
        event("10:00:00.001", "TaskStateEntered", "CheckForFiles"),
        event("10:00:00.002", "TaskScheduled"),
    ]

    assert by_state(rd.state_rows(started, "RUNNING"))["CheckForFiles"].status == rd.RUNNING
    assert by_state(rd.state_rows(started, "ABORTED"))["CheckForFiles"].status == rd.FAILED


def test_root_cause_of_the_recorded_glue_failure():
    failure = rd.root_cause(FAILED_RUN)

    assert failure.failed_state == "GlueJob"
    assert failure.error == "GlueJobFailed"
    assert "returns file has no order id column" in failure.cause
    # GlueJob is no state of the definition: the Task that observed it is marked instead.
    assert failure.graph_state == "CheckGlueJobStatus"
    assert failure.execution_error == "ETLFailed"


def test_root_cause_of_a_caught_task_failure_names_that_task():
    record = {"failed_state": "CheckForFiles", "error": "AccessDenied", "cause": "s3:ListBucket denied"}
    caught = [
        event("10:00:00.001", "TaskStateEntered", "CheckForFiles"),
        event("10:00:00.002", "TaskScheduled"),
        event("10:00:00.003", "TaskStarted"),
        event("10:00:00.400", "TaskFailed", error="AccessDenied", cause="s3:ListBucket denied"),
        event("10:00:00.401", "TaskStateExited", "CheckForFiles", output={"error": {}}),
        *passing("Pass", "10:00:00.401", "10:00:00.402", "RecordCheckForFilesError", {"failure": record}),
        event("10:00:00.403", "FailStateEntered", "Failed"),
        event("10:00:00.404", "ExecutionFailed", error="ETLFailed", cause="AccessDenied in CheckForFiles"),
    ]

    failure = rd.root_cause(caught)
    rows = by_state(rd.state_rows(caught, "FAILED"))

    assert (failure.failed_state, failure.error, failure.cause) == (
        "CheckForFiles",
        "AccessDenied",
        "s3:ListBucket denied",
    )
    assert failure.graph_state == "CheckForFiles"
    assert rows["CheckForFiles"].status == rd.FAILED and rows["CheckForFiles"].task_failures == 1
    assert rows["RecordCheckForFilesError"].status == rd.SUCCEEDED


def test_root_cause_without_a_failure_record_uses_the_execution_error():
    uncaught = [
        event("10:00:00.001", "TaskStateEntered", "CheckForFiles"),
        event("10:00:00.002", "TaskScheduled"),
        event("10:00:00.400", "TaskFailed", error="Lambda.Unknown", cause="boom"),
        event("10:00:00.404", "ExecutionFailed", error="Lambda.Unknown", cause="boom"),
    ]

    failure = rd.root_cause(uncaught)

    assert (failure.failed_state, failure.error, failure.cause) == ("CheckForFiles", "Lambda.Unknown", "boom")


def test_no_root_cause_while_running_or_after_success():
    assert rd.root_cause(FAILED_RUN[:-2]) is None
    succeeded = [
        *task("10:00:00.000", "10:00:01.000", "NotifySuccess"),
        event("10:00:01.0", "ExecutionSucceeded"),
    ]
    assert rd.root_cause(succeeded) is None


def test_glue_reference_comes_from_the_trigger_output():
    assert rd.glue_reference(FAILED_RUN) == GLUE
    assert rd.glue_reference(FAILED_RUN[:12]) is None  # before TriggerGlueJob exited


def test_statuses_and_graph_colour_every_state():
    events = [
        *task("10:00:00.000", "10:00:00.400", "CheckForFiles"),
        event("10:00:00.401", "ChoiceStateEntered", "FilesExist"),
    ]
    statuses = rd.state_statuses(ASL, rd.state_rows(events, "RUNNING"))

    assert statuses == {
        "CheckForFiles": rd.SUCCEEDED,
        "FilesExist": rd.RUNNING,
        "NotifySuccess": rd.NOT_VISITED,
        "Done": rd.NOT_VISITED,
        "RecordCheckForFilesError": rd.NOT_VISITED,
        "Failed": rd.NOT_VISITED,
    }
    dot = rd.dot_graph(ASL, statuses)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert f'"CheckForFiles" [fillcolor="{rd.STATE_COLOURS[rd.SUCCEEDED]}"' in dot
    assert f'"FilesExist" [fillcolor="{rd.STATE_COLOURS[rd.RUNNING]}"' in dot
    assert '"CheckForFiles" -> "RecordCheckForFilesError" [style=dashed' in dot
    assert '"FilesExist" -> "CheckForFiles" [style=dotted]' in dot
    assert '__start -> "CheckForFiles"' in dot

    path = rd.dot_graph(ASL, statuses, path_only=True)  # only where the run has been, and ways between
    assert '"CheckForFiles" -> "FilesExist"' in path and '__start -> "CheckForFiles"' in path
    assert "RecordCheckForFilesError" not in path and "NotifySuccess" not in path


def test_mark_failure_and_state_frame_mark_the_attributed_state():
    rows = rd.state_rows(FAILED_RUN, "FAILED")
    failure = rd.root_cause(FAILED_RUN)

    frame = rd.state_frame(rows, failure)
    statuses = rd.mark_failure({r.state: r.status for r in rows}, failure)

    assert frame.set_index("state").loc["CheckGlueJobStatus", "status"] == rd.FAILED
    assert statuses["CheckGlueJobStatus"] == rd.FAILED and statuses["TriggerGlueJob"] == rd.SUCCEEDED
    assert list(frame.columns[:6]) == ["state", "type", "status", "entered", "exited", "duration_s"]


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
    assert rd.glue_run_id(checked, "batch-x") == expected
    reported = [*checked, event("10:00:02.000", "TaskStateExited", "TriggerGlueJob", output={
        "glue": {"job_run_id": "jr_1", "run_id": "reported"}})]  # fmt: skip
    assert rd.glue_run_id(reported, "batch-x") == "reported"
    assert rd.glue_run_id([event("10:00:00.000", "TaskStateEntered", "CheckForFiles")], "batch-x") is None


def test_belongs_to_takes_only_executions_of_the_state_machine():
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:ETL-StepFunction-Controller"
    own = "arn:aws:states:us-east-1:123456789012:execution:ETL-StepFunction-Controller:batch-1"
    assert rd.belongs_to(own, machine)
    assert not rd.belongs_to(own.replace("ETL-StepFunction-Controller", "Payroll"), machine)
    assert not rd.belongs_to(own.replace("123456789012", "999999999999"), machine)
    assert not rd.belongs_to(machine.replace(":stateMachine:", ":execution:") + ":", machine)
    assert not rd.belongs_to(own + ":extra", machine)
    assert not rd.belongs_to(
        "arn:aws:states:us-east-1:123456789012:execution:ETL-StepFunction-Controller-2:b", machine
    )


def client_error(code: str, status: int, message: str) -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "RedriveExecution")


def test_a_failed_run_redriven_re_enters_etl_failed_and_keeps_its_root_cause():
    assert rd.redrive_reenters(FAILED_RUN) == "ETLFailed"  # every caught failure ends there
    again = [
        *FAILED_RUN,
        event("22:10:00.000", "ExecutionRedriven"),
        event("22:10:00.001", "FailStateEntered", "ETLFailed"),
        event("22:10:00.002", "ExecutionFailed", error="ETLFailed", cause="again"),
    ]

    assert rd.redrive_reenters(again) == "ETLFailed"
    assert rd.root_cause(again).failed_state == "GlueJob"
    rows = by_state(rd.state_rows(again, "FAILED"))
    assert rows["ETLFailed"].visits == 2 and rows["ETLFailed"].status == rd.FAILED
    assert rows["NotifyFailure"].visits == 1  # not run again


def test_a_stopped_run_redriven_to_success_shows_no_failure():
    stopped = [
        event("09:00:00.000", "ExecutionStarted"),
        *task("09:00:00.001", "09:00:00.100", "CheckForFiles"),
        event("09:00:00.100", "TaskStateEntered", "AwaitCounterpart"),
        event("09:00:00.101", "TaskScheduled"),
        event("09:00:00.102", "TaskStarted"),
        event("09:00:05.000", "ExecutionAborted"),
    ]
    assert rd.redrive_reenters(stopped) is None  # an aborted Task is rerun: redrive resumes it
    assert rd.root_cause(stopped).graph_state == "AwaitCounterpart"
    redriven = [
        *stopped,
        event("09:01:00.000", "ExecutionRedriven"),
        *task("09:01:00.001", "09:02:00.000", "AwaitCounterpart"),
        event("09:02:00.001", "SucceedStateEntered", "ETLSucceeded"),
        event("09:02:00.002", "SucceedStateExited", "ETLSucceeded"),
        event("09:02:00.003", "ExecutionSucceeded"),
    ]

    assert rd.root_cause(redriven) is None
    rows = by_state(rd.state_rows(redriven, "SUCCEEDED"))
    assert rows["AwaitCounterpart"].status == rd.SUCCEEDED and rows["AwaitCounterpart"].visits == 2
    assert rows["AwaitCounterpart"].retries == 0  # a redrive is no retry


def test_redrive_unsupported_tells_a_missing_api_from_a_refusal():
    moto_page = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>"
    assert rd.redrive_unsupported(client_error("500", 500, moto_page))
    assert rd.redrive_unsupported(client_error("UnknownOperationException", 400, "Unknown operation"))
    assert not rd.redrive_unsupported(client_error("ExecutionNotRedrivable", 400, "not redrivable"))
    assert not rd.redrive_unsupported(client_error("InternalFailure", 500, '{"message": "oops"}'))


def test_the_quality_report_of_a_run_is_read_where_the_job_writes_it():
    settings = Settings()
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    key = f"{settings.processed_prefix}run_id=R1/_quality/report.json"
    report = json.dumps({"rows_in": 20, "rows_out": 20}).encode()
    with Stubber(s3) as stub:
        stub.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(report), len(report))},
            {"Bucket": settings.processed_bucket, "Key": key},
        )
        stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
        assert rd.quality_report(s3, settings, "R1") == {"rows_in": 20, "rows_out": 20}
        assert rd.quality_report(s3, settings, "R2") is None  # not written (yet)
    assert rd.quality_report_uri(settings, "R1") == f"s3://{settings.processed_bucket}/{key}"


# --- what a run published


@pytest.mark.parametrize(
    ("category", "report", "live", "failure", "outcome", "says"),
    [
        ("processed", {"published": True}, "r1", None, "live", "Published run r1: the table shows it now."),
        ("processed", {"published": True}, "r2", None, "replaced", "the table has since moved to run r2"),
        (
            "processed",
            {
                "published": False,
                "warnings": ["not published: this batch (t1) is older than the published run r2"],
            },
            "r2",
            None,
            "not published",
            "Nothing published: this batch (t1) is older than the published run r2.",
        ),
        ("running", None, "r0", None, "pending", "Nothing published yet"),
        ("waiting for returns", None, "r0", None, "pending", "Nothing published yet"),
        ("superseded", None, "r0", None, "not published", "a newer upload superseded these files"),
        ("export missing", None, "r0", None, "not published", "never arrived within the pairing window"),
        (
            "failed",
            {"status": "FAILED", "published": False},
            "r0",
            rd.Failure("GlueJob", "GlueJobFailed", "3 lines quarantined", "CheckGlueJobStatus"),
            "not published",
            "Nothing published: it failed in GlueJob: GlueJobFailed.",
        ),
        ("failed", None, "r0", None, "not published", "it ended before the Glue job wrote a report"),
    ],
)
def test_each_run_says_what_it_published_or_why_not(category, report, live, failure, outcome, says):
    found = rd.publication(category, "r1", report, live, failure)
    assert found.outcome == outcome
    assert says in found.text
