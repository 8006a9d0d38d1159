"""Home page under AppTest: health figures and the published table, read from the local AWS."""

from __future__ import annotations

import pytest

from services import explorer
from stack import aws
from tests.e2e.console.conftest import page, plain

pytestmark = pytest.mark.spark


def metrics(app) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_home_shows_health_and_the_published_run(console_env, seed_run, local_aws):
    published = explorer.published_run(local_aws.settings, aws.client(local_aws.settings, "glue"))
    app = page("home.py").run()
    assert not app.exception, app.exception
    shown = metrics(app)
    assert shown["Run"] == published.run_id
    assert shown["Rows"] == f"{published.rows:,}"
    assert shown["Returned lines"] == f"{published.returned_lines:,}"
    assert int(shown["Runs today"]) >= 1
    assert shown["Last run"] in {"SUCCEEDED", "FAILED", "RUNNING", "ABORTED", "TIMED_OUT"}
    assert shown["Last successful publish"].endswith("ago")
    assert shown["Success rate (7 days)"].endswith("%")
    # Lineage: the exact input objects, with their S3 versions.
    assert [item.kind for item in published.inputs] == ["orders", "returns"]
    assert all(item.version_id and item.size for item in published.inputs)
    captions = plain("\n".join(c.value for c in app.caption))
    assert all(item.describe() in captions for item in published.inputs)


def test_home_says_what_to_do_when_nothing_is_deployed(console_env, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_STATE_MACHINE", "not-deployed")
    app = page("home.py").run()
    assert not app.exception, app.exception
    assert any("Deploy it from the Admin page" in w.value for w in app.warning)


def test_sidebar_shows_the_target_and_the_connection(console_env, local_aws):
    app = page("home.py").run()
    shown = [str(getattr(e, "value", "")) for e in app.sidebar]
    assert any(local_aws.url in text for text in shown), shown
    assert any("Connected · account" in text for text in shown), shown
    assert any("Open console" in text for text in shown), shown


def test_sidebar_says_when_the_local_aws_is_not_running(console_env, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_ENDPOINT_URL", "http://127.0.0.1:9")
    app = page("home.py").run()
    assert not app.exception, app.exception
    assert [e.value for e in app.sidebar.error] == ["Not connected"]
    # The page stops with the connection check's one message (ADR 0021), not a botocore error.
    assert [e.value for e in app.main.error] == [
        "Cannot reach the local AWS at http://127.0.0.1:9 — start it with `make run`."
    ]
    assert not app.main.metric
