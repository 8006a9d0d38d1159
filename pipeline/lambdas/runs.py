"""Run semantics as pure functions (docs/adr/0004, 0009): which files, which execution name, which run id.

No AWS calls here (and no boto3 import): the handlers pass in what they listed or received.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

MAX_NAME_LENGTH = 80  # Step Functions execution names
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_COMPACT = "%Y%m%dT%H%M%SZ"
_ISO = "%Y-%m-%dT%H:%M:%SZ"
SIDES = ("orders", "returns")

Outcome = Literal["SUCCEEDED", "FAILED", "RUNNING"]
GLUE_SUCCEEDED = frozenset({"SUCCEEDED"})
GLUE_FAILED = frozenset({"FAILED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"})
# STOPPING is not terminal yet: keep polling until the run reports STOPPED.
GLUE_RUNNING = frozenset({"STARTING", "RUNNING", "WAITING", "STOPPING"})

MAX_WARNINGS = 20
MAX_WARNING_CHARS = 500


class TransientError(Exception):
    """A failure worth retrying (throttling, concurrent runs). The state machine's Retry matches this
    name: the Lambda runtime reports the exception class name as the error type."""


# --- times ---------------------------------------------------------------------------------------


def parse_time(value: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime (naive means UTC) or an ISO-8601 string."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_utc(value: datetime | str) -> str:
    """``2026-11-25T18:30:00Z`` (whole seconds, UTC)."""
    return parse_time(value).strftime(_ISO)


def compact_utc(value: datetime | str) -> str:
    """``20261125T183000Z``: sortable and valid in execution names and S3 prefixes."""
    return parse_time(value).strftime(_COMPACT)


def iso_utc_ms(value: datetime | str) -> str:
    """``2026-11-25T18:30:00.123Z``: upload times keep milliseconds (a burst fits in one second)."""
    moment = parse_time(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --- objects -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    etag: str  # without the surrounding quotes that S3 puts around it
    last_modified: str  # ISO-8601 UTC, e.g. 2026-11-25T18:30:00Z
    size: int
    # The S3 version CheckForFiles saw (versioned raw buckets); the Glue job reads exactly this version.
    version_id: str | None = None
    # When the upload happened, with milliseconds (the S3 event's eventTime), and the event's sequencer:
    # the upload order. LastModified has one-second resolution, so it cannot order a burst.
    uploaded_at: str | None = None
    sequencer: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for optional in ("version_id", "uploaded_at", "sequencer"):
            if data[optional] is None:
                del data[optional]  # e.g. an object nobody has pinned yet (execution inputs)
        return data

    @classmethod
    def create(
        cls,
        bucket: str,
        key: str,
        etag: str,
        last_modified: datetime | str,
        size: int,
        version_id: str | None = None,
        uploaded_at: datetime | str | None = None,
        sequencer: str | None = None,
    ) -> S3Object:
        return cls(
            bucket=bucket,
            key=key,
            etag=str(etag).strip().strip('"'),
            last_modified=iso_utc(last_modified),
            size=int(size),
            # "null" is the version of an object in an unversioned bucket: nothing to pin.
            version_id=None if version_id in (None, "", "null") else str(version_id),
            uploaded_at=None if uploaded_at in (None, "") else iso_utc_ms(uploaded_at),
            sequencer=None if sequencer in (None, "") else str(sequencer),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> S3Object:
        """From the JSON shape that :meth:`to_dict` produces (what travels through Step Functions)."""
        optional = ("version_id", "uploaded_at", "sequencer")
        required = [f.name for f in dataclasses.fields(cls) if f.name not in optional]
        missing = [name for name in required if data.get(name) is None]
        if missing:
            raise ValueError(f"S3 object description lacks {', '.join(missing)}: {dict(data)!r}")
        return cls.create(
            data["bucket"],
            data["key"],
            data["etag"],
            data["last_modified"],
            data["size"],
            data.get("version_id"),
            data.get("uploaded_at"),
            data.get("sequencer"),
        )

    @classmethod
    def from_listing(cls, bucket: str, entry: Mapping[str, Any]) -> S3Object:
        """From one ``Contents`` entry of ``list_objects_v2`` or ``Versions`` entry of
        ``list_object_versions`` (which also has the VersionId)."""
        return cls.create(
            bucket,
            entry["Key"],
            entry.get("ETag", ""),
            entry["LastModified"],
            entry.get("Size", 0),
            entry.get("VersionId"),
        )


def as_object(value: S3Object | Mapping[str, Any] | None) -> S3Object | None:
    if value is None or isinstance(value, S3Object):
        return value
    return S3Object.from_dict(value)


def object_dict(obj: S3Object | None) -> dict[str, Any] | None:
    return None if obj is None else obj.to_dict()


def input_objects(execution_input: Any) -> tuple[S3Object | None, S3Object | None]:
    """The (orders, returns) objects an execution's input (JSON text or parsed) names; None where absent."""
    if isinstance(execution_input, str):
        try:
            execution_input = json.loads(execution_input)
        except ValueError:
            return None, None
    if not isinstance(execution_input, Mapping):
        return None, None
    try:
        return as_object(execution_input.get("orders")), as_object(execution_input.get("returns"))
    except (TypeError, ValueError):
        return None, None


