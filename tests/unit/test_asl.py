"""Static checks of the ETL-StepFunction-Controller definition (pipeline/asl).

Every checker of ``pipeline.asl.checks`` is run on the template and on a rendered definition, and each one
is shown to catch a definition broken on purpose.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pipeline.asl import checks
from pipeline.asl import render as asl
from pipeline.asl.checks import (
    LAMBDA_INVOKE,
    SNS_PUBLISH,
    Edge,
    check_callbacks,
    check_data_flow,
    check_loops,
    check_notifications,
    check_pass_states,
    check_sns_subjects,
    check_structure,
    check_tasks,
    find_problems,
    transitions,
    ways_out,
)
from pipeline.asl.render import TEMPLATE_PATH, placeholders, render, render_definition

EXPECTED_PLACEHOLDERS = {
    "CheckFilesFunctionArn",
    "TriggerGlueFunctionArn",
    "CheckGlueStatusFunctionArn",
    "StopGlueFunctionArn",
    "AwaitCounterpartFunctionArn",
    "RenderEmailFunctionArn",
    "SuccessTopicArn",
    "FailureTopicArn",
    "PairingWindowSeconds",
    "MaxFileChecks",
    "GlueWaitSeconds",
    "MaxGluePolls",
    "RetryIntervalSeconds",
}
NUMERIC = {"PairingWindowSeconds", "MaxFileChecks", "GlueWaitSeconds", "MaxGluePolls", "RetryIntervalSeconds"}
SUBSTITUTIONS: dict[str, str | int] = {
    "CheckFilesFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:check-orders-returns-exist",
    "TriggerGlueFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:ecommerce-trigger-glue",
    "CheckGlueStatusFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:check-glue-job-status",
    "StopGlueFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:ecommerce-stop-glue",
    "AwaitCounterpartFunctionArn": (
        "arn:aws:lambda:us-east-1:123456789012:function:ecommerce-await-counterpart"
    ),
    "RenderEmailFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:ecommerce-render-email",
    "SuccessTopicArn": "arn:aws:sns:us-east-1:123456789012:etl-success-topic",
    "FailureTopicArn": "arn:aws:sns:us-east-1:123456789012:etl-failure-topic",
    "PairingWindowSeconds": 86400,
    "MaxFileChecks": 20,
    "GlueWaitSeconds": 30,
    "MaxGluePolls": 120,
    "RetryIntervalSeconds": 2,
}
LAMBDA_RETRY_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "TransientError",
}
QUALITY_FIELDS = ("rows_in", "rows_out", "returned_lines", "quarantined_lines", "warnings")


@pytest.fixture
def template() -> dict[str, Any]:
    return json.loads(TEMPLATE_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def definition() -> dict[str, Any]:
    return json.loads(render_definition(SUBSTITUTIONS))


def states_of(definition: dict[str, Any], **fields: Any) -> dict[str, dict[str, Any]]:
    return {
        name: state
        for name, state in definition["States"].items()
        if all(state.get(k) == v for k, v in fields.items())
    }


def broken(definition: dict[str, Any], change) -> dict[str, Any]:
    """A deep copy of ``definition`` with ``change(states)`` applied."""
    copied = copy.deepcopy(definition)
    change(copied["States"])
    return copied


# -------------------------------------------------------------------------------------------- template


def test_template_is_valid_json_as_it_stands() -> None:
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    parsed = json.loads(text)
    assert parsed["StartAt"] in parsed["States"]


def test_placeholder_set_is_the_expected_one() -> None:
    assert placeholders(TEMPLATE_PATH.read_text(encoding="utf-8")) == EXPECTED_PLACEHOLDERS
    assert asl.PLACEHOLDERS == EXPECTED_PLACEHOLDERS
    assert set(asl.NUMERIC_PLACEHOLDERS) == NUMERIC


def test_placeholders_helper() -> None:
    assert placeholders('{"a": "${One}", "b": "x-${Two}-y ${One}", "c": "$.not", "d": "${ bad }"}') == {
        "One",
        "Two",
    }


def test_numeric_placeholders_stand_alone_in_the_template() -> None:
    """A numeric placeholder is always a whole JSON string, so that rendering makes it a number."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    for name in NUMERIC:
        assert text.count(f'"${{{name}}}"') == text.count(f"${{{name}}}") > 0, name


