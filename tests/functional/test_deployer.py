"""The deployer (deploy/deployer.py, deploy/iam.py, deploy/__main__.py) against in-process moto.

moto facts these tests rely on (moto 5.2.5):
- S3 enforces bucket-policy statements with Principal "*" on object requests, but it does not evaluate
  conditions: an unsupported operator such as ``Bool`` counts as met, and an unmet condition counts as
  DENIED. A policy that denies non-TLS access therefore denies every object request. The ``moto_aws`` fixture
  makes moto see in-process requests as what they are (HTTPS): that one statement does not apply.
- Glue ``UpdateJob`` and Athena ``UpdateWorkGroup`` are not implemented (NotImplementedError in process);
  the deployer recreates the job/workgroup there, and the tests below go through that path.
"""

from __future__ import annotations

import dataclasses
import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam import access_control

from deploy import __main__ as cli
from deploy import artifacts, deployer, iam
from pipeline.asl.render import render_definition
from stack import aws as aws_clients
from stack.settings import Settings

REGION = "us-east-1"
ACCOUNT = DEFAULT_ACCOUNT_ID
RAW = ("ecommerce-orders-raw", "ecommerce-returns-raw")
BUCKETS = (*RAW, "ecommerce-processed", "ecommerce-glue-scripts")
FUNCTIONS = (
    "ecommerce-on-upload",
    "check-orders-returns-exist",
    "ecommerce-trigger-glue",
    "check-glue-job-status",
    "ecommerce-stop-glue",
    "ecommerce-await-counterpart",
    "ecommerce-render-email",
)
ROLES = (
    "ecommerce-on-upload-role",
    "check-orders-returns-exist-role",
    "ecommerce-trigger-glue-role",
    "check-glue-job-status-role",
    "ecommerce-stop-glue-role",
    "ecommerce-await-counterpart-role",
    "ecommerce-render-email-role",
    "ecommerce_join_data-glue-role",
    "ETL-StepFunction-Controller-role",
)
EMAILS = ("ops@example.com", "data-team@example.com")
ON_UPLOAD_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ecommerce-on-upload"
RESOURCE_COUNT = 4 + 2 + 2 * 2 + 9 + 2 + 7 + 2 + 1 + 2 + 2  # with email subscriptions


def _insecure_transport_only(statement: dict) -> bool:
    return statement.get("Effect") == "Deny" and statement.get("Condition") == {
        "Bool": {"aws:SecureTransport": "false"}
    }


@pytest.fixture
def aws_env(fake_aws_env):
    return fake_aws_env


@pytest.fixture
def moto_aws(aws_env, monkeypatch):
    original = access_control.IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self, *args, **kwargs):
        # In-process requests are HTTPS: a statement that only denies insecure transport does not apply.
        if _insecure_transport_only(self._statement):
            return access_control.PermissionResult.NEUTRAL
        return original(self, *args, **kwargs)

    monkeypatch.setattr(access_control.IAMPolicyStatement, "is_action_permitted", is_action_permitted)
    with mock_aws():
        yield


@pytest.fixture
def settings() -> Settings:
    return Settings(target="aws", endpoint_url=None, region=REGION, notification_emails=EMAILS)


@pytest.fixture
def deployed(moto_aws, settings):
    changes = deployer.up(settings)
    assert [c.action for c in changes] == ["create"] * RESOURCE_COUNT
    return settings


def client(service: str):
    return boto3.client(service, region_name=REGION)


def actions(changes: list[deployer.Change]) -> dict[str, str]:
    return {c.resource: c.action for c in changes if c.action != "none"}


# ------------------------------------------------------------------------------------------ up


def test_up_reports_each_resource_in_dependency_order(moto_aws, settings):
    seen: list[deployer.Change] = []
    changes = deployer.up(settings, progress=seen.append)
    assert seen == changes
    names = [c.resource for c in changes]
    assert names.index("s3 bucket ecommerce-orders-raw") == 0
    order = [
        "s3 bucket ecommerce-glue-scripts",
        "glue database ecommerce_analytics",
        "athena workgroup ecommerce",
        "sns topic etl-success-topic",
        "sns email subscriptions etl-failure-topic",
        "iam role ecommerce-on-upload-role",
        "iam role ETL-StepFunction-Controller-role",
        "s3 object s3://ecommerce-glue-scripts/glue/ecommerce_join_data.py",
        "s3 object s3://ecommerce-glue-scripts/glue/job_modules.zip",
        "lambda ecommerce-on-upload",
        "lambda check-glue-job-status",
        "glue job ecommerce_join_data",
        "state machine ETL-StepFunction-Controller",
        "eventbridge rule etl-run-interrupted",
        "lambda permission s3:ecommerce-orders-raw",
        "s3 notification ecommerce-orders-raw",
        "s3 notification ecommerce-returns-raw",
    ]
    assert [names.index(n) for n in order] == sorted(names.index(n) for n in order)
    assert len(set(names)) == len(names) == RESOURCE_COUNT


