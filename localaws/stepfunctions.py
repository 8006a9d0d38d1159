"""Step Functions: the state machine's ASL is interpreted, and its service calls come back to this server."""

from __future__ import annotations

import copy
import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from localaws import codec, events
from localaws.context import Context
from localaws.plumbing import each_backend, log


def install(ctx: Context) -> None:
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    # moto interprets ASL only when configured to, and calls services back on localhost:$MOTO_PORT.
    sfn_config = default_user_config.setdefault("stepfunctions", {})
    previous_execute = sfn_config.get("execute_state_machine")
    sfn_config["execute_state_machine"] = True
    previous_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(ctx.port)

    def restore() -> None:
        if previous_execute is None:
            sfn_config.pop("execute_state_machine", None)
        else:
            sfn_config["execute_state_machine"] = previous_execute
        if previous_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = previous_port

    ctx.patcher.on_undo(restore)
    original_start_execution = StepFunctionsParserBackend.start_execution

    # moto names an unnamed execution "None" (ARN …:None); AWS generates a unique name.
    def start_execution(
        self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original_start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    ctx.patcher.set(StepFunctionsParserBackend, "start_execution", start_execution)
    original_stop_execution = StepFunctionResponse.stop_execution

    # moto drops StopExecution's error and cause; AWS reports them on the execution (and in its events).
    def stop_execution(self: Any) -> Any:
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        running = execution.exec_status is not None and execution.exec_status.value == "RUNNING"
        if running:
            execution.error, execution.cause = self._get_param("error"), self._get_param("cause")
        answer = original_stop_execution(self)
        if running:
            # moto says ABORTED only once the worker thread ends (after a Lambda call in flight returns);
            # AWS says it at once, and a Glue run asking before it publishes must hear it.
            execution.exec_status, execution.stop_date = ExecutionStatus.ABORTED, datetime.now(UTC)
            interrupt_callbacks(execution)
        return answer

    ctx.patcher.set(StepFunctionResponse, "stop_execution", stop_execution)

    # moto has no RedriveExecution (its server answers an HTML 500): resume from the unsuccessful state.
    def redrive_execution(self: Any) -> Any:
        from moto.core.responses import ActionResult

        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        return ActionResult({"redriveDate": redrive(execution, datetime.now(UTC))})

    ctx.patcher.set(StepFunctionResponse, "redrive_execution", redrive_execution)
    original_describe_execution = StepFunctionResponse.describe_execution

    # moto's DescribeExecution has no redrive fields; AWS reports the count, date and redrivability.
    def describe_execution(self: Any) -> Any:
        answer = original_describe_execution(self)
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        answer.result.update(redrive_fields(execution, datetime.now(UTC)))
        return answer

    ctx.patcher.set(StepFunctionResponse, "describe_execution", describe_execution)
    original_list_executions = StepFunctionResponse.list_executions

    # moto's ListExecutions items have no redriveCount/redriveDate; AWS lists them.
    def list_executions(self: Any) -> Any:
        answer = original_list_executions(self)
        backend = self.stepfunction_backend
        for item in answer.result["executions"]:
            execution = backend.describe_execution(item["executionArn"])
            item["redriveCount"] = redrive_count(execution)
            if redrive_date(execution) is not None:
                item["redriveDate"] = redrive_date(execution)
        return answer

    ctx.patcher.set(StepFunctionResponse, "list_executions", list_executions)
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    original_set_error = Environment.set_error

    # The error that a stopped execution's woken task raises must not turn ABORTED into FAILED.
    def set_error(self: Any, error: Any) -> None:
        if not isinstance(self._program_state, ProgramStopped):
            original_set_error(self, error)

    ctx.patcher.set(Environment, "set_error", set_error)
    original_terminated = BaseExecutionWorkerCommunication.terminated

    # moto puts no "Execution Status Change" event on EventBridge when an execution ends; AWS does.
    def terminated(self: Any) -> None:
        original_terminated(self)
        status_changed(self.execution)

    ctx.patcher.set(BaseExecutionWorkerCommunication, "terminated", terminated)


def interrupt_callbacks(execution: Any) -> None:
    """moto's stop does not wake a Task waiting for its task token, so a parked execution stayed RUNNING
    (and ended FAILED once resumed); on AWS a stop ends it ABORTED at once. Wake the waits: the stopped
    program then ends ABORTED."""
    worker = execution.exec_worker
    env = worker.env if worker is not None else None
    if env is None:
        return
    for endpoint in list(env.callback_pool_manager._pool.values()):
        endpoint.interrupt_all()


# ------------------------------------------------------------------------------------------ durable state

RESTART_ERROR = "LocalAws.Restarted"
RESTART_CAUSE = "local AWS restarted during the run"
_TERMINAL_EVENTS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}


