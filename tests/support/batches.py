"""Upload a batch to the raw buckets the way a team does, and follow the execution that it starts.

Used by the end-to-end tests and by ``python -m bench --only e2e``. Plain boto3 calls: it works against the
local AWS and real AWS alike.

Which execution a batch gets (pipeline/lambdas/on_upload.py): the upload events name the execution after
the newest orders and returns uploads, ``batch-<sha of keys+ETags>``. When the first file of a pair finds no
counterpart that is due (ADR 0004), an ``awaiting-…`` execution starts for it alone and parks, and the
second file's upload resumes it instead of starting ``batch-…``. Within the pairing settle time after a
run, the first file pairs with the other side's newest at once (a burst), so a pair can mean two runs.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.lambdas import runs
from stack import aws

TERMINAL = aws.TERMINAL_STATUSES
state_machine_arn = aws.state_machine_arn


@dataclass(frozen=True)
class Batch:
    orders: runs.S3Object
    returns: runs.S3Object
    first: str  # "orders" or "returns": which one was uploaded first
    second_put_done: float  # time.monotonic() when the second PUT returned

    @property
    def name(self) -> str:
        """The execution name of this pair (deterministic: keys and ETags)."""
        return runs.execution_name(self.orders, self.returns)

    @property
    def awaiting_name(self) -> str:
        """The execution the first file starts when the other bucket holds no file at all."""
        if self.first == "orders":
            return runs.execution_name(self.orders, None)
        return runs.execution_name(None, self.returns)


def executions(sfn: Any, machine_arn: str) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn)
    return [e for page in pages for e in page["executions"]]


def put(s3: Any, bucket: str, key: str, body: bytes) -> runs.S3Object:
    etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    # LastModified plays no part in the execution name: this client's clock stands in for it.
    return runs.S3Object.create(bucket, key, etag, datetime.now(UTC), len(body))


def upload_file(s3: Any, bucket: str, key: str, path: Path) -> runs.S3Object:
    """Upload a large file as the console and the AWS CLI do: a multipart upload of 64 MB parts."""
    from boto3.s3.transfer import TransferConfig

    size = 64 * 1024 * 1024
    s3.upload_file(str(path), bucket, key, Config=TransferConfig(multipart_chunksize=size, max_concurrency=2))
    head = s3.head_object(Bucket=bucket, Key=key)
    return runs.S3Object.create(bucket, key, head["ETag"], datetime.now(UTC), head["ContentLength"])


def put_batch(
    s3: Any,
    orders: tuple[str, str, bytes],
    returns: tuple[str, str, bytes],
    *,
    first: str = "returns",
) -> Batch:
    """PUT the two files, ``first`` one first. Each is (bucket, key, bytes)."""
    if first not in ("orders", "returns"):
        raise ValueError(f"first must be 'orders' or 'returns', not {first!r}")
    if first == "returns":
        returns_object = put(s3, *returns)
        orders_object = put(s3, *orders)
    else:
        orders_object = put(s3, *orders)
        returns_object = put(s3, *returns)
    return Batch(orders_object, returns_object, first, time.monotonic())


def put_lone(s3: Any, bucket: str, key: str, body: bytes, side: str) -> tuple[str, runs.S3Object]:
    """PUT one ``side`` file with no counterpart: the name of the execution it starts (``awaiting-…``), and
    the object."""
    obj = put(s3, bucket, key, body)
    return (runs.execution_name(obj, None) if side == "orders" else runs.execution_name(None, obj)), obj


def describe(sfn: Any, arn: str) -> dict[str, Any] | None:
    try:
        return sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        return None


def find_execution(sfn: Any, machine_arn: str, batch: Batch, timeout: float = 60.0) -> str:
    """The ARN of the execution that runs ``batch``: ``batch-…``, or the ``awaiting-…`` execution that the
    second upload attached to. Waits until one of them exists (S3 events are asynchronous)."""
    names = [batch.name, batch.awaiting_name]
    deadline = time.monotonic() + timeout
    while True:
        found = runs.run_of_upload(names, lambda name: describe(sfn, runs.execution_arn(machine_arn, name)))
        if found is not None:
            return found["executionArn"]
        if time.monotonic() > deadline:
            seen = [(e["name"], e["status"]) for e in executions(sfn, machine_arn)]
            names = f"{batch.name} (or {batch.awaiting_name})"
            raise TimeoutError(f"no execution {names} after {timeout:.0f} s; there are {seen}")
        time.sleep(0.05)


def wait_execution(sfn: Any, arn: str, timeout: float = 120.0, interval: float = 0.1) -> dict[str, Any]:
    """describe_execution once the execution has ended."""
    deadline = time.monotonic() + timeout
    while True:
        described = describe(sfn, arn)
        if described is not None and described["status"] in TERMINAL:
            return described
        if time.monotonic() > deadline:
            status = None if described is None else described["status"]
            raise TimeoutError(f"execution {arn} still {status} after {timeout:.0f} s")
        time.sleep(interval)


def parked(sfn: Any, arn: str) -> bool:
    """Whether a running execution waits for its counterpart's upload (parked on its task token)."""
    from services.execution_reads import history, waiting_for

    return waiting_for(history(sfn, arn)) is not None


def complete_parked(
    s3: Any, sfn: Any, machine_arn: str, counterparts: dict[str, tuple[str, bytes]]
) -> list[str]:
    """Give every execution parked until its counterpart's upload that counterpart (``counterparts``: side
    → (bucket, bytes)) and wait until it ends; the ARNs completed. A lone test upload is then consumed: a
    file that was never run would pair with a later test's upload (ADR 0004), and stopping its run does
    not change that."""
    from services.execution_reads import history, waiting_for

    completed = []
    for execution in executions(sfn, machine_arn):
        arn = execution["executionArn"]
        side = waiting_for(history(sfn, arn)) if execution["status"] == "RUNNING" else None
        if side is not None:
            bucket, body = counterparts[side]
            s3.put_object(Bucket=bucket, Key=f"test-counterpart-{uuid.uuid4().hex[:8]}/{side}.csv", Body=body)
            wait_execution(sfn, arn, timeout=180)
            completed.append(arn)
    return completed


def wait_all_ended(sfn: Any, machine_arn: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    """All executions of the state machine, once none is RUNNING, except those parked until their
    counterpart's upload (they may wait for a day: ADR 0004)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = executions(sfn, machine_arn)
        if all(e["status"] in TERMINAL or parked(sfn, e["executionArn"]) for e in listed):
            return listed
        if time.monotonic() > deadline:
            running = [e["name"] for e in listed if e["status"] not in TERMINAL]
            raise TimeoutError(f"executions still running after {timeout:.0f} s: {running}")
        time.sleep(0.1)
