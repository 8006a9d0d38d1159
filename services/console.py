"""What every console page shares: the settings, cached clients, the sidebar and access control.

The only Streamlit-aware module in ``services/``; the other service modules are plain functions that take
``Settings`` and clients, so tests and the benchmark call them without a Streamlit runtime.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from services import access, execution_reads, explorer, history
from stack import aws
from stack.settings import Settings

# Characters Markdown (and Streamlit's extensions: :material/…:, $math$) give a meaning to.
MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]()<>#+\-.!|~:$]")


def settings() -> Settings:
    """The settings for this session (environment variables, read on every rerun: cheap)."""
    return Settings.from_env()


def frame() -> Settings:
    """What every page calls first: access control (sign-in when configured), the sidebar, then the
    connection check: a target that cannot be reached stops the page with one message, the same on every
    page (ADR 0021).

    Pages call it, not Home.py: when a deep link is the first request after start-up, Streamlit runs the
    page file on its own (its ``pages/`` folder compatibility), and the page must still be guarded.
    """
    _leave_pages_folder_mode()
    current = settings()
    require_access(current)
    found = connection(current)
    sidebar(current, found)
    if not found.ok:
        stop_unreachable(found)
    return current


def _leave_pages_folder_mode() -> None:
    """A deep link as the very first request after start-up runs its page file through Streamlit's
    ``pages/`` folder compatibility: automatic navigation (raw file names, no sections), kept for every
    later visitor. Leave that mode and rerun, so Home.py's ``st.navigation`` draws the page."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:  # Streamlit clears it once st.navigation has run
        PagesManager.uses_pages_directory = False
        # Once per session: a rerun drops the widget events of its run, which a later run must keep.
        if not st.session_state.get("_left_pages_folder_mode"):
            st.session_state["_left_pages_folder_mode"] = True
            st.rerun()


@st.cache_resource(show_spinner=False)
def _session(settings_key: str, _settings: Settings) -> boto3.Session:
    return aws.session(_settings)


@st.cache_resource(show_spinner=False)
def _client(settings_key: str, service: str, _settings: Settings) -> Any:
    return aws.client(_settings, service, _session(settings_key, _settings))


def session(current: Settings | None = None) -> boto3.Session:
    current = current or settings()
    return _session(repr(current), current)


def client(service: str, current: Settings | None = None) -> Any:
    """A boto3 client, one per settings and service for the whole server (boto3 clients are thread-safe)."""
    current = current or settings()
    return _client(repr(current), service, current)


# --- access ---------------------------------------------------------------------------------------------


def _secrets() -> Any:
    """``st.secrets``, or {} when there is no secrets file; one that does not parse: AuthConfigError."""
    try:
        "auth" in st.secrets  # noqa: B015 (parses the file)
    except StreamlitSecretNotFoundError as exc:
        if getattr(exc, "error_id", "") == "no-secrets-found":
            return {}
        raise access.AuthConfigError(str(exc)) from None
    return st.secrets


def auth_configured() -> bool:
    """True when ``[auth]`` is in ``.streamlit/secrets.toml`` (OIDC sign-in through ``st.login``)."""
    return access.auth_section(_secrets()) is not None


def current_access(current: Settings | None = None) -> access.Access:
    current = current or settings()
    return access.decide(current, auth_configured(), st.user)


def user_email() -> str | None:
    return current_access().email


def is_admin(current: Settings | None = None) -> bool:
    return current_access(current).is_admin


def require_access(current: Settings) -> None:
    """Stop the page unless the visitor may use the console: a sign-in button, or the reason why not."""
    try:
        visitor = current_access(current)
    except access.AuthConfigError as exc:
        st.error(f"Sign-in is misconfigured, so the console stays closed: {exc}", icon="🚫")
        st.stop()
    if visitor.may_use:
        return
    if not st.user.get("is_logged_in"):
        st.info("Sign in to use the console.")
        st.button("Sign in", on_click=st.login, type="primary")
    else:
        st.error(notice(visitor), icon="🚫")
        st.button("Sign out", on_click=st.logout)
    st.stop()


def require_admin(current: Settings | None = None) -> None:
    """Stop the page with a clear message unless the user may do admin work."""
    visitor = current_access(current)
    if not visitor.is_admin:
        who = escape_markdown(visitor.email) if visitor.email else "You"
        st.error(
            f"This page is for admins. {who} is not on the admin allow-list (ECOMMERCE_ADMIN_EMAILS) "
            f"with a verified email. {notice(visitor)}".strip()
        )
        st.stop()


def require_operator(current: Settings | None = None) -> bool:
    """False, with the reason shown, when the visitor may not upload or start runs."""
    visitor = current_access(current)
    if not visitor.may_operate:
        st.warning(notice(visitor), icon="🔒")
    return visitor.may_operate


def notice(visitor: access.Access) -> str:
    """The visitor's notice for Markdown: our own words, the email (from the identity provider) escaped."""
    if not visitor.email:
        return visitor.notice
    return visitor.notice.replace(visitor.email, escape_markdown(visitor.email))


def escape_markdown(text: str) -> str:
    """Text shown literally by st.markdown & co. (values from files and users: no links, images, HTML)."""
    return MARKDOWN_SPECIAL.sub(r"\\\g<0>", text)


# --- sidebar --------------------------------------------------------------------------------------------


# What a call to an endpoint that does not answer raises (pages let it reach Home.py: lost_connection).
UNREACHABLE = aws.UNREACHABLE


class _NotConnected(Exception):
    def __init__(self, found: aws.Connection) -> None:
        super().__init__(found.message)
        self.found = found