def named_pair(execution_input: Any) -> tuple[S3Object, S3Object] | None:
    """The (orders, returns) objects an execution's input names, when it names both; else None."""
    orders, returns = input_objects(execution_input)
    return (orders, returns) if orders is not None and returns is not None else None


def is_data_key(key: str) -> bool:
    """False for "folder" placeholder keys (console-created ``prefix/`` objects)."""
    return bool(key) and not key.endswith("/")


def newest(objects: Iterable[S3Object]) -> S3Object | None:
    """The newest data object by LastModified, ties broken by key (the larger key wins).

    Folder keys and zero-byte objects are never data files and are ignored.
    """
    best: S3Object | None = None
    best_rank: tuple[datetime, str] | None = None
    for obj in objects:
        if not is_data_key(obj.key) or obj.size <= 0:
            continue
        rank = (parse_time(obj.last_modified), obj.key)
        if best_rank is None or rank > best_rank:
            best, best_rank = obj, rank
    return best


def newest_listed(bucket: str, pages: Iterable[Mapping[str, Any]]) -> S3Object | None:
    """:func:`newest` over ``list_objects_v2`` pages (a paginator's output), streaming."""
    return newest(
        S3Object.from_listing(bucket, entry) for page in pages for entry in page.get("Contents", [])
    )


def upload_time(obj: S3Object) -> datetime:
    """When ``obj`` was uploaded: the recorded upload time (milliseconds), else its LastModified."""
    return parse_time(obj.uploaded_at or obj.last_modified)


def upload_rank(obj: S3Object) -> tuple[datetime, int]:
    """The upload order: upload time, then the S3 event's sequencer (hex; greater is later). Never the key."""
    try:
        sequence = int(obj.sequencer or "0", 16)
    except ValueError:
        sequence = 0
    return upload_time(obj), sequence


def same_upload(a: S3Object | None, b: S3Object | None) -> bool:
    return a is not None and b is not None and (a.bucket, a.key, a.etag) == (b.bucket, b.key, b.etag)


def batch_time(orders: S3Object | None, returns: S3Object | None) -> datetime:
    """The batch's time: the newest upload time of the present objects (milliseconds when recorded), so
    that of two pairs uploaded within one second the later one is the newer batch."""
    times = [upload_time(o) for o in (orders, returns) if o is not None]
    if not times:
        raise ValueError("a batch needs at least one of orders and returns")
    return max(times)


