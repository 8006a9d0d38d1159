"""RedriveExecution on the local AWS, with AWS's rules (localaws/stepfunctions.py, ADR 0018).

A redrive resumes the same execution (same ARN, its history goes on after an ExecutionRedriven event) from
the state it failed, stopped or timed out in; the states before are not run again. Every caught failure
of this pipeline ends in the Fail state ETLFailed, which a redrive re-enters and fails in again, as on AWS.
A run that was stopped resumes for real: here, a run stopped while it waited for its counterpart.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from pipeline.lambdas import runs
from services import run_detail
from tests.e2e.test_pipeline import (
    Pipeline,
    body,
    lone_name,
    mail_for,
    run_suffix,
    seed,
    unique,
    wait_category,
)
from tests.support import batches

pytestmark = pytest.mark.spark

NO_ORDER_ID = b"Returned,Order Reference\nYes,CA-2017-153822\nYes,CA-2017-129707\n"


@pytest.fixture(scope="module")
def pipeline(local_aws, sample_data) -> Pipeline:
    return Pipeline(local_aws).with_nothing_waiting(sample_data)


def event_types(sfn, arn: str) -> list[str]:
    return [e["type"] for e in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]]


def entered(sfn, arn: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def wait_parked(sfn, arn: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not batches.parked(sfn, arn):
        assert time.monotonic() < deadline, event_types(sfn, arn)[-5:]
        time.sleep(0.1)


def refusal(sfn, arn: str) -> ClientError:
    with pytest.raises(ClientError) as caught:
        sfn.redrive_execution(executionArn=arn)
    return caught.value


def test_a_run_stopped_while_it_waited_is_redriven_and_its_counterpart_publishes_it(
    pipeline, sample_data, mail_catcher
):
    """Stopped by mistake while it waited for the orders export; redriven, it waits again (a new task
    token in the pairing ledger), the orders upload resumes it, and it publishes."""
    (_, orders), (_, returns) = seed(sample_data)
    settings, folder, sfn = pipeline.settings, unique("redrive-stopped"), pipeline.aws.stepfunctions
    pipeline.settle()
    name = lone_name(pipeline, settings.returns_bucket, f"{folder}/returns.csv", returns)
    wait_category(pipeline, name, "waiting for")
    arn = runs.execution_arn(pipeline.machine, name)
    run_detail.stop(sfn, arn, "ops@example.com")
    stopped = batches.wait_execution(sfn, arn)
    assert stopped["status"] == "ABORTED"
    assert (stopped["redriveStatus"], stopped["redriveCount"]) == ("REDRIVABLE", 0)
    before = entered(sfn, arn)

    run_detail.redrive(sfn, arn)

    redriven = sfn.describe_execution(executionArn=arn)
    assert redriven["status"] == "RUNNING" and redriven["redriveCount"] == 1, redriven
    assert redriven["startDate"] == stopped["startDate"] and "stopDate" not in redriven
    assert redriven["redriveDate"] >= stopped["stopDate"]
    assert redriven["redriveStatus"] == "NOT_REDRIVABLE"  # it runs
    wait_parked(sfn, arn)  # AwaitCounterpart again, with its input: waiting for the orders
    assert wait_category(pipeline, name, "waiting for")["category"] == "waiting for orders"

    pipeline.aws.s3.put_object(Bucket=settings.orders_bucket, Key=f"{folder}/orders.csv", Body=orders)
    ended = batches.wait_execution(sfn, arn)

    assert ended["status"] == "SUCCEEDED", ended.get("cause")
    assert ended["executionArn"] == arn and ended["redriveCount"] == 1
    types = event_types(sfn, arn)
    aborted, redriven_at = types.index("ExecutionAborted"), types.index("ExecutionRedriven")
    assert aborted < redriven_at < types.index("ExecutionSucceeded")
    assert types.count("ExecutionRedriven") == 1 and types.count("ExecutionStarted") == 1
    after = entered(sfn, arn)[len(before) :]
    assert after[0] == "AwaitCounterpart" and after[-1] == "ETLSucceeded", after
    # The states before the stop are not rerun: the one check after is the resumed run's.
    assert before.count("CheckForFiles") == 1 and after.count("CheckForFiles") == 1
    pipeline.settle()
    assert pipeline.table()["Parameters"]["run_id"].endswith(run_suffix(name))
    mail = mail_for(mail_catcher, name, "succeeded")
    assert f"s3://{settings.orders_bucket}/{folder}/orders.csv" in body(mail)
    # What the monitor shows: one row per state, no failure left over from the stopped attempt.
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert run_detail.root_cause(events) is None
    rows = {row.state: row.status for row in run_detail.state_rows(events, "SUCCEEDED")}
    assert rows["AwaitCounterpart"] == rows["ETLSucceeded"] == run_detail.SUCCEEDED


def test_a_failed_run_redriven_reenters_etl_failed_and_fails_again(pipeline, sample_data):
    """As on AWS: the unsuccessful state of a caught failure is the Fail state, which fails again. The
    Glue job, the notification and the published table are left alone."""
    folder, sfn = unique("redrive-failed"), pipeline.aws.stepfunctions
    (_, orders), _ = seed(sample_data)
    _, failed = pipeline.upload((f"{folder}/orders.csv", orders), (f"{folder}/returns.csv", NO_ORDER_ID))
    assert failed["status"] == "FAILED" and failed["redriveStatus"] == "REDRIVABLE"
    published = (pipeline.table() or {}).get("Parameters", {}).get("run_id")
    arn, before = failed["executionArn"], event_types(sfn, failed["executionArn"])

    run_detail.redrive(sfn, arn)
    again = batches.wait_execution(sfn, arn)

    assert again["status"] == "FAILED" and again["redriveCount"] == 1
    assert (again["error"], again["cause"]) == (failed["error"], failed["cause"])
    new_events = event_types(sfn, arn)[len(before) :]
    assert new_events == ["ExecutionRedriven", "FailStateEntered", "ExecutionFailed"]
    assert entered(sfn, arn)[-1] == "ETLFailed"
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert run_detail.redrive_reenters(events) == "ETLFailed"  # the monitor offers Rerun instead
    assert run_detail.root_cause(events).failed_state == "GlueJob"  # the first attempt's record
    pipeline.settle()
    assert (pipeline.table() or {}).get("Parameters", {}).get("run_id") == published


def test_succeeded_and_running_executions_are_not_redrivable(pipeline, sample_data):
    settings, folder, sfn = pipeline.settings, unique("redrive-refused"), pipeline.aws.stepfunctions
    (_, orders), (_, returns) = seed(sample_data)
    _, succeeded = pipeline.upload((f"{folder}/orders.csv", orders), (f"{folder}/returns.csv", returns))
    assert succeeded["status"] == "SUCCEEDED"
    assert succeeded["redriveStatus"] == "NOT_REDRIVABLE"
    assert succeeded["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"

    refused = refusal(sfn, succeeded["executionArn"])

    assert refused.response["Error"]["Code"] == "ExecutionNotRedrivable"
    assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not run_detail.redrive_unsupported(refused)  # a refusal, not a missing API
    assert sfn.describe_execution(executionArn=succeeded["executionArn"])["redriveCount"] == 0
    assert event_types(sfn, succeeded["executionArn"]).count("ExecutionRedriven") == 0

    # A parked run is RUNNING: refused too, and it goes on waiting.
    name = lone_name(pipeline, settings.orders_bucket, f"{folder}-lone/orders.csv", orders)
    wait_category(pipeline, name, "waiting for")
    arn = runs.execution_arn(pipeline.machine, name)
    assert refusal(sfn, arn).response["Error"]["Code"] == "ExecutionNotRedrivable"
    assert batches.parked(sfn, arn)
    sfn.stop_execution(executionArn=arn, error="Test", cause="test: leave nothing waiting")
    assert batches.wait_execution(sfn, arn)["status"] == "ABORTED"

    missing = runs.execution_arn(pipeline.machine, "no-such-run")
    assert refusal(sfn, missing).response["Error"]["Code"] == "ExecutionDoesNotExist"
    listed = {e["executionArn"]: e for e in batches.executions(sfn, pipeline.machine)}
    assert listed[succeeded["executionArn"]]["redriveCount"] == 0
