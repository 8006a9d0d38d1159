"""Pipeline health at a glance (the Home page): pure functions over the runs frame of services/history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from stack.aws import TERMINAL_STATUSES as TERMINAL


@dataclass(frozen=True)
class Health:
    last_status: str | None  # the newest execution's status
    last_name: str | None
    last_arn: str | None
    runs_today: int
    success_rate_7d: float | None  # succeeded / ended runs that started in the last 7 days
    ended_7d: int


def health(runs: pd.DataFrame, now: datetime) -> Health:
    """``runs``: history.runs_frame (newest first); ``now``: an aware datetime."""
    if runs.empty:
        return Health(None, None, None, 0, None, 0)
    newest = runs.sort_values("start", ascending=False).iloc[0]
    stamp = pd.Timestamp(now)
    today = runs[runs["start"] >= stamp.normalize()]
    week = runs[(runs["start"] >= stamp - timedelta(days=7)) & runs["status"].isin(TERMINAL)]
    rate = float((week["status"] == "SUCCEEDED").mean()) if len(week) else None
    return Health(newest["status"], newest["name"], newest["arn"], len(today), rate, len(week))


def age(since: str | datetime | None, now: datetime) -> str:
    """'3 min ago'-style text for a time (ISO text or datetime); 'never' for None."""
    if since is None:
        return "never"
    seconds = max((pd.Timestamp(now) - pd.Timestamp(since)).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"
