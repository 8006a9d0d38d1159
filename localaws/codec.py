"""JSON for moto model objects: their attributes, with datetimes, bytes, tuples and ordered dicts tagged.

Restoring creates objects without running ``__init__``, so no id or timestamp is regenerated and no side
effect (an S3 event, an EventBridge event) fires. Only allow-listed classes are decoded. The encoding depends
on moto's attribute names, which is why moto is pinned and the store carries a format version.
"""

from __future__ import annotations

import base64
import datetime
import importlib
import json
from typing import Any

ALLOWED = {
    "moto.s3.models.FakeAcl", "moto.s3.models.FakeGrant", "moto.s3.models.FakeGrantee",
    "moto.s3.models.CorsRule", "moto.s3.models.Notification", "moto.s3.models.NotificationConfiguration",
    "moto.s3.models.PublicAccessBlock", "moto.s3.models.LifecycleRule", "moto.s3.models.LifecycleFilter",
    "moto.s3.models.LifecycleAndFilter", "moto.s3.models.LifecycleTransition",
    "moto.s3.models.LifeCycleNoncurrentVersionTransition", "moto.s3.models.FakeBucketInventoryConfiguration",
    "moto.utilities.utils.LowercaseDict", "requests.structures.CaseInsensitiveDict",
    "moto.glue.models.FakePartition", "moto.athena.models.QueryResults", "moto.athena.models.Database",
    "moto.iam.models.PolicyVersion",
}  # fmt: skip


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _import(name: str) -> Any:
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def encode(value: Any) -> Any:
    if value is None or type(value) in (str, int, float, bool):
        return value
    if type(value) is list:
        return [encode(v) for v in value]
    if type(value) is dict and all(type(k) is str and not k.startswith("$") for k in value):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, datetime.datetime):  # naive stays naive, aware stays aware
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    if type(value) is tuple:
        return {"$tuple": [encode(v) for v in value]}
    if type(value) is set:
        return {"$set": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()], "$cls": _name(type(value))}
    name = _name(type(value))
    if name in ALLOWED:
        return {"$obj": name, "$state": encode(dict(vars(value)))}
    raise TypeError(f"the local AWS cannot persist a {name}")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$dt" in value:
        return datetime.datetime.fromisoformat(value["$dt"])
    if "$b64" in value:
        return base64.b64decode(value["$b64"])
    if "$tuple" in value:
        return tuple(decode(v) for v in value["$tuple"])
    if "$set" in value:
        return {decode(v) for v in value["$set"]}
    if "$dict" in value:
        if not value["$cls"].startswith(("collections.", "builtins.")) and value["$cls"] not in ALLOWED:
            raise TypeError(f"the state names an unexpected class {value['$cls']}")
        result = _import(value["$cls"])()
        for k, v in value["$dict"]:
            result[decode(k)] = decode(v)
        return result
    if "$obj" in value:
        if value["$obj"] not in ALLOWED:
            raise TypeError(f"the state names an unexpected class {value['$obj']}")
        return new(_import(value["$obj"]), value["$state"])
    return {k: decode(v) for k, v in value.items()}


def attributes(obj: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object's attributes as JSON-able values (``exclude``: links to backends and other models)."""
    return encode({k: v for k, v in vars(obj).items() if k not in exclude})


def new(cls: type, state: dict[str, Any], **links: Any) -> Any:
    """An object of ``cls`` with these attributes, without ``__init__`` (and not in instances_tracked)."""
    obj = object.__new__(cls)
    obj.__dict__.update(decode(state))
    obj.__dict__.update(links)
    return obj


def dumps(value: Any) -> str:
    """Compact JSON, key order kept (moto rebuilds policies and tags from dicts in their order)."""
    return json.dumps(value, separators=(",", ":"))
