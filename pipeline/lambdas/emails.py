"""The notification emails: the subject and body of each outcome, rendered once, by this code.

The state machine calls the ``ecommerce-render-email`` Lambda (``render_email.py``) before each SNS
publish and publishes exactly what :func:`render` returns: SNS mails it on AWS, the local AWS over SMTP.
Pure: no AWS calls. Its input is what the state machine passes::

    {"kind": "success" | "failure" | "export_missing", "execution_arn": str, "execution_name": str,
     "execution_input": <the execution's input>, "state": <the state data>}

where the state data holds what the run gathered (``files``: CheckForFiles' output with the S3 versions,
``glue``, ``glue_status`` with the quality summary, ``failure``, ``glue_stop``, ``missing``); any of it may be
absent (a run can fail at its first state, an admin rerun may start with ``{}``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from . import runs

# SNS: a Subject is ASCII, "less than 100 characters", without line breaks or control characters.
SUBJECT_MAX = 99
# Long causes (a stack trace, a whole listing) are cut here; the run monitor shows them in full.
CAUSE_MAX = 4000
KINDS = ("success", "failure", "export_missing")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Email:
    subject: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"subject": self.subject, "message": self.message}


# --------------------------------------------------------------------------------------------- pieces


def subject_text(text: str) -> str:
    """``text`` as SNS accepts it in a Subject: ASCII (accents dropped, other characters as ``?``), one line,
    at most SUBJECT_MAX characters (cut with ``...``)."""
    folded = unicodedata.normalize("NFKD", str(text))
    ascii_text = "".join(c if c.isascii() else "" if unicodedata.combining(c) else "?" for c in folded)
    one_line = _SPACES.sub(" ", "".join(c if c.isprintable() else " " for c in ascii_text)).strip()
    return one_line if len(one_line) <= SUBJECT_MAX else one_line[: SUBJECT_MAX - 3].rstrip() + "..."


def shorten(text: str, room: int) -> str:
    """``text`` in at most ``room`` characters, keeping its start and end (``abc...xyz``)."""
    if len(text) <= room:
        return text
    if room < 5:
        return text[:room]
    head = (room - 3 + 1) // 2
    return text[:head] + "..." + text[len(text) - (room - 3 - head) :]


def subject(outcome: str, batch: str, tail: str = "") -> str:
    """``<outcome>: <batch><tail>``, the batch shortened in the middle so that the whole fits SUBJECT_MAX."""
    outcome, batch, tail = (subject_text(part) for part in (outcome, batch, tail))
    tail = f" - {tail}" if tail else ""
    room = SUBJECT_MAX - len(outcome) - 2 - len(tail)
    if room < 12:  # no room left for a useful batch: the tail gives way
        tail, room = "", SUBJECT_MAX - len(outcome) - 2
    return subject_text(f"{outcome}: {shorten(batch, room)}{tail}")


def count(value: Any) -> str:
    """A count with thousands separators (``51,290``); anything else as it is (``n/a``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"
    return "n/a" if value is None else str(value)


def monitor_link(console_url: str | None, execution_arn: str | None) -> str | None:
    """The run in the console's monitor, or None without a console address or an execution."""
    if not console_url or not execution_arn:
        return None
    return f"{console_url.rstrip('/')}/monitor?execution={quote(execution_arn, safe=':')}"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _object(value: Any) -> runs.S3Object | None:
    try:
        return runs.as_object(value) if isinstance(value, Mapping | runs.S3Object) else None
    except (KeyError, TypeError, ValueError):
        return None


def input_files(event: Mapping[str, Any]) -> tuple[runs.S3Object | None, runs.S3Object | None]:
    """(orders, returns): the files CheckForFiles found (with their versions), else those the execution's
    input names."""
    files = _mapping(_mapping(event.get("state")).get("files"))
    found = _object(files.get("orders")), _object(files.get("returns"))
    named = runs.input_objects(event.get("execution_input"))
    return found[0] or named[0], found[1] or named[1]


def file_lines(orders: runs.S3Object | None, returns: runs.S3Object | None) -> list[str]:
    lines = ["Input files:"]
    for side, obj in (("orders", orders), ("returns", returns)):
        if obj is None:
            lines.append(f"  {side + ':':<9}(none)")
            continue
        version = f"version {obj.version_id}" if obj.version_id else "unversioned"
        lines.append(f"  {side + ':':<9}{obj.uri}  ({version}, {count(obj.size)} bytes)")
    return lines


COUNT_LABELS = (
    ("rows_in", "Rows in"),
    ("rows_out", "Rows out"),
    ("returned_lines", "Returned lines"),
    ("unmatched_returns", "Unmatched returns"),
    ("quarantined_lines", "Quarantined lines"),
)


def count_lines(quality: Mapping[str, Any]) -> list[str]:
    values = [count(quality.get(name)) for name, _ in COUNT_LABELS]
    width = max(len(v) for v in values)
    return ["Counts:"] + [
        f"  {label + ':':<19}{v:>{width}}" for (_, label), v in zip(COUNT_LABELS, values, strict=True)
    ]


def warnings_of(quality: Mapping[str, Any]) -> list[str]:
    raw = quality.get("warnings") or []
    return [str(w) for w in ([raw] if isinstance(raw, str) else raw) if str(w).strip()]


def warning_lines(warnings: list[str]) -> list[str]:
    """The warnings as a list; nothing at all when there are none."""
    return [f"Warnings ({len(warnings)}):", *(f"  - {w}" for w in warnings)] if warnings else []


def batch_label(event: Mapping[str, Any]) -> str:
    """The run id (``<batch time>-<hash>``) when the run has one or its files give one, else the execution's
    name."""
    state = _mapping(event.get("state"))
    run = _mapping(state.get("glue")).get("run_id")
    if run:
        return str(run)
    orders, returns = input_files(event)
    name = str(event.get("execution_name") or "")
    if orders is not None and returns is not None and name:
        return runs.run_id(runs.batch_time(orders, returns), name)
    return name or "(unknown run)"


def _footer(event: Mapping[str, Any]) -> list[str]:
    # "Execution: <name>" is how the console's inbox finds the run (services/notifications.py).
    return [f"Execution: {event.get('execution_name') or '(unknown)'}"]


def _link_lines(event: Mapping[str, Any], console_url: str | None) -> list[str]:
    link = monitor_link(console_url, event.get("execution_arn"))
    return [f"Open the run: {link}", ""] if link else []


def _text(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue  # one blank line between sections, none where a section was left out
        out.append(line)
    return "\n".join(out).strip() + "\n"


# ----------------------------------------------------------------------------------------- per outcome


def render_success(event: Mapping[str, Any], console_url: str | None = None) -> Email:
    state = _mapping(event.get("state"))
    glue, status = _mapping(state.get("glue")), _mapping(state.get("glue_status"))
    quality = _mapping(status.get("quality"))
    warnings = warnings_of(quality) if quality else ["The Glue job wrote no data-quality report."]
    batch = batch_label(event)
    published = quality.get("published")
    outcome = "ETL succeeded"
    if published is False:
        outcome += ", not published"
    if warnings:
        outcome += f" with {len(warnings)} warning{'s' if len(warnings) > 1 else ''}"
    tail = (
        f"{count(quality.get('rows_in'))} in, {count(quality.get('rows_out'))} out, "
        f"{count(quality.get('quarantined_lines'))} quarantined"
    )
    headline = {
        True: f"ETL run {batch} succeeded: the table now shows this run.",
        False: f"ETL run {batch} succeeded but was not published: the table shows a newer batch.",
    }.get(published, f"ETL run {batch} succeeded.")
    glue_line = (
        f"Glue job {glue.get('job_name')} run {glue.get('job_run_id')} took "
        f"{count(status.get('duration_seconds'))} s."
    )
    report = quality.get("report_uri")
    lines = [
        headline,
        "",
        *_link_lines(event, console_url),
        *file_lines(*input_files(event)),
        "",
        *count_lines(quality),
        "",
        *warning_lines(warnings),
        "",
        glue_line + (f" Quality report: {report}" if report else ""),
        *_footer(event),
    ]
    return Email(subject(outcome, batch, tail), _text(lines))


def next_step(failed_state: str, error: str) -> str:
    """What the reader does about a failure, by where and how it failed."""
    if error == "FilesMissing":
        return (
            "Upload the missing export (orders or returns) for this batch; its upload starts a new run. "
            "The published table is unchanged."
        )
    if error == "FileReplaced":
        return (
            "Nothing, unless the newer upload's own run fails too: a file of this run was replaced or "
            "deleted, and the newer upload has its own run. The published table is unchanged."
        )
    if error == "GlueJobFailed":
        return (
            "Read the cause: fix the file it names (the monitor shows the quality report and the "
            "quarantined lines) and upload it again; its upload starts a new run. The published table "
            "is unchanged."
        )
    if error == "GlueJobTimeout":
        return (
            "The Glue run was stopped after the polls ran out. Check the Glue job's logs, then rerun "
            "from the run monitor (or allow more time: max_glue_polls, glue_wait_seconds, "
            "glue_status_wait_seconds). The published "
            "table is unchanged."
        )
    if failed_state.startswith("Notify"):
        return (
            "The run's own email could not be sent: check the SNS topic and its subscriptions. This "
            "email says what the run did; the run monitor has the details."
        )
    return (
        f"Check the logs of the step that failed ({failed_state}), fix what the cause names, then redrive "
        "or rerun the run from the run monitor. The published table is unchanged."
    )


def _glue_stop_lines(state: Mapping[str, Any]) -> list[str]:
    stop = _mapping(state.get("glue_stop"))
    lines = []
    if stop.get("stopped"):
        lines.append(f"Stopped Glue run(s): {', '.join(map(str, stop['stopped']))}")
    if stop.get("errors"):
        lines.append(f"Glue would not stop: {'; '.join(map(str, stop['errors']))}")
    if state.get("glue_stop_error"):
        error = _mapping(state.get("glue_stop_error"))
        lines.append(f"Stopping the Glue run failed: {error.get('Error')}: {error.get('Cause')}")
    return lines


def _cause_text(cause: Any) -> str:
    text = cause if isinstance(cause, str) else json.dumps(cause)
    return text if len(text) <= CAUSE_MAX else text[:CAUSE_MAX] + " … (cut; the run monitor shows it all)"


def render_failure(event: Mapping[str, Any], console_url: str | None = None) -> Email:
    state = _mapping(event.get("state"))
    failure = _mapping(state.get("failure"))
    failed_state = str(failure.get("failed_state") or "an unknown state")
    error = str(failure.get("error") or "unknown error")
    batch = batch_label(event)
    quality = _mapping(_mapping(state.get("glue_status")).get("quality"))
    lines = [
        f"ETL run {batch} FAILED at {failed_state}.",
        "",
        *_link_lines(event, console_url),
        f"Failed state: {failed_state}",
        f"Error: {error}",
        f"Cause: {_cause_text(failure.get('cause') or '(none given)')}",
        "",
        f"What to do next: {next_step(failed_state, error)}",
        "",
        *file_lines(*input_files(event)),
        "",
        *(count_lines(quality) + [""] if quality else []),
        *(warning_lines(warnings_of(quality)) + [""] if quality else []),
        *_glue_stop_lines(state),
        *_footer(event),
    ]
    return Email(subject(f"ETL FAILED at {failed_state}", batch, error), _text(lines))


def render_export_missing(event: Mapping[str, Any], console_url: str | None = None) -> Email:
    files = _mapping(_mapping(event.get("state")).get("files"))
    missing = str(files.get("waiting_for") or "an")
    lone_side = str(files.get("lone_side") or "the other")
    orders, returns = input_files(event)
    lone = orders if lone_side == "orders" else returns if lone_side == "returns" else None
    since, until = files.get("waiting_since") or "?", files.get("waiting_until") or "?"
    lines = [
        f"The {missing} export is missing: the {lone_side} file arrived at {since} and no {missing} file "
        f"came by {until} (the pairing window). Nothing was processed; the published table is unchanged.",
        "",
        *_link_lines(event, console_url),
        f"What to do next: upload the {missing} export that goes with this {lone_side} file; its upload "
        f"starts the run. If the {lone_side} file was sent by mistake, nothing needs doing.",
        "",
        *file_lines(orders, returns),
        "",
        *_footer(event),
    ]
    about = lone.key.rsplit("/", 1)[-1] if lone is not None else str(event.get("execution_name") or "")
    return Email(subject(f"ETL {missing} export missing", about, f"waiting since {since}"), _text(lines))


_RENDERERS = {
    "success": render_success,
    "failure": render_failure,
    "export_missing": render_export_missing,
}


def render(event: Mapping[str, Any], console_url: str | None = None) -> Email:
    """The email for ``event["kind"]``; ValueError for an unknown kind."""
    kind = event.get("kind")
    if kind not in _RENDERERS:
        raise ValueError(f"unknown email kind {kind!r} (expected one of {', '.join(KINDS)})")
    return _RENDERERS[kind](event, console_url)
