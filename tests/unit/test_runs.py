"""Run semantics (docs/adr/0004, 0009) as pure functions: names, run ids, newest objects, Glue states."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.lambdas import runs
from pipeline.lambdas.config import ConfigError, LambdaConfig
from pipeline.lambdas.runs import S3Object

EVENTS = Path(__file__).resolve().parent.parent / "events"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def obj(key="orders.csv", etag="abc", when="2026-11-25T18:30:00Z", size=10, bucket="ecommerce-orders-raw"):
    return S3Object.create(bucket, key, etag, when, size)


ORDERS = obj()
RETURNS = obj("returns.csv", "def", "2026-11-25T18:31:00Z", bucket="ecommerce-returns-raw")


# --- objects ---------------------------------------------------------------------------------------


def test_create_strips_etag_quotes_and_normalises_time():
    o = S3Object.create(
        "b", "k", '"0f34"', datetime(2026, 11, 25, 19, 30, tzinfo=timezone(timedelta(hours=1))), 3
    )
    assert o.etag == "0f34"
    assert o.last_modified == "2026-11-25T18:30:00Z"
    assert o.uri == "s3://b/k"


def test_from_listing_and_dict_round_trip():
    entry = {
        "Key": "a/b.csv",
        "ETag": '"e1"',
        "LastModified": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "Size": 7,
    }
    o = S3Object.from_listing("bkt", entry)
    assert o.to_dict() == {
        "bucket": "bkt",
        "key": "a/b.csv",
        "etag": "e1",
        "last_modified": "2026-01-02T03:04:05Z",
        "size": 7,
    }
    assert S3Object.from_dict(json.loads(json.dumps(o.to_dict()))) == o
    assert runs.as_object(o.to_dict()) == o
    assert runs.as_object(None) is None


def test_from_dict_names_missing_fields():
    with pytest.raises(ValueError, match="etag"):
        S3Object.from_dict({"bucket": "b", "key": "k", "last_modified": "2026-01-01T00:00:00Z", "size": 1})


def test_newest_by_last_modified_then_key():
    a = obj("a.csv", when="2026-11-25T18:30:00Z")
    b = obj("b.csv", when="2026-11-25T18:29:59Z")
    c = obj("c.csv", when="2026-11-25T18:30:00Z")
    assert runs.newest([a, b]) == a
    assert runs.newest([c, a, b]) == c  # tie on time: larger key
    assert runs.newest([a, c, b]) == c


def test_newest_compares_times_not_strings():
    later = obj("a.csv", when="2026-11-25T19:00:00+00:00")
    earlier = obj("z.csv", when="2026-11-25T19:30:00+02:00")  # 17:30Z
    assert runs.newest([earlier, later]) == later


def test_newest_ignores_folder_keys_and_empty_objects():
    data = obj("in/data.csv", when="2026-11-25T18:00:00Z")
    folder = obj("in/", when="2026-11-25T19:00:00Z", size=0)
    folder_with_bytes = obj("in/sub/", when="2026-11-25T19:00:00Z", size=5)
    empty = obj("in/empty.csv", when="2026-11-25T20:00:00Z", size=0)
    assert runs.newest([folder, data, empty, folder_with_bytes]) == data
    assert runs.newest([folder, empty]) is None
    assert runs.newest([]) is None


def test_newest_listed_over_pages():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    pages = [
        {"Contents": [{"Key": "x.csv", "ETag": '"1"', "LastModified": t, "Size": 1}]},
        {},  # an empty page has no Contents
        {"Contents": [{"Key": "y.csv", "ETag": '"2"', "LastModified": t + timedelta(seconds=1), "Size": 1}]},
    ]
    assert runs.newest_listed("b", pages).key == "y.csv"
    assert runs.newest_listed("b", [{"KeyCount": 0}]) is None


# --- names -----------------------------------------------------------------------------------------


def test_execution_name_is_deterministic_and_valid():
    name = runs.execution_name(ORDERS, RETURNS)
    assert name == runs.execution_name(obj(), RETURNS)
    assert NAME_RE.match(name)
    assert re.fullmatch(r"batch-[0-9a-f]{24}", name)
    # Re-uploading the same bytes changes LastModified, not the ETag: the same execution (one run).
    assert runs.execution_name(obj(when="2026-11-26T09:00:00Z"), RETURNS) == name


def test_execution_name_changes_with_etag_and_key():
    name = runs.execution_name(ORDERS, RETURNS)
    assert runs.execution_name(obj(etag="abd"), RETURNS) != name
    assert runs.execution_name(ORDERS, obj("returns.csv", "xyz", "2026-11-25T18:31:00Z")) != name
    assert runs.execution_name(obj("orders2.csv"), RETURNS) != name


def test_execution_name_ignores_bucket_and_size_but_uses_the_pair_order():
    # The hash is over "orders_key|orders_etag|returns_key|returns_etag": swapping roles changes it.
    assert runs.execution_name(ORDERS, RETURNS) != runs.execution_name(
        obj("returns.csv", "def", "2026-11-25T18:31:00Z"), obj("orders.csv", "abc")
    )


def test_awaiting_names():
    orders_only = runs.execution_name(ORDERS, None)
    returns_only = runs.execution_name(None, RETURNS)
    assert re.fullmatch(r"awaiting-returns-[0-9a-f]{24}", orders_only)
    assert re.fullmatch(r"awaiting-orders-[0-9a-f]{24}", returns_only)
    assert NAME_RE.match(orders_only) and NAME_RE.match(returns_only)
    assert runs.execution_name(obj(etag="other"), None) != orders_only
    with pytest.raises(ValueError):
        runs.execution_name(None, None)


def test_names_stay_valid_for_odd_keys():
    odd = obj("dir with spaces/Ördérs (1) ü.csv" + "x" * 900, etag="e" * 32)
    for name in (runs.execution_name(odd, RETURNS), runs.execution_name(odd, None)):
        assert NAME_RE.match(name), name


def test_rerun_name():
    now = datetime(2026, 11, 26, 9, 15, 0, tzinfo=UTC)
    base = runs.execution_name(ORDERS, RETURNS)
    rerun = runs.rerun_name(base, now)
    assert rerun == f"{base}-rerun-20261126T091500Z"
    assert NAME_RE.match(rerun)
    long = runs.rerun_name("n" * 80, now)
    assert len(long) == 80 and long.endswith("-rerun-20261126T091500Z")
    twice = runs.rerun_name(runs.rerun_name(runs.execution_name(ORDERS, None), now), now + timedelta(hours=1))
    assert NAME_RE.match(twice) and twice.endswith("-rerun-20261126T101500Z")
    assert NAME_RE.match(runs.rerun_name("bad name:with/chars", now))


def test_run_id():
    name = runs.execution_name(ORDERS, RETURNS)
    rid = runs.run_id(runs.batch_time(ORDERS, RETURNS), name)
    assert re.fullmatch(r"20261125T183100Z-[0-9a-f]{8}", rid)
    assert rid == runs.run_id("2026-11-25T18:31:00Z", name)
    assert rid != runs.run_id(
        "2026-11-25T18:31:00Z", runs.rerun_name(name, datetime(2026, 12, 1, tzinfo=UTC))
    )
    assert runs.run_id("2026-11-25T18:31:00Z", "a") < runs.run_id("2026-11-25T18:31:01Z", "a")


def test_event_fixture_names_match_the_functions():
    event = json.loads((EVENTS / "sfn_trigger_glue.json").read_text())
    orders, returns = S3Object.from_dict(event["orders"]), S3Object.from_dict(event["returns"])
    assert event["execution_name"] == runs.execution_name(orders, returns)
    status = json.loads((EVENTS / "sfn_check_glue_status.json").read_text())
    assert status["run_id"] == runs.run_id(runs.batch_time(orders, returns), event["execution_name"])


def test_execution_arn():
    sm = "arn:aws:states:us-east-1:123456789012:stateMachine:ETL-StepFunction-Controller"
    assert (
        runs.execution_arn(sm, "n1")
        == "arn:aws:states:us-east-1:123456789012:execution:ETL-StepFunction-Controller:n1"
    )
    with pytest.raises(ValueError):
        runs.execution_arn("arn:aws:lambda:us-east-1:1:function:f", "n")


# --- S3 events -------------------------------------------------------------------------------------

PREFIXES = {"ecommerce-orders-raw": "", "ecommerce-returns-raw": ""}


def test_upload_records_from_fixtures():
    event = json.loads((EVENTS / "s3_put_orders.json").read_text())
    assert runs.upload_records(event, PREFIXES) == [
        {
            "bucket": "ecommerce-orders-raw",
            "key": "Sample - Superstore Orders.csv",
            "event_name": "ObjectCreated:Put",
            # the upload order: eventTime (milliseconds) and sequencer, not LastModified or the key
            "etag": "0f343b0931126a20f133d67c2b018a3b",
            "size": 2287450,
            "version_id": None,
            "event_time": "2026-11-25T18:30:00.000Z",
            "sequencer": "0055AED6DCD90281E5",
        }
    ]
    assert len(runs.upload_records(json.loads((EVENTS / "s3_put_duplicate.json").read_text()), PREFIXES)) == 2


def test_upload_records_filters():
    event = json.loads((EVENTS / "s3_put_returns.json").read_text())
    record = event["Records"][0]

    def variant(**changes):
        r = json.loads(json.dumps(record))
        for path, value in changes.items():
            target = r
            *parents, leaf = path.split("__")
            for p in parents:
                target = target[p]
            target[leaf] = value
        return {"Records": [r]}

    assert runs.upload_records(variant(s3__bucket__name="other-bucket"), PREFIXES) == []
    assert runs.upload_records(variant(s3__object__key="folder/"), PREFIXES) == []
    # No key suffix is special: .csv and .csv.gz (ADR 0019) exports alike are uploads.
    for key in ("r.csv", "r.csv.gz", "exports/r.CSV.GZ"):
        assert [r["key"] for r in runs.upload_records(variant(s3__object__key=key), PREFIXES)] == [key]
    assert runs.upload_records(variant(s3__object__size=0), PREFIXES) == []
    assert runs.upload_records(variant(eventName="ObjectRemoved:Delete"), PREFIXES) == []
    assert runs.upload_records(variant(), {"ecommerce-returns-raw": "incoming/"}) == []
    assert runs.upload_records(
        variant(s3__object__key="incoming/r.csv"), {"ecommerce-returns-raw": "incoming/"}
    )
    assert runs.upload_records({}, PREFIXES) == []
    assert runs.upload_records({"Records": None}, PREFIXES) == []


# --- Glue ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("SUCCEEDED", "SUCCEEDED"),
        ("FAILED", "FAILED"),
        ("STOPPED", "FAILED"),
        ("TIMEOUT", "FAILED"),
        ("ERROR", "FAILED"),
        ("EXPIRED", "FAILED"),
        ("STARTING", "RUNNING"),
        ("RUNNING", "RUNNING"),
        ("WAITING", "RUNNING"),
        ("STOPPING", "RUNNING"),
        ("SOMETHING_NEW", "FAILED"),
        (None, "FAILED"),
    ],
)
def test_glue_outcome(state, outcome):
    assert runs.glue_outcome(state) == outcome


def test_glue_error():
    assert runs.glue_error("SUCCEEDED", None) is None
    assert runs.glue_error("RUNNING", "ignored while running") is None
    assert runs.glue_error("FAILED", "boom") == "boom"
    assert runs.glue_error("TIMEOUT", None) == "Glue job ended in state TIMEOUT"
    assert "unknown" in runs.glue_error("SOMETHING_NEW", None)


def test_report_key():
    assert runs.report_key("s3://ecommerce-processed/joined-data/", "R1") == (
        "ecommerce-processed",
        "joined-data/run_id=R1/_quality/report.json",
    )
    assert runs.report_key("s3://p/out", "R1") == ("p", "out/run_id=R1/_quality/report.json")
    assert runs.report_uri("s3://p/out", "R1") == "s3://p/out/run_id=R1/_quality/report.json"
    with pytest.raises(ValueError):
        runs.report_key("/local/path/", "R1")


def test_glue_arguments():
    cfg = LambdaConfig(
        output_path="s3://ecommerce-processed/joined-data/",
        database="ecommerce_analytics",
        table="joined_data",
        max_quarantine_fraction=0.02,
        keep_runs=3,
    )
    args = runs.glue_arguments(cfg.job_target(), ORDERS, RETURNS, "RID")
    assert args == {
        "--orders_path": "s3://ecommerce-orders-raw/orders.csv",
        "--returns_path": "s3://ecommerce-returns-raw/returns.csv",
        "--output_path": "s3://ecommerce-processed/joined-data/",
        "--database": "ecommerce_analytics",
        "--table": "joined_data",
        "--run_id": "RID",
        "--batch_time": "2026-11-25T18:31:00.000Z",
        "--max_quarantine_fraction": "0.02",
        "--keep_runs": "3",
        "--orders_etag": "abc",
        "--returns_etag": "def",
    }
    assert all(isinstance(v, str) for v in args.values())
    # The versions CheckForFiles saw travel to the job, which reads exactly those.
    pinned = runs.glue_arguments(
        cfg.job_target(), dataclasses.replace(ORDERS, version_id="v-orders"), RETURNS, "RID"
    )
    assert pinned["--orders_version_id"] == "v-orders" and "--returns_version_id" not in pinned
    with pytest.raises(ConfigError, match="DATABASE"):
        LambdaConfig(output_path="s3://p/", table="t").job_target()


def test_quality_summary_is_tolerant():
    full = {
        "run_id": "R",
        "rows_in": 10,
        "rows_out": 9,
        "returned_lines": 2,
        "unmatched_returns": 1,
        "quarantined_lines": 1,
        "quarantine_reasons": {"bad date": 1},
        "published": True,
        "warnings": ["1 line quarantined"],
        "orders": {"encoding": "utf-8"},
    }
    assert runs.quality_summary(full, "s3://p/r.json") == {
        "rows_in": 10,
        "rows_out": 9,
        "returned_lines": 2,
        "unmatched_returns": 1,
        "quarantined_lines": 1,
        "published": True,
        "warnings": ["1 line quarantined"],
        "report_uri": "s3://p/r.json",
    }
    empty = runs.quality_summary({})
    assert empty["rows_in"] is None and empty["published"] is False and empty["warnings"] == []
    many = runs.quality_summary({"warnings": ["w" * 1000] * 50})
    assert len(many["warnings"]) == runs.MAX_WARNINGS and len(many["warnings"][0]) == runs.MAX_WARNING_CHARS


def test_jsonable_converts_datetimes():
    value = {"a": datetime(2026, 1, 1, 12, tzinfo=UTC), "b": [datetime(2026, 1, 1)], "c": 1}
    assert runs.jsonable(value) == {"a": "2026-01-01T12:00:00Z", "b": ["2026-01-01T00:00:00Z"], "c": 1}
    json.dumps(runs.jsonable(value))


# --- config ----------------------------------------------------------------------------------------


def test_config_from_env():
    cfg = LambdaConfig.from_env(
        {"ORDERS_BUCKET": " o ", "RETURNS_PREFIX": "in/", "KEEP_RUNS": "7", "MAX_QUARANTINE_FRACTION": "0.05"}
    )
    assert (cfg.orders_bucket, cfg.returns_prefix, cfg.keep_runs, cfg.max_quarantine_fraction) == (
        "o",
        "in/",
        7,
        0.05,
    )
    defaults = LambdaConfig.from_env({})
    assert (defaults.orders_prefix, defaults.max_quarantine_fraction, defaults.keep_runs) == ("", None, None)
    with pytest.raises(ConfigError, match="MAX_QUARANTINE_FRACTION, KEEP_RUNS"):
        defaults.require("max_quarantine_fraction", "keep_runs")  # set by the deployer, from the settings
    with pytest.raises(ConfigError, match="RETURNS_BUCKET, STATE_MACHINE_ARN"):
        cfg.require("orders_bucket", "returns_bucket", "state_machine_arn")
    with pytest.raises(ConfigError):
        LambdaConfig.from_env({"KEEP_RUNS": "many"})
    with pytest.raises(ConfigError):
        LambdaConfig.from_env({"MAX_QUARANTINE_FRACTION": "2"})


# --- job runs of one run id ------------------------------------------------------------------------------


def job_run(run_id: str, state: str, minute: int, arg: str | None = None) -> dict:
    return {
        "Id": run_id,
        "JobRunState": state,
        "StartedOn": datetime(2026, 11, 25, 18, minute, tzinfo=UTC),
        "Arguments": {"--run_id": arg or "R"},
    }


def test_reusable_run_is_the_newest_going_or_succeeded_run_of_that_run_id():
    listed = [
        job_run("old-failed", "FAILED", 1),
        job_run("other", "RUNNING", 5, arg="OTHER"),
        job_run("going", "RUNNING", 3),
        job_run("stopped", "STOPPED", 4),
    ]
    assert runs.reusable_run(listed, "R")["Id"] == "going"
    assert runs.reusable_run([job_run("ok", "SUCCEEDED", 2)], "R")["Id"] == "ok"
    assert runs.reusable_run([job_run("x", "FAILED", 1), job_run("y", "TIMEOUT", 2)], "R") is None
    assert runs.reusable_run([{"Id": "no-args", "JobRunState": "RUNNING"}], "R") is None


def test_stoppable_runs_are_the_unended_runs_of_that_run_id():
    listed = [
        job_run("a", "STARTING", 1),
        job_run("b", "RUNNING", 2),
        job_run("c", "STOPPING", 3),
        job_run("d", "SUCCEEDED", 4),
        job_run("e", "RUNNING", 5, arg="OTHER"),
    ]
    assert runs.stoppable_runs(listed, "R") == ["b", "a"]


def test_version_id_travels_and_null_means_none():
    listed = {"Key": "k", "ETag": '"e"', "LastModified": "2026-11-25T18:30:00Z", "Size": 3, "VersionId": "v1"}
    pinned = S3Object.from_listing("b", listed)
    assert pinned.version_id == "v1" and S3Object.from_dict(pinned.to_dict()) == pinned
    assert S3Object.from_listing("b", {**listed, "VersionId": "null"}).version_id is None
    assert "version_id" not in ORDERS.to_dict()  # unpinned objects keep their old shape


def test_latest_version_skips_other_keys_and_sees_delete_markers():
    version = {"ETag": '"e"', "LastModified": "2026-11-25T18:30:00Z", "Size": 3}
    pages = [
        {
            "Versions": [
                {**version, "Key": "k", "VersionId": "new", "IsLatest": True},
                {**version, "Key": "k", "VersionId": "old", "IsLatest": False},
                {**version, "Key": "k.bak", "VersionId": "x", "IsLatest": True},
            ]
        }
    ]
    assert runs.latest_version("b", "k", pages).version_id == "new"
    deleted = [{"DeleteMarkers": [{"Key": "k", "VersionId": "dm", "IsLatest": True}], **pages[0]}]
    assert runs.latest_version("b", "k", deleted) is None
    assert runs.latest_version("b", "missing", pages) is None


# --- pairing (ADR 0004) ------------------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def upload(side: str, at: datetime, key: str | None = None, etag: str | None = None, seq: str | None = None):
    key = key or f"uploads/{at:%Y/%m/%d}/{side}-{at:%H%M%S%f}.csv"
    return runs.S3Object.create(
        f"ecommerce-{side}-raw", key, etag or f"e-{key}", at.replace(microsecond=0), 10, None, at, seq
    )


def test_upload_order_uses_milliseconds_and_the_sequencer_never_the_key():
    early = upload("orders", T0 + timedelta(milliseconds=100), key="z-last-by-name.csv")
    late = upload("orders", T0 + timedelta(milliseconds=300), key="a-first-by-name.csv")
    assert early.last_modified == late.last_modified  # one-second resolution cannot tell them apart
    assert runs.upload_rank(late) > runs.upload_rank(early)
    tie_a = upload("orders", T0, key="z.csv", seq="00A1")
    tie_b = upload("orders", T0, key="a.csv", seq="00A2")
    assert runs.upload_rank(tie_b) > runs.upload_rank(tie_a)
    # The ledger lists newest first.
    assert sorted([runs.ledger_name(early), runs.ledger_name(late)])[0] == runs.ledger_name(late)
    assert runs.ledger_name(upload("orders", T0, key="k", etag="e")) == runs.ledger_name(
        upload("orders", T0, key="k", etag="e")
    )  # a duplicate event of one upload is one ledger entry


def test_batch_time_keeps_milliseconds():
    o = upload("orders", T0 + timedelta(milliseconds=120))
    r = upload("returns", T0 + timedelta(milliseconds=400))
    assert runs.iso_utc_ms(runs.batch_time(o, r)) == "2026-11-23T09:00:00.400Z"
    cfg = LambdaConfig(
        output_path="s3://p/joined-data/", database="d", table="t", max_quarantine_fraction=0.01, keep_runs=5
    )
    assert runs.glue_arguments(cfg.job_target(), o, r, "run")["--batch_time"] == "2026-11-23T09:00:00.400Z"


def _pair(o, r, at):
    return runs.LastPair(o, r, at, "x")


def test_a_day_starts_waiting_not_with_yesterdays_counterpart():
    o1, r1 = upload("orders", T0 - timedelta(hours=16)), upload("returns", T0 - timedelta(hours=24))
    last = _pair(o1, r1, T0 - timedelta(hours=16))
    r2 = upload("returns", T0)  # 09:00: the returns team
    decision = runs.decide(o1, r2, last, T0, 900)
    assert not decision.pair and decision.lone == r2 and decision.waiting_for == "orders"
    o2 = upload("orders", T0 + timedelta(hours=8))  # 17:00: the orders team
    assert runs.decide(o2, r2, last, T0 + timedelta(hours=8), 900) == runs.Decision(o2, r2)


def test_a_counterpart_run_as_listed_is_not_unconsumed_when_the_ledger_records_it():
    o_listed = runs.S3Object.create("ecommerce-orders-raw", "o.csv", "e", T0, 10)  # LastModified: seconds
    o_ledger = runs.S3Object.create(
        "ecommerce-orders-raw", "o.csv", "e", T0, 10, None, T0 + timedelta(seconds=0.4)
    )
    last = _pair(o_listed, upload("returns", T0), T0)
    later = T0 + timedelta(hours=16)
    r2 = upload("returns", later)
    assert not runs.decide(o_ledger, r2, last, later, 0).pair  # it waits for new orders


def test_either_order_and_the_first_pair_ever():
    o = upload("orders", T0)
    assert runs.decide(o, None, None, T0, 900) == runs.Decision(o, None)
    r = upload("returns", T0 + timedelta(hours=3))
    assert runs.decide(o, r, None, T0 + timedelta(hours=3), 900).pair


def test_a_burst_pairs_newest_with_newest():
    base = upload("orders", T0 - timedelta(days=1)), upload("returns", T0 - timedelta(days=1))
    last = _pair(*base, T0 - timedelta(days=1))
    orders = [upload("orders", T0 + timedelta(milliseconds=50 * i)) for i in range(4)]
    returns = [upload("returns", T0 + timedelta(milliseconds=200 + 50 * i)) for i in range(4)]
    first = runs.decide(orders[-1], returns[0], last, T0, 900)  # cp --recursive orders, then returns
    assert first == runs.Decision(orders[-1], returns[0])
    last = _pair(orders[-1], returns[0], T0 + timedelta(milliseconds=200))
    for r in returns[1:]:  # the counterpart was run already, but the pair is settling: newest with newest
        assert runs.decide(orders[-1], r, last, T0 + timedelta(seconds=1), 900) == runs.Decision(
            orders[-1], r
        )


def test_a_correction_at_the_same_key_pairs_at_once_a_new_file_later_waits():
    o, r = upload("orders", T0), upload("returns", T0 - timedelta(hours=8))
    last = _pair(o, r, T0)
    later = T0 + timedelta(hours=2)
    corrected = upload("orders", later, key=o.key, etag="corrected")
    assert runs.decide(corrected, r, last, later, 900).pair
    other_name = upload("orders", later)
    assert not runs.decide(other_name, r, last, later, 900).pair
    duplicate = upload("orders", T0, key=o.key, etag=o.etag)
    assert runs.decide(duplicate, r, last, later, 900).pair  # same name: the run exists already


def test_run_of_upload_prefers_the_pair_then_a_running_awaiting_execution():
    names = ["batch-x", "awaiting-returns-y"]
    ran = {"batch-x": None, "awaiting-returns-y": {"status": "RUNNING", "name": "awaiting-returns-y"}}
    assert runs.run_of_upload(names, ran.get)["name"] == "awaiting-returns-y"  # the second file joined it
    ran["awaiting-returns-y"]["status"] = "SUCCEEDED"  # an earlier upload's ended run: not this one's
    assert runs.run_of_upload(names, ran.get) is None
    ran["batch-x"] = {"status": "FAILED", "name": "batch-x"}  # the pair's own run, whatever its status
    assert runs.run_of_upload(names, ran.get)["name"] == "batch-x"
    assert runs.upload_candidates(ORDERS, None) == [runs.execution_name(ORDERS, None)]


def test_next_count_is_the_named_counter_in_the_state_plus_one():
    assert runs.next_count({"state": {}, "counter": "$.files.checks"}) == 1  # the loop's first pass
    assert runs.next_count({"state": {"files": None}, "counter": "$.files.checks"}) == 1
    assert runs.next_count({"state": {"files": {"checks": 4}}, "counter": "$.files.checks"}) == 5
    assert runs.next_count({"job_run_id": "jr"}) == 1  # called outside the state machine
    for wrong in ({"files": {"checks": "4"}}, {"files": {"checks": True}}, {"files": {"checks": -1}}):
        with pytest.raises(ValueError, match="not a count"):
            runs.next_count({"state": wrong, "counter": "$.files.checks"})
    with pytest.raises(ValueError, match="a path like"):
        runs.next_count({"state": {}, "counter": "files.checks"})