@pytest.mark.parametrize(
    "checker", [check_structure, check_tasks, check_pass_states, check_notifications, check_data_flow]
)
def test_template_passes_the_checks_that_need_no_values(template: dict[str, Any], checker) -> None:
    assert checker(template) == []


# ------------------------------------------------------------------------------------------- rendering


def test_render_returns_compact_json_with_typed_numbers(definition: dict[str, Any]) -> None:
    text = render_definition(SUBSTITUTIONS)
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert "${" not in text
    states = definition["States"]
    assert states["CheckForFiles"]["Parameters"]["Payload"]["window_seconds"] == 86400
    assert states["WaitForGlueAgain"]["Seconds"] == 30
    assert states["WaitForGlue"]["SecondsPath"] == "$.glue.wait_seconds"  # the trigger's estimate
    for task in states_of(definition, Type="Task").values():
        assert all(isinstance(r["IntervalSeconds"], int) and r["IntervalSeconds"] == 2 for r in task["Retry"])
    assert states["CheckForFiles"]["Parameters"]["FunctionName"] == SUBSTITUTIONS["CheckFilesFunctionArn"]
    assert states["NotifyFailure"]["Parameters"]["TopicArn"] == SUBSTITUTIONS["FailureTopicArn"]


def test_render_replaces_placeholders_inside_longer_strings() -> None:
    text = json.dumps({"A": "${X}", "B": "arn:${X}:tail", "N": "${MaxFileChecks}"})
    assert asl.render({"X": "v", "MaxFileChecks": "7"}, text=text) == {"A": "v", "B": "arn:v:tail", "N": 7}


def test_render_rejects_missing_and_unknown_keys() -> None:
    missing = {k: v for k, v in SUBSTITUTIONS.items() if k not in ("MaxGluePolls", "SuccessTopicArn")}
    with pytest.raises(ValueError, match="missing placeholders: MaxGluePolls, SuccessTopicArn"):
        render_definition(missing)
    with pytest.raises(ValueError, match="unknown keys: Bogus"):
        render_definition({**SUBSTITUTIONS, "Bogus": "x"})
    with pytest.raises(ValueError, match=r"missing placeholders: GlueWaitSeconds; unknown keys: GlueWait"):
        render_definition(
            {**{k: v for k, v in SUBSTITUTIONS.items() if k != "GlueWaitSeconds"}, "GlueWait": 1}
        )


