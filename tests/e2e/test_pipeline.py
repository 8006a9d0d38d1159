"""The deployed pipeline on the local AWS, driven the way a team drives it: boto3 PUTs to the raw buckets.

Each test uploads its own pair of files under its own keys and follows the execution found by its
deterministic name (tests/support/batches.py). The published table is shared: a test that needs one to exist
publishes the seed batch first, and every test waits until no execution is running before it looks at
the table, so the order of the tests does not matter.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import time
from contextlib import contextmanager

import pytest

from pipeline.lambdas import runs
from tests import exports
from tests.e2e.conftest import CONSOLE_URL, NOTIFY
from tests.e2e.test_local_aws import Aws
from tests.support import batches

pytestmark = [
    pytest.mark.spark,
]

COUNT_SQL = "SELECT count(*) AS n, count_if(is_returned) AS r FROM joined_data"


class Pipeline:
    """The deployed pipeline's names, boto3 clients at the local AWS, and the team's view of it."""

    def __init__(self, local_aws) -> None:
        self.local = local_aws
        self.settings = local_aws.settings
        self.aws = Aws(local_aws.url, local_aws.state_dir)
        self.machine = batches.state_machine_arn(self.aws.stepfunctions, self.settings.state_machine)

    def upload(self, orders: tuple[str, bytes], returns: tuple[str, bytes], first: str = "returns"):
        """PUT (key, bytes) for orders and returns to the raw buckets; the batch's ended execution."""
        batch = batches.put_batch(
            self.aws.s3,
            (self.settings.orders_bucket, *orders),
            (self.settings.returns_bucket, *returns),
            first=first,
        )
        return batch, self.follow(batch)

    def follow(self, batch: batches.Batch) -> dict:
        sfn = self.aws.stepfunctions
        arn = batches.find_execution(sfn, self.machine, batch)
        described = batches.wait_execution(sfn, arn, timeout=120)
        self.settle()
        return described

    def with_nothing_waiting(self, sample_data) -> Pipeline:
        """This pipeline once no earlier test's lone upload waits for a counterpart that a test's upload
        would then be (ADR 0004): settled, the parked runs given their counterparts."""
        self.settle()
        (_, orders), (_, returns) = seed(sample_data)
        counterparts = {
            "orders": (self.settings.orders_bucket, orders),
            "returns": (self.settings.returns_bucket, returns),
        }
        batches.complete_parked(self.aws.s3, self.aws.stepfunctions, self.machine, counterparts)
        self.settle()
        return self

    def settle(self) -> list[dict]:
        """Once no execution runs and the local AWS is idle: every execution of the state machine."""
        assert self.local.wait_idle(120)
        ended = batches.wait_all_ended(self.aws.stepfunctions, self.machine, timeout=120)
        assert self.local.wait_idle(120)
        return ended

    def names(self) -> set[str]:
        return {e["name"] for e in batches.executions(self.aws.stepfunctions, self.machine)}

    def table(self) -> dict | None:
        glue = self.aws.glue
        try:
            return glue.get_table(DatabaseName=self.settings.database, Name=self.settings.table)["Table"]
        except glue.exceptions.EntityNotFoundException:
            return None

    def counts(self) -> dict:
        import awswrangler as wr

        frame = wr.athena.read_sql_query(
            COUNT_SQL,
            database=self.settings.database,
            workgroup=self.settings.athena_workgroup,
            ctas_approach=False,
            unload_approach=False,
            boto3_session=self.aws.session,
        )
        (row,) = frame.to_dict("records")
        return {"n": int(row["n"]), "r": int(row["r"])}

    def sales(self) -> float:
        import awswrangler as wr

        frame = wr.athena.read_sql_query(
            "SELECT sum(sales) AS sales FROM joined_data",
            database=self.settings.database,
            workgroup=self.settings.athena_workgroup,
            ctas_approach=False,
            unload_approach=False,
            boto3_session=self.aws.session,
        )
        return float(frame["sales"].iloc[0])

    def column_types(self) -> dict[str, str]:
        return {c["Name"]: c["Type"] for c in self.table()["StorageDescriptor"]["Columns"]}


@pytest.fixture(scope="module")
def pipeline(local_aws, sample_data) -> Pipeline:
    return Pipeline(local_aws).with_nothing_waiting(sample_data)


