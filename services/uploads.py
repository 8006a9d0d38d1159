"""Uploading an orders or returns export: check it the way the Glue job will, then the browser sends it
straight to S3 in parts.

The console never holds the file: the browser (services/s3_upload.js) sends the first bytes and the row count
for the check (for a gzip-compressed export, the compressed first bytes, which the check decompresses to at
most ``PROFILE_HEAD_BYTES`` of text, and the rows counted over the decompressed stream; ADR 0019), and then
PUTs the parts to presigned multipart-upload URLs that ``start_upload`` makes. The console completes the
upload after checking the parts S3 received. Plain functions over boto3 clients.

The browser's word is not trusted for size: ``start_upload`` issues URLs only for a file within
``Settings.max_upload_bytes`` (each URL signs its part's Content-Length, so S3 refuses a bigger body), and
``finish_upload`` checks the bytes S3 really holds before completing. Uploads that end any other way are
aborted (``abort_upload``, ``abandon_plans``); the buckets' lifecycle rule aborts what is left after a day.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Literal

import csv_profile
from botocore.exceptions import ClientError
from run_lineage import human_size

from pipeline.lambdas import config as lambda_config
from pipeline.lambdas import pairing, runs
from services import execution_reads
from stack import aws
from stack.settings import Settings

Kind = Literal["orders", "returns"]
KINDS: tuple[Kind, ...] = ("orders", "returns")
# The Glue job profiles the first 8 MB (ecommerce_join_data.HEAD_BYTES); the console checks the first 2 MB,
# which keeps the check's memory small; Glue's own check of the rest still guards the run.
PROFILE_HEAD_BYTES = 2 * 1024 * 1024
# A .csv.gz object is stored as the gzip file it is: Content-Encoding: gzip would make browsers and HTTP
# clients decompress it on download, so that the bytes read differ from the object's size and ETag.
CONTENT_TYPES = {None: "text/csv", "gzip": "application/gzip"}
SUFFIXES = {None: ".csv", "gzip": ".csv.gz"}
PART_BYTES = 8 * 1024 * 1024
MAX_PARTS = 10_000  # S3's limit
URL_SECONDS = 3600  # how long the presigned part URLs stay valid
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadRefused(ValueError):
    """The file is not loadable as it is; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class CheckedFile:
    kind: Kind
    name: str  # the sanitised file name
    size: int
    rows: int  # data rows (records after the header), counted by the browser over the whole file
    profile: csv_profile.CsvProfile

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.profile.compression]

    def profile_repairs(self) -> list[str]:
        report = self.profile.to_report()
        repairs = [f"{name}: time dropped" for name in report["dates_with_time"]]
        repairs += [f"{name}: formatted numbers cleaned" for name in report["formatted_numbers"]]
        return repairs + (["Excel sep= line skipped"] if report["sep_hint"] else [])

    def summary(self) -> dict[str, Any]:
        return {
            "encoding": self.profile.encoding,
            "compression": self.profile.compression or "none",
            "delimiter": repr(self.profile.delimiter),
            "decimal mark": self.profile.decimal,
            "date formats": ", ".join(
                f"{c.name}: {c.date_format.label}" for c in self.profile.columns if c.date_format
            )
            or "none",
            # What the job will clean up (counted per line in the run's report).
            "repairs": "; ".join(self.profile_repairs()) or "none",
            "rows": self.rows,
            "size": human_size(self.size),
            "columns": len(self.profile.columns),
        }


@dataclass(frozen=True)
class DirectUpload:
    """A multipart upload that the browser fills through presigned part URLs."""

    kind: Kind
    bucket: str
    key: str
    upload_id: str
    size: int
    part_size: int
    urls: tuple[str, ...]
    max_bytes: int  # the size limit it was issued under; finish_upload holds the received bytes to it

    def for_browser(self) -> dict[str, Any]:
        return {"upload_id": self.upload_id, "part_size": self.part_size, "urls": list(self.urls)}