@pytest.mark.parametrize(
    ("name", "value"),
    [("MaxFileChecks", "many"), ("MaxGluePolls", 0), ("RetryIntervalSeconds", 0), ("GlueWaitSeconds", True)],
)
def test_render_rejects_bad_numbers(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        render_definition({**SUBSTITUTIONS, name: value})


def test_counter_choices_compare_with_numbers(definition: dict[str, Any]) -> None:
    rules = [
        guard
        for choice in states_of(definition, Type="Choice").values()
        for rule in choice["Choices"]
        for guard in [rule, *rule.get("And", [])]
        if "NumericGreaterThanEquals" in guard
    ]
    assert {(g["Variable"], g["NumericGreaterThanEquals"]) for g in rules} == {
        ("$.files.checks", 20),
        ("$.glue_status.polls", 120),
    }


# ----------------------------------------------------------------------------------- the rendered machine


@pytest.mark.parametrize("checker", checks.CHECKERS, ids=lambda c: c.__name__)
def test_rendered_definition_passes_every_check(definition: dict[str, Any], checker) -> None:
    assert checker(definition) == []


def test_state_machine_shape(definition: dict[str, Any]) -> None:
    states = definition["States"]
    # No Pass state only counts: the checks count themselves (counting tasks), and they start the run.
    assert definition["StartAt"] == "CheckForFiles"
    assert not [n for n, s in states.items() if s["Type"] == "Pass" and "MathAdd" in json.dumps(s)]
    assert set(states_of(definition, Type="Task")) == {
        "CheckForFiles",
        "AwaitCounterpart",
        "TriggerGlueJob",
        "CheckGlueJobStatus",
        "StopGlueJob",
        "RenderSuccessEmail",
        "RenderExportMissingEmail",
        "RenderFailureEmail",
        "NotifySuccess",
        "NotifyExportMissing",
        "NotifyFailure",
    }
    assert set(states_of(definition, Resource=SNS_PUBLISH)) == {
        "NotifySuccess",
        "NotifyExportMissing",
        "NotifyFailure",
    }
    # Processed, export missing (after its alert), superseded (quietly): none of them is a failure.
    assert {n for n, s in states.items() if s["Type"] == "Succeed"} == {
        "ETLSucceeded",
        "ExportMissing",
        "RunSuperseded",
    }
    assert [s["Type"] for s in states.values()].count("Fail") == 1
    # NotifyFailure cannot notify about itself: its Catch goes straight to the Fail state.
    fail = next(iter(states_of(definition, Type="Fail")))
    assert [c["Next"] for c in states["NotifyFailure"]["Catch"]] == [fail]
    assert states["NotifyFailure"]["Next"] == fail
    # A failed success notification is recorded and reported through NotifyFailure.
    catch_target = states["NotifySuccess"]["Catch"][0]["Next"]
    assert states[catch_target]["Next"] == "RenderFailureEmail"
    # Each publish sends what its Render…Email state rendered, or its plain stand-in when that failed.
    for outcome in ("Success", "ExportMissing", "Failure"):
        render_state, plain = states[f"Render{outcome}Email"], states[f"Plain{outcome}Email"]
        assert render_state["Next"] == plain["Next"] == f"Notify{outcome}"
        assert [c["Next"] for c in render_state["Catch"]] == [f"Plain{outcome}Email"]
        assert render_state["ResultPath"] == plain["ResultPath"] == "$.email"
        assert states[f"Notify{outcome}"]["Parameters"] == {
            "TopicArn": states[f"Notify{outcome}"]["Parameters"]["TopicArn"],
            "Subject.$": "$.email.subject",
            "Message.$": "$.email.message",
        }
    # Every way into a publish goes through its renderer.
    into = {(e.target, e.source) for e in transitions(definition) if e.target.startswith("Notify")}
    assert into == {(f"Notify{o}", f"{k}{o}Email") for o in ("Success", "ExportMissing", "Failure")
                    for k in ("Render", "Plain")}  # fmt: skip


def test_lambda_tasks_follow_the_contracts(definition: dict[str, Any]) -> None:
    states = definition["States"]
    lambdas = states_of(definition, Resource=LAMBDA_INVOKE)
    renderers = {"RenderSuccessEmail", "RenderExportMissingEmail", "RenderFailureEmail"}
    assert set(lambdas) == {
        "CheckForFiles",
        "TriggerGlueJob",
        "CheckGlueJobStatus",
        "StopGlueJob",
        *renderers,
    }
    for name, state in lambdas.items():
        retried = {error for retry in state["Retry"] for error in retry["ErrorEquals"]}
        assert retried >= LAMBDA_RETRY_ERRORS, name
        if name == "StopGlueJob" or name in renderers:
            continue
        assert state["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": f"Record{name}Error"}
        ]
        record = states[f"Record{name}Error"]
        assert record["Type"] == "Pass" and record["ResultPath"] == "$.failure"
        assert record["Parameters"] == {
            "failed_state": name,
            "error.$": "$.error.Error",
            "cause.$": "$.error.Cause",
        }
        # Once a Glue run may exist, the failure path stops it before notifying.
        assert record["Next"] == ("RenderFailureEmail" if name == "CheckForFiles" else "StopGlueJob")
    stop = states["StopGlueJob"]
    assert stop["Parameters"]["Payload"] == states["TriggerGlueJob"]["Parameters"]["Payload"]
    assert stop["Next"] == "RenderFailureEmail"
    assert stop["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.glue_stop_error", "Next": "RenderFailureEmail"}
    ]
    assert states["RecordGlueJobTimeout"]["Next"] == "StopGlueJob"
    assert states["RecordGlueJobFailed"]["Next"] == "RenderFailureEmail"  # the run has ended already
    for name in renderers:
        assert states[name]["Parameters"]["Payload"] == {
            "kind": {"RenderSuccessEmail": "success", "RenderExportMissingEmail": "export_missing"}.get(
                name, "failure"
            ),
            "execution_arn.$": "$$.Execution.Id",
            "execution_name.$": "$$.Execution.Name",
            "execution_input.$": "$$.Execution.Input",
            "state.$": "$",  # everything the run gathered: files with versions, counts, the failure
        }
        assert states[name]["ResultSelector"] == {
            "subject.$": "$.Payload.subject",
            "message.$": "$.Payload.message",
        }
    assert states["CheckForFiles"]["ResultSelector"] == {
        "both_exist.$": "$.Payload.both_exist",
        "orders.$": "$.Payload.orders",
        "returns.$": "$.Payload.returns",
        "waiting_for.$": "$.Payload.waiting_for",
        "lone_side.$": "$.Payload.lone_side",
        "waiting_since.$": "$.Payload.waiting_since",
        "waiting_until.$": "$.Payload.waiting_until",
        "window_seconds_left.$": "$.Payload.window_seconds_left",
        "superseded_by.$": "$.Payload.superseded_by",
        "checks.$": "$.Payload.count",  # the check counts itself: files.checks (runs.next_count)
    }
    assert states["CheckForFiles"]["Parameters"]["Payload"]["counter"] == "$.files.checks"
    assert states["TriggerGlueJob"]["Parameters"]["Payload"] == {
        "orders.$": "$.files.orders",
        "returns.$": "$.files.returns",
        "execution_name.$": "$$.Execution.Name",
        "execution_arn.$": "$$.Execution.Id",
    }
    assert {k[:-2] for k in states["TriggerGlueJob"]["ResultSelector"]} == {
        "job_name",
        "job_run_id",
        "run_id",
        "orders_path",
        "returns_path",
        "wait_seconds",
    }
    assert states["CheckGlueJobStatus"]["Parameters"]["Payload"] == {
        "job_name.$": "$.glue.job_name",
        "job_run_id.$": "$.glue.job_run_id",
        "run_id.$": "$.glue.run_id",
        "state.$": "$",
        "counter": "$.glue_status.polls",
    }
    assert {k[:-2] for k in states["CheckGlueJobStatus"]["ResultSelector"]} == {
        "state",
        "outcome",
        "error",
        "duration_seconds",
        "quality",
        "polls",
    }
    result_paths = [s["ResultPath"] for n, s in lambdas.items() if n not in renderers]
    assert len(set(result_paths)) == 4 and "$" not in result_paths


