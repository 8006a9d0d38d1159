"""The four Lambda handlers against in-process moto, driven by the event fixtures in tests/events/.

moto facts these tests rely on (moto 5.2.5):
- Step Functions executions stay RUNNING unless ``execute_state_machine`` is configured (it is not here).
- Glue job runs follow the state manager model ``glue::job_run`` (STARTING → RUNNING → SUCCEEDED,
  "immediate" by default: the first get_job_run already says SUCCEEDED). Other states are set on the
  backend's FakeJobRun; ErrorMessage and exact timestamps come from a botocore Stubber.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.glue.models import glue_backends
from moto.moto_api import state_manager
from moto.s3.models import s3_backends

from deploy import artifacts
from pipeline.lambdas import check_files, check_glue_status, on_upload, runs, trigger_glue
from pipeline.lambdas.config import ConfigError, LambdaConfig
from stack.settings import Settings

EVENTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "events")
REGION = "us-east-1"
ORDERS_BUCKET = "ecommerce-orders-raw"
RETURNS_BUCKET = "ecommerce-returns-raw"
PROCESSED_BUCKET = "ecommerce-processed"
JOB = "ecommerce_join_data"
ORDERS_KEY = "Sample - Superstore Orders.csv"  # the key of s3_put_orders.json, URL-decoded
RETURNS_KEY = "returns.csv"


def load_event(name: str) -> dict:
    with open(os.path.join(EVENTS, name), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture
def moto_pipeline(fake_aws_env, monkeypatch):
    """moto with the raw and processed buckets, a trivial state machine and the Glue job."""
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in (ORDERS_BUCKET, RETURNS_BUCKET, PROCESSED_BUCKET):
            s3.create_bucket(Bucket=bucket)
        for bucket in (ORDERS_BUCKET, RETURNS_BUCKET):  # as deployed
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="ETL-StepFunction-Controller",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/etl-states",
        )
        glue = boto3.client("glue")
        glue.create_job(
            Name=JOB,
            Role=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/etl-glue",
            Command={
                "Name": "glueetl",
                "ScriptLocation": "s3://ecommerce-glue-scripts/ecommerce_join_data.py",
            },
            GlueVersion="5.0",
        )
        env = {
            "ORDERS_BUCKET": ORDERS_BUCKET,
            "RETURNS_BUCKET": RETURNS_BUCKET,
            "STATE_MACHINE_ARN": machine["stateMachineArn"],
            "GLUE_JOB_NAME": JOB,
            "OUTPUT_PATH": f"s3://{PROCESSED_BUCKET}/joined-data/",
            "DATABASE": "ecommerce_analytics",
            "TABLE": "joined_data",
            "PAIRING_PATH": f"s3://{PROCESSED_BUCKET}/pairing/",
            # What the deployer sets from the settings (their one source).
            "MAX_QUARANTINE_FRACTION": str(Settings().max_quarantine_fraction),
            "KEEP_RUNS": str(Settings().keep_runs),
            "PAIRING_SETTLE_SECONDS": str(Settings().pairing_settle_seconds),
        }
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        yield {"s3": s3, "sfn": sfn, "glue": glue, "state_machine_arn": machine["stateMachineArn"]}


@pytest.fixture
def manual_glue_runs():
    """Glue job runs stay STARTING (they advance only after a huge number of get_job_run calls)."""
    state_manager.set_transition(
        model_name="glue::job_run", transition={"progression": "manual", "times": 10**6}
    )
    yield
    state_manager.unset_transition("glue::job_run")


def put(s3, bucket: str, key: str, body: bytes = b"a,b\n1,2\n", when: datetime | None = None) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    if when is not None:  # moto stamps "now"; set LastModified on the backend to order objects exactly
        naive = when.astimezone(UTC).replace(tzinfo=None)  # as moto keeps it (its version listing needs it)
        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[bucket].keys[key].last_modified = naive


def executions(moto_pipeline) -> list[dict]:
    return moto_pipeline["sfn"].list_executions(stateMachineArn=moto_pipeline["state_machine_arn"])[
        "executions"
    ]


def execution_input(moto_pipeline, name: str) -> dict:
    arn = runs.execution_arn(moto_pipeline["state_machine_arn"], name)
    return json.loads(moto_pipeline["sfn"].describe_execution(executionArn=arn)["input"])


# --- check-orders-returns-exist --------------------------------------------------------------------


def test_check_files_finds_newest_over_pages(moto_pipeline):
    s3 = moto_pipeline["s3"]
    early = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(1000):
        put(s3, ORDERS_BUCKET, f"orders-{i:04d}.csv", when=early)
    # The newest sorts last, so it is on the second page of the listing (1000 keys per page).
    put(s3, ORDERS_BUCKET, "zz-orders-latest.csv", when=datetime(2026, 11, 25, 18, 30, tzinfo=UTC))
    put(s3, ORDERS_BUCKET, "folder/", body=b"")
    put(s3, RETURNS_BUCKET, "b-returns.csv", when=datetime(2026, 11, 25, 18, 31, tzinfo=UTC))
    put(s3, RETURNS_BUCKET, "a-returns-newer.csv", when=datetime(2026, 11, 25, 18, 32, tzinfo=UTC))
    assert s3.list_objects_v2(Bucket=ORDERS_BUCKET)["IsTruncated"] is True

    result = check_files.handler({}, None)

    assert result["both_exist"] is True
    assert result["orders"]["key"] == "zz-orders-latest.csv"
    assert result["orders"]["last_modified"] == "2026-11-25T18:30:00Z"
    assert result["returns"]["key"] == "a-returns-newer.csv"  # newest by time, not by key
    assert result["returns"]["etag"] and '"' not in result["returns"]["etag"]
    assert result["returns"]["size"] == 8
    json.dumps(result)


def test_check_files_when_one_bucket_is_empty(moto_pipeline):
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY)
    put(moto_pipeline["s3"], RETURNS_BUCKET, "folder/", body=b"")
    result = check_files.handler({"anything": "ignored"}, None)
    assert result["both_exist"] is False
    assert result["orders"]["key"] == ORDERS_KEY
    assert result["returns"] is None


def test_check_files_honours_prefixes(moto_pipeline, monkeypatch):
    put(moto_pipeline["s3"], ORDERS_BUCKET, "incoming/o.csv", when=datetime(2026, 1, 1, tzinfo=UTC))
    put(moto_pipeline["s3"], ORDERS_BUCKET, "archive/newer.csv", when=datetime(2026, 2, 1, tzinfo=UTC))
    monkeypatch.setenv("ORDERS_PREFIX", "incoming/")
    assert check_files.handler({}, None)["orders"]["key"] == "incoming/o.csv"


def test_check_files_takes_the_files_the_execution_names(moto_pipeline):
    """A rerun processes its own pair, not a newer upload; a run not yet past CheckForFiles whose pair a
    newer upload replaced is superseded by that upload's run (a burst keeps the newest)."""
    put(moto_pipeline["s3"], ORDERS_BUCKET, "first.csv", when=datetime(2026, 1, 1, tzinfo=UTC))
    put(moto_pipeline["s3"], RETURNS_BUCKET, RETURNS_KEY, when=datetime(2026, 1, 1, tzinfo=UTC))
    named = check_files.handler({}, None)
    put(moto_pipeline["s3"], ORDERS_BUCKET, "newer.csv", when=datetime(2026, 2, 1, tzinfo=UTC))
    event = {
        "execution_input": {"orders": named["orders"], "returns": named["returns"], "trigger": {}},
        "execution_name": "batch-x-rerun-20260301T000000Z",
    }
    result = check_files.handler(event, None)
    assert result["both_exist"] is True and result["superseded_by"] is None
    assert (result["orders"]["key"], result["returns"]["key"]) == ("first.csv", RETURNS_KEY)
    superseded = check_files.handler({**event, "execution_name": "batch-x"}, None)
    assert superseded["both_exist"] is False and superseded["superseded_by"].startswith("batch-")
    # An awaiting execution names one file: it waits for its counterpart (not the newest there is).
    awaiting = {"execution_input": {"orders": None, "returns": named["returns"]}, "window_seconds": 60}
    lone = check_files.handler(awaiting, None)
    assert (lone["both_exist"], lone["orders"], lone["waiting_for"]) == (False, None, "orders")
    assert lone["returns"]["key"] == RETURNS_KEY and 1 <= lone["window_seconds_left"] <= 60
    # Resumed by the counterpart's upload: the pair it was resumed with.
    pair = {"outcome": "paired", "orders": named["orders"], "returns": named["returns"]}
    resumed = check_files.handler(
        {**awaiting, "state": {"pairing": pair}, "execution_name": "a-rerun-x"}, None
    )
    assert resumed["both_exist"] is True and resumed["orders"]["key"] == "first.csv"


