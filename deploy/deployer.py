"""One idempotent boto3 deployer for real AWS and for the local AWS.

The only differences between targets are the endpoint and the credentials (``stack.aws``). Every
resource is read, compared with what the settings want, and created, updated or left alone:

* :func:`plan` reads and compares, and changes nothing;
* :func:`up` applies the changes in dependency order and reports each resource through ``progress``;
* :func:`status` reports what exists;
* :func:`down` deletes in reverse order and keeps the data (buckets, Glue database) unless asked.

Resources, in dependency order: the four buckets (with lifecycle rules: incomplete multipart uploads are
aborted after a day, replaced raw versions expire after ``raw_noncurrent_version_days``), the Glue database,
the Athena workgroup, the SNS topics and their email subscriptions, the IAM roles, the Glue script and
extra-py-files zip, the Lambdas, the Glue job, the state machine, the EventBridge rule for interrupted runs,
the S3 → Lambda invoke permissions and the S3 bucket notifications.

Two things follow from the endpoint rather than from the target:

* the bucket policy that denies non-TLS access is applied only when the endpoint uses TLS (it would deny
  every request that comes through the plain-HTTP local endpoint);
* where the endpoint does not implement an update call (moto 5.2.5 has no Glue ``UpdateJob`` and no
  Athena ``UpdateWorkGroup``), the job or workgroup is deleted and created again. AWS never takes that path.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from deploy import artifacts, iam
from pipeline.asl.checks import find_problems
from pipeline.asl.render import render_definition
from stack import aws
from stack.aws import error_code, is_unsupported
from stack.settings import Settings

Action = Literal["create", "update", "delete", "none"]
Progress = Callable[["Change"], None]

LAMBDA_RUNTIME = "python3.11"
LAMBDA_TIMEOUT_SECONDS = 60
LAMBDA_MEMORY_MB = 256
GLUE_VERSION = "5.0"
GLUE_TIMEOUT_MINUTES = 60
GLUE_MAX_CONCURRENT_RUNS = 3
GLUE_SCRIPT_NAME = "ecommerce_join_data.py"
GLUE_EXTRA_PY_NAME = "job_modules.zip"
# Every created object, no key filter: .csv and .csv.gz exports (ADR 0019) alike reach the on-upload Lambda,
# which keeps the keys under the configured prefix; the Glue job's profile, not a suffix, says what a file is.
NOTIFICATION_EVENTS = ["s3:ObjectCreated:*"]
SECURE_TRANSPORT_SID = "DenyInsecureTransport"
ENCRYPTION_ALGORITHMS_OK = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})  # never downgrade KMS
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
# Lifecycle rules this deployer owns (by ID); a bucket's other rules are kept.
ABORT_UPLOADS_RULE = "abort-incomplete-multipart-uploads"
NONCURRENT_RULE = "expire-noncurrent-versions"
# A browser upload completes within the hour its part URLs live (services/uploads.URL_SECONDS); parts of one
# that never completed (tab closed, console restarted) are billed until aborted.
ABORT_INCOMPLETE_UPLOAD_DAYS = 1
# New IAM roles take a few seconds to be assumable by Lambda and Step Functions on real AWS.
PROPAGATION_SECONDS = 120.0


@dataclass(frozen=True)
class Change:
    resource: str
    action: Action
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.action:<6} {self.resource}" + (f"  ({self.detail})" if self.detail else "")


class DeployError(RuntimeError):
    """A resource could not be planned or applied; the message names it."""


# --------------------------------------------------------------------------------------------- context


def _retry(call: Callable[[], Any], retryable: Callable[[ClientError], bool], deadline: float) -> Any:
    """``call()``, retried with backoff while it fails with a retryable error, for up to ``deadline`` s."""
    start, delay = time.monotonic(), 1.0
    while True:
        try:
            return call()
        except ClientError as exc:
            if not retryable(exc) or time.monotonic() - start + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def tls_endpoint(settings: Settings) -> bool:
    """Whether requests go over TLS. A bucket policy that denies non-TLS access would deny every request
    through a plain-HTTP endpoint (the local AWS), so it is applied only here (always on AWS)."""
    return (settings.endpoint_url or "https://").lower().startswith("https://")


class Context:
    """Clients, account and ARNs for one deployer call."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = aws.session(settings)
        self._clients: dict[str, Any] = {}
        identity = self.client("sts").get_caller_identity()
        self.account: str = identity["Account"]
        partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
        self.arns = iam.Arns(settings=settings, account=self.account, partition=partition)
        self.tls = tls_endpoint(settings)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = aws.client(self.settings, service, self.session)
        return self._clients[service]


# ----------------------------------------------------------------------------------- desired values


def lambda_environment(settings: Settings, arns: iam.Arns) -> dict[str, str]:
    """The environment of every Lambda (the variables pipeline/lambdas/config.py reads). CONSOLE_URL only
    when the settings name the console's address: without it the emails carry no link."""
    return {
        **({"CONSOLE_URL": settings.console_url} if settings.console_url else {}),
        "ORDERS_BUCKET": settings.orders_bucket,
        "RETURNS_BUCKET": settings.returns_bucket,
        "STATE_MACHINE_ARN": arns.state_machine,
        "GLUE_JOB_NAME": settings.glue_job,
        "OUTPUT_PATH": settings.output_path,
        "DATABASE": settings.database,
        "TABLE": settings.table,
        "MAX_QUARANTINE_FRACTION": str(settings.max_quarantine_fraction),
        "KEEP_RUNS": str(settings.keep_runs),
        "PAIRING_PATH": settings.pairing_path,
        "PAIRING_SETTLE_SECONDS": str(settings.pairing_settle_seconds),
        "GLUE_STATUS_WAIT_SECONDS": str(settings.glue_status_wait_seconds),
        "GLUE_POLL_INTERVAL_SECONDS": str(settings.glue_poll_interval_seconds),
        "GLUE_FIRST_WAIT_SECONDS": str(settings.glue_first_wait_seconds),
        "GLUE_FIRST_WAIT_SECONDS_PER_GB": str(settings.glue_first_wait_seconds_per_gb),
    }


def glue_script_location(settings: Settings) -> str:
    return f"s3://{settings.scripts_bucket}/{iam.glue_scripts_prefix()}{GLUE_SCRIPT_NAME}"


def glue_extra_py_location(settings: Settings) -> str:
    return f"s3://{settings.scripts_bucket}/{iam.glue_scripts_prefix()}{GLUE_EXTRA_PY_NAME}"


