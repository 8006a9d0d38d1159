"""services/uploads.py: file checks, safe keys, bounded multipart upload, idempotence, finding the run."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from pipeline.lambdas import runs
from services import uploads
from services.settings import Settings

SETTINGS = Settings(target="local", endpoint_url=None)
ORDERS = b"Order ID,Customer ID,Order Date,Sales\nO1,C1,2024-01-02,10.5\nO2,C2,2024-01-03,-3\n"
RETURNS = b"Order ID,Return Reason\nO1,Damaged\n"
DAY = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def check(kind: str, data: bytes, name: str = "export.csv") -> uploads.CheckedFile:
    return uploads.check_file(kind, name, io.BytesIO(data), SETTINGS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("orders.csv", "orders.csv"),
        ("../../etc/passwd", "passwd.csv"),
        ("..\\..\\windows\\orders 2024.CSV", "orders-2024.csv"),
        ("/abs/path/Retours été.csv", "Retours-ete.csv"),
        ("...", "upload.csv"),
        ("", "upload.csv"),
        ("a/b/.hidden.csv", "hidden.csv"),
    ],
)
def test_safe_file_name_strips_folders_and_odd_characters(name, expected):
    assert uploads.safe_file_name(name) == expected


def test_object_key_is_per_day_and_kind():
    assert uploads.object_key("orders", "../x/Orders.csv", DAY) == "uploads/2026/11/25/orders-Orders.csv"


def test_check_counts_rows_and_reports_the_profile():
    checked = check("orders", ORDERS)
    assert (checked.rows, checked.size, checked.profile.delimiter) == (2, len(ORDERS), ",")
    assert checked.summary()["date formats"].startswith("order_date: ")


def test_rows_without_final_newline_and_multiline_fields():
    assert check("orders", ORDERS.rstrip(b"\n")).rows == 2
    quoted = b'Order ID,Order Date,Note\nO1,2024-01-02,"two\nlines"\nO2,2024-01-03,x\n'
    assert check("orders", quoted).rows == 2


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("orders", b"", "empty"),
        ("orders", b"PK\x03\x04\x14\x00xl/workbook.xml", "Excel workbook"),
        ("orders", RETURNS, "returns file"),
        ("returns", ORDERS, "looks like an orders file"),
        ("orders", b"Order ID,Order Date\n", "no data rows"),
        ("returns", b"Customer,Reason\nC1,x\n", "no order id column"),
    ],
)
def test_bad_files_are_refused_with_a_reason(kind, data, message):
    with pytest.raises(uploads.UploadRefused, match=message):
        check(kind, data)


def test_candidate_executions_follow_the_on_upload_names():
    orders = runs.S3Object.create("o", "k1", '"e1"', DAY, 10)
    returns = runs.S3Object.create("r", "k2", '"e2"', DAY, 10)
    assert uploads.candidate_executions(orders, returns) == [
        runs.execution_name(orders, returns),
        runs.execution_name(orders, None),
        runs.execution_name(None, returns),
    ]
    assert uploads.candidate_executions(None, returns) == [runs.execution_name(None, returns)]


@pytest.fixture
def s3(fake_aws_env):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=SETTINGS.orders_bucket)
        yield client


def test_upload_is_multipart_above_one_part_and_idempotent(s3):
    # Three parts of orders lines; the file object is read in parts, never as a whole.
    line = b"O1,C1,2024-01-02,10.5\n"
    data = b"Order ID,Customer ID,Order Date,Sales\n" + line * (2 * uploads.CHUNK_BYTES // len(line) + 10)
    stream = io.BytesIO(data)
    checked = uploads.check_file("orders", "big.csv", stream, SETTINGS)
    sent: list[int] = []
    first = uploads.upload(s3, SETTINGS, checked, stream, sent.append, now=DAY)
    assert not first.already_there and sum(sent) == len(data)
    assert first.etag.endswith('-3"')  # a multipart ETag: three parts
    stored = s3.get_object(Bucket=first.bucket, Key=first.key)
    assert stored["Body"].read() == data
    assert stored["Metadata"][uploads.DIGEST_METADATA] == checked.sha256

    again = uploads.upload(s3, SETTINGS, checked, stream, now=DAY)
    assert again.already_there and again.etag == first.etag
    assert len(s3.list_object_versions(Bucket=first.bucket).get("Versions", [])) == 1
