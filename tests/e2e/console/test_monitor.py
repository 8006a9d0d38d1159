"""Run monitor under AppTest against the local AWS: the seed run, a failed run and a rerun of it."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from stack import aws
from tests.e2e.console.conftest import page, plain
from tests.support import batches

pytestmark = pytest.mark.spark

EMPTY_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
EMPTY_ACCOUNT = "123456789012"
NO_ORDER_ID = b"Returned,Order Reference\nYes,CA-2017-153822\nYes,CA-2017-129707\n"


def monitor(arn: str):
    app = page("monitor.py")
    app.query_params["execution"] = arn
    return app.run()


def state_table(app):
    tables = [t.value for t in app.dataframe if "state" in t.value.columns]
    assert tables, "no per-state table"
    return tables[0]


@pytest.fixture(scope="module")
def failed_run(local_aws, sample_data) -> dict:
    """Seed orders with a returns file that has no order id column, under fresh keys: FAILED."""
    settings = local_aws.settings
    s3, sfn = aws.client(settings, "s3"), aws.client(settings, "stepfunctions")
    folder = f"monitor-broken-{uuid.uuid4().hex[:8]}"
    batch = batches.put_batch(
        s3,
        (settings.orders_bucket, f"{folder}/orders.csv", (sample_data / "seed/ordercsv.csv").read_bytes()),
        (settings.returns_bucket, f"{folder}/returns.csv", NO_ORDER_ID),
        first="returns",  # any run the first PUT starts already sees the broken returns file
    )
    machine = batches.state_machine_arn(sfn, settings.state_machine)
    described = batches.wait_execution(sfn, batches.find_execution(sfn, machine, batch), timeout=180)
    assert described["status"] == "FAILED", described
    assert local_aws.wait_idle(120)
    batches.wait_all_ended(sfn, machine, timeout=120)
    return described


def test_shows_the_seed_run(console_env, seed_run):
    app = monitor(seed_run["executionArn"])

    assert not app.exception, app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Status"] == "SUCCEEDED"
    table = state_table(app)
    assert {"CheckForFiles", "TriggerGlueJob", "NotifySuccess"} <= set(table["state"])
    assert set(table.loc[table["state"].isin(["CheckForFiles", "NotifySuccess"]), "status"]) == {"succeeded"}
    assert table.set_index("state").loc["CheckGlueJobStatus", "visits"] >= 1

    job_run_id = json.loads(seed_run["output"])["glue"]["job_run_id"]
    assert any(job_run_id in c.value for c in app.caption)
    assert metrics["State"] == "SUCCEEDED"
    assert metrics["rows out"] == "20" and metrics["rows in"] == "20"
    assert metrics["returned"] == "10"
    run_id = json.loads(seed_run["output"])["glue"]["run_id"]
    published = [plain(b.value) for b in [*app.success, *app.info] if "Published run" in b.value]
    assert published and published[0].startswith(f"Published run {run_id}")  # live, or replaced since

    path, machine = (graph.proto.spec for graph in app.get("graphviz_chart"))
    assert '"NotifySuccess" [fillcolor="#2e7d32"' in path  # succeeded: green
    assert '"NotifySuccess" [fillcolor="#2e7d32"' in machine
    assert '"NotifyFailure" [fillcolor="#bdbdbd"' in machine  # not visited: grey, in the whole machine
    assert '"NotifyFailure"' not in path  # the run's path: only where it went
    assert not app.error
    assert not [b for b in app.button if b.key in ("stop", "rerun", "redrive")]  # nothing to do on success


def test_failed_run_banner_names_the_failed_state_and_the_cause(console_env, failed_run):
    app = monitor(failed_run["executionArn"])

    assert not app.exception, app.exception
    banners = [plain(e.value) for e in app.error]
    assert any(
        "Failed state: GlueJob" in b and "GlueJobFailed" in b and "returns file has no order id column" in b
        for b in banners
    ), banners
    assert any("Glue error: ProfileError: returns file has no order id column" in b for b in banners), banners
    table = state_table(app).set_index("state")
    assert table.loc["CheckGlueJobStatus", "status"] == "failed"
    assert table.loc["ETLFailed", "status"] == "failed"
    assert table.loc["TriggerGlueJob", "status"] == "succeeded"
    for graph in app.get("graphviz_chart"):  # the run's path and the whole machine
        assert '"CheckGlueJobStatus" [fillcolor="#c62828"' in graph.proto.spec
    assert {m.label: m.value for m in app.metric}["Status"] == "FAILED"
    assert "Nothing published: it failed in GlueJob: GlueJobFailed." in [plain(w.value) for w in app.warning]


def test_rerun_of_a_failed_run_starts_a_new_execution(console_env, failed_run, local_aws):
    sfn = aws.client(local_aws.settings, "stepfunctions")
    app = monitor(failed_run["executionArn"])

    app.button(key="rerun").click().run()

    assert not app.exception, app.exception
    machine = failed_run["stateMachineArn"]
    reruns = [
        e for e in batches.executions(sfn, machine) if e["name"].startswith(f"{failed_run['name']}-rerun-")
    ]
    assert len(reruns) == 1, reruns
    rerun = sfn.describe_execution(executionArn=reruns[0]["executionArn"])
    # The rerun names the pair the failed run took (its own input named only the file that started it).
    taken = json.loads(rerun["input"])
    folder = taken["returns"]["key"].split("/")[0]
    assert folder.startswith("monitor-broken-")
    assert (taken["orders"]["key"], taken["returns"]["key"]) == (
        f"{folder}/orders.csv",
        f"{folder}/returns.csv",
    )
    assert any(reruns[0]["name"] in s.value for s in app.success)
    ended = batches.wait_execution(sfn, rerun["executionArn"], timeout=180)  # leave nothing running
    assert ended["status"] in batches.TERMINAL
    assert local_aws.wait_idle(120)
    batches.wait_all_ended(sfn, machine, timeout=120)


def test_a_failed_run_offers_rerun_not_a_redrive_that_would_fail_again(console_env, failed_run):
    """Its failure was caught and it ended in ETLFailed: a redrive re-enters that Fail state (AWS)."""
    app = monitor(failed_run["executionArn"])

    assert not app.exception, app.exception
    assert not [b for b in app.button if b.key == "redrive"]
    assert [b for b in app.button if b.key == "rerun"]
    assert any("re-enter the Fail state ETLFailed and fail again" in c.value for c in app.caption)


def test_redrive_resumes_a_stopped_run_where_it_stopped(console_env, local_aws, sample_data):
    """A run stopped while it waited for its orders export: Redrive resumes the same execution, which
    waits again; the page follows it and shows the redrive."""
    from pipeline.lambdas import runs

    settings = local_aws.settings
    s3, sfn = aws.client(settings, "s3"), aws.client(settings, "stepfunctions")
    machine = batches.state_machine_arn(sfn, settings.state_machine)
    batches.wait_all_ended(sfn, machine, timeout=120)
    key, body = f"monitor-redrive-{uuid.uuid4().hex[:8]}/returns.csv", (sample_data / "seed/returncsv.csv")
    name, _ = batches.put_lone(s3, settings.returns_bucket, key, body.read_bytes(), "returns")
    arn = runs.execution_arn(machine, name)
    deadline = time.monotonic() + 60
    while not (batches.describe(sfn, arn) and batches.parked(sfn, arn)):
        assert time.monotonic() < deadline, "the lone upload's run did not park"
        time.sleep(0.2)
    sfn.stop_execution(executionArn=arn, error="Stopped", cause="test: stopped by mistake")
    assert batches.wait_execution(sfn, arn)["status"] == "ABORTED"
    app = monitor(arn)

    app.button(key="redrive").click().run()

    assert not app.exception, app.exception
    assert not app.warning and not app.error, ([w.value for w in app.warning], [e.value for e in app.error])
    assert any("Redrive started" in s.value for s in app.success)
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "RUNNING" and described["redriveCount"] == 1
    assert {m.label: m.value for m in app.metric}["Status"] == "RUNNING"
    assert any(c.value.startswith("Redriven 1×") for c in app.caption)
    deadline = time.monotonic() + 60
    while not batches.parked(sfn, arn):  # AwaitCounterpart again
        assert time.monotonic() < deadline, "the redriven run did not park again"
        time.sleep(0.2)
    assert any("Waiting for the orders export" in i.value for i in monitor(arn).info)
    sfn.stop_execution(executionArn=arn, error="Stopped", cause="test: leave nothing waiting")
    assert batches.wait_execution(sfn, arn)["status"] == "ABORTED"


def newest_first(sfn, machine: str) -> list[dict]:
    return sorted(batches.executions(sfn, machine), key=lambda e: e["startDate"], reverse=True)


def test_opened_without_an_execution_it_shows_the_latest_run(console_env, seed_run, failed_run, local_aws):
    """From the sidebar (no ?execution=): the newest running run, else the newest run, already open."""
    sfn = aws.client(local_aws.settings, "stepfunctions")
    listed = newest_first(sfn, seed_run["stateMachineArn"])
    running = [e for e in listed if e["status"] == "RUNNING"]
    latest = (running or listed)[0]

    app = page("monitor.py").run()

    assert not app.exception, app.exception
    (select,) = app.selectbox
    assert select.value == latest["executionArn"]
    assert any(latest["name"] in plain(m.value) for m in app.markdown), [m.value for m in app.markdown]
    assert {m.label: m.value for m in app.metric}["Status"] == latest["status"]
    assert "execution" not in app.query_params  # "the latest run" stays the latest on reload


def test_the_picker_switches_runs_and_puts_the_choice_in_the_url(console_env, seed_run, failed_run):
    app = page("monitor.py").run()
    (select,) = app.selectbox
    for run in (failed_run, seed_run):  # the options as shown: icon, name, status, start
        assert any(run["name"] in option and run["status"] in option for option in select.options)

    for run in (failed_run, seed_run):
        app.selectbox[0].select(run["executionArn"]).run()

        assert not app.exception, app.exception
        assert app.query_params.get("execution") == run["executionArn"]
        assert {m.label: m.value for m in app.metric}["Status"] == run["status"]
        assert app.selectbox[0].value == run["executionArn"]  # the picker shows the run it opened


def test_a_bookmarked_run_opens_with_the_picker_on_it(console_env, failed_run):
    app = monitor(failed_run["executionArn"])

    assert not app.exception, app.exception
    assert app.selectbox[0].value == failed_run["executionArn"]
    assert {m.label: m.value for m in app.metric}["Status"] == "FAILED"


def test_without_any_run_it_says_so_and_points_to_upload(console_env, local_aws, monkeypatch):
    """A state machine with no executions yet (a fresh deploy): say so, link the Upload page."""
    sfn = aws.client(local_aws.settings, "stepfunctions")
    name = f"Empty-{uuid.uuid4().hex[:8]}"
    role = f"arn:aws:iam::{EMPTY_ACCOUNT}:role/empty"
    sfn.create_state_machine(name=name, definition=json.dumps(EMPTY_MACHINE), roleArn=role)
    monkeypatch.setenv("ECOMMERCE_STATE_MACHINE", name)

    app = page("monitor.py").run()

    assert not app.exception, app.exception
    assert any("No runs yet" in i.value and "Upload page" in i.value for i in app.info), app.info
    assert not app.selectbox and not app.metric and not app.error
    links = [link.proto.page for link in app.get("page_link")]
    assert [link.removesuffix(".py") for link in links] == ["upload"], links


def test_an_execution_of_another_state_machine_is_refused(console_env, seed_run, local_aws):
    machine = seed_run["stateMachineArn"]
    foreign = [
        machine.replace(":stateMachine:", ":execution:").replace(local_aws.settings.state_machine, "Payroll")
        + ":run-1",
        machine.replace(":stateMachine:", ":execution:") + ":x:y",  # a name cannot hold a colon
        "arn:aws:states:us-east-1:999999999999:execution:ETL-StepFunction-Controller:batch-1",
    ]
    for arn in foreign:
        app = monitor(arn)
        assert not app.exception, app.exception
        assert any("Refused" in e.value for e in app.error), arn
        assert not app.metric
    assert not monitor(seed_run["executionArn"]).error  # its own runs open
