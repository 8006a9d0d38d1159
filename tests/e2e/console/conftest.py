"""Console pages under Streamlit's AppTest against the local AWS of ``tests/e2e/conftest.py``.

``console_env`` (tests/e2e/conftest.py) points ``services.console.settings()`` at that local AWS; ``seed_run``
is one real run of the seed files through the deployed pipeline, shared by every page test. ``page(path)``
opens a page through ``Home.py``'s navigation, as a browser would.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support import batches

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.spark


@pytest.fixture(scope="session")
def seed_run(local_aws, sample_data) -> dict:
    """The seed batch uploaded under fresh keys and run to SUCCEEDED: the published table is the seed's."""
    from stack import aws

    settings = local_aws.settings
    s3 = aws.client(settings, "s3")
    sfn = aws.client(settings, "stepfunctions")
    folder = f"console-{uuid.uuid4().hex[:8]}"
    seed = sample_data / "seed"
    batch = batches.put_batch(
        s3,
        (settings.orders_bucket, f"{folder}/ordercsv.csv", (seed / "ordercsv.csv").read_bytes()),
        (settings.returns_bucket, f"{folder}/returncsv.csv", (seed / "returncsv.csv").read_bytes()),
    )
    machine = batches.state_machine_arn(sfn, settings.state_machine)
    described = batches.wait_execution(sfn, batches.find_execution(sfn, machine, batch), timeout=180)
    assert described["status"] == "SUCCEEDED", described
    assert local_aws.wait_idle(120)
    batches.wait_all_ended(sfn, machine, timeout=120)
    return described


def plain(markdown: str) -> str:
    """Text as the page shows it: Markdown backslash escapes (``console.escape_markdown``) removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def page(path: str, timeout: float = 60) -> AppTest:
    """An AppTest of Home.py switched to ``pages/<path>`` (not yet run). Home.py runs once first, so that
    st.navigation has registered the pages and the switch goes through it (sidebar and all)."""
    app = AppTest.from_file(str(REPO / "Home.py"), default_timeout=timeout).run()
    app.switch_page(f"pages/{path}")
    return app
