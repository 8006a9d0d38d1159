"""Publishing and runs are race-free: concurrent publishes, replaced inputs, retried triggers, stopped runs.

Against moto's server in this process with the local AWS's catalog patch (localaws/glue.py), so the same
boto3 calls as on AWS go over HTTP, and a test can interleave two writers exactly.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Iterator

import boto3
import ecommerce_join_data as job
import pytest
from moto.server import ThreadedMotoServer
from pyspark.sql import types as T

from localaws.glue import install_catalog
from localaws.plumbing import Patcher

DATABASE, TABLE = "ecommerce_analytics", "joined_data"
SCHEMA = T.StructType(
    [
        T.StructField("order_id", T.StringType()),
        T.StructField("order_date", T.DateType()),
        T.StructField("order_year", T.IntegerType()),
        T.StructField("order_month", T.IntegerType()),
    ]
)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    patcher = Patcher()
    install_catalog(patcher)
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        patcher.undo()
        server.stop()


def client(endpoint: str, service: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def glue(endpoint, fake_aws_env, monkeypatch):
    """A fresh catalog database; the job script's AWS clients go to the moto server."""
    glue = client(endpoint, "glue")
    with contextlib.suppress(glue.exceptions.EntityNotFoundException):
        glue.delete_database(Name=DATABASE)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    monkeypatch.setattr(job, "aws_client", lambda service: client(endpoint, service))
    return glue


def publish_args(tmp_path, batch: str, run_id: str) -> tuple[job.JobArgs, job.Report]:
    args = job.JobArgs(
        "o.csv", "r.csv", str(tmp_path / "out"), run_id, database=DATABASE, table=TABLE, batch_time=batch
    )
    report = job.new_report(args)
    report.min_order_date, report.max_order_date, report.rows_out = "2016-01-01", "2016-12-31", 1
    return args, report


def published_run(glue) -> str:
    return glue.get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]["Parameters"]["run_id"]


# --- 1. publish: UpdateTable VersionId ------------------------------------------------------------------


def test_local_catalog_refuses_a_stale_table_version(glue, tmp_path):
    args, report = publish_args(tmp_path, "2024-01-01T00:00:00Z", "a")
    glue.create_table(DatabaseName=DATABASE, TableInput=job.table_input(args, report, SCHEMA))
    seen = glue.get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]["VersionId"]
    definition = job.table_input(args, report, SCHEMA)
    glue.update_table(DatabaseName=DATABASE, TableInput=definition, VersionId=seen)

    with pytest.raises(glue.exceptions.ConcurrentModificationException):
        glue.update_table(DatabaseName=DATABASE, TableInput=definition, VersionId=seen)
    current = glue.get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]["VersionId"]
    glue.update_table(DatabaseName=DATABASE, TableInput=definition, VersionId=current)


def interleave(glue, endpoint: str, monkeypatch, competitor) -> None:
    """Run ``competitor()`` right after the job's first GetTable answers (before its write)."""
    done: list[bool] = []

    def after_get_table(**_kwargs) -> None:
        if not done:
            done.append(True)
            competitor()

    def hooked(service: str):
        made = client(endpoint, service)
        made.meta.events.register("after-call.glue.GetTable", after_get_table)
        return made

    monkeypatch.setattr(job, "aws_client", hooked)


def test_an_older_batch_never_overwrites_a_newer_one_published_at_the_same_moment(
    glue, endpoint, tmp_path, monkeypatch
):
    old_args, old_report = publish_args(tmp_path, "2024-01-01T00:00:00Z", "20240101T000000Z-old")
    job.publish(old_args, old_report, SCHEMA)
    middle_args, middle = publish_args(tmp_path, "2024-01-02T00:00:00Z", "20240102T000000Z-mid")
    newest_args, newest = publish_args(tmp_path, "2024-01-03T00:00:00Z", "20240103T000000Z-new")

    # The middle batch reads the table (old batch: it may publish), then the newest batch publishes.
    def newest_publishes() -> None:
        glue.update_table(
            DatabaseName=DATABASE,
            TableInput=job.table_input(newest_args, newest, SCHEMA),
            VersionId=glue.get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]["VersionId"],
        )

    interleave(glue, endpoint, monkeypatch, newest_publishes)
    job.publish(middle_args, middle, SCHEMA)

    assert published_run(glue) == "20240103T000000Z-new"
    assert not middle.published
    assert "older than the published run 20240103T000000Z-new" in middle.warnings[0]


def test_a_newer_batch_publishes_after_a_conflict(glue, endpoint, tmp_path, monkeypatch):
    old_args, old_report = publish_args(tmp_path, "2024-01-01T00:00:00Z", "20240101T000000Z-old")
    job.publish(old_args, old_report, SCHEMA)
    mid_args, mid = publish_args(tmp_path, "2024-01-02T00:00:00Z", "20240102T000000Z-mid")
    new_args, new = publish_args(tmp_path, "2024-01-03T00:00:00Z", "20240103T000000Z-new")

    interleave(glue, endpoint, monkeypatch, lambda: job.publish(mid_args, mid, SCHEMA))
    job.publish(new_args, new, SCHEMA)

    assert mid.published and new.published
    assert published_run(glue) == "20240103T000000Z-new"


