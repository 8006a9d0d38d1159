"""Lambda ``ecommerce-await-counterpart`` (state AwaitCounterpart, ``lambda:invoke.waitForTaskToken``): park
a lone upload's execution until its counterpart is uploaded (ADR 0004).

It stores the task token under ``PAIRING_PATH/waiting/<execution name>.json``; the counterpart's upload
(ecommerce-on-upload) resumes the execution with SendTaskSuccess. Waiting costs no state transitions: the
state's TimeoutSecondsPath (what is left of the pairing window) ends the wait with States.Timeout.

Then it looks at the uploads once more, because the counterpart may have been uploaded while this
execution was on its way here (that upload found nothing parked): if the newest uploads now make a pair
with this file, or leave it out, it answers its own token at once.

Input::

    {"task_token": str, "execution_name": str, "files": {"orders": S3Object|null, "returns": ...}}

Output (the Lambda's own; the state's result is what SendTaskSuccess sends)::

    {"parked": bool, "answered": "paired"|"superseded"|null}

Requires s3 get/put/delete/list on the pairing prefix, s3:ListBucket on the raw buckets and
states:SendTaskSuccess.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from . import config, pairing, runs
from .config import LambdaConfig


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cfg = LambdaConfig.from_env()
    return process(event, cfg, s3=config.client("s3"), sfn=config.client("stepfunctions"))


def process(
    event: dict[str, Any], cfg: LambdaConfig, s3: Any, sfn: Any, now: datetime | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    token, name = event.get("task_token"), event.get("execution_name")
    files = event.get("files") or {}
    orders, returns = runs.as_object(files.get("orders")), runs.as_object(files.get("returns"))
    lone = orders or returns
    if not token or not name or lone is None or (orders is not None and returns is not None):
        raise ValueError("await_counterpart needs task_token, execution_name and exactly one file")
    waiting_for = "returns" if orders is not None else "orders"
    pairing.park(
        cfg,
        s3,
        {
            "task_token": token,
            "execution_name": name,
            "lone": lone.to_dict(),
            "waiting_for": waiting_for,
            "parked_at": runs.iso_utc_ms(now),
        },
    )
    decision = pairing.decision(cfg, s3, now)
    if decision.pair and (
        runs.same_upload(lone, decision.orders) or runs.same_upload(lone, decision.returns)
    ):
        pairing.set_last_pair(cfg, s3, decision.last_pair(now, name))
        answered = "paired" if pairing.resume(sfn, token, pairing.paired_output(decision)) else None
    elif decision.pair or not runs.same_upload(lone, decision.lone):
        # A newer upload of this side, or a pair without this file: another run takes over.
        by = pairing.run_name(decision)
        answered = "superseded" if pairing.resume(sfn, token, pairing.superseded_output(by)) else None
    else:
        return {"parked": True, "answered": None}
    pairing.unpark(cfg, s3, name)
    return {"parked": False, "answered": answered}
