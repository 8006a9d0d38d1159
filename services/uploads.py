"""Uploading an orders or returns export: check it the way the Glue job will, then stream it to S3.

Plain functions over a binary file object (Streamlit's ``UploadedFile``, an open file) and boto3 clients.
Memory stays bounded by the part size: the file is read in chunks for the digest, the row count and the
multipart upload, never copied whole.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, Literal

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from pipeline.glue import csv_profile
from pipeline.lambdas import runs
from services import executions
from services.settings import Settings

Kind = Literal["orders", "returns"]
KINDS: tuple[Kind, ...] = ("orders", "returns")
# The Glue job profiles the same number of leading bytes (ecommerce_join_data.HEAD_BYTES).
PROFILE_HEAD_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 8 * 1024 * 1024
# Multipart above one part, one part in memory at a time: the console's memory stays near one part size
# (the transfer manager otherwise reads up to ten parts ahead).
TRANSFER = TransferConfig(multipart_threshold=CHUNK_BYTES, multipart_chunksize=CHUNK_BYTES, use_threads=False)
DIGEST_METADATA = "sha256"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadRefused(ValueError):
    """The file is not loadable as it is; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class CheckedFile:
    kind: Kind
    name: str  # the sanitised file name
    size: int
    rows: int  # data rows (records after the header)
    sha256: str
    profile: csv_profile.CsvProfile

    def summary(self) -> dict[str, Any]:
        return {
            "encoding": self.profile.encoding,
            "delimiter": repr(self.profile.delimiter),
            "decimal mark": self.profile.decimal,
            "date formats": ", ".join(
                f"{c.name}: {c.date_format.label}" for c in self.profile.columns if c.date_format
            )
            or "none",
            "rows": self.rows,
            "size": human_size(self.size),
            "columns": len(self.profile.columns),
        }


@dataclass(frozen=True)
class UploadResult:
    kind: Kind
    bucket: str
    key: str
    etag: str
    already_there: bool  # the same bytes were already at this key: nothing was sent

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def safe_file_name(name: str) -> str:
    """The base name only (no folders, no ``..``), in safe characters, ending in ``.csv``."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name  # strips both / and \ folders
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = _UNSAFE.sub("-", stem).strip(".-_")[:100] or "upload"
    return f"{stem}.csv"


def object_key(kind: Kind, file_name: str, now: datetime | None = None) -> str:
    """``uploads/<yyyy/mm/dd>/<kind>-<safe name>``: the same file uploaded twice on one day is one object
    (and, with the same bytes, one run); another day keeps its own object."""
    now = now or datetime.now(UTC)
    return f"uploads/{now:%Y/%m/%d}/{kind}-{safe_file_name(file_name)}"


def _chunks(stream: BinaryIO) -> Any:
    stream.seek(0)
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def count_rows(stream: BinaryIO, profile: csv_profile.CsvProfile) -> int:
    """Data rows in the whole file. Line counting, unless quoted fields span lines (then the CSV parser)."""
    if profile.multiline:
        import codecs
        import csv

        stream.seek(0)
        text = codecs.getreader(profile.encoding)(stream)
        rows = sum(1 for row in csv.reader(text, delimiter=profile.delimiter) if any(row))
        return max(rows - 1, 0)
    lines, last = 0, b""
    for chunk in _chunks(stream):
        lines += chunk.count(b"\n")
        last = chunk
    if last and not last.endswith(b"\n"):
        lines += 1  # the last line has no terminator
    return max(lines - 1, 0)


def check_file(kind: Kind, name: str, stream: BinaryIO, settings: Settings) -> CheckedFile:
    """Profile ``stream`` with the Glue job's own profiler and count its rows; raise UploadRefused."""
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    head = stream.read(PROFILE_HEAD_BYTES)
    try:
        profile = csv_profile.profile_bytes(
            head,
            kind=kind,
            complete=len(head) >= size,
            max_bad_fraction=settings.max_quarantine_fraction,
        )
    except csv_profile.ProfileError as exc:
        raise UploadRefused(f"{name}: {exc}") from exc
    other = wrong_slot(kind, profile)
    if other:
        raise UploadRefused(
            f"{name} looks like {'an' if other == 'orders' else 'a'} {other} file "
            f"(columns: {', '.join(profile.names)}). Upload it in the {other.capitalize()} slot."
        )
    rows = count_rows(stream, profile)
    if rows == 0:
        raise UploadRefused(f"{name} has a header but no data rows.")
    digest = hashlib.sha256()
    for chunk in _chunks(stream):
        digest.update(chunk)
    return CheckedFile(kind, safe_file_name(name), size, rows, digest.hexdigest(), profile)


