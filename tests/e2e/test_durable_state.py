"""The local AWS keeps its state: `python -m localaws` is SIGKILLed (the whole process group) and started
again on the same state dir, and everything is as it was; a run cut short ends with the restart cause,
sends the failure notification, leaves the table alone, and reruns."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from localaws import credentials as owner
from localaws import store
from services import execution_reads, run_detail
from tests.conftest import REPO
from tests.support import batches
from tests.support.stack import LocalAwsProcess, free_port

pytestmark = pytest.mark.spark
REGION = "us-east-1"
MACHINE = "ETL-StepFunction-Controller"
RESTART_CAUSE = "local AWS restarted during the run"


class Stack(LocalAwsProcess):
    """`python -m localaws` in its own process group and the deploy into it, as `make run` starts them."""

    def __init__(self, state_dir: Path) -> None:
        # No settle time: a lone upload waits for its counterpart even right after another run.
        super().__init__(state_dir, ECOMMERCE_GLUE_WAIT_SECONDS="1", ECOMMERCE_PAIRING_SETTLE_SECONDS="0")

    def start(self, timeout: float = 240) -> Stack:
        super().start(timeout)
        self.machine = batches.state_machine_arn(self.client("stepfunctions"), MACHINE)
        return self

    def kill(self) -> None:
        super().kill()
        with self.log.open("a") as log:
            log.write("\n=== start after SIGKILL\n")

    def upload(self, folder: str, orders: bytes, returns: bytes) -> batches.Batch:
        return batches.put_batch(
            self.client("s3"),
            ("ecommerce-orders-raw", f"{folder}/orders.csv", orders),
            ("ecommerce-returns-raw", f"{folder}/returns.csv", returns),
        )

    def query(self, sql: str) -> list[dict]:
        import awswrangler as wr

        for service in ("s3", "athena", "glue", "sts"):
            setattr(wr.config, f"{service}_endpoint_url", self.url)
        try:
            frame = wr.athena.read_sql_query(
                sql, database="ecommerce_analytics", workgroup="ecommerce", ctas_approach=False,
                unload_approach=False, boto3_session=self.session,
            )  # fmt: skip
        finally:
            for service in ("s3", "athena", "glue", "sts"):
                setattr(wr.config, f"{service}_endpoint_url", None)
        return json.loads(frame.to_json(orient="records", date_format="iso"))

    def inbox(self) -> list[dict]:
        path = self.state_dir / "notifications.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def snapshot(self) -> dict:
        """What the console shows, read through the APIs (nothing that a read itself changes)."""
        sfn, s3, glue = self.client("stepfunctions"), self.client("s3"), self.client("glue")
        listed = batches.executions(sfn, self.machine)
        runs = {}
        for execution in listed:
            arn = execution["executionArn"]
            described = clean(sfn.describe_execution(executionArn=arn))
            events = [e for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
                      for e in page["events"]]  # fmt: skip
            runs[execution["name"]] = {"described": described, "history": events}
        versions = {
            bucket: [clean(v) for v in s3.list_object_versions(Bucket=bucket).get("Versions", [])]
            for bucket in ("ecommerce-orders-raw", "ecommerce-returns-raw")
        }
        heads = {
            (bucket, v["Key"], v["VersionId"]): clean(
                s3.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
            )
            for bucket, listed_versions in versions.items()
            for v in listed_versions
        }
        table = glue.get_table(DatabaseName="ecommerce_analytics", Name="joined_data")["Table"]
        sns = self.client("sns")
        return {
            "executions": [clean(e) for e in listed],
            "runs": runs,
            "versions": versions,
            "heads": heads,
            "table": {
                k: table.get(k) for k in ("StorageDescriptor", "Parameters", "PartitionKeys", "UpdateTime")
            },
            "job_runs": [clean(r) for r in glue.get_job_runs(JobName="ecommerce_join_data")["JobRuns"]],
            "topics": sns.list_topics()["Topics"],
            "subscriptions": sns.list_subscriptions()["Subscriptions"],
            "workgroups": [w["Name"] for w in self.client("athena").list_work_groups()["WorkGroups"]],
            "inbox": self.inbox(),
        }


def clean(response: dict) -> dict:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


@pytest.fixture(scope="module")
def seed(sample_data) -> tuple[bytes, bytes]:
    return (sample_data / "seed/ordercsv.csv").read_bytes(), (sample_data / "seed/returncsv.csv").read_bytes()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    started = Stack(tmp_path_factory.mktemp("durable") / "state")
    started.state_dir.mkdir()
    yield started
    started.stop()


def test_everything_survives_a_sigkill(stack, seed):
    stack.start()
    batch = stack.upload(f"crash-{uuid.uuid4().hex[:6]}", *seed)
    sfn = stack.client("stepfunctions")
    described = batches.wait_execution(sfn, batches.find_execution(sfn, stack.machine, batch), timeout=180)
    assert described["status"] == "SUCCEEDED", described
    batches.wait_all_ended(sfn, stack.machine, timeout=120)
    table_before = stack.query("SELECT * FROM joined_data ORDER BY order_id, product_id")
    queries_before = stack.client("athena").list_query_executions(WorkGroup="ecommerce")["QueryExecutionIds"]
    before = stack.snapshot()
    assert len(table_before) == 20 and before["runs"] and before["inbox"]

    stack.kill()
    stack.start()

    after = stack.snapshot()
    assert after == before
    assert stack.query("SELECT * FROM joined_data ORDER BY order_id, product_id") == table_before
    athena = stack.client("athena")
    assert set(queries_before) <= set(
        athena.list_query_executions(WorkGroup="ecommerce")["QueryExecutionIds"]
    )
    old = athena.get_query_execution(QueryExecutionId=queries_before[0])["QueryExecution"]
    assert old["Status"]["State"] == "SUCCEEDED"
    # The raw bytes themselves, by version.
    s3 = stack.client("s3")
    for (bucket, key, version), head in before["heads"].items():
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
        assert len(body) == head["ContentLength"] and body in seed


def test_a_run_cut_short_ends_with_the_restart_cause_and_reruns(stack, seed, sample_data):
    glue = stack.client("glue")
    sfn = stack.client("stepfunctions")
    table = glue.get_table(DatabaseName="ecommerce_analytics", Name="joined_data")["Table"]
    rows_before = stack.query(
        "SELECT count(*) AS n, count_if(is_returned) AS r, max(run_id) AS run FROM joined_data"
    )
    runs_before = {r["Id"] for r in glue.get_job_runs(JobName="ecommerce_join_data")["JobRuns"]}
    us = sample_data / "superstore-us"
    batch = stack.upload(
        f"midrun-{uuid.uuid4().hex[:6]}", (us / "orders.csv").read_bytes(), (us / "returns.csv").read_bytes()
    )
    arn = batches.find_execution(sfn, stack.machine, batch, timeout=60)
    deadline = time.monotonic() + 120
    while True:  # kill while the Glue job runs
        running = [r for r in glue.get_job_runs(JobName="ecommerce_join_data")["JobRuns"]
                   if r["Id"] not in runs_before and r["JobRunState"] in ("STARTING", "RUNNING")]  # fmt: skip
        if running:
            break
        assert time.monotonic() < deadline, "the Glue run never started"
        time.sleep(0.05)
    stack.kill()
    stack.start()

    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "ABORTED"
    assert described["error"] == "LocalAws.Restarted" and described["cause"] == RESTART_CAUSE
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert history[-1]["type"] == "ExecutionAborted"
    assert any(e["type"] == "TaskStateEntered" for e in history)  # what it did before the crash is kept
    job_run = glue.get_job_run(JobName="ecommerce_join_data", RunId=running[0]["Id"])["JobRun"]
    assert job_run["JobRunState"] == "FAILED" and RESTART_CAUSE in job_run["ErrorMessage"]
    failure = [
        m
        for m in stack.inbox()
        if m["topic_name"] == "etl-failure-topic" and described["name"] in m["message"]
    ]
    assert failure, stack.inbox()
    message = failure[-1]["message"]
    assert "ended ABORTED" in message and f"Cause: {RESTART_CAUSE}." in message
    # The files the run was started for: its input (a resumed awaiting-… run names its lone file there).
    assert "returns.csv" in message
    assert "orders.csv" in message or described["name"].startswith("awaiting-orders-")
    assert (
        glue.get_table(DatabaseName="ecommerce_analytics", Name="joined_data")["Table"]["StorageDescriptor"]
        == (table["StorageDescriptor"])
    )
    assert (
        stack.query("SELECT count(*) AS n, count_if(is_returned) AS r, max(run_id) AS run FROM joined_data")
        == rows_before
    )

    rerun = run_detail.rerun(sfn, described, datetime.now(UTC))
    assert batches.wait_execution(sfn, rerun, timeout=180)["status"] == "SUCCEEDED"
    assert stack.query("SELECT count(*) AS n FROM joined_data") == [{"n": 9994}]


def wait_parked(sfn, arn: str, events_before: int = 0, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            events = execution_reads.history(sfn, arn)
        except sfn.exceptions.ExecutionDoesNotExist:  # the upload's event is on its way
            events = []
        if len(events) > events_before and execution_reads.waiting_for(events) == "orders":
            return events
        assert time.monotonic() < deadline, [e["type"] for e in events]
        time.sleep(0.2)


def test_a_parked_run_survives_a_sigkill_and_its_counterpart_resumes_it(stack, seed):
    """A lone upload may wait a day: a restart of the local AWS in between must not end it (ADR 0004)."""
    from pipeline.lambdas import runs

    sfn, s3, folder = stack.client("stepfunctions"), stack.client("s3"), f"parked-{uuid.uuid4().hex[:6]}"
    name, _ = batches.put_lone(s3, "ecommerce-returns-raw", f"{folder}/returns.csv", seed[1], "returns")
    arn = runs.execution_arn(stack.machine, name)
    parked = wait_parked(sfn, arn)
    waiting = f"pairing/waiting/{name}.json"  # the task token, stored once the Lambda has parked it
    deadline = time.monotonic() + 60
    while not s3.list_objects_v2(Bucket="ecommerce-processed", Prefix=waiting).get("KeyCount"):
        assert time.monotonic() < deadline, "never parked"
        time.sleep(0.2)
    time.sleep(1)  # the history written outside requests is persisted within 0.2 s (ADR 0002)

    stack.kill()
    stack.start()

    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"  # not ABORTED
    again = wait_parked(sfn, arn, len(parked))  # it parked again, with a new task token
    entered = [e["stateEnteredEventDetails"]["name"] for e in again if "stateEnteredEventDetails" in e]
    assert entered.count("AwaitCounterpart") == 2 and entered.count("CheckForFiles") == 1
    s3.put_object(Bucket="ecommerce-orders-raw", Key=f"{folder}/orders.csv", Body=seed[0])
    described = batches.wait_execution(sfn, arn, timeout=180)
    assert described["status"] == "SUCCEEDED", described
    assert not [m for m in stack.inbox() if m["topic_name"] == "etl-failure-topic" and name in m["message"]]


def parked_token(s3, name: str, other_than: str | None = None, timeout: float = 60) -> str:
    """The task token in the pairing ledger for ``name`` (once it is not ``other_than``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = s3.get_object(Bucket="ecommerce-processed", Key=f"pairing/waiting/{name}.json")["Body"]
            token = json.loads(body.read())["task_token"]
        except s3.exceptions.NoSuchKey:
            token = None
        if token and token != other_than:
            return token
        assert time.monotonic() < deadline, "never parked"
        time.sleep(0.2)


def test_a_redriven_run_keeps_its_redrive_through_a_sigkill(stack, seed):
    """A run stopped while it waited, redriven (it waits again), then a restart: still the same redriven
    run (count, date, history), still waiting; its counterpart's upload completes it."""
    from pipeline.lambdas import runs

    if stack.process is None:  # this test alone
        stack.start()
    sfn, s3, folder = stack.client("stepfunctions"), stack.client("s3"), f"redrive-{uuid.uuid4().hex[:6]}"
    name, _ = batches.put_lone(s3, "ecommerce-returns-raw", f"{folder}/returns.csv", seed[1], "returns")
    arn = runs.execution_arn(stack.machine, name)
    parked = wait_parked(sfn, arn)
    first_token = parked_token(s3, name)
    sfn.stop_execution(executionArn=arn, error="Stopped", cause="test: stopped by mistake")
    assert batches.wait_execution(sfn, arn)["status"] == "ABORTED"
    run_detail.redrive(sfn, arn)
    redriven = wait_parked(sfn, arn, len(parked) + 2)
    parked_token(s3, name, other_than=first_token)
    before = sfn.describe_execution(executionArn=arn)
    time.sleep(1)  # the history written outside requests is persisted within 0.2 s (ADR 0002)

    stack.kill()
    stack.start()

    after = sfn.describe_execution(executionArn=arn)
    assert after["status"] == "RUNNING" and after["redriveCount"] == 1
    assert after["redriveDate"] == before["redriveDate"] and after["startDate"] == before["startDate"]
    again = wait_parked(sfn, arn, len(redriven))  # the restart resumed the redriven attempt's wait
    assert [e["type"] for e in again].count("ExecutionRedriven") == 1
    s3.put_object(Bucket="ecommerce-orders-raw", Key=f"{folder}/orders.csv", Body=seed[0])
    described = batches.wait_execution(sfn, arn, timeout=180)
    assert described["status"] == "SUCCEEDED" and described["redriveCount"] == 1, described


def test_a_state_dir_of_another_format_is_refused_with_a_message(tmp_path):
    state_dir = tmp_path / "old"
    state_dir.mkdir()
    with sqlite3.connect(state_dir / store.DATABASE) as db:
        db.execute("CREATE TABLE records (service TEXT, kind TEXT, key TEXT, body TEXT)")
        db.execute(f"PRAGMA user_version = {store.FORMAT_VERSION + 1}")
    before = (state_dir / store.DATABASE).read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "localaws", "--port", str(free_port()), "--state-dir", state_dir],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"format {store.FORMAT_VERSION + 1}" in done.stderr and "--reset" in done.stderr
    assert (state_dir / store.DATABASE).read_bytes() == before  # nothing was changed
    assert not (state_dir / owner.FILE_NAME).exists()


