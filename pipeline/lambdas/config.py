"""Environment and AWS access shared by the handlers.

Every environment variable a handler reads is read here, in :meth:`LambdaConfig.from_env`. Each handler
needs only some of them: a missing one raises :class:`ConfigError` naming the variable when it is used.
boto3 clients use the default configuration (boto3 itself honours ``AWS_ENDPOINT_URL``). The shared AWS
reads live here too (listings, versions, job runs, a run's quality report); the console uses some of them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from . import runs

_ENV = {
    "orders_bucket": "ORDERS_BUCKET",
    "returns_bucket": "RETURNS_BUCKET",
    "orders_prefix": "ORDERS_PREFIX",
    "returns_prefix": "RETURNS_PREFIX",
    "state_machine_arn": "STATE_MACHINE_ARN",
    "glue_job_name": "GLUE_JOB_NAME",
    "output_path": "OUTPUT_PATH",
    "database": "DATABASE",
    "table": "TABLE",
    "max_quarantine_fraction": "MAX_QUARANTINE_FRACTION",
    "keep_runs": "KEEP_RUNS",
    "pairing_path": "PAIRING_PATH",
    "pairing_settle_seconds": "PAIRING_SETTLE_SECONDS",
    "console_url": "CONSOLE_URL",
    "glue_status_wait_seconds": "GLUE_STATUS_WAIT_SECONDS",
    "glue_poll_interval_seconds": "GLUE_POLL_INTERVAL_SECONDS",
    "glue_first_wait_seconds": "GLUE_FIRST_WAIT_SECONDS",
    "glue_first_wait_seconds_per_gb": "GLUE_FIRST_WAIT_SECONDS_PER_GB",
}
_FLOATS = ("max_quarantine_fraction", "pairing_settle_seconds", "glue_status_wait_seconds",
           "glue_poll_interval_seconds", "glue_first_wait_seconds",
           "glue_first_wait_seconds_per_gb")  # fmt: skip
# S3's answers for a key that does not exist (GetObject: NoSuchKey; HeadObject: 404).
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})


class ConfigError(RuntimeError):
    """A handler needs an environment variable that is missing or invalid."""


@dataclass(frozen=True)
class LambdaConfig:
    orders_bucket: str | None = None
    returns_bucket: str | None = None
    orders_prefix: str = ""
    returns_prefix: str = ""
    state_machine_arn: str | None = None
    glue_job_name: str | None = None
    output_path: str | None = None  # e.g. s3://ecommerce-processed/joined-data/
    database: str | None = None
    table: str | None = None
    # No defaults here: the deployer sets them from the settings (stack/settings.py), their one source.
    max_quarantine_fraction: float | None = None
    keep_runs: int | None = None
    pairing_path: str | None = None  # e.g. s3://ecommerce-processed/pairing/ (ADR 0004)
    pairing_settle_seconds: float | None = None
    console_url: str | None = None  # the emails' link to the run monitor; unset: no link
    # How long one Glue status check waits for the run to end, reading it at this interval (unset: one read).
    glue_status_wait_seconds: float | None = None
    glue_poll_interval_seconds: float | None = None
    # The wait before a run's first status check: this plus a rate per GB of input (unset: 0, no wait).
    glue_first_wait_seconds: float | None = None
    glue_first_wait_seconds_per_gb: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LambdaConfig:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in _ENV.items():
            raw = environ.get(var)
            if raw is None:
                continue
            if name in ("orders_prefix", "returns_prefix"):
                values[name] = raw  # a prefix is used exactly as given ("" = whole bucket)
            elif raw.strip():
                values[name] = raw.strip()  # empty counts as not set
        try:
            for name in _FLOATS:
                if name in values:
                    values[name] = float(values[name])
            if "keep_runs" in values:
                values["keep_runs"] = int(values["keep_runs"])
        except ValueError as exc:
            raise ConfigError(f"invalid number in the environment: {exc}") from None
        if not 0 <= values.get("max_quarantine_fraction", 0.0) <= 1:
            raise ConfigError("MAX_QUARANTINE_FRACTION must be between 0 and 1")
        if values.get("keep_runs", 1) < 1:
            raise ConfigError("KEEP_RUNS must be at least 1")
        if values.get("glue_status_wait_seconds", 0) < 0 or values.get("glue_poll_interval_seconds", 1) <= 0:
            raise ConfigError("GLUE_STATUS_WAIT_SECONDS must be ≥ 0 and GLUE_POLL_INTERVAL_SECONDS positive")
        if (
            values.get("glue_first_wait_seconds", 0) < 0
            or values.get("glue_first_wait_seconds_per_gb", 0) < 0
        ):
            raise ConfigError("GLUE_FIRST_WAIT_SECONDS and GLUE_FIRST_WAIT_SECONDS_PER_GB must be ≥ 0")
        return cls(**values)

    def require(self, *names: str) -> tuple[Any, ...]:
        """The values of the named fields; raises ConfigError listing every missing variable."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = [n for n in names if n not in fields]
        if unknown:
            raise AttributeError(f"LambdaConfig has no field {', '.join(unknown)}")
        missing = [_ENV[n] for n in names if getattr(self, n) in (None, "")]
        if missing:
            raise ConfigError(f"environment variable(s) not set: {', '.join(missing)}")
        return tuple(getattr(self, n) for n in names)

    def job_target(self) -> runs.JobTarget:
        """Where and how the Glue job publishes (OUTPUT_PATH, DATABASE, TABLE, MAX_QUARANTINE_FRACTION,
        KEEP_RUNS: each required)."""
        return runs.JobTarget(
            *self.require("output_path", "database", "table", "max_quarantine_fraction", "keep_runs")
        )

    def raw_prefixes(self) -> dict[str, str]:
        """Each raw bucket → its key prefix."""
        orders, returns = self.require("orders_bucket", "returns_bucket")
        return {orders: self.orders_prefix, returns: self.returns_prefix}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ("" for anything else). The Lambdas ship alone, so this is their
    copy of stack.aws.error_code."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def client(service: str) -> Any:
    return boto3.client(service)


