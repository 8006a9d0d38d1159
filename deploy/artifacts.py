"""Deployable artifacts, built reproducibly: the same sources give the same bytes (and sha256), so the
deployer can compare hashes and skip unchanged uploads.

- each Lambda zip holds the package ``lambdas/`` with the shared modules and that function's own module
  (``settings.lambda_functions`` maps modules to function names); its handler is ``lambdas.<module>.handler``;
- the Glue job's ``--extra-py-files`` zip holds the modules the job imports (``GLUE_EXTRA_PY``)
  at its root;
- the Glue script is ``pipeline/glue/ecommerce_join_data.py`` as it is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = ROOT / "pipeline" / "lambdas"
GLUE_DIR = ROOT / "pipeline" / "glue"
GLUE_SCRIPT = GLUE_DIR / "ecommerce_join_data.py"
GLUE_EXTRA_PY = tuple(
    GLUE_DIR / f"{name}.py"
    for name in ("arrow_csv", "arrow_tasks", "arrow_typing", "csv_profile", "run_lineage")
)

LAMBDA_PACKAGE = "lambdas"
SHARED_MODULES = ("__init__", "config", "emails", "pairing", "runs")

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def lambda_handler(module: str) -> str:
    """The handler of the Lambda whose code is ``pipeline/lambdas/<module>.py``."""
    return f"{LAMBDA_PACKAGE}.{module}.handler"


def reproducible_zip(files: dict[str, bytes]) -> bytes:
    """A deflated zip of ``{archive name: content}`` with sorted entries, fixed times and modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that external_attr holds the mode
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def build_lambda_zip(module: str) -> bytes:
    """The zip of the Lambda whose handler is ``pipeline/lambdas/<module>.py`` (settings.lambda_functions)."""
    if module in SHARED_MODULES or not (LAMBDAS_DIR / f"{module}.py").is_file():
        raise KeyError(f"no Lambda module pipeline/lambdas/{module}.py")
    modules = (*SHARED_MODULES, module)
    return reproducible_zip(
        {f"{LAMBDA_PACKAGE}/{module}.py": (LAMBDAS_DIR / f"{module}.py").read_bytes() for module in modules}
    )


def build_glue_extra_py_zip() -> bytes:
    return reproducible_zip({module.name: module.read_bytes() for module in GLUE_EXTRA_PY})


def glue_script_bytes() -> bytes:
    return GLUE_SCRIPT.read_bytes()


def sha256_b64(data: bytes) -> str:
    """Base64 of the sha256 digest: the format of Lambda's ``CodeSha256``."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
