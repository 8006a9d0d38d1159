"""The runs of the ETL state machine, as the Execution history page shows them.

Plain functions over boto3 clients and ``Settings`` (no Streamlit): one row per execution with its files,
outcome and duration (``runs_frame``); every upload with the run that took or superseded it; filters, date
presets, KPIs and paging.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from pipeline.lambdas import config as lambda_config
from pipeline.lambdas import pairing, runs
from services import execution_reads as reads
from stack.settings import Settings

STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
DATE_PRESETS = ("Today", "Last 7 days", "Last 30 days", "All")
# Only processed and failed runs processed files, so only they count in the success rate and the durations.
PROCESSING = frozenset({reads.PROCESSED, reads.FAILED_RUN})


# --- the runs ------------------------------------------------------------------------------------------


def runs_frame(sfn: Any, machine_arn: str, limit: int = 200, workers: int = 8) -> pd.DataFrame:
    """One row per execution (newest first) with its input files: list_executions does not return the
    input, so each execution is described (in parallel); a running ``awaiting-…`` one also has its history
    read, to tell a parked execution (waiting for its counterpart) from one that processes."""
    listed = reads.list_executions(sfn, machine_arn, limit)

    def read(listed_one: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        described = reads.describe(sfn, listed_one["executionArn"])
        parked = None
        if described["status"] == "RUNNING" and described["name"].startswith("awaiting-"):
            parked = reads.waiting_for(reads.history(sfn, described["executionArn"]))
        return described, parked

    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(read, listed))
    return frame_from_described([d for d, _ in found], {d["executionArn"]: w for d, w in found if w})


def frame_from_described(
    described: Iterable[Mapping[str, Any]], waiting: Mapping[str, str] | None = None
) -> pd.DataFrame:
    rows = []
    waiting = waiting or {}
    for execution in described:
        files = input_files(execution.get("input"))
        processed = processed_files(execution)
        start, stop = execution.get("startDate"), execution.get("stopDate")
        rows.append(
            {
                "name": execution["name"],
                "status": execution["status"],
                "category": reads.category(execution, waiting.get(execution["executionArn"])),
                "start": pd.Timestamp(start),
                "stop": pd.Timestamp(stop) if stop is not None else pd.NaT,
                "duration_s": (stop - start).total_seconds() if stop is not None else math.nan,
                "orders_key": processed.get("orders", {}).get("key") or files["orders"],
                "returns_key": processed.get("returns", {}).get("key") or files["returns"],
                "files": processed,
                "arn": execution["executionArn"],
            }
        )
    columns = [
        "name",
        "status",
        "category",
        "start",
        "stop",
        "duration_s",
        "orders_key",
        "returns_key",
        "files",
        "arn",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("start", "stop"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["duration_s"] = frame["duration_s"].astype(float)
    return frame.sort_values("start", ascending=False, ignore_index=True)


def processed_files(described: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The files a run took, by side: those it checked (its output's ``files``) or else those its input
    names (a resumed ``awaiting-…`` run took its counterpart too, which only the output shows)."""
    found: dict[str, dict[str, Any]] = {}
    sources = (
        reads.json_object(described.get("output")).get("files"),
        reads.json_object(described.get("input")),
    )
    for source in sources:
        if not isinstance(source, dict):
            continue
        for side in ("orders", "returns"):
            obj = source.get(side)
            if side not in found and isinstance(obj, dict) and obj.get("key"):
                found[side] = obj
    return found


def uploads_frame(uploads: Iterable[runs.S3Object], frame: pd.DataFrame) -> pd.DataFrame:
    """Every upload with the run that took it, or the run that superseded it (the first run that took a
    newer upload of the same side), or neither yet (waiting, or a run still to come)."""
    taken: dict[tuple[str, str, str], str] = {}
    newer: dict[str, list[tuple[Any, str]]] = {"orders": [], "returns": []}
    for _, row in frame.sort_values("start").iterrows():
        for side, obj in (row["files"] or {}).items():
            taken.setdefault((side, obj.get("key", ""), str(obj.get("etag", "")).strip('"')), row["name"])
            try:
                newer[side].append((runs.upload_rank(runs.S3Object.from_dict(obj)), row["name"]))
            except ValueError:
                continue
    rows = []
    for upload in uploads:
        side = "orders" if "orders" in upload.bucket else "returns"
        run = taken.get((side, upload.key, upload.etag))
        superseded_by = None
        if run is None:
            later = sorted(item for item in newer[side] if item[0] > runs.upload_rank(upload))
            superseded_by = later[0][1] if later else None
        rows.append(
            {
                "side": side,
                "key": upload.key,
                "uploaded_at": pd.Timestamp(runs.upload_time(upload)),
                "run": run,
                "superseded_by": superseded_by,
                "status": "in a run" if run else "superseded" if superseded_by else "not run yet",
            }
        )
    columns = ["side", "key", "uploaded_at", "status", "run", "superseded_by"]
    return pd.DataFrame(rows, columns=columns).sort_values("uploaded_at", ascending=False, ignore_index=True)