def glue_job_definition(settings: Settings, arns: iam.Arns) -> dict[str, Any]:
    """The job as CreateJob takes it (without Name); UpdateJob's JobUpdate takes the same fields."""
    return {
        "Description": "Join the newest orders and returns files, publish the table (docs/ARCHITECTURE.md)",
        "Role": arns.role(iam.glue_role_name(settings)),
        "ExecutionProperty": {"MaxConcurrentRuns": GLUE_MAX_CONCURRENT_RUNS},
        "Command": {
            "Name": "glueetl",
            "ScriptLocation": glue_script_location(settings),
            "PythonVersion": "3",
        },
        "DefaultArguments": {
            "--job-language": "python",
            "--extra-py-files": glue_extra_py_location(settings),
            "--TempDir": f"s3://{settings.scripts_bucket}/{iam.glue_temp_prefix()}",
            "--audit_path": settings.audit_path,
            **({"--enable-auto-scaling": "true"} if settings.glue_auto_scaling else {}),
        },
        "MaxRetries": 0,  # the state machine decides about reruns
        "Timeout": GLUE_TIMEOUT_MINUTES,
        "GlueVersion": GLUE_VERSION,
        "WorkerType": settings.glue_worker_type,
        "NumberOfWorkers": settings.glue_workers,
    }


def state_machine_substitutions(settings: Settings, arns: iam.Arns) -> dict[str, str | int]:
    return {
        "CheckFilesFunctionArn": arns.function(settings.check_files_function),
        "TriggerGlueFunctionArn": arns.function(settings.trigger_glue_function),
        "CheckGlueStatusFunctionArn": arns.function(settings.check_glue_status_function),
        "StopGlueFunctionArn": arns.function(settings.stop_glue_function),
        "AwaitCounterpartFunctionArn": arns.function(settings.await_counterpart_function),
        "RenderEmailFunctionArn": arns.function(settings.render_email_function),
        "SuccessTopicArn": arns.success_topic,
        "FailureTopicArn": arns.failure_topic,
        "PairingWindowSeconds": settings.pairing_window_seconds,
        "MaxFileChecks": settings.max_file_checks,
        "GlueWaitSeconds": settings.glue_wait_seconds,
        "MaxGluePolls": settings.max_glue_polls,
        "RetryIntervalSeconds": settings.retry_interval_seconds,
    }


def state_machine_definition(settings: Settings, arns: iam.Arns) -> str:
    """The rendered definition; raises DeployError when the static checks find problems."""
    definition = render_definition(state_machine_substitutions(settings, arns))
    problems = find_problems(json.loads(definition))
    if problems:
        raise DeployError(
            f"state machine {settings.state_machine}: refusing to deploy a definition with problems: "
            + "; ".join(problems)
        )
    return definition


def secure_transport_statement(arns: iam.Arns, bucket: str) -> dict[str, Any]:
    return {
        "Sid": SECURE_TRANSPORT_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arns.bucket(bucket), f"{arns.bucket(bucket)}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def upload_cors_rule(settings: Settings) -> dict[str, Any]:
    """Browsers on the console's origins may PUT presigned multipart parts (nothing else)."""
    return {
        "AllowedMethods": ["PUT"],
        "AllowedOrigins": list(settings.console_origins),
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3000,
    }


def lifecycle_rules(settings: Settings, versioned: bool) -> list[dict[str, Any]]:
    """Abort multipart uploads left incomplete; on versioned (raw) buckets, delete replaced versions after
    ``raw_noncurrent_version_days`` (they stay restorable until then)."""
    rules = [
        {
            "ID": ABORT_UPLOADS_RULE,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOAD_DAYS},
        }
    ]
    if versioned:
        rules.append(
            {
                "ID": NONCURRENT_RULE,
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "NoncurrentVersionExpiration": {"NoncurrentDays": settings.raw_noncurrent_version_days},
            }
        )
    return rules