def seed(sample_data) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    return (
        ("seed/orders.csv", (sample_data / "seed/ordercsv.csv").read_bytes()),
        ("seed/returns.csv", (sample_data / "seed/returncsv.csv").read_bytes()),
    )


def body(mail) -> str:
    """The text as sent (SMTP carries it with CRLF line ends)."""
    return mail.get_payload(decode=True).decode().replace("\r\n", "\n")


def subject(mail) -> str:
    """The Subject as sent (a long header arrives folded over lines)."""
    return "".join(str(mail["Subject"] or "").splitlines()).strip()


def mail_for(mail_catcher, execution_name: str, outcome: str):
    return mail_catcher.wait_for(
        lambda m: m["To"] == NOTIFY and outcome.lower() in subject(m).lower() and execution_name in body(m)
    )


def counts(mail) -> dict[str, str]:
    """The email's Counts section: label → the number as written."""
    assert "Counts:\n" in body(mail), body(mail)
    lines = body(mail).split("Counts:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return dict(tuple(part.strip() for part in line.split(":", 1)) for line in lines)


def file_line(side: str, obj: dict) -> str:
    """How the email lists an input file: its S3 URI with the version the run read."""
    return f"  {side + ':':<9}s3://{obj['bucket']}/{obj['key']}  (version {obj['version_id']}, "


def monitor_line(execution: dict) -> str:
    return f"Open the run: {CONSOLE_URL}/monitor?execution={execution['executionArn']}"


def test_seed_upload_to_table(pipeline, sample_data, wrangler, mail_catcher):
    orders, returns = seed(sample_data)

    batch, execution = pipeline.upload(orders, returns, first="orders")

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert pipeline.counts() == {"n": 20, "r": 10}
    mail = mail_for(mail_catcher, execution["name"], "succeeded")
    assert counts(mail)["Rows out"] == "20"
    assert f"s3://{pipeline.settings.orders_bucket}/seed/orders.csv" in body(mail)


def test_the_success_email_as_the_mail_server_received_it(pipeline, sample_data, wrangler, mail_catcher):
    us = sample_data / "superstore-us"
    folder = unique("email")

    batch, execution = pipeline.upload(
        (f"{folder}/orders.csv", (us / "orders.csv").read_bytes()),
        (f"{folder}/returns.csv", (us / "returns.csv").read_bytes()),
    )

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    mail = mail_for(mail_catcher, execution["name"], "succeeded")
    assert subject(mail) == f"ETL succeeded: {output['glue']['run_id']} - 9,994 in, 9,994 out, 0 quarantined"
    lines = body(mail).splitlines()
    assert lines[0] == f"ETL run {output['glue']['run_id']} succeeded: the table now shows this run."
    assert monitor_line(execution) in lines
    # The versions the run read: those CheckForFiles saw, which are the objects' versions in S3.
    for side, bucket in (
        ("orders", pipeline.settings.orders_bucket),
        ("returns", pipeline.settings.returns_bucket),
    ):
        seen = output["files"][side]
        head = pipeline.aws.s3.head_object(Bucket=bucket, Key=f"{folder}/{side}.csv")
        assert seen["version_id"] == head["VersionId"]
        assert any(line.startswith(file_line(side, seen)) for line in lines), (file_line(side, seen), lines)
    assert counts(mail) == {
        "Rows in": "9,994",
        "Rows out": "9,994",
        "Returned lines": "800",
        "Unmatched returns": "0",
        "Quarantined lines": "0",
    }
    assert "Warnings" not in body(mail)  # none
    assert f"Execution: {execution['name']}" in lines


def test_us_superstore_upload_to_table(pipeline, sample_data, wrangler, mail_catcher):
    us = sample_data / "superstore-us"

    batch, execution = pipeline.upload(
        ("superstore-us/orders.csv", (us / "orders.csv").read_bytes()),
        ("superstore-us/returns.csv", (us / "returns.csv").read_bytes()),
    )

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert pipeline.counts() == {"n": 9994, "r": 800}
    mail = mail_for(mail_catcher, execution["name"], "succeeded")
    assert counts(mail)["Rows out"] == "9,994"
    assert counts(mail)["Returned lines"] == "800"


def test_a_csv_gz_pair_uploads_to_the_table_of_the_plain_pair(pipeline, sample_data, wrangler, mail_catcher):
    """.csv.gz exports (issue #12): the notification, pairing, pinned copies and the local Glue take them."""
    us = sample_data / "superstore-us"
    folder = unique("gzip")

    batch, execution = pipeline.upload(
        (f"{folder}/orders.csv.gz", gzip.compress((us / "orders.csv").read_bytes())),
        (f"{folder}/returns.csv.gz", gzip.compress((us / "returns.csv").read_bytes())),
    )

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert pipeline.counts() == {"n": 9994, "r": 800}
    expected = exports.expected_us(sample_data)
    assert pipeline.sales() == pytest.approx(expected.sales)
    mail = mail_for(mail_catcher, execution["name"], "succeeded")
    assert f"s3://{pipeline.settings.orders_bucket}/{folder}/orders.csv.gz" in body(mail)
    inputs = pipeline.aws.s3.list_objects_v2(
        Bucket=pipeline.settings.processed_bucket, Prefix="joined-data/_inputs/"
    )
    assert "Contents" not in inputs  # the pinned copies are gone


def test_a_truncated_csv_gz_fails_with_a_clear_message_and_stays_in_place(
    pipeline, sample_data, wrangler, mail_catcher
):
    if pipeline.table() is None:  # run on its own: publish something first
        assert pipeline.upload(*seed(sample_data))[1]["status"] == "SUCCEEDED"
    pipeline.settle()
    before = pipeline.table()
    folder = unique("gzip-cut")
    cut = gzip.compress((sample_data / "superstore-us/orders.csv").read_bytes())[:-500]
    key = f"{folder}/orders.csv.gz"

    batch, execution = pipeline.upload(
        (key, cut), (f"{folder}/returns.csv", (sample_data / "superstore-us/returns.csv").read_bytes())
    )

    assert execution["status"] == "FAILED"
    assert "orders file is a truncated gzip file" in execution["cause"]
    mail = mail_for(mail_catcher, execution["name"], "failed")
    assert "orders file is a truncated gzip file" in body(mail) and "upload the whole file again" in body(
        mail
    )
    raw = pipeline.aws.s3.get_object(Bucket=pipeline.settings.orders_bucket, Key=key)["Body"].read()
    assert raw == cut  # the raw file stays where it was
    assert pipeline.table()["Parameters"]["run_id"] == before["Parameters"]["run_id"]


@pytest.mark.parametrize("kind", list(exports.KINDS))
def test_each_export_kind_uploads_to_the_same_table(pipeline, sample_data, wrangler, kind):
    """Excel, shop and marketplace exports of US Superstore (issue #13): the table the clean export gives."""
    expected = exports.expected_us(sample_data)

    batch, execution = pipeline.upload(
        (f"exports-{kind}/orders.csv", exports.KINDS[kind](sample_data)),
        (f"exports-{kind}/returns.csv", (sample_data / "superstore-us/returns.csv").read_bytes()),
    )

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert pipeline.counts() == {"n": expected.rows, "r": expected.returned_lines}
    assert pipeline.sales() == pytest.approx(expected.sales)
    types = pipeline.column_types()
    assert {
        n: types[n] for n in ("order_date", "ship_date", "sales", "quantity", "profit", "postal_code")
    } == {
        "order_date": "date",
        "ship_date": "date",
        "sales": "double",
        "quantity": "bigint",
        "profit": "double",
        "postal_code": "string",
    }


def test_sales_that_do_not_parse_fail_the_run_and_keep_the_published_table(
    pipeline, sample_data, wrangler, mail_catcher
):
    if pipeline.table() is None:  # run on its own: publish something first
        assert pipeline.upload(*seed(sample_data))[1]["status"] == "SUCCEEDED"
    pipeline.settle()
    before, counted, types = pipeline.table(), pipeline.counts(), pipeline.column_types()
    header, rows = exports.us_rows(sample_data)
    for row in rows[::20]:
        row[header.index("Sales")] = "see invoice"

    batch, execution = pipeline.upload(
        ("unparsed-sales/orders.csv", exports.write_csv(header, rows).encode()),
        ("unparsed-sales/returns.csv", (sample_data / "superstore-us/returns.csv").read_bytes()),
    )

    assert execution["status"] == "FAILED"
    assert "sales: 500 of 9,994 values (5.0%) are not numbers (e.g. 'see invoice')" in execution["cause"]
    mail = mail_for(mail_catcher, execution["name"], "failed")
    assert "are not numbers (e.g. 'see invoice')" in body(mail)
    after = pipeline.table()
    assert after["Parameters"]["run_id"] == before["Parameters"]["run_id"]
    assert after["VersionId"] == before["VersionId"]
    assert pipeline.column_types() == types and pipeline.counts() == counted


def test_returns_without_order_id_fail_and_keep_the_published_table(
    pipeline, sample_data, wrangler, mail_catcher
):
    if pipeline.table() is None:  # run on its own: publish something first
        assert pipeline.upload(*seed(sample_data))[1]["status"] == "SUCCEEDED"
    pipeline.settle()
    before, counted = pipeline.table(), pipeline.counts()
    orders = (sample_data / "superstore-us/orders.csv").read_bytes()
    no_order_id = b"Returned,Order Reference\nYes,CA-2017-153822\nYes,CA-2017-129707\n"

    # Returns first: any run that the first PUT starts already sees the broken returns file.
    batch, execution = pipeline.upload(
        ("broken/orders.csv", orders), ("broken/returns.csv", no_order_id), first="returns"
    )

    assert execution["status"] == "FAILED"
    assert "GlueJobFailed" in execution["cause"] and "order id column" in execution["cause"]
    mail = mail_for(mail_catcher, execution["name"], "failed")
    assert subject(mail).startswith("ETL FAILED at GlueJob: ") and subject(mail).endswith(" - GlueJobFailed")
    run_id = subject(mail).removeprefix("ETL FAILED at GlueJob: ").removesuffix(" - GlueJobFailed")
    assert run_id.endswith(run_suffix(execution["name"]))  # the run id the trigger gave the Glue run
    lines = body(mail).splitlines()
    assert lines[0] == f"ETL run {run_id} FAILED at GlueJob."
    assert monitor_line(execution) in lines
    assert "Failed state: GlueJob" in lines and "Error: GlueJobFailed" in lines
    (cause,) = [line for line in lines if line.startswith("Cause: ")]
    assert "returns file has no order id column (found: returned, order_reference)" in cause
    assert any(line.startswith("What to do next: Read the cause: fix the file") for line in lines)
    for side, obj in (("orders", batch.orders), ("returns", batch.returns)):
        version = pipeline.aws.s3.head_object(Bucket=obj.bucket, Key=obj.key)["VersionId"]
        assert any(
            line.startswith(file_line(side, {**obj.to_dict(), "version_id": version})) for line in lines
        )
    after = pipeline.table()
    assert after["Parameters"]["run_id"] == before["Parameters"]["run_id"]
    assert after["StorageDescriptor"]["Location"] == before["StorageDescriptor"]["Location"]
    assert pipeline.counts() == counted


def test_same_bytes_under_the_same_key_start_one_run(pipeline, sample_data):
    orders, returns = seed(sample_data)
    orders = ("duplicates/orders.csv", orders[1])
    returns = ("duplicates/returns.csv", returns[1])
    s3, settings = pipeline.aws.s3, pipeline.settings
    pipeline.settle()
    before = pipeline.names()

    # The orders file twice in a row (the second time together with the same returns file again).
    s3.put_object(Bucket=settings.orders_bucket, Key=orders[0], Body=orders[1])
    batch = batches.put_batch(
        s3, (settings.orders_bucket, *orders), (settings.returns_bucket, *returns), first="returns"
    )  # both again: same keys, same bytes
    # The orders file parked its run; the returns file resumed it (ADR 0004).
    arn = runs.execution_arn(pipeline.machine, runs.execution_name(batch.orders, None))
    execution = batches.wait_execution(pipeline.aws.stepfunctions, arn)
    pipeline.settle()
    middle = pipeline.names()
    # And both once more, after the run has ended.
    batches.put_batch(s3, (settings.orders_bucket, *orders), (settings.returns_bucket, *returns))
    pipeline.settle()
    after = pipeline.names()

    assert middle - before == {execution["name"]}
    assert execution["status"] == "SUCCEEDED"
    assert after == middle


def test_a_run_stopped_by_an_admin_sends_the_failure_email_with_who_and_why(
    pipeline, sample_data, mail_catcher
):
    """ABORTED never passes NotifyFailure: the deployed EventBridge rule sends the failure email."""
    from datetime import UTC, datetime

    from services import run_detail

    us = sample_data / "superstore-us"
    tag = datetime.now(UTC).strftime("%H%M%S%f")
    batch = batches.put_batch(
        pipeline.aws.s3,
        (pipeline.settings.orders_bucket, f"stopped-{tag}/orders.csv", (us / "orders.csv").read_bytes()),
        (pipeline.settings.returns_bucket, f"stopped-{tag}/returns.csv", (us / "returns.csv").read_bytes()),
    )
    sfn = pipeline.aws.stepfunctions
    arn = batches.find_execution(sfn, pipeline.machine, batch)
    run_detail.stop(sfn, arn, "ops@example.com")
    described = batches.wait_execution(sfn, arn, timeout=120)

    assert described["status"] == "ABORTED"
    assert described["cause"] == "Stopped from the console by ops@example.com"
    mail = mail_catcher.wait_for(lambda m: m["To"] == NOTIFY and described["name"] in body(m))
    assert "ended ABORTED" in body(mail) and "Cause: Stopped from the console by ops@example.com." in body(
        mail
    )
    assert f"Open the run: {CONSOLE_URL}/monitor?execution={arn}" in body(mail)
    # The files in its input: a run stopped while it waited for its counterpart names its lone file.
    assert f"stopped-{tag}/orders.csv" in body(mail) or f"stopped-{tag}/returns.csv" in body(mail)
    pipeline.settle()


def run_held_in_glue(pipeline, sample_data, monkeypatch, hold) -> tuple[str, str | None]:
    """Upload a seed batch whose Glue run calls ``hold(spark)`` before its work; (execution ARN, the run
    published before) once the run is inside it."""
    import threading
    from datetime import UTC, datetime

    from deploy import artifacts

    module = pipeline.local.patches.glue._load(
        artifacts.glue_script_bytes(), [("job_modules.zip", artifacts.build_glue_extra_py_zip())]
    )
    in_spark, build_run = threading.Event(), module.build_run

    def held_build_run(spark, *args, **kwargs):
        in_spark.set()
        hold(spark)
        return build_run(spark, *args, **kwargs)

    monkeypatch.setattr(module, "build_run", held_build_run)
    before = (pipeline.table() or {}).get("Parameters", {}).get("run_id")
    seed_orders, seed_returns = seed(sample_data)
    tag = datetime.now(UTC).strftime("%H%M%S%f")
    batch = batches.put_batch(
        pipeline.aws.s3,
        (pipeline.settings.orders_bucket, f"held-{tag}/orders.csv", seed_orders[1]),
        (pipeline.settings.returns_bucket, f"held-{tag}/returns.csv", seed_returns[1]),
    )
    arn = batches.find_execution(pipeline.aws.stepfunctions, pipeline.machine, batch)
    assert in_spark.wait(120)
    return arn, before


def test_an_admin_stop_also_stops_the_glue_run_which_never_publishes(pipeline, sample_data, monkeypatch):
    import time

    from services import run_detail

    def long_spark_job(spark):  # long enough for the admin to stop it
        spark.range(0, 10**13).selectExpr("sum(id)").collect()

    arn, before = run_held_in_glue(pipeline, sample_data, monkeypatch, long_spark_job)
    sfn, glue = pipeline.aws.stepfunctions, pipeline.aws.glue

    stopped = run_detail.stop(sfn, arn, "ops@example.com", glue, pipeline.settings.glue_job)

    assert len(stopped) == 1
    deadline = time.monotonic() + 60
    while (state := glue.get_job_run(JobName=pipeline.settings.glue_job, RunId=stopped[0])["JobRun"])[
        "JobRunState"
    ] != "STOPPED":
        assert time.monotonic() < deadline, state["JobRunState"]
        time.sleep(0.2)
    assert batches.wait_execution(sfn, arn, timeout=60)["status"] == "ABORTED"
    pipeline.settle()
    assert (pipeline.table() or {}).get("Parameters", {}).get("run_id") == before  # never published


def test_a_run_whose_execution_stopped_never_publishes(pipeline, sample_data, monkeypatch):
    """StopExecution alone (as when a Stop lands while TriggerGlueJob is still starting the run, so the
    console finds no Glue run to stop): the Glue run goes on, but publishes only while its execution runs."""
    import threading

    go_on = threading.Event()
    arn, before = run_held_in_glue(pipeline, sample_data, monkeypatch, lambda spark: go_on.wait(120))
    sfn, glue = pipeline.aws.stepfunctions, pipeline.aws.glue

    sfn.stop_execution(executionArn=arn, error="Stopped", cause="test: the Glue run is not stopped")
    # At once, as on AWS: the execution is inside a Lambda call (the Glue status check waits for the run).
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    go_on.set()

    assert batches.wait_execution(sfn, arn, timeout=60)["status"] == "ABORTED"
    pipeline.settle()
    (job_run,) = [
        r
        for r in glue.get_job_runs(JobName=pipeline.settings.glue_job)["JobRuns"]
        if r.get("Arguments", {}).get("--execution_arn") == arn
    ]
    assert job_run["JobRunState"] == "FAILED"
    assert "is ABORTED: not published" in job_run["ErrorMessage"]
    assert (pipeline.table() or {}).get("Parameters", {}).get("run_id") == before  # never published


# --------------------------------------------------------------------------- pairing (issue #14, ADR 0004)


def unique(prefix: str) -> str:
    import uuid

    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run_suffix(execution_name: str) -> str:
    """How a published run id ends for an execution (runs.run_id: <batch time>-<sha of the name>)."""
    import hashlib

    return "-" + hashlib.sha256(execution_name.encode()).hexdigest()[:8]


@contextmanager
def deployed_with(pipeline, **changes):
    """The pipeline redeployed with other settings for the duration (the window is a deploy-time setting)."""
    from deploy import deployer

    pipeline.settle()
    deployer.up(dataclasses.replace(pipeline.settings, **changes))
    try:
        yield
    finally:
        deployer.up(pipeline.settings)


def lone_name(pipeline, bucket: str, key: str, body_: bytes) -> str:
    side = "orders" if bucket == pipeline.settings.orders_bucket else "returns"
    return batches.put_lone(pipeline.aws.s3, bucket, key, body_, side)[0]


def wait_category(pipeline, name: str, prefix: str, timeout: float = 60.0) -> dict:
    """The History row of ``name`` once its category starts with ``prefix``."""
    from services import history

    deadline = time.monotonic() + timeout
    while True:
        frame = history.runs_frame(pipeline.aws.stepfunctions, pipeline.machine)
        row = frame[frame["name"] == name]
        if len(row) and row["category"].item().startswith(prefix):
            return row.iloc[0].to_dict()
        newest = frame[["name", "status", "category"]].head(5).to_dict("records")
        assert time.monotonic() < deadline, f"{name}: {list(row['category'])}; newest: {newest}"
        time.sleep(0.2)


def mails_naming(mail_catcher, name: str) -> list:
    return [m for m in mail_catcher.messages if name in body(m)]


def test_a_lone_upload_waits_silently_and_its_counterpart_resumes_it(pipeline, sample_data, mail_catcher):
    from pipeline.lambdas import runs

    (_, orders), (_, returns) = seed(sample_data)
    settings, folder = pipeline.settings, unique("lone")
    # The returns team's upload at 9:00 (no settle time here: conftest) waits for the orders at 17:00.
    pipeline.settle()
    name = lone_name(pipeline, settings.returns_bucket, f"{folder}/returns.csv", returns)
    row = wait_category(pipeline, name, "waiting for")

    assert row["status"] == "RUNNING" and row["category"] == "waiting for orders"
    pipeline.settle()  # settles with the run parked: it does not poll
    assert mails_naming(mail_catcher, name) == []  # no alert while it waits

    pipeline.aws.s3.put_object(Bucket=settings.orders_bucket, Key=f"{folder}/orders.csv", Body=orders)
    arn = runs.execution_arn(pipeline.machine, name)
    execution = batches.wait_execution(pipeline.aws.stepfunctions, arn)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    mail = mail_for(mail_catcher, name, "succeeded")
    assert f"  orders:  s3://{settings.orders_bucket}/{folder}/orders.csv  (version " in body(mail)
    assert len(mails_naming(mail_catcher, name)) == 1
    assert pipeline.table()["Parameters"]["run_id"].endswith(run_suffix(name))
    assert wait_category(pipeline, name, "processed")["category"] == "processed"


def test_four_pairs_within_a_second_publish_the_last_pair_and_every_file_is_accounted_for(
    pipeline, sample_data, wrangler
):
    from services import history

    (_, orders), (_, returns) = seed(sample_data)
    s3, settings, folder = pipeline.aws.s3, pipeline.settings, unique("burst")
    # The last pair has the smallest key names: ordered by key, the first pair would look newest.
    names = ["d", "c", "b", "a"]
    lines = orders.decode().splitlines(keepends=True)
    with deployed_with(pipeline, pairing_settle_seconds=900):  # the default: a backfill pairs newest
        started = time.monotonic()
        for i, name in enumerate(names):  # as `aws s3 cp --recursive` of each folder: orders, then returns
            rows = "".join(lines[: 1 + 5 * (i + 1)]).encode()  # pair i has 5 * (i + 1) order lines
            s3.put_object(Bucket=settings.orders_bucket, Key=f"{folder}/{name}-orders.csv", Body=rows)
        for name in names:
            s3.put_object(Bucket=settings.returns_bucket, Key=f"{folder}/{name}-returns.csv", Body=returns)
        # A burst: all eight PUTs well inside the settle window (about a second; more on a loaded machine).
        assert time.monotonic() - started < 30
        pipeline.settle()

    assert pipeline.counts()["n"] == 20  # the last pair: a-orders.csv has 20 lines
    frame = history.runs_frame(pipeline.aws.stepfunctions, pipeline.machine)
    last = frame[
        (frame["orders_key"] == f"{folder}/a-orders.csv")
        & (frame["returns_key"] == f"{folder}/a-returns.csv")
    ]
    assert list(last["category"]) == ["processed"]
    assert pipeline.table()["Parameters"]["run_id"].endswith(run_suffix(last["name"].item()))
    uploads = history.uploads_frame(history.list_uploads(s3, settings), frame)
    burst = uploads[uploads["key"].str.startswith(folder)]
    assert len(burst) == 8
    assert set(burst["status"]) <= {"in a run", "superseded"}, burst.to_dict("records")
    assert burst[burst["status"] == "superseded"]["superseded_by"].notna().all()
    assert not frame[frame["name"].isin(set(burst["run"].dropna()))]["category"].eq("failed").any()


def test_when_the_window_passes_one_missing_export_alert_goes_out(pipeline, sample_data, mail_catcher):
    from pipeline.lambdas import runs

    (_, orders), (_, returns) = seed(sample_data)
    settings, folder = pipeline.settings, unique("missing")
    pipeline.settle()  # no earlier test's upload still in flight to pair with
    with deployed_with(pipeline, pairing_window_seconds=3):
        name, lone = batches.put_lone(
            pipeline.aws.s3, settings.orders_bucket, f"{folder}/orders.csv", orders, "orders"
        )
        arn = runs.execution_arn(pipeline.machine, name)
        wait_category(pipeline, name, "")  # it exists
        execution = batches.wait_execution(pipeline.aws.stepfunctions, arn, timeout=60)

    assert execution["status"] == "SUCCEEDED"  # not a failed run
    assert wait_category(pipeline, name, "export missing")
    mail = mail_catcher.wait_for(lambda m: name in body(m) and "export missing" in subject(m))
    assert subject(mail).startswith("ETL returns export missing: orders.csv - waiting since ")
    assert body(mail).startswith("The returns export is missing: the orders file arrived at ")
    assert monitor_line(execution) in body(mail).splitlines()
    time.sleep(2)
    assert len(mails_naming(mail_catcher, name)) == 1  # once

    # The orders file was never run: the late returns export still pairs with it (ADR 0004).
    late_returns = batches.put(pipeline.aws.s3, settings.returns_bucket, f"{folder}/returns.csv", returns)
    late = pipeline.follow(batches.Batch(lone, late_returns, "orders", time.monotonic()))
    assert late["status"] == "SUCCEEDED" and late["name"] != name, late.get("cause")