def test_buckets_are_private_encrypted_tls_only_and_raw_ones_versioned(deployed):
    s3 = client("s3")
    for bucket in BUCKETS:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == dict.fromkeys(deployer.PUBLIC_ACCESS_BLOCK, True)
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert policy["Statement"] == [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        assert versioning == ("Enabled" if bucket in RAW else None), bucket
        if bucket in RAW:  # the console's browser uploads: PUT from the console's origins only
            (rule,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
            assert (rule["AllowedMethods"], rule["AllowedOrigins"]) == (
                ["PUT"],
                list(deployed.console_origins),
            )
        else:
            with pytest.raises(ClientError, match="NoSuchCORSConfiguration"):
                s3.get_bucket_cors(Bucket=bucket)


def test_buckets_abort_incomplete_uploads_and_raw_ones_expire_replaced_versions(deployed):
    s3 = client("s3")
    abort = {
        "ID": "abort-incomplete-multipart-uploads",
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    noncurrent = {
        "ID": "expire-noncurrent-versions",
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
    }
    for bucket in BUCKETS:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert rules == ([abort, noncurrent] if bucket in RAW else [abort]), bucket
    planned = {c.resource: c.detail for c in deployer.plan(deployed)}
    assert planned["s3 bucket ecommerce-orders-raw"] == "up to date"
    status = {row["resource"]: row["detail"] for row in deployer.status(deployed)}
    assert status["s3 bucket ecommerce-orders-raw"].endswith(
        "incomplete uploads aborted after 1 d, noncurrent versions expire after 90 d"
    )
    assert status["s3 bucket ecommerce-processed"].endswith("incomplete uploads aborted after 1 d")


def test_plan_lists_the_lifecycle_rules(moto_aws, settings):
    planned = {c.resource: c.detail for c in deployer.plan(settings)}
    assert planned["s3 bucket ecommerce-returns-raw"].endswith(
        "versioned, browser uploads, incomplete uploads aborted after 1 d, "
        "noncurrent versions expire after 90 d"
    )
    assert planned["s3 bucket ecommerce-glue-scripts"].endswith(", incomplete uploads aborted after 1 d")


def test_lifecycle_drift_is_repaired_and_other_rules_are_kept(deployed):
    s3 = client("s3")
    theirs = {
        "ID": "archive-after-a-year",
        "Filter": {"Prefix": "archive/"},
        "Status": "Enabled",
        "Expiration": {"Days": 365},
    }
    s3.put_bucket_lifecycle_configuration(
        Bucket="ecommerce-orders-raw", LifecycleConfiguration={"Rules": [theirs]}
    )
    s3.delete_bucket_lifecycle(Bucket="ecommerce-processed")
    planned = {c.resource: c.detail for c in deployer.plan(deployed) if c.action != "none"}
    assert planned == {
        "s3 bucket ecommerce-orders-raw": (
            "lifecycle: incomplete uploads aborted after 1 d, noncurrent versions expire after 90 d"
        ),
        "s3 bucket ecommerce-processed": "lifecycle: incomplete uploads aborted after 1 d",
    }
    deployer.up(deployed)
    assert actions(deployer.plan(deployed)) == {}
    rules = s3.get_bucket_lifecycle_configuration(Bucket="ecommerce-orders-raw")["Rules"]
    assert [r["ID"] for r in rules] == [
        "archive-after-a-year",
        "abort-incomplete-multipart-uploads",
        "expire-noncurrent-versions",
    ]


def test_catalog_workgroup_topics_and_subscriptions(deployed):
    assert (
        client("glue").get_database(Name="ecommerce_analytics")["Database"]["Name"] == "ecommerce_analytics"
    )
    group = client("athena").get_work_group(WorkGroup="ecommerce")["WorkGroup"]
    assert group["Configuration"]["ResultConfiguration"]["OutputLocation"] == (
        "s3://ecommerce-processed/athena-results/"
    )
    assert group["Configuration"]["EnforceWorkGroupConfiguration"] is True
    # A runaway query is cancelled by Athena itself, not only by the console (#9).
    assert group["Configuration"]["BytesScannedCutoffPerQuery"] == 10 * 2**30
    sns = client("sns")
    for topic in ("etl-success-topic", "etl-failure-topic"):
        arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}"
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions) == sorted(
            ("email", e) for e in EMAILS
        )


def test_roles_carry_exactly_the_generated_inline_policy(deployed):
    specs = {s.name: s for s in iam.role_specs(deployed, iam.Arns(deployed, ACCOUNT))}
    assert tuple(specs) == ROLES
    client_iam = client("iam")
    for name, spec in specs.items():
        role = client_iam.get_role(RoleName=name)["Role"]
        assert iam.canonical(role["AssumeRolePolicyDocument"]) == iam.canonical(spec.trust)
        assert client_iam.list_role_policies(RoleName=name)["PolicyNames"] == [iam.POLICY_NAME]
        document = client_iam.get_role_policy(RoleName=name, PolicyName=iam.POLICY_NAME)["PolicyDocument"]
        assert iam.canonical(document) == iam.canonical(spec.policy)
        assert client_iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []


def test_glue_artifacts_are_uploaded(deployed):
    s3 = client("s3")
    script = s3.get_object(Bucket="ecommerce-glue-scripts", Key="glue/ecommerce_join_data.py")["Body"].read()
    extra = s3.get_object(Bucket="ecommerce-glue-scripts", Key="glue/job_modules.zip")["Body"].read()
    assert script == artifacts.glue_script_bytes()
    assert extra == artifacts.build_glue_extra_py_zip()


def test_lambdas_have_code_handler_role_and_environment(deployed):
    lam = client("lambda")
    expected_env = {
        "ORDERS_BUCKET": "ecommerce-orders-raw",
        "RETURNS_BUCKET": "ecommerce-returns-raw",
        "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:ETL-StepFunction-Controller",
        "GLUE_JOB_NAME": "ecommerce_join_data",
        "OUTPUT_PATH": "s3://ecommerce-processed/joined-data/",
        "DATABASE": "ecommerce_analytics",
        "TABLE": "joined_data",
        "MAX_QUARANTINE_FRACTION": "0.01",
        "KEEP_RUNS": "5",
        "PAIRING_PATH": "s3://ecommerce-processed/pairing/",
        "PAIRING_SETTLE_SECONDS": "900",
        # On AWS a status check is one read (the Wait state waits); locally it polls (ADR 0022).
        "GLUE_STATUS_WAIT_SECONDS": "0.0",
        "GLUE_POLL_INTERVAL_SECONDS": "5.0",
        # The trigger's wait before the first check: the run's expected length on AWS (ADR 0023).
        "GLUE_FIRST_WAIT_SECONDS": "90.0",
        "GLUE_FIRST_WAIT_SECONDS_PER_GB": "60.0",
    }
    for module, name in Settings().lambda_functions.items():
        config = lam.get_function(FunctionName=name)["Configuration"]
        assert config["Runtime"] == "python3.11"
        assert config["Handler"] == artifacts.lambda_handler(module)
        assert config["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{name}-role"
        assert config["Environment"]["Variables"] == expected_env
        assert config["CodeSha256"] == artifacts.sha256_b64(artifacts.build_lambda_zip(module))
        assert config["State"] == "Active"
        assert config["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def test_the_console_url_reaches_the_lambdas_environment(deployed):
    deployer.up(dataclasses.replace(deployed, console_url="https://etl.example.com"))
    config = client("lambda").get_function(FunctionName="ecommerce-render-email")["Configuration"]
    assert config["Environment"]["Variables"]["CONSOLE_URL"] == "https://etl.example.com"
    target = client("events").list_targets_by_rule(Rule="etl-run-interrupted")["Targets"][0]
    template = target["InputTransformer"]["InputTemplate"]
    assert "Open the run: https://etl.example.com/monitor?execution=<arn>" in template


def test_glue_job_definition(deployed):
    job = client("glue").get_job(JobName="ecommerce_join_data")["Job"]
    assert job["GlueVersion"] == "5.0"
    assert (job["WorkerType"], job["NumberOfWorkers"]) == ("G.1X", 2)
    assert job["Role"] == f"arn:aws:iam::{ACCOUNT}:role/ecommerce_join_data-glue-role"
    assert job["Command"] == {
        "Name": "glueetl",
        "ScriptLocation": "s3://ecommerce-glue-scripts/glue/ecommerce_join_data.py",
        "PythonVersion": "3",
    }
    assert job["DefaultArguments"] == {
        "--job-language": "python",
        "--extra-py-files": "s3://ecommerce-glue-scripts/glue/job_modules.zip",
        "--TempDir": "s3://ecommerce-glue-scripts/glue-temp/",
        "--audit_path": "s3://ecommerce-processed/audit/",
    }
    assert job["ExecutionProperty"] == {"MaxConcurrentRuns": 3}
    assert job["MaxRetries"] == 0


def test_glue_auto_scaling_is_a_setting():
    scaling = Settings(glue_auto_scaling=True, glue_workers=10)
    job = deployer.glue_job_definition(scaling, iam.Arns(scaling, ACCOUNT))
    assert job["DefaultArguments"]["--enable-auto-scaling"] == "true"
    assert job["NumberOfWorkers"] == 10  # the most it may use
    fixed = deployer.glue_job_definition(Settings(), iam.Arns(Settings(), ACCOUNT))
    assert "--enable-auto-scaling" not in fixed["DefaultArguments"]


def test_state_machine_definition_is_the_rendered_template_with_real_arns(deployed):
    lam, sns = client("lambda"), client("sns")
    topics = {t["TopicArn"].rsplit(":", 1)[1]: t["TopicArn"] for t in sns.list_topics()["Topics"]}
    arn = {name: lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"] for name in FUNCTIONS}
    expected = render_definition(
        {
            "CheckFilesFunctionArn": arn["check-orders-returns-exist"],
            "TriggerGlueFunctionArn": arn["ecommerce-trigger-glue"],
            "CheckGlueStatusFunctionArn": arn["check-glue-job-status"],
            "StopGlueFunctionArn": arn["ecommerce-stop-glue"],
            "AwaitCounterpartFunctionArn": arn["ecommerce-await-counterpart"],
            "RenderEmailFunctionArn": arn["ecommerce-render-email"],
            "SuccessTopicArn": topics["etl-success-topic"],
            "FailureTopicArn": topics["etl-failure-topic"],
            "PairingWindowSeconds": deployed.pairing_window_seconds,
            "MaxFileChecks": deployed.max_file_checks,
            "GlueWaitSeconds": deployed.glue_wait_seconds,
            "MaxGluePolls": deployed.max_glue_polls,
            "RetryIntervalSeconds": deployed.retry_interval_seconds,
        }
    )
    machines = client("stepfunctions").list_state_machines()["stateMachines"]
    assert [m["name"] for m in machines] == ["ETL-StepFunction-Controller"]
    described = client("stepfunctions").describe_state_machine(stateMachineArn=machines[0]["stateMachineArn"])
    assert json.loads(described["definition"]) == json.loads(expected)
    assert described["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/ETL-StepFunction-Controller-role"


def test_s3_may_invoke_on_upload_and_notifies_it(deployed):
    policy = json.loads(client("lambda").get_policy(FunctionName="ecommerce-on-upload")["Policy"])
    sources = {s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in policy["Statement"]}
    assert sources == {f"arn:aws:s3:::{b}" for b in RAW}
    assert {s["Principal"]["Service"] for s in policy["Statement"]} == {"s3.amazonaws.com"}
    for bucket in RAW:
        config = client("s3").get_bucket_notification_configuration(Bucket=bucket)
        assert config["LambdaFunctionConfigurations"] == [
            {
                "Id": "ecommerce-on-upload",
                "LambdaFunctionArn": ON_UPLOAD_ARN,
                "Events": ["s3:ObjectCreated:*"],
            }
        ]
    assert "LambdaFunctionConfigurations" not in client("s3").get_bucket_notification_configuration(
        Bucket="ecommerce-processed"
    )


# ---------------------------------------------------------------------------------- idempotence


def test_plan_before_up_creates_everything_and_changes_nothing(moto_aws, settings):
    changes = deployer.plan(settings)
    assert len(changes) == RESOURCE_COUNT
    assert {c.action for c in changes} == {"create"}
    assert client("s3").list_buckets()["Buckets"] == []
    assert client("iam").list_roles()["Roles"] == []


def test_renamed_functions_come_from_the_settings(moto_aws, settings, monkeypatch):
    """ECOMMERCE_<X>_FUNCTION renames a Lambda; its code is still found (artifacts are keyed by module)."""
    monkeypatch.setenv("ECOMMERCE_ON_UPLOAD_FUNCTION", "team-on-upload")
    renamed = Settings.from_env(**{k: getattr(settings, k) for k in ("target", "endpoint_url", "region")})
    planned = {c.resource for c in deployer.plan(renamed)}
    assert "lambda team-on-upload" in planned and "lambda ecommerce-on-upload" not in planned
    monkeypatch.setenv("ECOMMERCE_TRIGGER_GLUE_FUNCTION", "team-trigger-glue")
    renamed = Settings.from_env(**{k: getattr(settings, k) for k in ("target", "endpoint_url", "region")})
    arns = iam.Arns(renamed, "123456789012")
    substitutions = deployer.state_machine_substitutions(renamed, arns)
    assert substitutions["TriggerGlueFunctionArn"].endswith(":function:team-trigger-glue")


def test_up_twice_changes_nothing_the_second_time(deployed):
    again: list[deployer.Change] = []
    changes = deployer.up(deployed, progress=again.append)
    assert len(changes) == RESOURCE_COUNT
    assert actions(changes) == {}
    assert again == changes
    assert actions(deployer.plan(deployed)) == {}


@pytest.mark.parametrize(
    ("change", "expected", "detail"),
    [
        ({"glue_workers": 5}, {"glue job ecommerce_join_data": "update"}, "NumberOfWorkers 2 → 5"),
        ({"keep_runs": 9}, {f"lambda {f}": "update" for f in FUNCTIONS}, "environment KEEP_RUNS"),
        (  # the emails' link to the run: the renderer's environment, the interrupted-run email
            {"console_url": "https://etl.example.com"},
            {
                **{f"lambda {f}": "update" for f in FUNCTIONS},
                "eventbridge rule etl-run-interrupted": "update",
            },
            None,
        ),
        (
            {"pairing_window_seconds": 7},
            {"state machine ETL-StepFunction-Controller": "update"},
            "definition",
        ),
        (
            {"raw_noncurrent_version_days": 30},
            {f"s3 bucket {bucket}": "update" for bucket in RAW},
            "noncurrent versions expire after 30 d",
        ),
        (
            {"processed_bucket_base": "ecommerce-curated"},
            {
                "s3 bucket ecommerce-curated": "create",
                "athena workgroup ecommerce": "update",
                "iam role check-glue-job-status-role": "update",
                # the pairing ledger lives in the processed bucket
                "iam role ecommerce-on-upload-role": "update",
                "iam role check-orders-returns-exist-role": "update",
                "iam role ecommerce-await-counterpart-role": "update",
                "iam role ecommerce_join_data-glue-role": "update",
                "glue job ecommerce_join_data": "update",  # its audit log lives there too
                **{f"lambda {f}": "update" for f in FUNCTIONS},
            },
            None,
        ),
    ],
)
def test_a_changed_setting_plans_exactly_that_update(deployed, change, expected, detail):
    changed = dataclasses.replace(deployed, **change)
    planned = deployer.plan(changed)
    assert actions(planned) == expected
    if detail is not None:
        assert all(detail in c.detail for c in planned if c.action != "none")
    assert actions(deployer.up(changed)) == expected
    assert actions(deployer.plan(changed)) == {}


def test_changed_settings_are_applied(deployed):
    changed = dataclasses.replace(deployed, glue_workers=4, glue_worker_type="G.2X", pairing_window_seconds=9)
    deployer.up(changed)
    job = client("glue").get_job(JobName="ecommerce_join_data")["Job"]
    assert (job["WorkerType"], job["NumberOfWorkers"], job["GlueVersion"]) == ("G.2X", 4, "5.0")
    machine = client("stepfunctions").list_state_machines()["stateMachines"][0]["stateMachineArn"]
    definition = json.loads(
        client("stepfunctions").describe_state_machine(stateMachineArn=machine)["definition"]
    )
    assert definition["States"]["CheckForFiles"]["Parameters"]["Payload"]["window_seconds"] == 9


def test_new_lambda_code_updates_only_that_function(deployed, monkeypatch):
    build = artifacts.build_lambda_zip

    def patched(module: str) -> bytes:
        if module == "trigger_glue":
            return artifacts.reproducible_zip({"lambdas/__init__.py": b"# changed\n"})
        return build(module)

    monkeypatch.setattr(artifacts, "build_lambda_zip", patched)
    assert actions(deployer.plan(deployed)) == {"lambda ecommerce-trigger-glue": "update"}
    assert [c.detail for c in deployer.up(deployed) if c.action == "update"] == ["code"]
    config = client("lambda").get_function(FunctionName="ecommerce-trigger-glue")["Configuration"]
    assert config["CodeSha256"] == artifacts.sha256_b64(patched("trigger_glue"))
    assert actions(deployer.plan(deployed)) == {}


def test_drift_is_repaired(deployed):
    s3, iam_client = client("s3"), client("iam")
    s3.delete_public_access_block(Bucket="ecommerce-processed")
    s3.delete_bucket_policy(Bucket="ecommerce-orders-raw")
    s3.put_bucket_versioning(Bucket="ecommerce-returns-raw", VersioningConfiguration={"Status": "Suspended"})
    s3.delete_bucket_cors(Bucket="ecommerce-returns-raw")
    iam_client.delete_role_policy(RoleName="ecommerce-trigger-glue-role", PolicyName=iam.POLICY_NAME)
    client("sns").unsubscribe(
        SubscriptionArn=client("sns").list_subscriptions_by_topic(
            TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:etl-failure-topic"
        )["Subscriptions"][0]["SubscriptionArn"]
    )
    planned = {c.resource: c.detail for c in deployer.plan(deployed) if c.action != "none"}
    assert planned == {
        "s3 bucket ecommerce-orders-raw": "policy denying non-TLS access",
        "s3 bucket ecommerce-returns-raw": "versioning Suspended → Enabled; CORS for browser uploads",
        "s3 bucket ecommerce-processed": "block public access",
        "sns email subscriptions etl-failure-topic": planned["sns email subscriptions etl-failure-topic"],
        "iam role ecommerce-trigger-glue-role": "inline policy least-privilege",
    }
    assert planned["sns email subscriptions etl-failure-topic"].startswith("subscribe ")
    deployer.up(deployed)
    assert actions(deployer.plan(deployed)) == {}


def test_bucket_policy_keeps_other_statements(moto_aws, settings):
    s3 = client("s3")
    s3.create_bucket(Bucket="ecommerce-processed")
    theirs = {
        "Sid": "AuditRead",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/auditor"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::ecommerce-processed/*",
    }
    s3.put_bucket_policy(
        Bucket="ecommerce-processed", Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs]})
    )
    deployer.up(settings)
    statements = json.loads(s3.get_bucket_policy(Bucket="ecommerce-processed")["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["AuditRead", "DenyInsecureTransport"]
    assert statements[0] == theirs


def test_a_definition_with_problems_is_refused(moto_aws, settings, monkeypatch):
    broken = json.dumps({"StartAt": "Missing", "States": {"Done": {"Type": "Succeed"}}})
    monkeypatch.setattr(deployer, "render_definition", lambda substitutions: broken)
    with pytest.raises(deployer.DeployError, match="refusing to deploy a definition with problems"):
        deployer.plan(settings)
    with pytest.raises(deployer.DeployError, match="state machine ETL-StepFunction-Controller"):
        deployer.up(settings)
    assert client("stepfunctions").list_state_machines()["stateMachines"] == []


# ---------------------------------------------------------------------------------------- IAM


def _wildcard_free_actions(document: dict) -> None:
    for statement in iam.canonical(document)["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            service, _, name = action.partition(":")
            assert service in {"s3", "states", "glue", "logs", "lambda", "sns"}, action
            assert name and "*" not in name, action


def test_generated_policies_name_their_resources():
    settings = Settings(target="aws", region=REGION)
    arns = iam.Arns(settings, ACCOUNT)
    specs = iam.role_specs(settings, arns)
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    # Every wildcard there is: a family of sub-resources that cannot be named in advance.
    allowed_wildcards = {
        "arn:aws:s3:::ecommerce-orders-raw/*",
        "arn:aws:s3:::ecommerce-returns-raw/*",
        "arn:aws:s3:::ecommerce-processed/joined-data/*",
        "arn:aws:s3:::ecommerce-processed/pairing/*",
        "arn:aws:s3:::ecommerce-processed/audit/*",
        "arn:aws:s3:::ecommerce-glue-scripts/glue/*",
        "arn:aws:s3:::ecommerce-glue-scripts/glue-temp/*",
        f"arn:aws:states:{REGION}:{ACCOUNT}:execution:ETL-StepFunction-Controller:*",
        *(f"{logs}/aws/lambda/{f}:*" for f in FUNCTIONS),
        *(f"{logs}/aws-glue/jobs/{g}:*" for g in ("output", "error", "logs-v2")),
        *(
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{f}:*"
            for f in (
                "check-orders-returns-exist",
                "ecommerce-trigger-glue",
                "check-glue-job-status",
                "ecommerce-stop-glue",
                "ecommerce-await-counterpart",
                "ecommerce-render-email",
            )
        ),
    }
    used = set()
    for spec in specs:
        resources = iam.statement_resources(spec.policy)
        assert resources, spec.name
        assert "*" not in resources, spec.name
        for resource in resources:
            assert resource.startswith("arn:aws:"), resource
            if "*" in resource:
                assert resource in allowed_wildcards, (spec.name, resource)
                used.add(resource)
        for statement in spec.policy["Statement"]:
            assert "NotResource" not in statement and "NotAction" not in statement
        _wildcard_free_actions(spec.policy)
        assert "FullAccess" not in json.dumps(spec.policy)
    assert used == allowed_wildcards


def test_each_role_gets_only_what_its_code_calls():
    settings = Settings(target="aws", region=REGION)
    specs = {s.name: s for s in iam.role_specs(settings, iam.Arns(settings, ACCOUNT))}

    def grants(role: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for statement in iam.canonical(specs[role].policy)["Statement"]:
            for action in statement["Action"]:
                if not action.startswith("logs:"):
                    out.setdefault(action, set()).update(statement["Resource"])
        return out

    raw = {"arn:aws:s3:::ecommerce-orders-raw", "arn:aws:s3:::ecommerce-returns-raw"}
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:ETL-StepFunction-Controller"
    job = f"arn:aws:glue:{REGION}:{ACCOUNT}:job/ecommerce_join_data"
    ledger = {"arn:aws:s3:::ecommerce-processed/pairing/*"}
    ledger_rw = {"s3:GetObject": ledger, "s3:PutObject": ledger, "s3:DeleteObject": ledger}
    processed = {"arn:aws:s3:::ecommerce-processed"}
    assert grants("ecommerce-on-upload-role") == {
        "s3:ListBucket": raw | processed,  # the processed bucket only under pairing/ (a condition)
        "states:StartExecution": {machine},
        "states:DescribeExecution": {
            f"arn:aws:states:{REGION}:{ACCOUNT}:execution:ETL-StepFunction-Controller:*"
        },
        # resumes parked executions of this state machine only
        "states:SendTaskSuccess": {machine},
        **ledger_rw,
    }
    assert grants("ecommerce-await-counterpart-role") == {
        "s3:ListBucket": raw | processed,
        "states:SendTaskSuccess": {machine},
        **ledger_rw,
    }
    assert grants("check-orders-returns-exist-role") == {
        "s3:ListBucket": raw | processed,
        "s3:ListBucketVersions": raw,
        "s3:GetObject": ledger,
    }
    for role in (
        "ecommerce-on-upload-role",
        "ecommerce-await-counterpart-role",
        "check-orders-returns-exist-role",
    ):
        (listing,) = [
            s for s in iam.canonical(specs[role].policy)["Statement"] if s["Resource"] == sorted(processed)
        ]
        assert listing["Condition"] == {"StringLike": {"s3:prefix": ["pairing/*"]}}
    assert grants("ecommerce-trigger-glue-role") == {"glue:StartJobRun": {job}, "glue:GetJobRuns": {job}}
    assert grants("ecommerce-stop-glue-role") == {"glue:GetJobRuns": {job}, "glue:BatchStopJobRun": {job}}
    assert grants("ecommerce-render-email-role") == {}  # renders what it is given: its own logs only
    assert grants("check-glue-job-status-role") == {
        "glue:GetJobRun": {job},
        "s3:GetObject": {"arn:aws:s3:::ecommerce-processed/joined-data/*"},
        "s3:ListBucket": {"arn:aws:s3:::ecommerce-processed"},
    }
    glue = grants("ecommerce_join_data-glue-role")
    assert glue["s3:DeleteObject"] == {
        "arn:aws:s3:::ecommerce-processed/joined-data/*",
        "arn:aws:s3:::ecommerce-glue-scripts/glue-temp/*",
    }
    assert "arn:aws:s3:::ecommerce-orders-raw/*" not in glue["s3:PutObject"]
    # the audit log: the job appends entries; it can neither read nor delete them
    assert "arn:aws:s3:::ecommerce-processed/audit/*" in glue["s3:PutObject"]
    assert all("/audit/" not in r for r in glue["s3:GetObject"] | glue["s3:DeleteObject"])
    assert glue["s3:GetObjectVersion"] == {
        "arn:aws:s3:::ecommerce-orders-raw/*",
        "arn:aws:s3:::ecommerce-returns-raw/*",
    }
    catalog = f"arn:aws:glue:{REGION}:{ACCOUNT}:"
    for action in ("glue:GetDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable"):
        assert glue[action] == {
            f"{catalog}catalog",
            f"{catalog}database/ecommerce_analytics",
            f"{catalog}table/ecommerce_analytics/joined_data",
        }
    assert glue["glue:GetJobRun"] == {job}  # its own run's state, asked before publishing
    # ... and its execution's, which may have been stopped while the trigger was starting the run
    assert glue["states:DescribeExecution"] == {
        f"arn:aws:states:{REGION}:{ACCOUNT}:execution:ETL-StepFunction-Controller:*"
    }
    assert not any(
        a.startswith(("glue:Delete", "glue:StartJobRun", "states:Start", "states:Stop")) for a in glue
    )
    states = grants("ETL-StepFunction-Controller-role")
    assert set(states) == {"lambda:InvokeFunction", "sns:Publish"}
    assert states["lambda:InvokeFunction"] == {
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{f}{qualifier}"
        for f in FUNCTIONS
        if f != "ecommerce-on-upload"
        for qualifier in ("", ":*")
    }
    assert (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ecommerce-on-upload"
        not in states["lambda:InvokeFunction"]
    )
    assert states["sns:Publish"] == {
        f"arn:aws:sns:{REGION}:{ACCOUNT}:etl-success-topic",
        f"arn:aws:sns:{REGION}:{ACCOUNT}:etl-failure-topic",
    }
    principals = {name: spec.trust["Statement"][0]["Principal"]["Service"] for name, spec in specs.items()}
    assert principals == {
        **{f"{f}-role": "lambda.amazonaws.com" for f in FUNCTIONS},
        "ecommerce_join_data-glue-role": "glue.amazonaws.com",
        "ETL-StepFunction-Controller-role": "states.amazonaws.com",
    }


def test_policies_follow_bucket_prefix_and_partition():
    settings = Settings(target="aws", region="cn-north-1", bucket_prefix="acme-", bucket_suffix="-1")
    specs = iam.role_specs(settings, iam.Arns(settings, "210987654321", partition="aws-cn"))
    resources = [r for spec in specs for r in iam.statement_resources(spec.policy)]
    assert all(r.startswith("arn:aws-cn:") for r in resources)
    s3_resources = [r for r in resources if r.startswith("arn:aws-cn:s3:::")]
    assert s3_resources and all(r.startswith("arn:aws-cn:s3:::acme-ecommerce-") for r in s3_resources)
    assert all("-1" in r.split(":::")[1].split("/")[0] for r in s3_resources)


def test_canonical_ignores_list_order_and_single_strings():
    a = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["b", "a"]}]}
    b = {"Statement": {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["a", "b"]}}
    assert iam.canonical(a) == iam.canonical(json.dumps(b))
    c = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["a"]}]}
    assert iam.canonical(a) != iam.canonical(c)