# --- names ---------------------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def execution_name(orders: S3Object | None, returns: S3Object | None) -> str:
    """Deterministic Step Functions execution name for a pair of objects: keys and ETags only.

    Both present: ``batch-<h24>`` with the hash over both keys and ETags, so duplicate S3 events, the two
    uploads of one batch and a re-upload of the same bytes (new LastModified, same ETag) map to one
    execution. One present: ``awaiting-returns-<h24>`` (or ``awaiting-orders-``) over that object only.
    """
    if orders is not None and returns is not None:
        material, prefix = f"{orders.key}|{orders.etag}|{returns.key}|{returns.etag}", "batch"
    elif orders is not None:
        material, prefix = f"{orders.key}|{orders.etag}", "awaiting-returns"
    elif returns is not None:
        material, prefix = f"{returns.key}|{returns.etag}", "awaiting-orders"
    else:
        raise ValueError("an execution name needs at least one of orders and returns")
    return f"{prefix}-{_sha256(material)[:24]}"


def rerun_name(name: str, now: datetime) -> str:
    """A new name for a deliberate rerun of the same files: ``<name>-rerun-<now>``, at most 80 chars."""
    suffix = f"-rerun-{compact_utc(now)}"
    base = _NAME_CHARS.sub("-", name)[: MAX_NAME_LENGTH - len(suffix)]
    return f"{base}{suffix}"


def run_id(batch: datetime | str, execution: str) -> str:
    """``<batch_ts>-<sha256(execution name)[:8]>``: unique per execution, sortable by batch."""
    return f"{compact_utc(batch)}-{_sha256(execution)[:8]}"


def batch_of(event: Mapping[str, Any], lambda_name: str) -> tuple[S3Object, S3Object, str]:
    """(orders, returns, run id) of a TriggerGlueJob / StopGlueJob input; ValueError when incomplete."""
    orders, returns = as_object(event.get("orders")), as_object(event.get("returns"))
    name = event.get("execution_name")
    if orders is None or returns is None or not name:
        raise ValueError(f"{lambda_name} needs 'orders', 'returns' and 'execution_name' in its input")
    return orders, returns, run_id(batch_time(orders, returns), name)


def execution_arn(state_machine_arn: str, name: str) -> str:
    if ":stateMachine:" not in state_machine_arn:
        raise ValueError(f"not a state machine ARN: {state_machine_arn!r}")
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


# --- S3 events -----------------------------------------------------------------------------------


def upload_records(event: Mapping[str, Any], prefixes: Mapping[str, str]) -> list[dict[str, Any]]:
    """The S3 ObjectCreated records of ``event`` that concern the raw buckets.

    ``prefixes`` maps each raw bucket to its key prefix. Records for other buckets, other event types,
    folder keys, keys outside the prefix and zero-byte objects are dropped. Keys are URL-decoded (S3
    notifications encode them, spaces as ``+``).
    """
    found = []
    for record in event.get("Records") or []:
        event_name = str(record.get("eventName", ""))
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        obj = s3.get("object") or {}
        key = unquote_plus(str(obj.get("key", "")))
        if not event_name.startswith("ObjectCreated:") or bucket not in prefixes:
            continue
        if not is_data_key(key) or not key.startswith(prefixes[bucket]):
            continue
        if obj.get("size") is not None and int(obj["size"]) <= 0:
            continue
        found.append(
            {
                "bucket": bucket,
                "key": key,
                "event_name": event_name,
                # What the upload order needs (eventTime has milliseconds; LastModified has seconds).
                "etag": obj.get("eTag") or obj.get("etag"),
                "size": obj.get("size"),
                "version_id": obj.get("versionId"),
                "event_time": record.get("eventTime"),
                "sequencer": obj.get("sequencer"),
            }
        )
    return found


# --- pairing (ADR 0004) ----------------------------------------------------------------------------


def side_of(bucket: str, buckets: Mapping[str, str]) -> str:
    """ "orders" or "returns" for a raw bucket; ``buckets`` maps each side to its bucket."""
    for side, name in buckets.items():
        if name == bucket:
            return side
    raise ValueError(f"{bucket!r} is not a raw bucket")


def other_side(side: str) -> str:
    return "returns" if side == "orders" else "orders"