def test_plain_stand_ins_carry_what_the_reader_needs(definition: dict[str, Any]) -> None:
    """When the renderer fails, the plain texts still name the run, the files and the reason."""
    states = definition["States"]
    failure = states["PlainFailureEmail"]["Parameters"]["message.$"]
    for needed in (
        "$.failure.failed_state",
        "$.failure.error",
        "$.failure.cause",
        "States.JsonToString($$.Execution.Input)",
        "$$.Execution.Name",
    ):
        assert needed in failure
    success = states["PlainSuccessEmail"]["Parameters"]["message.$"]
    for needed in (
        "$.glue.run_id",
        "$.glue.orders_path",
        "$.glue.returns_path",
        "$.glue_status.duration_seconds",
        "$$.Execution.Name",
        *(f"$.glue_status.quality.{f}" for f in QUALITY_FIELDS),
    ):
        assert needed in success
    for name in ("PlainSuccessEmail", "PlainFailureEmail"):
        assert "$.email_error.Cause" in states[name]["Parameters"]["message.$"]  # why it stands in
    assert states["PlainExportMissingEmail"]["Parameters"]["message.$"] == "$.missing.message"
    assert states["RecordExportMissing"]["Parameters"]["message.$"].startswith(
        "States.Format('{} export missing: {} arrived at {}, nothing by {}."
    )