def newest_in_bucket(s3: Any, bucket: str, prefix: str = "") -> runs.S3Object | None:
    """The newest data object under ``prefix`` in ``bucket``, over every page of the listing."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return runs.newest_listed(bucket, pages)


def latest_version(s3: Any, bucket: str, key: str) -> runs.S3Object | None:
    """``key`` as it is now, with its VersionId; None when it is gone. Needs s3:ListBucketVersions."""
    # The key itself sorts first among the keys it prefixes, and its latest version comes first.
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, Prefix=key, PaginationConfig={"PageSize": 10}
    )
    return runs.latest_version(bucket, key, pages)


def newest_raw_objects(cfg: LambdaConfig, s3: Any) -> tuple[runs.S3Object | None, runs.S3Object | None]:
    """(newest orders object, newest returns object); None where a bucket holds no data file."""
    orders_bucket, returns_bucket = cfg.require("orders_bucket", "returns_bucket")
    return (
        newest_in_bucket(s3, orders_bucket, cfg.orders_prefix),
        newest_in_bucket(s3, returns_bucket, cfg.returns_prefix),
    )


def job_runs(glue: Any, job_name: str) -> list[dict[str, Any]]:
    """Every run of the Glue job that GetJobRuns lists (all pages)."""
    pages = glue.get_paginator("get_job_runs").paginate(JobName=job_name)
    return [run for page in pages for run in page.get("JobRuns", [])]


def stop_job_runs(glue: Any, job_name: str, run: str) -> tuple[list[str], list[str]]:
    """BatchStopJobRun for the runs of ``run`` that have not ended: (stopped ids, errors Glue gave)."""
    going = runs.stoppable_runs(job_runs(glue, job_name), run)
    if not going:
        return [], []
    answer = glue.batch_stop_job_run(JobName=job_name, JobRunIds=going)
    stopped = [s["JobRunId"] for s in answer.get("SuccessfulSubmissions", [])]
    errors = [
        f"{e.get('JobRunId')}: {e.get('ErrorDetail', {}).get('ErrorMessage')}"
        for e in answer.get("Errors", [])
    ]
    return stopped, errors


def read_quality_report(s3: Any, output_path: str, run: str) -> dict[str, Any] | None:
    """The run's data-quality report as the Glue job wrote it (at ``runs.report_key``), or None when there
    is none (yet). Other errors raise, and so does a report that is not a JSON object. Needs s3:GetObject,
    and s3:ListBucket, without which S3 answers AccessDenied instead of NoSuchKey."""
    bucket, key = runs.report_key(output_path, run)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in _NOT_FOUND:
            return None
        raise
    report = json.loads(body)
    if not isinstance(report, dict):
        raise ValueError(f"s3://{bucket}/{key} is not a JSON object")
    return report
