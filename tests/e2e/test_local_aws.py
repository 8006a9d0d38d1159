"""The local AWS (localaws/): each patch really executes, then the pipeline.

All tests share one local AWS (tests/e2e/conftest.py). Resources made by hand carry a per-run suffix so that
they never collide with the deployed pipeline.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, datetime
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.config import Config

from deploy import artifacts
from localaws import credentials
from pipeline.lambdas import runs, stop_glue, trigger_glue
from pipeline.lambdas.config import LambdaConfig
from tests.conftest import REPO
from tests.support.stack import free_port

pytestmark = pytest.mark.spark
REGION = "us-east-1"
RUN = uuid.uuid4().hex[:8]
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


class Aws:
    """boto3 clients and a session at the local AWS, signed with the owner's credentials file."""

    def __init__(self, url: str, state_dir: Path) -> None:
        self.url = url
        keys = credentials.load(Path(state_dir) / credentials.FILE_NAME)
        self.session = boto3.Session(
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            region_name=REGION,
        )

    def __getattr__(self, service: str):
        name = {"awslambda": "lambda"}.get(service, service)
        config = Config(signature_version="s3v4") if name == "s3" else None
        client = self.session.client(name, endpoint_url=self.url, config=config)
        setattr(self, service, client)
        return client


@pytest.fixture(scope="module")
def local_aws_clients(local_aws) -> Aws:
    return Aws(local_aws.url, local_aws.state_dir)


@pytest.fixture(scope="module")
def role(local_aws_clients) -> str:
    return local_aws_clients.iam.create_role(RoleName=f"e2e-role-{RUN}", AssumeRolePolicyDocument=TRUST)[
        "Role"
    ]["Arn"]


def bucket(local_aws_clients, base: str) -> str:
    name = f"{base}-{RUN}"
    local_aws_clients.s3.create_bucket(Bucket=name)
    return name


def create_function(
    local_aws_clients, role: str, name: str, handler: str, code: bytes, env=None, timeout: int = 10
) -> str:
    return local_aws_clients.awslambda.create_function(
        FunctionName=f"{name}-{RUN}",
        Runtime="python3.11",
        Role=role,
        Handler=handler,
        Code={"ZipFile": code},
        Timeout=timeout,
        Environment={"Variables": env or {}},
    )["FunctionArn"]


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)


def athena_workgroup(local_aws_clients, results_bucket: str) -> str:
    name = f"e2e-{RUN}-{results_bucket}"
    if name not in [w["Name"] for w in local_aws_clients.athena.list_work_groups()["WorkGroups"]]:
        local_aws_clients.athena.create_work_group(
            Name=name,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{results_bucket}/athena-results/"}
            },
        )
    return name


# ------------------------------------------------------------------------------------------ 1. Lambda


def test_lambda_runs_the_deployed_zip(local_aws_clients, role):
    orders, returns = bucket(local_aws_clients, "e2e-orders"), bucket(local_aws_clients, "e2e-returns")
    name = "check-orders-returns-exist"
    create_function(
        local_aws_clients,
        role,
        name,
        artifacts.lambda_handler("check_files"),
        artifacts.build_lambda_zip("check_files"),
        env={"ORDERS_BUCKET": orders, "RETURNS_BUCKET": returns},
    )

    empty = local_aws_clients.awslambda.invoke(FunctionName=f"{name}-{RUN}", Payload=b"{}")
    local_aws_clients.s3.put_object(Bucket=orders, Key="o.csv", Body=b"Order ID,Order Date\nA,2024-01-01\n")
    local_aws_clients.s3.put_object(Bucket=returns, Key="r.csv", Body=b"Order ID\nA\n")
    full = local_aws_clients.awslambda.invoke(FunctionName=f"{name}-{RUN}", Payload=b"{}")

    assert "FunctionError" not in empty
    nothing = json.loads(empty["Payload"].read())
    assert (nothing["both_exist"], nothing["orders"], nothing["returns"]) == (False, None, None)
    result = json.loads(full["Payload"].read())
    assert result["both_exist"] is True
    assert (result["orders"]["key"], result["returns"]["key"]) == ("o.csv", "r.csv")


def test_lambda_errors_are_function_errors(local_aws_clients, role):
    code = artifacts.reproducible_zip(
        {
            "app.py": b"import time\n"
            b"class TransientError(Exception):\n    pass\n"
            b"def fail(event, context):\n    raise TransientError('throttled: ' + event['why'])\n"
            b"def slow(event, context):\n    time.sleep(5)\n"
        }
    )
    create_function(local_aws_clients, role, "e2e-fails", "app.fail", code)
    create_function(local_aws_clients, role, "e2e-slow", "app.slow", code, timeout=1)

    failed = local_aws_clients.awslambda.invoke(
        FunctionName=f"e2e-fails-{RUN}", Payload=json.dumps({"why": "test"})
    )
    started = time.monotonic()
    timed_out = local_aws_clients.awslambda.invoke(FunctionName=f"e2e-slow-{RUN}", Payload=b"{}")

    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "TransientError"  # what Step Functions' Retry/Catch match on
    assert error["errorMessage"] == "throttled: test"
    assert any("app.py" in line for line in error["stackTrace"])
    assert timed_out["FunctionError"]
    assert json.loads(timed_out["Payload"].read())["errorType"] == "Sandbox.Timedout"
    assert time.monotonic() - started < 4


