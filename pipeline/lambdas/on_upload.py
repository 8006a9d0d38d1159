"""Lambda ``ecommerce-on-upload``: an S3 upload to a raw bucket starts the ETL state machine.

The execution name is derived from the newest orders and returns objects (runs.execution_name), so
duplicate S3 events and the two uploads of one batch start one execution.

Input: an S3 ObjectCreated notification (one or more Records). Output, one of::

    {"started": true,  "reason": "started",   "execution_name": str, "execution_arn": str}
    {"started": false, "reason": "duplicate", "execution_name": str, "execution_arn": str, "status": str|null}
    {"started": false, "reason": "attached",  "execution_name": str, "execution_arn": str}
    {"started": false, "reason": "ignored",   "execution_name": null}   # no record for a raw data file
    {"started": false, "reason": "no_files",  "execution_name": null}   # the uploaded object is gone

"attached": a RUNNING execution started for the other file alone is waiting for this one and will pick it
up. Requires s3:ListBucket on both raw buckets, states:StartExecution and states:DescribeExecution.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from . import config, runs
from .config import LambdaConfig


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cfg = LambdaConfig.from_env()
    return process(event, cfg, s3=config.client("s3"), sfn=config.client("stepfunctions"))


def process(event: dict[str, Any], cfg: LambdaConfig, s3: Any, sfn: Any) -> dict[str, Any]:
    (state_machine_arn,) = cfg.require("state_machine_arn")
    records = runs.upload_records(event, cfg.raw_prefixes())
    if not records:
        return {"started": False, "reason": "ignored", "execution_name": None}
    orders, returns = config.newest_raw_objects(cfg, s3)
    if orders is None and returns is None:
        return {"started": False, "reason": "no_files", "execution_name": None}

    if orders is not None and returns is not None:
        # An execution started when only one file existed waits for the other one (CheckForFiles).
        for waiting in (runs.execution_name(orders, None), runs.execution_name(None, returns)):
            arn = runs.execution_arn(state_machine_arn, waiting)
            if execution_status(sfn, arn) == "RUNNING":
                return {
                    "started": False,
                    "reason": "attached",
                    "execution_name": waiting,
                    "execution_arn": arn,
                }

    name = runs.execution_name(orders, returns)
    arn = runs.execution_arn(state_machine_arn, name)
    # Checked first because StartExecution with the same name and the same input as a RUNNING execution
    # succeeds and returns that execution (idempotent) instead of raising ExecutionAlreadyExists.
    status = execution_status(sfn, arn)
    if status is not None:
        return _duplicate(name, arn, status)
    execution_input = {
        "orders": runs.object_dict(orders),
        "returns": runs.object_dict(returns),
        "trigger": records[0],
    }
    try:
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input, sort_keys=True)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            return _duplicate(name, arn, None)
        raise
    return {
        "started": True,
        "reason": "started",
        "execution_name": name,
        "execution_arn": response["executionArn"],
    }


def execution_status(sfn: Any, arn: str) -> str | None:
    """The execution's status (RUNNING, SUCCEEDED, FAILED, …) or None when there is no such execution."""
    try:
        return sfn.describe_execution(executionArn=arn)["status"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise


def _duplicate(name: str, arn: str, status: str | None) -> dict[str, Any]:
    return {
        "started": False,
        "reason": "duplicate",
        "execution_name": name,
        "execution_arn": arn,
        "status": status,
    }
