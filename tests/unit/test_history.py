"""services/history.py (and the outcome reads of services/execution_reads.py it builds on): the runs frame,
outcomes, KPIs, filters, paging and the uploads table (no AWS)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from services import execution_reads as reads
from services import history as hi


def described(name, status, start, seconds, orders="", returns=""):
    start = datetime.fromisoformat(start).replace(tzinfo=UTC)
    execution_input = {}
    if orders:
        execution_input["orders"] = {"bucket": "ecommerce-orders-raw", "key": orders}
    if returns:
        execution_input["returns"] = {"bucket": "ecommerce-returns-raw", "key": returns}
    return {
        "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:ETL:{name}",
        "name": name,
        "status": status,
        "startDate": start,
        "stopDate": None if seconds is None else start + timedelta(seconds=seconds),
        "input": json.dumps(execution_input),
    }


@pytest.fixture
def frame() -> pd.DataFrame:
    return hi.frame_from_described(
        [
            described("a", "SUCCEEDED", "2026-11-20T10:00:00", 10, "seed/orders.csv", "seed/returns.csv"),
            described("b", "SUCCEEDED", "2026-11-21T10:00:00", 20, "us/Orders.csv", "us/returns.csv"),
            described("c", "FAILED", "2026-11-22T10:00:00", 30, "broken/orders.csv", "broken/returns.csv"),
            described("d", "SUCCEEDED", "2026-11-25T09:00:00", 40, "seed/orders.csv", "seed/returns.csv"),
            described("e", "RUNNING", "2026-11-25T10:00:00", None, "seed/orders.csv", "seed/returns.csv"),
            described("f-rerun", "ABORTED", "2026-11-25T11:00:00", 100),
        ]
    )


def test_frame_is_newest_first_with_files_and_durations(frame):
    assert list(frame["name"]) == ["f-rerun", "e", "d", "c", "b", "a"]
    assert frame.loc[frame["name"] == "c", "orders_key"].item() == "broken/orders.csv"
    assert frame.loc[frame["name"] == "f-rerun", "orders_key"].item() == ""
    assert math.isnan(frame.loc[frame["name"] == "e", "duration_s"].item())
    assert frame.loc[frame["name"] == "d", "duration_s"].item() == 40.0


def test_kpis(frame):
    kpis = hi.kpis(frame)

    assert kpis.runs == 6 and kpis.ended == 5
    assert kpis.success_rate == pytest.approx(3 / 5)
    assert kpis.p50_s == pytest.approx(30.0)  # of 10, 20, 30, 40, 100
    assert kpis.p90_s == pytest.approx(76.0)  # linear interpolation between 40 and 100
    assert kpis.runs_per_day == pytest.approx(6 / 6)  # Nov 20 to Nov 25 inclusive


def test_waiting_superseded_and_missing_runs_are_not_failures_and_do_not_count_in_the_kpis(frame):
    """A day with a lone upload: the waiting run is 'waiting for orders', not a failure (ADR 0004)."""
    start = "2026-11-26T09:00:00"
    waiting = described("awaiting-orders-1", "RUNNING", start, None, returns="r.csv")
    superseded = {
        **described("awaiting-orders-2", "SUCCEEDED", start, 3600, returns="r0.csv"),
        "output": json.dumps({"pairing": {"outcome": "superseded", "superseded_by": "awaiting-orders-1"}}),
    }
    missing = {
        **described("awaiting-returns-3", "SUCCEEDED", start, 86400, orders="o.csv"),
        "output": json.dumps({"missing": {"export": "returns", "message": "returns export missing: …"}}),
    }
    rows = [
        described(n, s, t, d, o, r)
        for n, s, t, d, o, r in (
            ("a", "SUCCEEDED", "2026-11-20T10:00:00", 10, "o", "r"),
            ("c", "FAILED", "2026-11-22T10:00:00", 30, "o", "r"),
        )
    ]
    more = hi.frame_from_described([*rows, waiting, superseded, missing], {waiting["executionArn"]: "orders"})

    assert dict(zip(more["name"], more["category"], strict=True)) == {
        "a": "processed",
        "c": "failed",
        "awaiting-orders-1": "waiting for orders",
        "awaiting-orders-2": "superseded",
        "awaiting-returns-3": "export missing",
    }
    kpis = hi.kpis(more)
    assert kpis.ended == 2 and kpis.success_rate == pytest.approx(1 / 2)  # not 3 of 4
    assert kpis.p90_s == pytest.approx(28.0)  # the day-long waits are no run durations
    assert (kpis.waiting, kpis.superseded, kpis.export_missing) == (1, 1, 1)


def test_waiting_for_reads_the_parked_state():
    def entered(name, data=None):
        return {
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": name, "input": json.dumps(data)},
        }

    parked = [entered("CheckForFiles"), {"type": "TaskStateExited", "stateExitedEventDetails": {}}]
    parked.append(entered("AwaitCounterpart", {"files": {"waiting_for": "orders"}}))
    assert reads.waiting_for(parked) == "orders"
    resumed = [*parked, {"type": "TaskStateExited", "stateExitedEventDetails": {}}, entered("CheckForFiles")]
    assert reads.waiting_for(resumed) is None
    stopped = [*parked, {"type": "ExecutionAborted"}]
    assert reads.waiting_for(stopped) is None
    # Redriven, it re-enters AwaitCounterpart and waits again (the same history goes on).
    redriven = [*stopped, {"type": "ExecutionRedriven"}, parked[-1]]
    assert reads.waiting_for(redriven) == "orders"


def test_every_upload_of_a_burst_is_in_a_run_or_superseded():
    from pipeline.lambdas import runs

    t0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def up(side, ms, key):
        at = t0 + timedelta(milliseconds=ms)
        return runs.S3Object.create(f"ecommerce-{side}-raw", key, f"e{key}", at, 1, None, at)

    o = [up("orders", 0, "o1"), up("orders", 100, "o2")]
    r = [up("returns", 200, "r1"), up("returns", 300, "r2")]
    run = {**described("batch-x", "SUCCEEDED", "2026-11-26T09:00:01", 5), "input": json.dumps({})}
    run["output"] = json.dumps({"files": {"orders": o[1].to_dict(), "returns": r[1].to_dict()}})
    frame = hi.frame_from_described([run])

    table = hi.uploads_frame([*o, *r], frame)

    by_key = {row["key"]: row for _, row in table.iterrows()}
    assert by_key["o2"]["run"] == "batch-x" and by_key["r2"]["run"] == "batch-x"
    assert by_key["o1"]["status"] == "superseded" and by_key["o1"]["superseded_by"] == "batch-x"
    assert by_key["r1"]["superseded_by"] == "batch-x"
    assert list(table["key"]) == ["r2", "r1", "o2", "o1"]  # newest upload first


def test_kpis_of_nothing():
    kpis = hi.kpis(hi.frame_from_described([]))
    assert (kpis.runs, kpis.success_rate, kpis.p50_s, kpis.p90_s, kpis.runs_per_day) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_filters(frame):
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    assert list(hi.filter_runs(frame, ["FAILED"])["name"]) == ["c"]
    assert list(hi.filter_runs(frame, ["SUCCEEDED", "RUNNING"], hi.preset_since("Today", now))["name"]) == [
        "e",
        "d",
    ]
    a_week_after_b = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert list(hi.filter_runs(frame, since=hi.preset_since("Last 7 days", a_week_after_b))["name"]) == [
        "f-rerun",
        "e",
        "d",
        "c",
        "b",
    ]
    assert len(hi.filter_runs(frame, since=hi.preset_since("All", now))) == 6
    assert list(hi.filter_runs(frame, file_name="ORDERS.csv ")["name"]) == ["e", "d", "c", "b", "a"]
    assert list(hi.filter_runs(frame, file_name="broken")["name"]) == ["c"]
    assert list(hi.filter_runs(frame, ["SUCCEEDED"], file_name="seed")["name"]) == ["d", "a"]
    assert hi.filter_runs(frame, []).empty


def test_presets():
    now = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
    assert hi.preset_since("Today", now) == datetime(2026, 11, 25, tzinfo=UTC)
    assert hi.preset_since("Last 30 days", now) == now - timedelta(days=30)
    with pytest.raises(ValueError, match="unknown date preset"):
        hi.preset_since("Yesterday", now)


def test_pages(frame):
    assert hi.page_count(6, 4) == 2 and hi.page_count(0, 4) == 1
    assert list(hi.page_of(frame, 2, 4)["name"]) == ["b", "a"]
    assert list(hi.page_of(frame, 1, 4)["name"]) == ["f-rerun", "e", "d", "c"]


def test_input_files_of_odd_inputs():
    assert hi.input_files(None) == {"orders": "", "returns": ""}
    assert hi.input_files("not json") == {"orders": "", "returns": ""}
    assert hi.input_files('{"orders": {"key": "x.csv"}}') == {"orders": "x.csv", "returns": ""}


def test_naive_utc_keeps_the_utc_wall_time(frame):
    shown = reads.naive_utc(frame)
    assert shown["start"].dt.tz is None
    assert shown.loc[shown["name"] == "a", "start"].item() == pd.Timestamp("2026-11-20T10:00:00")
    assert frame["start"].dt.tz is not None  # the input is left alone


def test_the_latest_run_is_the_newest_running_one_else_the_newest():
    old_running = described("old-running", "RUNNING", "2026-11-20T10:00:00", None)
    new_running = described("new-running", "RUNNING", "2026-11-21T10:00:00", None)
    newest = described("newest", "FAILED", "2026-11-22T10:00:00", 5)
    assert reads.latest([newest, old_running, new_running])["name"] == "new-running"
    assert reads.latest([old_running, newest])["name"] == "old-running"
    assert reads.latest([described("a", "SUCCEEDED", "2026-11-20T10:00:00", 1), newest])["name"] == "newest"
    assert reads.latest([]) is None