# A file and its replacement within one second: the listing's LastModified (seconds) does not make the
# replacement a newer upload, so a run naming the file is not superseded by it but refuses it. moto orders
# the versions by milliseconds. Without fixed times a test crossing a second boundary is superseded instead.
UPLOADED, REPLACED = (datetime(2026, 1, 1, 0, 0, 0, ms * 1000, tzinfo=UTC) for ms in (100, 600))


def test_check_files_refuses_a_named_file_that_was_replaced(moto_pipeline):
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY, when=UPLOADED)
    put(moto_pipeline["s3"], RETURNS_BUCKET, RETURNS_KEY, when=UPLOADED)
    named = check_files.handler({}, None)
    # same key, other bytes
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY, body=b"a,b\n3,4\n", when=REPLACED)
    event = {"execution_input": {"orders": named["orders"], "returns": named["returns"]}}
    with pytest.raises(check_files.FileReplaced, match="was replaced since this run was started"):
        check_files.handler(event, None)
    moto_pipeline["s3"].delete_object(Bucket=RETURNS_BUCKET, Key=RETURNS_KEY)
    event["execution_input"]["orders"] = check_files.handler({}, None)["orders"] or named["orders"]
    with pytest.raises(check_files.FileReplaced, match="is gone"):
        check_files.handler(event, None)


def test_missing_environment_is_a_clear_error(moto_pipeline, monkeypatch):
    monkeypatch.delenv("RETURNS_BUCKET")
    with pytest.raises(ConfigError, match="RETURNS_BUCKET"):
        check_files.handler({}, None)


# --- ecommerce-on-upload ---------------------------------------------------------------------------