def test_failure_records_name_state_error_and_cause(definition: dict[str, Any]) -> None:
    records = {
        n: s for n, s in states_of(definition, Type="Pass").items() if s.get("ResultPath") == "$.failure"
    }
    assert {s["Parameters"].get("error") for s in records.values()} >= {
        "FilesMissing",
        "GlueJobFailed",
        "GlueJobTimeout",
    }
    for name, state in records.items():
        params = state["Parameters"]
        assert set(params) in (
            {"failed_state", "error", "cause.$"},
            {"failed_state", "error.$", "cause.$"},
        ), name
        assert state["Next"] in ("RenderFailureEmail", "StopGlueJob")
    assert records["RecordFilesMissing"]["Parameters"]["failed_state"] == "CheckForFiles"


def test_transitions_lists_every_kind(definition: dict[str, Any]) -> None:
    edges = transitions(definition)
    kinds = {(e.source, e.target, e.kind) for e in edges}
    assert ("CheckForFiles", "FilesExist", "next") in kinds
    assert ("AwaitCounterpart", "CheckForFiles", "next") in kinds
    assert ("FilesExist", "TriggerGlueJob", "choice") in kinds
    assert ("FilesExist", "AwaitCounterpart", "default") in kinds
    assert ("AwaitCounterpart", "RecordExportMissing", "catch") in kinds
    assert ("CheckForFiles", "RecordCheckForFilesError", "catch") in kinds
    assert not any(e.source == "ETLSucceeded" for e in edges)


def test_ways_out_of_a_state_in_order_one_edge_per_rule_and_catcher() -> None:
    state = {
        "Type": "Choice",
        "Choices": [{"Next": "A"}, {"Next": "B"}],
        "Default": "C",
        "Catch": [{"ErrorEquals": ["X"], "Next": "D"}, {"ErrorEquals": ["States.ALL"], "Next": "D"}],
    }
    assert ways_out("S", state) == [
        Edge("S", "A", "choice"),
        Edge("S", "B", "choice"),
        Edge("S", "C", "default"),
        Edge("S", "D", "catch"),
        Edge("S", "D", "catch"),
    ]
    assert ways_out("T", {"Type": "Task", "Next": "U"}) == [Edge("T", "U", "next")]
    assert ways_out("End", {"Type": "Succeed"}) == []


# ------------------------------------------------------------------------- each checker catches a break


def test_structure_check_catches_dangling_and_unreachable(definition: dict[str, Any]) -> None:
    def dangling(states):
        states["WaitForGlue"]["Next"] = "CheckGlueStatus"

    assert any("does not exist" in p for p in check_structure(broken(definition, dangling)))

    def dangling_catch(states):
        states["TriggerGlueJob"]["Catch"][0]["Next"] = "Nowhere"

    assert any("catch target 'Nowhere'" in p for p in check_structure(broken(definition, dangling_catch)))

    def orphan(states):
        states["Orphan"] = {"Type": "Pass", "Next": "NotifyFailure"}

    assert check_structure(broken(definition, orphan)) == ["Orphan: unreachable from StartAt"]

    def no_next(states):
        del states["TriggerGlueJob"]["Next"]

    assert any("exactly one of Next and End" in p for p in check_structure(broken(definition, no_next)))

    def states_error(states):
        states["ETLFailed"]["Error"] = "States.TaskFailed"

    assert any("States.* error" in p for p in check_structure(broken(definition, states_error)))


