"""Lambda ``check-glue-job-status`` (state CheckGlueJobStatus): where a Glue job run stands.

Input (the output of ecommerce-trigger-glue; extra keys are ignored)::

    {"job_name": str, "job_run_id": str, "run_id": str,
     "state": <the state data>, "counter": "$.glue_status.polls"}

Output (plain JSON: no datetimes)::

    {"state": raw JobRunState, "outcome": "SUCCEEDED"|"FAILED"|"RUNNING", "error": str|null,
     "duration_seconds": int, "started_on": ISO str|null, "completed_on": ISO str|null,
     "quality": null | {"rows_in", "rows_out", "returned_lines", "unmatched_returns", "quarantined_lines",
                        "published": bool, "warnings": [str], "report_uri": "s3://…/report.json"},
     "count": the number of this check (runs.next_count: the counter's value in the state, plus one)}

The quality summary is read from the run's report (config.read_quality_report) once the run has ended; it
is null while running or when the job wrote no report. With GLUE_STATUS_WAIT_SECONDS set, a running run is
read again every GLUE_POLL_INTERVAL_SECONDS until it ends or that long has passed (within the invocation's
time left): locally the check waits instead of the WaitForGlue state, which takes whole seconds only.
Requires glue:GetJobRun, s3:GetObject on the processed bucket (and s3:ListBucket, without which S3 answers
AccessDenied instead of NoSuchKey).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import config, runs
from .config import LambdaConfig

# The invocation keeps this much of its time for the report read and its answer.
SPARE_SECONDS = 5.0


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    left = context.get_remaining_time_in_millis() / 1000 - SPARE_SECONDS if context is not None else None
    cfg = LambdaConfig.from_env()
    return process(event, cfg, glue=config.client("glue"), s3=config.client("s3"), time_left=left)


def process(
    event: dict[str, Any],
    cfg: LambdaConfig,
    glue: Any,
    s3: Any,
    time_left: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    missing = [k for k in ("job_name", "job_run_id", "run_id") if not event.get(k)]
    if missing:
        raise ValueError(f"check_glue_status needs {', '.join(missing)} in its input")
    wait = min(cfg.glue_status_wait_seconds or 0.0, time_left if time_left is not None else float("inf"))
    job_run = read_until_ended(glue, event["job_name"], event["job_run_id"], wait,
                               cfg.glue_poll_interval_seconds or 1.0, sleep)  # fmt: skip
    state = job_run.get("JobRunState")
    outcome = runs.glue_outcome(state)
    ended = outcome != "RUNNING"
    return runs.jsonable(
        {
            "state": state,
            "outcome": outcome,
            "error": runs.glue_error(state, job_run.get("ErrorMessage")),
            "duration_seconds": int(job_run.get("ExecutionTime") or 0),
            "started_on": job_run.get("StartedOn"),
            "completed_on": job_run.get("CompletedOn") if ended else None,
            "quality": read_quality(cfg, s3, event["run_id"]) if ended else None,
            "count": runs.next_count(event),
        }
    )


def read_quality(cfg: LambdaConfig, s3: Any, run: str) -> dict[str, Any] | None:
    (output_path,) = cfg.require("output_path")
    report = config.read_quality_report(s3, output_path, run)
    return None if report is None else runs.quality_summary(report, runs.report_uri(output_path, run))


def read_until_ended(
    glue: Any, job_name: str, job_run_id: str, wait: float, interval: float, sleep: Callable[[float], None]
) -> dict[str, Any]:
    """The job run as GetJobRun reports it: once, or again every ``interval`` while it runs, for up to
    ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        job_run = glue.get_job_run(JobName=job_name, RunId=job_run_id)["JobRun"]
        left = deadline - time.monotonic()
        if runs.glue_outcome(job_run.get("JobRunState")) != "RUNNING" or left <= 0:
            return job_run
        sleep(min(interval, left))