def test_on_upload_starts_one_execution_for_duplicate_events(moto_pipeline):
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY)
    put(moto_pipeline["s3"], RETURNS_BUCKET, RETURNS_KEY)

    first = on_upload.handler(load_event("s3_put_orders.json"), None)
    assert first["started"] is True and first["reason"] == "started"
    objects = check_files.handler({}, None)
    expected = runs.execution_name(runs.as_object(objects["orders"]), runs.as_object(objects["returns"]))
    assert first["execution_name"] == expected
    assert first["execution_arn"] == runs.execution_arn(moto_pipeline["state_machine_arn"], expected)

    # The same event again, an event holding the record twice, and the other upload of the batch.
    for fixture in ("s3_put_orders.json", "s3_put_duplicate.json", "s3_put_returns.json"):
        again = on_upload.handler(load_event(fixture), None)
        assert again == {
            "started": False,
            "reason": "duplicate",
            "execution_name": expected,
            "execution_arn": first["execution_arn"],
            "status": "RUNNING",
        }
    assert [e["name"] for e in executions(moto_pipeline)] == [expected]
    assert execution_input(moto_pipeline, expected) == {  # the version is pinned later, by CheckForFiles
        "orders": {k: v for k, v in objects["orders"].items() if k != "version_id"},
        "returns": {k: v for k, v in objects["returns"].items() if k != "version_id"},
        "trigger": {"bucket": ORDERS_BUCKET, "key": ORDERS_KEY, "event_name": "ObjectCreated:Put"},
    }


def test_on_upload_execution_already_exists_is_a_duplicate(moto_pipeline, monkeypatch):
    """The race that the describe_execution check cannot close: StartExecution itself says it exists."""
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY)
    put(moto_pipeline["s3"], RETURNS_BUCKET, RETURNS_KEY)
    first = on_upload.handler(load_event("s3_put_orders.json"), None)
    moto_pipeline["sfn"].stop_execution(executionArn=first["execution_arn"])  # finished: same name is refused
    monkeypatch.setattr(on_upload, "execution_status", lambda sfn, arn: None)  # as if it started meanwhile

    again = on_upload.handler(load_event("s3_put_returns.json"), None)

    assert again["started"] is False and again["reason"] == "duplicate"
    assert again["execution_name"] == first["execution_name"]
    assert len(executions(moto_pipeline)) == 1


def test_on_upload_finished_execution_is_not_started_again(moto_pipeline):
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY)
    put(moto_pipeline["s3"], RETURNS_BUCKET, RETURNS_KEY)
    first = on_upload.handler(load_event("s3_put_orders.json"), None)
    moto_pipeline["sfn"].stop_execution(executionArn=first["execution_arn"])
    again = on_upload.handler(load_event("s3_put_orders.json"), None)
    assert (again["reason"], again["status"]) == ("duplicate", "ABORTED")
    assert len(executions(moto_pipeline)) == 1


def test_moto_start_execution_same_name_and_input_returns_the_running_execution(moto_pipeline):
    """Why on_upload describes before starting: like AWS, moto treats it as idempotent, no error."""
    args = {"stateMachineArn": moto_pipeline["state_machine_arn"], "name": "n1", "input": "{}"}
    assert (
        moto_pipeline["sfn"].start_execution(**args)["executionArn"]
        == moto_pipeline["sfn"].start_execution(**args)["executionArn"]
    )
    with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
        moto_pipeline["sfn"].start_execution(**{**args, "input": '{"other": 1}'})


def test_on_upload_waiting_execution_picks_up_the_second_file(moto_pipeline):
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY)

    waiting = on_upload.handler(load_event("s3_put_orders.json"), None)
    assert waiting["started"] is True
    assert waiting["execution_name"].startswith("awaiting-returns-")
    assert execution_input(moto_pipeline, waiting["execution_name"])["returns"] is None

    put(moto_pipeline["s3"], RETURNS_BUCKET, RETURNS_KEY)
    attached = on_upload.handler(load_event("s3_put_returns.json"), None)
    assert attached == {
        "started": False,
        "reason": "attached",
        "execution_name": waiting["execution_name"],
        "execution_arn": waiting["execution_arn"],
    }
    assert len(executions(moto_pipeline)) == 1

    # The pair was given to that execution: once it has ended, the same bytes again are a duplicate of it
    # (as for a batch-… run; a deliberate rerun has its own name, from the console).
    moto_pipeline["sfn"].stop_execution(executionArn=waiting["execution_arn"])
    again = on_upload.handler(load_event("s3_put_returns.json"), None)
    assert (again["reason"], again["execution_name"], again["status"]) == (
        "duplicate",
        waiting["execution_name"],
        "ABORTED",
    )
    assert len(executions(moto_pipeline)) == 1


def test_on_upload_returns_first_then_orders(moto_pipeline):
    put(moto_pipeline["s3"], RETURNS_BUCKET, RETURNS_KEY)
    waiting = on_upload.handler(load_event("s3_put_returns.json"), None)
    assert waiting["execution_name"].startswith("awaiting-orders-")
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY)
    attached = on_upload.handler(load_event("s3_put_orders.json"), None)
    assert (attached["reason"], attached["execution_name"]) == ("attached", waiting["execution_name"])


def test_on_upload_new_file_version_starts_a_new_execution(moto_pipeline):
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY)
    put(moto_pipeline["s3"], RETURNS_BUCKET, RETURNS_KEY)
    first = on_upload.handler(load_event("s3_put_orders.json"), None)
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY, body=b"a,b\n1,2\n3,4\n")  # same key, new ETag
    event = load_event("s3_put_orders.json")
    event["Records"][0]["eventTime"] = "2026-11-25T18:45:00.000Z"
    second = on_upload.handler(event, None)
    assert second["started"] is True and second["execution_name"] != first["execution_name"]