class StepFunctionsState:
    """State machines and executions (describe fields and every history event) as store records."""

    service = "stepfunctions"

    def __init__(self) -> None:
        self.parked: list[tuple[Any, Parked]] = []

    def records(self) -> dict[tuple[str, str], Any]:
        """Executions as (token, body maker): the token (history length, status, stop date) changes with
        the record, so a finished execution is serialised once, and not kept in memory a second time."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        records: dict[tuple[str, str], Any] = {}
        for account, region, backend in each_backend(stepfunctions_parser_backends):
            if backend.tagger.tags:
                records[("tags", f"{account}/{region}")] = json.dumps(backend.tagger.tags)
            for machine in backend.state_machines:
                records[("machine", machine.arn)] = json.dumps(
                    {"account": account, "region": region, **self._machine(machine)}
                )
                for execution in machine.executions:
                    events = _event_manager(execution)
                    length = len(events._history_event_list) if events else 0
                    token = (length, str(execution.exec_status), execution.stop_date)
                    records[("execution", execution.exec_arn)] = (
                        token,
                        lambda m=machine, e=execution: json.dumps(self._execution(m, e)),
                    )
        return records

    @staticmethod
    def _machine(machine: Any) -> dict[str, Any]:
        data = codec.attributes(machine, ("executions", "backend", "versions", "aliases", "latest_version"))
        data["versions"] = {str(n): codec.attributes(v, ("executions",)) for n, v in machine.versions.items()}
        data["aliases"] = {n: codec.attributes(a) for n, a in machine.aliases.items()}
        data["latest_version"] = machine.latest_version.version if machine.latest_version else None
        return data

    @staticmethod
    def _execution(machine: Any, execution: Any) -> dict[str, Any]:
        history, next_id = [], 1
        events = _event_manager(execution)
        if events is not None:
            with events._mutex:  # the worker thread may be adding one
                history, next_id = list(events._history_event_list), events._event_id_gen._next_id
        return {
            "machine": machine.arn,
            "name": execution.name,
            "arn": execution.exec_arn,
            "type": execution.sm_type,
            "role": execution.role_arn,
            "account": execution.account_id,
            "region": execution.region_name,
            "definition": execution.state_machine.definition,  # as it was when the execution started
            "definition_role": execution.state_machine.roleArn,
            "start": execution.start_date.isoformat(),
            "stop": execution.stop_date.isoformat() if execution.stop_date else None,
            "status": execution.exec_status.value if execution.exec_status else None,
            "input": execution.execution_input,
            "trace_header": execution.trace_header,
            "output": execution.output,
            "output_details": execution.output_details,
            "error": execution.error,
            "cause": execution.cause,
            "history": json.loads(json.dumps(history, default=str)),
            "next_event_id": next_id,
            "redrive_count": redrive_count(execution),
            "redrive_date": redrive_date(execution).isoformat() if redrive_date(execution) else None,
        }

    def restore(self, records: dict[tuple[str, str], str]) -> None:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        machines = [json.loads(body) for (kind, _), body in records.items() if kind == "machine"]
        executions = [json.loads(body) for (kind, _), body in records.items() if kind == "execution"]
        for (kind, key), body in records.items():
            if kind == "tags":
                account, region = key.split("/")
                stepfunctions_parser_backends[account][region].tagger.tags.update(json.loads(body))
        by_arn = {}
        for data in machines:
            backend = stepfunctions_parser_backends[data.pop("account")][data.pop("region")]
            by_arn[data["arn"]] = self._restore_machine(backend, data)
        for data in sorted(executions, key=lambda d: d["start"]):
            self._restore_execution(by_arn[data["machine"]], data)

    @staticmethod
    def _restore_machine(backend: Any, data: dict[str, Any]) -> Any:
        from moto.stepfunctions.models import StateMachine, StateMachineAlias, StateMachineVersion

        versions, aliases, latest = data.pop("versions"), data.pop("aliases"), data.pop("latest_version")
        machine = codec.new(StateMachine, data)
        machine.backend, machine.executions = backend, []
        machine.versions = {}
        for number, attributes in versions.items():
            version = codec.new(StateMachineVersion, attributes)
            version.executions = []
            machine.versions[int(number)] = version
        machine.aliases = {n: codec.new(StateMachineAlias, a) for n, a in aliases.items()}
        machine.latest_version = machine.versions[latest] if latest is not None else None
        backend.state_machines = [m for m in backend.state_machines if m.arn != machine.arn] + [machine]
        return machine

    @staticmethod
    def _restore_execution(machine: Any, data: dict[str, Any]) -> None:
        """A finished execution object with its history; nothing runs (no thread, no service call)."""
        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.backend.execution import Execution

        # The same snapshot of the machine that start_execution takes, with the definition it ran.
        snapshot = copy.deepcopy(machine, {id(machine.executions): [], id(machine.backend): machine.backend})
        snapshot.definition, snapshot.roleArn = data["definition"], data["definition_role"]
        execution = Execution(
            name=data["name"], sm_type=data["type"], role_arn=data["role"], exec_arn=data["arn"],
            account_id=data["account"], region_name=data["region"], state_machine=snapshot,
            start_date=datetime.fromisoformat(data["start"]), cloud_watch_logging_session=None,
            input_data=data["input"], trace_header=data["trace_header"], activity_store={},
        )  # fmt: skip
        execution.exec_status = ExecutionStatus(data["status"])
        execution.stop_date = datetime.fromisoformat(data["stop"]) if data["stop"] else None
        execution.output, execution.output_details = data["output"], data["output_details"]
        execution.error, execution.cause = data["error"], data["cause"]
        execution.redrive_count = data.get("redrive_count", 0)
        redriven = data.get("redrive_date")
        execution.redrive_date = datetime.fromisoformat(redriven) if redriven else None
        # A real worker and environment that never start: every path that reads exec_worker.env works.
        worker = execution._get_start_execution_worker()
        worker.env = worker._get_evaluation_environment()
        events = worker.env.event_manager
        events._history_event_list.extend(data["history"])
        events._event_id_gen._next_id = data["next_event_id"]
        last = data["history"][-1]["id"] if data["history"] else 0
        worker.env.event_history_context.source_event_id = last
        worker.env.event_history_context.last_published_event_id = last
        worker.env._program_state = _program_state(data)
        execution.exec_worker = worker
        machine.executions.append(execution)

    def end_interrupted(self) -> list[Any]:
        """Executions that were RUNNING when the process died end ABORTED with the restart cause (and the
        status change event goes out, so that the deployed rule sends the failure email)."""
        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        ended = []
        for _, _, backend in each_backend(stepfunctions_parser_backends):
            for machine in backend.state_machines:
                for execution in machine.executions:
                    if execution.exec_status == ExecutionStatus.RUNNING:
                        parked = parked_state(execution)
                        if parked is not None:  # waits for a task token: resumed, not aborted
                            self.parked.append((execution, parked))
                            continue
                        _end_interrupted(execution)
                        status_changed(execution)
                        ended.append(execution)
        return ended

    def resume_parked(self) -> list[str]:
        """Let the executions that were parked on a task token wait again (once the server answers).

        moto's interpreter lives in a thread, which a restart ends: the execution re-enters its parked
        Task with the input it entered it with, so the Task's Lambda parks it again with a new token, and
        a TimeoutSecondsPath in that input is shortened by the time already waited (the window does not
        start over). The history shows the Task entered twice: one more state transition per restart.
        """
        names = []
        for execution, parked in self.parked:
            _resume(execution, parked)
            names.append(execution.name)
        self.parked = []
        return names


@dataclass(frozen=True)
class Parked:
    state: str  # the .waitForTaskToken Task the execution was in
    state_input: Any  # the input it entered that Task with
    entered: datetime


def parked_state(execution: Any) -> Parked | None:
    """The ``.waitForTaskToken`` Task an execution was in when the process stopped, or None."""
    events = _event_manager(execution)
    history = events.get_event_history() if events is not None else []
    if not history or str(history[-1]["type"]) in _TERMINAL_EVENTS:
        return None
    open_states = _open_states(history)
    if not open_states:
        return None
    entered = open_states[-1]
    details = entered.get("stateEnteredEventDetails") or {}
    definition = json.loads(execution.state_machine.definition)
    state = definition.get("States", {}).get(details.get("name"), {})
    if state.get("Type") != "Task" or not str(state.get("Resource", "")).endswith(".waitForTaskToken"):
        return None
    state_input = json.loads(details.get("input") or "{}")
    timeout_path = state.get("TimeoutSecondsPath")
    moment = _timestamp(entered["timestamp"])
    if isinstance(timeout_path, str):
        _shorten(state_input, timeout_path, (datetime.now(UTC) - moment).total_seconds())
    return Parked(details["name"], state_input, moment)


def _open_states(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The StateEntered events of the latest attempt (since the last redrive) whose states were not
    exited, innermost last."""
    open_states: list[dict[str, Any]] = []
    for event in _latest_attempt(history):
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            open_states.append(event)
        elif kind.endswith("StateExited") and open_states:
            open_states.pop()
    return open_states


