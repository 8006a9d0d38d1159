"""Sign-in for real (#9): the console with ``[auth]`` against an OIDC provider on loopback
(``oidc-provider-mock``), driven in chromium. An admin on the allow-list, an allowed non-admin and a user
outside the allow-list each sign in; what each can see and do is checked; each signs out.

The console is a second ``streamlit run`` beside the make-run stack's, on the stack's local AWS.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from tests.support.stack import free_port, second_console

ADMIN, MEMBER, OUTSIDER = "boss@example.com", "ann@team.example.com", "eve@evil.com"


@dataclass(frozen=True)
class SignInConsole:
    url: str
    provider: str


def add_user(provider: str, email: str) -> None:
    claims = {"email": email, "email_verified": True, "name": email.split("@")[0]}
    request = urllib.request.Request(
        f"{provider}/users/{quote(email)}",
        data=json.dumps(claims).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (our loopback provider)
        assert response.status == 204


@pytest.fixture(scope="module")
def signed_in_console(console_stack, tmp_path_factory) -> Iterator[SignInConsole]:
    import oidc_provider_mock

    folder = tmp_path_factory.mktemp("sign-in")
    with oidc_provider_mock.run_server_in_thread() as server:
        provider = f"http://localhost:{server.server_port}"
        for email in (ADMIN, MEMBER, OUTSIDER):
            add_user(provider, email)
        port = free_port()
        secrets = folder / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{os.urandom(16).hex()}"\n'
            'client_id = "ecommerce-console"\n'
            'client_secret = "test-only"\n'
            f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
            encoding="utf-8",
        )
        with second_console(
            console_stack, folder, "--secrets.files", str(secrets),
            port=port, ECOMMERCE_ALLOWED_USERS=f"{ADMIN},@team.example.com", ECOMMERCE_ADMIN_EMAILS=ADMIN,
        ) as url:  # fmt: skip
            yield SignInConsole(url, provider)


@pytest.fixture
def fresh_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def sign_in(page, console: SignInConsole, email: str, path: str = "") -> None:
    page.goto(f"{console.url}/{path}")
    page.get_by_text("Sign in to use the console.").wait_for()
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("sub").fill(email)  # the provider's own authorization form
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{console.url}/**")
    if path:  # Streamlit lands on Home after the callback
        page.goto(f"{console.url}/{path}")


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider ends its session (RP logout)
    page.get_by_text("Sign in to use the console.").wait_for()


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def test_an_admin_signs_in_sees_admin_and_signs_out(fresh_page, signed_in_console, tmp_path):
    page = fresh_page
    sign_in(page, signed_in_console, ADMIN)

    page.get_by_text(f"Signed in as {ADMIN} (admin)").wait_for()
    page.goto(f"{signed_in_console.url}/admin")
    page.get_by_role("button", name="Plan").wait_for()
    page.screenshot(path=str(tmp_path / "admin.png"))
    assert "This page is for admins" not in main_text(page)
    sign_out(page)
    page.goto(f"{signed_in_console.url}/admin")
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_role("button", name="Plan").count() == 0


def test_an_allowed_member_operates_but_is_no_admin(fresh_page, signed_in_console, tmp_path):
    page = fresh_page
    sign_in(page, signed_in_console, MEMBER, "upload")

    page.get_by_text(f"Signed in as {MEMBER}").wait_for()
    assert "(admin)" not in page.locator('[data-testid="stSidebar"]').inner_text()
    page.get_by_text("Each team uploads its own export").wait_for()
    assert "Read-only" not in main_text(page)  # members upload
    page.goto(f"{signed_in_console.url}/admin")
    page.get_by_text("This page is for admins").wait_for()
    assert page.get_by_role("button", name="Plan").count() == 0
    page.screenshot(path=str(tmp_path / "member-admin.png"))
    sign_out(page)


def test_a_user_outside_the_allow_list_sees_nothing(fresh_page, signed_in_console, tmp_path):
    page = fresh_page
    sign_in(page, signed_in_console, OUTSIDER, "explorer")

    page.get_by_text("is not allowed to use this console").wait_for()
    page.screenshot(path=str(tmp_path / "outsider.png"))
    assert "Explorer" not in main_text(page)
    for path in ("upload", "admin", "monitor"):
        page.goto(f"{signed_in_console.url}/{path}")
        page.get_by_text("is not allowed to use this console").wait_for()
    sign_out(page)
