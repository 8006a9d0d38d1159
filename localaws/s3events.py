"""S3 event notifications: delivered asynchronously by one background worker, in order, as on AWS.

moto delivers them inside the PUT request and swallows errors.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from localaws.context import Context
from localaws.plumbing import SerialWorker


def install(ctx: Context) -> SerialWorker:
    from moto.s3 import notifications

    worker = SerialWorker("local-s3-events")
    original_send_event = notifications.send_event

    # AWS delivers notifications after the PUT has answered; moto inside it.
    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if bucket.notification_configuration is None:
            return
        snapshot = SimpleNamespace(name=key.name, etag=key.etag, size=key.size, version_id=key.version_id)
        worker.submit(original_send_event, account_id, event_name, bucket, snapshot)

    ctx.patcher.set(notifications, "send_event", send_event)
    ctx.patcher.on_undo(worker.stop)
    return worker
