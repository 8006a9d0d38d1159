import json

from deploy.deployer import interrupted_run_message
from localaws.events import transform
from stack.settings import Settings

EVENT = {
    "source": "aws.states",
    "detail": {
        "name": "batch-1", "status": "ABORTED", "error": "LocalAws.Restarted", "cause": 'a "quoted" cause',
        "input": json.dumps({"files": {"orders": "s3://raw/orders.csv"}}), "executionArn": "arn:x",
    },
}  # fmt: skip


def test_the_interrupted_run_email_names_the_run_the_cause_and_the_files():
    message = transform(interrupted_run_message(Settings()), EVENT)
    assert message.startswith("ETL run batch-1 ended ABORTED")
    assert 'Cause: a "quoted" cause.' in message  # quotes in values do not break the template
    assert '"orders": "s3://raw/orders.csv"' in message and message.endswith("Execution: arn:x.")


def test_the_interrupted_run_email_links_the_run_when_the_console_has_an_address():
    linked = transform(interrupted_run_message(Settings(console_url="https://etl.example.com/")), EVENT)
    assert linked.endswith("Execution: arn:x. Open the run: https://etl.example.com/monitor?execution=arn:x")
    assert "Open the run" not in transform(interrupted_run_message(Settings()), EVENT)


def test_a_missing_value_is_empty_and_an_object_template_gets_json_values():
    stopped = {"detail": {**EVENT["detail"], "error": None}}
    assert "Error: . " in transform(interrupted_run_message(Settings()), stopped)
    document = transform(
        {"InputPathsMap": {"s": "$.detail.status"}, "InputTemplate": '{"status": <s>}'}, EVENT
    )
    assert json.loads(document) == {"status": "ABORTED"}