def test_task_check_catches_missing_retry_catch_and_selector(definition: dict[str, Any]) -> None:
    def no_catch(states):
        del states["CheckGlueJobStatus"]["Catch"]

    assert check_tasks(broken(definition, no_catch)) == [
        "CheckGlueJobStatus: Task without a States.ALL Catch"
    ]

    def no_retry(states):
        del states["NotifySuccess"]["Retry"]

    assert check_tasks(broken(definition, no_retry)) == ["NotifySuccess: Task without Retry"]

    def whole_payload(states):
        states["TriggerGlueJob"]["ResultSelector"] = {"payload.$": "$.Payload"}

    assert any("must pick a field of $.Payload" in p for p in check_tasks(broken(definition, whole_payload)))

    def no_selector(states):
        del states["CheckForFiles"]["ResultSelector"]

    assert any("without ResultSelector" in p for p in check_tasks(broken(definition, no_selector)))

    def replaces_state(states):
        states["CheckForFiles"]["Catch"][0]["ResultPath"] = "$"

    assert any("Catch must keep the state" in p for p in check_tasks(broken(definition, replaces_state)))


def test_pass_check_catches_dollar_keys_in_result(definition: dict[str, Any]) -> None:
    def dollar_in_result(states):
        states["RecordFilesMissing"]["Result"] = {"failed_state": "CheckForFiles", "cause.$": "$.files"}
        del states["RecordFilesMissing"]["Parameters"]

    assert check_pass_states(broken(definition, dollar_in_result)) == [
        "RecordFilesMissing: '.$' key in Result (Result.cause.$); use Parameters"
    ]


def test_notification_check_catches_a_path_without_notification(definition: dict[str, Any]) -> None:
    def silent_failure(states):
        states["RecordGlueJobTimeout"]["Next"] = "ETLFailed"

    problems = check_notifications(broken(definition, silent_failure))
    assert problems and all("no SNS publish on path" in p for p in problems)
    assert any("RecordGlueJobTimeout -> ETLFailed" in p for p in problems)


def test_notification_check_catches_double_notification(definition: dict[str, Any]) -> None:
    def double(states):
        states["NotifySuccess"]["Next"] = "RecordNotifySuccessError"

    problems = check_notifications(broken(definition, double))
    assert any("more than one SNS publish" in p and "NotifySuccess" in p for p in problems)


def test_notification_check_allows_only_one_notifier_to_give_up(definition: dict[str, Any]) -> None:
    def success_gives_up(states):
        states["NotifySuccess"]["Catch"][0]["Next"] = "ETLFailed"
        del states["RecordNotifySuccessError"]

    problems = check_notifications(broken(definition, success_gives_up))
    assert problems == [
        "SNS tasks whose Catch reaches no other SNS task (only one may): ['NotifyFailure', 'NotifySuccess']"
    ]


def test_notification_check_follows_catch_of_non_sns_tasks(definition: dict[str, Any]) -> None:
    def catch_to_fail(states):
        states["CheckForFiles"]["Catch"][0]["Next"] = "ETLFailed"
        del states["RecordCheckForFilesError"]

    problems = check_notifications(broken(definition, catch_to_fail))
    assert problems == ["no SNS publish on path CheckForFiles -> ETLFailed"]


def test_loop_check_catches_a_cycle_without_choice(definition: dict[str, Any]) -> None:
    def endless(states):
        states["CheckGlueJobStatus"]["Next"] = "WaitForGlueAgain"

    problems = check_loops(broken(definition, endless))
    assert any(p.startswith("cycle without a Choice state") and "WaitForGlueAgain" in p for p in problems)


def test_loop_check_catches_a_missing_bound(definition: dict[str, Any]) -> None:
    def unbounded(states):
        states["FilesExist"]["Choices"] = states["FilesExist"]["Choices"][:1]

    problems = check_loops(broken(definition, unbounded))
    assert problems == [
        "loop ['AwaitCounterpart', 'CheckForFiles', 'FilesExist'] has no Choice leaving it "
        "on a numeric bound of ['$.files.checks']"
    ]


