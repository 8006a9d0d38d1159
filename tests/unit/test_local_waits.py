"""Waits and poll intervals: the target's defaults (ADR 0022, 0023), the first wait's estimate, and the Glue
status check that waits and counts itself."""

from __future__ import annotations

import time

import pytest

from pipeline.lambdas import check_glue_status, runs, trigger_glue
from pipeline.lambdas.config import ConfigError, LambdaConfig
from stack.settings import Settings


def test_local_waits_are_short_and_aws_checks_are_few():
    local, aws = Settings(target="local"), Settings(target="aws")
    assert (local.glue_first_wait_seconds, local.glue_first_wait_seconds_per_gb) == (0, 0)
    assert (local.glue_wait_seconds, local.glue_status_wait_seconds) == (0, 5.0)
    # AWS (ADR 0023): a 1–3 minute Glue run is checked once or twice (at 90 s, then 180 s), one read each.
    assert (aws.glue_first_wait_seconds, aws.glue_first_wait_seconds_per_gb) == (90, 60)
    assert (aws.glue_wait_seconds, aws.glue_status_wait_seconds) == (90, 0.0)
    assert local.glue_poll_interval_seconds < 1 <= aws.glue_poll_interval_seconds
    # Said explicitly, a value is kept on either target; the environment says it too.
    assert Settings(target="local", glue_wait_seconds=1).glue_wait_seconds == 1
    from_env = Settings.from_env({"ECOMMERCE_TARGET": "aws", "ECOMMERCE_GLUE_STATUS_WAIT_SECONDS": "2.5"})
    assert (from_env.glue_wait_seconds, from_env.glue_status_wait_seconds) == (90, 2.5)
    assert Settings.from_env(Settings(target="aws").to_env()) == Settings(target="aws")


@pytest.mark.parametrize(
    "wrong",
    [
        {"glue_wait_seconds": -1},
        {"glue_wait_seconds": 0.5},
        {"glue_status_wait_seconds": -1},
        {"glue_poll_interval_seconds": 0},
        {"glue_first_wait_seconds": -1},
        {"glue_first_wait_seconds_per_gb": -1},
    ],  # fmt: skip
)
def test_waits_step_functions_cannot_take_are_refused(wrong):
    with pytest.raises(ValueError):
        Settings(target="local", **wrong)


class GlueRuns:
    """GetJobRun answering the given states in turn (the last one from then on)."""

    def __init__(self, *states: str) -> None:
        self.states, self.reads = list(states), 0

    def get_job_run(self, JobName: str, RunId: str) -> dict:  # noqa: N803  (boto3's names)
        state = self.states[min(self.reads, len(self.states) - 1)]
        self.reads += 1
        return {"JobRun": {"JobRunState": state, "ExecutionTime": 3}}


def test_the_status_check_reads_until_the_run_ends_at_the_poll_interval():
    glue, slept = GlueRuns("RUNNING", "RUNNING", "SUCCEEDED"), []
    run = check_glue_status.read_until_ended(glue, "job", "jr", wait=5, interval=0.25, sleep=slept.append)
    assert run["JobRunState"] == "SUCCEEDED"
    assert (glue.reads, slept) == (3, [0.25, 0.25])


def test_the_status_check_reads_once_without_a_wait_and_stops_waiting_in_time():
    once = GlueRuns("RUNNING")
    assert (
        check_glue_status.read_until_ended(once, "job", "jr", 0, 0.25, time.sleep)["JobRunState"] == "RUNNING"
    )
    assert once.reads == 1
    running, started = GlueRuns("RUNNING"), time.monotonic()
    assert (
        check_glue_status.read_until_ended(running, "job", "jr", 0.3, 0.1, time.sleep)["JobRunState"]
        == "RUNNING"
    )
    assert 0.3 <= time.monotonic() - started < 1.0 and 3 <= running.reads <= 5


