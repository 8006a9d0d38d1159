"""IAM trust and inline policy documents, generated from the settings and the account's ARNs.

Pure functions (no AWS calls). Least privilege: every statement names its resources; the only wildcards are
suffixes that AWS requires to address a family of sub-resources that cannot be known in advance (objects
under a key prefix, the executions of one state machine, the log streams of one log group, the versions of
one function). No managed policy is attached to any role.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stack.settings import Settings

VERSION = "2012-10-17"
POLICY_NAME = "least-privilege"

LAMBDA_SERVICE = "lambda.amazonaws.com"
GLUE_SERVICE = "glue.amazonaws.com"
STATES_SERVICE = "states.amazonaws.com"

# Glue writes driver/executor output, errors and continuous logs to these log groups.
GLUE_LOG_GROUPS = ("/aws-glue/jobs/output", "/aws-glue/jobs/error", "/aws-glue/jobs/logs-v2")


@dataclass(frozen=True)
class Arns:
    """Every ARN the pipeline uses, computed from names (so a plan can name resources not created yet)."""

    settings: Settings
    account: str
    partition: str = "aws"

    @property
    def region(self) -> str:
        return self.settings.region

    def _regional(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def function(self, name: str) -> str:
        return self._regional("lambda", f"function:{name}")

    def log_group(self, name: str) -> str:
        return self._regional("logs", f"log-group:{name}")

    def lambda_log_group(self, function: str) -> str:
        return self.log_group(f"/aws/lambda/{function}")

    @property
    def state_machine(self) -> str:
        return self._regional("states", f"stateMachine:{self.settings.state_machine}")

    @property
    def executions(self) -> str:
        """All executions of the state machine."""
        return self._regional("states", f"execution:{self.settings.state_machine}:*")

    def topic(self, name: str) -> str:
        return self._regional("sns", name)

    def event_rule(self, name: str) -> str:
        return self._regional("events", f"rule/{name}")

    @property
    def success_topic(self) -> str:
        return self.topic(self.settings.success_topic)

    @property
    def failure_topic(self) -> str:
        return self.topic(self.settings.failure_topic)

    @property
    def glue_job(self) -> str:
        return self._regional("glue", f"job/{self.settings.glue_job}")

    @property
    def glue_catalog(self) -> str:
        return self._regional("glue", "catalog")

    @property
    def glue_database(self) -> str:
        return self._regional("glue", f"database/{self.settings.database}")

    @property
    def glue_table(self) -> str:
        return self._regional("glue", f"table/{self.settings.database}/{self.settings.table}")

    def bucket(self, name: str) -> str:
        return f"arn:{self.partition}:s3:::{name}"

    def objects(self, bucket: str, prefix: str = "") -> str:
        return f"arn:{self.partition}:s3:::{bucket}/{prefix}*"

    def role(self, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{name}"


@dataclass(frozen=True)
class RoleSpec:
    name: str
    service: str  # the principal that assumes the role
    description: str
    trust: dict[str, Any]
    policy: dict[str, Any]
    policy_name: str = POLICY_NAME


# ------------------------------------------------------------------------------------------- names


def lambda_role_name(function: str) -> str:
    return f"{function}-role"


def glue_role_name(settings: Settings) -> str:
    return f"{settings.glue_job}-glue-role"


def states_role_name(settings: Settings) -> str:
    return f"{settings.state_machine}-role"


def glue_temp_prefix() -> str:
    return "glue-temp/"


def glue_scripts_prefix() -> str:
    return "glue/"


# ---------------------------------------------------------------------------------------- documents


def _statement(sid: str, actions: Iterable[str], resources: Iterable[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources), **extra}


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": list(statements)}


def trust_policy(service: str, account: str | None = None) -> dict[str, Any]:
    """``service`` may assume the role; with ``account``, only on behalf of that account."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return {"Version": VERSION, "Statement": [statement]}


def _lambda_logs(arns: Arns, function: str) -> dict[str, Any]:
    group = arns.lambda_log_group(function)
    return _statement(
        "OwnLogGroup",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        [group, f"{group}:*"],
    )


def _raw_buckets(settings: Settings, arns: Arns) -> list[str]:
    return [arns.bucket(settings.orders_bucket), arns.bucket(settings.returns_bucket)]


def _pairing_ledger(settings: Settings, arns: Arns) -> list[dict[str, Any]]:
    """The pairing ledger (ADR 0004): objects under the pairing prefix only, and listing only that prefix."""
    processed = settings.processed_bucket
    return [
        _statement(
            "PairingLedger",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [arns.objects(processed, settings.pairing_prefix)],
        ),
        _statement(
            "ListPairingLedger",
            ["s3:ListBucket"],
            [arns.bucket(processed)],
            Condition={"StringLike": {"s3:prefix": [f"{settings.pairing_prefix}*"]}},
        ),
    ]


