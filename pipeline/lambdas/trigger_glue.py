"""Lambda ``ecommerce-trigger-glue`` (state TriggerGlueJob): start the Glue job for one batch.

Input::

    {"orders": S3Object, "returns": S3Object, "execution_name": str, "execution_arn": str}

Output::

    {"job_name": str, "job_run_id": str, "reused": bool, "run_id": str, "orders_path": "s3://…",
     "returns_path": "s3://…", "output_path": "s3://…/", "batch_time": "2026-11-25T18:30:00Z",
     "wait_seconds": int}

``wait_seconds`` is how long the state machine waits before the run's first status check: the run's expected
length from the input sizes (GLUE_FIRST_WAIT_SECONDS + GLUE_FIRST_WAIT_SECONDS_PER_GB per GB; unset: 0).

Idempotent on run_id (one per execution): when a run for it is going or has succeeded (GetJobRuns,
``--run_id`` argument), that run is returned (``reused``) instead of starting a second writer of the same
run prefix, so a retry after a Lambda timeout is safe. Requires glue:StartJobRun and glue:GetJobRuns.

Every failure raises, so the state machine's Retry/Catch see it: throttling and
ConcurrentRunsExceededException raise ``TransientError`` (retry); anything else propagates as it is
(e.g. ``EntityNotFoundException`` for a missing job, ``ConfigError``, ``ValueError`` for a bad input).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from . import config, runs
from .config import LambdaConfig

TRANSIENT_CODES = frozenset(
    {
        "ConcurrentRunsExceededException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(event, LambdaConfig.from_env(), glue=config.client("glue"))


def process(event: dict[str, Any], cfg: LambdaConfig, glue: Any) -> dict[str, Any]:
    (job_name,) = cfg.require("glue_job_name")
    orders, returns, run = runs.batch_of(event, "trigger_glue")
    arguments = runs.glue_arguments(cfg.job_target(), orders, returns, run, event.get("execution_arn"))
    # Idempotent on run_id: a retry (after a Lambda timeout, say) takes over the run already started.
    existing = runs.reusable_run(config.job_runs(glue, job_name), run)
    job_run_id = existing["Id"] if existing is not None else start(glue, job_name, arguments)
    return {
        "job_name": job_name,
        "job_run_id": job_run_id,
        "reused": existing is not None,
        "run_id": run,
        "orders_path": orders.uri,
        "returns_path": returns.uri,
        "output_path": arguments["--output_path"],
        "batch_time": arguments["--batch_time"],
        "wait_seconds": runs.first_glue_wait(
            orders.size + returns.size,
            cfg.glue_first_wait_seconds or 0,
            cfg.glue_first_wait_seconds_per_gb or 0,
        ),
    }


def start(glue: Any, job_name: str, arguments: dict[str, str]) -> str:
    try:
        return glue.start_job_run(JobName=job_name, Arguments=arguments)["JobRunId"]
    except ClientError as exc:
        code = config.error_code(exc)
        if code in TRANSIENT_CODES:
            raise runs.TransientError(f"{code}: could not start Glue job {job_name}: {exc}") from exc
        raise