def ledger_name(obj: S3Object) -> str:
    """The upload's entry name in the ledger: newest first in a listing (inverted upload time and
    sequencer), then a hash of key and ETag so that two uploads never share an entry while duplicate
    events of one upload do."""
    moment, sequence = upload_rank(obj)
    millis = int(moment.timestamp() * 1000)
    inverted_time = 10**14 - 1 - millis
    inverted_sequence = (1 << 160) - 1 - min(sequence, (1 << 160) - 1)
    return f"{inverted_time:014d}-{inverted_sequence:040x}-{_sha256(f'{obj.key}|{obj.etag}')[:12]}.json"


@dataclass(frozen=True)
class LastPair:
    """The pair the last run was started (or resumed) for, and when."""

    orders: S3Object
    returns: S3Object
    paired_at: datetime
    execution_name: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders.to_dict(),
            "returns": self.returns.to_dict(),
            "paired_at": iso_utc_ms(self.paired_at),
            "execution_name": self.execution_name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LastPair:
        return cls(
            S3Object.from_dict(data["orders"]),
            S3Object.from_dict(data["returns"]),
            parse_time(data["paired_at"]),
            str(data.get("execution_name", "")),
        )

    def get(self, side: str) -> S3Object:
        return self.orders if side == "orders" else self.returns


@dataclass(frozen=True)
class Decision:
    """What the newest uploads call for: run ``orders`` with ``returns``, or wait (one of them is None)."""

    orders: S3Object | None
    returns: S3Object | None

    @property
    def pair(self) -> bool:
        return self.orders is not None and self.returns is not None

    @property
    def lone(self) -> S3Object | None:
        return None if self.pair else (self.orders or self.returns)

    @property
    def waiting_for(self) -> str | None:
        if self.pair:
            return None
        return "returns" if self.orders is not None else "orders"

    def last_pair(self, paired_at: datetime, execution_name: str) -> LastPair:
        """The pair this decision runs, as the ledger records it; ValueError when it is no pair."""
        if self.orders is None or self.returns is None:
            raise ValueError("only a decision to run a pair makes the last pair")
        return LastPair(self.orders, self.returns, paired_at, execution_name)


def decide(
    orders: S3Object | None,
    returns: S3Object | None,
    last: LastPair | None,
    now: datetime,
    settle_seconds: float,
) -> Decision:
    """Pair the newest orders with the newest returns, or wait for a counterpart (ADR 0004).

    The upload that came last (by upload order) pairs with the other side's newest upload when that one
    has not been run yet (it was waiting), when it is the same file as in the last pair or replaces it at
    the same key (a re-upload or correction), or when the last pair was made less than ``settle_seconds``
    ago (a burst or backfill: newest with newest). Otherwise it waits: yesterday's counterpart, already
    run, does not pair with the first upload of a new day.
    """
    if orders is None or returns is None:
        return Decision(orders, returns)
    if last is None:
        return Decision(orders, returns)
    latest = "orders" if upload_rank(orders) >= upload_rank(returns) else "returns"
    newest = {"orders": orders, "returns": returns}
    mine, counterpart = newest[latest], newest[other_side(latest)]
    ran = last.get(other_side(latest))
    # The same file may have been seen through a listing (seconds) and the ledger (milliseconds).
    unconsumed = not same_upload(counterpart, ran) and upload_rank(counterpart) > upload_rank(ran)
    same_key = (mine.bucket, mine.key) == (last.get(latest).bucket, last.get(latest).key)
    settling = (parse_time(now) - last.paired_at).total_seconds() <= settle_seconds
    if unconsumed or same_key or settling:
        return Decision(orders, returns)
    return Decision(mine if latest == "orders" else None, mine if latest == "returns" else None)


# --- Loop counters -------------------------------------------------------------------------------


