"""The embedded local AWS: moto's server in this process, with one module per emulated service.

``python -m localaws`` serves it; tests and benchmarks call ``start_local_aws``. Modules: ``awslambda``
(zips in a subprocess), ``s3events`` (asynchronous notifications), ``stepfunctions`` (ASL execution),
``glue`` (the job script on local Spark), ``athena`` (SQL on DuckDB), ``sns`` (inbox and SMTP); ``patches``
installs them, ``server`` starts moto, ``credentials`` holds the owner's keys.
"""