WORKER_CODE = (
    b"import os, time\n"
    b"VERSION = 'one'\n"
    b"def handler(event, context):\n"
    b"    if event.get('exit'):\n"
    b"        os._exit(3)\n"
    b"    time.sleep(event.get('sleep', 0))\n"
    b"    os.environ.setdefault('FIRST_REQUEST', context.aws_request_id)  # stays with the worker\n"
    b"    return {'pid': os.getpid(), 'version': VERSION, 'colour': os.environ.get('COLOUR'),\n"
    b"            'first_request': os.environ['FIRST_REQUEST'],\n"
    b"            'leak': os.environ.get('LOCALAWS_E2E_LEAK'),\n"
    b"            'function': os.environ['AWS_LAMBDA_FUNCTION_NAME'],\n"
    b"            'left_ms': context.get_remaining_time_in_millis()}\n"
)


def invoke_json(local_aws_clients, name: str, event: dict | None = None) -> dict:
    answer = local_aws_clients.awslambda.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    payload = json.loads(answer["Payload"].read())
    return {"error": answer.get("FunctionError"), **payload}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_warm_worker_answers_again_until_the_function_changes(local_aws_clients, role):
    name = f"e2e-warm-{RUN}"
    create_function(local_aws_clients, role, "e2e-warm", "app.handler",
                    artifacts.reproducible_zip({"app.py": WORKER_CODE}), env={"COLOUR": "red"})  # fmt: skip

    first, second = (invoke_json(local_aws_clients, name) for _ in range(2))
    local_aws_clients.awslambda.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"COLOUR": "blue"}}
    )
    configured = invoke_json(local_aws_clients, name)
    local_aws_clients.awslambda.update_function_code(
        FunctionName=name, ZipFile=artifacts.reproducible_zip({"app.py": WORKER_CODE.replace(b"one", b"two")})
    )
    recoded = invoke_json(local_aws_clients, name)

    # Reused: the same process, which remembers its first request (module state and os.environ stay).
    assert (second["pid"], second["first_request"]) == (first["pid"], first["first_request"])
    assert first["colour"] == "red" and first["version"] == "one" and 0 < first["left_ms"] <= 10_000
    # A new configuration, then new code: a new worker each time, and the old one has ended.
    assert configured["pid"] != first["pid"] and configured["colour"] == "blue"
    assert configured["first_request"] != first["first_request"]
    assert recoded["pid"] != configured["pid"] and (recoded["version"], recoded["colour"]) == ("two", "blue")
    assert gone(first["pid"]) and gone(configured["pid"])


