"""The project's shape: one-way dependencies, no import cycles, one import name and one source per default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import import_graph

REPO = Path(__file__).resolve().parents[2]


def test_no_import_cycles_and_no_layer_breaches():
    report = import_graph.build_report()
    assert report.cycles == []
    assert report.breaches == []


def test_the_graph_sees_type_checking_imports_and_upward_imports(tmp_path):
    """The check can fail: a TYPE_CHECKING import back from the core is both a cycle and a breach."""
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "__init__.py").write_text("")
    (tmp_path / "stack" / "core.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from services import api\n"
    )
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "__init__.py").write_text("")
    (tmp_path / "services" / "api.py").write_text("from stack import core\n")
    (tmp_path / "pages").mkdir()
    (tmp_path / "Home.py").write_text("from deploy import deployer\n")
    environ = {**os.environ, "IMPORT_GRAPH_ROOT": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.import_graph"],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "import cycles: 1\n  services.api <-> stack.core" in done.stdout
    assert "stack.core -> services.api" in done.stdout and "pages.Home -> deploy\n" in done.stdout


def test_csv_profile_has_one_import_name():
    """The console and the Glue job share the same module object, so one ProfileError class."""
    code = (
        "import sys, csv_profile, ecommerce_join_data\n"
        "from services import uploads\n"
        "assert uploads.csv_profile is csv_profile is ecommerce_join_data.csv_profile\n"
        "assert not [m for m in sys.modules if m.endswith('.csv_profile')], sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_jobs_own_defaults_are_the_settings_defaults():
    """A deployment passes the settings' values; the job's standalone defaults must not drift from them."""
    import csv_profile
    import ecommerce_join_data

    from stack.settings import Settings

    assert Settings().max_quarantine_fraction == csv_profile.MAX_BAD_FRACTION
    assert Settings().keep_runs == ecommerce_join_data.DEFAULT_KEEP_RUNS
