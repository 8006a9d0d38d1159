"""The pairing ledger in S3 (ADR 0004): every upload with its upload time, the last pair that was run, and
the executions parked on a task token until their counterpart arrives.

Layout under ``PAIRING_PATH`` (``s3://<processed bucket>/pairing/``)::

    uploads/<side>/<ledger name>.json     one per upload (runs.ledger_name: newest first in a listing)
    last-pair.json                        runs.LastPair of the last run started or resumed
    waiting/<execution name>.json         {"task_token", "execution_name", "lone", "waiting_for", "parked_at"}

Written by ecommerce-on-upload and ecommerce-await-counterpart; read by check-orders-returns-exist and by
the console's History (superseded uploads). S3 is strongly consistent, so an upload that records itself and
then looks for parked executions, and an execution that parks and then looks at the uploads, cannot both
miss each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from . import config, runs
from .config import LambdaConfig

# A SendTask* for a token that is no longer waiting (ended, timed out, or already answered).
STALE_TOKEN_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def _location(cfg: LambdaConfig, *parts: str) -> tuple[str, str]:
    (path,) = cfg.require("pairing_path")
    bucket, prefix = runs.parse_s3_uri(path if path.endswith("/") else path + "/")
    return bucket, prefix + "".join(parts)


def _get_json(s3: Any, bucket: str, key: str) -> Any:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if config.error_code(exc) in _MISSING:
            return None
        raise


def _put_json(s3: Any, bucket: str, key: str, value: Any) -> None:
    body = json.dumps(value, sort_keys=True).encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def _keys(s3: Any, bucket: str, prefix: str, limit: int | None = None) -> Iterator[str]:
    config_ = {"PageSize": min(limit, 1000)} if limit else {}
    count = 0
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig=config_
    )
    try:
        for page in pages:
            for entry in page.get("Contents", []):
                yield entry["Key"]
                count += 1
                if limit is not None and count >= limit:
                    return
    except ClientError as exc:
        if config.error_code(exc) != "NoSuchBucket":
            raise  # no processed bucket (yet): no ledger, nothing recorded


# --- uploads ----------------------------------------------------------------------------------------


def upload_from_record(record: dict[str, Any], s3: Any, now: datetime) -> runs.S3Object | None:
    """The uploaded object of an S3 record (runs.upload_records) as it is now (ETag and size from a
    listing: None when it is gone), with the upload time and sequencer of the event."""
    listed = s3.list_objects_v2(Bucket=record["bucket"], Prefix=record["key"], MaxKeys=1).get("Contents", [])
    entry = next((e for e in listed if e.get("Key") == record["key"]), None)
    if entry is None:
        return None
    return runs.S3Object.create(
        record["bucket"],
        record["key"],
        entry.get("ETag", ""),
        entry["LastModified"],
        entry.get("Size", 0),
        record.get("version_id") if record.get("etag") in (None, entry.get("ETag", "").strip('"')) else None,
        uploaded_at=record.get("event_time") or now,
        sequencer=record.get("sequencer"),
    )


def record_upload(cfg: LambdaConfig, s3: Any, side: str, obj: runs.S3Object) -> None:
    bucket, key = _location(cfg, "uploads/", side, "/", runs.ledger_name(obj))
    _put_json(s3, bucket, key, obj.to_dict())


def newest_upload(cfg: LambdaConfig, s3: Any, side: str) -> runs.S3Object | None:
    """The newest upload of ``side`` by upload order (the first ledger entry); for a side with no entry
    yet (files from before the ledger), the newest object by LastModified."""
    bucket, prefix = _location(cfg, "uploads/", side, "/")
    for key in _keys(s3, bucket, prefix, limit=1):
        data = _get_json(s3, bucket, key)
        if data is not None:
            return runs.S3Object.from_dict(data)
    raw_bucket = cfg.require(f"{side}_bucket")[0]
    return config.newest_in_bucket(s3, raw_bucket, getattr(cfg, f"{side}_prefix"))


def uploads(cfg: LambdaConfig, s3: Any, side: str, limit: int = 1000) -> list[runs.S3Object]:
    """The newest ``limit`` uploads of ``side``, newest first."""
    bucket, prefix = _location(cfg, "uploads/", side, "/")
    found = []
    for key in _keys(s3, bucket, prefix, limit=limit):
        data = _get_json(s3, bucket, key)
        if data is not None:
            found.append(runs.S3Object.from_dict(data))
    return found


# --- the last pair ------------------------------------------------------------------------------------


def last_pair(cfg: LambdaConfig, s3: Any) -> runs.LastPair | None:
    data = _get_json(s3, *_location(cfg, "last-pair.json"))
    return runs.LastPair.from_dict(data) if isinstance(data, dict) else None


def set_last_pair(cfg: LambdaConfig, s3: Any, pair: runs.LastPair) -> None:
    _put_json(s3, *_location(cfg, "last-pair.json"), pair.to_dict())


def decision(cfg: LambdaConfig, s3: Any, now: datetime) -> runs.Decision:
    """What the newest uploads call for now (runs.decide)."""
    return runs.decide(
        newest_upload(cfg, s3, "orders"),
        newest_upload(cfg, s3, "returns"),
        last_pair(cfg, s3),
        now,
        *cfg.require("pairing_settle_seconds"),
    )


# --- parked executions --------------------------------------------------------------------------------


def park(cfg: LambdaConfig, s3: Any, record: dict[str, Any]) -> None:
    _put_json(s3, *_location(cfg, "waiting/", record["execution_name"], ".json"), record)


def unpark(cfg: LambdaConfig, s3: Any, execution_name: str) -> None:
    bucket, key = _location(cfg, "waiting/", execution_name, ".json")
    s3.delete_object(Bucket=bucket, Key=key)


def parked(cfg: LambdaConfig, s3: Any) -> list[dict[str, Any]]:
    bucket, prefix = _location(cfg, "waiting/")
    found = []
    for key in _keys(s3, bucket, prefix):
        data = _get_json(s3, bucket, key)
        if isinstance(data, dict) and data.get("task_token") and data.get("execution_name"):
            found.append(data)
    return found


def resume(sfn: Any, token: str, output: dict[str, Any]) -> bool:
    """SendTaskSuccess; False when the token no longer waits (someone else answered, or it ended)."""
    try:
        sfn.send_task_success(taskToken=token, output=json.dumps(output, sort_keys=True))
    except ClientError as exc:
        if config.error_code(exc) in STALE_TOKEN_CODES:
            return False
        raise
    return True


def paired_output(d: runs.Decision) -> dict[str, Any]:
    return {
        "outcome": "paired",
        "orders": runs.object_dict(d.orders),
        "returns": runs.object_dict(d.returns),
        "superseded_by": None,
    }


def superseded_output(by: str) -> dict[str, Any]:
    return {"outcome": "superseded", "orders": None, "returns": None, "superseded_by": by}


def run_name(d: runs.Decision) -> str:
    """The execution that a decision starts (the pair's ``batch-…`` or the lone file's ``awaiting-…``)."""
    return runs.execution_name(d.orders, d.returns)
