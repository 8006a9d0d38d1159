"""Only the owner can use the local AWS: loopback Host, verified SigV4 (headers and presigned URLs), no
global CORS, the owner's credentials file (0600) working with boto3 and awswrangler."""

from __future__ import annotations

import stat
import subprocess
import sys

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from localaws import credentials as owner
from tests.conftest import REPO

REGION = "us-east-1"
EVIL = "https://evil.example"


def http(method: str, url: str, **kwargs) -> requests.Response:
    return requests.request(method, url, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def keys(local_aws) -> owner.Credentials:
    return owner.load(local_aws.state_dir / owner.FILE_NAME)


def client(local_aws, service: str, key: str, secret: str):
    return boto3.client(
        service, endpoint_url=local_aws.url, region_name=REGION, aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4" if service == "s3" else None, retries={"max_attempts": 1}),
    )  # fmt: skip


def status(call) -> int:
    try:
        call()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"]
    return 200


def signed_sns_request(local_aws, keys) -> tuple[bytes, dict[str, str]]:
    request = AWSRequest(
        method="POST", url=f"{local_aws.url}/", data=b"Action=ListTopics&Version=2010-03-31",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), "sns", REGION).add_auth(request)
    return request.body, dict(request.headers.items())


def test_credentials_file_is_private_and_in_the_shared_format(local_aws, keys):
    path = local_aws.state_dir / owner.FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("[default]\naws_access_key_id = ")
    assert len(keys.secret_access_key) >= 30 and keys.access_key_id != "test"
    path.chmod(0o644)
    try:
        with pytest.raises(owner.CredentialsError, match="chmod 600"):
            owner.load(path)
    finally:
        path.chmod(0o600)


@pytest.mark.parametrize(
    ("service", "call"),
    [
        ("s3", lambda c: c.list_buckets()),
        ("lambda", lambda c: c.list_functions()),
        ("lambda", lambda c: c.get_function(FunctionName="ecommerce-on-upload")),
        ("stepfunctions", lambda c: c.list_state_machines()),
        ("glue", lambda c: c.get_databases()),
        ("athena", lambda c: c.list_work_groups()),
        ("sns", lambda c: c.list_topics()),
        ("iam", lambda c: c.list_roles()),
        ("sts", lambda c: c.get_caller_identity()),
    ],
)
def test_only_the_owners_keys_are_accepted(local_aws, keys, service, call):
    assert status(lambda: call(client(local_aws, service, keys.access_key_id, keys.secret_access_key))) == 200
    wrong_secret = client(local_aws, service, keys.access_key_id, keys.secret_access_key[:-2] + "xx")
    assert status(lambda: call(wrong_secret)) == 403
    assert status(lambda: call(client(local_aws, service, "test", "test"))) == 403


def test_unsigned_and_forged_requests_get_403(local_aws, keys):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert http("POST", f"{local_aws.url}/", data="Action=ListTopics", headers=form).status_code == 403
    assert http("GET", f"{local_aws.url}/ecommerce-orders-raw").status_code == 403
    lambda_invoke = f"{local_aws.url}/2015-03-31/functions/ecommerce-on-upload/invocations"
    assert http("POST", lambda_invoke, data=b"{}").status_code == 403
    # moto's own API would turn access control off or dump every stored object.
    assert http("POST", f"{local_aws.url}/moto-api/reset-auth", data=b"inf").status_code == 403
    assert http("GET", f"{local_aws.url}/moto-api/data.json").status_code == 403

    body, headers = signed_sns_request(local_aws, keys)
    assert http("POST", f"{local_aws.url}/", data=body, headers=headers).status_code == 200
    forged = dict(headers, Authorization=headers["Authorization"][:-8] + "00000000")
    assert http("POST", f"{local_aws.url}/", data=body, headers=forged).status_code == 403
    tampered = b"Action=CreateTopic&Name=pwned&Version=2010-03-31"
    assert http("POST", f"{local_aws.url}/", data=tampered, headers=headers).status_code == 403


def test_a_foreign_host_gets_403(local_aws, keys):
    body, headers = signed_sns_request(local_aws, keys)
    for host in ("evil.example", f"evil.example:{local_aws.port}", "127.0.0.1.evil.example"):
        answer = http("POST", f"{local_aws.url}/", data=body, headers=dict(headers, Host=host))
        assert answer.status_code == 403, host
    assert local_aws.server._server.server_address[0] == "127.0.0.1"  # bound to loopback only


def test_no_global_cors_only_the_raw_buckets_rule(local_aws, keys):
    body, headers = signed_sns_request(local_aws, keys)
    answer = http("POST", f"{local_aws.url}/", data=body, headers=dict(headers, Origin=EVIL))
    assert answer.status_code == 200 and "Access-Control-Allow-Origin" not in answer.headers
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}
    bucket_url = f"{local_aws.url}/{local_aws.settings.orders_bucket}/uploads/x.csv"
    evil = http("OPTIONS", bucket_url, headers={**preflight, "Origin": EVIL})
    assert "Access-Control-Allow-Origin" not in evil.headers
    console = local_aws.settings.console_origins[0]
    allowed = http("OPTIONS", bucket_url, headers={**preflight, "Origin": console})
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == console
    # An unsigned preflight cannot smuggle an action to another service.
    http("OPTIONS", 
        f"{local_aws.url}/", data="Action=CreateTopic&Name=smuggled",
        headers={**preflight, "Origin": console, "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    sns = client(local_aws, "sns", keys.access_key_id, keys.secret_access_key)
    assert not [t for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":smuggled")]


def test_presigned_urls_are_verified(local_aws, keys):
    s3 = client(local_aws, "s3", keys.access_key_id, keys.secret_access_key)
    bucket = local_aws.settings.processed_bucket
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "lockdown/ok.txt"})
    assert http("PUT", url, data=b"signed").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="lockdown/ok.txt")["Body"].read() == b"signed"
    assert http("PUT", url.replace("/ok.txt?", "/other.txt?"), data=b"x").status_code == 403
    forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert http("PUT", forged, data=b"x").status_code == 403
    stranger = client(local_aws, "s3", keys.access_key_id, "not-the-secret")
    foreign = stranger.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "lockdown/ok.txt"}
    )
    assert http("GET", foreign).status_code == 403


def test_the_credentials_file_works_for_any_aws_client(local_aws, tmp_path):
    """AWS_SHARED_CREDENTIALS_FILE=<state-dir>/credentials, as the README shows, for boto3 and awswrangler."""
    script = (
        "import awswrangler as wr, boto3\n"
        "print(sorted(b['Name'] for b in boto3.client('s3').list_buckets()['Buckets'])[0])\n"
        "print(wr.catalog.databases()['Database'].tolist())\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_SHARED_CREDENTIALS_FILE": str(local_aws.state_dir / owner.FILE_NAME),
        "AWS_ENDPOINT_URL": local_aws.url,
        "AWS_DEFAULT_REGION": REGION,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert local_aws.settings.database in done.stdout
