"""Lambda ``check-orders-returns-exist`` (state CheckForFiles): the newest object in each raw bucket.

Input: anything (ignored; the buckets are listed afresh). Output::

    {"both_exist": bool, "orders": S3Object|null, "returns": S3Object|null}

where S3Object is ``{"bucket", "key", "etag", "last_modified": "2026-11-25T18:30:00Z", "size"}``.
Requires s3:ListBucket on both raw buckets.
"""

from __future__ import annotations

from typing import Any

from . import config, runs
from .config import LambdaConfig


def handler(event: Any, context: Any) -> dict[str, Any]:
    return process(LambdaConfig.from_env(), s3=config.client("s3"))


def process(cfg: LambdaConfig, s3: Any) -> dict[str, Any]:
    orders, returns = config.newest_raw_objects(cfg, s3)
    return {
        "both_exist": orders is not None and returns is not None,
        "orders": runs.object_dict(orders),
        "returns": runs.object_dict(returns),
    }
