"""The one read of a run's data-quality report (``pipeline/lambdas/config.read_quality_report``), which the
check-glue-job-status Lambda and the console's run monitor share: S3 stubbed with botocore's Stubber."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from pipeline.lambdas import config

OUTPUT = "s3://ecommerce-processed/joined-data/"
KEY = "joined-data/run_id=R1/_quality/report.json"
EXPECTED = {"Bucket": "ecommerce-processed", "Key": KEY}


@pytest.fixture
def s3():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_the_report_as_the_job_wrote_it(s3):
    client, stub = s3
    report = {"rows_in": 20, "rows_out": 20, "warnings": []}
    stub.add_response("get_object", {"Body": body(json.dumps(report).encode())}, EXPECTED)

    assert config.read_quality_report(client, OUTPUT, "R1") == report


@pytest.mark.parametrize("code,status", [("NoSuchKey", 404), ("404", 404), ("NotFound", 404)])
def test_no_report_is_none(s3, code, status):
    client, stub = s3
    stub.add_client_error("get_object", service_error_code=code, http_status_code=status)

    assert config.read_quality_report(client, OUTPUT, "R1") is None


def test_other_errors_raise(s3):
    client, stub = s3
    stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)

    with pytest.raises(ClientError, match="AccessDenied"):
        config.read_quality_report(client, OUTPUT, "R1")


def test_a_report_that_is_no_json_object_raises(s3):
    client, stub = s3
    stub.add_response("get_object", {"Body": body(b"[1, 2]")}, EXPECTED)

    with pytest.raises(ValueError, match=f"s3://ecommerce-processed/{KEY} is not a JSON object"):
        config.read_quality_report(client, OUTPUT, "R1")
