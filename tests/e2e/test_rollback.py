"""Lineage and rollback on the deployed local AWS: the table names its input files, ``python -m deploy runs``
lists the kept runs, ``python -m deploy publish RUN_ID`` makes an earlier one live (Athena answers with its
data), every publish is in the audit log, and a later normal run still publishes over a rollback."""

from __future__ import annotations

import io
import uuid

import pytest

from deploy import __main__ as deploy_cli
from deploy import rollback
from services import demo_data
from tests.e2e.test_pipeline import Pipeline

pytestmark = [pytest.mark.spark]


def cli(*argv: str, answer: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = deploy_cli.main(list(argv), out=out, ask=lambda _prompt: answer)
    return code, out.getvalue()


def upload(pipeline: Pipeline, orders: bytes, returns: bytes) -> dict:
    folder = f"rollback-{uuid.uuid4().hex[:8]}"
    _batch, execution = pipeline.upload(
        (f"{folder}/orders.csv", orders), (f"{folder}/returns.csv", returns), first="orders"
    )
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    return execution


def test_a_rollback_makes_an_earlier_run_live_and_a_newer_batch_publishes_over_it(
    local_aws, console_env, sample_data, wrangler
):
    pipeline = Pipeline(local_aws).with_nothing_waiting(sample_data)
    settings = pipeline.settings
    seed = sample_data / "seed"
    seed_orders, seed_returns = (seed / "ordercsv.csv").read_bytes(), (seed / "returncsv.csv").read_bytes()
    upload(pipeline, seed_orders, seed_returns)
    earlier = pipeline.table()["Parameters"]
    demo = {"seed": 7, "lines": 300}
    upload(pipeline, demo_data.orders_csv(**demo), demo_data.returns_csv(**demo))
    later = pipeline.table()["Parameters"]
    demo_counts = pipeline.counts()
    assert demo_counts["n"] == 300 and later["run_id"] != earlier["run_id"]

    # Lineage: the live table names the exact objects (versioned raw buckets) it was built from.
    orders_key = later["orders_source"].removeprefix(f"s3://{settings.orders_bucket}/")
    head = pipeline.aws.s3.head_object(Bucket=settings.orders_bucket, Key=orders_key)
    assert later["orders_version_id"] == head["VersionId"] and later["orders_etag"] == head["ETag"].strip('"')
    assert later["orders_size"] == str(head["ContentLength"])
    assert later["returns_source"].startswith(f"s3://{settings.returns_bucket}/rollback-")

    code, listing = cli("runs")
    assert code == 0, listing
    live_line = next(line for line in listing.splitlines() if line.startswith("* "))
    assert later["run_id"] in live_line
    assert any(line.startswith(f"  {earlier['run_id']}") for line in listing.splitlines())
    assert f"orders: {earlier['orders_source']}, version {earlier['orders_version_id']}" in listing

    # Without --yes it asks; a wrong answer changes nothing.
    code, said = cli("publish", earlier["run_id"], answer="no")
    assert code == 1 and "not confirmed" in said and "OLDER batch" in said
    assert pipeline.table()["Parameters"]["run_id"] == later["run_id"]

    code, said = cli("publish", earlier["run_id"], "--yes")
    assert code == 0, said
    assert pipeline.table()["Parameters"]["run_id"] == earlier["run_id"]
    assert pipeline.counts() == {"n": 20, "r": 10}  # Athena answers with the earlier run's data
    entry = rollback.audit_log(settings)[0]
    assert (entry.action, entry.run_id, entry.previous_run_id) == (
        "make-live",
        earlier["run_id"],
        later["run_id"],
    )
    assert entry.who.endswith("(python -m deploy)")

    # A pruned or unknown run is refused, with the runs that are kept.
    code, said = cli("publish", "20200101T000000Z-gone0000", "--yes")
    assert code == 1 and pipeline.table()["Parameters"]["run_id"] == earlier["run_id"]
    # (the reason goes to stderr; the library says it too)
    with pytest.raises(rollback.RollbackError, match="not kept"):
        rollback.plan_make_live(settings, "20200101T000000Z-gone0000")

    # The next upload's batch is newer than the live (rolled-back) one: it publishes as usual.
    newest = upload(pipeline, demo_data.orders_csv(**demo), demo_data.returns_csv(**demo))
    live = pipeline.table()["Parameters"]
    assert live["run_id"] not in (earlier["run_id"], later["run_id"]) and pipeline.counts() == demo_counts
    entry = rollback.audit_log(settings)[0]
    assert (entry.action, entry.run_id, entry.previous_run_id) == (
        "publish",
        live["run_id"],
        earlier["run_id"],
    )
    assert entry.who == f"pipeline execution {newest['name']}"
