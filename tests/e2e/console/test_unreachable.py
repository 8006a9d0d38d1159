"""An endpoint that does not answer (#12): every page stops with the connection check's one message, the
same on every page, instead of an exception or a raw botocore error."""

from __future__ import annotations

import pytest

from tests.e2e.console.conftest import page, plain
from tests.support.stack import free_port

PAGES = ["home.py", "upload.py", "monitor.py", "history.py", "explorer.py", "admin.py", "notifications.py"]


@pytest.fixture
def closed_endpoint(fake_aws_env, monkeypatch, tmp_path) -> str:
    """The console pointed at a local AWS that is not running: a free port nobody listens on."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ECOMMERCE_TARGET", "local")
    monkeypatch.setenv("ECOMMERCE_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("ECOMMERCE_LOCAL_STATE_DIR", str(tmp_path))
    return endpoint


@pytest.mark.parametrize("path", PAGES)
def test_every_page_says_the_local_aws_cannot_be_reached(closed_endpoint, path):
    app = page(path, timeout=30).run()

    assert not app.exception, app.exception
    expected = f"Cannot reach the local AWS at {closed_endpoint} — start it with `make run`."
    assert [e.value for e in app.main.error] == [expected]
    assert [plain(e.value) for e in app.sidebar.error] == ["Not connected"]
    assert not app.main.metric and not app.main.selectbox and not app.main.warning


def test_aws_unreachable_names_the_region(fake_aws_env, monkeypatch):
    """On AWS the message names the region and the endpoint (here one nobody listens on)."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ECOMMERCE_TARGET", "aws")
    monkeypatch.setenv("ECOMMERCE_REGION", "eu-west-1")
    monkeypatch.setenv("ECOMMERCE_ENDPOINT_URL", endpoint)
    app = page("history.py", timeout=30).run()

    assert not app.exception, app.exception
    (error,) = app.main.error
    assert error.value.startswith(f"Cannot reach AWS in eu-west-1 at {endpoint} — check the network")
