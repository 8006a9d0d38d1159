"""Rollback: list the kept runs and make one of them live, with the same single UpdateTable as a publish.

Every run that reached publishing kept its table definition at ``run_id=<id>/_quality/table.json`` beside
its data. Making a run live puts that definition back (with the table's current ``VersionId``, so a publish
in between makes it fail instead of being overwritten) and appends an entry to the audit log. The batch
time stays the run's own, so a later normal run still publishes when its batch is newer than the live one
(docs/adr/0017-lineage-and-rollback.md).
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import run_lineage
from botocore.exceptions import ClientError

from pipeline.lambdas import config as lambda_config
from pipeline.lambdas import runs as run_names
from stack import aws
from stack.settings import Settings

AUDIT_LOG_LIMIT = 200


class RollbackError(RuntimeError):
    """A run cannot be made live; the message says why."""


@dataclass(frozen=True)
class KeptRun:
    """A run prefix still in the processed bucket, from its quality report."""

    run_id: str
    batch_time: str | None
    status: str | None  # the report's: SUCCEEDED, FAILED, or None without a report
    rows: int | None
    returned_lines: int | None
    published: bool  # the run published the table when it ran
    live: bool  # the table points at it now
    can_go_live: bool  # it has a table definition to put back
    inputs: list[run_lineage.InputFile] = field(default_factory=list)
    note: str = ""  # why it cannot go live, or that it is live

    def inputs_text(self) -> str:
        return "; ".join(item.describe() for item in self.inputs)


def _clients(settings: Settings, session: boto3.Session | None) -> tuple[Any, Any]:
    session = session or aws.session(settings)
    return aws.client(settings, "s3", session), aws.client(settings, "glue", session)


def live_table(glue: Any, settings: Settings) -> dict[str, Any] | None:
    try:
        return glue.get_table(DatabaseName=settings.database, Name=settings.table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None


def _run_ids(s3: Any, settings: Settings) -> list[str]:
    """The run ids under the output path, newest first (run ids sort by batch time)."""
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings.processed_bucket, Prefix=settings.processed_prefix, Delimiter="/"
    )
    names = [
        p["Prefix"][len(settings.processed_prefix) :].strip("/")
        for pg in pages
        for p in pg.get("CommonPrefixes", [])
    ]
    return sorted((n.removeprefix("run_id=") for n in names if n.startswith("run_id=")), reverse=True)


def kept_runs(settings: Settings, session: boto3.Session | None = None) -> list[KeptRun]:
    """Every kept run, newest first, with its counts, inputs and whether it is (or can be made) live."""
    s3, glue = _clients(settings, session)
    table = live_table(glue, settings)
    live_run = ((table or {}).get("Parameters") or {}).get("run_id")
    kept = []
    for run_id in _run_ids(s3, settings):
        report = lambda_config.read_quality_report(s3, settings.output_path, run_id) or {}
        definition = _definition(s3, settings, run_id)
        has_definition = definition is not None
        status = report.get("status")
        live = run_id == live_run
        can_go_live = has_definition and status == "SUCCEEDED"
        if live:
            note = "live"
        elif not report:
            note = "no report: the run did not finish"
        elif status != "SUCCEEDED":
            note = f"{str(status).lower()}: {report.get('error') or 'no table was built'}"
        elif not has_definition:
            note = "no table definition kept (run from before rollback existed)"
        else:
            note = ""
        kept.append(
            KeptRun(
                run_id=run_id,
                batch_time=((definition or {}).get("Parameters") or {}).get("batch_time"),
                status=status,
                rows=report.get("rows_out"),
                returned_lines=report.get("returned_lines"),
                published=bool(report.get("published")),
                live=live,
                can_go_live=can_go_live and not live,
                inputs=run_lineage.inputs_from_report(report),
                note=note,
            )
        )
    return kept


def _definition_key(settings: Settings, run_id: str) -> tuple[str, str]:
    return run_names.parse_s3_uri(
        run_names.run_prefix(settings.output_path, run_id) + run_lineage.TABLE_DEFINITION
    )


def _definition(s3: Any, settings: Settings, run_id: str) -> dict[str, Any] | None:
    bucket, key = _definition_key(settings, run_id)
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None  # pruned, or a run from before rollback existed
        raise


@dataclass(frozen=True)
class Change:
    """What making a run live would do: the run, the one it replaces, and whether that is an older batch."""

    run_id: str
    batch_time: str | None
    previous_run_id: str | None
    previous_batch_time: str | None

    @property
    def older_batch(self) -> bool:
        return bool(
            self.previous_batch_time and self.batch_time and self.batch_time < self.previous_batch_time
        )

    def warning(self) -> str:
        """What an admin confirms (the CLI asks, the Admin page shows it beside its checkbox)."""
        if self.previous_run_id is None:
            return f"Run {self.run_id} (batch {self.batch_time}) becomes the published table."
        text = (
            f"Run {self.run_id} (batch {self.batch_time}) replaces the live run {self.previous_run_id} "
            f"(batch {self.previous_batch_time})."
        )
        if self.older_batch:
            text += (
                " This is a rollback: an OLDER batch becomes live, and everyone querying the table sees its "
                "data. The next upload of a newer batch publishes over it as usual."
            )
        return text


def plan_make_live(settings: Settings, run_id: str, session: boto3.Session | None = None) -> Change:
    """What ``make_live(run_id)`` would change; raises RollbackError when the run cannot go live."""
    s3, glue = _clients(settings, session)
    change, _definition, _table = _prepare(s3, glue, settings, run_id)
    return change


def _prepare(s3: Any, glue: Any, settings: Settings, run_id: str) -> tuple[Change, dict, dict | None]:
    if not run_id or "/" in run_id:
        raise RollbackError(f"{run_id!r} is not a run id")
    definition = _definition(s3, settings, run_id)
    if definition is None:
        known = _run_ids(s3, settings)
        reason = (
            "it never finished building a table"
            if run_id in known
            else f"it is not kept (pruned, or never ran); kept runs: {', '.join(known) or 'none'}"
        )
        raise RollbackError(f"run {run_id} cannot be made live: {reason}")
    report = lambda_config.read_quality_report(s3, settings.output_path, run_id) or {}
    if report.get("status") != "SUCCEEDED":
        raise RollbackError(
            f"run {run_id} cannot be made live: it ended {report.get('status') or 'without a report'}"
        )
    table = live_table(glue, settings)
    live = (table or {}).get("Parameters") or {}
    if live.get("run_id") == run_id:
        raise RollbackError(f"run {run_id} is already live")
    wanted = definition.get("Parameters") or {}
    if live and live.get("contract_version") != wanted.get("contract_version"):
        raise RollbackError(
            f"run {run_id} was built under data contract version {wanted.get('contract_version')}, the live "
            f"table follows version {live.get('contract_version')}: its column types differ, so it cannot be "
            "made live (docs/adr/0005-fixed-table-schema.md)"
        )
    change = Change(run_id, wanted.get("batch_time"), live.get("run_id"), live.get("batch_time"))
    return change, definition, table


def make_live(settings: Settings, run_id: str, who: str, session: boto3.Session | None = None) -> Change:
    """Point the table at ``run_id`` (one UpdateTable, conditional on the table version read) and append
    the audit entry. Raises RollbackError with the reason when it cannot."""
    s3, glue = _clients(settings, session)
    change, definition, table = _prepare(s3, glue, settings, run_id)
    definition["Parameters"]["published_at"] = run_lineage.utc_now()
    if not run_lineage.point_table(glue, settings.database, definition, table):
        raise RollbackError("the table changed while this was prepared (a run published): look again")
    entry = run_lineage.audit_entry("make-live", who, run_id, change.previous_run_id, change.batch_time)
    s3.put_object(
        Bucket=settings.processed_bucket,
        Key=entry.key(settings.audit_prefix),
        Body=entry.to_json().encode(),
        ContentType="application/json",
    )
    return change


def audit_log(
    settings: Settings, session: boto3.Session | None = None, limit: int = AUDIT_LOG_LIMIT
) -> list[run_lineage.AuditEntry]:
    """The newest ``limit`` entries of the audit log, newest first."""
    s3, _glue = _clients(settings, session)
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings.processed_bucket, Prefix=settings.audit_prefix
    )
    keys = sorted((o["Key"] for page in pages for o in page.get("Contents", [])), reverse=True)[:limit]
    return [
        run_lineage.AuditEntry.from_json(
            s3.get_object(Bucket=settings.processed_bucket, Key=k)["Body"].read()
        )
        for k in keys
    ]


def cli_user() -> str:
    """Who runs the CLI, for the audit log: the operating-system user."""
    return f"{getpass.getuser()} (python -m deploy)"
