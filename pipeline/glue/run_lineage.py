"""Where a published run came from, and who made which run live: the shapes both are kept in.

The Glue job writes them (table parameters, the quality report, the audit log), the deploy CLI's rollback
writes the audit log too, and the console reads all three. It makes no AWS client of its own: the one
catalog write that makes a run live (``point_table``) takes the caller's. Shipped to Glue in the
``--extra-py-files`` zip beside ``csv_profile`` (docs/adr/0017-lineage-and-rollback.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

KINDS = ("orders", "returns")
INPUT_FIELDS = ("source", "version_id", "etag", "size", "uploaded_at")
ACTIONS = ("publish", "make-live")
# In a run's prefix: the TableInput that makes the run live (a publish writes it, a rollback reads it).
TABLE_DEFINITION = "_quality/table.json"


@dataclass(frozen=True)
class InputFile:
    """One raw object a run read: with the version id, the exact bytes (the raw buckets are versioned)."""

    kind: str
    source: str  # s3://bucket/key, or a local path for a run on local files
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    uploaded_at: str | None = None  # ISO 8601, UTC

    def describe(self) -> str:
        """``orders: s3://…/orders.csv, version 3HL4…, 2.0 MB, uploaded 2026-11-29 09:36:57 UTC``."""
        parts = [f"{self.kind}: {self.source}"]
        if self.version_id:
            parts.append(f"version {self.version_id}")
        if self.size is not None:
            parts.append(human_size(self.size))
        if self.uploaded_at:
            parts.append(f"uploaded {readable_time(self.uploaded_at)}")
        return ", ".join(parts)


def human_size(size: float) -> str:
    """``812 B``, ``1.9 MB``: a file size as people read it (the console's too)."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def readable_time(iso: str) -> str:
    """``2026-11-29 09:36:57 UTC`` from an ISO 8601 time (as given when it does not parse)."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def input_from_head(kind: str, source: str, head: Mapping[str, Any]) -> InputFile:
    """An S3 object as a HeadObject answer describes it."""
    modified = head.get("LastModified")
    return InputFile(
        kind=kind,
        source=source,
        version_id=head.get("VersionId") if head.get("VersionId") not in (None, "null") else None,
        etag=str(head["ETag"]).strip('"') if head.get("ETag") else None,
        size=head.get("ContentLength"),
        uploaded_at=modified.astimezone(UTC).isoformat(timespec="seconds") if modified else None,
    )


def table_parameters(inputs: Iterable[InputFile]) -> dict[str, str]:
    """``orders_source``, ``orders_version_id``, … as Glue table parameters (strings; unknowns left out)."""
    parameters = {}
    for item in inputs:
        for name in INPUT_FIELDS:
            value = getattr(item, name)
            if value is not None:
                parameters[f"{item.kind}_{name}"] = str(value)
    return parameters


def inputs_from_parameters(parameters: Mapping[str, str]) -> list[InputFile]:
    """The inputs named by a table's parameters (a table published before lineage existed names none)."""
    found = []
    for kind in KINDS:
        source = parameters.get(f"{kind}_source")
        if not source:
            continue
        size = parameters.get(f"{kind}_size")
        found.append(
            InputFile(
                kind=kind,
                source=source,
                version_id=parameters.get(f"{kind}_version_id"),
                etag=parameters.get(f"{kind}_etag"),
                size=int(size) if size and size.isdigit() else None,
                uploaded_at=parameters.get(f"{kind}_uploaded_at"),
            )
        )
    return found


def report_inputs(inputs: Iterable[InputFile]) -> dict[str, dict[str, Any]]:
    """The inputs as the quality report keeps them: ``{"orders": {"source": …, …}, …}``."""
    return {item.kind: {name: getattr(item, name) for name in INPUT_FIELDS} for item in inputs}


def inputs_from_report(report: Mapping[str, Any]) -> list[InputFile]:
    recorded = report.get("inputs") or {}
    return [
        InputFile(kind=kind, **{name: recorded[kind].get(name) for name in INPUT_FIELDS})
        for kind in KINDS
        if isinstance(recorded.get(kind), Mapping) and recorded[kind].get("source")
    ]


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: a run made live, by a pipeline run's publish or by a person."""

    time: str  # ISO 8601, UTC, milliseconds
    action: str  # "publish" (a pipeline run) or "make-live" (python -m deploy publish, the Admin page)
    who: str
    run_id: str
    previous_run_id: str | None
    batch_time: str | None = None

    def key(self, audit_prefix: str) -> str:
        """One object per entry (S3 has no append); keys sort by time."""
        stamp = self.time.replace("-", "").replace(":", "").replace(".", "")
        return f"{audit_prefix}{stamp}-{self.action}-{self.run_id}.json"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> AuditEntry:
        data = json.loads(text)
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


def point_table(
    glue: Any, database: str, definition: Mapping[str, Any], current: Mapping[str, Any] | None
) -> bool:
    """Make the table the run ``definition`` describes live in one catalog write: CreateTable when there
    is none, else UpdateTable conditional on the version read (``current``). False when another writer got
    there first (the caller reads again), True when done. A publish and a rollback both go through here."""
    try:
        if current is None:
            glue.create_table(DatabaseName=database, TableInput=definition)
        else:
            glue.update_table(DatabaseName=database, TableInput=definition, VersionId=current["VersionId"])
    except (glue.exceptions.ConcurrentModificationException, glue.exceptions.AlreadyExistsException):
        return False
    return True


def utc_now() -> str:
    """Now as ``2026-11-29T09:36:57.123Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def audit_entry(
    action: str, who: str, run_id: str, previous_run_id: str | None, batch_time: str | None = None
) -> AuditEntry:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    return AuditEntry(utc_now(), action, who, run_id, previous_run_id, batch_time)