def test_the_status_check_waits_only_as_configured_and_within_the_invocations_time():
    event = {"job_name": "job", "job_run_id": "jr", "run_id": "R"}
    cfg = LambdaConfig.from_env({"GLUE_STATUS_WAIT_SECONDS": "30", "GLUE_POLL_INTERVAL_SECONDS": "0.5"})
    slept: list[float] = []
    answer = check_glue_status.process(
        event, cfg, GlueRuns("RUNNING"), s3=None, time_left=0, sleep=slept.append
    )
    assert (answer["outcome"], slept) == ("RUNNING", [])  # no time left: one read
    unset = GlueRuns("RUNNING")
    check_glue_status.process(event, LambdaConfig.from_env({}), unset, s3=None, sleep=slept.append)
    assert (unset.reads, slept) == (1, [])  # deployed before the setting: one read, as before
    with pytest.raises(ConfigError):
        LambdaConfig.from_env({"GLUE_POLL_INTERVAL_SECONDS": "0"})


def test_the_first_wait_is_the_runs_expected_length_from_its_input_size():
    assert runs.first_glue_wait(0, 0, 0) == 0  # local: check at once
    assert runs.first_glue_wait(1_400_000, 90, 60) == 91  # US Superstore: start-up, whole seconds up
    assert runs.first_glue_wait(5 * 10**9, 90, 60) == 390
    with pytest.raises(ValueError):
        runs.first_glue_wait(10, -1, 60)


class StartedGlue:
    def get_paginator(self, name: str):
        return self

    def paginate(self, **kwargs):
        return [{"JobRuns": []}]

    def start_job_run(self, JobName: str, Arguments: dict) -> dict:  # noqa: N803  (boto3's names)
        return {"JobRunId": "jr_1"}


def test_the_trigger_says_how_long_to_wait_from_the_settings_it_is_deployed_with():
    side = {"etag": "e", "last_modified": "2026-11-25T18:30:00Z", "version_id": "v"}
    event = {
        "orders": {"bucket": "o", "key": "orders.csv", "size": 600_000_000, **side},
        "returns": {"bucket": "r", "key": "returns.csv", "size": 400_000_000, **side},
        "execution_name": "batch-x",
    }
    environ = {"GLUE_JOB_NAME": "job", "OUTPUT_PATH": "s3://p/joined-data/", "DATABASE": "d", "TABLE": "t",
               "MAX_QUARANTINE_FRACTION": "0.01", "KEEP_RUNS": "5"}  # fmt: skip
    aws = {**environ, "GLUE_FIRST_WAIT_SECONDS": "90", "GLUE_FIRST_WAIT_SECONDS_PER_GB": "60"}
    assert trigger_glue.process(event, LambdaConfig.from_env(aws), StartedGlue())["wait_seconds"] == 150
    assert trigger_glue.process(event, LambdaConfig.from_env(environ), StartedGlue())["wait_seconds"] == 0
    with pytest.raises(ConfigError):
        LambdaConfig.from_env({"GLUE_FIRST_WAIT_SECONDS_PER_GB": "-1"})


def test_the_status_check_counts_itself_from_the_state_it_is_given():
    event = {"job_name": "job", "job_run_id": "jr", "run_id": "R", "counter": "$.glue_status.polls"}
    cfg = LambdaConfig.from_env({})
    first = check_glue_status.process({**event, "state": {"glue": {}}}, cfg, GlueRuns("RUNNING"), s3=None)
    assert first["count"] == 1
    again = {
        **event,
        "state": {"glue_status": {**first, "polls": first["count"]}},
    }  # as ResultSelector stores it
    assert check_glue_status.process(again, cfg, GlueRuns("RUNNING"), s3=None)["count"] == 2


@pytest.mark.parametrize("target", ["local", "aws"])
def test_settings_survive_the_environment_unchanged(target):
    """``make run`` and the console rebuild the settings from ECOMMERCE_* (to_env): equal settings, so the
    deployer finds the Lambdas' environment unchanged (a default of 0 read back as 0.0 was a change)."""
    settings = Settings.from_env({"ECOMMERCE_TARGET": target})
    assert Settings.from_env(settings.to_env()).to_env() == settings.to_env()