def next_count(event: Mapping[str, Any]) -> int:
    """The count a counting task of the state machine returns (pipeline/asl/checks.py): the value at the
    ``counter`` path (``"$.files.checks"``) in the ``state`` it was given, plus one. Absent (the loop's first
    pass, or a call from outside the state machine): 1. The loop's Choice ends it at a bound of this count."""
    counter = event.get("counter")
    if counter is None:
        return 1
    if not isinstance(counter, str) or not counter.startswith("$."):
        raise ValueError(f"counter must be a path like $.files.checks, not {counter!r}")
    value: Any = event.get("state")
    for part in counter[2:].split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{counter} in the state is {value!r}, not a count")
    return value + 1


# --- Glue ----------------------------------------------------------------------------------------


def glue_outcome(state: str | None) -> Outcome:
    """What the state machine does next for a Glue JobRunState. Unknown states count as failures."""
    if state in GLUE_SUCCEEDED:
        return "SUCCEEDED"
    if state in GLUE_RUNNING:
        return "RUNNING"
    return "FAILED"


def glue_error(state: str | None, message: str | None) -> str | None:
    """The error to report for a run, or None when it has not failed."""
    if glue_outcome(state) != "FAILED":
        return None
    if message:
        return message
    if state in GLUE_FAILED:
        return f"Glue job ended in state {state}"
    return f"Glue job run is in an unknown state {state!r}"


def first_glue_wait(input_bytes: int, base_seconds: float, seconds_per_gb: float) -> int:
    """Whole seconds to wait before the first status check of a Glue run over ``input_bytes``: the run's
    expected length (start-up plus a rate per GB, both settings), so that one check usually sees it end."""
    if input_bytes < 0 or base_seconds < 0 or seconds_per_gb < 0:
        raise ValueError("input size and wait settings must be ≥ 0")
    return math.ceil(base_seconds + input_bytes / 1e9 * seconds_per_gb)


def runs_of(job_runs: Iterable[Mapping[str, Any]], run: str) -> list[Mapping[str, Any]]:
    """The Glue job runs (GetJobRuns entries) started for ``run``: their ``--run_id`` argument is ``run``.

    Newest first (by StartedOn), whatever order the listing had.
    """
    found = [r for r in job_runs if (r.get("Arguments") or {}).get("--run_id") == run]
    return sorted(found, key=lambda r: parse_time(r.get("StartedOn") or datetime.min), reverse=True)


def reusable_run(job_runs: Iterable[Mapping[str, Any]], run: str) -> Mapping[str, Any] | None:
    """The job run that a retried TriggerGlueJob takes over instead of starting a second writer of the same
    run prefix: the newest run for ``run`` that is going or has succeeded. A failed or stopped one is not
    reused (a redrive starts afresh)."""
    return next((r for r in runs_of(job_runs, run) if r.get("JobRunState") not in GLUE_FAILED), None)


def stoppable_runs(job_runs: Iterable[Mapping[str, Any]], run: str) -> list[str]:
    """Ids of the job runs for ``run`` that have not ended and are not stopping already."""
    going = GLUE_RUNNING - {"STOPPING"}
    return [r["Id"] for r in runs_of(job_runs, run) if r.get("JobRunState") in going]


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key)."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, key


def run_prefix(output_path: str, run: str) -> str:
    """``<output_path>run_id=<run>/`` where each run writes its data (docs/adr/0008)."""
    if not output_path.endswith("/"):
        output_path += "/"
    return f"{output_path}run_id={run}/"


def report_key(output_path: str, run: str) -> tuple[str, str]:
    """(bucket, key) of a run's data-quality report: ``<output_path>run_id=<run>/_quality/report.json``."""
    return parse_s3_uri(run_prefix(output_path, run) + "_quality/report.json")


def report_uri(output_path: str, run: str) -> str:
    """``s3://<bucket>/<key>`` of a run's data-quality report (report_key)."""
    bucket, key = report_key(output_path, run)
    return f"s3://{bucket}/{key}"


