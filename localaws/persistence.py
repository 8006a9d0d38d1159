"""Keeps the store equal to moto's state: restore at start, then persist every change before it is answered.

- A request that may change a service is persisted (that service's changed records, in one fsynced
  transaction) before its response leaves: a crash loses at most the request in flight.
- Changes made outside requests (an execution's history growing in its worker thread, a Glue run ending)
  are reported with ``changed(service)`` and persisted by a background flusher within ``FLUSH_SECONDS``.
- At start, after the restore, whatever was in flight when the process died is ended with the restart
  cause (Step Functions executions ABORTED, Glue runs FAILED) and body files no record names are deleted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from localaws.plumbing import log
from localaws.store import Store

FLUSH_SECONDS = 0.2
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
READ_ACTIONS = ("Describe", "Get", "List", "BatchGet", "Search")
READ_PATHS = ("/invocations",)  # a Lambda Invoke is a POST that changes no Lambda state
# The signing name of a request → the services whose state it may change.
CHANGES = {
    "s3": ("s3",),
    "states": ("stepfunctions",),
    "glue": ("glue",),
    "athena": ("athena", "s3"),  # results are written to S3 in-process
    "sns": ("sns",),
    "lambda": ("lambda",),
    "iam": ("iam",),
    "events": ("events",),
}


class ServiceState(Protocol):
    service: str

    def records(self) -> dict[tuple[str, str], Any]: ...  # body, or (token, body maker): see Store.sync

    def restore(self, records: dict[tuple[str, str], str]) -> None: ...


class Persistence:
    def __init__(self, store: Store, states: list[ServiceState]) -> None:
        self.store = store
        self.states = {state.service: state for state in states}  # in restore order
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        self._wake = threading.Condition()
        self._stopping = False
        self._flusher: threading.Thread | None = None
        self.after_sync: list[Callable[[], None]] = []

    # --- start
    def restore(self) -> dict[str, int]:
        """Load every service's records into moto (before the server answers anyone)."""
        counts = {}
        for name, state in self.states.items():
            records = self.store.load(name)
            state.restore(records)
            self.store.adopt(name, state.records())  # what moto now holds is what is stored
            counts[name] = len(records)
        return counts

    def start(self) -> None:
        self._flusher = threading.Thread(target=self._flush_loop, name="localaws-persist", daemon=True)
        self._flusher.start()

    # --- persisting
    def sync(self, *services: str) -> None:
        """Persist the named services' changes now (all of them when none are named)."""
        with self._lock:
            for name in services or tuple(self.states):
                state = self.states.get(name)
                if state is None:
                    continue
                for attempt in range(3):
                    try:
                        records = state.records()
                        break
                    except RuntimeError:  # a worker thread changed a dict while it was being read
                        if attempt == 2:
                            raise
                self.store.sync(name, records)
            for callback in self.after_sync:
                callback()

    def changed(self, service: str) -> None:
        """A change outside any request: the flusher persists it shortly."""
        with self._wake:
            self._dirty.add(service)
            self._wake.notify()

    def _flush_loop(self) -> None:
        while True:
            with self._wake:
                while not self._dirty and not self._stopping:
                    self._wake.wait()
                if self._stopping and not self._dirty:
                    return
            time.sleep(FLUSH_SECONDS)  # gather a burst of history events into one transaction
            with self._wake:
                dirty, self._dirty = self._dirty, set()
            try:
                self.sync(*sorted(dirty))
            except Exception:
                log.exception("localaws: persisting %s failed", sorted(dirty))

    def stop(self) -> None:
        """Persist everything one last time and close the store."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._flusher is not None:
            self._flusher.join(10)
        try:
            self.sync()
        finally:
            self.store.close()

    # --- the request path
    def middleware(self, app: Any) -> Any:
        """WSGI: a request that may change state is persisted before its response is sent."""

        def persisted(environ: dict[str, Any], start_response: Any) -> Any:
            result = app(environ, start_response)
            services = changed_services(environ)
            if services:
                if not isinstance(result, list):  # a streamed body: let moto finish the request first
                    body = list(result)
                    getattr(result, "close", lambda: None)()
                    result = body
                self.sync(*services)
            return result

        return persisted


def changed_services(environ: dict[str, Any]) -> tuple[str, ...]:
    """The services a request may have changed, from its method, its signature's scope and its action."""
    if environ.get("REQUEST_METHOD", "GET") in READ_METHODS or environ.get("PATH_INFO", "").endswith(
        READ_PATHS
    ):
        return ()
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.rpartition(".")[2].startswith(READ_ACTIONS):
        return ()
    scope = environ.get("HTTP_AUTHORIZATION", "") or environ.get("QUERY_STRING", "")
    for name, services in CHANGES.items():
        if f"/{name}/aws4_request" in scope or f"%2F{name}%2Faws4_request" in scope:
            return services
    return ()