def test_two_first_publishes_race_on_create(glue, endpoint, tmp_path, monkeypatch):
    """No table yet: both see none; the older one's CreateTable loses and it compares again."""
    new_args, new = publish_args(tmp_path, "2024-01-03T00:00:00Z", "20240103T000000Z-new")
    old_args, old = publish_args(tmp_path, "2024-01-01T00:00:00Z", "20240101T000000Z-old")
    competitor = client(endpoint, "glue")

    interleave(
        glue,
        endpoint,
        monkeypatch,
        lambda: competitor.create_table(
            DatabaseName=DATABASE, TableInput=job.table_input(new_args, new, SCHEMA)
        ),
    )
    job.publish(old_args, old, SCHEMA)

    assert not old.published and published_run(glue) == "20240103T000000Z-new"


# --- 2. reads: the checked object versions --------------------------------------------------------------

RAW, PROCESSED = "race-orders-raw", "race-processed"


@pytest.fixture
def s3(endpoint, fake_aws_env, monkeypatch):
    s3 = client(endpoint, "s3")
    for bucket in (RAW, PROCESSED):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=RAW, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setattr(job, "aws_client", lambda service: client(endpoint, service))
    return s3


def checked_then_replaced(s3, key: str) -> dict:
    """PUT v1, let CheckForFiles see it, then replace it with v2; what the check saw."""
    from pipeline.lambdas import config as lambda_config

    s3.put_object(Bucket=RAW, Key=key, Body=b"Order ID,Order Date\nO1,1/2/2016\n")
    seen = lambda_config.latest_version(s3, RAW, key)
    s3.put_object(Bucket=RAW, Key=key, Body=b"Order ID,Order Date\nEVIL,1/2/2016\nO2,1/3/2016\n")
    return {"version_id": seen.version_id, "etag": seen.etag}


def pin_args(key: str, run_id: str = "R1", **kwargs) -> job.JobArgs:
    return job.JobArgs(
        f"s3://{RAW}/{key}", f"s3://{RAW}/{key}", f"s3://{PROCESSED}/joined-data/", run_id, **kwargs
    )


def test_the_job_reads_the_version_that_was_checked_not_the_replacement(s3):
    seen = checked_then_replaced(s3, "in/orders.csv")
    args = pin_args("in/orders.csv", orders_version_id=seen["version_id"], orders_etag=seen["etag"])

    pinned = job.pin_inputs(args)

    bucket, key = job.split_s3(pinned.orders_path)
    assert bucket == PROCESSED and key.startswith("joined-data/_inputs/run_id=R1/orders/")
    assert b"EVIL" not in s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert pinned.returns_path == args.returns_path  # nothing checked for it: read as it is
    job.unpin_inputs(pinned, args)
    assert "Contents" not in s3.list_objects_v2(Bucket=PROCESSED, Prefix="joined-data/_inputs/")
    assert b"EVIL" in s3.get_object(Bucket=RAW, Key="in/orders.csv")["Body"].read()  # raw file in place


def test_without_a_version_the_checked_etag_is_read(s3):
    s3.put_object(Bucket=RAW, Key="in/same.csv", Body=b"Order ID,Order Date\nO1,1/2/2016\n")
    etag = s3.head_object(Bucket=RAW, Key="in/same.csv")["ETag"].strip('"')
    args = pin_args("in/same.csv", orders_etag=etag)
    pinned = job.pin_inputs(args)
    assert pinned.orders_path != args.orders_path
    job.unpin_inputs(pinned, args)


def test_without_a_version_a_replaced_file_is_refused_clearly(s3):
    seen = checked_then_replaced(s3, "in/unversioned.csv")
    with pytest.raises(job.JobError, match="was replaced after it was checked"):
        job.pin_inputs(pin_args("in/unversioned.csv", orders_etag=seen["etag"]))


def test_a_version_that_is_gone_is_refused_clearly(s3):
    seen = checked_then_replaced(s3, "in/gone.csv")
    s3.delete_object(Bucket=RAW, Key="in/gone.csv", VersionId=seen["version_id"])
    with pytest.raises(job.JobError, match="is gone since it was checked"):
        job.pin_inputs(pin_args("in/gone.csv", orders_version_id=seen["version_id"]))


def test_a_gzip_input_is_pinned_with_a_gz_suffix_and_checked_to_its_end_on_s3(s3, monkeypatch):
    """Spark decompresses by the ".gz" suffix only (case-sensitive): the copy it reads keeps one."""
    lines = b"Order ID,Order Date\n" + b"".join(b"O%d,2016-01-02\n" % i for i in range(5000))
    packed = gzip.compress(lines)
    s3.put_object(Bucket=RAW, Key="in/Orders.CSV.GZ", Body=packed)
    s3.put_object(Bucket=RAW, Key="in/cut.csv.gz", Body=packed[:-50])
    monkeypatch.setattr(job, "HEAD_BYTES", 4096)  # a head that is not the whole file: read on to the end
    for key in ("in/Orders.CSV.GZ", "in/cut.csv.gz"):
        etag = s3.head_object(Bucket=RAW, Key=key)["ETag"].strip('"')
        args = pin_args(key, orders_etag=etag)
        pinned = job.pin_inputs(args)
        assert pinned.orders_path.endswith(
            "/orders/Orders.CSV.gz" if "Orders" in key else "/orders/cut.csv.gz"
        )
        if key == "in/cut.csv.gz":
            with pytest.raises(job.ProfileError, match="^orders file is a truncated gzip file"):
                job.profile_file(pinned.orders_path, "orders", 0.01)
        else:
            profile = job.profile_file(pinned.orders_path, "orders", 0.01)
            assert profile.compression == "gzip" and not profile.complete
        job.unpin_inputs(pinned, args)
    assert s3.get_object(Bucket=RAW, Key="in/cut.csv.gz")["Body"].read() == packed[:-50]  # raw file in place