def test_on_upload_ignores_other_buckets_and_folders(moto_pipeline):
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY)
    event = load_event("s3_put_orders.json")
    event["Records"][0]["s3"]["bucket"]["name"] = "someone-elses-bucket"
    assert on_upload.handler(event, None) == {"started": False, "reason": "ignored", "execution_name": None}
    event = load_event("s3_put_orders.json")
    event["Records"][0]["s3"]["object"]["key"] = "incoming/"
    assert on_upload.handler(event, None)["reason"] == "ignored"
    assert executions(moto_pipeline) == []


def test_on_upload_object_gone(moto_pipeline):
    assert on_upload.handler(load_event("s3_put_orders.json"), None)["reason"] == "no_files"
    assert executions(moto_pipeline) == []


# --- ecommerce-trigger-glue ------------------------------------------------------------------------


def test_trigger_glue_starts_a_job_run_with_the_arguments(moto_pipeline):
    event = load_event("sfn_trigger_glue.json")
    result = trigger_glue.handler(event, None)

    expected_run_id = load_event("sfn_check_glue_status.json")["run_id"]
    assert result == {
        "job_name": JOB,
        "job_run_id": result["job_run_id"],
        "reused": False,
        "run_id": expected_run_id,
        "orders_path": f"s3://{ORDERS_BUCKET}/{ORDERS_KEY}",
        "returns_path": f"s3://{RETURNS_BUCKET}/{RETURNS_KEY}",
        "output_path": f"s3://{PROCESSED_BUCKET}/joined-data/",
        "batch_time": "2026-11-25T18:31:00.000Z",
        "wait_seconds": 0,  # GLUE_FIRST_WAIT_SECONDS… unset: check at once
    }
    run = moto_pipeline["glue"].get_job_run(JobName=JOB, RunId=result["job_run_id"])["JobRun"]
    assert run["Arguments"] == {
        "--orders_path": f"s3://{ORDERS_BUCKET}/{ORDERS_KEY}",
        "--returns_path": f"s3://{RETURNS_BUCKET}/{RETURNS_KEY}",
        "--output_path": f"s3://{PROCESSED_BUCKET}/joined-data/",
        "--database": "ecommerce_analytics",
        "--table": "joined_data",
        "--run_id": expected_run_id,
        "--batch_time": "2026-11-25T18:31:00.000Z",
        "--max_quarantine_fraction": "0.01",
        "--keep_runs": "5",
        "--orders_etag": "0f343b0931126a20f133d67c2b018a3b",
        "--returns_etag": "9b2cf535f27731c974343645a3985328",
    }
    json.dumps(result)


def test_the_versions_check_files_saw_are_the_ones_glue_is_told_to_read(moto_pipeline):
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY, body=b"a,b\n1,2\n", when=UPLOADED)
    put(moto_pipeline["s3"], RETURNS_BUCKET, RETURNS_KEY, when=UPLOADED)
    seen = check_files.handler({}, None)
    listed = moto_pipeline["s3"].list_object_versions(Bucket=ORDERS_BUCKET, Prefix=ORDERS_KEY)["Versions"]
    assert seen["orders"]["version_id"] == listed[0]["VersionId"]
    # replaced after the check
    put(moto_pipeline["s3"], ORDERS_BUCKET, ORDERS_KEY, body=b"a,b\n3,4\n", when=REPLACED)

    started = trigger_glue.handler({**seen, "execution_name": "batch-x"}, None)
    arguments = moto_pipeline["glue"].get_job_run(JobName=JOB, RunId=started["job_run_id"])["JobRun"][
        "Arguments"
    ]
    assert arguments["--orders_version_id"] == seen["orders"]["version_id"]
    assert arguments["--returns_version_id"] == seen["returns"]["version_id"]
    assert arguments["--orders_etag"] == seen["orders"]["etag"]
    # A rerun naming the checked pair refuses the replaced file (as before).
    with pytest.raises(check_files.FileReplaced):
        check_files.handler({"execution_input": seen}, None)


def test_trigger_glue_raises_when_the_job_does_not_exist(moto_pipeline, monkeypatch):
    monkeypatch.setenv("GLUE_JOB_NAME", "no_such_job")
    with pytest.raises(ClientError) as raised:
        trigger_glue.handler(load_event("sfn_trigger_glue.json"), None)
    assert raised.value.response["Error"]["Code"] == "EntityNotFoundException"


def test_trigger_glue_concurrent_runs_are_transient(moto_pipeline, manual_glue_runs):
    trigger_glue.handler(load_event("sfn_trigger_glue.json"), None)  # stays STARTING
    other = {**load_event("sfn_trigger_glue.json"), "execution_name": "batch-another-execution"}
    with pytest.raises(runs.TransientError, match="ConcurrentRunsExceededException"):
        trigger_glue.handler(other, None)


