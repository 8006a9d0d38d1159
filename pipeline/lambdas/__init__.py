"""Lambda handlers of the ETL pipeline (design.md §1, §4).

Modules import each other only relatively (``from . import runs``), so the same code runs as
``pipeline.lambdas.<module>`` in the tests and as the top-level package ``lambdas`` inside each
deployed zip (handler ``lambdas.<module>.handler``). Only the standard library and boto3 are used.
"""