def test_loop_check_catches_a_string_bound_and_a_missing_increment(definition: dict[str, Any]) -> None:
    def string_bound(states):
        states["FilesExist"]["Choices"][2]["NumericGreaterThanEquals"] = "20"

    assert any("compares with '20', not a number" in p for p in check_loops(broken(definition, string_bound)))

    # A counting task counts only when it passes the state, names the counter and stores its count there.
    def no_count_stored(states):
        del states["CheckGlueJobStatus"]["ResultSelector"]["polls.$"]

    def count_stored_elsewhere(states):
        states["CheckGlueJobStatus"]["ResultSelector"]["tries.$"] = "$.Payload.count"
        del states["CheckGlueJobStatus"]["ResultSelector"]["polls.$"]

    def no_state_passed(states):
        del states["CheckGlueJobStatus"]["Parameters"]["Payload"]["state.$"]

    def other_counter_named(states):
        states["CheckGlueJobStatus"]["Parameters"]["Payload"]["counter"] = "$.glue_status.tries"

    for no_increment in (no_count_stored, count_stored_elsewhere, no_state_passed, other_counter_named):
        problems = check_loops(broken(definition, no_increment))
        assert any("has no counting task" in p and "CheckGlueJobStatus" in p for p in problems), no_increment

    def reset(states):
        states["WaitForGlueAgain"] = {
            "Type": "Pass",
            "Result": {"polls": 0},
            "ResultPath": "$.glue_status",
            "Next": "CheckGlueJobStatus",
        }

    assert any("WaitForGlueAgain overwrites the counter" in p for p in check_loops(broken(definition, reset)))


def test_loop_check_on_the_unrendered_template_sees_placeholder_bounds(template: dict[str, Any]) -> None:
    assert any("not a number" in p for p in check_loops(template))


def test_data_flow_check_catches_reads_of_absent_fields(definition: dict[str, Any]) -> None:
    def glue_before_trigger(states):
        states["RecordFilesMissing"]["Parameters"]["cause.$"] = "States.Format('run {}', $.glue.run_id)"

    assert check_data_flow(broken(definition, glue_before_trigger)) == [
        "RecordFilesMissing: reads ['$.glue'], not set on every path to it"
    ]

    def reads_input(states):
        states["CheckForFiles"]["Parameters"]["Payload"]["orders.$"] = "$.orders"

    assert check_data_flow(broken(definition, reads_input)) == [
        "CheckForFiles: reads ['$.orders'], not set on every path to it"
    ]

    def notify_reads_glue(states):
        states["NotifyFailure"]["Parameters"]["Message.$"] = "States.Format('{}', $.glue_status.error)"

    assert check_data_flow(broken(definition, notify_reads_glue)) == [
        "NotifyFailure: reads ['$.glue_status'], not set on every path to it"
    ]

    def publish_unrendered(states):  # a way into the publish that skips the renderer
        states["RecordGlueJobFailed"]["Next"] = "NotifyFailure"

    assert check_data_flow(broken(definition, publish_unrendered)) == [
        "NotifyFailure: reads ['$.email'], not set on every path to it"
    ]


def test_subject_check_catches_long_or_unbounded_subjects(definition: dict[str, Any]) -> None:
    def long_subject(states):
        states["NotifySuccess"]["Parameters"] = {"TopicArn": "t", "Subject": "x" * 101, "Message": "m"}

    assert check_sns_subjects(broken(definition, long_subject)) == [
        "NotifySuccess: Subject may exceed 100 ASCII characters"
    ]

    def non_ascii(states):
        states["NotifySuccess"]["Parameters"] = {
            "TopicArn": "t",
            "Subject": "ETL run succeeded ✓",
            "Message": "m",
        }

    assert check_sns_subjects(broken(definition, non_ascii)) == [
        "NotifySuccess: Subject may exceed 100 ASCII characters"
    ]

    def cause_in_subject(states):
        states["NotifyFailure"]["Parameters"]["Subject.$"] = "States.Format('Failed: {}', $.failure.cause)"

    assert check_sns_subjects(broken(definition, cause_in_subject)) == [
        "NotifyFailure: Subject.$ may only interpolate $.failure.failed_state, $.missing.export"
    ]

    def cause_in_plain_subject(states):  # the stand-in for the rendered email obeys the same rules
        states["PlainFailureEmail"]["Parameters"]["subject.$"] = (
            "States.Format('Failed: {}', $.failure.cause)"
        )

    assert check_sns_subjects(broken(definition, cause_in_plain_subject)) == [
        "PlainFailureEmail: subject.$ may only interpolate $.failure.failed_state, $.missing.export"
    ]

    def email_from_elsewhere(states):
        states["AddEmptyQualityReport"]["ResultPath"] = "$.email"
        states["AddEmptyQualityReport"]["Type"] = "Wait"

    assert check_sns_subjects(broken(definition, email_from_elsewhere)) == [
        "AddEmptyQualityReport: writes $.email but is neither the renderer nor a Pass"
    ]


