"""The console fails closed (#9): target AWS without sign-in is read-only, sign-in settings that cannot
work close it, and the allow-list decides who gets in. Target "aws" here is the local AWS reached as AWS
is: its endpoint, with the keys from the environment's shared credentials file."""

from __future__ import annotations

import pytest
from streamlit import config as streamlit_config
from streamlit.runtime.secrets import Secrets

from services import access, console
from tests.e2e.console.conftest import page
from tests.e2e.console.test_monitor import monitor

pytestmark = pytest.mark.spark

AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "c"}


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


@pytest.fixture
def aws_console_env(console_env, local_aws, monkeypatch):
    """The console with target aws, no [auth] and no ECOMMERCE_OPEN_CONSOLE."""
    monkeypatch.setenv("ECOMMERCE_TARGET", "aws")
    monkeypatch.setenv("ECOMMERCE_ENDPOINT_URL", local_aws.settings.endpoint_url)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(local_aws.state_dir / "credentials"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return console_env


def test_aws_without_sign_in_offers_no_upload(aws_console_env):
    app = page("upload.py").run()

    assert not app.exception, app.exception
    assert "Read-only: the target is AWS and no sign-in is configured" in texts(app.warning)
    assert not [b for b in app.button if str(b.key).startswith("start-")]
    assert "Connected" in texts(app.sidebar.success)  # it does reach the target, read-only


def test_aws_without_sign_in_offers_no_admin(aws_console_env):
    app = page("admin.py").run()

    assert "This page is for admins" in texts(app.error)
    assert not [b for b in app.button if b.key in ("plan", "down", "refresh_status")]


def test_aws_without_sign_in_hides_subscriber_emails(aws_console_env):
    app = page("notifications.py").run()

    assert "This page is for admins" in texts(app.error)
    assert not app.dataframe


def test_aws_without_sign_in_offers_no_run_actions(aws_console_env, seed_run):
    app = monitor(seed_run["executionArn"])

    assert not app.exception, app.exception
    assert not [b for b in app.button if b.key in ("stop", "redrive", "rerun")]
    assert "Stop, redrive and rerun are admin actions" in texts(app.caption)


def test_aws_opened_on_purpose_is_admin(aws_console_env, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_OPEN_CONSOLE", "1")

    app = page("admin.py").run()

    assert "This page is for admins" not in texts(app.error)
    assert app.button(key="plan")


@pytest.mark.parametrize("section", ["not a table", {"redirect_uri": "r", "client_id": "c"}])
def test_sign_in_settings_that_cannot_work_close_the_console(console_env, section):
    app = page("explorer.py")
    app.secrets["auth"] = section

    app.run()

    assert "Sign-in is misconfigured, so the console stays closed" in texts(app.error)
    assert not app.metric and not app.text_area


def test_a_secrets_file_that_does_not_parse_is_an_error(tmp_path, monkeypatch):
    broken = tmp_path / "secrets.toml"
    broken.write_text('[auth]\nredirect_uri = "http://127.0.0.1:8501/oauth2callback\n', encoding="utf-8")
    monkeypatch.setattr(streamlit_config, "get_option", lambda name: [str(broken)])
    monkeypatch.setattr(console.st, "secrets", Secrets())

    with pytest.raises(access.AuthConfigError, match="Error parsing secrets file"):
        console.auth_configured()


def test_no_secrets_file_is_no_sign_in(tmp_path, monkeypatch):
    monkeypatch.setattr(streamlit_config, "get_option", lambda name: [str(tmp_path / "absent.toml")])
    monkeypatch.setattr(console.st, "secrets", Secrets())

    assert console.auth_configured() is False


def signed_in(path: str, email: str, verified: bool):
    """The page run with [auth] configured and ``email`` signed in (Streamlit's ``st.user`` claims)."""
    app = page(path)
    app.secrets["auth"] = AUTH
    app.user = {"email": email, "is_logged_in": True, "email_verified": verified}
    return app.run()


def test_a_user_outside_the_allow_list_is_refused(console_env, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_ALLOWED_USERS", "@example.com")
    app = signed_in("explorer.py", "eve@evil.com", verified=True)

    assert "eve@evil\\.com is not allowed to use this console" in texts(app.error)  # the email escaped
    assert [b.label for b in app.button] == ["Sign out"]
    assert not app.metric


def test_an_unverified_admin_is_no_admin(console_env, monkeypatch):
    monkeypatch.setenv("ECOMMERCE_ADMIN_EMAILS", "boss@example.com")
    app = signed_in("admin.py", "boss@example.com", verified=False)

    assert "This page is for admins" in texts(app.error)
    assert not [b for b in app.button if b.key == "plan"]