def test_a_worker_that_crashes_or_times_out_is_replaced(local_aws_clients, role):
    code = artifacts.reproducible_zip({"app.py": WORKER_CODE})
    create_function(local_aws_clients, role, "e2e-crash", "app.handler", code, timeout=1)
    name = f"e2e-crash-{RUN}"

    before = invoke_json(local_aws_clients, name)
    crashed = invoke_json(local_aws_clients, name, {"exit": True})
    after_crash = invoke_json(local_aws_clients, name)
    replacement = invoke_json(local_aws_clients, name)
    started = time.monotonic()
    timed_out = invoke_json(local_aws_clients, name, {"sleep": 5})
    timed_out_seconds = time.monotonic() - started
    after_timeout = invoke_json(local_aws_clients, name)
    new_replacement = invoke_json(local_aws_clients, name)

    assert crashed["error"] == "Unhandled" and crashed["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed["errorMessage"]
    assert after_crash["error"] is None and after_crash["pid"] != before["pid"] and gone(before["pid"])
    assert replacement["pid"] == after_crash["pid"]  # the replacement stays warm
    assert timed_out["errorType"] == "Sandbox.Timedout" and timed_out_seconds < 4  # the deadline holds
    assert after_timeout["error"] is None and after_timeout["pid"] != after_crash["pid"]
    assert gone(after_crash["pid"])  # killed at its deadline, not left sleeping
    assert new_replacement["pid"] == after_timeout["pid"]


def test_warm_workers_keep_each_functions_environment(local_aws_clients, role, monkeypatch):
    monkeypatch.setenv("LOCALAWS_E2E_LEAK", "the server's environment")
    code = artifacts.reproducible_zip({"app.py": WORKER_CODE})
    create_function(local_aws_clients, role, "e2e-env-a", "app.handler", code, env={"COLOUR": "green"})
    create_function(local_aws_clients, role, "e2e-env-b", "app.handler", code)

    a = invoke_json(local_aws_clients, f"e2e-env-a-{RUN}")
    b = invoke_json(local_aws_clients, f"e2e-env-b-{RUN}")
    a_again = invoke_json(local_aws_clients, f"e2e-env-a-{RUN}")

    assert a["pid"] != b["pid"] and a_again["pid"] == a["pid"]  # one warm worker per function
    assert (a["colour"], b["colour"]) == ("green", None)  # only its own configuration's variables
    assert (a["function"], b["function"]) == (f"e2e-env-a-{RUN}", f"e2e-env-b-{RUN}")
    assert b["first_request"] != a["first_request"]  # what a handler sets stays in its own process
    assert a["leak"] is None and b["leak"] is None  # nothing of the server's environment


def test_overlapping_invocations_get_a_worker_each(local_aws_clients, role):
    code = artifacts.reproducible_zip({"app.py": WORKER_CODE})
    create_function(local_aws_clients, role, "e2e-overlap", "app.handler", code)
    name = f"e2e-overlap-{RUN}"
    answers: list[dict] = []
    threads = [
        threading.Thread(target=lambda: answers.append(invoke_json(local_aws_clients, name, {"sleep": 1})))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    later = invoke_json(local_aws_clients, name)

    assert [a["error"] for a in answers] == [None, None]
    assert answers[0]["pid"] != answers[1]["pid"]  # the second did not wait for the first
    assert later["pid"] in {a["pid"] for a in answers}  # both stay warm (MAX_IDLE_WORKERS)


def test_s3_notifications_are_asynchronous(local_aws_clients, role, local_aws):
    source, sink = bucket(local_aws_clients, "e2e-events"), bucket(local_aws_clients, "e2e-sink")
    code = artifacts.reproducible_zip(
        {
            "forward.py": b"import json, os, time, boto3\n"
            b"def handler(event, context):\n"
            b"    time.sleep(1)\n"
            b"    key = event['Records'][0]['s3']['object']['key']\n"
            b"    boto3.client('s3').put_object(Bucket=os.environ['SINK'], Key=key, Body=json.dumps(event))\n"
        }
    )
    arn = create_function(local_aws_clients, role, "e2e-forward", "forward.handler", code, env={"SINK": sink})
    local_aws_clients.s3.put_bucket_notification_configuration(
        Bucket=source,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )

    started = time.monotonic()
    local_aws_clients.s3.put_object(Bucket=source, Key="first.csv", Body=b"1")
    local_aws_clients.s3.put_object(Bucket=source, Key="second.csv", Body=b"2")
    put_seconds = time.monotonic() - started

    assert put_seconds < 1.0  # the PUTs did not wait for the 1 s handler
    assert local_aws.wait_idle(30)
    keys = [o["Key"] for o in local_aws_clients.s3.list_objects_v2(Bucket=sink)["Contents"]]
    assert sorted(keys) == ["first.csv", "second.csv"]
    event = json.loads(local_aws_clients.s3.get_object(Bucket=sink, Key="second.csv")["Body"].read())
    assert event["Records"][0]["eventName"] == "ObjectCreated:Put"
    assert event["Records"][0]["s3"]["bucket"]["name"] == source


# ------------------------------------------------------------------------------------------ 5. Athena


def publish_small_table(local_aws_clients, data_bucket: str, database: str, table: str) -> None:
    """Two partitions of Parquet under a run prefix; the table found through partition projection."""
    rows = {
        (2016, 11): {
            "order_id": ["A", "B", "C"],
            "is_returned": [True, False, True],
            "sales": [1.5, 2.0, 3.0],
        },
        (2017, 1): {"order_id": ["D", "E"], "is_returned": [False, True], "sales": [4.0, None]},
    }
    run = f"joined/run_id={RUN}/"
    for (year, month), columns in rows.items():
        frame = pa.table(
            {
                **columns,
                "order_date": [date(year, month, 1)] * len(columns["order_id"]),
                "processed_at": pa.array(
                    [datetime(2024, 5, 1, 12, 30)] * len(columns["order_id"]), pa.timestamp("us", tz="UTC")
                ),
            }
        )
        buffer = io.BytesIO()
        pq.write_table(frame, buffer)
        key = f"{run}order_year={year}/order_month={month}/part-0.snappy.parquet"
        local_aws_clients.s3.put_object(Bucket=data_bucket, Key=key, Body=buffer.getvalue())
    local_aws_clients.s3.put_object(
        Bucket=data_bucket, Key=f"{run}_quality/report.json", Body=b"{}"
    )  # never read as data
    local_aws_clients.glue.create_database(DatabaseInput={"Name": database})
    local_aws_clients.glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": table,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "classification": "parquet",
                "projection.enabled": "true",
                "projection.order_year.type": "integer",
                "projection.order_year.range": "2016,2017",
                "projection.order_month.type": "integer",
                "projection.order_month.range": "1,12",
                "storage.location.template": f"s3://{data_bucket}/{run}"
                "order_year=${order_year}/order_month=${order_month}/",
            },
            "PartitionKeys": [{"Name": "order_year", "Type": "int"}, {"Name": "order_month", "Type": "int"}],
            "StorageDescriptor": {
                "Columns": [
                    {"Name": "order_id", "Type": "string"},
                    {"Name": "is_returned", "Type": "boolean"},
                    {"Name": "sales", "Type": "double"},
                    {"Name": "order_date", "Type": "date"},
                    {"Name": "processed_at", "Type": "timestamp"},
                    {"Name": "comment", "Type": "string"},  # in the catalog, in no file: NULL
                ],
                "Location": f"s3://{data_bucket}/{run}",
            },
        },
    )