@dataclass(frozen=True)
class UploadResult:
    kind: Kind
    bucket: str
    key: str
    etag: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def safe_file_name(name: str, compression: str | None = None) -> str:
    """The base name only (no folders, no ``..``), in safe characters, ending in ``.csv``, or ``.csv.gz``
    for a gzip-compressed file: the suffix says what the bytes are (the check looked), whatever the name
    said; Spark decompresses a file by its ``.gz`` suffix."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name  # strips both / and \ folders
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    if base.lower().endswith(".gz"):
        base = base[: -len(".gz")]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = _UNSAFE.sub("-", stem).strip(".-_")[:100] or "upload"
    return stem + SUFFIXES[compression]


def object_key(
    kind: Kind, file_name: str, now: datetime | None = None, compression: str | None = None
) -> str:
    """``uploads/<yyyy/mm/dd>/<kind>-<safe name>`` (``.csv`` or ``.csv.gz``): the same file uploaded twice
    on one day is one key (and, with the same bytes, the same ETag: one run); another day keeps its own."""
    now = now or datetime.now(UTC)
    return f"uploads/{now:%Y/%m/%d}/{kind}-{safe_file_name(file_name, compression)}"


def too_large(name: str, size: int, settings: Settings) -> str | None:
    """Why a file of ``size`` bytes (the browser's word) may not be uploaded, or None."""
    if size < 0:
        return f"{name}: the browser reported an impossible size ({size:,} bytes)"
    if size > settings.max_upload_bytes:
        return (
            f"{name} is {human_size(size)} ({size:,} bytes); uploads are limited to "
            f"{human_size(settings.max_upload_bytes)} ({settings.max_upload_bytes:,} bytes, "
            "ECOMMERCE_MAX_UPLOAD_BYTES). Split the export into smaller files."
        )
    return None


def check_head(
    kind: Kind,
    name: str,
    size: int,
    head: bytes,
    rows: int,
    settings: Settings,
    unreadable: str | None = None,
) -> CheckedFile:
    """Profile the file's first bytes with the Glue job's own profiler; raise UploadRefused with a reason.

    ``unreadable``: why the browser could not read the whole file (a gzip stream that is corrupt or ends
    early, found while counting the rows)."""
    refusal = too_large(name, size, settings)
    if refusal:
        raise UploadRefused(refusal)
    if unreadable:
        raise UploadRefused(
            f"{name} could not be read to its end ({unreadable[:200]}); a .csv.gz file may be truncated or "
            "corrupt: compress the export again and upload it again"
        )
    head = head[:PROFILE_HEAD_BYTES]
    try:
        profile = csv_profile.profile_bytes(
            head,
            kind=kind,
            complete=len(head) >= size,
            max_bad_fraction=settings.max_quarantine_fraction,
            max_text_bytes=PROFILE_HEAD_BYTES,  # a gzip head is decompressed to no more than this
        )
    except csv_profile.ProfileError as exc:
        raise UploadRefused(f"{name}: {exc}") from exc
    other = wrong_slot(kind, profile)
    if other:
        raise UploadRefused(
            f"{name} looks like {'an' if other == 'orders' else 'a'} {other} file "
            f"(columns: {', '.join(profile.names)}). Upload it in the {other.capitalize()} slot."
        )
    rows -= profile.sep_hint  # the browser counts Excel's "sep=" line as a row; it is no data
    if rows <= 0:
        raise UploadRefused(f"{name} has a header but no data rows.")
    return CheckedFile(kind, safe_file_name(name, profile.compression), size, rows, profile)


def wrong_slot(kind: Kind, profile: csv_profile.CsvProfile) -> Kind | None:
    """The other kind when the file is clearly the other team's export (orders carry dates and amounts)."""
    names = set(profile.names)
    if kind == "returns" and "order_date" in names and not any(n.startswith("return") for n in names):
        return "orders"
    return None


def bucket_for(kind: Kind, settings: Settings) -> str:
    return settings.orders_bucket if kind == "orders" else settings.returns_bucket


def part_size_for(size: int) -> int:
    """8 MB parts, larger when the file would need more than S3's 10,000 parts."""
    return max(PART_BYTES, math.ceil(size / MAX_PARTS))


def part_sizes(size: int, part_size: int) -> list[int]:
    """The byte count of each part of a ``size``-byte file (one part for an empty file)."""
    count = max(1, math.ceil(size / part_size))
    return [min(part_size, size - number * part_size) for number in range(count)]


def start_upload(
    s3: Any, settings: Settings, checked: CheckedFile, now: datetime | None = None
) -> DirectUpload:
    """Create the multipart upload and one presigned PUT URL per part, for a file within the size limit.

    Each URL signs its part's Content-Length: S3 refuses a body of any other size (the local AWS checks
    signatures too; plain moto does not, which is why ``finish_upload`` checks the sizes again)."""
    refusal = too_large(checked.name, checked.size, settings)
    if refusal:  # checked again here: this is where URLs are issued, whatever made ``checked``
        raise UploadRefused(refusal)
    bucket = bucket_for(checked.kind, settings)
    key = object_key(checked.kind, checked.name, now, checked.profile.compression)
    part_size = part_size_for(checked.size)
    sizes = part_sizes(checked.size, part_size)
    created = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=checked.content_type)
    upload_id = created["UploadId"]
    urls = tuple(
        s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": bucket,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": number,
                "ContentLength": length,
            },
            ExpiresIn=URL_SECONDS,
        )
        for number, length in enumerate(sizes, start=1)
    )
    return DirectUpload(
        checked.kind, bucket, key, upload_id, checked.size, part_size, urls, settings.max_upload_bytes
    )


