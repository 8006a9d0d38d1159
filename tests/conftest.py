"""Shared fixtures (the sample data folder, one warm Spark session per test run) and the test tiers.

Each directory under tests/ is a tier, and its tests carry that tier's marker (declared in pyproject.toml):
``pytest -m "unit or functional"`` is ``make test-fast``. A test file outside a tier directory is an error,
so that no test silently falls out of ``make test-fast`` or out of its tier.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
TIERS = ("unit", "functional", "glue", "e2e", "browser")
SAMPLE_DATA = Path(os.environ.get("SAMPLE_DATA_DIR", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tier marker of each test, from its directory: tests/<tier>/... → ``pytest.mark.<tier>``."""
    for item in items:
        path = item.path.resolve()
        if TESTS not in path.parents:
            continue
        tier = path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: not in a tier directory (tests/<{'|'.join(TIERS)}>/)")
        item.add_marker(tier)


@pytest.fixture(scope="session")
def sample_data() -> Path:
    """../shared/data; absent → skip with the reason, except under CI=true where it is a failure."""
    if not (SAMPLE_DATA / "SOURCES.md").exists():
        message = f"sample data not found at {SAMPLE_DATA} (set SAMPLE_DATA_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SAMPLE_DATA


@pytest.fixture(scope="session")
def spark():
    from ecommerce_join_data import local_spark

    session = local_spark("tests")
    yield session
    session.stop()


@pytest.fixture
def fake_aws_env(monkeypatch):
    """Fake credentials and region for in-process moto; no endpoint, profile or ECOMMERCE_* leaking in."""
    for var in ["AWS_ENDPOINT_URL", "AWS_PROFILE", *[v for v in os.environ if v.startswith("ECOMMERCE_")]]:
        monkeypatch.delenv(var, raising=False)
    for var, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(var, value)
