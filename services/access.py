"""Who may do what in the console, decided from the settings and the signed-in user. Fails closed.

- With ``[auth]`` (OIDC through ``st.login``): a user must sign in; ``allowed_users`` (emails and domains)
  decides who may use the console at all; admins are on ``admin_emails`` with a verified email.
- Without ``[auth]``: the local target is open (loopback, one owner); the AWS target is read-only unless
  ``open_console`` is set on purpose (``ECOMMERCE_OPEN_CONSOLE=1``).

Plain functions over plain values: the console (``services.console``) reads Streamlit's secrets and user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stack.settings import Settings

# The keys without which st.login cannot work (Streamlit's own check runs only when someone signs in).
REQUIRED_AUTH_KEYS = ("redirect_uri", "cookie_secret")


class AuthConfigError(Exception):
    """``.streamlit/secrets.toml`` exists but cannot configure sign-in: shown, never taken as "no auth"."""


@dataclass(frozen=True)
class Access:
    """What the current visitor may do; ``notice`` says why something is limited."""

    email: str | None
    may_use: bool  # see the console at all
    may_operate: bool  # upload, start runs
    is_admin: bool  # stop / redrive / rerun, the Admin page, subscriber emails on AWS
    notice: str = ""


def auth_section(secrets: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``[auth]`` section, None when there is none; ``AuthConfigError`` when it cannot work."""
    if "auth" not in secrets:
        return None
    section = secrets["auth"]
    if not isinstance(section, Mapping):
        raise AuthConfigError("[auth] in .streamlit/secrets.toml must be a table of settings.")
    missing = [key for key in REQUIRED_AUTH_KEYS if not section.get(key)]
    has_provider = bool(section.get("client_id")) or any(isinstance(v, Mapping) for v in section.values())
    if missing or not has_provider:
        what = ", ".join(missing + ([] if has_provider else ["client_id (or a provider section)"]))
        raise AuthConfigError(f"[auth] in .streamlit/secrets.toml is missing {what}.")
    return section


def on_list(email: str, entries: tuple[str, ...]) -> bool:
    """``email`` matches an entry: the same address, or a domain written ``example.com`` / ``@example.com``.

    Case-insensitive; a domain matches itself only (``example.com`` does not let in ``evil-example.com``).
    """
    address = email.strip().lower()
    if address.count("@") != 1:
        return False
    domain = address.split("@", 1)[1]
    for entry in (e.strip().lower() for e in entries):
        if entry == address or ("@" not in entry.lstrip("@") and entry.lstrip("@") == domain):
            return True
    return False


def decide(settings: Settings, auth: bool, user: Mapping[str, Any]) -> Access:
    """The visitor's access. ``user`` is ``st.user`` (``is_logged_in``, ``email``, ``email_verified``)."""
    if not auth:
        if settings.target == "local" or settings.open_console:
            notice = "Open console: no sign-in configured, so everyone is admin."
            return Access(None, True, True, True, notice)
        return Access(
            None, True, False, False,
            "Read-only: the target is AWS and no sign-in is configured ([auth] in .streamlit/secrets.toml), "
            "so uploads, run actions and Admin are off. Set ECOMMERCE_OPEN_CONSOLE=1 to open it on purpose.",
        )  # fmt: skip
    if not user.get("is_logged_in"):
        return Access(None, False, False, False, "Sign in to use the console.")
    email = str(user.get("email") or "")
    verified = user.get("email_verified") is True
    if not email:
        return Access(None, False, False, False, "Your sign-in did not give an email address.")
    if settings.allowed_users and not (verified and on_list(email, settings.allowed_users)):
        why = "is not allowed to use this console" if verified else "has no verified email"
        return Access(email, False, False, False, f"{email} {why}. Ask an admin to add you.")
    admin = verified and email.lower() in {e.lower() for e in settings.admin_emails}
    unverified = "" if verified else "Your email is not verified: no admin rights."
    return Access(email, True, True, admin, unverified)
