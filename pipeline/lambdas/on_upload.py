"""Lambda ``ecommerce-on-upload``: an S3 upload to a raw bucket starts, resumes or supersedes a run.

Every upload is recorded in the pairing ledger with its upload time (the event's ``eventTime``, which has
milliseconds, and ``sequencer``), so "newest" follows the upload order, never the key name (ADR 0004).
Then runs.decide says whether the newest orders and returns make a pair or the newest upload waits:

- a pair: an execution parked on its task token for one of the two files is resumed with the pair
  (SendTaskSuccess); else one that is starting for one of them will find it when it parks ("attached");
  else ``batch-<keys, ETags>`` starts (a deterministic name: duplicate events start it once);
- a wait: ``awaiting-<side>-<key, ETag>`` starts and parks until its counterpart's upload resumes it.

Either way, every other parked execution is resumed as superseded, naming the run that takes over.

Output, one of::

    {"started": true,  "reason": "started",   "execution_name": str, "execution_arn": str, ...}
    {"started": false, "reason": "resumed",   "execution_name": str, "execution_arn": str, ...}
    {"started": false, "reason": "attached",  "execution_name": str, "execution_arn": str, ...}
    {"started": false, "reason": "duplicate", "execution_name": str, "execution_arn": str, "status": ...}
    {"started": false, "reason": "ignored",   "execution_name": null}   # no record for a raw data file
    {"started": false, "reason": "no_files",  "execution_name": null}   # the uploaded object is gone

with ``"superseded": [execution names]`` where any were. Requires s3:ListBucket on both raw buckets, the
pairing prefix of the processed bucket (get, put, delete, list), states:StartExecution,
states:DescribeExecution and states:SendTaskSuccess.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from . import config, pairing, runs
from .config import LambdaConfig


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cfg = LambdaConfig.from_env()
    return process(event, cfg, s3=config.client("s3"), sfn=config.client("stepfunctions"))


def process(
    event: dict[str, Any], cfg: LambdaConfig, s3: Any, sfn: Any, now: datetime | None = None
) -> dict[str, Any]:
    (state_machine_arn,) = cfg.require("state_machine_arn")
    now = now or datetime.now(UTC)
    records = runs.upload_records(event, cfg.raw_prefixes())
    if not records:
        return {"started": False, "reason": "ignored", "execution_name": None}
    sides = dict(zip(runs.SIDES, cfg.require("orders_bucket", "returns_bucket"), strict=True))
    for record in records:
        uploaded = pairing.upload_from_record(record, s3, now)
        if uploaded is not None:
            pairing.record_upload(cfg, s3, runs.side_of(uploaded.bucket, sides), uploaded)
    decision = pairing.decision(cfg, s3, now)
    if decision.orders is None and decision.returns is None:
        return {"started": False, "reason": "no_files", "execution_name": None}
    waiting = pairing.parked(cfg, s3)
    result = already_run(cfg, s3, sfn, decision) if decision.pair else None
    if result is None and decision.pair:
        result = take_pair(cfg, s3, sfn, decision, waiting, now)
    if result is None:
        result = start(cfg, s3, sfn, decision, records[0], now)
    superseded = supersede(cfg, s3, sfn, decision, waiting, result["execution_name"])
    if superseded:
        result["superseded"] = superseded
    return result


def _owns(record: dict[str, Any], decision: runs.Decision) -> bool:
    """Whether a parked execution waits with one of the decision's files."""
    try:
        lone = runs.S3Object.from_dict(record.get("lone") or {})
    except ValueError:
        return False
    return runs.same_upload(lone, decision.orders) or runs.same_upload(lone, decision.returns)