def finish_upload(s3: Any, upload: DirectUpload) -> UploadResult:
    """Complete the upload once S3 holds every part with its planned size, within the size limit; otherwise
    abort it and refuse. The bytes counted are the parts S3 lists, not what the browser says it sent."""
    pages = s3.get_paginator("list_parts").paginate(
        Bucket=upload.bucket, Key=upload.key, UploadId=upload.upload_id
    )
    parts = sorted((p for page in pages for p in page.get("Parts", [])), key=lambda p: p["PartNumber"])
    received = sum(p["Size"] for p in parts)
    if received > upload.max_bytes:
        abort_upload(s3, upload)
        raise UploadRefused(
            f"the upload of {upload.key} holds {human_size(received)} ({received:,} bytes), more than the "
            f"limit of {human_size(upload.max_bytes)} ({upload.max_bytes:,} bytes); it was aborted and "
            "nothing was stored"
        )
    planned = part_sizes(upload.size, upload.part_size)
    if [(p["PartNumber"], p["Size"]) for p in parts] != list(enumerate(planned, start=1)):
        abort_upload(s3, upload)
        what = "incomplete" if received < upload.size or len(parts) < len(planned) else "not the checked file"
        raise UploadRefused(
            f"the upload of {upload.key} is {what} ({len(parts)} of {len(planned)} parts, "
            f"{received:,} of {upload.size:,} bytes); nothing was stored, upload the file again"
        )
    try:
        # The ETags listed above: a part replaced since no longer matches, and S3 refuses to complete.
        s3.complete_multipart_upload(
            Bucket=upload.bucket,
            Key=upload.key,
            UploadId=upload.upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]},
        )
    except ClientError as exc:
        abort_upload(s3, upload)
        raise UploadRefused(
            f"S3 refused to complete the upload of {upload.key} ({exc}); it was aborted and nothing was "
            "stored, upload the file again"
        ) from exc
    etag = s3.head_object(Bucket=upload.bucket, Key=upload.key)["ETag"]
    return UploadResult(upload.kind, upload.bucket, upload.key, etag)


def abort_upload(s3: Any, upload: DirectUpload) -> None:
    """Abort the multipart upload and free its parts; one already aborted or completed is left as it is."""
    try:
        s3.abort_multipart_upload(Bucket=upload.bucket, Key=upload.key, UploadId=upload.upload_id)
    except ClientError as exc:
        if aws.error_code(exc) != "NoSuchUpload":
            raise


def abandon_plans(
    s3: Any, plans: MutableMapping[str, DirectUpload], kind: Kind, keep: str | None = None
) -> list[DirectUpload]:
    """Abort and forget the slot's uploads in ``plans`` (token → upload) except the one for ``keep``: the
    user picked another file, or a new plan replaces them. Returns the aborted uploads."""
    stale = [token for token, plan in plans.items() if plan.kind == kind and token != keep]
    aborted = []
    for token in stale:
        plan = plans.pop(token)
        abort_upload(s3, plan)
        aborted.append(plan)
    return aborted


def newest_objects(s3: Any, settings: Settings) -> tuple[runs.S3Object | None, runs.S3Object | None]:
    """The newest orders and returns uploads, chosen exactly as the on-upload Lambda chooses them (the
    pairing ledger's upload order, ADR 0004; the newest by LastModified for a side it has not seen)."""
    cfg = lambda_config.LambdaConfig(
        orders_bucket=settings.orders_bucket,
        returns_bucket=settings.returns_bucket,
        pairing_path=settings.pairing_path,
    )
    return pairing.newest_upload(cfg, s3, "orders"), pairing.newest_upload(cfg, s3, "returns")


def _describe(sfn: Any, arn: str) -> dict[str, Any] | None:
    try:
        return sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        return None


def find_run(s3: Any, sfn: Any, settings: Settings, timeout: float = 20.0) -> dict[str, Any] | None:
    """The execution the latest upload started or joined (S3 events are asynchronous: wait for it)."""
    machine = execution_reads.state_machine_arn(sfn, settings)
    deadline = time.monotonic() + timeout
    while True:
        orders, returns = newest_objects(s3, settings)
        found = runs.run_of_upload(
            runs.upload_candidates(orders, returns),
            lambda name: _describe(sfn, runs.execution_arn(machine, name)),
        )
        if found is not None:
            return dict(found)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.25)
