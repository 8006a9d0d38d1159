"""Shared plumbing of the local AWS: reversible patches, background workers, in-process S3 access."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("localaws")

_MISSING = object()


class Patcher:
    """setattr that remembers the original, so that undo() restores moto exactly."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []
        self._undo: list[Callable[[], None]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, value)

    def on_undo(self, callback: Callable[[], None]) -> None:
        """Run callback at undo() (before the attributes are restored), last registered first."""
        self._undo.append(callback)

    def undo(self) -> None:
        while self._undo:
            try:
                self._undo.pop()()
            except Exception:
                log.exception("localaws: an undo step failed")
        while self._saved:
            owner, name, original = self._saved.pop()
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


class SerialWorker:
    """One daemon thread running submitted calls in order; errors are logged, never raised."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        self._queue.put((function, args))

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once every submitted call has finished (tests use it to wait for async deliveries)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what was submitted, then end the thread (waiting up to timeout; callable again)."""
        if self._thread.is_alive():
            if not self._stopping:
                self._stopping = True
                self._queue.put(None)
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                function, args = item
                function(*args)
            except Exception:
                log.exception("%s: background task failed", self.name)
            finally:
                self._queue.task_done()


def utcnow() -> datetime:
    return datetime.now(UTC)


def s3_backend(account_id: str, region: str) -> Any:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    return s3_backends[account_id][get_partition(region)]


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def s3_read(account_id: str, region: str, uri: str) -> bytes:
    """An object's bytes straight from the in-process S3 backend (no HTTP round trip)."""
    from moto.s3.exceptions import MissingBucket, MissingKey

    bucket, key = split_s3(uri)
    try:
        obj = s3_backend(account_id, region).get_object(bucket, key)
    except (MissingBucket, MissingKey):
        obj = None
    if obj is None:
        raise FileNotFoundError(f"{uri} does not exist")
    return obj.value


def s3_list(account_id: str, region: str, bucket: str, prefix: str) -> dict[str, Any]:
    """{key: FakeKey} of the current objects under a prefix (delete markers left out)."""
    from moto.s3.models import FakeKey

    store = s3_backend(account_id, region).get_bucket(bucket).keys
    return {
        name: obj
        for name in list(store.keys())
        if name.startswith(prefix) and isinstance(obj := store.get(name), FakeKey)
    }


def each_backend(backend_dict: Any) -> Any:
    """(account, region or partition, backend) for every backend moto has made of one service."""
    for account, regions in list(backend_dict.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend
