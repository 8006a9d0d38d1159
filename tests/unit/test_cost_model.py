"""The cost model of docs/COST.md (bench/cost.py): Glue billing, Lambda pricing, S3 and Athena."""

from __future__ import annotations

import pytest

from bench.cost import ATHENA_MINIMUM_BYTES, GlueThroughput, lambda_estimate, monthly, transitions
from services.run_detail import StateRow

GLUE = GlueThroughput(fixed_s=10.0, lines_per_core_s=40_000, bytes_per_line=230)


def test_glue_runs_on_the_executors_cores_and_bills_a_minute_at_least():
    # 2 × G.1X: one driver, one executor with 4 vCPUs.
    assert GLUE.run_seconds(1_600_000, "G.1X", 2) == pytest.approx(10 + 1_600_000 / (40_000 * 4))
    assert GLUE.dpu_seconds(10_000, "G.1X", 2) == 2 * 60  # the 1-minute minimum
    assert GLUE.dpu_seconds(16_000_000, "G.1X", 2) == pytest.approx(2 * (10 + 100))
    assert GLUE.dpu_seconds(16_000_000, "G.2X", 2) == pytest.approx(2 * 2 * (10 + 50))


def test_transitions_count_every_visit():
    rows = [StateRow("CheckForFiles", "Task", visits=2), StateRow("FilesExist", "Choice", visits=2)]
    assert transitions(rows) == 4


def test_lambda_waits_by_design_are_priced_as_a_typical_invocation():
    executions = [
        {
            "lambda_tasks": {
                "CheckForFiles": (2, 0.4),
                "AwaitCounterpart": (1, 3600.0),
                "CheckGlueJobStatus": (1, 5.0),
            }
        }
    ]
    estimate = lambda_estimate(executions, uploads=2, memory_mb=1024)
    assert estimate["invocations"] == 2 + 2 + 1 + 1
    assert estimate["typical_s"] == 0.2
    assert estimate["gb_seconds"] == pytest.approx(0.4 + 4 * 0.2)


def test_athena_bills_ten_megabytes_at_least_per_query():
    small = monthly(1_000, GLUE, parquet_bytes_per_line=50, keep_runs=5, queries=100)
    assert small["athena_tb_scanned"] == round(30 * 100 * ATHENA_MINIMUM_BYTES / 1024**4, 4)
    large = monthly(10_000_000, GLUE, parquet_bytes_per_line=50, keep_runs=5, queries=100)
    assert large["processed_gb"] == round(5 * 10_000_000 * 50 / 1024**3, 3)