def _resume_parked(arns: Arns) -> dict[str, Any]:
    # SendTask* authorise on the state machine whose execution holds the token.
    return _statement("ResumeParkedExecutions", ["states:SendTaskSuccess"], [arns.state_machine])


def on_upload_policy(settings: Settings, arns: Arns) -> dict[str, Any]:
    return _document(
        _statement("ListRawBuckets", ["s3:ListBucket"], _raw_buckets(settings, arns)),
        _statement("StartExecution", ["states:StartExecution"], [arns.state_machine]),
        _statement("DescribeExecution", ["states:DescribeExecution"], [arns.executions]),
        *_pairing_ledger(settings, arns),
        _resume_parked(arns),
        _lambda_logs(arns, settings.on_upload_function),
    )


def await_counterpart_policy(settings: Settings, arns: Arns) -> dict[str, Any]:
    return _document(
        # The fallback for uploads from before the ledger: the newest object by LastModified.
        _statement("ListRawBuckets", ["s3:ListBucket"], _raw_buckets(settings, arns)),
        *_pairing_ledger(settings, arns),
        # Its own token, when the counterpart arrived while it was on its way to park.
        _resume_parked(arns),
        _lambda_logs(arns, settings.await_counterpart_function),
    )


def check_files_policy(settings: Settings, arns: Arns) -> dict[str, Any]:
    return _document(
        _statement("ListRawBuckets", ["s3:ListBucket"], _raw_buckets(settings, arns)),
        # The version of each file it hands on (the Glue job reads exactly that version).
        _statement("ListRawVersions", ["s3:ListBucketVersions"], _raw_buckets(settings, arns)),
        # An admin rerun with {} takes the newest upload of each side from the ledger (read only).
        _statement(
            "ReadPairingLedger",
            ["s3:GetObject"],
            [arns.objects(settings.processed_bucket, settings.pairing_prefix)],
        ),
        _statement(
            "ListPairingLedger",
            ["s3:ListBucket"],
            [arns.bucket(settings.processed_bucket)],
            Condition={"StringLike": {"s3:prefix": [f"{settings.pairing_prefix}*"]}},
        ),
        _lambda_logs(arns, settings.check_files_function),
    )


def trigger_glue_policy(settings: Settings, arns: Arns) -> dict[str, Any]:
    return _document(
        _statement("StartJobRun", ["glue:StartJobRun"], [arns.glue_job]),
        # A retried trigger looks for the run it may have started already (idempotent on run_id).
        _statement("FindJobRuns", ["glue:GetJobRuns"], [arns.glue_job]),
        _lambda_logs(arns, settings.trigger_glue_function),
    )


def check_glue_status_policy(settings: Settings, arns: Arns) -> dict[str, Any]:
    processed = settings.processed_bucket
    return _document(
        _statement("GetJobRun", ["glue:GetJobRun"], [arns.glue_job]),
        _statement("ReadReports", ["s3:GetObject"], [arns.objects(processed, settings.processed_prefix)]),
        # Without ListBucket, S3 answers AccessDenied instead of NoSuchKey for a missing report.
        _statement("ListProcessed", ["s3:ListBucket"], [arns.bucket(processed)]),
        _lambda_logs(arns, settings.check_glue_status_function),
    )


def stop_glue_policy(settings: Settings, arns: Arns) -> dict[str, Any]:
    return _document(
        _statement("FindJobRuns", ["glue:GetJobRuns"], [arns.glue_job]),
        _statement("StopJobRuns", ["glue:BatchStopJobRun"], [arns.glue_job]),
        _lambda_logs(arns, settings.stop_glue_function),
    )


def render_email_policy(settings: Settings, arns: Arns) -> dict[str, Any]:
    # Pure rendering of what the state machine hands it: no AWS access but its own logs.
    return _document(_lambda_logs(arns, settings.render_email_function))