def test_reset_says_what_it_deletes_and_starts_empty(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "notifications.jsonl").write_text('{"old": true}\n')
    (state_dir / store.DATABASE).write_bytes(b"not even sqlite")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "localaws", "--port", str(port), "--state-dir", state_dir, "--reset"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "ready at" in line:
                break
        assert any("notifications.jsonl" in line and "delet" in line.lower() for line in lines), lines
        assert not (state_dir / "notifications.jsonl").exists()
        assert (state_dir / owner.FILE_NAME).exists()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def localaws(state_dir: Path, port: int, *extra: str) -> list:
    return [sys.executable, "-m", "localaws", "--port", str(port), "--state-dir", str(state_dir), *extra]


def test_one_local_aws_per_state_dir_and_a_busy_port_is_refused_at_once(tmp_path):
    """A second `make run` on the same state dir would be a second writer of the team's data: refused,
    nothing changed; a port in use fails at once (it used to hang, and run.sh read "already" as "ready")."""
    state_dir, port = tmp_path / "state", free_port()
    state_dir.mkdir()
    first = subprocess.Popen(
        localaws(state_dir, port), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        for line in first.stdout:
            if line.startswith("local AWS ready at"):
                break
        before = (state_dir / store.DATABASE).read_bytes()

        for extra in ((), ("--reset",)):
            second = subprocess.run(
                localaws(state_dir, free_port(), *extra),
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert second.returncode == 2, second.stderr
            assert f"in use by another local AWS (pid {first.pid})" in second.stderr
            assert "ready" not in second.stdout
        assert (state_dir / store.DATABASE).read_bytes() == before and (state_dir / owner.FILE_NAME).exists()

        busy = subprocess.run(
            localaws(tmp_path / "other", port), cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert (
            busy.returncode == 1 and f"cannot start the local AWS on http://127.0.0.1:{port}" in busy.stderr
        )
        assert first.poll() is None  # the first one serves on
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(60)
    # Its claim ends with it (and with a crash: the kernel drops the lock): the state dir starts again.
    again = subprocess.Popen(localaws(state_dir, free_port()), cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert any(line.startswith("local AWS ready at") for line in again.stdout)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(60)


def test_an_event_not_yet_delivered_is_on_disk_until_it_is(local_aws, seed):
    """S3 answers the PUT before the notification goes out; if the process dies in between, the event is in
    the store and the next start delivers it (S3State.restore + S3Events.resume)."""
    import threading

    hold = threading.Event()
    local_aws.patches.s3_events.worker.submit(hold.wait, 30)  # the worker is busy: the next event waits
    keys = owner.load(local_aws.state_dir / owner.FILE_NAME)
    s3 = boto3.client(
        "s3", endpoint_url=local_aws.url, region_name=REGION, aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key, config=Config(signature_version="s3v4"),
    )  # fmt: skip
    key = f"pending-{uuid.uuid4().hex[:6]}/returns.csv"
    try:
        s3.put_object(Bucket="ecommerce-returns-raw", Key=key, Body=seed[1])
        stored = local_aws.persistence.store.load("s3")
        pending = [json.loads(b) for (kind, _), b in stored.items() if kind == "pending_event"]
        assert {p["key"] for p in pending} == {key}  # persisted before the PUT was answered
    finally:
        hold.set()
    assert local_aws.wait_idle(60)
    deadline = time.monotonic() + 10
    while any(kind == "pending_event" for kind, _ in local_aws.persistence.store.load("s3")):
        assert time.monotonic() < deadline, "the delivered event stayed pending in the store"
        time.sleep(0.1)


def test_concurrent_uploads_keep_their_bodies_and_etags(local_aws):
    """Bodies move to disk while other uploads are answered (the Glue runner uploads with 8 threads)."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    keys = owner.load(local_aws.state_dir / owner.FILE_NAME)
    s3 = boto3.client(
        "s3", endpoint_url=local_aws.url, region_name=REGION, aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        config=Config(signature_version="s3v4", max_pool_connections=16),
    )  # fmt: skip
    bucket, prefix = local_aws.settings.processed_bucket, f"concurrent-{uuid.uuid4().hex[:6]}/"
    bodies = {f"{prefix}{i}.bin": os.urandom(50_000 + i) for i in range(120)}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: s3.put_object(Bucket=bucket, Key=item[0], Body=item[1]), bodies.items()))
    for key, body in bodies.items():
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body, key
        assert got["ETag"].strip('"') == hashlib.md5(body).hexdigest(), key  # noqa: S324


def test_a_managed_copy_reads_each_part_once(local_aws, monkeypatch):
    """The Glue job pins its inputs with a managed (multipart) copy; each part reads its own range of the
    source, not the whole object (moto's part copy read all of a 2.3 GB export per 8 MB part)."""
    import hashlib

    from boto3.s3.transfer import TransferConfig

    from localaws.s3 import DiskBody

    keys = owner.load(local_aws.state_dir / owner.FILE_NAME)
    s3 = boto3.client(
        "s3", endpoint_url=local_aws.url, region_name=REGION, aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key, config=Config(signature_version="s3v4"),
    )  # fmt: skip
    bucket, key = local_aws.settings.processed_bucket, f"copy-{uuid.uuid4().hex[:6]}/source.bin"
    body = os.urandom(12 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    read = []
    original = DiskBody.read
    monkeypatch.setattr(DiskBody, "read", lambda self, size=-1: read.append(original(self, size)) or read[-1])
    parts = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.copy({"Bucket": bucket, "Key": key}, bucket, key + ".copy", Config=parts)
    monkeypatch.undo()
    copied = s3.get_object(Bucket=bucket, Key=key + ".copy")["Body"].read()
    assert hashlib.sha256(copied).digest() == hashlib.sha256(body).digest()
    assert sum(map(len, read)) <= len(body)  # three parts: 36 MB when each part read the whole source