def test_trigger_glue_retried_after_a_timeout_takes_over_the_started_run(
    moto_pipeline, manual_glue_runs, monkeypatch
):
    """The first attempt started the run, then the Lambda timed out; Step Functions invokes it again."""
    job = moto_pipeline["glue"].get_job(JobName=JOB)["Job"]
    moto_pipeline[
        "glue"
    ].create_job(  # as deployed: up to three runs at once, so nothing else refuses a second one
        Name="join_3", Role=job["Role"], Command=job["Command"], ExecutionProperty={"MaxConcurrentRuns": 3}
    )
    monkeypatch.setenv("GLUE_JOB_NAME", "join_3")
    first = trigger_glue.handler(load_event("sfn_trigger_glue.json"), None)  # stays STARTING
    retry = trigger_glue.handler(load_event("sfn_trigger_glue.json"), None)

    assert retry["job_run_id"] == first["job_run_id"] and retry["reused"] and not first["reused"]
    assert retry["run_id"] == first["run_id"]
    assert len(moto_pipeline["glue"].get_job_runs(JobName="join_3")["JobRuns"]) == 1


def test_trigger_glue_retry_after_the_run_succeeded_does_not_run_it_again(moto_pipeline):
    first = trigger_glue.handler(load_event("sfn_trigger_glue.json"), None)
    moto_pipeline["glue"].get_job_run(JobName=JOB, RunId=first["job_run_id"])  # moto: SUCCEEDED now
    retry = trigger_glue.handler(load_event("sfn_trigger_glue.json"), None)
    assert retry["job_run_id"] == first["job_run_id"]
    assert len(moto_pipeline["glue"].get_job_runs(JobName=JOB)["JobRuns"]) == 1


@pytest.mark.parametrize("state", ["FAILED", "STOPPED", "TIMEOUT"])
def test_trigger_glue_starts_afresh_after_a_failed_run(moto_pipeline, manual_glue_runs, state):
    """A redrive of a failed execution has the same run_id: its ended run is not taken over."""
    first = trigger_glue.handler(load_event("sfn_trigger_glue.json"), None)
    glue_backends[DEFAULT_ACCOUNT_ID][REGION].jobs[JOB].job_runs[0].status = state
    again = trigger_glue.handler(load_event("sfn_trigger_glue.json"), None)
    assert again["job_run_id"] != first["job_run_id"] and not again["reused"]