def list_uploads(s3: Any, settings: Settings, limit: int = 500) -> list[runs.S3Object]:
    """The newest uploads of each side from the pairing ledger (ADR 0004)."""
    cfg = lambda_config.LambdaConfig(
        orders_bucket=settings.orders_bucket,
        returns_bucket=settings.returns_bucket,
        pairing_path=settings.pairing_path,
    )
    return [u for side in runs.SIDES for u in pairing.uploads(cfg, s3, side, limit=limit)]


def input_files(execution_input: str | None) -> dict[str, str]:
    """The orders and returns keys named in an execution input ('' when absent, e.g. a rerun with {})."""
    try:
        parsed = json.loads(execution_input or "{}")
    except json.JSONDecodeError:
        parsed = {}
    parsed = parsed if isinstance(parsed, dict) else {}
    keys = {}
    for kind in ("orders", "returns"):
        obj = parsed.get(kind)
        keys[kind] = str(obj.get("key", "")) if isinstance(obj, dict) else ""
    return keys


# --- filters and KPIs ------------------------------------------------------------------------------------


def preset_since(preset: str, now: datetime) -> datetime | None:
    """The start of a date-range preset, in ``now``'s time zone (None = all time)."""
    if preset == "Today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if preset == "Last 7 days":
        return now - timedelta(days=7)
    if preset == "Last 30 days":
        return now - timedelta(days=30)
    if preset == "All":
        return None
    raise ValueError(f"unknown date preset {preset!r}; expected one of {DATE_PRESETS}")


def filter_runs(
    frame: pd.DataFrame,
    statuses: Iterable[str] | None = None,
    since: datetime | None = None,
    file_name: str = "",
) -> pd.DataFrame:
    """Runs with one of ``statuses`` (None = any), started at or after ``since``, whose orders or returns
    key contains ``file_name`` (case-insensitive)."""
    keep = pd.Series(True, index=frame.index)
    if statuses is not None:
        keep &= frame["status"].isin(list(statuses))
    if since is not None:
        keep &= frame["start"] >= pd.Timestamp(since)
    needle = file_name.strip().lower()
    if needle:
        keep &= frame["orders_key"].str.lower().str.contains(needle, regex=False) | frame[
            "returns_key"
        ].str.lower().str.contains(needle, regex=False)
    return frame[keep].reset_index(drop=True)


@dataclass(frozen=True)
class Kpis:
    runs: int
    ended: int  # runs that processed files and ended (processed or failed)
    success_rate: float | None  # processed / ended
    p50_s: float | None  # over those ended runs
    p90_s: float | None
    runs_per_day: float | None  # over the calendar days from the first run to the last
    waiting: int = 0
    superseded: int = 0
    export_missing: int = 0


def kpis(frame: pd.DataFrame) -> Kpis:
    """Success rate and durations over the runs that processed files; a run that waited, was superseded
    or whose counterpart never came is counted in its own category (ADR 0004)."""
    categories = (
        frame["category"]
        if "category" in frame
        else frame["status"].map(lambda s: reads.category({"status": s}))
    )
    ended = frame[categories.isin(PROCESSING)]
    durations = ended["duration_s"].dropna()
    if frame.empty:
        per_day = None
    else:
        days = (frame["start"].max().normalize() - frame["start"].min().normalize()).days + 1
        per_day = len(frame) / days
    return Kpis(
        runs=len(frame),
        ended=len(ended),
        success_rate=float((ended["status"] == "SUCCEEDED").mean()) if len(ended) else None,
        p50_s=float(durations.quantile(0.5)) if len(durations) else None,
        p90_s=float(durations.quantile(0.9)) if len(durations) else None,
        runs_per_day=per_day,
        waiting=int(categories.str.startswith("waiting for").sum()),
        superseded=int((categories == reads.SUPERSEDED).sum()),
        export_missing=int((categories == reads.EXPORT_MISSING).sum()),
    )


def page_of(frame: pd.DataFrame, page: int, size: int) -> pd.DataFrame:
    """Rows of page ``page`` (1-based) of ``size`` rows."""
    start = (max(page, 1) - 1) * size
    return frame.iloc[start : start + size].reset_index(drop=True)


def page_count(rows: int, size: int) -> int:
    return max(1, math.ceil(rows / size))
