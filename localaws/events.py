"""EventBridge: rules deliver to SNS topics (moto raises NotImplementedError for them), and rules persist.

The deployer's rule turns a Step Functions "Execution Status Change" to ABORTED or TIMED_OUT into the
failure email; ``stepfunctions`` publishes those events, as Step Functions does on AWS.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from localaws import codec
from localaws.context import Context
from localaws.plumbing import each_backend


def install(ctx: Context) -> None:
    from moto.events.models import Rule
    from moto.sns.models import sns_backends
    from moto.utilities.arns import parse_arn

    original_send_to_targets = Rule.send_to_targets

    # moto delivers to logs, SQS and event buses only; an SNS target publishes the (transformed) event.
    def send_to_targets(self: Any, event: Any, transform_input: bool = True) -> None:
        topics = [t for t in self.targets if parse_arn(t["Arn"]).service == "sns"]
        if topics and self.event_pattern.matches_event(event):
            for target in topics:
                if "Input" in target:
                    message = target["Input"]
                elif transform_input and "InputTransformer" in target:
                    message = transform(target["InputTransformer"], event)
                else:
                    message = json.dumps(event)
                arn = parse_arn(target["Arn"])
                sns_backends[arn.account][arn.region].publish(message=message, arn=target["Arn"])
        others = copy.copy(self)
        others.targets = [t for t in self.targets if t not in topics]
        original_send_to_targets(others, event, transform_input)

    ctx.patcher.set(Rule, "send_to_targets", send_to_targets)


def transform(transformer: dict[str, Any], event: dict[str, Any]) -> str:
    """An InputTransformer's output as text. Inside a quoted template a value is inserted escaped (moto
    inserts it raw, so a value with a quote breaks the JSON); a missing value is empty."""
    from jsonpath_ng.ext import parse

    template = transformer.get("InputTemplate", "<aws.events.event.json>")
    values = {"aws.events.event.json": event}
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        found = parse(path).find(event)
        values[name] = found[0].value if found else None
    quoted = template.strip().startswith('"')
    for name, value in values.items():
        if quoted:
            text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
            text = json.dumps(text)[1:-1]
        else:
            text = json.dumps(value)
        template = template.replace(f"<{name}>", text)
    result = json.loads(template)
    return result if isinstance(result, str) else json.dumps(result)


def publish(account: str, region: str, source: str, detail_type: str, detail: dict[str, Any],
            resources: list[str]) -> None:  # fmt: skip
    """Put one event on the default bus, as an AWS service does."""
    from moto.events.models import events_backends

    events_backends[account][region].put_events(
        [{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "Resources": resources}]
    )


class EventsState:
    """Rules with their targets (restored through put_rule and put_targets, which have no side effect)."""

    service = "events"

    def records(self) -> dict[tuple[str, str], str]:
        from moto.events.models import events_backends

        records: dict[tuple[str, str], str] = {}
        for account, region, backend in each_backend(events_backends):
            for rule in [r for bus in list(backend.event_buses.values()) for r in list(bus.rules.values())]:
                records[("rule", rule.arn)] = codec.dumps({
                    "account": account, "region": region, "name": rule.name, "bus": rule.event_bus_name,
                    "description": rule.description, "pattern": rule.event_pattern._raw_pattern,
                    "schedule": rule.scheduled_expression, "role": rule.role_arn, "state": rule.state,
                    "targets": rule.targets,
                })  # fmt: skip
        return records

    def restore(self, records: dict[tuple[str, str], str]) -> None:
        from moto.events.models import events_backends

        for body in records.values():
            data = json.loads(body)
            backend = events_backends[data["account"]][data["region"]]
            backend.put_rule(
                data["name"], description=data["description"], event_bus_arn=data["bus"],
                event_pattern=data["pattern"], role_arn=data["role"], scheduled_expression=data["schedule"],
                state=data["state"],
            )  # fmt: skip
            if data["targets"]:
                backend.put_targets(data["name"], data["bus"], data["targets"])
