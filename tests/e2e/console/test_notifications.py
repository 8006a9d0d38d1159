"""The Notifications page under AppTest: the local AWS's inbox, and the subscriptions on AWS."""

from __future__ import annotations

import json
import shutil
from urllib.parse import parse_qs

import pytest

from tests.e2e.console.conftest import page

pytestmark = pytest.mark.spark
TOPIC = "arn:aws:sns:us-east-1:123456789012:"


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def record(time: str, topic_name: str, subject: str, message: str) -> str:
    return json.dumps(
        {
            "time": time,
            "topic": TOPIC + topic_name,
            "topic_name": topic_name,
            "subject": subject,
            "message": message,
            "message_id": subject,
            "emails": ["team@example.com"],
        }
    )


def test_the_seed_run_success_is_in_the_inbox(console_env, seed_run):
    app = page("notifications.py").run()
    assert not app.exception
    name = seed_run["name"]
    bodies = [t.value for t in app.text if f"Execution: {name}" in t.value.splitlines()]
    assert len(bodies) == 1, texts(app.text)
    assert bodies[0].startswith("ETL run ") and " succeeded: " in bodies[0].splitlines()[0]
    assert any(e.label.startswith("✅ ETL succeeded\\: ") for e in app.expander)  # Markdown-escaped
    opened = [
        parse_qs(link.proto.query_string).get("execution", [None])[0]
        for link in app.page_link
        if "monitor" in link.proto.page
    ]
    assert seed_run["executionArn"] in opened, [
        (link.proto.page, link.proto.query_string) for link in app.page_link
    ]


def inbox_dir(local_aws, tmp_path, monkeypatch):
    """A state dir of its own (its inbox) with the local AWS's credentials: the page checks the connection
    first, with the keys of the state dir it is given."""
    shutil.copy(local_aws.state_dir / "credentials", tmp_path / "credentials")
    monkeypatch.setenv("ECOMMERCE_LOCAL_STATE_DIR", str(tmp_path))


def test_newest_first_filter_and_a_line_being_written(console_env, local_aws, tmp_path, monkeypatch):
    inbox_dir(local_aws, tmp_path, monkeypatch)
    lines = [
        record("2025-03-01T08:00:00.000+00:00", "etl-success-topic", "ETL run succeeded", "first run ok"),
        record("2025-03-03T08:00:00.000+00:00", "etl-failure-topic", "ETL run failed at GlueJob", "third"),
        record("2025-03-02T08:00:00.000+00:00", "etl-success-topic", "ETL run succeeded", "second run ok"),
    ]
    half_written = record("2025-03-04T08:00:00.000+00:00", "etl-success-topic", "later", "fourth")[:50]
    (tmp_path / "notifications.jsonl").write_text("\n".join(lines) + "\n" + half_written)

    app = page("notifications.py").run()
    assert not app.exception
    assert [t.value for t in app.text] == ["third", "second run ok", "first run ok"]
    assert [e.label.split(" · ")[0] for e in app.expander] == [
        "❌ ETL run failed at GlueJob",
        "✅ ETL run succeeded",
        "✅ ETL run succeeded",
    ]
    assert "2025-03-03 08:00:00 UTC" in app.expander[0].label
    assert not app.warning  # the line still being written is no damage

    app.radio(key="notification_filter").set_value("Success").run()
    assert [t.value for t in app.text] == ["second run ok", "first run ok"]
    app.radio(key="notification_filter").set_value("Failure").run()
    assert [t.value for t in app.text] == ["third"]


def test_a_missing_or_empty_inbox_says_so(console_env, local_aws, tmp_path, monkeypatch):
    inbox_dir(local_aws, tmp_path, monkeypatch)
    app = page("notifications.py").run()
    assert not app.exception
    assert "No inbox at" in texts(app.info)

    (tmp_path / "notifications.jsonl").write_text("")
    app.run()
    assert "No notifications yet" in texts(app.info)


def test_on_aws_the_page_shows_who_gets_the_emails(console_env, local_aws, monkeypatch):
    """target aws with the endpoint still the local AWS: the same calls, the AWS branch of the page."""
    monkeypatch.setenv("ECOMMERCE_TARGET", "aws")
    # On AWS the environment's keys are used; here they are the local AWS's, which accepts no others.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", local_aws.credentials.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", local_aws.credentials.secret_access_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("ECOMMERCE_OPEN_CONSOLE", "1")  # no sign-in here: subscriber emails are for admins
    app = page("notifications.py").run()
    assert not app.exception
    assert "On AWS there is no inbox" in texts(app.info)
    subscriptions = app.dataframe[0].value
    assert {"team@example.com"} <= set(subscriptions["endpoint"])
    assert not app.expander
