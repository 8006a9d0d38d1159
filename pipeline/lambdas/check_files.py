"""Lambda ``check-orders-returns-exist`` (state CheckForFiles): the files this execution processes.

Which files, in this order:
- none when the execution was resumed as superseded (``state.pairing.outcome``): ``superseded_by`` names the
  run that took over;
- the pair a counterpart's upload resumed the execution with (``state.pairing``, ADR 0004);
- the pair the execution's input names (a ``batch-…`` execution, or a rerun of one);
- the one file an ``awaiting-…`` input names: it waits for its counterpart (both_exist false);
- an empty input (an admin rerun with ``{}``): the newest upload of each side.
Named files must still be the current objects at their keys (else a clear error: the file was replaced).

Input: ``{"execution_input": <the execution's input>, "state": <the state data>, "window_seconds": int,
"execution_start": ISO, "counter": "$.files.checks"}``. Output::

    {"both_exist": bool, "orders": S3Object|null, "returns": S3Object|null,
     "waiting_for": "orders"|"returns"|null, "lone_side": "orders"|"returns"|null,
     "waiting_since": ISO|null, "waiting_until": ISO|null, "window_seconds_left": int,
     "superseded_by": null | the run that takes over (a newer upload arrived since the pair was made),
     "count": the number of this check (runs.next_count of the input's ``counter``, ``$.files.checks``)}

where S3Object is ``{"bucket", "key", "etag", "last_modified": "2026-11-25T18:30:00Z", "size",
"version_id", "uploaded_at"}``: the version seen here is the one the Glue job reads (``version_id`` is
absent for an unversioned bucket; the job then refuses an object whose ETag changed). The window counts
from the lone file's upload (or the execution's start), so a re-check never lengthens it. Requires
s3:ListBucket and s3:ListBucketVersions on both raw buckets, and reading the pairing prefix.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from . import config, pairing, runs
from .config import LambdaConfig

DEFAULT_WINDOW_SECONDS = 86400


class FileReplaced(Exception):
    """A file the execution names is no longer the object at its key. Not retried: the name is the error
    type the state machine records."""


def handler(event: Any, context: Any) -> dict[str, Any]:
    return process(LambdaConfig.from_env(), s3=config.client("s3"), event=event)


def process(cfg: LambdaConfig, s3: Any, event: Any = None, now: datetime | None = None) -> dict[str, Any]:
    event = event if isinstance(event, dict) else {}
    return {**check(cfg, s3, event, now), "count": runs.next_count(event)}


def check(cfg: LambdaConfig, s3: Any, event: dict[str, Any], now: datetime | None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    state = event.get("state") if isinstance(event.get("state"), dict) else {}
    resumed = state.get("pairing") if isinstance(state.get("pairing"), dict) else {}
    if resumed.get("outcome") == "superseded":  # the upload that resumed it has a run of its own
        return {"both_exist": False, **_no_wait(), "orders": None, "returns": None,
                "superseded_by": resumed.get("superseded_by")}  # fmt: skip
    named = runs.named_pair(state.get("pairing")) or runs.named_pair(event.get("execution_input"))
    if named is not None:
        by = superseded_by(cfg, s3, named, str(event.get("execution_name") or ""), now)
        if by is not None:  # a burst: a newer upload has its own run, so this one does not run Glue
            return {"both_exist": False, **_no_wait(), "orders": None, "returns": None, "superseded_by": by}
        orders, returns = (current(s3, obj) for obj in named)
    else:
        orders, returns = (pinned(s3, obj) for obj in lone_or_newest(cfg, s3, event.get("execution_input")))
    found = {"orders": runs.object_dict(orders), "returns": runs.object_dict(returns)}
    if orders is not None and returns is not None:
        return {**found, "both_exist": True, **_no_wait(), "superseded_by": None}
    window = int(event.get("window_seconds") or DEFAULT_WINDOW_SECONDS)
    lone = orders or returns
    since = (
        runs.upload_time(lone) if lone is not None else runs.parse_time(event.get("execution_start") or now)
    )
    until = since + timedelta(seconds=window)
    return {
        **found,
        "both_exist": False,
        "waiting_for": "returns" if orders is not None else "orders",
        "lone_side": "orders" if orders is not None else "returns" if returns is not None else None,
        "waiting_since": runs.iso_utc(since),
        "waiting_until": runs.iso_utc(until),
        # TimeoutSecondsPath needs a positive integer.
        "window_seconds_left": max(1, int((until - now).total_seconds())),
        "superseded_by": None,
    }


def superseded_by(
    cfg: LambdaConfig, s3: Any, named: tuple[runs.S3Object, runs.S3Object], execution: str, now: datetime
) -> str | None:
    """The run that takes over when a newer upload of either side has been recorded since this pair was
    made (a burst keeps the newest); None for a deliberate rerun, or without the ledger."""
    if not cfg.pairing_path or "-rerun-" in execution:
        return None
    decision = pairing.decision(cfg, s3, now)
    for mine, newest in zip(named, (decision.orders, decision.returns), strict=True):
        # The same file seen through the listing (seconds) and the ledger (milliseconds) is no newer.
        if newest is None or runs.same_upload(newest, mine):
            continue
        if runs.upload_rank(newest) > runs.upload_rank(mine) and pairing.run_name(decision) != execution:
            return pairing.run_name(decision)
    return None


def _no_wait() -> dict[str, Any]:
    return {
        "waiting_for": None,
        "lone_side": None,
        "waiting_since": None,
        "waiting_until": None,
        "window_seconds_left": 1,
    }


def lone_or_newest(
    cfg: LambdaConfig, s3: Any, execution_input: Any
) -> tuple[runs.S3Object | None, runs.S3Object | None]:
    """The one file an ``awaiting-…`` input names (and nothing for the other side), else the newest upload
    of each side."""
    parsed = runs.input_objects(execution_input)
    if parsed != (None, None):
        return parsed
    if cfg.pairing_path:
        return pairing.newest_upload(cfg, s3, "orders"), pairing.newest_upload(cfg, s3, "returns")
    return config.newest_raw_objects(cfg, s3)


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
    return dataclasses.replace(now, uploaded_at=named.uploaded_at, sequencer=named.sequencer)


def pinned(s3: Any, listed: runs.S3Object | None) -> runs.S3Object | None:
    """The listed newest object with the version it has now (the newer bytes if it was replaced since the
    listing: still the newest). Gone since the listing: TransientError, the next check lists again."""
    if listed is None:
        return None
    now = config.latest_version(s3, listed.bucket, listed.key)
    if now is None:
        raise runs.TransientError(f"{listed.uri} was deleted while it was being checked")
    if now.etag != listed.etag:
        return now  # replaced since the upload was recorded: the newer bytes, with their own time
    return dataclasses.replace(now, uploaded_at=listed.uploaded_at, sequencer=listed.sequencer)
