"""What every console page shares: the settings, cached clients, the sidebar and access control.

The only Streamlit-aware module in ``services/``; the other service modules are plain functions that take
``Settings`` and clients, so tests and the benchmark call them without a Streamlit runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import streamlit as st

from services import aws, executions, explorer
from services.settings import Settings


def settings() -> Settings:
    """The settings for this session (environment variables, read on every rerun: cheap)."""
    return Settings.from_env()


def frame() -> Settings:
    """What every page calls first: sign-in when auth is configured, then the sidebar; the settings.

    Pages call it, not Home.py: when a deep link is the first request after start-up, Streamlit runs the
    page file on its own (its ``pages/`` folder compatibility), and the page must still be guarded.
    """
    require_login()
    current = settings()
    sidebar(current)
    return current


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


def auth_configured() -> bool:
    """True when ``[auth]`` is in ``.streamlit/secrets.toml`` (OIDC login through ``st.login``)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, AttributeError):
        return False
    except Exception:  # st.secrets raises its own error when no secrets file exists at all
        return False


def user_email() -> str | None:
    if not auth_configured():
        return None
    user = st.user
    return user.get("email") if user.get("is_logged_in") else None


def is_admin(current: Settings | None = None) -> bool:
    """Without auth (the local default) everyone is admin; with auth, emails on the allow-list are."""
    if not auth_configured():
        return True
    current = current or settings()
    email = user_email()
    return email is not None and email.lower() in {e.lower() for e in current.admin_emails}


def require_login() -> None:
    """With auth configured, stop the page until the user has logged in."""
    if auth_configured() and not st.user.get("is_logged_in"):
        st.info("Sign in to use the console.")
        st.button("Sign in", on_click=st.login, type="primary")
        st.stop()


def require_admin(current: Settings | None = None) -> None:
    """Stop the page with a clear message unless the user may do admin work."""
    if not is_admin(current):
        st.error(
            f"This page is for admins. {user_email() or 'You'} is not on the admin allow-list "
            "(ECOMMERCE_ADMIN_EMAILS)."
        )
        st.stop()


# --- sidebar --------------------------------------------------------------------------------------------


@st.cache_data(ttl=30, show_spinner=False)
def _connection_check(settings_key: str, _settings: Settings) -> tuple[bool, str]:
    return aws.check_connection(_settings)


def target_label(current: Settings) -> str:
    if current.target == "local":
        return f"local AWS · {current.endpoint_url} · {current.region}"
    return f"AWS · {current.region}"


def sidebar(current: Settings | None = None) -> None:
    """Target, connection check and who is signed in; shown on every page."""
    current = current or settings()
    with st.sidebar:
        st.caption("Target")
        st.markdown(f"**{target_label(current)}**")
        ok, message = _connection_check(repr(current), current)
        (st.success if ok else st.error)(message, icon="✅" if ok else "🚫")
        if auth_configured():
            email = user_email()
            if email:
                st.caption(f"Signed in as {email}" + (" (admin)" if is_admin(current) else ""))
                st.button("Sign out", on_click=st.logout)
        else:
            st.caption("Open console: no `[auth]` in `.streamlit/secrets.toml`, so everyone is admin.")


# --- shared short-lived reads ---------------------------------------------------------------------------


@st.cache_data(ttl=10, show_spinner=False)
def _runs(settings_key: str, _settings: Settings, limit: int) -> pd.DataFrame:
    sfn = client("stepfunctions", _settings)
    return executions.runs_frame(sfn, executions.state_machine_arn(sfn, _settings), limit=limit)


def runs(limit: int = 200, current: Settings | None = None) -> pd.DataFrame:
    """The newest executions (executions.runs_frame), cached for a few seconds per server."""
    current = current or settings()
    return _runs(repr(current), current, limit)


@st.cache_data(ttl=10, show_spinner=False)
def _published(settings_key: str, _settings: Settings) -> explorer.PublishedRun | None:
    return explorer.published_run(_settings, client("glue", _settings))


def published(current: Settings | None = None) -> explorer.PublishedRun | None:
    """The run the table points at now (explorer.published_run), cached for a few seconds."""
    current = current or settings()
    return _published(repr(current), current)


# --- the Upload page's file slot ------------------------------------------------------------------------

_S3_UPLOAD = st.components.v2.component(
    "s3_upload",
    html=(
        '<div class="slot"><label class="label"></label>'
        '<input type="file" accept=".csv,.txt,.tsv,text/csv,text/plain">'
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
    rows, token); with ``plan`` (presigned part URLs) it uploads and fires ``.uploaded`` or ``.failed``."""
    return _S3_UPLOAD(
        key=key,
        data={"label": label, "head_bytes": head_bytes, "plan": plan},
        default={"picked": None},
        on_picked_change=lambda: None,
        on_uploaded_change=lambda: None,
        on_failed_change=lambda: None,
    )