# ---------------------------------------------------------------------------------- notifications


def test_notifications_of_others_survive_up_and_down(moto_aws, settings):
    s3, sqs = client("s3"), client("sqs")
    s3.create_bucket(Bucket="ecommerce-orders-raw")
    queue = sqs.create_queue(QueueName="audit")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    theirs_queue = {
        "Id": "audit-deletes",
        "QueueArn": queue_arn,
        "Events": ["s3:ObjectRemoved:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "audit/"}]}},
    }
    theirs_lambda = {
        "Id": "someone-elses-restore-hook",
        "LambdaFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:restore-hook",
        "Events": ["s3:ObjectRestore:Completed"],
    }
    stale_ours = {
        "Id": "ecommerce-on-upload",
        "LambdaFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:old-on-upload",
        "Events": ["s3:ObjectCreated:Put"],
    }
    s3.put_bucket_notification_configuration(
        Bucket="ecommerce-orders-raw",
        NotificationConfiguration={
            "QueueConfigurations": [theirs_queue],
            "LambdaFunctionConfigurations": [theirs_lambda, stale_ours],
        },
    )
    planned = {c.resource: c for c in deployer.plan(settings)}
    assert planned["s3 notification ecommerce-orders-raw"].action == "update"
    assert planned["s3 notification ecommerce-returns-raw"].action == "create"

    deployer.up(settings)
    config = s3.get_bucket_notification_configuration(Bucket="ecommerce-orders-raw")
    assert config["QueueConfigurations"] == [theirs_queue]
    assert config["LambdaFunctionConfigurations"] == [
        theirs_lambda,
        {"Id": "ecommerce-on-upload", "LambdaFunctionArn": ON_UPLOAD_ARN, "Events": ["s3:ObjectCreated:*"]},
    ]
    assert actions(deployer.plan(settings)) == {}

    deployer.down(settings)
    config = s3.get_bucket_notification_configuration(Bucket="ecommerce-orders-raw")
    assert config["QueueConfigurations"] == [theirs_queue]
    assert config["LambdaFunctionConfigurations"] == [theirs_lambda]


# ------------------------------------------------------------------------------------------ down


def test_down_removes_the_pipeline_but_keeps_the_data(deployed):
    s3 = client("s3")
    s3.put_object(Bucket="ecommerce-orders-raw", Key="orders.csv", Body=b"Order ID\n1\n")
    seen: list[deployer.Change] = []
    changes = deployer.down(deployed, progress=seen.append)
    assert seen == changes
    assert [c.resource for c in changes] == [c.resource for c in reversed(deployer.plan(deployed))]
    kept = {c.resource for c in changes if c.action == "none"}
    assert kept == {f"s3 bucket {b}" for b in BUCKETS} | {"glue database ecommerce_analytics"}
    assert all(c.action == "delete" for c in changes if c.resource not in kept)

    assert client("lambda").list_functions()["Functions"] == []
    assert client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert client("glue").get_jobs()["Jobs"] == []
    assert client("sns").list_topics()["Topics"] == []
    assert not [r for r in client("iam").list_roles()["Roles"] if r["RoleName"] in ROLES]
    assert [w["Name"] for w in client("athena").list_work_groups()["WorkGroups"]] == ["primary"]
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == sorted(BUCKETS)
    assert s3.get_object(Bucket="ecommerce-orders-raw", Key="orders.csv")["Body"].read() == b"Order ID\n1\n"
    assert client("glue").get_database(Name="ecommerce_analytics")
    for bucket in RAW:
        assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)

    assert {c.action for c in deployer.down(deployed)} == {"none"}
    status = {row["resource"]: row["exists"] for row in deployer.status(deployed)}
    assert {name for name, exists in status.items() if exists} == kept


