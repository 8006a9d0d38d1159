"""Render the ETL-StepFunction-Controller state machine definition.

The template (``etl_state_machine.asl.json``) is valid JSON as it stands. Deploy-time values are
placeholders written as JSON strings ``"${Name}"``:

* a string that is exactly ``"${Name}"`` is replaced by the typed value, so
  ``"Seconds": "${GlueWaitSeconds}"`` renders as an integer;
* a placeholder inside a longer string is replaced textually.

The static checks of a definition are in ``checks.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TEMPLATE_PATH = Path(__file__).with_name("etl_state_machine.asl.json")

ARN_PLACEHOLDERS = frozenset(
    {
        "CheckFilesFunctionArn",
        "TriggerGlueFunctionArn",
        "CheckGlueStatusFunctionArn",
        "StopGlueFunctionArn",
        "AwaitCounterpartFunctionArn",
        "RenderEmailFunctionArn",
        "SuccessTopicArn",
        "FailureTopicArn",
    }
)
# Numeric placeholders and the smallest value Step Functions accepts for them.
NUMERIC_PLACEHOLDERS: Mapping[str, int] = {
    "PairingWindowSeconds": 1,
    "MaxFileChecks": 1,
    "GlueWaitSeconds": 0,
    "MaxGluePolls": 1,
    "RetryIntervalSeconds": 1,
}
PLACEHOLDERS = ARN_PLACEHOLDERS | frozenset(NUMERIC_PLACEHOLDERS)

_PLACEHOLDER_RE = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")
_WHOLE_PLACEHOLDER_RE = re.compile(r"^\$\{([A-Za-z][A-Za-z0-9_]*)\}$")


def load_template_text() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


def placeholders(text: str) -> set[str]:
    """Names of all ``${Name}`` placeholders in ``text``."""
    return set(_PLACEHOLDER_RE.findall(text))


def _typed(name: str, value: str | int) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"placeholder {name}: expected str or int, got {type(value).__name__}")
    if name in NUMERIC_PLACEHOLDERS:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"placeholder {name}: expected an integer, got {value!r}") from None
        if number < NUMERIC_PLACEHOLDERS[name]:
            raise ValueError(f"placeholder {name}: must be >= {NUMERIC_PLACEHOLDERS[name]}, got {number}")
        return number
    return value


def _substitute(node: Any, values: Mapping[str, str | int]) -> Any:
    if isinstance(node, dict):
        return {key: _substitute(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(item, values) for item in node]
    if isinstance(node, str):
        whole = _WHOLE_PLACEHOLDER_RE.match(node)
        if whole:
            return values[whole.group(1)]
        return _PLACEHOLDER_RE.sub(lambda m: str(values[m.group(1)]), node)
    return node


def render(substitutions: Mapping[str, str | int], text: str | None = None) -> dict[str, Any]:
    """Render ``text`` (default: the template) and return the definition as a dict."""
    text = load_template_text() if text is None else text
    wanted = placeholders(text)
    given = set(substitutions)
    missing, unknown = sorted(wanted - given), sorted(given - wanted)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing placeholders: {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown keys: {', '.join(unknown)}")
        raise ValueError("; ".join(parts))
    values = {name: _typed(name, value) for name, value in substitutions.items()}
    return _substitute(json.loads(text), values)


def render_definition(substitutions: Mapping[str, str | int]) -> str:
    """The rendered definition as compact JSON text, ready for ``CreateStateMachine``."""
    return json.dumps(render(substitutions), separators=(",", ":"), ensure_ascii=False)
