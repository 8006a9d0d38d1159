"""Durable state: one SQLite database of JSON records plus a folder of object bodies, under the state dir.

Each service module turns its moto backend into records ``{(kind, key): json text}`` and back. ``sync``
writes what changed since the last sync of that service in one transaction (``synchronous=FULL``: on disk
before the caller answers), so a crash loses at most the request in flight. Bodies are written and fsynced
before the record that names them. The format carries a version; another version is refused with a message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from pathlib import Path
from typing import IO

FORMAT_VERSION = 1
DATABASE = "state.db"
BLOBS = "blobs"
CLAIM = "in-use.lock"  # flock'ed by the process that owns the state dir; holds its pid

Records = Mapping[tuple[str, str], "str | tuple[Hashable, Callable[[], str]]"]


class StateFormatError(RuntimeError):
    """The state dir was written in another format version: refuse rather than misread it."""


class StateDirInUse(RuntimeError):
    """Another local AWS process owns the state dir: two writers would corrupt it."""


def claim(state_dir: Path) -> IO[str]:
    """This process's exclusive claim on the state dir, held until the returned file is closed. The kernel
    drops it when the process dies, so a crash never leaves the state dir claimed."""
    handle = open(Path(state_dir) / CLAIM, "a+", encoding="utf-8")  # noqa: SIM115 - held for the claim's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise StateDirInUse(
            f"the state dir {state_dir} is in use by another local AWS (pid {owner}). Nothing was changed. "
            f"Stop that one first (Ctrl-C where it runs, or kill {owner}), or use another state dir."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class Store:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self._claim = claim(self.state_dir)  # before anything reads or writes the state
        self.blobs = self.state_dir / BLOBS
        self.path = self.state_dir / DATABASE
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._check_format()  # before anything writes to the state dir
        except BaseException:
            self._claim.close()
            raise
        self.blobs.mkdir(exist_ok=True)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")  # fsync at every commit
        self._known: dict[str, dict[tuple[str, str], Hashable]] = {}  # the tokens of what is stored

    def _check_format(self) -> None:
        try:
            (version,) = self._db.execute("PRAGMA user_version").fetchone()
            (tables,) = self._db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'records'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StateFormatError(
                f"{self.path} is not a local AWS state database ({exc}). Nothing was changed. Move it away, "
                "or start with --reset (make run RESET=1) to delete the state dir's contents."
            ) from None
        if version == 0 and not tables:
            self._db.executescript(
                "CREATE TABLE records (service TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
                " body TEXT NOT NULL, PRIMARY KEY (service, kind, key));"
                f"PRAGMA user_version = {FORMAT_VERSION};"
            )
            return
        if version != FORMAT_VERSION:
            self._db.close()
            raise StateFormatError(
                f"the state dir {self.state_dir} holds local AWS state in format {version}, and this version "
                f"of the local AWS reads format {FORMAT_VERSION} only. Nothing was changed. Start it with "
                "--reset (make run RESET=1) to delete that state and begin empty, or use the version that "
                "wrote it to export what you need."
            )

    # --- records
    def load(self, service: str) -> dict[tuple[str, str], str]:
        """Every record of a service, in the order they were made (moto lists many things in that order)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, key, body FROM records WHERE service = ? ORDER BY rowid", (service,)
            )
            return {(kind, key): body for kind, key, body in rows}

    def sync(self, service: str, records: Records) -> int:
        """Make the stored records of ``service`` equal ``records``; returns how many were written or deleted.

        A record is its body, or ``(token, produce)``: a small token that changes whenever the body would
        (an object's identity, a history's length) and a function that makes the body. Only the tokens of
        what was written are remembered, so a large state is not held twice in memory, and an unchanged
        record costs a comparison of tokens.
        """
        with self._lock:
            known = self._known.setdefault(service, {})
            upserts = []
            for k, value in records.items():
                token, produce = (value, None) if isinstance(value, str) else value
                if known.get(k) != token:
                    upserts.append((k, token, value if produce is None else produce()))
            deletes = [k for k in known if k not in records]
            if not upserts and not deletes:
                return 0
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO records (service, kind, key, body) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (service, kind, key) DO UPDATE SET body = excluded.body",
                    [(service, kind, key, body) for (kind, key), _, body in upserts],
                )
                db.executemany(
                    "DELETE FROM records WHERE service = ? AND kind = ? AND key = ?",
                    [(service, kind, key) for kind, key in deletes],
                )
            for k, token, _ in upserts:
                known[k] = token
            for k in deletes:
                del known[k]
            return len(upserts) + len(deletes)

    def adopt(self, service: str, records: Records) -> None:
        """Remember these tokens as what the store holds (right after a restore, which made them)."""
        with self._lock:
            self._known[service] = {
                k: (value if isinstance(value, str) else value[0]) for k, value in records.items()
            }

    @contextlib.contextmanager
    def _transaction(self):
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- bodies
    def write_blob(self, chunks: Iterable[bytes], name: str | None = None) -> str:
        """Write a body to its own file, fsynced with its folder; returns its name for the record."""
        name = name or uuid.uuid4().hex
        path = self.blob_path(name)
        path.parent.mkdir(exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return name

    def blob_path(self, name: str) -> Path:
        return self.blobs / name[:2] / name

    def remove_blobs(self, names: Iterable[str]) -> None:
        """Delete body files that no record names any more (only after that is committed)."""
        for name in names:
            self.blob_path(name).unlink(missing_ok=True)

    def blob_names(self) -> set[str]:
        return {p.name for p in self.blobs.glob("*/*") if not p.name.endswith(".partial")}

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._claim.close()