def test_down_with_delete_data_empties_versioned_buckets(deployed):
    s3 = client("s3")
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket="ecommerce-orders-raw", Key="orders.csv", Body=body)
    s3.delete_object(Bucket="ecommerce-orders-raw", Key="orders.csv")  # leaves a delete marker
    s3.put_object(Bucket="ecommerce-processed", Key="joined-data/run_id=1/part-0.parquet", Body=b"x")
    changes = deployer.down(deployed, delete_data=True)
    assert {c.action for c in changes} == {"delete"}
    assert s3.list_buckets()["Buckets"] == []
    with pytest.raises(client("glue").exceptions.EntityNotFoundException):
        client("glue").get_database(Name="ecommerce_analytics")
    assert {c.action for c in deployer.plan(deployed)} == {"create"}


def test_status_reports_what_exists(moto_aws, settings):
    assert not any(row["exists"] for row in deployer.status(settings))
    deployer.up(settings)
    rows = deployer.status(settings)
    assert len(rows) == RESOURCE_COUNT and all(row["exists"] for row in rows)
    details = {row["resource"]: row["detail"] for row in rows}
    assert details["s3 bucket ecommerce-orders-raw"] == (
        "encryption AES256, versioning Enabled, incomplete uploads aborted after 1 d, "
        "noncurrent versions expire after 90 d"
    )
    assert details["glue job ecommerce_join_data"].startswith("Glue 5.0, 2 × G.1X")
    assert "managed policies: none" in details["iam role ecommerce-on-upload-role"]
    client("s3").delete_public_access_block(Bucket="ecommerce-processed")
    details = {row["resource"]: row["detail"] for row in deployer.status(settings)}
    assert details["s3 bucket ecommerce-processed"].endswith("differs: block public access")


