"""localaws/stepfunctions.py: RedriveExecution's eligibility (AWS's rules) and where a redrive resumes."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from localaws.stepfunctions import not_redrivable_reason, unsuccessful_state

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DEFINITION = {"StartAt": "CheckForFiles", "States": {}}


@pytest.mark.parametrize("status", ["FAILED", "ABORTED", "TIMED_OUT"])
def test_an_unsuccessful_standard_execution_within_14_days_is_redrivable(status):
    assert not_redrivable_reason(status, "STANDARD", NOW - timedelta(days=13, hours=23), 40, NOW) is None


@pytest.mark.parametrize("status", ["SUCCEEDED", "RUNNING", "PENDING_REDRIVE"])
def test_succeeded_and_running_executions_are_not(status):
    reason = not_redrivable_reason(status, "STANDARD", NOW, 40, NOW)
    assert reason == f"Execution is {status} and cannot be redriven"


def test_after_14_days_express_machines_and_full_histories_are_not():
    assert "14 days" in not_redrivable_reason(
        "FAILED", "STANDARD", NOW - timedelta(days=14, seconds=1), 40, NOW
    )
    assert "EXPRESS" in not_redrivable_reason("FAILED", "EXPRESS", NOW, 40, NOW)
    assert "24999 history events" in not_redrivable_reason("FAILED", "STANDARD", NOW, 24_999, NOW)
    assert not_redrivable_reason("FAILED", "STANDARD", NOW, 24_998, NOW) is None


def entered(kind: str, name: str, state_input: dict) -> dict:
    return {
        "type": f"{kind}StateEntered",
        "stateEnteredEventDetails": {"name": name, "input": json.dumps(state_input)},
    }


def exited(kind: str, name: str) -> dict:
    return {"type": f"{kind}StateExited", "stateExitedEventDetails": {"name": name, "output": "{}"}}


STARTED = {"type": "ExecutionStarted", "executionStartedEventDetails": {"input": '{"files": 1}'}}


def test_a_caught_failure_resumes_in_its_fail_state_with_its_input():
    history = [
        STARTED, entered("Task", "NotifyFailure", {"a": 1}), exited("Task", "NotifyFailure"),
        entered("Fail", "ETLFailed", {"failure": "x"}), {"type": "ExecutionFailed"},
    ]  # fmt: skip
    assert unsuccessful_state(DEFINITION, history) == ("ETLFailed", {"failure": "x"})


def test_a_stopped_task_resumes_and_a_later_attempt_counts_over_the_first():
    first = [STARTED, entered("Task", "AwaitCounterpart", {"files": 2}), {"type": "ExecutionAborted"}]
    assert unsuccessful_state(DEFINITION, first) == ("AwaitCounterpart", {"files": 2})
    second = [
        *first, {"type": "ExecutionRedriven"}, entered("Task", "AwaitCounterpart", {"files": 2}),
        exited("Task", "AwaitCounterpart"), entered("Wait", "WaitForGlue", {"glue": 3}),
        {"type": "ExecutionAborted"},
    ]  # fmt: skip
    assert unsuccessful_state(DEFINITION, second) == ("WaitForGlue", {"glue": 3})


def test_an_execution_that_failed_before_its_first_state_starts_over_with_its_input():
    failed = [STARTED, {"type": "ExecutionFailed"}]
    assert unsuccessful_state(DEFINITION, failed) == ("CheckForFiles", {"files": 1})
