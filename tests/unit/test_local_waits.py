"""Waits and poll intervals: the target's defaults (ADR 0022), and the Glue status check that waits."""

from __future__ import annotations

import time

import pytest

from pipeline.lambdas import check_glue_status
from pipeline.lambdas.config import ConfigError, LambdaConfig
from stack.settings import Settings


def test_local_waits_are_short_and_aws_waits_stay_as_they_were():
    local, aws = Settings(target="local"), Settings(target="aws")
    assert (local.glue_wait_seconds, local.glue_status_wait_seconds) == (0, 5.0)
    assert (aws.glue_wait_seconds, aws.glue_status_wait_seconds) == (2, 0.0)  # one read after each Wait
    assert local.glue_poll_interval_seconds < 1 <= aws.glue_poll_interval_seconds
    # Said explicitly, a value is kept on either target; the environment says it too.
    assert Settings(target="local", glue_wait_seconds=1).glue_wait_seconds == 1
    from_env = Settings.from_env({"ECOMMERCE_TARGET": "aws", "ECOMMERCE_GLUE_STATUS_WAIT_SECONDS": "2.5"})
    assert (from_env.glue_wait_seconds, from_env.glue_status_wait_seconds) == (2, 2.5)
    assert Settings.from_env(Settings(target="aws").to_env()) == Settings(target="aws")


@pytest.mark.parametrize(
    "wrong",
    [
        {"glue_wait_seconds": -1},
        {"glue_wait_seconds": 0.5},
        {"glue_status_wait_seconds": -1},
        {"glue_poll_interval_seconds": 0},
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
