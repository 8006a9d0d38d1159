"""Lambda ``ecommerce-trigger-glue`` (state TriggerGlueJob): start the Glue job for one batch.

Input::

    {"orders": S3Object, "returns": S3Object, "execution_name": str}

Output::

    {"job_name": str, "job_run_id": str, "run_id": str, "orders_path": "s3://…", "returns_path": "s3://…",
     "output_path": "s3://…/", "batch_time": "2026-11-25T18:30:00Z"}

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
    orders = runs.as_object(event.get("orders"))
    returns = runs.as_object(event.get("returns"))
    name = event.get("execution_name")
    if orders is None or returns is None:
        raise ValueError("trigger_glue needs both 'orders' and 'returns' objects in its input")
    if not name:
        raise ValueError("trigger_glue needs 'execution_name' in its input")
    batch = runs.batch_time(orders, returns)
    run = runs.run_id(batch, name)
    arguments = runs.glue_arguments(cfg, orders, returns, run)
    try:
        response = glue.start_job_run(JobName=job_name, Arguments=arguments)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in TRANSIENT_CODES:
            raise runs.TransientError(f"{code}: could not start Glue job {job_name}: {exc}") from exc
        raise
    return {
        "job_name": job_name,
        "job_run_id": response["JobRunId"],
        "run_id": run,
        "orders_path": orders.uri,
        "returns_path": returns.uri,
        "output_path": arguments["--output_path"],
        "batch_time": arguments["--batch_time"],
    }