def _lifecycle_essentials(rule: Mapping[str, Any]) -> tuple:
    """What a rule does, whichever way the endpoint spells an empty filter."""
    rule_filter = rule.get("Filter") or {}
    return (
        rule.get("ID"),
        rule.get("Status"),
        # Only a plain prefix counts as ours: tags, sizes or And in the filter make a rule to rewrite.
        rule_filter.get("Prefix", rule.get("Prefix", "")) if set(rule_filter) <= {"Prefix"} else rule_filter,
        (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"),
        (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
        bool(rule.get("Expiration") or rule.get("Transitions") or rule.get("NoncurrentVersionTransitions")),
    )


def _lifecycle_summary(rules: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for rule in rules:
        if rule.get("Status") != "Enabled":
            continue
        if days := (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"):
            parts.append(f"incomplete uploads aborted after {days} d")
        if days := (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"):
            parts.append(f"noncurrent versions expire after {days} d")
    return ", ".join(parts)


def _cors_essentials(rule: Mapping[str, Any]) -> tuple:
    return tuple(
        sorted(rule.get(k) or [])
        for k in ("AllowedMethods", "AllowedOrigins", "AllowedHeaders", "ExposeHeaders")
    )


def notification_id(settings: Settings) -> str:
    """The Id that marks our S3 notification configuration (others' configurations are kept)."""
    return settings.on_upload_function


def permission_statement_id(bucket: str) -> str:
    return "s3-invoke-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in bucket)


# ------------------------------------------------------------------------------------------ resources


class Resource:
    """One deployable thing. ``read`` returns its current state, or None when it does not exist."""

    name: str = ""
    keeps_data = False  # kept by down() unless delete_data

    def read(self, ctx: Context) -> Any | None:
        raise NotImplementedError

    def diff(self, ctx: Context, current: Any) -> list[str]:
        """What differs from the settings (empty: up to date)."""
        return []

    def create(self, ctx: Context) -> None:
        raise NotImplementedError

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        raise NotImplementedError

    def delete(self, ctx: Context, current: Any) -> None:
        raise NotImplementedError

    def create_detail(self, ctx: Context) -> str:
        return ""

    def describe(self, ctx: Context, current: Any) -> str:
        return ""


def _absent_on(exc: ClientError, *codes: str) -> None:
    """Re-raise ``exc`` unless its code is one of ``codes``."""
    if error_code(exc) not in codes:
        raise exc


@dataclass
class Bucket(Resource):
    bucket: str
    versioned: bool
    browser_uploads: bool = False  # the console's Upload page PUTs parts here from the browser (CORS)
    keeps_data = True

    def __post_init__(self) -> None:
        self.name = f"s3 bucket {self.bucket}"

    def read(self, ctx: Context) -> dict[str, Any] | None:
        s3 = ctx.client("s3")
        try:
            s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if error_code(exc) in ("403", "AccessDenied"):
                raise DeployError(
                    f"bucket {self.bucket} exists but is not accessible (owned by another account?); "
                    "set a bucket prefix or suffix"
                ) from exc
            _absent_on(exc, "404", "NoSuchBucket", "NotFound")
            return None
        state: dict[str, Any] = {}
        try:
            state["public_access_block"] = s3.get_public_access_block(Bucket=self.bucket)[
                "PublicAccessBlockConfiguration"
            ]
        except ClientError as exc:
            _absent_on(exc, "NoSuchPublicAccessBlockConfiguration")
            state["public_access_block"] = {}
        try:
            rules = s3.get_bucket_encryption(Bucket=self.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
            state["encryption"] = [
                r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules
            ]
        except ClientError as exc:
            _absent_on(exc, "ServerSideEncryptionConfigurationNotFoundError")
            state["encryption"] = []
        try:
            state["policy"] = json.loads(s3.get_bucket_policy(Bucket=self.bucket)["Policy"])
        except ClientError as exc:
            _absent_on(exc, "NoSuchBucketPolicy")
            state["policy"] = None
        state["versioning"] = s3.get_bucket_versioning(Bucket=self.bucket).get("Status")
        try:
            state["cors"] = s3.get_bucket_cors(Bucket=self.bucket)["CORSRules"]
        except ClientError as exc:
            _absent_on(exc, "NoSuchCORSConfiguration")
            state["cors"] = []
        try:
            state["lifecycle"] = s3.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"]
        except ClientError as exc:
            _absent_on(exc, "NoSuchLifecycleConfiguration")
            state["lifecycle"] = []
        return state

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        differences = []
        if any(current["public_access_block"].get(k) is not True for k in PUBLIC_ACCESS_BLOCK):
            differences.append("block public access")
        if not current["encryption"] or current["encryption"][0] not in ENCRYPTION_ALGORITHMS_OK:
            differences.append("default encryption AES256")
        wanted = iam.canonical({"Statement": [secure_transport_statement(ctx.arns, self.bucket)]})
        if ctx.tls and self._our_statement(current["policy"]) != wanted["Statement"][0]:
            differences.append("policy denying non-TLS access")
        if self.versioned and current["versioning"] != "Enabled":
            differences.append(f"versioning {current['versioning'] or 'off'} → Enabled")
        if self.browser_uploads and [_cors_essentials(r) for r in current["cors"]] != [
            _cors_essentials(upload_cors_rule(ctx.settings))
        ]:
            differences.append("CORS for browser uploads")
        wanted_rules = lifecycle_rules(ctx.settings, self.versioned)
        ours = {r["ID"] for r in wanted_rules}
        if sorted(_lifecycle_essentials(r) for r in current["lifecycle"] if r.get("ID") in ours) != sorted(
            _lifecycle_essentials(r) for r in wanted_rules
        ):
            differences.append(f"lifecycle: {_lifecycle_summary(wanted_rules)}")
        return differences

    @staticmethod
    def _our_statement(policy: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if not policy:
            return None
        for statement in iam.canonical(policy)["Statement"]:
            if statement.get("Sid") == SECURE_TRANSPORT_SID:
                return statement
        return None

    def create(self, ctx: Context) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if ctx.settings.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.settings.region}
        ctx.client("s3").create_bucket(**kwargs)
        current = self.read(ctx)
        self.update(ctx, current, self.diff(ctx, current))

    def update(self, ctx: Context, current: dict[str, Any], differences: list[str]) -> None:
        s3 = ctx.client("s3")
        if "block public access" in differences:
            s3.put_public_access_block(Bucket=self.bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
        if "default encryption AES256" in differences:
            s3.put_bucket_encryption(
                Bucket=self.bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            )
        if "policy denying non-TLS access" in differences:
            others = [
                s
                for s in (current["policy"] or {}).get("Statement", [])
                if s.get("Sid") != SECURE_TRANSPORT_SID
            ]
            policy = {
                "Version": iam.VERSION,
                "Statement": [*others, secure_transport_statement(ctx.arns, self.bucket)],
            }
            s3.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(policy))
        if any(d.startswith("versioning") for d in differences):
            s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        if "CORS for browser uploads" in differences:
            s3.put_bucket_cors(
                Bucket=self.bucket, CORSConfiguration={"CORSRules": [upload_cors_rule(ctx.settings)]}
            )
        if any(d.startswith("lifecycle") for d in differences):
            wanted_rules = lifecycle_rules(ctx.settings, self.versioned)
            ours = {r["ID"] for r in wanted_rules}
            # One call replaces the whole configuration: keep the rules that are not ours.
            others = [r for r in current["lifecycle"] if r.get("ID") not in ours]
            s3.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": [*others, *wanted_rules]}
            )

    def delete(self, ctx: Context, current: Any) -> None:
        s3 = ctx.client("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            for start in range(0, len(doomed), 1000):
                s3.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True}
                )
        s3.delete_bucket(Bucket=self.bucket)

    def create_detail(self, ctx: Context) -> str:
        tls = "TLS only" if ctx.tls else "no TLS-only policy: plain-HTTP endpoint"
        uploads = ", browser uploads" if self.browser_uploads else ""
        lifecycle = _lifecycle_summary(lifecycle_rules(ctx.settings, self.versioned))
        versioned = ", versioned" if self.versioned else ""
        return f"private, AES256, {tls}{versioned}{uploads}, {lifecycle}"

    def describe(self, ctx: Context, current: dict[str, Any]) -> str:
        lifecycle = _lifecycle_summary(current["lifecycle"]) or "no lifecycle rules"
        return f"encryption {','.join(filter(None, current['encryption'])) or 'none'}, " + (
            f"versioning {current['versioning'] or 'off'}, {lifecycle}"
        )


@dataclass
class GlueDatabase(Resource):
    database: str
    keeps_data = True  # it holds the published table

    def __post_init__(self) -> None:
        self.name = f"glue database {self.database}"

    def read(self, ctx: Context) -> dict[str, Any] | None:
        try:
            return ctx.client("glue").get_database(Name=ctx.settings.database)["Database"]
        except ClientError as exc:
            _absent_on(exc, "EntityNotFoundException")
            return None

    def create(self, ctx: Context) -> None:
        ctx.client("glue").create_database(
            DatabaseInput={"Name": ctx.settings.database, "Description": "E-commerce orders and returns"}
        )

    def delete(self, ctx: Context, current: Any) -> None:
        ctx.client("glue").delete_database(Name=ctx.settings.database)

    def describe(self, ctx: Context, current: Any) -> str:
        try:
            tables = ctx.client("glue").get_tables(DatabaseName=ctx.settings.database)["TableList"]
        except ClientError:
            return ""
        return f"tables: {', '.join(t['Name'] for t in tables) or 'none'}"


@dataclass
class AthenaWorkgroup(Resource):
    workgroup: str

    def __post_init__(self) -> None:
        self.name = f"athena workgroup {self.workgroup}"

    def _desired(self, ctx: Context) -> dict[str, Any]:
        return {
            "ResultConfiguration": {"OutputLocation": ctx.settings.athena_results_path},
            "EnforceWorkGroupConfiguration": True,
            "BytesScannedCutoffPerQuery": ctx.settings.athena_bytes_scanned_cutoff,
        }

    def read(self, ctx: Context) -> dict[str, Any] | None:
        try:
            response = ctx.client("athena").get_work_group(WorkGroup=ctx.settings.athena_workgroup)
        except ClientError as exc:
            if error_code(exc) == "InvalidRequestException" and "not found" in str(exc).lower():
                return None
            raise
        return response.get("WorkGroup")  # moto answers {"WorkGroup": null} for an unknown name

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        config = current.get("Configuration", {})
        location = config.get("ResultConfiguration", {}).get("OutputLocation")
        differences = []
        if location != ctx.settings.athena_results_path:
            differences.append(f"result location {location} → {ctx.settings.athena_results_path}")
        if config.get("EnforceWorkGroupConfiguration") is not True:
            differences.append("enforce workgroup configuration")
        cutoff = config.get("BytesScannedCutoffPerQuery")
        if cutoff != ctx.settings.athena_bytes_scanned_cutoff:
            differences.append(f"bytes scanned cutoff {cutoff} → {ctx.settings.athena_bytes_scanned_cutoff}")
        if current.get("State", "ENABLED") != "ENABLED":
            differences.append("enable")
        return differences

    def create(self, ctx: Context) -> None:
        ctx.client("athena").create_work_group(
            Name=ctx.settings.athena_workgroup,
            Configuration=self._desired(ctx),
            Description="E-commerce explorer queries",
        )

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        desired = self._desired(ctx)
        try:
            ctx.client("athena").update_work_group(
                WorkGroup=ctx.settings.athena_workgroup,
                State="ENABLED",
                ConfigurationUpdates={
                    "ResultConfigurationUpdates": desired["ResultConfiguration"],
                    "EnforceWorkGroupConfiguration": True,
                    "BytesScannedCutoffPerQuery": desired["BytesScannedCutoffPerQuery"],
                },
            )
        except (ClientError, NotImplementedError) as exc:
            if not is_unsupported(exc):
                raise
            self.delete(ctx, current)  # the endpoint cannot update: recreate (local AWS only)
            self.create(ctx)

    def delete(self, ctx: Context, current: Any) -> None:
        ctx.client("athena").delete_work_group(
            WorkGroup=ctx.settings.athena_workgroup, RecursiveDeleteOption=True
        )

    def create_detail(self, ctx: Context) -> str:
        cutoff = ctx.settings.athena_bytes_scanned_cutoff
        return f"results {ctx.settings.athena_results_path}, scans at most {cutoff / 2**30:g} GiB per query"

    def describe(self, ctx: Context, current: dict[str, Any]) -> str:
        config = current.get("Configuration", {})
        location = config.get("ResultConfiguration", {}).get("OutputLocation")
        cutoff = config.get("BytesScannedCutoffPerQuery")
        return f"results {location}" + (f", scans at most {cutoff / 2**30:g} GiB per query" if cutoff else "")


@dataclass
class Topic(Resource):
    topic: str

    def __post_init__(self) -> None:
        self.name = f"sns topic {self.topic}"

    def read(self, ctx: Context) -> dict[str, Any] | None:
        try:
            return ctx.client("sns").get_topic_attributes(TopicArn=ctx.arns.topic(self.topic))["Attributes"]
        except ClientError as exc:
            _absent_on(exc, "NotFound", "NotFoundException")
            return None

    def create(self, ctx: Context) -> None:
        ctx.client("sns").create_topic(Name=self.topic)

    def delete(self, ctx: Context, current: Any) -> None:
        ctx.client("sns").delete_topic(TopicArn=ctx.arns.topic(self.topic))


@dataclass
class EmailSubscriptions(Resource):
    """The settings' emails subscribed to one topic. Other subscriptions are left as they are."""

    topic: str
    emails: tuple[str, ...]

    def __post_init__(self) -> None:
        self.name = f"sns email subscriptions {self.topic}"

    def read(self, ctx: Context) -> dict[str, str] | None:
        """email → subscription ARN ("PendingConfirmation" until the recipient confirms)."""
        sns = ctx.client("sns")
        found: dict[str, str] = {}
        try:
            pages = sns.get_paginator("list_subscriptions_by_topic").paginate(
                TopicArn=ctx.arns.topic(self.topic)
            )
            for page in pages:
                for sub in page.get("Subscriptions", []):
                    if sub.get("Protocol") == "email" and sub.get("Endpoint", "").lower() in self._wanted():
                        found[sub["Endpoint"].lower()] = sub["SubscriptionArn"]
        except ClientError as exc:
            _absent_on(exc, "NotFound", "NotFoundException")
            return None
        return found or None

    def _wanted(self) -> set[str]:
        return {e.lower() for e in self.emails}

    def diff(self, ctx: Context, current: dict[str, str]) -> list[str]:
        return [f"subscribe {e}" for e in sorted(self._wanted() - set(current))]

    def create(self, ctx: Context) -> None:
        self.update(ctx, {}, self.diff(ctx, {}))

    def update(self, ctx: Context, current: dict[str, str], differences: list[str]) -> None:
        for email in sorted(self._wanted() - set(current)):
            ctx.client("sns").subscribe(TopicArn=ctx.arns.topic(self.topic), Protocol="email", Endpoint=email)

    def delete(self, ctx: Context, current: dict[str, str]) -> None:
        for arn in current.values():
            if arn.startswith("arn:"):  # a pending subscription cannot be removed; it expires
                ctx.client("sns").unsubscribe(SubscriptionArn=arn)

    def create_detail(self, ctx: Context) -> str:
        return ", ".join(sorted(self._wanted()))

    def describe(self, ctx: Context, current: dict[str, str]) -> str:
        pending = " (pending confirmation)"
        items = sorted(current.items())
        return ", ".join(e + ("" if arn.startswith("arn:") else pending) for e, arn in items)


def interrupted_run_pattern(arns: iam.Arns) -> dict[str, Any]:
    """Runs that end without passing NotifyFailure: stopped by an admin, timed out, or cut short."""
    return {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["ABORTED", "TIMED_OUT"], "stateMachineArn": [arns.state_machine]},
    }


def interrupted_run_message(settings: Settings) -> dict[str, Any]:
    """The email text: which run, how it ended and why, the files it was processing (its input) and, with
    a console address, the link to the run. EventBridge fills it in (no Lambda runs for these runs), as one
    line: an SNS target takes no Subject."""
    fields = {"name": "name", "status": "status", "error": "error", "cause": "cause", "input": "input",
              "arn": "executionArn"}  # fmt: skip
    link = (
        f" Open the run: {settings.console_url.rstrip('/')}/monitor?execution=<arn>"
        if settings.console_url
        else ""
    )
    return {
        "InputPathsMap": {k: f"$.detail.{v}" for k, v in fields.items()},
        "InputTemplate": (
            '"ETL run <name> ended <status> before its own failure notification. Error: <error>. '
            f'Cause: <cause>. Input (files): <input>. Execution: <arn>.{link}"'
        ),
    }


def events_publish_statement(arns: iam.Arns, rule: str) -> dict[str, Any]:
    """The failure topic's permission for EventBridge (that rule only) to publish."""
    return {
        "Sid": "InterruptedRunsFromEventBridge",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": arns.failure_topic,
        "Condition": {"ArnEquals": {"aws:SourceArn": arns.event_rule(rule)}},
    }


@dataclass
class InterruptedRunRule(Resource):
    """EventBridge rule: an execution that ends ABORTED or TIMED_OUT sends the event to the failure topic."""

    rule: str
    target_id = "failure-topic"

    def __post_init__(self) -> None:
        self.name = f"eventbridge rule {self.rule}"

    def read(self, ctx: Context) -> dict[str, Any] | None:
        client = ctx.client("events")
        try:
            rule = client.describe_rule(Name=self.rule)
        except ClientError as exc:
            _absent_on(exc, "ResourceNotFoundException")
            return None
        targets = client.list_targets_by_rule(Rule=self.rule)["Targets"]
        transformers = [t.get("InputTransformer") for t in targets]
        attributes = ctx.client("sns").get_topic_attributes(TopicArn=ctx.arns.failure_topic)["Attributes"]
        policy = json.loads(attributes.get("Policy") or "{}")
        return {
            "pattern": json.loads(rule.get("EventPattern") or "{}"),
            "state": rule.get("State"),
            "targets": [t["Arn"] for t in targets],
            "message": transformers[0] if transformers else None,
            "allowed": events_publish_statement(ctx.arns, self.rule) in policy.get("Statement", []),
        }

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        differences = []
        if current["pattern"] != interrupted_run_pattern(ctx.arns) or current["state"] != "ENABLED":
            differences.append("event pattern")
        if current["targets"] != [ctx.arns.failure_topic] or current["message"] != interrupted_run_message(
            ctx.settings
        ):
            differences.append("target")
        if not current["allowed"]:
            differences.append("failure topic policy")
        return differences

    def create(self, ctx: Context) -> None:
        self.update(ctx, None, ["event pattern", "target", "failure topic policy"])

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        client = ctx.client("events")
        client.put_rule(
            Name=self.rule,
            EventPattern=json.dumps(interrupted_run_pattern(ctx.arns)),
            State="ENABLED",
            Description="ecommerce ETL: runs stopped, timed out or interrupted send the failure email",
        )
        target = {
            "Id": self.target_id,
            "Arn": ctx.arns.failure_topic,
            "InputTransformer": interrupted_run_message(ctx.settings),
        }
        client.put_targets(Rule=self.rule, Targets=[target])
        if "failure topic policy" in differences:
            sns = ctx.client("sns")
            attributes = sns.get_topic_attributes(TopicArn=ctx.arns.failure_topic)["Attributes"]
            policy = json.loads(attributes.get("Policy") or '{"Version": "2012-10-17", "Statement": []}')
            statement = events_publish_statement(ctx.arns, self.rule)
            policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != statement["Sid"]]
            policy["Statement"].append(statement)
            sns.set_topic_attributes(
                TopicArn=ctx.arns.failure_topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
            )

    def delete(self, ctx: Context, current: Any) -> None:
        client = ctx.client("events")
        client.remove_targets(Rule=self.rule, Ids=[self.target_id])
        client.delete_rule(Name=self.rule)

    def create_detail(self, ctx: Context) -> str:
        return f"ABORTED/TIMED_OUT executions → {ctx.settings.failure_topic}"

    def describe(self, ctx: Context, current: dict[str, Any]) -> str:
        return f"{current['state']} → {', '.join(current['targets']) or 'no target'}"


@dataclass
class Role(Resource):
    spec: iam.RoleSpec

    def __post_init__(self) -> None:
        self.name = f"iam role {self.spec.name}"

    def read(self, ctx: Context) -> dict[str, Any] | None:
        client = ctx.client("iam")
        try:
            role = client.get_role(RoleName=self.spec.name)["Role"]
        except ClientError as exc:
            _absent_on(exc, "NoSuchEntity")
            return None
        try:
            policy = client.get_role_policy(RoleName=self.spec.name, PolicyName=self.spec.policy_name)
            inline = policy["PolicyDocument"]
        except ClientError as exc:
            _absent_on(exc, "NoSuchEntity")
            inline = None
        attached = client.list_attached_role_policies(RoleName=self.spec.name)["AttachedPolicies"]
        return {
            "trust": role.get("AssumeRolePolicyDocument"),
            "policy": inline,
            "attached": [p["PolicyName"] for p in attached],
        }

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        differences = []
        if current["trust"] is None or iam.canonical(current["trust"]) != iam.canonical(self.spec.trust):
            differences.append("trust policy")
        if current["policy"] is None or iam.canonical(current["policy"]) != iam.canonical(self.spec.policy):
            differences.append(f"inline policy {self.spec.policy_name}")
        return differences

    def create(self, ctx: Context) -> None:
        ctx.client("iam").create_role(
            RoleName=self.spec.name,
            AssumeRolePolicyDocument=json.dumps(self.spec.trust),
            Description=f"ecommerce ETL: {self.spec.description}",
        )
        self._put_policy(ctx)

    def _put_policy(self, ctx: Context) -> None:
        ctx.client("iam").put_role_policy(
            RoleName=self.spec.name,
            PolicyName=self.spec.policy_name,
            PolicyDocument=json.dumps(self.spec.policy),
        )

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        if "trust policy" in differences:
            ctx.client("iam").update_assume_role_policy(
                RoleName=self.spec.name, PolicyDocument=json.dumps(self.spec.trust)
            )
        if any(d.startswith("inline policy") for d in differences):
            self._put_policy(ctx)

    def delete(self, ctx: Context, current: Any) -> None:
        client = ctx.client("iam")
        for name in client.list_role_policies(RoleName=self.spec.name)["PolicyNames"]:
            client.delete_role_policy(RoleName=self.spec.name, PolicyName=name)
        for policy in client.list_attached_role_policies(RoleName=self.spec.name)["AttachedPolicies"]:
            client.detach_role_policy(RoleName=self.spec.name, PolicyArn=policy["PolicyArn"])
        client.delete_role(RoleName=self.spec.name)

    def create_detail(self, ctx: Context) -> str:
        return f"assumed by {self.spec.service}"

    def describe(self, ctx: Context, current: dict[str, Any]) -> str:
        attached = ", ".join(current["attached"]) or "none"
        return f"assumed by {self.spec.service}; managed policies: {attached}"


@dataclass
class ScriptObject(Resource):
    """A deploy artifact in the scripts bucket, compared by the sha256 kept in its metadata."""

    uri: str
    body: bytes = field(repr=False)

    def __post_init__(self) -> None:
        self.name = f"s3 object {self.uri}"
        self.bucket, _, self.key = self.uri.removeprefix("s3://").partition("/")
        self.sha256 = hashlib.sha256(self.body).hexdigest()

    def read(self, ctx: Context) -> dict[str, Any] | None:
        try:
            head = ctx.client("s3").head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            _absent_on(exc, "404", "NoSuchKey", "NoSuchBucket", "NotFound")
            return None
        return {"sha256": head.get("Metadata", {}).get("sha256"), "size": head.get("ContentLength")}

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        return [] if current["sha256"] == self.sha256 else ["content changed"]

    def create(self, ctx: Context) -> None:
        ctx.client("s3").put_object(
            Bucket=self.bucket, Key=self.key, Body=self.body, Metadata={"sha256": self.sha256}
        )

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        self.create(ctx)

    def delete(self, ctx: Context, current: Any) -> None:
        ctx.client("s3").delete_object(Bucket=self.bucket, Key=self.key)

    def create_detail(self, ctx: Context) -> str:
        return f"{len(self.body)} bytes"

    def describe(self, ctx: Context, current: dict[str, Any]) -> str:
        return f"{current['size']} bytes, sha256 {str(current['sha256'])[:12]}"


def _role_not_ready(exc: ClientError) -> bool:
    """Lambda/Step Functions reject a role that IAM has not propagated yet."""
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return error_code(exc) in ("InvalidParameterValueException", "AccessDeniedException") and (
        "role" in message or "assume" in message
    )


@dataclass
class Function(Resource):
    function: str
    module: str  # pipeline/lambdas/<module>.py holds its handler
    code: bytes = field(repr=False)

    def __post_init__(self) -> None:
        self.name = f"lambda {self.function}"
        self.code_sha = artifacts.sha256_b64(self.code)

    def _config(self, ctx: Context) -> dict[str, Any]:
        return {
            "Runtime": LAMBDA_RUNTIME,
            "Handler": artifacts.lambda_handler(self.module),
            "Role": ctx.arns.role(iam.lambda_role_name(self.function)),
            "Timeout": LAMBDA_TIMEOUT_SECONDS,
            "MemorySize": LAMBDA_MEMORY_MB,
            "Environment": {"Variables": lambda_environment(ctx.settings, ctx.arns)},
        }

    def read(self, ctx: Context) -> dict[str, Any] | None:
        try:
            return ctx.client("lambda").get_function(FunctionName=self.function)["Configuration"]
        except ClientError as exc:
            _absent_on(exc, "ResourceNotFoundException")
            return None

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        differences = ["code"] if current.get("CodeSha256") != self.code_sha else []
        for key, value in self._config(ctx).items():
            have = current.get(key)
            if key == "Environment":
                have = {"Variables": (have or {}).get("Variables", {})}
                if have != value:
                    keys = sorted(
                        k
                        for k in set(have["Variables"]) | set(value["Variables"])
                        if have["Variables"].get(k) != value["Variables"].get(k)
                    )
                    differences.append(f"environment {', '.join(keys)}")
            elif have != value:
                differences.append(f"{key} {have} → {value}")
        return differences

    def _wait(self, ctx: Context, waiter: str) -> None:
        ctx.client("lambda").get_waiter(waiter).wait(
            FunctionName=self.function, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
        )

    def create(self, ctx: Context) -> None:
        client = ctx.client("lambda")
        _retry(
            lambda: client.create_function(
                FunctionName=self.function,
                Code={"ZipFile": self.code},
                Description=f"ecommerce ETL: {self.module}",
                Publish=False,
                **self._config(ctx),
            ),
            _role_not_ready,
            PROPAGATION_SECONDS,
        )
        self._wait(ctx, "function_active_v2")

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        client = ctx.client("lambda")
        if "code" in differences:
            client.update_function_code(FunctionName=self.function, ZipFile=self.code)
            self._wait(ctx, "function_updated_v2")
        if any(d != "code" for d in differences):
            _retry(
                lambda: client.update_function_configuration(FunctionName=self.function, **self._config(ctx)),
                _role_not_ready,
                PROPAGATION_SECONDS,
            )
            self._wait(ctx, "function_updated_v2")

    def delete(self, ctx: Context, current: Any) -> None:
        ctx.client("lambda").delete_function(FunctionName=self.function)

    def create_detail(self, ctx: Context) -> str:
        return f"{LAMBDA_RUNTIME}, {artifacts.lambda_handler(self.module)}"

    def describe(self, ctx: Context, current: dict[str, Any]) -> str:
        return f"{current.get('Runtime')}, {current.get('Handler')}, state {current.get('State')}" + (
            f"/{current['LastUpdateStatus']}" if current.get("LastUpdateStatus") else ""
        )


@dataclass
class GlueJob(Resource):
    job: str

    def __post_init__(self) -> None:
        self.name = f"glue job {self.job}"

    def read(self, ctx: Context) -> dict[str, Any] | None:
        try:
            return ctx.client("glue").get_job(JobName=ctx.settings.glue_job)["Job"]
        except ClientError as exc:
            _absent_on(exc, "EntityNotFoundException")
            return None

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        differences = []
        for key, value in glue_job_definition(ctx.settings, ctx.arns).items():
            have = current.get(key)
            if key == "Description":
                continue
            if key == "Command":
                have = {k: (have or {}).get(k) for k in value}
            if have != value:
                differences.append(
                    f"{key} {have} → {value}" if not isinstance(value, dict) else f"{key} changed"
                )
        return differences

    def create(self, ctx: Context) -> None:
        ctx.client("glue").create_job(
            Name=ctx.settings.glue_job, **glue_job_definition(ctx.settings, ctx.arns)
        )

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        try:
            ctx.client("glue").update_job(
                JobName=ctx.settings.glue_job, JobUpdate=glue_job_definition(ctx.settings, ctx.arns)
            )
        except (ClientError, NotImplementedError) as exc:
            if not is_unsupported(exc):
                raise
            self.delete(ctx, current)  # the endpoint cannot update: recreate (local AWS only)
            self.create(ctx)

    def delete(self, ctx: Context, current: Any) -> None:
        ctx.client("glue").delete_job(JobName=ctx.settings.glue_job)

    def create_detail(self, ctx: Context) -> str:
        s = ctx.settings
        return f"Glue {GLUE_VERSION}, {s.glue_workers} × {s.glue_worker_type}"

    def describe(self, ctx: Context, current: dict[str, Any]) -> str:
        return (
            f"Glue {current.get('GlueVersion')}, {current.get('NumberOfWorkers')} × "
            f"{current.get('WorkerType')}, script {current.get('Command', {}).get('ScriptLocation')}"
        )


@dataclass
class StateMachine(Resource):
    state_machine: str

    def __post_init__(self) -> None:
        self.name = f"state machine {self.state_machine}"

    def read(self, ctx: Context) -> dict[str, Any] | None:
        try:
            return ctx.client("stepfunctions").describe_state_machine(stateMachineArn=ctx.arns.state_machine)
        except ClientError as exc:
            _absent_on(exc, "StateMachineDoesNotExist")
            return None

    def _role(self, ctx: Context) -> str:
        return ctx.arns.role(iam.states_role_name(ctx.settings))

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        differences = []
        desired = json.loads(state_machine_definition(ctx.settings, ctx.arns))
        if json.loads(current.get("definition") or "{}") != desired:
            differences.append("definition")
        if current.get("roleArn") != self._role(ctx):
            differences.append(f"role {current.get('roleArn')} → {self._role(ctx)}")
        return differences

    def create(self, ctx: Context) -> None:
        definition = state_machine_definition(ctx.settings, ctx.arns)
        client = ctx.client("stepfunctions")
        _retry(
            lambda: client.create_state_machine(
                name=ctx.settings.state_machine,
                definition=definition,
                roleArn=self._role(ctx),
                type="STANDARD",
            ),
            _role_not_ready,
            PROPAGATION_SECONDS,
        )

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        definition = state_machine_definition(ctx.settings, ctx.arns)
        client = ctx.client("stepfunctions")
        _retry(
            lambda: client.update_state_machine(
                stateMachineArn=ctx.arns.state_machine, definition=definition, roleArn=self._role(ctx)
            ),
            _role_not_ready,
            PROPAGATION_SECONDS,
        )

    def delete(self, ctx: Context, current: Any) -> None:
        ctx.client("stepfunctions").delete_state_machine(stateMachineArn=ctx.arns.state_machine)

    def create_detail(self, ctx: Context) -> str:
        state_machine_definition(ctx.settings, ctx.arns)  # a plan reports a definition with problems
        return "definition rendered and checked"

    def describe(self, ctx: Context, current: dict[str, Any]) -> str:
        return f"status {current.get('status')}"


@dataclass
class InvokePermission(Resource):
    """S3 may invoke the on-upload Lambda for events of one raw bucket."""

    bucket: str

    def __post_init__(self) -> None:
        self.name = f"lambda permission s3:{self.bucket}"
        self.sid = permission_statement_id(self.bucket)

    def read(self, ctx: Context) -> dict[str, Any] | None:
        try:
            policy = ctx.client("lambda").get_policy(FunctionName=ctx.settings.on_upload_function)["Policy"]
        except ClientError as exc:
            _absent_on(exc, "ResourceNotFoundException")
            return None
        for statement in json.loads(policy).get("Statement", []):
            if statement.get("Sid") == self.sid:
                return statement
        return None

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        condition = {
            op: {key.lower(): value for key, value in clauses.items()}
            for op, clauses in current.get("Condition", {}).items()
        }
        principal = current.get("Principal", {})
        service = principal.get("Service") if isinstance(principal, dict) else principal
        ok = (
            service == "s3.amazonaws.com"
            and current.get("Action") == "lambda:InvokeFunction"
            and condition.get("ArnLike", {}).get("aws:sourcearn") == ctx.arns.bucket(self.bucket)
            and condition.get("StringEquals", {}).get("aws:sourceaccount") == ctx.account
        )
        return [] if ok else ["statement differs"]

    def create(self, ctx: Context) -> None:
        ctx.client("lambda").add_permission(
            FunctionName=ctx.settings.on_upload_function,
            StatementId=self.sid,
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=ctx.arns.bucket(self.bucket),
            SourceAccount=ctx.account,
        )

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        self.delete(ctx, current)
        self.create(ctx)

    def delete(self, ctx: Context, current: Any) -> None:
        try:
            ctx.client("lambda").remove_permission(
                FunctionName=ctx.settings.on_upload_function, StatementId=self.sid
            )
        except ClientError as exc:
            _absent_on(exc, "ResourceNotFoundException")

    def create_detail(self, ctx: Context) -> str:
        return f"s3.amazonaws.com → {ctx.settings.on_upload_function}"

    def describe(self, ctx: Context, current: Any) -> str:
        return f"statement {self.sid}"


_NOTIFICATION_KEYS = (
    "TopicConfigurations",
    "QueueConfigurations",
    "LambdaFunctionConfigurations",
    "EventBridgeConfiguration",
)


@dataclass
class BucketNotification(Resource):
    """Our ObjectCreated → on-upload configuration in one raw bucket; every other one is kept."""

    bucket: str

    def __post_init__(self) -> None:
        self.name = f"s3 notification {self.bucket}"

    def _desired(self, ctx: Context) -> dict[str, Any]:
        return {
            "Id": notification_id(ctx.settings),
            "LambdaFunctionArn": ctx.arns.function(ctx.settings.on_upload_function),
            "Events": list(NOTIFICATION_EVENTS),
        }

    def _configuration(self, ctx: Context) -> dict[str, Any] | None:
        try:
            response = ctx.client("s3").get_bucket_notification_configuration(Bucket=self.bucket)
        except ClientError as exc:
            _absent_on(exc, "NoSuchBucket", "404")
            return None
        return {k: response[k] for k in _NOTIFICATION_KEYS if k in response}

    def read(self, ctx: Context) -> dict[str, Any] | None:
        configuration = self._configuration(ctx)
        for config in (configuration or {}).get("LambdaFunctionConfigurations", []):
            if config.get("Id") == notification_id(ctx.settings):
                return config
        return None

    def diff(self, ctx: Context, current: dict[str, Any]) -> list[str]:
        desired = self._desired(ctx)
        differences = []
        if current.get("LambdaFunctionArn") != desired["LambdaFunctionArn"]:
            differences.append(f"target {current.get('LambdaFunctionArn')}")
        if sorted(current.get("Events", [])) != desired["Events"]:
            differences.append(f"events {current.get('Events')}")
        if current.get("Filter"):
            differences.append("filter")
        return differences

    def _write(self, ctx: Context, ours: dict[str, Any] | None) -> None:
        configuration = self._configuration(ctx) or {}
        lambdas = [
            c
            for c in configuration.get("LambdaFunctionConfigurations", [])
            if c.get("Id") != notification_id(ctx.settings)
        ]
        if ours is not None:
            lambdas.append(ours)
        configuration["LambdaFunctionConfigurations"] = lambdas
        client = ctx.client("s3")
        # S3 validates the destination; a just-added invoke permission can take a moment to be visible.
        _retry(
            lambda: client.put_bucket_notification_configuration(
                Bucket=self.bucket, NotificationConfiguration=configuration
            ),
            lambda exc: error_code(exc) == "InvalidArgument" and "destination" in str(exc).lower(),
            PROPAGATION_SECONDS,
        )

    def create(self, ctx: Context) -> None:
        self._write(ctx, self._desired(ctx))

    def update(self, ctx: Context, current: Any, differences: list[str]) -> None:
        self._write(ctx, self._desired(ctx))

    def delete(self, ctx: Context, current: Any) -> None:
        self._write(ctx, None)

    def create_detail(self, ctx: Context) -> str:
        return f"s3:ObjectCreated:* → {ctx.settings.on_upload_function}"

    def describe(self, ctx: Context, current: dict[str, Any]) -> str:
        return f"{','.join(current.get('Events', []))} → {current.get('LambdaFunctionArn')}"


def resources(ctx: Context) -> list[Resource]:
    """Every resource, in dependency order."""
    s = ctx.settings
    raw = (s.orders_bucket, s.returns_bucket)
    items: list[Resource] = [
        Bucket(s.orders_bucket, versioned=True, browser_uploads=True),
        Bucket(s.returns_bucket, versioned=True, browser_uploads=True),
        Bucket(s.processed_bucket, versioned=False),
        Bucket(s.scripts_bucket, versioned=False),
        GlueDatabase(s.database),
        AthenaWorkgroup(s.athena_workgroup),
    ]
    for topic in (s.success_topic, s.failure_topic):
        items.append(Topic(topic))
        if s.notification_emails:
            items.append(EmailSubscriptions(topic, s.notification_emails))
    items += [Role(spec) for spec in iam.role_specs(s, ctx.arns)]
    items += [
        ScriptObject(glue_script_location(s), artifacts.glue_script_bytes()),
        ScriptObject(glue_extra_py_location(s), artifacts.build_glue_extra_py_zip()),
    ]
    lambdas = s.lambda_functions.items()
    items += [Function(name, module, artifacts.build_lambda_zip(module)) for module, name in lambdas]
    items += [GlueJob(s.glue_job), StateMachine(s.state_machine), InterruptedRunRule(s.interrupted_run_rule)]
    items += [InvokePermission(bucket) for bucket in raw]
    items += [BucketNotification(bucket) for bucket in raw]
    return items


# ---------------------------------------------------------------------------------------------- API


def _wrap(resource: Resource, step: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except DeployError:
        raise
    except (ClientError, BotoCoreError, NotImplementedError) as exc:
        raise DeployError(f"{resource.name}: {step} failed: {exc}") from exc


def _evaluate(ctx: Context, resource: Resource) -> tuple[Change, Any, list[str]]:
    current = _wrap(resource, "read", lambda: resource.read(ctx))
    if current is None:
        return Change(resource.name, "create", resource.create_detail(ctx)), None, []
    differences = _wrap(resource, "compare", lambda: resource.diff(ctx, current))
    if differences:
        return Change(resource.name, "update", "; ".join(differences)), current, differences
    return Change(resource.name, "none", "up to date"), current, []


def plan(settings: Settings) -> list[Change]:
    """What :func:`up` would do, resource by resource; changes nothing."""
    ctx = Context(settings)
    return [_evaluate(ctx, resource)[0] for resource in resources(ctx)]


def up(settings: Settings, progress: Progress | None = None) -> list[Change]:
    """Create or update every resource in dependency order; ``progress(change)`` after each one."""
    ctx = Context(settings)
    changes = []
    for resource in resources(ctx):
        change, current, differences = _evaluate(ctx, resource)
        if change.action == "create":
            _wrap(resource, "create", lambda r=resource: r.create(ctx))
        elif change.action == "update":
            _wrap(resource, "update", lambda r=resource, c=current, d=differences: r.update(ctx, c, d))
        changes.append(change)
        if progress is not None:
            progress(change)
    return changes


def status(settings: Settings) -> list[dict[str, Any]]:
    """What exists: ``{"resource", "exists", "detail"}`` per resource, in dependency order."""
    ctx = Context(settings)
    report = []
    for resource in resources(ctx):
        current = _wrap(resource, "read", lambda r=resource: r.read(ctx))
        if current is None:
            report.append({"resource": resource.name, "exists": False, "detail": "missing"})
            continue
        differences = _wrap(resource, "compare", lambda r=resource, c=current: r.diff(ctx, c))
        detail = resource.describe(ctx, current)
        if differences:
            detail = "; ".join(filter(None, [detail, "differs: " + ", ".join(differences)]))
        report.append({"resource": resource.name, "exists": True, "detail": detail})
    return report


def down_prompt(settings: Settings, delete_data: bool) -> str:
    """The question ``down`` asks a person (CLI and console)."""
    what = "everything, data included" if delete_data else "everything except the data"
    return f"This deletes {what} on {settings.target}. Type '{settings.target}' to go on."


def down_confirmed(settings: Settings, answer: str | None) -> bool:
    """``down`` goes on only when the person typed the target's name (spaces around it aside)."""
    return (answer or "").strip() == settings.target


def down(settings: Settings, delete_data: bool = False, progress: Progress | None = None) -> list[Change]:
    """Delete in reverse dependency order. Buckets and the Glue database hold data: they are kept unless
    ``delete_data`` (then the buckets are emptied, every object version included, and deleted). Asks
    nothing: the CLI confirms."""
    ctx = Context(settings)
    changes = []
    for resource in reversed(resources(ctx)):
        current = _wrap(resource, "read", lambda r=resource: r.read(ctx))
        if current is None:
            change = Change(resource.name, "none", "absent")
        elif resource.keeps_data and not delete_data:
            change = Change(resource.name, "none", "kept: holds data (--delete-data removes it)")
        else:
            _wrap(resource, "delete", lambda r=resource, c=current: r.delete(ctx, c))
            change = Change(resource.name, "delete")
        changes.append(change)
        if progress is not None:
            progress(change)
    return changes


def summary(changes: Iterable[Change]) -> str:
    """``"3 create, 1 update, 20 unchanged"``."""
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    parts = [f"{counts[a]} {a}" for a in ("create", "update", "delete") if counts.get(a)]
    return ", ".join([*parts, f"{counts.get('none', 0)} unchanged"])
