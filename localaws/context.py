"""What every service installer gets: where the state lives, the endpoint, the owner's keys, the patcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from localaws.credentials import Credentials
from localaws.plumbing import Patcher


@dataclass
class Context:
    state_dir: Path
    endpoint_url: str
    credentials: Credentials
    patcher: Patcher = field(default_factory=Patcher)
    smtp: tuple[str, int] | None = None

    @property
    def port(self) -> int:
        return int(self.endpoint_url.rstrip("/").rsplit(":", 1)[-1])