def test_trigger_glue_throttling_is_transient():
    glue = boto3.client("glue", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    cfg = LambdaConfig(
        glue_job_name=JOB,
        output_path="s3://p/out/",
        database="d",
        table="t",
        max_quarantine_fraction=0.01,
        keep_runs=5,
    )
    with Stubber(glue) as stub:
        stub.add_response("get_job_runs", {"JobRuns": []}, {"JobName": JOB})
        stub.add_client_error("start_job_run", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(runs.TransientError):
            trigger_glue.process(load_event("sfn_trigger_glue.json"), cfg, glue=glue)


@pytest.mark.parametrize("missing", ["orders", "returns", "execution_name"])
def test_trigger_glue_rejects_incomplete_input(moto_pipeline, missing):
    event = load_event("sfn_trigger_glue.json")
    event[missing] = None
    with pytest.raises(ValueError, match=missing):
        trigger_glue.handler(event, None)


# --- check-glue-job-status -------------------------------------------------------------------------

REPORT = {
    "run_id": "set below",
    "rows_in": 9994,
    "rows_out": 9993,
    "returned_lines": 800,
    "unmatched_returns": 3,
    "quarantined_lines": 1,
    "quarantine_reasons": {"bad order_date": 1},
    "published": True,
    "warnings": ["1 of 9994 order lines quarantined (0.01%)"],
    "orders": {"encoding": "utf-8", "delimiter": ","},
    "returns": {"encoding": "utf-8", "delimiter": "\t"},
}


def started_run(moto_pipeline) -> dict:
    return trigger_glue.handler(load_event("sfn_trigger_glue.json"), None)


def test_check_glue_status_succeeded_with_report(moto_pipeline):
    started = started_run(moto_pipeline)
    bucket, key = runs.report_key(f"s3://{PROCESSED_BUCKET}/joined-data/", started["run_id"])
    moto_pipeline["s3"].put_object(
        Bucket=bucket, Key=key, Body=json.dumps({**REPORT, "run_id": started["run_id"]})
    )

    result = check_glue_status.handler(started, None)  # the trigger's output is the next input

    assert result["state"] == "SUCCEEDED" and result["outcome"] == "SUCCEEDED"
    assert result["error"] is None
    assert result["duration_seconds"] == 123  # moto's fixed ExecutionTime
    assert isinstance(result["started_on"], str) and result["started_on"].endswith("Z")
    assert result["quality"] == {
        "rows_in": 9994,
        "rows_out": 9993,
        "returned_lines": 800,
        "unmatched_returns": 3,
        "quarantined_lines": 1,
        "published": True,
        "warnings": ["1 of 9994 order lines quarantined (0.01%)"],
        "report_uri": f"s3://{bucket}/{key}",
    }
    json.dumps(result)


def test_check_glue_status_without_report(moto_pipeline):
    result = check_glue_status.handler(started_run(moto_pipeline), None)
    assert result["outcome"] == "SUCCEEDED" and result["quality"] is None


def test_check_glue_status_running(moto_pipeline, manual_glue_runs):
    result = check_glue_status.handler(started_run(moto_pipeline), None)
    assert (result["state"], result["outcome"], result["error"], result["quality"]) == (
        "STARTING",
        "RUNNING",
        None,
        None,
    )
    assert result["completed_on"] is None


@pytest.mark.parametrize("state", ["FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"])
def test_check_glue_status_failed_states(moto_pipeline, state):
    started = started_run(moto_pipeline)
    (job_run,) = glue_backends[DEFAULT_ACCOUNT_ID][REGION].jobs[JOB].job_runs
    job_run.status = state  # terminal: moto's transitions do not move it on
    result = check_glue_status.handler(started, None)
    assert (result["state"], result["outcome"]) == (state, "FAILED")
    assert result["error"] == f"Glue job ended in state {state}"  # moto's JobRun has no ErrorMessage


def test_check_glue_status_error_message_and_dates():
    """Stubbed Glue (moto has no ErrorMessage): the message is passed on, datetimes become ISO strings."""
    glue = boto3.client("glue", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    event = load_event("sfn_check_glue_status.json")
    cfg = LambdaConfig(output_path=f"s3://{PROCESSED_BUCKET}/joined-data/")
    bucket, key = runs.report_key(cfg.output_path, event["run_id"])
    with Stubber(glue) as glue_stub, Stubber(s3) as s3_stub:
        glue_stub.add_response(
            "get_job_run",
            {
                "JobRun": {
                    "Id": event["job_run_id"],
                    "JobName": JOB,
                    "JobRunState": "FAILED",
                    "ErrorMessage": "AnalysisException: quarantined 5.0% of lines > 1.0%",
                    "StartedOn": datetime(2026, 11, 25, 18, 31, 5, tzinfo=UTC),
                    "CompletedOn": datetime(2026, 11, 25, 18, 33, 0, tzinfo=UTC),
                    "ExecutionTime": 115,
                }
            },
            {"JobName": JOB, "RunId": event["job_run_id"]},
        )
        s3_stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404)
        result = check_glue_status.process(event, cfg, glue=glue, s3=s3)
        s3_stub.assert_no_pending_responses()
    assert result == {
        "state": "FAILED",
        "outcome": "FAILED",
        "error": "AnalysisException: quarantined 5.0% of lines > 1.0%",
        "duration_seconds": 115,
        "started_on": "2026-11-25T18:31:05Z",
        "completed_on": "2026-11-25T18:33:00Z",
        "quality": None,
        "count": 1,  # the first check (no counter named: outside the state machine)
    }
    assert (bucket, key) == (PROCESSED_BUCKET, f"joined-data/run_id={event['run_id']}/_quality/report.json")


def test_check_glue_status_unknown_run_raises(moto_pipeline):
    event = load_event("sfn_check_glue_status.json")
    with pytest.raises(ClientError):
        check_glue_status.handler(event, None)


# --- artifacts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", sorted(Settings().lambda_functions))
def test_lambda_zip_is_self_contained_and_reproducible(tmp_path, module):
    data = artifacts.build_lambda_zip(module)
    assert data == artifacts.build_lambda_zip(module)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == sorted(
            f"lambdas/{m}.py" for m in ("__init__", "config", "emails", "pairing", "runs", module)
        )
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        archive.extractall(tmp_path)

    handler = artifacts.lambda_handler(module)
    assert handler == f"lambdas.{module}.handler"
    module_name, _, attr = handler.rpartition(".")
    code = (
        "import importlib, sys\n"
        f"m = importlib.import_module({module_name!r})\n"
        f"assert callable(getattr(m, {attr!r}))\n"
        f"assert m.__file__.startswith({str(tmp_path)!r}), m.__file__\n"
        "assert 'pipeline' not in sys.modules\n"
    )
    env = {"PYTHONPATH": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_lambda_code_sha256_matches_what_lambda_reports(moto_pipeline):
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="etl-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    data = artifacts.build_lambda_zip("check_files")
    created = boto3.client("lambda").create_function(
        FunctionName="check-orders-returns-exist",
        Runtime="python3.11",
        Role=role,
        Handler=artifacts.lambda_handler("check_files"),
        Code={"ZipFile": data},
    )
    assert created["CodeSha256"] == artifacts.sha256_b64(data)


def test_unknown_lambda_is_rejected():
    with pytest.raises(KeyError, match="no Lambda module"):
        artifacts.build_lambda_zip("no_such_module")
    with pytest.raises(KeyError, match="no Lambda module"):
        artifacts.build_lambda_zip("config")  # a shared module has no handler


def test_glue_artifacts():
    assert artifacts.glue_script_bytes() == artifacts.GLUE_SCRIPT.read_bytes()
    data = artifacts.build_glue_extra_py_zip()
    assert data == artifacts.build_glue_extra_py_zip()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = ["arrow_csv.py", "arrow_tasks.py", "arrow_typing.py", "csv_profile.py", "run_lineage.py"]
        assert archive.namelist() == names
        assert all(archive.read(module.name) == module.read_bytes() for module in artifacts.GLUE_EXTRA_PY)


# --- pairing: a lone upload waits, its counterpart resumes it, a burst keeps the newest (ADR 0004) ----


class FakeTokens:
    """SendTaskSuccess recorded (moto's Step Functions here does not run the ASL, so nothing waits)."""

    def __init__(self, sfn, stale: set[str] = frozenset()):
        self.sfn, self.stale, self.sent = sfn, set(stale), []

    def send_task_success(self, taskToken, output):  # noqa: N803  (boto3's parameter names)
        if taskToken in self.stale:
            raise ClientError({"Error": {"Code": "TaskTimedOut", "Message": "gone"}}, "SendTaskSuccess")
        self.sent.append((taskToken, json.loads(output)))

    def __getattr__(self, name):
        return getattr(self.sfn, name)


def upload_event(s3, bucket: str, key: str, at: str, body: bytes = b"a,b\n1,2\n") -> dict:
    """PUT the object and return its S3 event, with the upload time ``at`` (ISO, milliseconds)."""
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "eventTime": at,
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": len(body)}},
            }
        ]
    }