def _latest_attempt(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    redriven = [i for i, e in enumerate(history) if str(e["type"]) == "ExecutionRedriven"]
    return history[redriven[-1] + 1 :] if redriven else history


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _shorten(data: Any, path: str, waited: float) -> None:
    """The number at ``$.a.b`` in ``data`` less ``waited`` seconds (at least 1: timeouts are positive)."""
    keys = path.removeprefix("$.").split(".")
    for key in keys[:-1]:
        data = data.get(key) if isinstance(data, dict) else None
    if isinstance(data, dict) and isinstance(data.get(keys[-1]), int | float):
        data[keys[-1]] = max(1, int(data[keys[-1]] - waited))


def _resume(execution: Any, parked: Parked) -> None:
    _run_from(execution, parked.state, parked.state_input, "resume")


def _run_from(execution: Any, state: str, state_input: Any, why: str) -> None:
    """Run the execution's program again from ``state`` entered with ``state_input``, in its own
    environment (so its history goes on), on a thread as moto runs executions."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    worker = execution.exec_worker
    program = worker._get_evaluation_entrypoint()
    program.start_at.start_at_name = state  # type: ignore[misc]  # moto marks it Final
    env = worker.env
    env.states.reset(input_value=state_input)

    def run() -> None:
        program.eval(env)
        worker._execution_communication.terminated()

    thread = threading.Thread(target=run, name=f"{why}-{execution.name}", daemon=True)
    TMP_THREADS.append(thread)
    thread.start()


# ------------------------------------------------------------------------------------------------ redrive

REDRIVABLE_PERIOD = timedelta(days=14)  # from the stop date
REDRIVE_HISTORY_LIMIT = 24_999  # room for ExecutionRedriven and at least one more event (of 25,000)
_REDRIVABLE_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
_redrive_lock = threading.Lock()


def not_redrivable_reason(
    status: str | None, machine_type: str, stop_date: datetime | None, history_length: int, now: datetime
) -> str | None:
    """Why RedriveExecution refuses an execution (AWS's eligibility rules), or None when it may."""
    if machine_type != "STANDARD":
        return "Execution of an EXPRESS state machine cannot be redriven"
    if status not in _REDRIVABLE_STATUSES:
        return f"Execution is {status} and cannot be redriven"
    if stop_date is None or now - _timestamp(stop_date) > REDRIVABLE_PERIOD:
        return "Execution ended more than 14 days ago and cannot be redriven"
    if history_length >= REDRIVE_HISTORY_LIMIT:
        return f"Execution has {history_length} history events and cannot be redriven"
    return None


def redrive_count(execution: Any) -> int:
    return getattr(execution, "redrive_count", 0)


def redrive_date(execution: Any) -> datetime | None:
    return getattr(execution, "redrive_date", None)


def redrive_fields(execution: Any, now: datetime) -> dict[str, Any]:
    """DescribeExecution's redrive fields: redriveCount, redriveDate, redriveStatus(Reason)."""
    reason = _reason(execution, now)
    fields: dict[str, Any] = {
        "redriveCount": redrive_count(execution),
        "redriveStatus": "REDRIVABLE" if reason is None else "NOT_REDRIVABLE",
    }
    if redrive_date(execution) is not None:
        fields["redriveDate"] = redrive_date(execution)
    if reason is not None:
        fields["redriveStatusReason"] = reason
    return fields


def _reason(execution: Any, now: datetime) -> str | None:
    events = _event_manager(execution)
    length = len(events._history_event_list) if events is not None else 0
    status = execution.exec_status.value if execution.exec_status else None
    return not_redrivable_reason(status, execution.sm_type, execution.stop_date, length, now)


def unsuccessful_state(definition: dict[str, Any], history: list[dict[str, Any]]) -> tuple[str, Any]:
    """The state a redrive restarts from and the input it entered it with: the state the execution was
    in when it failed, was stopped or timed out. A Fail state is re-entered (and fails again), as on AWS;
    an execution that failed before entering any state starts over with its own input."""
    entered = _open_states(history) or [
        e for e in _latest_attempt(history) if str(e["type"]).endswith("StateEntered")
    ]
    if entered:
        details = entered[-1].get("stateEnteredEventDetails") or {}
        return details["name"], json.loads(details.get("input") or "{}")
    started = next((e for e in history if str(e["type"]) == "ExecutionStarted"), {})
    details = started.get("executionStartedEventDetails") or {}
    return definition["StartAt"], json.loads(details.get("input") or "{}")


def redrive(execution: Any, now: datetime) -> datetime:
    """RedriveExecution: the same execution (ARN, history) RUNNING again from its unsuccessful state,
    with an ExecutionRedriven event and the redrive count and date; ExecutionNotRedrivable if it may not."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.api import (
        ExecutionRedrivenEventDetails,
        ExecutionStatus,
        HistoryEventType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramRunning

    with _redrive_lock:  # two redrives of one execution: the second finds it RUNNING
        reason = _reason(execution, now)
        if reason is not None:
            raise AWSError(reason, exception_type="ExecutionNotRedrivable")
        env = execution.exec_worker.env
        state, state_input = unsuccessful_state(
            json.loads(execution.state_machine.definition), env.event_manager.get_event_history()
        )
        execution.redrive_count = redrive_count(execution) + 1
        execution.redrive_date = now
        execution.exec_status = ExecutionStatus.RUNNING
        execution.stop_date = None
        execution.output = execution.error = execution.cause = None
        env._program_state = ProgramRunning()
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            event_details=EventDetails(
                executionRedrivenEventDetails=ExecutionRedrivenEventDetails(
                    redriveCount=execution.redrive_count
                )
            ),
            timestamp=now,
        )
    _run_from(execution, state, state_input, "redrive")
    return now


def _event_manager(execution: Any) -> Any:
    """The execution's history (None before its worker has an environment)."""
    worker = execution.exec_worker
    return worker.env.event_manager if worker is not None and worker.env is not None else None


def _program_state(data: dict[str, Any]) -> Any:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails
    from moto.stepfunctions.parser.asl.eval.program_state import (
        ProgramEnded,
        ProgramError,
        ProgramRunning,
        ProgramStopped,
        ProgramTimedOut,
    )

    status = data["status"]
    if status == "SUCCEEDED":
        return ProgramEnded()
    if status == "FAILED":
        return ProgramError(error=ExecutionFailedEventDetails(error=data["error"], cause=data["cause"]))
    if status == "ABORTED":
        stop = datetime.fromisoformat(data["stop"]) if data["stop"] else None
        return ProgramStopped(stop_date=stop, error=data["error"], cause=data["cause"])
    if status == "TIMED_OUT":
        return ProgramTimedOut()
    return ProgramRunning()


def _end_interrupted(execution: Any) -> None:
    from moto.stepfunctions.parser.api import ExecutionAbortedEventDetails, ExecutionStatus, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    env = execution.exec_worker.env
    history = env.event_manager.get_event_history()
    last = history[-1] if history else None
    if last is not None and str(last["type"]) in _TERMINAL_EVENTS:  # it ended; only the status was lost
        status = _TERMINAL_EVENTS[str(last["type"])]
        execution.exec_status = ExecutionStatus(status)
        execution.stop_date = datetime.strptime(last["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=UTC
        )
        details = next((v for k, v in last.items() if k.endswith("EventDetails")), None) or {}
        if status == "SUCCEEDED":
            execution.output = json.loads(details.get("output") or "null")
        else:
            execution.error, execution.cause = details.get("error"), details.get("cause")
        return
    now = datetime.now(UTC)
    env.event_manager.add_event(
        context=EventHistoryContext(previous_event_id=0),  # as moto's own abort does
        event_type=HistoryEventType.ExecutionAborted,
        event_details=EventDetails(
            executionAbortedEventDetails=ExecutionAbortedEventDetails(
                error=RESTART_ERROR, cause=RESTART_CAUSE
            )
        ),
        timestamp=now,
    )
    env._program_state = ProgramStopped(stop_date=now, error=RESTART_ERROR, cause=RESTART_CAUSE)
    execution.exec_status = ExecutionStatus.ABORTED
    execution.stop_date = now
    execution.error, execution.cause = RESTART_ERROR, RESTART_CAUSE


def status_changed(execution: Any) -> None:
    """The "Step Functions Execution Status Change" event that AWS puts on the default bus."""

    def millis(moment: datetime | None) -> int | None:
        return int(moment.timestamp() * 1000) if moment else None

    status = execution.exec_status.value if execution.exec_status else None
    detail = {
        "executionArn": execution.exec_arn, "stateMachineArn": execution.state_machine.arn,
        "name": execution.name, "status": status, "startDate": millis(execution.start_date),
        "stopDate": millis(execution.stop_date), "input": execution.execution_input,
        "output": json.dumps(execution.output) if execution.output is not None else None,
        "inputDetails": {"included": True}, "error": execution.error, "cause": execution.cause,
    }  # fmt: skip
    try:
        events.publish(execution.account_id, execution.region_name, "aws.states",
                       "Step Functions Execution Status Change", detail, [execution.exec_arn])  # fmt: skip
    except Exception:
        log.exception("localaws: the status change event of %s was not delivered", execution.name)


def watch(ctx: Context, on_change: Callable[[], None]) -> None:
    """Call on_change whenever an execution gets a history event or ends (to persist it soon)."""
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original_add_event = EventManager.add_event
    original_terminated = BaseExecutionWorkerCommunication.terminated

    # An execution's history grows in its worker thread, outside any request: persist it as it grows.
    def add_event(self: Any, *args: Any, **kwargs: Any) -> Any:
        event_id = original_add_event(self, *args, **kwargs)
        on_change()
        return event_id

    # The status, stop date and output are set after the last event: persist them too.
    def terminated(self: Any) -> None:
        original_terminated(self)
        on_change()

    ctx.patcher.set(EventManager, "add_event", add_event)
    ctx.patcher.set(BaseExecutionWorkerCommunication, "terminated", terminated)