def already_run(cfg: LambdaConfig, s3: Any, sfn: Any, decision: runs.Decision) -> dict[str, Any] | None:
    """A duplicate when the pair is the last pair and its execution exists: the same bytes uploaded
    again are the same batch, whether it ran as ``batch-…`` or in a resumed ``awaiting-…`` execution."""
    (state_machine_arn,) = cfg.require("state_machine_arn")
    last = pairing.last_pair(cfg, s3)
    if last is None or not last.execution_name:
        return None
    if not (
        runs.same_upload(last.orders, decision.orders) and runs.same_upload(last.returns, decision.returns)
    ):
        return None
    arn = runs.execution_arn(state_machine_arn, last.execution_name)
    status = execution_status(sfn, arn)
    return _duplicate(last.execution_name, arn, status) if status is not None else None


def take_pair(
    cfg: LambdaConfig,
    s3: Any,
    sfn: Any,
    decision: runs.Decision,
    waiting: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any] | None:
    """Hand the pair to an execution that waits with one of its files; None when there is none."""
    (state_machine_arn,) = cfg.require("state_machine_arn")
    for record in waiting:
        if not _owns(record, decision):
            continue
        name = record["execution_name"]
        pairing.set_last_pair(cfg, s3, decision.last_pair(now, name))
        if pairing.resume(sfn, record["task_token"], pairing.paired_output(decision)):
            pairing.unpark(cfg, s3, name)
            arn = runs.execution_arn(state_machine_arn, name)
            return {"started": False, "reason": "resumed", "execution_name": name, "execution_arn": arn}
        pairing.unpark(cfg, s3, name)  # a stale record: that execution no longer waits
    # One that is starting for one of the files parks soon, and finds the pair itself then.
    for name in (runs.execution_name(decision.orders, None), runs.execution_name(None, decision.returns)):
        arn = runs.execution_arn(state_machine_arn, name)
        if execution_status(sfn, arn) == "RUNNING":
            pairing.set_last_pair(cfg, s3, decision.last_pair(now, name))
            return {"started": False, "reason": "attached", "execution_name": name, "execution_arn": arn}
    return None


def start(
    cfg: LambdaConfig,
    s3: Any,
    sfn: Any,
    decision: runs.Decision,
    trigger: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    (state_machine_arn,) = cfg.require("state_machine_arn")
    name = pairing.run_name(decision)
    arn = runs.execution_arn(state_machine_arn, name)
    # Checked first because StartExecution with the same name and the same input as a RUNNING execution
    # succeeds and returns that execution (idempotent) instead of raising ExecutionAlreadyExists.
    status = execution_status(sfn, arn)
    if status is not None:
        return _duplicate(name, arn, status)
    if decision.pair:
        pairing.set_last_pair(cfg, s3, decision.last_pair(now, name))
    execution_input = {
        "orders": runs.object_dict(decision.orders),
        "returns": runs.object_dict(decision.returns),
        "trigger": {k: trigger[k] for k in ("bucket", "key", "event_name")},
    }
    try:
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input, sort_keys=True)
        )
    except ClientError as exc:
        if config.error_code(exc) == "ExecutionAlreadyExists":
            return _duplicate(name, arn, None)
        raise
    return {
        "started": True,
        "reason": "started",
        "execution_name": name,
        "execution_arn": response["executionArn"],
    }


def supersede(
    cfg: LambdaConfig,
    s3: Any,
    sfn: Any,
    decision: runs.Decision,
    waiting: list[dict[str, Any]],
    taken_by: str,
) -> list[str]:
    """Resume every parked execution that the decision leaves out as superseded by ``taken_by``."""
    superseded = []
    for record in waiting:
        name = record["execution_name"]
        if name == taken_by or _owns(record, decision):
            continue
        if pairing.resume(sfn, record["task_token"], pairing.superseded_output(taken_by)):
            superseded.append(name)
        pairing.unpark(cfg, s3, name)
    return superseded


def execution_status(sfn: Any, arn: str) -> str | None:
    """The execution's status (RUNNING, SUCCEEDED, FAILED, …) or None when there is no such execution."""
    try:
        return sfn.describe_execution(executionArn=arn)["status"]
    except ClientError as exc:
        if config.error_code(exc) == "ExecutionDoesNotExist":
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