# ------------------------------------------------------------------------------------------- CLI


def test_cli_plan_up_status_and_confirmed_down(moto_aws):
    out = io.StringIO()
    assert cli.main(["plan", "--target", "aws"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "plan: target aws, region us-east-1, endpoint AWS"
    assert lines[-1] == f"plan: {RESOURCE_COUNT - 2} create, 0 unchanged"  # no emails configured

    out = io.StringIO()
    assert cli.main(["up", "--target", "aws"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[1] == (
        "create s3 bucket ecommerce-orders-raw  (private, AES256, TLS only, versioned, browser uploads, "
        "incomplete uploads aborted after 1 d, noncurrent versions expire after 90 d)"
    )
    assert lines[-1] == f"up: {RESOURCE_COUNT - 2} create, 0 unchanged"

    out = io.StringIO()
    assert cli.main(["status", "--target", "aws"], out=out) == 0
    assert all(line.startswith("exists ") for line in out.getvalue().splitlines()[1:])

    out = io.StringIO()
    asked: list[str] = []
    refused = cli.main(["down", "--target", "aws"], out=out, ask=lambda q: asked.append(q) or "yes")
    assert refused == 1 and "Type 'aws' to go on" in asked[0]
    assert "not confirmed, nothing deleted" in out.getvalue()
    assert len(client("lambda").list_functions()["Functions"]) == 7

    out = io.StringIO()
    assert cli.main(["down", "--target", "aws"], out=out, ask=lambda q: "aws") == 0
    assert client("lambda").list_functions()["Functions"] == []
    assert out.getvalue().splitlines()[-1] == f"down: {RESOURCE_COUNT - 2 - 5} delete, 5 unchanged"


def test_cli_prefix_names_the_buckets_and_yes_skips_the_question(moto_aws):
    out = io.StringIO()
    assert cli.main(["up", "--target", "aws", "--prefix", "acme-"], out=out) == 0
    names = sorted(b["Name"] for b in client("s3").list_buckets()["Buckets"])
    assert names == sorted(f"acme-{b}" for b in BUCKETS)

    def never(question: str) -> str:
        raise AssertionError("--yes must not ask")

    out = io.StringIO()
    args = ["down", "--target", "aws", "--prefix", "acme-", "--yes", "--delete-data"]
    assert cli.main(args, out=out, ask=never) == 0
    assert client("s3").list_buckets()["Buckets"] == []


def test_cli_reports_errors_without_a_traceback(moto_aws, monkeypatch, capsys):
    monkeypatch.setattr(deployer, "render_definition", lambda substitutions: "{}")
    assert cli.main(["plan", "--target", "aws"], out=io.StringIO()) == 1
    assert capsys.readouterr().err.startswith("error: state machine ETL-StepFunction-Controller")


# ------------------------------------------------------------------------------ stack.aws


def test_clients_follow_the_settings_endpoint_and_region(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    on_aws = aws_clients.client(Settings(target="aws", region="eu-west-1"), "s3")
    assert on_aws.meta.endpoint_url == "https://s3.eu-west-1.amazonaws.com"  # the shell's endpoint is ignored
    local = aws_clients.client(Settings(target="local", endpoint_url="http://127.0.0.1:4566"), "sqs")
    assert local.meta.endpoint_url == "http://127.0.0.1:4566"
    assert local.meta.region_name == "us-east-1"


def test_local_target_uses_the_state_dirs_credentials_file(aws_env, monkeypatch, tmp_path):
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = LKIAOWNER\naws_secret_access_key = s3cr3t\n"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALACCOUNT")  # a real account's keys never go to it
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real")
    credentials = aws_clients.session(
        Settings(target="local", local_state_dir=str(tmp_path))
    ).get_credentials()
    assert (credentials.access_key, credentials.secret_key) == ("LKIAOWNER", "s3cr3t")
    on_aws = aws_clients.session(Settings(target="aws", local_state_dir=str(tmp_path))).get_credentials()
    assert on_aws.access_key == "AKIAREALACCOUNT"


def test_local_target_without_its_credentials_file_says_so(aws_env, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    settings = Settings(target="local", endpoint_url="http://127.0.0.1:1", local_state_dir=str(tmp_path))
    found = aws_clients.check_connection(settings)
    assert not found.ok and str(tmp_path / "credentials") in found.message and "make run" in found.message


def test_tls_only_policy_needs_a_tls_endpoint():
    assert deployer.tls_endpoint(Settings(target="aws", endpoint_url=None))
    assert deployer.tls_endpoint(Settings(target="aws", endpoint_url="https://s3.example.com"))
    assert not deployer.tls_endpoint(Settings(target="local", endpoint_url="http://127.0.0.1:4566"))


def test_unsupported_operations_are_recognised():
    from botocore.exceptions import ClientError

    html = ClientError(
        {
            "Error": {"Code": "500", "Message": "<!doctype html>\n<title>500 Internal Server Error</title>"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        },
        "UpdateJob",
    )
    aws_500 = ClientError(
        {
            "Error": {"Code": "InternalServiceException", "Message": "oops"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        },
        "UpdateJob",
    )
    assert aws_clients.is_unsupported(NotImplementedError("The update_job action has not been implemented"))
    assert aws_clients.is_unsupported(html)
    assert not aws_clients.is_unsupported(aws_500)