def wrong_slot(kind: Kind, profile: csv_profile.CsvProfile) -> Kind | None:
    """The other kind when the file is clearly the other team's export (orders carry dates and amounts)."""
    names = set(profile.names)
    if kind == "returns" and "order_date" in names and not any(n.startswith("return") for n in names):
        return "orders"
    return None


def bucket_for(kind: Kind, settings: Settings) -> str:
    return settings.orders_bucket if kind == "orders" else settings.returns_bucket


def upload(
    s3: Any,
    settings: Settings,
    checked: CheckedFile,
    stream: BinaryIO,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> UploadResult:
    """Stream the checked file to its raw bucket (multipart above one part). Idempotent: when the key
    already holds the same bytes (by the sha256 stored in the object's metadata) nothing is sent."""
    bucket = bucket_for(checked.kind, settings)
    key = object_key(checked.kind, checked.name, now)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        head = None
    if head is not None and head.get("Metadata", {}).get(DIGEST_METADATA) == checked.sha256:
        if progress:
            progress(checked.size)
        return UploadResult(checked.kind, bucket, key, head["ETag"], already_there=True)
    stream.seek(0)
    s3.upload_fileobj(
        stream,
        bucket,
        key,
        ExtraArgs={"Metadata": {DIGEST_METADATA: checked.sha256}, "ContentType": "text/csv"},
        Config=TRANSFER,
        Callback=progress,
    )
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    return UploadResult(checked.kind, bucket, key, etag, already_there=False)


def newest_objects(s3: Any, settings: Settings) -> tuple[runs.S3Object | None, runs.S3Object | None]:
    """The newest orders and returns objects, chosen exactly as the on-upload Lambda chooses them."""
    paginator = s3.get_paginator("list_objects_v2")
    return (
        runs.newest_listed(settings.orders_bucket, paginator.paginate(Bucket=settings.orders_bucket)),
        runs.newest_listed(settings.returns_bucket, paginator.paginate(Bucket=settings.returns_bucket)),
    )


def candidate_executions(orders: runs.S3Object | None, returns: runs.S3Object | None) -> list[str]:
    """The names the upload event can have given to its run, most specific first (see on_upload.py):
    the pair's ``batch-…``, or an ``awaiting-…`` execution that one file started and the other joined."""
    names = []
    if orders is not None and returns is not None:
        names.append(runs.execution_name(orders, returns))
    if orders is not None:
        names.append(runs.execution_name(orders, None))
    if returns is not None:
        names.append(runs.execution_name(None, returns))
    return names


def find_run(s3: Any, sfn: Any, settings: Settings, timeout: float = 20.0) -> dict[str, Any] | None:
    """The execution the latest upload started or joined (S3 events are asynchronous: wait for it)."""
    machine = executions.state_machine_arn(sfn, settings)
    deadline = time.monotonic() + timeout
    while True:
        orders, returns = newest_objects(s3, settings)
        names = candidate_executions(orders, returns)
        for name in names:
            try:
                described = sfn.describe_execution(executionArn=runs.execution_arn(machine, name))
            except sfn.exceptions.ExecutionDoesNotExist:
                continue
            # An ended awaiting-… run from an earlier upload is not this upload's run: keep waiting.
            if name == names[0] or described["status"] == "RUNNING":
                return described
        if time.monotonic() > deadline:
            return None
        time.sleep(0.25)