def glue_job_policy(settings: Settings, arns: Arns) -> dict[str, Any]:
    scripts, processed = settings.scripts_bucket, settings.processed_bucket
    raw = [settings.orders_bucket, settings.returns_bucket]
    log_groups = [arns.log_group(group) for group in GLUE_LOG_GROUPS]
    return _document(
        # GetObjectVersion: the run reads (copies) the versions CheckForFiles saw.
        _statement(
            "ReadRawObjects",
            ["s3:GetObject", "s3:GetObjectVersion"],
            [arns.objects(bucket) for bucket in raw],
        ),
        # Spark's S3 file system lists to resolve paths (and S3 answers 403, not 404, without it).
        _statement("ListRawBuckets", ["s3:ListBucket"], [arns.bucket(bucket) for bucket in raw]),
        _statement("ReadScripts", ["s3:GetObject"], [arns.objects(scripts, glue_scripts_prefix())]),
        _statement(
            "TempDir",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [arns.objects(scripts, glue_temp_prefix())],
        ),
        _statement("ListScripts", ["s3:ListBucket"], [arns.bucket(scripts)]),
        _statement(
            "WriteRuns",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [arns.objects(processed, settings.processed_prefix)],
        ),
        # The audit log is append-only for the job: it adds entries, it cannot read, change or delete them.
        _statement("AppendAuditLog", ["s3:PutObject"], [arns.objects(processed, settings.audit_prefix)]),
        _statement("ListProcessed", ["s3:ListBucket"], [arns.bucket(processed)]),
        _statement(
            "PublishTable",
            ["glue:GetDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable"],
            [arns.glue_catalog, arns.glue_database, arns.glue_table],
        ),
        # Publishes only while the execution that started it runs (a Stop may land during the trigger).
        _statement("OwnExecution", ["states:DescribeExecution"], [arns.executions]),
        # Before publishing, the run asks whether it has been told to stop (BatchStopJobRun).
        _statement("OwnJobRun", ["glue:GetJobRun"], [arns.glue_job]),
        _statement(
            "GlueLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            [*log_groups, *(f"{group}:*" for group in log_groups)],
        ),
    )


def state_machine_policy(settings: Settings, arns: Arns) -> dict[str, Any]:
    functions = [
        arns.function(name)
        for name in (
            settings.check_files_function,
            settings.trigger_glue_function,
            settings.check_glue_status_function,
            settings.stop_glue_function,
            settings.await_counterpart_function,
            settings.render_email_function,
        )
    ]
    return _document(
        # "<arn>:*" covers qualified invocations (versions and aliases) of the same functions.
        _statement("InvokeTasks", ["lambda:InvokeFunction"], [*functions, *(f"{f}:*" for f in functions)]),
        _statement("Notify", ["sns:Publish"], [arns.success_topic, arns.failure_topic]),
    )


_LAMBDA_POLICIES = {
    "on_upload_function": on_upload_policy,
    "check_files_function": check_files_policy,
    "trigger_glue_function": trigger_glue_policy,
    "check_glue_status_function": check_glue_status_policy,
    "stop_glue_function": stop_glue_policy,
    "await_counterpart_function": await_counterpart_policy,
    "render_email_function": render_email_policy,
}


def role_specs(settings: Settings, arns: Arns) -> list[RoleSpec]:
    """The nine roles: one per Lambda, one for the Glue job, one for the state machine."""
    roles = [
        (
            lambda_role_name(getattr(settings, field)),
            LAMBDA_SERVICE,
            f"Lambda {getattr(settings, field)}",
            policy,
        )
        for field, policy in _LAMBDA_POLICIES.items()
    ]
    roles.append((glue_role_name(settings), GLUE_SERVICE, f"Glue job {settings.glue_job}", glue_job_policy))
    roles.append(
        (
            states_role_name(settings),
            STATES_SERVICE,
            f"State machine {settings.state_machine}",
            state_machine_policy,
        )
    )
    return [
        RoleSpec(
            name=name,
            service=service,
            description=description,
            # Only Step Functions' trust is pinned to the account (aws:SourceAccount).
            trust=trust_policy(service, arns.account if service == STATES_SERVICE else None),
            policy=make_policy(settings, arns),
        )
        for name, service, description, make_policy in roles
    ]


# ------------------------------------------------------------------------------------------ helpers


def _as_sorted_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return sorted(value, key=lambda item: json.dumps(item, sort_keys=True))
    return value


def _canonical_statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key in ("Action", "NotAction", "Resource", "NotResource"):
            out[key] = _as_sorted_list(value)
        elif key in ("Principal", "NotPrincipal") and isinstance(value, Mapping):
            out[key] = {k: _as_sorted_list(v) for k, v in value.items()}
        elif key == "Condition" and isinstance(value, Mapping):
            out[key] = {
                op: {k: _as_sorted_list(v) for k, v in (clauses or {}).items()}
                for op, clauses in value.items()
            }
        else:
            out[key] = value
    return out


def canonical(document: Mapping[str, Any] | str) -> dict[str, Any]:
    """A policy document in a form where equivalent documents compare equal (str vs one-item list,
    list order). Accepts the JSON text or the parsed document (IAM returns either, URL-decoded)."""
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    return {**document, "Statement": [_canonical_statement(s) for s in statements]}


def statement_resources(document: Mapping[str, Any]) -> list[str]:
    """Every Resource of every statement, in order."""
    return [r for s in canonical(document)["Statement"] for r in s.get("Resource", [])]
