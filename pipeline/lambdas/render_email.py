"""Lambda ``ecommerce-render-email`` (states Render…Email): the subject and body of a notification.

Input: see ``emails.py`` (kind, execution, state data). Output: ``{"subject": str, "message": str}``, which
the next state publishes to SNS as they are. Reads CONSOLE_URL (the link to the run monitor; unset: no link).
Needs no AWS permission beyond its own logs.
"""

from __future__ import annotations

from typing import Any

from . import emails
from .config import LambdaConfig


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    return process(event, LambdaConfig.from_env())


def process(event: Any, cfg: LambdaConfig) -> dict[str, str]:
    if not isinstance(event, dict):
        raise ValueError("render_email needs an object with kind, execution and state")
    return emails.render(event, cfg.console_url).to_dict()