def latest_version(bucket: str, key: str, pages: Iterable[Mapping[str, Any]]) -> S3Object | None:
    """The current version of ``key`` from ``list_object_versions(Prefix=key)`` pages; None when the key
    does not exist or its latest version is a delete marker."""
    for page in pages:
        for marker in page.get("DeleteMarkers", []):
            if marker.get("Key") == key and marker.get("IsLatest"):
                return None
        for entry in page.get("Versions", []):
            if entry.get("Key") == key and entry.get("IsLatest"):
                return S3Object.from_listing(bucket, entry)
    return None


def upload_candidates(orders: S3Object | None, returns: S3Object | None) -> list[str]:
    """The names an upload's event can have given to its run, most specific first (see on_upload.py): the
    pair's ``batch-…``, or an ``awaiting-…`` execution that one file started and the other joined."""
    names = []
    if orders is not None and returns is not None:
        names.append(execution_name(orders, returns))
    if orders is not None:
        names.append(execution_name(orders, None))
    if returns is not None:
        names.append(execution_name(None, returns))
    return names


def run_of_upload(
    names: list[str], describe: Callable[[str], Mapping[str, Any] | None]
) -> Mapping[str, Any] | None:
    """The execution an upload started or joined, among ``names`` (most specific first; ``describe`` gives
    an execution by name, None when there is none): the first name whatever its status, or a later
    ``awaiting-…`` execution still running. An ended ``awaiting-…`` run is an earlier upload's."""
    for name in names:
        described = describe(name)
        if described is not None and (name == names[0] or described["status"] == "RUNNING"):
            return described
    return None


@dataclass(frozen=True)
class JobTarget:
    """Where and how a run publishes: what the job needs beyond the run's own files."""

    output_path: str
    database: str
    table: str
    max_quarantine_fraction: float
    keep_runs: int


def glue_arguments(
    target: JobTarget, orders: S3Object, returns: S3Object, run: str, execution_arn: str | None = None
) -> dict[str, str]:
    """The job arguments of ``ecommerce_join_data`` for one run (all values are strings, as Glue wants).

    With ``execution_arn`` the job publishes only while that execution is running: a Stop that lands while
    the trigger Lambda is still starting the run cannot be missed.

    The job reads the object versions named here (the ones CheckForFiles saw), and refuses an object whose
    ETag is not the one seen, so a file replaced between the check and the read cannot slip in.
    """
    pins = {f"--{kind}_etag": obj.etag for kind, obj in (("orders", orders), ("returns", returns))}
    for kind, obj in (("orders", orders), ("returns", returns)):
        if obj.version_id is not None:
            pins[f"--{kind}_version_id"] = obj.version_id
    if execution_arn:
        pins["--execution_arn"] = execution_arn
    return {
        **pins,
        "--orders_path": orders.uri,
        "--returns_path": returns.uri,
        "--output_path": target.output_path,
        "--database": target.database,
        "--table": target.table,
        "--run_id": run,
        "--batch_time": iso_utc_ms(batch_time(orders, returns)),
        "--max_quarantine_fraction": str(target.max_quarantine_fraction),
        "--keep_runs": str(target.keep_runs),
    }


def quality_summary(report: Mapping[str, Any], report_uri: str | None = None) -> dict[str, Any]:
    """The small part of a run's data-quality report that travels through Step Functions."""

    def count(name: str) -> int | None:
        value = report.get(name)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    warnings = report.get("warnings") or []
    if isinstance(warnings, str):
        warnings = [warnings]
    return {
        "rows_in": count("rows_in"),
        "rows_out": count("rows_out"),
        "returned_lines": count("returned_lines"),
        "unmatched_returns": count("unmatched_returns"),
        "quarantined_lines": count("quarantined_lines"),
        "published": bool(report.get("published", False)),
        "warnings": [str(w)[:MAX_WARNING_CHARS] for w in list(warnings)[:MAX_WARNINGS]],
        "report_uri": report_uri,
    }


def jsonable(value: Any) -> Any:
    """``value`` with datetimes turned into ISO strings (Step Functions results must be plain JSON)."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
