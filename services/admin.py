"""Admin work for the console: deploy through the deployer and manage the email subscriptions.

Plain functions over ``Settings`` and boto3 clients (no Streamlit), so they are tested without a runtime.
The same calls go to real AWS and to the local AWS; only the settings differ.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from deploy import deployer, iam, rollback
from stack import aws
from stack.settings import Settings

# Deliberately loose: SNS does the real check, this catches typos such as a missing "@" or domain.
EMAIL_PATTERN = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
)
# What AWS lists as the SubscriptionArn of an email subscription until the recipient clicks the link.
PENDING_ARN = "PendingConfirmation"

Change = deployer.Change
DeployError = deployer.DeployError
Progress = deployer.Progress
plan = deployer.plan
up = deployer.up
status = deployer.status
down = deployer.down
summary = deployer.summary

KeptRun = rollback.KeptRun
RollbackError = rollback.RollbackError
kept_runs = rollback.kept_runs
plan_make_live = rollback.plan_make_live
make_live = rollback.make_live
audit_log = rollback.audit_log


# --------------------------------------------------------------------------------------------- deploy


def plan_rows(changes: Iterable[Change]) -> list[dict[str, str]]:
    """The plan as table rows: resource, action, details."""
    return [{"resource": c.resource, "action": c.action, "details": c.detail} for c in changes]


def status_rows(report: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``deployer.status`` as table rows."""
    return [{"resource": r["resource"], "exists": r["exists"], "details": r["detail"]} for r in report]


def to_apply(changes: Iterable[Change]) -> list[Change]:
    """The changes ``up`` would make (everything but the unchanged resources)."""
    return [c for c in changes if c.action != "none"]


def down_confirmation_word(settings: Settings) -> str:
    """What must be typed to confirm ``down``: the target's name (deployer.down_confirmed)."""
    return settings.target


down_prompt = deployer.down_prompt


# --------------------------------------------------------------------------------- published runs


def kept_run_rows(runs: Iterable[KeptRun]) -> list[dict[str, Any]]:
    """The kept runs as table rows, newest first: the live one marked, inputs named."""
    return [
        {
            "live": "● live" if run.live else "",
            "run": run.run_id,
            "batch time": run.batch_time or "–",
            "rows": run.rows,
            "returned lines": run.returned_lines,
            "published when it ran": run.published,
            "input files": run.inputs_text(),
            "note": run.note,
        }
        for run in runs
    ]


def audit_rows(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """The audit log as table rows, newest first."""
    return [
        {
            "time": e.time,
            "action": e.action,
            "who": e.who,
            "run": e.run_id,
            "previous run": e.previous_run_id or "–",
            "batch time": e.batch_time or "–",
        }
        for e in entries
    ]


def console_user(email: str | None) -> str:
    """Who acts, for the audit log: the signed-in email, or (local console without sign-in) the OS user."""
    return email or f"{getpass.getuser()} (console, not signed in)"


down_confirmed = deployer.down_confirmed


# -------------------------------------------------------------------------------------- subscriptions


@dataclass(frozen=True)
class Subscription:
    topic: str  # topic name
    protocol: str
    endpoint: str
    arn: str  # "PendingConfirmation" on AWS until the recipient confirms
    pending: bool

    @property
    def state(self) -> str:
        return "pending confirmation" if self.pending else "confirmed"


def valid_email(address: str) -> bool:
    return bool(EMAIL_PATTERN.fullmatch(address.strip()))


def topic_arns(settings: Settings, sts: Any) -> dict[str, str]:
    """``{"success": arn, "failure": arn}`` of the notification topics, computed as the deployer does."""
    identity = sts.get_caller_identity()
    partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
    arns = iam.Arns(settings=settings, account=identity["Account"], partition=partition)
    return {"success": arns.success_topic, "failure": arns.failure_topic}


def is_pending(subscription_arn: str, attributes: dict[str, Any] | None = None) -> bool:
    """AWS lists an unconfirmed subscription with the ARN ``PendingConfirmation``; a subscription known by
    its real ARN (``ReturnSubscriptionArn``) says so in its ``PendingConfirmation`` attribute. moto confirms
    at once: a real ARN and ``PendingConfirmation`` false."""
    if subscription_arn.replace(" ", "").lower() == PENDING_ARN.lower():
        return True
    return str((attributes or {}).get("PendingConfirmation", "false")).lower() == "true"


def _attributes(sns: Any, subscription_arn: str) -> dict[str, Any]:
    if not subscription_arn.startswith("arn:"):
        return {}
    try:
        return sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    except ClientError as exc:
        if aws.error_code(exc) in ("NotFound", "NotFoundException"):
            return {}  # unsubscribed since it was listed
        raise


def list_subscriptions(sns: Any, topics: dict[str, str]) -> list[Subscription]:
    """Every subscription of the given topics (``{label: arn}``), email and others, by topic then endpoint.
    A topic that does not exist (not deployed) has none."""
    found = []
    for arn in topics.values():
        try:
            pages = list(sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn))
        except ClientError as exc:
            if aws.error_code(exc) in ("NotFound", "NotFoundException"):
                continue
            raise
        for page in pages:
            for sub in page.get("Subscriptions", []):
                subscription_arn = sub.get("SubscriptionArn", "")
                found.append(
                    Subscription(
                        topic=arn.rsplit(":", 1)[-1],
                        protocol=sub.get("Protocol", ""),
                        endpoint=sub.get("Endpoint", ""),
                        arn=subscription_arn,
                        pending=is_pending(subscription_arn, _attributes(sns, subscription_arn)),
                    )
                )
    return sorted(found, key=lambda s: (s.topic, s.endpoint.lower(), s.protocol))


def subscribe_email(sns: Any, topics: dict[str, str], email: str) -> dict[str, str]:
    """Subscribe ``email`` to every topic; ``{topic name: subscription ARN or "pending confirmation"}``.
    Raises ValueError for an address that is not an email address. Subscribing twice is harmless (SNS
    returns the existing subscription)."""
    address = email.strip()
    if not valid_email(address):
        raise ValueError(f"{email!r} is not an email address")
    result = {}
    for arn in topics.values():
        response = sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=address)
        result[arn.rsplit(":", 1)[-1]] = response.get("SubscriptionArn", "")
    return result


def subscription_rows(subscriptions: Iterable[Subscription]) -> list[dict[str, str]]:
    return [
        {"topic": s.topic, "protocol": s.protocol, "endpoint": s.endpoint, "state": s.state, "arn": s.arn}
        for s in subscriptions
    ]