def test_find_problems_collects_from_all_checkers(definition: dict[str, Any]) -> None:
    def two_breaks(states):
        del states["TriggerGlueJob"]["Retry"]
        states["RecordGlueJobFailed"]["Next"] = "ETLFailed"

    problems = find_problems(broken(definition, two_breaks))
    assert "TriggerGlueJob: Task without Retry" in problems
    assert any("no SNS publish" in p for p in problems)


def test_render_of_the_real_template_round_trips() -> None:
    rendered = render(SUBSTITUTIONS)
    assert json.loads(render_definition(SUBSTITUTIONS)) == rendered
    assert find_problems(rendered) == []


# ------------------------------------------------------------------------- the pairing wait (ADR 0004)


def test_the_wait_is_a_task_token_bounded_by_the_window(definition: dict[str, Any]) -> None:
    state = definition["States"]["AwaitCounterpart"]
    assert state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert state["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert state["TimeoutSecondsPath"] == "$.files.window_seconds_left"
    assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.Timeout"], ["States.ALL"]]
    # No polling loop is left: no Wait state on the way to the counterpart.
    assert "WaitForFiles" not in definition["States"]
    assert check_callbacks(definition) == []


def test_callback_check_catches_an_unbounded_or_unalerted_wait(definition: dict[str, Any]) -> None:
    def no_timeout(states):
        del states["AwaitCounterpart"]["TimeoutSecondsPath"]

    assert check_callbacks(broken(definition, no_timeout)) == [
        "AwaitCounterpart: waits for a task token without TimeoutSeconds(Path)"
    ]

    def timeout_retried(states):
        states["AwaitCounterpart"]["Retry"][0]["ErrorEquals"].append("States.Timeout")

    assert check_callbacks(broken(definition, timeout_retried)) == [
        "AwaitCounterpart: retries States.Timeout (the wait would start over)"
    ]

    def timeout_not_caught(states):
        states["AwaitCounterpart"]["Catch"] = states["AwaitCounterpart"]["Catch"][1:]

    assert check_callbacks(broken(definition, timeout_not_caught)) == [
        "AwaitCounterpart: its first Catch must be States.Timeout alone"
    ]

    def no_token(states):
        del states["AwaitCounterpart"]["Parameters"]["Payload"]["task_token.$"]

    assert check_callbacks(broken(definition, no_token)) == [
        "AwaitCounterpart: waits for a task token but does not pass $$.Task.Token on"
    ]


def test_the_missing_export_alert_is_sent_once_and_a_superseded_run_sends_nothing(
    definition: dict[str, Any],
) -> None:
    assert check_notifications(definition) == []

    def silent_timeout(states):  # the window passes and nobody hears of it
        states["RecordExportMissing"]["Next"] = "ExportMissing"

    problems = check_notifications(broken(definition, silent_timeout))
    assert any(p.startswith("no SNS publish on path") and p.endswith("ExportMissing") for p in problems)

    def noisy_supersede(states):  # a superseded run must not alert
        states["FilesExist"]["Choices"][1]["Next"] = "RecordExportMissing"
        states["ExportMissing"]["Type"] = "Succeed"
        states["NotifyExportMissing"]["Next"] = "RunSuperseded"

    problems = check_notifications(broken(definition, noisy_supersede))
    assert any(p.startswith("a quiet end is reached after an SNS publish") for p in problems)

    def double_alert(states):
        states["NotifyExportMissing"]["Next"] = "RecordFilesMissing"

    problems = check_notifications(broken(definition, double_alert))
    assert any(p.startswith("more than one SNS publish on path") for p in problems)
