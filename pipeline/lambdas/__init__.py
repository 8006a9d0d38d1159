"""Lambda handlers of the ETL pipeline (docs/ARCHITECTURE.md; runs: docs/adr/0004, 0008, 0009).

Modules import each other only relatively (``from . import runs``), so the same code runs as
``pipeline.lambdas.<module>`` in the tests and as the top-level package ``lambdas`` inside each
deployed zip (handler ``lambdas.<module>.handler``). Only the standard library and boto3 are used.
"""