def test_athena_runs_sql_on_the_table_parquet(local_aws_clients, wrangler):
    data = bucket(local_aws_clients, "e2e-athena")
    database, table = f"e2e_db_{RUN}", "small"
    publish_small_table(local_aws_clients, data, database, table)
    workgroup = athena_workgroup(local_aws_clients, data)

    def query(sql, params=None):
        return wrangler.athena.read_sql_query(
            sql,
            database=database,
            workgroup=workgroup,
            ctas_approach=False,
            unload_approach=False,
            params=params,
            paramstyle="qmark",
            boto3_session=local_aws_clients.session,
        )

    counted = query(
        f"SELECT count(*) AS n FROM {table} WHERE is_returned = ? AND order_year = ?", ["true", "2016"]
    )
    grouped = query(
        f"SELECT order_year, order_month, count(*) AS lines, sum(sales) AS sales, "
        f"count_if(is_returned) AS returned FROM {database}.{table} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    everything = f"SELECT * FROM awsdatacatalog.{database}.{table}"
    rows = query(f"{everything} WHERE order_id IN (?, ?) ORDER BY order_id", ["'A'", "'E'"])

    assert counted["n"].tolist() == [2]
    assert grouped.to_dict("records") == [
        {"order_year": 2016, "order_month": 11, "lines": 3, "sales": 6.5, "returned": 2},
        {"order_year": 2017, "order_month": 1, "lines": 2, "sales": 4.0, "returned": 1},
    ]
    assert rows["order_id"].tolist() == ["A", "E"]
    assert rows["is_returned"].tolist() == [True, True]
    assert str(rows["order_date"][0]) == "2016-11-01"
    assert rows["processed_at"][0] == datetime(2024, 5, 1, 12, 30)
    assert rows["comment"].isna().all() and rows["sales"].isna().tolist() == [False, True]
    assert str(rows["order_year"].dtype) == "Int32" and str(rows["is_returned"].dtype) == "boolean"


def test_athena_cache_never_writes_outside_its_folder(local_aws_clients, wrangler, local_aws, tmp_path):
    """A key with an empty segment under the table location (`run_id=x//<absolute path>`) is not data."""
    data = bucket(local_aws_clients, "e2e-escape")
    database, table = f"e2e_escape_{RUN}", "small"
    publish_small_table(local_aws_clients, data, database, table)
    outside = tmp_path / "escaped.parquet"
    local_aws_clients.s3.put_object(
        Bucket=data, Key=f"joined/run_id={RUN}/{outside}", Body=b"PAR1 not really"
    )
    workgroup = athena_workgroup(local_aws_clients, data)

    counted = wrangler.athena.read_sql_query(
        f"SELECT count(*) AS n FROM {table}", database=database, workgroup=workgroup, ctas_approach=False,
        unload_approach=False, boto3_session=local_aws_clients.session,
    )  # fmt: skip

    assert counted["n"].tolist() == [5]
    assert not outside.exists()
    cache = local_aws.state_dir / "athena" / "data"
    assert all(p.resolve().is_relative_to(cache.resolve()) for p in cache.rglob("*"))


def test_athena_reports_failed_sql(local_aws_clients, wrangler):
    data = bucket(local_aws_clients, "e2e-athena-failures")
    workgroup = athena_workgroup(local_aws_clients, data)
    database = f"e2e_db_{RUN}"

    for sql, reason in (
        ("SELECT nope FROM small", "nope"),
        ("SELECT * FROM missing_table", "TABLE_NOT_FOUND"),
        ("SELECT * FROM small WHERE order_id = ?", "INVALID_PARAMETER"),
        ("SELECT * FROM read_csv('/etc/passwd')", "FUNCTION_NOT_FOUND"),
    ):
        with pytest.raises(wrangler.exceptions.QueryFailed, match=reason):
            wrangler.athena.read_sql_query(
                sql, database=database, workgroup=workgroup, ctas_approach=False, unload_approach=False,
                boto3_session=local_aws_clients.session,
            )  # fmt: skip


def wait_query(local_aws_clients, execution_id: str, timeout: float = 60) -> dict:
    """The query's Status once it has ended (queries run on the engine's threads, as on Athena)."""
    deadline = time.monotonic() + timeout
    while True:
        status = local_aws_clients.athena.get_query_execution(QueryExecutionId=execution_id)[
            "QueryExecution"
        ]["Status"]
        if status["State"] in ("SUCCEEDED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_a_runaway_query_ends_at_the_time_limit_while_others_are_answered(
    local_aws_clients, local_aws, monkeypatch
):
    monkeypatch.setattr(local_aws.patches.athena, "timeout_seconds", 3)
    workgroup = athena_workgroup(local_aws_clients, bucket(local_aws_clients, "e2e-athena-runaway"))
    runaway_sql = (
        "SELECT sum(a.x * b.y + c.z) AS s FROM unnest(sequence(1, 5000)) AS a(x) "
        "CROSS JOIN unnest(sequence(1, 5000)) AS b(y) CROSS JOIN unnest(sequence(1, 5000)) AS c(z)"
    )
    started = time.monotonic()
    runaway = local_aws_clients.athena.start_query_execution(QueryString=runaway_sql, WorkGroup=workgroup)[
        "QueryExecutionId"
    ]
    small = local_aws_clients.athena.start_query_execution(
        QueryString="SELECT 41 + 1 AS answer", WorkGroup=workgroup
    )

    answered = wait_query(local_aws_clients, small["QueryExecutionId"], timeout=10)
    answered_after = time.monotonic() - started
    ended = wait_query(local_aws_clients, runaway, timeout=30)

    assert answered["State"] == "SUCCEEDED" and answered_after < 3  # while the runaway query runs
    assert ended["State"] == "FAILED" and time.monotonic() - started < 10
    assert ended["StateChangeReason"].startswith("EXCEEDED_TIME_LIMIT: Query exceeded the local Athena time")


def test_athena_get_query_results_pages(local_aws_clients, local_aws):
    data = bucket(local_aws_clients, "e2e-athena-pages")
    workgroup = athena_workgroup(local_aws_clients, data)
    execution = local_aws_clients.athena.start_query_execution(
        QueryString="SELECT x, x % 2 = 0 AS even FROM unnest(sequence(1, 2500)) AS t(x)", WorkGroup=workgroup
    )["QueryExecutionId"]

    status = wait_query(local_aws_clients, execution)
    pages = list(
        local_aws_clients.athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution)
    )

    assert status["State"] == "SUCCEEDED"
    rows = [r["Data"] for page in pages for r in page["ResultSet"]["Rows"]]
    assert len(pages) == 3 and len(rows) == 2501
    assert rows[0] == [{"VarCharValue": "x"}, {"VarCharValue": "even"}]
    assert rows[1] == [{"VarCharValue": "1"}, {"VarCharValue": "false"}]
    assert rows[-1] == [{"VarCharValue": "2500"}, {"VarCharValue": "true"}]
    types = [c["Type"] for c in pages[0]["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    assert types == ["bigint", "boolean"]


# ------------------------------------------------------------------------------------------ 6. SNS


def test_sns_email_is_delivered_and_recorded(local_aws_clients, local_aws, mail_catcher):
    topic = local_aws_clients.sns.create_topic(Name=f"e2e-topic-{RUN}")["TopicArn"]
    local_aws_clients.sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")

    local_aws_clients.sns.publish(
        TopicArn=topic, Subject=f"Run {RUN} done", Message="Rows out: 20.\nReturned lines: 10."
    )

    mail = mail_catcher.wait_for(lambda m: m["Subject"] == f"Run {RUN} done")
    assert mail["To"] == "ops@example.com"
    assert "Rows out: 20." in mail.get_payload(decode=True).decode()
    inbox = [
        json.loads(line) for line in (local_aws.state_dir / "notifications.jsonl").read_text().splitlines()
    ]
    (record,) = [r for r in inbox if r["topic"] == topic]
    assert record["subject"] == f"Run {RUN} done" and record["message"].startswith("Rows out: 20.")
    assert record["emails"] == ["ops@example.com"] and record["time"]


# ------------------------------------------------------------------------------------------ 4. Glue


@pytest.fixture(scope="module")
def glue_job(local_aws_clients, role):
    """The Glue job made by hand: script and extra-py-files in S3, catalog database, output bucket."""
    scripts, processed = bucket(local_aws_clients, "e2e-scripts"), bucket(local_aws_clients, "e2e-processed")
    local_aws_clients.s3.put_object(
        Bucket=scripts, Key="ecommerce_join_data.py", Body=artifacts.glue_script_bytes()
    )
    local_aws_clients.s3.put_object(
        Bucket=scripts, Key="job_modules.zip", Body=artifacts.build_glue_extra_py_zip()
    )
    database = f"e2e_glue_{RUN}"
    local_aws_clients.glue.create_database(DatabaseInput={"Name": database})
    name = f"e2e_join_{RUN}"
    local_aws_clients.glue.create_job(
        Name=name,
        Role=role,
        GlueVersion="5.0",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{scripts}/ecommerce_join_data.py"},
        DefaultArguments={
            "--extra-py-files": f"s3://{scripts}/job_modules.zip",
            "--output_path": f"s3://{processed}/joined-data/",
            "--database": database,
            "--table": "joined_data",
        },
    )
    return {
        "name": name,
        "database": database,
        "processed": processed,
        "raw": bucket(local_aws_clients, "e2e-raw"),
    }


def run_glue(local_aws_clients, job, orders: bytes, returns: bytes, run_id: str, slow: bool = False) -> dict:
    local_aws_clients.s3.put_object(Bucket=job["raw"], Key=f"{run_id}/orders.csv", Body=orders)
    local_aws_clients.s3.put_object(Bucket=job["raw"], Key=f"{run_id}/returns.csv", Body=returns)
    run_id_glue = local_aws_clients.glue.start_job_run(
        JobName=job["name"],
        Arguments={
            "--orders_path": f"s3://{job['raw']}/{run_id}/orders.csv",
            "--returns_path": f"s3://{job['raw']}/{run_id}/returns.csv",
            "--run_id": run_id,
        },
    )["JobRunId"]
    if slow:  # a real Spark run: not over at once (moto's default says SUCCEEDED immediately)
        first = local_aws_clients.glue.get_job_run(JobName=job["name"], RunId=run_id_glue)["JobRun"]
        assert first["JobRunState"] in ("STARTING", "RUNNING") and "CompletedOn" not in first
    return wait_until(
        lambda: (
            (r := local_aws_clients.glue.get_job_run(JobName=job["name"], RunId=run_id_glue)["JobRun"])[
                "JobRunState"
            ]
            in ("SUCCEEDED", "FAILED")
            and r
        ),
        timeout=120,
    )


def test_glue_job_run_executes_the_script(local_aws_clients, glue_job, sample_data, wrangler):
    orders = (sample_data / "seed/ordercsv.csv").read_bytes()
    returns = (sample_data / "seed/returncsv.csv").read_bytes()

    run = run_glue(local_aws_clients, glue_job, orders, returns, "20240501T000000Z-good", slow=True)

    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert run["ExecutionTime"] >= 1 and run["CompletedOn"] >= run["StartedOn"]
    table = local_aws_clients.glue.get_table(DatabaseName=glue_job["database"], Name="joined_data")["Table"]
    run_prefix = f"s3://{glue_job['processed']}/joined-data/run_id=20240501T000000Z-good/"
    assert table["StorageDescriptor"]["Location"] == run_prefix
    assert table["Parameters"]["rows"] == "20"
    report_key = "joined-data/run_id=20240501T000000Z-good/_quality/report.json"
    report = json.loads(
        local_aws_clients.s3.get_object(Bucket=glue_job["processed"], Key=report_key)["Body"].read()
    )
    assert (report["status"], report["rows_out"], report["returned_lines"]) == ("SUCCEEDED", 20, 10)
    assert report["orders_path"].startswith("s3://") and report["run_path"] == run_prefix
    listed = local_aws_clients.s3.list_objects_v2(Bucket=glue_job["processed"], Prefix="joined-data/")[
        "Contents"
    ]
    assert any(o["Key"].endswith(".parquet") for o in listed)
    assert not any(o["Key"].endswith(".crc") for o in listed)

    workgroup = athena_workgroup(local_aws_clients, glue_job["processed"])
    counted = wrangler.athena.read_sql_query(
        "SELECT count(*) AS n, count_if(is_returned) AS returned FROM joined_data",
        database=glue_job["database"], workgroup=workgroup, ctas_approach=False, unload_approach=False,
        boto3_session=local_aws_clients.session,
    )  # fmt: skip
    assert counted.to_dict("records") == [{"n": 20, "returned": 10}]
    none = wrangler.athena.read_sql_query(
        "SELECT count(*) AS n, count_if(is_returned) AS returned FROM joined_data WHERE order_id = ?",
        database=glue_job["database"], workgroup=workgroup, ctas_approach=False, unload_approach=False,
        boto3_session=local_aws_clients.session, params=["'no such order'"], paramstyle="qmark",
    )  # fmt: skip
    assert none.to_dict("records") == [{"n": 0, "returned": 0}]  # Trino's count_if over no rows: 0


def test_glue_job_run_failure_reports_the_error(local_aws_clients, glue_job, sample_data):
    orders = (sample_data / "seed/ordercsv.csv").read_bytes()
    before = local_aws_clients.glue.get_table(DatabaseName=glue_job["database"], Name="joined_data")["Table"]

    run = run_glue(
        local_aws_clients, glue_job, orders, b"Reason,Returned\nbroken,Yes\n", "20240502T000000Z-bad"
    )

    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"].startswith("ProfileError: returns file has no order id column")
    assert run["ExecutionTime"] >= 1
    after = local_aws_clients.glue.get_table(DatabaseName=glue_job["database"], Name="joined_data")["Table"]
    assert after["StorageDescriptor"]["Location"] == before["StorageDescriptor"]["Location"]


def wait_glue_run(local_aws_clients, job, job_run_id: str, timeout: float = 120) -> dict:
    ended = ("SUCCEEDED", "FAILED", "STOPPED")
    return wait_until(
        lambda: (
            (r := local_aws_clients.glue.get_job_run(JobName=job["name"], RunId=job_run_id)["JobRun"])[
                "JobRunState"
            ]
            in ended
            and r
        ),
        timeout=timeout,
    )


def test_glue_reads_the_version_that_was_checked(local_aws_clients, glue_job, sample_data):
    """The orders file is replaced after CheckForFiles saw it: the run reads what was checked."""
    raw = bucket(local_aws_clients, "e2e-versioned-raw")
    local_aws_clients.s3.put_bucket_versioning(Bucket=raw, VersioningConfiguration={"Status": "Enabled"})
    seed = sample_data / "seed"
    local_aws_clients.s3.put_object(Bucket=raw, Key="v/orders.csv", Body=(seed / "ordercsv.csv").read_bytes())
    local_aws_clients.s3.put_object(
        Bucket=raw, Key="v/returns.csv", Body=(seed / "returncsv.csv").read_bytes()
    )
    seen = {
        side: runs.latest_version(
            raw,
            f"v/{side}.csv",
            [local_aws_clients.s3.list_object_versions(Bucket=raw, Prefix=f"v/{side}.csv")],
        )
        for side in ("orders", "returns")
    }
    replacement = b"Order ID,Order Date\nLATE-1,1/13/2016\n"
    local_aws_clients.s3.put_object(Bucket=raw, Key="v/orders.csv", Body=replacement)
    arguments = {
        "--orders_path": f"s3://{raw}/v/orders.csv",
        "--returns_path": f"s3://{raw}/v/returns.csv",
        "--run_id": "20240503T000000Z-pinned",
        "--orders_version_id": seen["orders"].version_id,
        "--orders_etag": seen["orders"].etag,
        "--returns_version_id": seen["returns"].version_id,
    }
    started = local_aws_clients.glue.start_job_run(JobName=glue_job["name"], Arguments=arguments)["JobRunId"]
    run = wait_glue_run(local_aws_clients, glue_job, started)

    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    key = "joined-data/run_id=20240503T000000Z-pinned/_quality/report.json"
    report = json.loads(local_aws_clients.s3.get_object(Bucket=glue_job["processed"], Key=key)["Body"].read())
    assert (report["rows_in"], report["returned_lines"]) == (20, 10)  # the checked file, not LATE-1
    assert report["orders_version_id"] == seen["orders"].version_id
    assert (
        local_aws_clients.s3.get_object(Bucket=raw, Key="v/orders.csv")["Body"].read() == replacement
    )  # in place
    inputs = local_aws_clients.s3.list_objects_v2(Bucket=glue_job["processed"], Prefix="joined-data/_inputs/")
    assert "Contents" not in inputs  # the pinned copies are gone

    # Without a version to read, a file whose ETag is not the checked one is refused with the reason.
    refused = local_aws_clients.glue.start_job_run(
        JobName=glue_job["name"],
        Arguments={**arguments, "--run_id": "20240503T000000Z-refused", "--orders_version_id": ""},
    )["JobRunId"]
    run = wait_glue_run(local_aws_clients, glue_job, refused)
    assert run["JobRunState"] == "FAILED"
    assert "v/orders.csv was replaced after it was checked" in run["ErrorMessage"]


def test_stopped_runs_end_stopped_and_never_publish(
    local_aws_clients, glue_job, local_aws, sample_data, monkeypatch
):
    """trigger_glue starts run A (its Spark work takes minutes) and run B (queued behind it); the
    state machine's stop_glue stops them with BatchStopJobRun: Spark is cancelled, nothing publishes."""
    runner = local_aws.patches.glue
    module = runner._load(
        artifacts.glue_script_bytes(), [("job_modules.zip", artifacts.build_glue_extra_py_zip())]
    )
    in_spark = threading.Event()
    build_run = module.build_run

    def slow_build_run(spark, *args, **kwargs):
        in_spark.set()
        spark.range(0, 10**13).selectExpr("sum(id)").collect()  # a long Spark job, for the stop to cancel
        return build_run(spark, *args, **kwargs)

    monkeypatch.setattr(module, "build_run", slow_build_run)
    job = f"e2e_stop_{RUN}"
    described = local_aws_clients.glue.get_job(JobName=glue_job["name"])["Job"]
    local_aws_clients.glue.create_job(
        Name=job, Role=described["Role"], GlueVersion="5.0", Command=described["Command"],
        DefaultArguments=described["DefaultArguments"], ExecutionProperty={"MaxConcurrentRuns": 3},
    )  # fmt: skip

    def published() -> str | None:
        try:
            table = local_aws_clients.glue.get_table(DatabaseName=glue_job["database"], Name="joined_data")[
                "Table"
            ]
        except local_aws_clients.glue.exceptions.EntityNotFoundException:
            return None
        return table["Parameters"]["run_id"]

    before = published()
    seed = sample_data / "seed"
    local_aws_clients.s3.put_object(
        Bucket=glue_job["raw"], Key="stop/orders.csv", Body=(seed / "ordercsv.csv").read_bytes()
    )
    local_aws_clients.s3.put_object(
        Bucket=glue_job["raw"], Key="stop/returns.csv", Body=(seed / "returncsv.csv").read_bytes()
    )

    def listed(side: str) -> dict:
        entry = local_aws_clients.s3.list_objects_v2(Bucket=glue_job["raw"], Prefix=f"stop/{side}.csv")[
            "Contents"
        ][0]
        return runs.S3Object.from_listing(glue_job["raw"], entry).to_dict()

    files = {side: listed(side) for side in ("orders", "returns")}
    cfg = LambdaConfig(
        glue_job_name=job, output_path=f"s3://{glue_job['processed']}/joined-data/",
        database=glue_job["database"], table="joined_data",
        max_quarantine_fraction=local_aws.settings.max_quarantine_fraction,
        keep_runs=local_aws.settings.keep_runs,  # as the deployer sets them (no defaults of its own)
    )  # fmt: skip
    event_a = {**files, "execution_name": f"batch-stop-a-{RUN}"}
    event_b = {**files, "execution_name": f"batch-stop-b-{RUN}"}
    run_a = trigger_glue.process(event_a, cfg, glue=local_aws_clients.glue)["job_run_id"]
    run_b = trigger_glue.process(event_b, cfg, glue=local_aws_clients.glue)["job_run_id"]
    state = local_aws_clients.glue.get_job_run(JobName=job, RunId=run_a)["JobRun"]
    assert in_spark.wait(60), (state["JobRunState"], state.get("ErrorMessage"))

    stopped_b = stop_glue.process(event_b, cfg, glue=local_aws_clients.glue)  # queued: it never starts
    assert stopped_b["stopped"] == [run_b] and stopped_b["errors"] == []
    began = time.monotonic()
    assert stop_glue.process(event_a, cfg, glue=local_aws_clients.glue)["stopped"] == [
        run_a
    ]  # in Spark: cancelled
    ended_a = wait_glue_run(local_aws_clients, {"name": job}, run_a, timeout=60)
    ended_b = wait_glue_run(local_aws_clients, {"name": job}, run_b, timeout=60)

    assert (ended_a["JobRunState"], ended_b["JobRunState"]) == ("STOPPED", "STOPPED")
    assert time.monotonic() - began < 30  # the Spark job was cancelled, not waited for
    assert "ErrorMessage" not in ended_a
    assert published() == before  # nothing published
    # An ended run cannot be stopped again: Glue says so per run, the call itself succeeds.
    again = local_aws_clients.glue.batch_stop_job_run(JobName=job, JobRunIds=[run_a])
    assert again["SuccessfulSubmissions"] == [] and "cannot be stopped" in str(again["Errors"])
    assert stop_glue.process(event_a, cfg, glue=local_aws_clients.glue)["stopped"] == []


# ------------------------------------------------------------------------------------------ the CLI


def test_cli_serves_the_deployer_and_stops_on_sigterm(tmp_path):
    """`python -m localaws`: port from ECOMMERCE_LOCAL_PORT, a `ready` line, `python -m deploy up` into it
    (as `make run` does), a clean stop on SIGTERM."""
    port = free_port()
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTP_", "ECOMMERCE_", "MOTO_"))
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "localaws", "--state-dir", str(tmp_path / "state")],
        cwd=REPO,
        env={**environ, "ECOMMERCE_LOCAL_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if "ready" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(90), "".join(lines)
        url = f"http://127.0.0.1:{port}"
        assert url in next(line for line in lines if "ready" in line)
        s3 = Aws(url, tmp_path / "state").s3
        assert s3.list_buckets()["Buckets"] == []  # the local AWS deploys nothing itself
        deploy_env = {
            **environ,
            "ECOMMERCE_TARGET": "local",
            "ECOMMERCE_ENDPOINT_URL": url,
            "ECOMMERCE_LOCAL_STATE_DIR": str(tmp_path / "state"),
        }
        deployed = subprocess.run(
            [sys.executable, "-m", "deploy", "up"], cwd=REPO, env=deploy_env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "ecommerce-orders-raw" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(5)
    assert "local AWS stopped" in "".join(lines)
