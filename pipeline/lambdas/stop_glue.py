"""Lambda ``ecommerce-stop-glue`` (state StopGlueJob): stop the Glue job run of an abandoned execution.

The state machine calls it when it gives up on a run after TriggerGlueJob (the Glue poll timed out, or
TriggerGlueJob or CheckGlueJobStatus failed), so that the run never publishes later. The run id is
derived as TriggerGlueJob derives it, so a run started by an attempt that then failed is found too.

Input (what TriggerGlueJob gets)::

    {"orders": S3Object, "returns": S3Object, "execution_name": str}

Output::

    {"job_name": str, "run_id": str, "stopped": [job run id], "errors": [str]}

``errors`` lists the runs Glue would not stop (for example one that ended meanwhile); they do not fail
the state. Requires glue:GetJobRuns and glue:BatchStopJobRun on the job.
"""

from __future__ import annotations

from typing import Any

from . import config, runs
from .config import LambdaConfig


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process(event, LambdaConfig.from_env(), glue=config.client("glue"))


def process(event: dict[str, Any], cfg: LambdaConfig, glue: Any) -> dict[str, Any]:
    (job_name,) = cfg.require("glue_job_name")
    _orders, _returns, run = runs.batch_of(event, "stop_glue")
    stopped, errors = config.stop_job_runs(glue, job_name, run)
    return {"job_name": job_name, "run_id": run, "stopped": stopped, "errors": errors}
