"""The notifications inbox of the local AWS: every SNS message it published, newest first.

The local AWS appends one JSON record per published message to ``<local_state_dir>/notifications.jsonl``
(localaws/sns.py). On AWS there is no inbox: messages go to the subscribers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from stack.settings import Settings

INBOX_NAME = "notifications.jsonl"
# The pipeline's messages name their execution on a line "Execution: <name>" (pipeline/lambdas/emails.py), or
# "… Execution: <name>. …" in a plain stand-in (pipeline/asl Plain…Email). Names are [A-Za-z0-9_-].
EXECUTION_IN_MESSAGE = re.compile(r"\bExecution: ([A-Za-z0-9_-]+)(?=\.?(?:\s|$))")
Kind = Literal["success", "failure", "other"]
KINDS: tuple[Kind, ...] = ("success", "failure", "other")


@dataclass(frozen=True)
class Notification:
    time: datetime | None
    topic: str  # ARN
    topic_name: str
    subject: str
    message: str
    message_id: str
    emails: tuple[str, ...]
    kind: Kind

    @property
    def message_json(self) -> Any | None:
        """The message parsed as JSON when it is JSON (the pipeline's messages are text)."""
        try:
            return json.loads(self.message)
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Inbox:
    path: Path
    exists: bool
    notifications: list[Notification] = field(default_factory=list)
    # Complete lines that are not a record; a last line still being written is not counted.
    damaged_lines: int = 0


def inbox_path(settings: Settings) -> Path:
    return Path(settings.local_state_dir) / INBOX_NAME


def kind_of(topic_name: str, settings: Settings) -> Kind:
    if topic_name == settings.success_topic:
        return "success"
    if topic_name == settings.failure_topic:
        return "failure"
    return "other"


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _notification(record: dict[str, Any], settings: Settings) -> Notification:
    topic = str(record.get("topic") or "")
    topic_name = str(record.get("topic_name") or topic.rsplit(":", 1)[-1])
    return Notification(
        time=_parse_time(record.get("time")),
        topic=topic,
        topic_name=topic_name,
        subject=str(record.get("subject") or ""),
        message=str(record.get("message") or ""),
        message_id=str(record.get("message_id") or ""),
        emails=tuple(record.get("emails") or ()),
        kind=kind_of(topic_name, settings),
    )


def parse_inbox(text: str, settings: Settings) -> tuple[list[Notification], int]:
    """(notifications newest first, damaged complete lines). A last line without its newline is being
    written by the local AWS right now: it is left out without counting as damaged."""
    lines = text.split("\n")
    complete, partial = lines[:-1], lines[-1]  # text ending in "\n" leaves partial == ""
    found: list[tuple[int, Notification]] = []
    damaged = 0
    for number, line in enumerate([*complete, partial]):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            damaged += number < len(complete)
            continue
        if not isinstance(record, dict):
            damaged += 1
            continue
        found.append((number, _notification(record, settings)))
    # Newest first; the file order breaks ties (and orders records without a readable time).
    found.sort(key=lambda item: (item[1].time.timestamp() if item[1].time else float("-inf"), item[0]))
    return [n for _, n in reversed(found)], damaged


def execution_arn(notification: Notification, settings: Settings) -> str | None:
    """The ARN of the execution the message is about (the run monitor opens it), from the execution name in
    the message and the partition, region and account of the topic; None when the message names none."""
    found = EXECUTION_IN_MESSAGE.search(notification.message)
    parts = notification.topic.split(":")
    if not found or len(parts) < 6 or parts[0] != "arn":
        return None
    partition, region, account = parts[1], parts[3], parts[4]
    return f"arn:{partition}:states:{region}:{account}:execution:{settings.state_machine}:{found.group(1)}"


def read_inbox(settings: Settings, path: Path | None = None) -> Inbox:
    """The inbox at ``path`` (default: the settings' local state dir); a missing file is an empty inbox."""
    path = path or inbox_path(settings)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return Inbox(path=path, exists=False)
    notifications, damaged = parse_inbox(text, settings)
    return Inbox(path=path, exists=True, notifications=notifications, damaged_lines=damaged)


def of_kind(notifications: Iterable[Notification], kind: Kind | None) -> list[Notification]:
    """The notifications of one kind; ``None`` keeps them all."""
    return [n for n in notifications if kind is None or n.kind == kind]
