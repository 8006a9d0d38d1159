"""The notifications inbox parser: order, kinds, a line being written, damaged lines, links to runs."""

from __future__ import annotations

import json

from services.notifications import execution_arn, inbox_path, of_kind, parse_inbox, read_inbox
from stack.settings import Settings

SETTINGS = Settings()
TOPIC = "arn:aws:sns:us-east-1:123456789012:"


def record(time: str, topic_name: str, subject: str, message: str = "body") -> str:
    return json.dumps(
        {
            "time": time,
            "topic": TOPIC + topic_name,
            "topic_name": topic_name,
            "subject": subject,
            "message": message,
            "message_id": subject.lower().replace(" ", "-"),
            "emails": ["team@example.com"],
        }
    )


def test_newest_first_whatever_the_file_order_and_ties_keep_the_later_line_first():
    text = "\n".join(
        [
            record("2025-01-02T10:00:00.000+00:00", "etl-success-topic", "second"),
            record("2025-01-01T10:00:00.000+00:00", "etl-failure-topic", "first"),
            record("2025-01-03T10:00:00.000+00:00", "etl-success-topic", "third a"),
            record("2025-01-03T10:00:00.000+00:00", "etl-success-topic", "third b"),
        ]
    )
    found, damaged = parse_inbox(text + "\n", SETTINGS)
    assert [n.subject for n in found] == ["third b", "third a", "second", "first"]
    assert damaged == 0
    assert [n.kind for n in found] == ["success", "success", "success", "failure"]


def test_a_partially_written_last_line_is_left_out_without_a_warning():
    full = record("2025-01-01T10:00:00.000+00:00", "etl-success-topic", "done")
    partial = record("2025-01-02T10:00:00.000+00:00", "etl-failure-topic", "half")[:40]
    found, damaged = parse_inbox(full + "\n" + partial, SETTINGS)
    assert [n.subject for n in found] == ["done"]
    assert damaged == 0


def test_a_damaged_complete_line_is_counted_and_skipped():
    good = record("2025-01-01T10:00:00.000+00:00", "etl-success-topic", "ok")
    found, damaged = parse_inbox(f"{{not json\n{good}\n[1, 2]\n\n", SETTINGS)
    assert [n.subject for n in found] == ["ok"]
    assert damaged == 2


def test_filter_by_kind_and_unknown_topics_are_other():
    text = "\n".join(
        [
            record("2025-01-01T10:00:00+00:00", "etl-success-topic", "s"),
            record("2025-01-02T10:00:00+00:00", "etl-failure-topic", "f"),
            record("2025-01-03T10:00:00+00:00", "somebody-elses-topic", "o"),
        ]
    )
    found, _ = parse_inbox(text, SETTINGS)
    assert [n.subject for n in of_kind(found, "success")] == ["s"]
    assert [n.subject for n in of_kind(found, "failure")] == ["f"]
    assert [n.subject for n in of_kind(found, None)] == ["o", "f", "s"]
    assert found[0].kind == "other"


def test_missing_and_empty_inbox(tmp_path):
    settings = Settings(local_state_dir=str(tmp_path / "nowhere"))
    missing = read_inbox(settings)
    assert (missing.exists, missing.notifications) == (False, [])
    assert missing.path == tmp_path / "nowhere" / "notifications.jsonl"

    empty_settings = Settings(local_state_dir=str(tmp_path))
    inbox_path(empty_settings).write_text("")
    empty = read_inbox(empty_settings)
    assert (empty.exists, empty.notifications, empty.damaged_lines) == (True, [], 0)


def test_the_execution_named_in_the_message_becomes_its_arn():
    message = (
        "ETL run 20250101-abc succeeded. Execution: batch-0123abcd. Orders file: s3://o/k.csv. Rows in: 3."
    )
    text = record("2025-01-01T10:00:00+00:00", "etl-success-topic", "ETL run succeeded", message)
    (found,), _ = parse_inbox(text, SETTINGS)
    assert execution_arn(found, SETTINGS) == (
        "arn:aws:states:us-east-1:123456789012:execution:ETL-StepFunction-Controller:batch-0123abcd"
    )
    rendered = "ETL run r succeeded.\n\nInput files:\n  orders: s3://o/k.csv\nExecution: batch-0123abcd\n"
    (email,), _ = parse_inbox(
        record("2025-01-01T10:00:00+00:00", "etl-success-topic", "s", rendered), SETTINGS
    )
    assert execution_arn(email, SETTINGS) == execution_arn(found, SETTINGS)
    an_arn = record("2025-01-01T10:00:00+00:00", "etl-failure-topic", "s", "Execution: arn:aws:states:x")
    assert execution_arn(parse_inbox(an_arn, SETTINGS)[0][0], SETTINGS) is None  # not a name
    other = record("2025-01-01T10:00:00+00:00", "etl-success-topic", "hello", "no execution here")
    (plain,), _ = parse_inbox(other, SETTINGS)
    assert execution_arn(plain, SETTINGS) is None
