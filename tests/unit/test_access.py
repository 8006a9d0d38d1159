"""Who may do what (services/access.py): the console fails closed on every path."""

from __future__ import annotations

import pytest

from services import access
from services.access import AuthConfigError, decide, on_list
from stack.settings import Settings

LOCAL, AWS = Settings(target="local"), Settings(target="aws")
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "s", "client_id": "c"}


def user(email="dev@example.com", verified=True, logged_in=True):
    return {"is_logged_in": logged_in, "email": email, "email_verified": verified}


def test_local_without_sign_in_is_open():
    visitor = decide(LOCAL, auth=False, user={})

    assert (visitor.may_use, visitor.may_operate, visitor.is_admin) == (True, True, True)


def test_aws_without_sign_in_is_read_only_and_says_why():
    visitor = decide(AWS, auth=False, user={})

    assert (visitor.may_use, visitor.may_operate, visitor.is_admin) == (True, False, False)
    assert "Read-only" in visitor.notice and "ECOMMERCE_OPEN_CONSOLE=1" in visitor.notice


def test_aws_without_sign_in_opens_only_on_purpose():
    opened = decide(Settings.from_env({"ECOMMERCE_TARGET": "aws", "ECOMMERCE_OPEN_CONSOLE": "1"}), False, {})
    still_closed = decide(
        Settings.from_env({"ECOMMERCE_TARGET": "aws", "ECOMMERCE_OPEN_CONSOLE": "0"}), False, {}
    )

    assert opened.is_admin and not still_closed.may_operate


def test_open_console_must_be_a_clear_yes_or_no():
    with pytest.raises(ValueError, match="not a yes/no value"):
        Settings.from_env({"ECOMMERCE_OPEN_CONSOLE": "please"})


@pytest.mark.parametrize("settings", [LOCAL, AWS])
def test_with_sign_in_nobody_gets_in_before_signing_in(settings):
    visitor = decide(settings, auth=True, user={"is_logged_in": False})

    assert not visitor.may_use and visitor.notice == "Sign in to use the console."


def test_the_allow_list_decides_who_gets_in():
    settings = Settings(target="aws", allowed_users=("ops@example.com", "@team.example.org", "corp.com"))

    assert decide(settings, True, user("ops@example.com")).may_use
    assert decide(settings, True, user("Anyone@Team.Example.org")).may_use
    assert decide(settings, True, user("x@corp.com")).may_use
    refused = decide(settings, True, user("eve@evil.com"))
    assert (
        not refused.may_use
        and refused.notice == "eve@evil.com is not allowed to use this console. Ask an admin to add you."
    )
    assert not decide(settings, True, user("ops@example.com", verified=False)).may_use


@pytest.mark.parametrize(
    "email",
    ["x@evil-corp.com", "x@corp.com.evil.com", "x@sub.corp.com", "corp.com", "x@corp.com@evil.com", ""],
)
def test_a_domain_entry_matches_that_domain_only(email):
    assert not on_list(email, ("corp.com", "@corp.com"))


def test_admins_need_a_verified_email_on_the_admin_list():
    settings = Settings(target="aws", admin_emails=("Boss@Example.com",))

    assert decide(settings, True, user("boss@example.com")).is_admin
    unverified = decide(settings, True, user("boss@example.com", verified=None))
    assert unverified.may_use and not unverified.is_admin
    assert "not verified" in unverified.notice
    assert not decide(settings, True, user("dev@example.com")).is_admin


def test_no_email_no_entry():
    assert not decide(AWS, True, {"is_logged_in": True}).may_use


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ({"auth": "oops"}, "must be a table"),
        ({"auth": {"client_id": "c", "cookie_secret": "s"}}, "missing redirect_uri"),
        ({"auth": {"redirect_uri": "r", "cookie_secret": "s"}}, "client_id (or a provider section)"),
    ],
)
def test_a_broken_auth_section_is_an_error_never_no_auth(secrets, message):
    with pytest.raises(AuthConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        access.auth_section(secrets)


def test_auth_sections_that_work():
    assert access.auth_section({}) is None
    assert access.auth_section({"auth": AUTH}) == AUTH
    providers = {"redirect_uri": "r", "cookie_secret": "s", "google": {"client_id": "c"}}
    assert access.auth_section({"auth": providers}) == providers
