"""Execute the rendered ETL state machine in moto's Step Functions interpreter.

moto 5.2.5 facts this module relies on (docs/adr/0006-local-aws-is-moto-plus-patches.md):
- moto interprets ASL only with the config ``{"stepfunctions": {"execute_state_machine": True}}``; it is set
  with a POST to ``/moto-api/config`` (read back by ``moto.stepfunctions.responses.get_backend`` on every
  request) and restored at the end of the module;
- the interpreter calls Lambda and SNS through boto3 at ``http://localhost:$MOTO_PORT``, so ``MOTO_PORT``
  must be the port of the server hosting the state machine;
- Lambda code cannot run without Docker: every invocation ends in ``LambdaFunction._invoke_lambda``, which
  is replaced here by scripted test doubles (the real Lambdas are tested elsewhere), except the email
  renderer: its double is the real ``render_email.process``, so the messages asserted here are the real ones.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from pipeline.asl.render import render_definition
from pipeline.lambdas import render_email, runs
from pipeline.lambdas.config import LambdaConfig
from stack import aws
from stack.settings import Settings

REGION = "us-east-1"
ACCOUNT = "123456789012"
# moto's state is process-global: suffix every created name so that resources left by other tests in the
# same process cannot collide with these.
RUN = uuid.uuid4().hex[:8]
ROLE_NAME = f"etl-test-role-{RUN}"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
CHECK_FILES = "check-orders-returns-exist"
TRIGGER_GLUE = "ecommerce-trigger-glue"
CHECK_GLUE = "check-glue-job-status"
STOP_GLUE = "ecommerce-stop-glue"
AWAIT = "ecommerce-await-counterpart"
RENDER = "ecommerce-render-email"
CONSOLE_URL = "http://127.0.0.1:8501"
MAX_FILE_CHECKS = 3
MAX_GLUE_POLLS = 3
TERMINAL = aws.TERMINAL_STATUSES

ORDERS = {
    "bucket": "ecommerce-orders-raw",
    "key": "orders/Orders.csv",
    "etag": "etag-orders",
    "last_modified": "2024-05-01T10:00:00+00:00",
    "size": 1234,
    "version_id": "v-orders-1",
}
RETURNS = {
    "bucket": "ecommerce-returns-raw",
    "key": "returns/Returns.csv",
    "etag": "etag-returns",
    "last_modified": "2024-05-01T10:01:00+00:00",
    "size": 56,
    "version_id": "v-returns-1",
}
EXECUTION_INPUT = {
    "orders": ORDERS,
    "returns": RETURNS,
    "trigger": {"bucket": RETURNS["bucket"], "key": RETURNS["key"], "event_name": "ObjectCreated:Put"},
}
QUALITY = {
    "rows_in": 19994,
    "rows_out": 9990,
    "returned_lines": 800,
    "unmatched_returns": 2,
    "quarantined_lines": 4,
    "published": True,
    "warnings": ["4 lines quarantined (0.04%)"],
}


class TransientError(Exception):
    """Error type that the state machine retries (raised by the trigger Lambda on throttling)."""


class GlueStartError(Exception):
    """A permanent error of the trigger Lambda."""


# ----------------------------------------------------------------------------------------- test doubles


@dataclass
class FakeLambdas:
    """Scripted stand-ins for the three Lambdas, keyed by function name."""

    handlers: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def invoke(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        payload = event if isinstance(event, dict) else json.loads(event or "{}")
        function_name = function_name.removesuffix(f"-{RUN}")
        self.calls.append((function_name, payload))
        try:
            result = self.handlers[function_name](payload)
        except Exception as exc:  # reported like the Lambda runtime does: a function error
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": []}
            return json.dumps(error), True, ""
        return json.dumps(result), False, ""

    def count(self, function_name: str) -> int:
        return sum(1 for name, _ in self.calls if name == function_name)


NO_WAIT = {
    "waiting_for": None,
    "lone_side": None,
    "waiting_since": None,
    "waiting_until": None,
    "window_seconds_left": 1,
    "superseded_by": None,
}


def files_exist(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "both_exist": True,
        "orders": ORDERS,
        "returns": RETURNS,
        **NO_WAIT,
        "count": runs.next_count(payload),
    }


def lone_orders(window_seconds_left: int):
    """CheckForFiles for an execution whose orders file waits for returns."""

    def handler(payload: dict[str, Any]) -> dict[str, Any]:
        pairing = (payload.get("state") or {}).get("pairing")
        count = runs.next_count(payload)  # as the real Lambda counts the checks
        if pairing and pairing.get("outcome") == "superseded":
            return {"both_exist": False, "orders": None, "returns": None, **NO_WAIT, "count": count,
                    "superseded_by": pairing["superseded_by"]}  # fmt: skip
        if pairing and pairing.get("orders") and pairing.get("returns"):  # resumed with the pair
            return {"both_exist": True, "orders": pairing["orders"], "returns": pairing["returns"], **NO_WAIT,
                    "count": count}  # fmt: skip
        return {
            "count": count,
            "both_exist": False,
            "orders": ORDERS,
            "returns": None,
            "waiting_for": "returns",
            "lone_side": "orders",
            "waiting_since": "2024-05-01T09:00:00Z",
            "waiting_until": "2024-05-02T09:00:00Z",
            "window_seconds_left": window_seconds_left,
            "superseded_by": None,
        }

    return handler


@dataclass
class Parking:
    """The await Lambda: keeps each task token it is given (the real one stores it in S3)."""

    tokens: list[str] = field(default_factory=list)

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert payload["files"]["orders"] == ORDERS and payload["execution_name"]
        self.tokens.append(payload["task_token"])
        return {"parked": True, "answered": None}

    def wait_parked(self, count: int = 1, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while len(self.tokens) < count:
            assert time.monotonic() < deadline, "the execution never parked"
            time.sleep(0.05)
        return self.tokens[count - 1]


def stop_ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["orders"] == ORDERS and payload["returns"] == RETURNS
    return {
        "job_name": "ecommerce_join_data",
        "run_id": "r",
        "stopped": ["jr_0123456789abcdef"],
        "errors": [],
    }


def stop_calls(env: Env) -> list[dict[str, Any]]:
    return [payload for name, payload in env.lambdas.calls if name == STOP_GLUE]


def files_missing(payload: dict[str, Any]) -> dict[str, Any]:
    return {"both_exist": False, "orders": ORDERS, "returns": None, "count": runs.next_count(payload)}


def trigger_ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["orders"] == ORDERS and payload["returns"] == RETURNS
    run_id = f"run-{payload['execution_name']}"
    return {
        "job_name": "ecommerce_join_data",
        "job_run_id": "jr_0123456789abcdef",
        "run_id": run_id,
        "orders_path": f"s3://{ORDERS['bucket']}/{ORDERS['key']}",
        "returns_path": f"s3://{RETURNS['bucket']}/{RETURNS['key']}",
        "wait_seconds": 0,
    }


def glue_status(*outcomes: str, error: str | None = None, quality: Any = QUALITY):
    """Status Lambda returning the given outcomes in turn (the last one repeats)."""
    remaining = list(outcomes)

    def handler(payload: dict[str, Any]) -> dict[str, Any]:
        assert payload["job_run_id"] == "jr_0123456789abcdef" and payload["run_id"].startswith("run-")
        outcome = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return {
            "state": outcome,
            "outcome": outcome,
            "error": error if outcome == "FAILED" else None,
            "duration_seconds": 42,
            "quality": quality if outcome == "SUCCEEDED" else None,
            "count": runs.next_count(payload),  # as the real Lambda counts the checks
        }

    return handler


# ------------------------------------------------------------------------------------------------ setup


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _post_json(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


@dataclass
class Env:
    endpoint: str
    lambdas: FakeLambdas
    sfn: Any
    sns: Any
    sqs: Any
    success_topic: str
    failure_topic: str
    queues: dict[str, str]  # topic ARN -> queue URL
    function_arns: dict[str, str]
    machines: dict[str, str] = field(default_factory=dict)

    def machine(self, success_topic: str | None = None, failure_topic: str | None = None) -> str:
        """ARN of a state machine rendered with tiny waits (created once per topic pair)."""
        success_topic = success_topic or self.success_topic
        failure_topic = failure_topic or self.failure_topic
        key = f"{success_topic}|{failure_topic}"
        if key not in self.machines:
            definition = render_definition(
                {
                    "CheckFilesFunctionArn": self.function_arns[CHECK_FILES],
                    "TriggerGlueFunctionArn": self.function_arns[TRIGGER_GLUE],
                    "CheckGlueStatusFunctionArn": self.function_arns[CHECK_GLUE],
                    "StopGlueFunctionArn": self.function_arns[STOP_GLUE],
                    "AwaitCounterpartFunctionArn": self.function_arns[AWAIT],
                    "RenderEmailFunctionArn": self.function_arns[RENDER],
                    "SuccessTopicArn": success_topic,
                    "FailureTopicArn": failure_topic,
                    "PairingWindowSeconds": 86400,
                    "MaxFileChecks": MAX_FILE_CHECKS,
                    "GlueWaitSeconds": 0,
                    "MaxGluePolls": MAX_GLUE_POLLS,
                    "RetryIntervalSeconds": 1,
                }
            )
            name = f"{Settings().state_machine}-{RUN}-{len(self.machines)}"
            created = self.sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE_ARN)
            self.machines[key] = created["stateMachineArn"]
        return self.machines[key]

    def drain(self) -> dict[str, list[dict[str, Any]]]:
        """SNS notifications delivered to the queues since the last drain, by topic ARN."""
        delivered: dict[str, list[dict[str, Any]]] = {}
        for topic, queue_url in self.queues.items():
            delivered[topic] = []
            while True:
                received = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
                batch = received.get("Messages", [])
                if not batch:
                    break
                for message in batch:
                    delivered[topic].append(json.loads(message["Body"]))
                    self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return delivered

    def start(self, execution_input: dict[str, Any], machine_arn: str | None = None) -> str:
        return self.sfn.start_execution(
            stateMachineArn=machine_arn or self.machine(),
            name=f"test-{uuid.uuid4().hex[:12]}",
            input=json.dumps(execution_input),
        )["executionArn"]

    def run(self, execution_input: dict[str, Any], machine_arn: str | None = None) -> dict[str, Any]:
        """Start a named execution, wait until it is terminal and return describe_execution."""
        return self.wait(self.start(execution_input, machine_arn))

    def wait(self, arn: str) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while True:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] in TERMINAL:
                return described
            assert time.monotonic() < deadline, f"execution still {described['status']}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    from moto.awslambda.models import LambdaFunction
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    endpoint = f"http://127.0.0.1:{port}"
    lambdas = FakeLambdas()
    previous_sfn_config = dict(default_user_config.get("stepfunctions", {}))
    patcher = pytest.MonkeyPatch()
    try:
        # The interpreter's boto3 clients call back on http://localhost:$MOTO_PORT.
        patcher.setenv("MOTO_PORT", str(port))
        patcher.setattr(
            LambdaFunction,
            "_invoke_lambda",
            lambda self, event=None: lambdas.invoke(self.function_name, event),
        )
        _post_json(f"{endpoint}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})

        sfn, sns, sqs, lam = (_client(endpoint, s) for s in ("stepfunctions", "sns", "sqs", "lambda"))
        # moto's CreateFunction checks that the role exists (a bare role ARN is rejected).
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
        _client(endpoint, "iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
        queues = {}
        topics = []
        for topic_name in (f"etl-success-topic-{RUN}", f"etl-failure-topic-{RUN}"):
            topic = sns.create_topic(Name=topic_name)["TopicArn"]
            queue_url = sqs.create_queue(QueueName=f"{topic_name}-inbox")["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
            queue_arn = attributes["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
            queues[topic] = queue_url
            topics.append(topic)
        function_arns = {
            name: lam.create_function(
                FunctionName=f"{name}-{RUN}",
                Runtime="python3.11",
                Role=ROLE_ARN,
                Handler="handler.handler",
                Code={"ZipFile": b"not used: _invoke_lambda is replaced"},
            )["FunctionArn"]
            for name in (CHECK_FILES, TRIGGER_GLUE, CHECK_GLUE, STOP_GLUE, AWAIT, RENDER)
        }
        yield Env(endpoint, lambdas, sfn, sns, sqs, topics[0], topics[1], queues, function_arns)
    finally:
        try:
            _post_json(f"{endpoint}/moto-api/config", {"stepfunctions": previous_sfn_config})
        finally:
            patcher.undo()
            server.stop()


@pytest.fixture
def etl(env: Env) -> Env:
    env.lambdas.handlers.clear()
    env.lambdas.handlers[RENDER] = real_renderer
    env.lambdas.calls.clear()
    env.drain()
    return env


def real_renderer(payload: dict[str, Any]) -> dict[str, str]:
    return render_email.process(payload, LambdaConfig(console_url=CONSOLE_URL))


def link(described: dict[str, Any]) -> str:
    return f"Open the run: {CONSOLE_URL}/monitor?execution={described['executionArn']}"


def _only_notification(env: Env) -> tuple[str, dict[str, Any]]:
    delivered = env.drain()
    notifications = [(topic, body) for topic, bodies in delivered.items() for body in bodies]
    assert len(notifications) == 1, notifications
    return notifications[0]


# ------------------------------------------------------------------------------------------------ tests


def test_happy_path_notifies_success_once(etl: Env) -> None:
    etl.lambdas.handlers.update(
        {CHECK_FILES: files_exist, TRIGGER_GLUE: trigger_ok, CHECK_GLUE: glue_status("RUNNING", "SUCCEEDED")}
    )

    described = etl.run(EXECUTION_INPUT)

    assert described["status"] == "SUCCEEDED"
    execution_name = described["name"]
    output = json.loads(described["output"])
    assert output["orders"] == ORDERS and output["trigger"] == EXECUTION_INPUT["trigger"]  # input kept
    assert output["glue"]["run_id"] == f"run-{execution_name}"
    assert output["glue_status"]["outcome"] == "SUCCEEDED"
    assert (output["files"]["checks"], output["glue_status"]["polls"]) == (1, 2)
    assert "Payload" not in json.dumps(output)  # only selected fields, never the raw Lambda response
    assert etl.lambdas.count(CHECK_GLUE) == 2
    assert [p for n, p in etl.lambdas.calls if n == TRIGGER_GLUE][0]["execution_name"] == execution_name

    topic, body = _only_notification(etl)
    assert topic == etl.success_topic
    assert body["Subject"] == (
        f"ETL succeeded with 1 warning: run-{execution_name} - 19,994 in, 9,990 out, 4 quarantined"
    )
    lines = body["Message"].splitlines()
    for expected in (
        f"ETL run run-{execution_name} succeeded: the table now shows this run.",
        link(described),
        "  orders:  s3://ecommerce-orders-raw/orders/Orders.csv  (version v-orders-1, 1,234 bytes)",
        "  returns: s3://ecommerce-returns-raw/returns/Returns.csv  (version v-returns-1, 56 bytes)",
        "  Rows in:           19,994",
        "  Rows out:           9,990",
        "  Returned lines:       800",
        "  Unmatched returns:      2",
        "  Quarantined lines:      4",
        "Warnings (1):",
        "  - 4 lines quarantined (0.04%)",
        "Glue job ecommerce_join_data run jr_0123456789abcdef took 42 s.",
        f"Execution: {execution_name}",
    ):
        assert expected in lines, (expected, lines)
    (render,) = [p for n, p in etl.lambdas.calls if n == RENDER]
    assert render["kind"] == "success" and render["execution_arn"] == described["executionArn"]


def _entered(env: Env, arn: str) -> list[str]:
    events = env.sfn.get_execution_history(executionArn=arn)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def test_a_lone_upload_waits_silently_and_its_counterpart_resumes_it(etl: Env) -> None:
    parking = Parking()
    etl.lambdas.handlers.update(
        {
            CHECK_FILES: lone_orders(window_seconds_left=3600),
            AWAIT: parking,
            TRIGGER_GLUE: trigger_ok,
            CHECK_GLUE: glue_status("SUCCEEDED"),
        }
    )
    arn = etl.start({"orders": ORDERS, "returns": None})
    token = parking.wait_parked()
    time.sleep(0.5)  # parked: nothing more happens while it waits

    assert etl.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert _entered(etl, arn)[-1] == "AwaitCounterpart"
    assert etl.drain() == {etl.success_topic: [], etl.failure_topic: []}  # no alert while waiting
    assert etl.lambdas.count(CHECK_FILES) == 1

    pair = {"outcome": "paired", "orders": ORDERS, "returns": RETURNS, "superseded_by": None}
    etl.sfn.send_task_success(taskToken=token, output=json.dumps(pair))
    described = etl.wait(arn)

    assert described["status"] == "SUCCEEDED"
    assert etl.lambdas.count(CHECK_FILES) == 2 and etl.lambdas.count(TRIGGER_GLUE) == 1
    topic, _ = _only_notification(etl)
    assert topic == etl.success_topic


def test_when_the_window_passes_one_missing_export_alert_goes_out(etl: Env) -> None:
    parking = Parking()
    etl.lambdas.handlers.update({CHECK_FILES: lone_orders(window_seconds_left=1), AWAIT: parking})

    described = etl.run({"orders": ORDERS, "returns": None})

    assert described["status"] == "SUCCEEDED"  # not a failed run
    assert json.loads(described["output"])["missing"]["export"] == "returns"
    assert etl.lambdas.count(TRIGGER_GLUE) == 0
    topic, body = _only_notification(etl)
    assert topic == etl.failure_topic
    assert body["Subject"] == "ETL returns export missing: Orders.csv - waiting since 2024-05-01T09:00:00Z"
    message = body["Message"]
    assert message.startswith(
        "The returns export is missing: the orders file arrived at 2024-05-01T09:00:00Z and no returns file "
        "came by 2024-05-02T09:00:00Z"
    )
    assert f"Execution: {described['name']}" in message and link(described) in message
    assert "  orders:  s3://ecommerce-orders-raw/orders/Orders.csv  (version v-orders-1" in message
    assert "failed" not in message.lower()


def test_a_superseded_waiting_run_ends_quietly(etl: Env) -> None:
    parking = Parking()
    etl.lambdas.handlers.update({CHECK_FILES: lone_orders(window_seconds_left=3600), AWAIT: parking})
    arn = etl.start({"orders": ORDERS, "returns": None})
    token = parking.wait_parked()
    gone = {"outcome": "superseded", "orders": None, "returns": None, "superseded_by": "awaiting-returns-x"}
    etl.sfn.send_task_success(taskToken=token, output=json.dumps(gone))

    described = etl.wait(arn)

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["pairing"]["superseded_by"] == "awaiting-returns-x"
    assert _entered(etl, arn)[-1] == "RunSuperseded"
    assert etl.drain() == {etl.success_topic: [], etl.failure_topic: []}


def test_files_still_missing_after_max_checks_fails(etl: Env) -> None:
    """The loop through AwaitCounterpart is bounded: a resume that never brings a pair ends it."""
    parking = Parking()
    check = lone_orders(window_seconds_left=3600)
    # Resumed with no pair: the check finds the lone file again (and counts).
    etl.lambdas.handlers.update(
        {
            CHECK_FILES: lambda payload: check({**payload, "state": {**payload["state"], "pairing": None}}),
            AWAIT: parking,
        }  # fmt: skip
    )
    arn = etl.start({})  # an admin rerun may start with {}: nothing of the input is required
    for count in range(1, MAX_FILE_CHECKS):
        token = parking.wait_parked(count)
        odd = {"outcome": "paired", "orders": None, "returns": None, "superseded_by": None}
        etl.sfn.send_task_success(taskToken=token, output=json.dumps(odd))

    described = etl.wait(arn)

    assert described["status"] == "FAILED"
    assert described["cause"].startswith("FilesMissing in CheckForFiles: ")
    assert etl.lambdas.count(CHECK_FILES) == MAX_FILE_CHECKS
    topic, body = _only_notification(etl)
    assert topic == etl.failure_topic
    assert body["Subject"] == f"ETL FAILED at CheckForFiles: {described['name']} - FilesMissing"
    assert f"after {MAX_FILE_CHECKS} checks" in body["Message"]
    assert "What to do next: Upload the missing export" in body["Message"]
    assert "  returns: (none)" in body["Message"]


def test_glue_failure_notifies_the_glue_error(etl: Env) -> None:
    glue_error = "AnalysisException: column order_date not found"
    etl.lambdas.handlers.update(
        {
            CHECK_FILES: files_exist,
            TRIGGER_GLUE: trigger_ok,
            CHECK_GLUE: glue_status("RUNNING", "FAILED", error=glue_error),
        }
    )

    described = etl.run(EXECUTION_INPUT)

    assert described["status"] == "FAILED"
    assert described["error"] == "ETLFailed"
    assert described["cause"].startswith("GlueJobFailed in GlueJob: ")
    assert glue_error in described["cause"]
    topic, body = _only_notification(etl)
    assert topic == etl.failure_topic
    assert body["Subject"] == f"ETL FAILED at GlueJob: run-{described['name']} - GlueJobFailed"
    lines = body["Message"].splitlines()
    assert "Failed state: GlueJob" in lines and "Error: GlueJobFailed" in lines
    (cause,) = [line for line in lines if line.startswith("Cause: ")]
    assert glue_error in cause and "ended in state FAILED" in cause
    assert any(line.startswith("What to do next: Read the cause") for line in lines)
    # the input files with the versions CheckForFiles saw
    assert (
        "  orders:  s3://ecommerce-orders-raw/orders/Orders.csv  (version v-orders-1, 1,234 bytes)" in lines
    )
    assert link(described) in lines


def test_glue_running_forever_times_out(etl: Env) -> None:
    etl.lambdas.handlers.update(
        {CHECK_FILES: files_exist, TRIGGER_GLUE: trigger_ok, CHECK_GLUE: glue_status("RUNNING")}
    )

    described = etl.run(EXECUTION_INPUT)

    assert described["status"] == "FAILED"
    assert described["error"] == "ETLFailed"
    assert described["cause"].startswith("GlueJobTimeout in GlueJob: ")
    assert etl.lambdas.count(CHECK_GLUE) == MAX_GLUE_POLLS
    topic, body = _only_notification(etl)
    assert topic == etl.failure_topic
    assert "Error: GlueJobTimeout" in body["Message"]
    assert f"still RUNNING after {MAX_GLUE_POLLS} status checks" in body["Message"]


def test_trigger_function_error_is_caught_and_notified(etl: Env) -> None:
    def trigger_fails(payload: dict[str, Any]) -> dict[str, Any]:
        raise GlueStartError("ConcurrentRunsExceededException: too many runs of ecommerce_join_data")

    etl.lambdas.handlers.update({CHECK_FILES: files_exist, TRIGGER_GLUE: trigger_fails})

    described = etl.run(EXECUTION_INPUT)

    assert described["status"] == "FAILED"
    assert described["error"] == "ETLFailed"
    assert described["cause"].startswith("GlueStartError in TriggerGlueJob: ")
    assert etl.lambdas.count(TRIGGER_GLUE) == 1  # not a transient error: no retry
    assert etl.lambdas.count(CHECK_GLUE) == 0
    topic, body = _only_notification(etl)
    assert topic == etl.failure_topic
    assert body["Subject"].startswith("ETL FAILED at TriggerGlueJob: ")
    assert body["Subject"].endswith(" - GlueStartError")
    message = body["Message"]
    assert "Failed state: TriggerGlueJob" in message and "Error: GlueStartError" in message
    assert "ConcurrentRunsExceededException: too many runs of ecommerce_join_data" in message


def test_transient_trigger_error_is_retried(etl: Env) -> None:
    attempts = []

    def flaky_trigger(payload: dict[str, Any]) -> dict[str, Any]:
        attempts.append(payload)
        if len(attempts) == 1:
            raise TransientError("Glue throttled the StartJobRun call")
        return trigger_ok(payload)

    etl.lambdas.handlers.update(
        {CHECK_FILES: files_exist, TRIGGER_GLUE: flaky_trigger, CHECK_GLUE: glue_status("SUCCEEDED")}
    )

    described = etl.run(EXECUTION_INPUT)

    assert described["status"] == "SUCCEEDED"
    assert len(attempts) == 2
    topic, _ = _only_notification(etl)
    assert topic == etl.success_topic


def test_success_without_quality_report_still_notifies(etl: Env) -> None:
    etl.lambdas.handlers.update(
        {
            CHECK_FILES: files_exist,
            TRIGGER_GLUE: trigger_ok,
            CHECK_GLUE: glue_status("SUCCEEDED", quality=None),
        }
    )

    described = etl.run(EXECUTION_INPUT)

    assert described["status"] == "SUCCEEDED"
    topic, body = _only_notification(etl)
    assert topic == etl.success_topic
    assert "  Rows in:           n/a" in body["Message"]
    assert "no data-quality report" in body["Message"]


def test_failed_success_notification_notifies_failure_once(etl: Env) -> None:
    missing_topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:etl-success-topic-does-not-exist"
    etl.lambdas.handlers.update(
        {CHECK_FILES: files_exist, TRIGGER_GLUE: trigger_ok, CHECK_GLUE: glue_status("SUCCEEDED")}
    )

    described = etl.run(EXECUTION_INPUT, machine_arn=etl.machine(success_topic=missing_topic))

    assert described["status"] == "FAILED"
    assert described["error"] == "ETLFailed"
    assert described["cause"].startswith("SNS.NotFoundException in NotifySuccess: ")
    topic, body = _only_notification(etl)
    assert topic == etl.failure_topic
    assert "Failed state: NotifySuccess" in body["Message"]


def test_describe_execution_and_history_work(etl: Env) -> None:
    etl.lambdas.handlers.update(
        {CHECK_FILES: files_exist, TRIGGER_GLUE: trigger_ok, CHECK_GLUE: glue_status("SUCCEEDED")}
    )

    described = etl.run(EXECUTION_INPUT)

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["input"]) == EXECUTION_INPUT
    events = etl.sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert entered[:3] == ["CheckForFiles", "FilesExist", "TriggerGlueJob"]
    assert entered[-3:] == ["RenderSuccessEmail", "NotifySuccess", "ETLSucceeded"]
    assert sum(1 for e in events if e["type"] == "TaskSucceeded") == 5  # 4 Lambdas + 1 SNS publish
    etl.drain()


# --------------------------------------------------------------------- abandoned Glue runs are stopped


def test_a_timed_out_glue_run_is_stopped_before_the_failure_is_notified(etl: Env) -> None:
    etl.lambdas.handlers.update(
        {
            CHECK_FILES: files_exist,
            TRIGGER_GLUE: trigger_ok,
            CHECK_GLUE: glue_status("RUNNING"),
            STOP_GLUE: stop_ok,
        }
    )

    described = etl.run(EXECUTION_INPUT)

    assert described["cause"].startswith("GlueJobTimeout in GlueJob: ")
    (stop,) = stop_calls(etl)
    assert stop["execution_name"] == described["name"]  # the run id is derived as TriggerGlueJob does
    assert [name for name, _ in etl.lambdas.calls][-2:] == [STOP_GLUE, RENDER]
    topic, body = _only_notification(etl)
    assert topic == etl.failure_topic and "Error: GlueJobTimeout" in body["Message"]


def test_errors_at_or_after_the_trigger_stop_the_glue_run(etl: Env) -> None:
    def fails(payload: dict[str, Any]) -> dict[str, Any]:
        raise GlueStartError("the Lambda gave up after the run was started")

    for handlers in (
        {TRIGGER_GLUE: fails},
        {TRIGGER_GLUE: trigger_ok, CHECK_GLUE: fails},
    ):
        etl.lambdas.handlers.clear()
        etl.lambdas.calls.clear()
        etl.lambdas.handlers.update({CHECK_FILES: files_exist, STOP_GLUE: stop_ok, **handlers})
        described = etl.run(EXECUTION_INPUT)
        assert described["cause"].startswith("GlueStartError in ")
        assert len(stop_calls(etl)) == 1
        topic, _ = _only_notification(etl)
        assert topic == etl.failure_topic


def test_no_stop_when_no_run_can_be_going(etl: Env) -> None:
    etl.lambdas.handlers.update(
        {
            CHECK_FILES: files_exist,
            TRIGGER_GLUE: trigger_ok,
            CHECK_GLUE: glue_status("FAILED", error="boom"),
            STOP_GLUE: stop_ok,
        }
    )
    etl.run(EXECUTION_INPUT)
    assert stop_calls(etl) == []  # the run has ended by itself
    _only_notification(etl)


def test_a_failing_stop_still_notifies_the_failure_once(etl: Env) -> None:
    def stop_fails(payload: dict[str, Any]) -> dict[str, Any]:
        raise GlueStartError("AccessDeniedException: glue:BatchStopJobRun")

    etl.lambdas.handlers.update(
        {
            CHECK_FILES: files_exist,
            TRIGGER_GLUE: trigger_ok,
            CHECK_GLUE: glue_status("RUNNING"),
            STOP_GLUE: stop_fails,
        }
    )

    described = etl.run(EXECUTION_INPUT)

    assert described["cause"].startswith("GlueJobTimeout in GlueJob: ")  # the original failure
    topic, body = _only_notification(etl)
    assert topic == etl.failure_topic and "Error: GlueJobTimeout" in body["Message"]


def test_state_transitions_of_a_day_with_a_lone_upload(etl: Env) -> None:
    """The figures in docs/COST.md: a returns file at 9:00, its orders at 17:00, the Glue run seen ending at
    the first status check, then at the second. Waiting costs no transitions: nothing is entered while the
    run is parked. Target (issue #11): at most 15 transitions for a successful run."""
    for checks, expected in ((1, 12), (2, 15)):
        etl.lambdas.calls.clear()
        parking = Parking()
        etl.lambdas.handlers.update(
            {
                CHECK_FILES: lone_orders(window_seconds_left=3600),
                AWAIT: parking,
                TRIGGER_GLUE: trigger_ok,
                CHECK_GLUE: glue_status(*["RUNNING"] * (checks - 1), "SUCCEEDED"),
            }
        )
        arn = etl.start({"orders": ORDERS, "returns": None})
        token = parking.wait_parked()
        parked = _entered(etl, arn)
        time.sleep(1)  # the wait: on AWS, hours
        assert _entered(etl, arn) == parked  # no polling while parked

        pair = {"outcome": "paired", "orders": ORDERS, "returns": RETURNS, "superseded_by": None}
        etl.sfn.send_task_success(taskToken=token, output=json.dumps(pair))
        assert etl.wait(arn)["status"] == "SUCCEEDED"
        entered = _entered(etl, arn)
        print(
            f"\n{checks} Glue status check(s): {len(parked)} transitions until parked, {len(entered)} in all:"
        )
        print(f"  parked:  {parked}\n  resumed: {entered[len(parked) :]}")

        assert parked == ["CheckForFiles", "FilesExist", "AwaitCounterpart"]
        assert entered[len(parked) :] == [
            "CheckForFiles",
            "FilesExist",
            "TriggerGlueJob",
            "WaitForGlue",
            "CheckGlueJobStatus",
            "GlueJobOutcome",
            *["WaitForGlueAgain", "CheckGlueJobStatus", "GlueJobOutcome"] * (checks - 1),
            "RenderSuccessEmail",
            "NotifySuccess",
            "ETLSucceeded",
        ]
        assert len(entered) == expected <= 15  # + 3 per further status check
        etl.drain()


# ------------------------------------------------------------------ the renderer never blocks an email


def test_when_the_renderer_fails_a_plain_email_still_goes_out(etl: Env) -> None:
    def broken_renderer(payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the renderer is broken")

    etl.lambdas.handlers.update(
        {CHECK_FILES: files_exist, TRIGGER_GLUE: trigger_ok, CHECK_GLUE: glue_status("SUCCEEDED")}
    )
    etl.lambdas.handlers[RENDER] = broken_renderer

    described = etl.run(EXECUTION_INPUT)

    assert described["status"] == "SUCCEEDED"  # the data was published: still a success
    topic, body = _only_notification(etl)
    assert topic == etl.success_topic and body["Subject"] == "ETL run succeeded"
    assert f"Execution: {described['name']}." in body["Message"] and "Rows in: 19994." in body["Message"]
    assert "could not be rendered: " in body["Message"] and "the renderer is broken" in body["Message"]

    etl.lambdas.handlers[CHECK_GLUE] = glue_status("FAILED", error="boom in Spark")
    described = etl.run(EXECUTION_INPUT)

    assert described["status"] == "FAILED"
    topic, body = _only_notification(etl)
    assert topic == etl.failure_topic and body["Subject"] == "ETL run failed at GlueJob"
    message = body["Message"]
    assert "Failed state: GlueJob. Error: GlueJobFailed." in message and "boom in Spark" in message
    assert "the renderer is broken" in message
