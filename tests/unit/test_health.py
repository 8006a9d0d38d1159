"""services/health.py: the Home page's health figures over a runs frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from services import health
from services.history import frame_from_described

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def described(name: str, status: str, start: datetime, seconds: float | None = 30) -> dict:
    stop = None if seconds is None else start + timedelta(seconds=seconds)
    return {
        "name": name,
        "status": status,
        "startDate": start,
        "stopDate": stop,
        "executionArn": f"arn:{name}",
    }


def test_health_counts_today_and_the_last_seven_days():
    runs = frame_from_described(
        [
            described("old-fail", "FAILED", NOW - timedelta(days=9)),
            described("week-ok", "SUCCEEDED", NOW - timedelta(days=3)),
            described("week-fail", "FAILED", NOW - timedelta(days=2)),
            described("today-ok", "SUCCEEDED", NOW - timedelta(hours=2)),
            described("running", "RUNNING", NOW - timedelta(minutes=1), seconds=None),
        ]
    )
    state = health.health(runs, NOW)
    assert (state.last_status, state.last_name, state.last_arn) == ("RUNNING", "running", "arn:running")
    assert state.runs_today == 2
    assert (state.ended_7d, state.success_rate_7d) == (3, 2 / 3)


def test_health_without_runs():
    state = health.health(frame_from_described([]), NOW)
    assert state == health.Health(None, None, None, 0, None, 0)


def test_age_text():
    assert health.age(None, NOW) == "never"
    assert health.age((NOW - timedelta(seconds=42)).isoformat(), NOW) == "42 s ago"
    assert health.age(NOW - timedelta(minutes=5, seconds=3), NOW) == "5 min ago"
    assert health.age(pd.Timestamp(NOW - timedelta(days=2, hours=1)), NOW) == "2 d ago"
