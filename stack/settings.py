"""One typed settings object for every name, endpoint and knob (the resources: docs/ARCHITECTURE.md).

Values come from defaults overridden by environment variables named ``ECOMMERCE_<FIELD>`` (upper case).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Literal

Target = Literal["local", "aws"]
LOCAL_ENDPOINT = "http://127.0.0.1:4566"


# Defaults that differ by target (a field left None takes its target's). AWS: a Glue run of 1–3 minutes is
# checked once or twice (90 s after its start, then every 90 s; one read each), so a successful run costs at
# most 15 state transitions (docs/COST.md, ADR 0023); local: no Wait, the check reads the local Glue run
# until it ends (ADR 0022).
TARGET_DEFAULTS: dict[str, dict[str, int | float]] = {
    # Floats written as floats: the Lambdas' environment is compared as text ("0" is not "0.0").
    "glue_first_wait_seconds": {"local": 0.0, "aws": 90.0},
    "glue_first_wait_seconds_per_gb": {"local": 0.0, "aws": 60.0},
    "glue_wait_seconds": {"local": 0, "aws": 90},
    "glue_status_wait_seconds": {"local": 5.0, "aws": 0.0},
    "glue_poll_interval_seconds": {"local": 0.1, "aws": 5.0},
}


@dataclass(frozen=True)
class Settings:
    target: Target = "local"
    region: str = "us-east-1"
    endpoint_url: str | None = None  # None on AWS; the local AWS endpoint when target == "local"
    # Applied to every bucket name on real AWS, where bucket names are global (e.g. the account id).
    bucket_prefix: str = ""
    bucket_suffix: str = ""

    orders_bucket_base: str = "ecommerce-orders-raw"
    returns_bucket_base: str = "ecommerce-returns-raw"
    processed_bucket_base: str = "ecommerce-processed"
    scripts_bucket_base: str = "ecommerce-glue-scripts"
    processed_prefix: str = "joined-data/"

    on_upload_function: str = "ecommerce-on-upload"
    check_files_function: str = "check-orders-returns-exist"
    trigger_glue_function: str = "ecommerce-trigger-glue"
    check_glue_status_function: str = "check-glue-job-status"
    # Stops the Glue run of an execution that gives up on it (timeout, error after the trigger).
    stop_glue_function: str = "ecommerce-stop-glue"
    # Parks a lone upload's execution on its task token until the counterpart's upload resumes it.
    await_counterpart_function: str = "ecommerce-await-counterpart"
    # Renders the subject and body of every notification email (pipeline/lambdas/emails.py).
    render_email_function: str = "ecommerce-render-email"
    glue_job: str = "ecommerce_join_data"
    state_machine: str = "ETL-StepFunction-Controller"
    success_topic: str = "etl-success-topic"
    failure_topic: str = "etl-failure-topic"
    # EventBridge: executions that end ABORTED or TIMED_OUT (no NotifyFailure state ran) → failure topic.
    interrupted_run_rule: str = "etl-run-interrupted"
    database: str = "ecommerce_analytics"
    table: str = "joined_data"
    athena_workgroup: str = "ecommerce"
    # Athena cancels a query of the workgroup that scans more than this (AWS minimum 10 MB).
    athena_bytes_scanned_cutoff: int = 10 * 2**30
    # The console refuses a query result file larger than this before reading it.
    query_result_max_bytes: int = 100 * 2**20

    # A lone upload waits this long for its counterpart (parked on a task token: no cost while it waits),
    # then one missing-export alert goes out (ADR 0004). The same default on AWS and locally.
    pairing_window_seconds: int = 86400
    # Within this long after a pair was run, a newer upload pairs with the other side's newest at once
    # (a burst or backfill: newest with newest); later, a new upload waits for its own counterpart.
    pairing_settle_seconds: int = 900
    # Where the pairing ledger lives in the processed bucket (uploads, last pair, parked executions).
    pairing_prefix: str = "pairing/"
    # The audit log in the processed bucket: one object per publish or rollback (who, which run, before).
    audit_prefix: str = "audit/"
    # Bounds the CheckForFiles loop (a resumed execution checks its files again).
    max_file_checks: int = 5
    # Step Functions waits really sleep, so they are deploy-time settings. None: the target's default
    # (TARGET_DEFAULTS). WaitForGlue waits the run's expected length before its first status check:
    # glue_first_wait_seconds plus glue_first_wait_seconds_per_gb per GB of input (the trigger Lambda's
    # estimate); WaitForGlueAgain waits glue_wait_seconds (a whole number ≥ 0, as Step Functions takes it)
    # before each further check. A check reads the Glue run every glue_poll_interval_seconds until it ends or
    # glue_status_wait_seconds have passed (0: one read). Locally the check does the waiting, at a sub-second
    # interval: the run is seen ending at once (ADR 0022).
    glue_first_wait_seconds: float | None = None
    glue_first_wait_seconds_per_gb: float | None = None
    glue_wait_seconds: int | None = None
    glue_status_wait_seconds: float | None = None
    glue_poll_interval_seconds: float | None = None
    max_glue_polls: int = 150
    retry_interval_seconds: int = 1

    glue_worker_type: str = "G.1X"
    glue_workers: int = 2
    # Glue auto-scaling: glue_workers becomes the most the run may use; it adds and removes executors by the
    # work pending (docs/COST.md, "Scaling out").
    glue_auto_scaling: bool = False
    # The run fails when more than this fraction of order lines is quarantined.
    max_quarantine_fraction: float = 0.01
    keep_runs: int = 5
    notification_emails: tuple[str, ...] = field(default_factory=tuple)
    admin_emails: tuple[str, ...] = field(default_factory=tuple)
    # With sign-in: who may use the console at all (emails and domains); empty = anyone who signs in.
    allowed_users: tuple[str, ...] = field(default_factory=tuple)
    # Without sign-in the AWS target is read-only; True opens it on purpose (ECOMMERCE_OPEN_CONSOLE=1).
    open_console: bool = False
    # Origins the console is served from: the raw buckets accept the browser's presigned part uploads from
    # them (CORS). Add the console's address when it runs elsewhere.
    console_origins: tuple[str, ...] = ("http://127.0.0.1:8501", "http://localhost:8501")
    # The console's address as people open it (e.g. https://etl.example.com): the emails link each run to
    # <console_url>/monitor?execution=<arn>. Empty: the emails carry no link. `make run` sets the local one.
    console_url: str = ""
    # The largest file the Upload page accepts: enforced when it issues part URLs and again on the bytes S3
    # received before it completes the upload.
    max_upload_bytes: int = 5 * 1024**3
    # Replaced or deleted raw files stay restorable (versioning) this many days, then S3 deletes them.
    raw_noncurrent_version_days: int = 90
    # Where the local AWS keeps its files (the notifications inbox); unused on AWS.
    local_state_dir: str = ".local-aws"
    # The local Athena (DuckDB) ends a query after this long, or when it needs more memory than this.
    local_query_timeout_seconds: float = 120.0
    local_query_memory_mb: int = 1024

    def __post_init__(self) -> None:
        for name, defaults in TARGET_DEFAULTS.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, defaults[self.target])  # frozen: set once, here
        if self.glue_wait_seconds < 0 or self.glue_wait_seconds != int(self.glue_wait_seconds):
            raise ValueError(f"glue_wait_seconds must be a whole number ≥ 0, not {self.glue_wait_seconds}")
        if self.glue_status_wait_seconds < 0 or self.glue_poll_interval_seconds <= 0:
            raise ValueError("glue_status_wait_seconds must be ≥ 0 and glue_poll_interval_seconds positive")
        if self.glue_first_wait_seconds < 0 or self.glue_first_wait_seconds_per_gb < 0:
            raise ValueError("glue_first_wait_seconds and glue_first_wait_seconds_per_gb must be ≥ 0")
        # Fail closed: zero or less is a mistake in the settings, not "no limit".
        for name in ("max_upload_bytes", "raw_noncurrent_version_days", "pairing_window_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.console_url and not self.console_url.lower().startswith(("http://", "https://")):
            raise ValueError(f"console_url must be an http(s) address, not {self.console_url!r}")

    def bucket(self, base: str) -> str:
        if self.target == "local":
            return base
        return f"{self.bucket_prefix}{base}{self.bucket_suffix}"

    @property
    def orders_bucket(self) -> str:
        return self.bucket(self.orders_bucket_base)

    @property
    def returns_bucket(self) -> str:
        return self.bucket(self.returns_bucket_base)

    @property
    def processed_bucket(self) -> str:
        return self.bucket(self.processed_bucket_base)

    @property
    def scripts_bucket(self) -> str:
        return self.bucket(self.scripts_bucket_base)

    @property
    def lambda_functions(self) -> dict[str, str]:
        """Each Lambda's module in pipeline/lambdas → its function name (artifacts and the deployer)."""
        return {
            "on_upload": self.on_upload_function,
            "check_files": self.check_files_function,
            "trigger_glue": self.trigger_glue_function,
            "check_glue_status": self.check_glue_status_function,
            "stop_glue": self.stop_glue_function,
            "await_counterpart": self.await_counterpart_function,
            "render_email": self.render_email_function,
        }

    @property
    def output_path(self) -> str:
        return f"s3://{self.processed_bucket}/{self.processed_prefix}"

    @property
    def pairing_path(self) -> str:
        return f"s3://{self.processed_bucket}/{self.pairing_prefix}"

    @property
    def audit_path(self) -> str:
        return f"s3://{self.processed_bucket}/{self.audit_prefix}"

    @property
    def athena_results_path(self) -> str:
        return f"s3://{self.processed_bucket}/athena-results/"

    def to_env(self) -> dict[str, str]:
        """The ``ECOMMERCE_*`` variables that make ``from_env`` rebuild these settings (for subprocesses)."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            env[f"ECOMMERCE_{f.name.upper()}"] = ",".join(value) if isinstance(value, tuple) else str(value)
        return env

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f"ECOMMERCE_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _coerce(f.type, raw)
        values.update(overrides)
        settings = cls(**values)
        if settings.target == "local" and settings.endpoint_url is None:
            settings = dataclasses.replace(
                settings, endpoint_url=environ.get("AWS_ENDPOINT_URL", LOCAL_ENDPOINT)
            )
        return settings


def _coerce(type_name: str, raw: str) -> object:
    type_name = type_name.removesuffix(" | None")
    if type_name == "int":
        return int(raw)
    if type_name == "float":
        return float(raw)
    if type_name == "bool":
        if raw.strip().lower() not in ("1", "true", "yes", "0", "false", "no", ""):
            raise ValueError(f"not a yes/no value: {raw!r} (use 1 or 0)")
        return raw.strip().lower() in ("1", "true", "yes")
    if type_name.startswith("tuple"):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    return raw
