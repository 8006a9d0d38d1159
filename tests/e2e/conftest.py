"""One local AWS for the whole test session (localaws/, in this process), shared by the e2e tests.

moto's state and the local-AWS patches are process-wide, while other tiers run moto their own way
(``mock_aws``, their own server, moto's default Glue states). So the local AWS is stopped as soon as the
last e2e test has run, not at the end of the session. It shares the Spark session of ``tests/conftest.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest

from tests.support.stack import free_port, start_deployed_local_aws

HERE = Path(__file__).resolve().parent
NOTIFY = "team@example.com"
CONSOLE_URL = "http://127.0.0.1:8501"
_RUNNING: dict[str, object] = {}


@dataclass
class MailCatcher:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd handler
        with self.arrived:
            self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, predicate, timeout: float = 30.0) -> Message:
        """The first message for which predicate(message) is true, waiting for it to arrive."""
        with self.arrived:
            found: list[Message] = []

            def match() -> bool:
                found[:] = [m for m in self.messages if predicate(m)]
                return bool(found)

            assert self.arrived.wait_for(match, timeout), f"no matching mail in {len(self.messages)}"
            return found[0]


@pytest.fixture(scope="session")
def mail_catcher() -> Iterator[MailCatcher]:
    from aiosmtpd.controller import Controller

    catcher = MailCatcher("127.0.0.1", free_port())
    controller = Controller(catcher, hostname=catcher.host, port=catcher.port)
    controller.start()
    yield catcher
    controller.stop()


@pytest.fixture(scope="session")
def local_aws(spark, mail_catcher, tmp_path_factory):
    """The local AWS on a free port, with the pipeline deployed into it."""
    from stack.settings import Settings

    # No pairing settle time: each test's first upload waits for its own counterpart instead of pairing
    # with the previous test's file (ADR 0004); the burst test deploys one.
    settings = Settings(
        target="local",
        notification_emails=(NOTIFY,),
        glue_wait_seconds=1,
        pairing_settle_seconds=0,
        console_url=CONSOLE_URL,  # the emails link each run to it, as `make run` sets it
    )
    local = start_deployed_local_aws(
        0,
        tmp_path_factory.mktemp("local-aws"),
        settings,
        smtp=(mail_catcher.host, mail_catcher.port),
        warm_spark=False,  # the `spark` fixture has started the session already
        stop_spark=False,  # tests/glue goes on using it
    )
    _RUNNING["local_aws"] = local
    yield local
    local.stop()


@pytest.fixture
def console_env(local_aws, fake_aws_env, monkeypatch):
    """The deployed settings as environment variables, as ``make run`` exports them for the console and
    for ``python -m deploy``."""
    for name, value in local_aws.settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ECOMMERCE_LOCAL_STATE_DIR", str(local_aws.state_dir))
    return local_aws.settings


@pytest.fixture
def wrangler(local_aws, monkeypatch):
    """awswrangler pointed at the local AWS, the way the console's explorer calls it."""
    import awswrangler as wr

    for service in ("s3", "athena", "glue", "sts"):
        monkeypatch.setattr(wr.config, f"{service}_endpoint_url", local_aws.url)
    return wr


def pytest_runtest_teardown(item, nextitem) -> None:
    """Stop the local AWS once the next test is not an e2e test (or there is none)."""
    if nextitem is None or HERE not in Path(str(nextitem.fspath)).resolve().parents:
        local = _RUNNING.pop("local_aws", None)
        if local is not None:
            local.stop()
