"""Lambda ``check-orders-returns-exist`` (state CheckForFiles): the files this execution processes.

When the execution's input names both objects (a ``batch-…`` execution, or a rerun of one), exactly those,
provided they are still the current objects at their keys (else a clear error: the file was replaced).
Otherwise (an ``awaiting-…`` execution, an empty input) the newest object in each raw bucket.

Input: ``{"execution_input": <the execution's input>}`` (what the state machine passes). Output::

    {"both_exist": bool, "orders": S3Object|null, "returns": S3Object|null}

where S3Object is ``{"bucket", "key", "etag", "last_modified": "2026-11-25T18:30:00Z", "size",
"version_id"}``: the version seen here is the one the Glue job reads (``version_id`` is absent for an
unversioned bucket; the job then refuses an object whose ETag changed). Requires s3:ListBucket and
s3:ListBucketVersions on both raw buckets.
"""

from __future__ import annotations

from typing import Any

from . import config, runs
from .config import LambdaConfig


class FileReplaced(Exception):
    """A file the execution names is no longer the object at its key. Not retried: the name is the error
    type the state machine records."""


def handler(event: Any, context: Any) -> dict[str, Any]:
    return process(LambdaConfig.from_env(), s3=config.client("s3"), event=event)


def process(cfg: LambdaConfig, s3: Any, event: Any = None) -> dict[str, Any]:
    named = runs.named_pair(event.get("execution_input") if isinstance(event, dict) else None)
    if named is not None:
        orders, returns = (current(s3, obj) for obj in named)
    else:
        orders, returns = (pinned(s3, obj) for obj in config.newest_raw_objects(cfg, s3))
    return {
        "both_exist": orders is not None and returns is not None,
        "orders": runs.object_dict(orders),
        "returns": runs.object_dict(returns),
    }


def current(s3: Any, named: runs.S3Object) -> runs.S3Object:
    """``named`` as it is now at its key, with its version; FileReplaced when it is gone or holds other
    bytes."""
    now = config.latest_version(s3, named.bucket, named.key)
    if now is None:
        raise FileReplaced(f"{named.uri} is gone since this run was started; upload the file again")
    if now.etag != named.etag:
        raise FileReplaced(
            f"{named.uri} was replaced since this run was started (ETag {named.etag} → {now.etag}); "
            "the newer upload has its own run"
        )
    return now


def pinned(s3: Any, listed: runs.S3Object | None) -> runs.S3Object | None:
    """The listed newest object with the version it has now (the newer bytes if it was replaced since the
    listing: still the newest). Gone since the listing: TransientError, the next check lists again."""
    if listed is None:
        return None
    now = config.latest_version(s3, listed.bucket, listed.key)
    if now is None:
        raise runs.TransientError(f"{listed.uri} was deleted while it was being checked")
    return now
