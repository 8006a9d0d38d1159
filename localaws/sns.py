"""SNS: every published message goes to the console's inbox (``notifications.jsonl``) and, with SMTP
configured, to the email subscribers."""

from __future__ import annotations

import json
import os
import smtplib
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from localaws import codec
from localaws.context import Context
from localaws.plumbing import SerialWorker, each_backend, log, utcnow


class SnsDelivery:
    """Records every published message (the console's inbox) and mails it to email subscribers."""

    def __init__(self, state_dir: Path, smtp: tuple[str, int] | None) -> None:
        self.inbox = state_dir / "notifications.jsonl"
        self.smtp = smtp
        self.worker = SerialWorker("local-sns-email")
        self._lock = threading.Lock()

    def published(self, topic: Any, message_id: str, message: str, subject: str | None,
                  attributes: dict[str, Any] | None, message_structure: str | None) -> None:  # fmt: skip
        subscriptions = [
            s
            for s in list(topic.sns_backend.subscriptions.values())
            if s.topic.arn == topic.arn and s.protocol in ("email", "email-json")
        ]
        record = {
            "time": utcnow().isoformat(timespec="milliseconds"),
            "topic": topic.arn,
            "topic_name": topic.name,
            "subject": subject,
            "message": message,
            "message_id": message_id,
            "emails": [s.endpoint for s in subscriptions],
        }
        with self._lock:
            self.inbox.parent.mkdir(parents=True, exist_ok=True)
            with self.inbox.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())  # on disk before Publish answers, like every other change
        log.info("sns: %r published to %s (%d email subscriber(s))", subject, topic.name, len(subscriptions))
        if self.smtp:
            for subscription in subscriptions:
                self.worker.submit(self._mail, subscription, message_id, message, subject, attributes,
                                   message_structure)  # fmt: skip

    def _mail(self, subscription: Any, message_id: str, message: str, subject: str | None,
              attributes: dict[str, Any] | None, message_structure: str | None) -> None:  # fmt: skip
        matcher = subscription._filter_policy_matcher
        if matcher is not None and not matcher.matches(attributes, message):
            return
        if message_structure == "json":
            message = subscription._parse_message_structure(message, subscription.protocol)
        mail = EmailMessage()
        mail["From"] = "AWS Notifications <no-reply@sns.amazonaws.com>"
        mail["To"] = subscription.endpoint
        mail["Subject"] = subject or "AWS Notification Message"
        mail["Message-ID"] = f"<{message_id}@sns.local>"
        if subscription.protocol == "email-json":
            mail.set_content(json.dumps(subscription.get_post_data(message, message_id, subject), indent=2))
        else:
            mail.set_content(
                f"{message}\n\n--\nSent by the local AWS for topic {subscription.topic.arn} "
                f"(subscription {subscription.arn})."
            )
        host, port = self.smtp
        with smtplib.SMTP(host, port, timeout=10) as client:
            client.send_message(mail)
        log.info("sns: mailed %s to %s", subject or message_id, subscription.endpoint)

    def stop(self) -> None:
        self.worker.stop()


KEPT_SENT_MESSAGES = 100


def install(ctx: Context) -> SnsDelivery:
    from moto.sns.models import Topic

    delivery = SnsDelivery(ctx.state_dir, ctx.smtp)
    original_publish = Topic.publish

    # moto sends no email; record every message for the console inbox and mail email subscribers.
    def publish(self: Any, message: str, subject: str | None = None, *args: Any, **kwargs: Any) -> str:
        message_id = original_publish(self, message, subject, *args, **kwargs)
        del self.sent_notifications[:-KEPT_SENT_MESSAGES]  # moto keeps every one; the inbox has them all
        delivery.published(self, message_id, message, subject, kwargs.get("message_attributes"),
                           kwargs.get("message_structure"))  # fmt: skip
        return message_id

    ctx.patcher.set(Topic, "publish", publish)
    ctx.patcher.on_undo(delivery.stop)
    return delivery


# ------------------------------------------------------------------------------------------ durable state


class SnsState:
    """Topics (attributes, policy, tags) and subscriptions (endpoint, confirmation, filter policy)."""

    service = "sns"

    def records(self) -> dict[tuple[str, str], str]:
        from moto.sns.models import sns_backends

        records: dict[tuple[str, str], str] = {}
        for account, region, backend in each_backend(sns_backends):
            where = {"account": account, "region": region}
            for topic in list(backend.topics.values()):
                state = codec.attributes(topic, ("sns_backend", "sent_notifications"))
                records[("topic", topic.arn)] = codec.dumps({**where, "state": state})
            for subscription in list(backend.subscriptions.values()):
                state = codec.attributes(subscription, ("topic", "_filter_policy_matcher"))
                records[("subscription", subscription.arn)] = codec.dumps(
                    {**where, "topic": subscription.topic.arn, "state": state}
                )
        return records

    def restore(self, records: dict[tuple[str, str], str]) -> None:
        from moto.sns.models import Subscription, Topic, sns_backends
        from moto.sns.utils import FilterPolicyMatcher

        items = [(kind, json.loads(body)) for (kind, _), body in records.items()]
        for kind, data in sorted(items, key=lambda item: item[0] != "topic"):  # topics first
            backend = sns_backends[data["account"]][data["region"]]
            if kind == "topic":
                topic = codec.new(Topic, data["state"], sns_backend=backend, sent_notifications=[])
                backend.topics[topic.arn] = topic
            elif kind == "subscription":
                subscription = codec.new(Subscription, data["state"], topic=backend.topics[data["topic"]])
                subscription._filter_policy_matcher = (
                    FilterPolicyMatcher(
                        subscription._filter_policy, subscription.attributes.get("FilterPolicyScope")
                    )
                    if subscription._filter_policy
                    else None
                )
                backend.subscriptions[subscription.arn] = subscription
