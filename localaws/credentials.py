"""The owner's credentials: created at first start, kept in ``<state-dir>/credentials`` (mode 0600).

The file is in the AWS shared-credentials format (profile ``default``), so any AWS client uses it with
``AWS_SHARED_CREDENTIALS_FILE=<state-dir>/credentials``. The local AWS accepts only requests signed with it.
"""

from __future__ import annotations

import configparser
import os
import secrets
import stat
import string
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "credentials"
PROFILE = "default"
_KEY_ALPHABET = string.ascii_uppercase + string.digits


class CredentialsError(RuntimeError):
    """The credentials file is unusable (unreadable, malformed or readable by others)."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    path: Path

    def env(self) -> dict[str, str]:
        """Environment for a child process: the file, not the keys, and nothing else to fall back on."""
        return {"AWS_SHARED_CREDENTIALS_FILE": str(self.path), "AWS_PROFILE": PROFILE,
                "AWS_CONFIG_FILE": os.devnull}  # fmt: skip


def generate() -> tuple[str, str]:
    key_id = "LKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    return key_id, secrets.token_urlsafe(30)


def ensure(state_dir: Path) -> Credentials:
    """The credentials of this state dir, created (0600, fsynced) when there are none yet."""
    path = Path(state_dir).resolve() / FILE_NAME
    if not path.exists():
        key_id, secret = generate()
        text = f"[{PROFILE}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    return load(path)


def load(path: Path) -> Credentials:
    """Read a credentials file, refusing one that group or others can read (fail closed)."""
    path = Path(path).resolve()
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise CredentialsError(
            f"no local AWS credentials at {path}: start the local AWS (make run)"
        ) from None
    if mode & 0o077:
        raise CredentialsError(
            f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` and start again"
        )
    parser = configparser.ConfigParser()
    parser.read(path)
    try:
        section = parser[PROFILE]
        return Credentials(
            section["aws_access_key_id"].strip(), section["aws_secret_access_key"].strip(), path
        )
    except KeyError:
        raise CredentialsError(f"{path} has no [{PROFILE}] profile with both keys") from None
