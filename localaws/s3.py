"""S3: event notifications delivered asynchronously (moto delivers them inside the PUT and swallows errors),
and durable buckets and objects whose bodies live in files, not in RAM."""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from localaws import codec
from localaws.context import Context
from localaws.plumbing import SerialWorker, each_backend


class S3Events:
    """Notifications delivered by one background worker, in order, after the PUT has answered (as on AWS).

    An event waiting for delivery is part of the durable state (``pending``): one that the process did not
    get to deliver before it died is delivered after the restart. Deliveries are idempotent downstream
    (execution names derive from the objects), so a second delivery starts nothing new.
    """

    def __init__(self, original_send_event: Any) -> None:
        self.worker = SerialWorker("local-s3-events")
        self.pending: dict[str, dict[str, Any]] = {}
        self.on_change: Callable[[], None] = lambda: None
        self._send = original_send_event

    def send_event(self, account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if bucket.notification_configuration is None:
            return
        event = {
            "account": account_id, "event": str(event_name.value), "bucket": bucket.name, "key": key.name,
            "etag": key.etag, "size": key.size, "version_id": key.version_id,
            # AWS stamps the event with the request's time, not the delivery's (a delivery may wait).
            "event_time": _event_time(), "sequencer": _sequencer(),
        }  # fmt: skip
        event_id = uuid.uuid4().hex
        self.pending[event_id] = event  # persisted with the request that made it
        self.worker.submit(self._deliver, event_id)

    def resume(self) -> int:
        """Deliver what a previous process left pending (after a restore); returns how many."""
        for event_id in list(self.pending):
            self.worker.submit(self._deliver, event_id)
        return len(self.pending)

    def _deliver(self, event_id: str) -> None:
        from moto.s3.notifications import S3NotificationEvent

        event = self.pending.get(event_id)
        if event is None:
            return
        try:
            bucket = next(b.buckets[event["bucket"]] for b in s3_backends() if event["bucket"] in b.buckets)
            key = SimpleNamespace(name=event["key"], etag=event["etag"], size=event["size"],
                                  version_id=event["version_id"], event_time=event.get("event_time"),
                                  sequencer=event.get("sequencer"))  # fmt: skip
            self._send(event["account"], S3NotificationEvent(event["event"]), bucket, key)
        finally:
            self.pending.pop(event_id, None)
            self.on_change()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        return self.worker.wait_idle(timeout)


_sequence_lock = threading.Lock()
_last_sequence = 0


def _event_time() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _sequencer() -> str:
    """Increasing over the process and its restarts (nanoseconds, bumped on a tie), like S3's per key."""
    global _last_sequence
    with _sequence_lock:
        _last_sequence = max(time.time_ns(), _last_sequence + 1)
        return f"{_last_sequence:016X}"


def s3_backends() -> list[Any]:
    from moto.s3.models import s3_backends

    return [backend for _, _, backend in each_backend(s3_backends)]


def install(ctx: Context) -> S3Events:
    from moto.s3 import notifications
    from moto.s3.models import FakeKey, S3Backend

    events = S3Events(notifications.send_event)
    # moto delivers notifications inside the PUT and swallows errors; AWS after it has answered.
    ctx.patcher.set(notifications, "send_event", events.send_event)
    original_event = notifications._get_s3_event

    # moto stamps eventTime at delivery and sends no sequencer or versionId; AWS sends all three, and the
    # pipeline orders uploads by them (ADR 0004).
    def s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        body = original_event(event_name, bucket, key, notification_id)
        record = body["Records"][0]
        if getattr(key, "event_time", None):
            record["eventTime"] = key.event_time
        if getattr(key, "sequencer", None):
            record["s3"]["object"]["sequencer"] = key.sequencer
        if getattr(key, "version_id", None) not in (None, "null"):
            record["s3"]["object"]["versionId"] = key.version_id
        return body

    ctx.patcher.set(notifications, "_get_s3_event", s3_event)
    etag = FakeKey.etag

    # moto reads a new object's body for its ETag without the key's lock, and the persister moves it then.
    def locked_etag(key: Any) -> str:
        if key._etag is None:
            with key.lock:
                return etag.fget(key)
        return etag.fget(key)

    ctx.patcher.set(FakeKey, "etag", property(locked_etag))
    original_part_copy = S3Backend.upload_part_copy

    # moto reads the whole source for every part it copies (a 2 GB managed copy reads it once per part).
    def ranged_part_copy(backend: Any, *args: Any, **kwargs: Any) -> Any:
        call = inspect.signature(original_part_copy).bind(backend, *args, **kwargs).arguments
        start, end = call["start_byte"], call["end_byte"]
        if start is None:
            return original_part_copy(backend, *args, **kwargs)
        source = backend.get_object(
            call["src_bucket_name"], call["src_key_name"], version_id=call["src_version_id"]
        )
        with source.lock:
            source._value_buffer.seek(start)
            value = source._value_buffer.read(end + 1 - start)
        upload = backend.get_bucket(call["dest_bucket_name"]).multiparts[call["multipart_id"]]
        return upload.set_part(call["part_id"], value)

    ctx.patcher.set(S3Backend, "upload_part_copy", ranged_part_copy)
    ctx.patcher.on_undo(events.worker.stop)
    return events


# ------------------------------------------------------------------------------------------ durable state


class DiskBody:
    """A FakeKey body that is a byte range of an immutable file under the state dir's blobs.

    Stands in for moto's SpooledTemporaryFile (FakeKey calls seek, read and close on it). It opens the file
    for each read, so thousands of objects hold no file descriptor and no RAM.
    """

    def __init__(self, path: Path, offset: int = 0, length: int | None = None) -> None:
        self.path, self.offset = Path(path), offset
        self.length = self.path.stat().st_size - offset if length is None else length
        self.position = 0
        self.closed = False

    def seek(self, position: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self.length}[whence]
        self.position = max(0, base + position)
        return self.position

    def tell(self) -> int:
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        remaining = max(0, self.length - self.position)
        size = remaining if size is None or size < 0 else min(size, remaining)
        if size == 0:
            return b""
        with self.path.open("rb") as handle:
            handle.seek(self.offset + self.position)
            data = handle.read(size)
        self.position += len(data)
        return data

    def clone(self) -> DiskBody:
        return DiskBody(self.path, self.offset, self.length)

    def close(self) -> None:  # the file belongs to the store
        self.closed = True

    def write(self, _: bytes) -> int:
        raise OSError("a persisted S3 body is immutable")

    truncate = write


def _disk_key_class() -> type:
    from moto.s3.models import FakeKey

    class DiskFakeKey(FakeKey):
        """A FakeKey whose body is a DiskBody. Copies share the file (list_object_versions deep-copies every
        version, and moto's own copy would read each body into memory)."""

        __module__ = "localaws.s3"  # moto's instance tracker files models under __module__.split(".")[1]

        def __deepcopy__(self, memo: dict) -> Any:
            copied = object.__new__(type(self))
            copied.__dict__.update(self.__dict__)
            copied.lock = threading.Lock()
            copied._value_buffer = self._value_buffer.clone()
            copied.disposed = True
            return copied

        def __copy__(self) -> Any:
            return self.__deepcopy__({})

    return DiskFakeKey


def _fingerprint(versions: list[Any]) -> tuple:
    """Changes whenever a version is added, replaced or removed, or changed in place."""
    from moto.s3.models import FakeDeleteMarker

    return tuple(
        (id(v),) if type(v) is FakeDeleteMarker
        else (id(v), id(v.acl), v.lock_mode, v.lock_until, v.lock_legal_status, v._expiry, v._status,
              v._storage_class, id(v._metadata), v._etag)
        for v in versions
    )  # fmt: skip


_KEY_LINKS = ("_value_buffer", "lock", "multipart", "_blob", "_blob_offset", "_blob_length")


class S3State:
    """Buckets (every setting), objects with their versions and delete markers; bodies in blob files."""

    service = "s3"

    def __init__(self, store: Any, events: S3Events) -> None:
        self.store = store
        self.events = events
        self.disk_key = _disk_key_class()
        # (account, bucket, key) → (fingerprint of its versions, the blobs they name), as last persisted
        self._keys: dict[tuple[str, str, str], tuple[tuple, frozenset[str]]] = {}
        self.released: set[str] = set()  # blobs that a changed or deleted key no longer names

    # --- bodies to disk
    def _to_disk(self, key: Any, blob: str, offset: int, length: int) -> None:
        previous = key._value_buffer
        key.__class__ = self.disk_key
        key._blob, key._blob_offset, key._blob_length = blob, offset, length
        key._value_buffer = DiskBody(self.store.blob_path(blob), offset, length)
        if previous is not None and not isinstance(previous, DiskBody):
            previous.close()  # frees the RAM buffer or the temporary file

    def spill(self, key: Any) -> None:
        """Move a new object's body into a blob file (fsynced), then serve it from there."""
        if isinstance(key, self.disk_key):
            return
        with key.lock:  # every reader of the buffer holds it (see install: etag)
            source = key._value_buffer
            source.seek(0)
            digest = hashlib.md5()  # noqa: S324  (S3's ETag is an MD5)
            size = 0

            def chunks() -> Iterator[bytes]:
                nonlocal size
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk

            blob = self.store.write_blob(chunks())
            if key._etag is None:
                key._etag = digest.hexdigest()
            self._to_disk(key, blob, 0, size)
        upload = key.multipart  # a completed multipart upload keeps its parts: slices of the same file
        if upload is not None:
            parts = [upload.parts[n] for n in upload.partlist if n in upload.parts]
            if sum(p.contentsize for p in parts) == size:
                offset = 0
                for part in parts:
                    if not isinstance(part, self.disk_key):
                        part.etag  # noqa: B018
                        self._to_disk(part, blob, offset, part.contentsize)
                    offset += part.contentsize
            else:
                for part in parts:
                    self.spill(part)

    def _key(self, key: Any) -> dict[str, Any]:
        self.spill(key)
        data = {"t": "key", "state": codec.attributes(key, _KEY_LINKS),
                "blob": [key._blob, key._blob_offset, key._blob_length]}  # fmt: skip
        if key.multipart is not None:
            upload = key.multipart
            data["multipart"] = {
                "state": codec.attributes(upload, ("parts",)),
                "parts": [[n, self._key(p)] for n, p in upload.parts.items()],
            }
        return data

    @staticmethod
    def _blobs_of(data: dict[str, Any]) -> set[str]:
        blobs = {data["blob"][0]} if data.get("t") == "key" else set()
        for _, part in (data.get("multipart") or {}).get("parts", []):
            blobs |= S3State._blobs_of(part)
        return blobs

    # --- records
    def records(self) -> dict[tuple[str, str], Any]:
        """Objects as (fingerprint, body maker): the fingerprint (identities and mutable fields of the
        versions) changes whenever the record would; unchanged objects are neither re-read nor re-written."""
        from moto.s3.models import s3_backends

        records: dict[tuple[str, str], Any] = {}
        keys: dict[tuple[str, str, str], tuple[tuple, frozenset[str]]] = {}
        for account, partition, backend in each_backend(s3_backends):
            if backend.tagger.tags:
                records[("tags", f"{account}/{partition}")] = codec.dumps(codec.encode(backend.tagger.tags))
            for bucket in list(backend.buckets.values()):
                state = codec.attributes(bucket, ("keys", "multiparts"))
                records[("bucket", bucket.name)] = codec.dumps({"account": account, "state": state})
                for name, versions in list(dict.items(bucket.keys)):
                    versions = list(versions)
                    fingerprint = _fingerprint(versions)
                    where = (account, bucket.name, name)
                    known = self._keys.get(where)
                    body = None
                    if known is None or known[0] != fingerprint:
                        try:
                            body = self._body(account, versions)
                        except ValueError:  # a version replaced meanwhile (its buffer closed): next time
                            if known is None:
                                continue
                        else:
                            known = (fingerprint, frozenset().union(*map(self._blobs_of, body["versions"])))
                    keys[where] = known
                    text = codec.dumps(body) if body else None
                    records[("key", f"{bucket.name}/{name}")] = (
                        known[0],
                        (lambda t=text: t)
                        if text
                        else (lambda a=account, v=versions: codec.dumps(self._body(a, v))),
                    )
        for event_id, event in list(self.events.pending.items()):
            records[("pending_event", event_id)] = codec.dumps(event)
        for where, (_, old_blobs) in self._keys.items():
            self.released |= old_blobs - (keys[where][1] if where in keys else frozenset())
        self._keys = keys
        return records

    def _body(self, account: str, versions: list[Any]) -> dict[str, Any]:
        return {"account": account, "versions": [self._version(v, versions) for v in versions]}

    def _version(self, version: Any, versions: list[Any]) -> dict[str, Any]:
        from moto.s3.models import FakeDeleteMarker

        if type(version) is FakeDeleteMarker:
            target = next((i for i, v in enumerate(versions) if v is version.key), None)
            return {"t": "marker", "name": version.name, "version_id": version._version_id,
                    "last_modified": codec.encode(version.last_modified), "target": target}  # fmt: skip
        return self._key(version)

    def live_blobs(self) -> set[str]:
        return set().union(*(blobs for _, blobs in self._keys.values())) if self._keys else set()

    def take_released(self) -> set[str]:
        """Blobs no current object names any more (a copy may share a blob, so check them all)."""
        released, self.released = self.released, set()
        return released - self.live_blobs() if released else set()

    # --- restore
    def restore(self, records: dict[tuple[str, str], str]) -> None:
        from moto.s3.models import FakeBucket, s3_backends
        from moto.utilities.utils import get_partition

        for (kind, key), body in records.items():
            if kind == "tags":
                account, partition = key.split("/")
                s3_backends[account][partition].tagger.tags = codec.decode(json.loads(body))
            elif kind == "pending_event":
                self.events.pending[key] = json.loads(body)
        buckets: dict[str, Any] = {}
        for (kind, name), body in records.items():
            if kind != "bucket":
                continue
            data = json.loads(body)
            state = codec.decode(data["state"])
            # __init__ registers the bucket's account (get_bucket needs it); create_bucket would send events.
            bucket = FakeBucket(state["name"], account_id=data["account"], region_name=state["region_name"])
            bucket.__dict__.update(state)
            s3_backends[data["account"]][get_partition(state["region_name"])].buckets[name] = bucket
            buckets[name] = bucket
        for (kind, where), body in records.items():
            if kind != "key":
                continue
            bucket_name, _, name = where.partition("/")
            data = json.loads(body)
            bucket = buckets[bucket_name]
            versions: list[Any] = []
            for item in data["versions"]:
                versions.append(self._restore_version(item, versions, data["account"], bucket.region_name))
            dict.__setitem__(bucket.keys, name, versions)  # setlist() would dispose what it replaces
            # Known as persisted, so that the first sync neither re-reads nor re-writes it.
            blobs = frozenset().union(*map(self._blobs_of, data["versions"]))
            self._keys[(data["account"], bucket_name, name)] = (_fingerprint(versions), blobs)

    def _restore_version(self, item: dict[str, Any], versions: list[Any], account: str, region: str) -> Any:
        from moto.s3.models import FakeDeleteMarker

        if item["t"] == "marker":
            marker = object.__new__(FakeDeleteMarker)
            marker.name, marker._version_id = item["name"], item["version_id"]
            marker.last_modified = codec.decode(item["last_modified"])
            target = item["target"]
            marker.key = versions[target] if target is not None and target < len(versions) else marker
            return marker
        return self._restore_key(item, account, region)

    def _restore_key(self, item: dict[str, Any], account: str, region: str) -> Any:
        from moto.s3.models import FakeKey, FakeMultipart

        state = codec.decode(item["state"])
        key = object.__new__(self.disk_key)
        FakeKey.__init__(key, state["name"], b"", account_id=account, region_name=region)  # defaults
        buffer = key._value_buffer
        key.__dict__.update(state)
        key._value_buffer = buffer  # closed by _to_disk
        self._to_disk(key, *item["blob"])
        key.multipart = None
        if "multipart" in item:
            upload = codec.new(FakeMultipart, item["multipart"]["state"])
            upload.parts = {n: self._restore_key(p, account, region) for n, p in item["multipart"]["parts"]}
            key.multipart = upload
        return key