def cfg() -> LambdaConfig:
    return LambdaConfig.from_env()


def test_a_lone_upload_parks_and_its_counterpart_resumes_it(moto_pipeline):
    from pipeline.lambdas import await_counterpart

    s3, sfn = moto_pipeline["s3"], FakeTokens(moto_pipeline["sfn"])
    waiting = on_upload.process(
        upload_event(s3, RETURNS_BUCKET, "r.csv", "2026-11-23T09:00:00.000Z"), cfg(), s3, sfn
    )
    assert waiting["reason"] == "started" and waiting["execution_name"].startswith("awaiting-orders-")
    lone = check_files.process(
        cfg(), s3, {"execution_input": execution_input(moto_pipeline, waiting["execution_name"])}
    )
    parked = await_counterpart.process(
        {"task_token": "t1", "execution_name": waiting["execution_name"], "files": lone}, cfg(), s3, sfn
    )
    assert parked == {"parked": True, "answered": None} and sfn.sent == []  # nothing sent while it waits

    resumed = on_upload.process(
        upload_event(s3, ORDERS_BUCKET, "o.csv", "2026-11-23T17:00:00.000Z"), cfg(), s3, sfn
    )

    assert (resumed["reason"], resumed["execution_name"]) == ("resumed", waiting["execution_name"])
    ((token, output),) = sfn.sent
    assert token == "t1" and output["outcome"] == "paired"
    assert (output["orders"]["key"], output["returns"]["key"]) == ("o.csv", "r.csv")
    assert len(executions(moto_pipeline)) == 1  # no second run for the pair


def test_a_counterpart_uploaded_before_the_execution_parked_is_not_missed(moto_pipeline):
    from pipeline.lambdas import await_counterpart

    s3, sfn = moto_pipeline["s3"], FakeTokens(moto_pipeline["sfn"])
    waiting = on_upload.process(
        upload_event(s3, ORDERS_BUCKET, "o.csv", "2026-11-23T09:00:00.000Z"), cfg(), s3, sfn
    )
    lone = check_files.process(
        cfg(), s3, {"execution_input": execution_input(moto_pipeline, waiting["execution_name"])}
    )
    attached = on_upload.process(
        upload_event(s3, RETURNS_BUCKET, "r.csv", "2026-11-23T09:00:00.100Z"), cfg(), s3, sfn
    )
    assert attached["reason"] == "attached"  # running, not parked yet: nobody to resume

    parked = await_counterpart.process(
        {"task_token": "t1", "execution_name": waiting["execution_name"], "files": lone}, cfg(), s3, sfn
    )

    assert parked == {"parked": False, "answered": "paired"}  # it answered its own token
    assert sfn.sent[0][1]["returns"]["key"] == "r.csv"


def test_a_newer_lone_upload_supersedes_the_parked_one(moto_pipeline):
    from pipeline.lambdas import await_counterpart

    s3, sfn = moto_pipeline["s3"], FakeTokens(moto_pipeline["sfn"])
    first = on_upload.process(
        upload_event(s3, RETURNS_BUCKET, "r1.csv", "2026-11-23T09:00:00.000Z"), cfg(), s3, sfn
    )
    lone = check_files.process(
        cfg(), s3, {"execution_input": execution_input(moto_pipeline, first["execution_name"])}
    )
    await_counterpart.process(
        {"task_token": "t1", "execution_name": first["execution_name"], "files": lone}, cfg(), s3, sfn
    )

    second = on_upload.process(
        upload_event(s3, RETURNS_BUCKET, "r2.csv", "2026-11-23T10:00:00.000Z"), cfg(), s3, sfn
    )

    assert second["reason"] == "started" and second["superseded"] == [first["execution_name"]]
    ((token, output),) = sfn.sent
    assert token == "t1" and output == {
        "outcome": "superseded",
        "orders": None,
        "returns": None,
        "superseded_by": second["execution_name"],
    }
    # Resumed so, the execution's next check names the run that took over (FilesExist → RunSuperseded).
    state = {"files": {**lone, "checks": 1}, "pairing": output}
    resumed = check_files.process(cfg(), s3, {"state": state, "counter": "$.files.checks"})
    assert (resumed["both_exist"], resumed["superseded_by"]) == (False, second["execution_name"])
    assert (resumed["orders"], resumed["returns"], resumed["count"]) == (None, None, 2)


def test_a_burst_ends_with_the_last_pair_whatever_the_key_names(moto_pipeline):
    s3, sfn = moto_pipeline["s3"], FakeTokens(moto_pipeline["sfn"])
    names = ["d", "b", "c", "a"]  # the last pair has the smallest key names
    started = []
    for i, name in enumerate(names):  # four pairs within 0.4 s, all in the same second
        for bucket, side in ((ORDERS_BUCKET, "orders"), (RETURNS_BUCKET, "returns")):
            at = f"2026-11-23T09:00:00.{i * 100 + (50 if side == 'returns' else 0):03d}Z"
            result = on_upload.process(upload_event(s3, bucket, f"{side}-{name}.csv", at), cfg(), s3, sfn)
            started.append(result["execution_name"])
    last = executions(moto_pipeline)
    newest_run = runs.execution_name(
        runs.as_object(check_files.handler({}, None)["orders"]),
        runs.as_object(check_files.handler({}, None)["returns"]),
    )
    assert started[-1] == newest_run
    assert execution_input(moto_pipeline, newest_run)["orders"]["key"] == "orders-a.csv"
    assert execution_input(moto_pipeline, newest_run)["returns"]["key"] == "returns-a.csv"
    assert len(last) >= 2


def test_a_pair_named_before_its_upload_was_recorded_is_not_superseded_by_itself(moto_pipeline):
    """Both files land before the first event is handled: the first run names the other file as listed
    (LastModified, whole seconds); the ledger's record of the same upload (milliseconds) is not newer."""
    s3, sfn = moto_pipeline["s3"], FakeTokens(moto_pipeline["sfn"])
    s3.put_object(Bucket=ORDERS_BUCKET, Key="o.csv", Body=b"a,b\n1,2\n")
    started = on_upload.process(
        upload_event(s3, RETURNS_BUCKET, "r.csv", "2026-11-23T09:00:00.100Z"), cfg(), s3, sfn
    )
    assert started["reason"] == "started" and started["execution_name"].startswith("batch-")
    event = upload_event(s3, ORDERS_BUCKET, "o.csv", "2099-11-23T09:00:00.050Z")
    assert on_upload.process(event, cfg(), s3, sfn)["reason"] == "duplicate"

    checked = check_files.process(
        cfg(),
        s3,
        {
            "execution_input": execution_input(moto_pipeline, started["execution_name"]),
            "execution_name": started["execution_name"],
        },
    )

    assert checked["both_exist"] is True and checked["superseded_by"] is None


def test_the_same_bytes_again_after_a_resumed_run_start_nothing(moto_pipeline):
    from pipeline.lambdas import await_counterpart

    s3, sfn = moto_pipeline["s3"], FakeTokens(moto_pipeline["sfn"])
    waiting = on_upload.process(
        upload_event(s3, RETURNS_BUCKET, "r.csv", "2026-11-23T09:00:00.000Z"), cfg(), s3, sfn
    )
    lone = check_files.process(
        cfg(), s3, {"execution_input": execution_input(moto_pipeline, waiting["execution_name"])}
    )
    await_counterpart.process(
        {"task_token": "t", "execution_name": waiting["execution_name"], "files": lone}, cfg(), s3, sfn
    )
    on_upload.process(upload_event(s3, ORDERS_BUCKET, "o.csv", "2026-11-23T17:00:00.000Z"), cfg(), s3, sfn)
    moto_pipeline["sfn"].stop_execution(executionArn=waiting["execution_arn"])  # it ran and ended

    for bucket, key, at in ((ORDERS_BUCKET, "o.csv", "18:00"), (RETURNS_BUCKET, "r.csv", "18:01")):
        again = on_upload.process(upload_event(s3, bucket, key, f"2026-11-23T{at}:00.000Z"), cfg(), s3, sfn)
        assert (again["reason"], again["execution_name"]) == ("duplicate", waiting["execution_name"])
    assert len(executions(moto_pipeline)) == 1


def test_csv_gz_uploads_pair_and_reach_the_glue_job_as_they_are(moto_pipeline):
    """No key suffix is special: a .csv.gz upload is newer than the .csv before it, pairs, and the Glue job
    is told its key (the job decompresses it, by its magic bytes and its .gz suffix)."""
    from pipeline.lambdas import pairing

    s3, sfn = moto_pipeline["s3"], FakeTokens(moto_pipeline["sfn"])
    gz = gzip.compress(b"Order ID,Order Date\nO1,2016-01-05\n")
    uploaded = [
        (ORDERS_BUCKET, "x/orders.csv", "2026-11-23T09:00:00.000Z", b"a,b\n1,2\n"),
        (ORDERS_BUCKET, "x/orders.csv.gz", "2026-11-23T09:00:01.000Z", gz),
        (RETURNS_BUCKET, "x/returns.csv.gz", "2026-11-23T09:00:02.000Z", gz),
    ]
    for bucket, key, at, body in uploaded:
        on_upload.process(upload_event(s3, bucket, key, at, body), cfg(), s3, sfn)

    decision = pairing.decision(cfg(), s3, datetime(2026, 11, 23, 9, 1, tzinfo=UTC))
    assert decision.pair and (decision.orders.key, decision.returns.key) == (
        "x/orders.csv.gz",
        "x/returns.csv.gz",
    )
    seen = check_files.process(cfg(), s3, {"execution_input": pairing.paired_output(decision)})
    started = trigger_glue.handler({**seen, "execution_name": "batch-gz"}, None)
    arguments = moto_pipeline["glue"].get_job_run(JobName=JOB, RunId=started["job_run_id"])["JobRun"][
        "Arguments"
    ]
    assert arguments["--orders_path"] == f"s3://{ORDERS_BUCKET}/x/orders.csv.gz"
    assert arguments["--returns_path"] == f"s3://{RETURNS_BUCKET}/x/returns.csv.gz"