@st.cache_data(ttl=30, show_spinner=False)
def _connected(settings_key: str, _settings: Settings) -> aws.Connection:
    found = aws.check_connection(_settings)
    if not found.ok:
        raise _NotConnected(found)  # not cached: the next rerun checks again (a started `make run` shows)
    return found


def connection(current: Settings) -> aws.Connection:
    """The connection check (one STS call, one attempt): a success is cached for 30 s per server, a
    failure checked again on the next rerun, which costs little for an endpoint that refuses at once."""
    try:
        return _connected(repr(current), current)
    except _NotConnected as failed:
        return failed.found


def stop_unreachable(found: aws.Connection) -> None:
    """Stop the page with the connection check's one message (and the underlying error, small)."""
    st.error(found.message, icon="🚫")
    if found.detail:
        st.caption(f"Details: {escape_markdown(found.detail)}")
    st.stop()


def lost_connection(current: Settings, exc: BaseException) -> None:
    """A call found the endpoint gone after the check passed: the same message, and the check forgotten so
    that the next rerun checks again."""
    _connected.clear()
    stop_unreachable(aws.Connection(False, aws.cannot_reach(current), str(exc)))


def target_label(current: Settings) -> str:
    if current.target == "local":
        return f"local AWS · {current.endpoint_url} · {current.region}"
    return f"AWS · {current.region}"


def sidebar(current: Settings | None = None, found: aws.Connection | None = None) -> None:
    """Target, connection check and who is signed in; shown on every page."""
    current = current or settings()
    found = found or connection(current)
    with st.sidebar:
        st.caption("Target")
        st.markdown(f"**{target_label(current)}**")
        if found.ok:
            st.success(found.message, icon="✅")
        else:  # the page itself says why
            st.error("Not connected", icon="🚫")
        visitor = current_access(current)
        if visitor.email:
            role = " (admin)" if visitor.is_admin else ""
            st.caption(f"Signed in as {escape_markdown(visitor.email)}{role}")
            st.button("Sign out", on_click=st.logout)
        if visitor.notice:
            st.caption(notice(visitor))


# --- layout -------------------------------------------------------------------------------------------


def metric_row() -> Any:
    """A row for ``st.metric(…, width="content")``: each metric as wide as its value, the row wrapping
    where it is full, so that no value is cut short ("SUCCEE…") in a narrow column or window."""
    return st.container(horizontal=True, gap="medium")


# --- shared short-lived reads ---------------------------------------------------------------------------


@st.cache_data(ttl=10, show_spinner=False)
def _runs(settings_key: str, _settings: Settings, limit: int) -> pd.DataFrame:
    sfn = client("stepfunctions", _settings)
    return history.runs_frame(sfn, execution_reads.state_machine_arn(sfn, _settings), limit=limit)


def runs(limit: int = 200, current: Settings | None = None) -> pd.DataFrame:
    """The newest executions (history.runs_frame), cached for a few seconds per server."""
    current = current or settings()
    return _runs(repr(current), current, limit)


@st.cache_data(ttl=10, show_spinner=False)
def _published(settings_key: str, _settings: Settings) -> explorer.PublishedRun | None:
    return explorer.published_run(_settings, client("glue", _settings))


def published(current: Settings | None = None, *, expect: str | None = None) -> explorer.PublishedRun | None:
    """The run the table points at now (explorer.published_run), cached for a few seconds.

    A cached "nothing published", or a cached run other than ``expect`` (a run id the caller knows has
    published), is read again: a publish makes exactly those answers stale, and showing them sends a user
    who has just seen the run succeed away empty-handed.
    """
    current = current or settings()
    run = _published(repr(current), current)
    if run is None or (expect is not None and run.run_id != expect):
        _published.clear()
        run = _published(repr(current), current)
    return run


def lineage_markdown(run: explorer.PublishedRun) -> str:
    """Where the published run came from, one input file per line (escaped: keys come from uploads)."""
    if not run.inputs:
        return "Built from: not recorded (published before lineage was kept)."
    return "Built from:\n" + "\n".join(f"- {escape_markdown(line)}" for line in run.lineage())


def forget_published() -> None:
    """Drop the cached published run (after a rollback, every page shows the new one at once)."""
    _published.clear()


# --- the Upload page's file slot ------------------------------------------------------------------------

_S3_UPLOAD = st.components.v2.component(
    "s3_upload",
    html=(
        '<div class="slot"><label class="label"></label>'
        '<input type="file" accept=".csv,.txt,.tsv,.gz,text/csv,text/plain,application/gzip">'
        '<progress hidden value="0"></progress><div class="status"></div></div>'
    ),
    css=(
        ".slot{display:flex;flex-direction:column;gap:.4rem;font-family:var(--st-font,sans-serif)}"
        ".label{font-size:.875rem}progress{width:100%;height:.8rem}.status{font-size:.8rem;opacity:.75}"
    ),
    js=(Path(__file__).with_name("s3_upload.js")).read_text(encoding="utf-8"),
)


def s3_upload(key: str, label: str, head_bytes: int, plan: dict[str, Any] | None) -> Any:
    """The file slot (services/s3_upload.js): ``.picked`` once a file is chosen (name, size, base64 head,
    rows, token; ``unreadable`` when a gzip stream failed); with ``plan`` (presigned part URLs) it uploads
    and fires ``.uploaded`` or ``.failed``."""
    return _S3_UPLOAD(
        key=key,
        data={"label": label, "head_bytes": head_bytes, "plan": plan},
        default={"picked": None},
        on_picked_change=lambda: None,
        on_uploaded_change=lambda: None,
        on_failed_change=lambda: None,
    )
