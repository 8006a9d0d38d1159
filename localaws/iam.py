"""IAM: roles with their inline and attached policies, and customer managed policies, kept as they were
(role ids and creation dates included; re-creating a role would give it a new id)."""

from __future__ import annotations

import json

from localaws import codec
from localaws.plumbing import each_backend


def _aws_managed(arn: str) -> bool:
    return ":iam::aws:policy/" in arn


class IamState:
    service = "iam"

    def records(self) -> dict[tuple[str, str], str]:
        from moto.iam.models import iam_backends

        records: dict[tuple[str, str], str] = {}
        for account, partition, backend in each_backend(iam_backends):
            where = {"account": account, "partition": partition}
            for role in list(backend.roles.values()):
                records[("role", role.id)] = codec.dumps({
                    **where, "managed": list(role.managed_policies),
                    "state": codec.attributes(role, ("managed_policies",)),
                })  # fmt: skip
            for arn, policy in list(backend.managed_policies.items()):
                if not _aws_managed(arn):
                    records[("policy", arn)] = codec.dumps({**where, "state": codec.attributes(policy)})
                elif policy.attachment_count:
                    records[("aws_policy_attachments", arn)] = codec.dumps(
                        {**where, "arn": arn, "count": policy.attachment_count}
                    )
        return records

    def restore(self, records: dict[tuple[str, str], str]) -> None:
        from moto.iam.models import ManagedPolicy, Role, iam_backends

        order = {"policy": 0, "aws_policy_attachments": 1, "role": 2}  # roles link to policies
        items = sorted(
            ((kind, json.loads(body)) for (kind, _), body in records.items()), key=lambda i: order[i[0]]
        )
        for kind, data in items:
            backend = iam_backends[data["account"]][data["partition"]]
            if kind == "policy":
                policy = codec.new(ManagedPolicy, data["state"])
                backend.managed_policies[policy.arn] = policy
            elif kind == "aws_policy_attachments":
                policy = backend.managed_policies.get(data["arn"])
                if policy is not None:
                    policy.attachment_count = data["count"]
            else:
                role = codec.new(Role, data["state"])
                role.managed_policies = {arn: backend.managed_policies[arn] for arn in data["managed"]
                                         if arn in backend.managed_policies}  # fmt: skip
                backend.roles[role.id] = role
