"""Execution history under AppTest against the local AWS: the seed run, KPIs, filters, opening a run."""

from __future__ import annotations

import json

import pytest

from tests.e2e.console.conftest import page

pytestmark = pytest.mark.spark


def runs_table(app):
    tables = [t.value for t in app.dataframe if "status" in t.value.columns and "name" in t.value.columns]
    return tables[0] if tables else None


def open_history():
    app = page("history.py").run()
    assert not app.exception, app.exception
    return app


def test_shows_the_seed_run_and_kpis(console_env, seed_run):
    app = open_history()

    table = runs_table(app)
    assert table is not None, [e.value for e in app.info]
    row = table[table["name"] == seed_run["name"]]
    assert len(row) == 1
    assert row["status"].item() == "SUCCEEDED"
    orders_key = json.loads(seed_run["input"])["orders"]["key"]
    assert row["orders_key"].item() == orders_key
    metrics = {m.label: m.value for m in app.metric}
    assert set(metrics) >= {"Runs", "Success rate", "p50 duration", "p90 duration", "Runs per day"}
    # Waiting, superseded and export-missing runs are their own categories, not failures (ADR 0004).
    assert set(metrics) >= {"Waiting", "Superseded", "Export missing"}
    assert row["category"].item() == "processed"
    assert int(metrics["Runs"]) >= 1 and metrics["Success rate"].endswith("%")
    assert metrics["p50 duration"].endswith(" s")
    assert app.get("plotly_chart"), "no duration chart"


def test_status_filter_that_excludes_the_run_removes_it(console_env, seed_run):
    app = open_history()

    app.multiselect[0].set_value(["FAILED", "ABORTED"]).run()

    table = runs_table(app)
    assert table is None or seed_run["name"] not in set(table["name"])
    if table is not None:
        assert set(table["status"]) <= {"FAILED", "ABORTED"}
    app.multiselect[0].set_value(["SUCCEEDED"]).run()
    assert seed_run["name"] in set(runs_table(app)["name"])


def test_file_name_filter(console_env, seed_run):
    folder = json.loads(seed_run["input"])["returns"]["key"].split("/")[0]  # console-<hex>: only the seed's
    app = open_history()

    app.text_input[0].input(folder.upper()).run()
    table = runs_table(app)
    assert list(table["name"]) == [seed_run["name"]]
    assert {m.label: m.value for m in app.metric}["Runs"] == "1"

    app.text_input[0].input("no-such-file.csv").run()
    assert runs_table(app) is None
    assert any("No runs match" in i.value for i in app.info)


def test_selecting_a_row_opens_the_run_in_the_monitor(console_env, seed_run):
    app = open_history()
    app.text_input[0].input(json.loads(seed_run["input"])["orders"]["key"]).run()
    assert list(runs_table(app)["name"]) == [seed_run["name"]]

    app.session_state["history_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    app.run()

    assert not app.exception, app.exception
    assert app.query_params.get("execution") == seed_run["executionArn"]
    assert {m.label: m.value for m in app.metric}["Status"] == "SUCCEEDED"


def test_every_upload_is_shown_with_its_run(console_env, seed_run):
    app = open_history()

    uploads = next(t.value for t in app.dataframe if "superseded_by" in t.value.columns)
    seed_input = json.loads(seed_run["input"])
    for side in ("orders", "returns"):
        key = (seed_input.get(side) or {}).get("key")
        if key:
            row = uploads[uploads["key"] == key]
            assert list(row["status"]) == ["in a run"], uploads
            assert list(row["run"]) == [seed_run["name"]]
