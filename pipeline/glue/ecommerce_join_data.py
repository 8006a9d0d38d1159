"""Glue job `ecommerce_join_data`: validate, normalise and left-join the orders and returns exports.

Runs as an AWS Glue 5.0 job (Spark 3.5) or as a plain program on local files:

    python pipeline/glue/ecommerce_join_data.py --orders_path a.csv --returns_path b.csv --output_path out/

The transform is a set of pure DataFrame functions (tests import them); `run_job` wires them together,
writes `<output_path>run_id=<id>/` and, when --database/--table are given, publishes atomically by pointing
the Glue table at that run prefix in one catalog update.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

import arrow_csv
import arrow_tasks
import arrow_typing
import csv_profile
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import run_lineage
from csv_profile import CONTRACT, CONTRACT_VERSION, ColumnProfile, CsvProfile, NumberFormat, ProfileError
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

HEAD_BYTES = 8 * 1024 * 1024
CORRUPT = "_corrupt_record"
REASON = "_reject_reason"
RAW_LINE = "_raw_line"
MATCHED = "_matched"
# "_repair <column>: <what>": true on a line whose value needed that repair (counted for the report).
REPAIR = "_repair "
PARTITIONS = ("order_year", "order_month")
ORDERS_REQUIRED = ("order_id", "order_date")
RETURNS_REQUIRED = ("order_id",)
REJECTED_SCHEMA = "_raw_line string, _reject_reason string"
# The orders pass in the tasks reads the file in byte ranges: at most this much per task at a time.
RANGE_BYTES = 128 * 1024 * 1024
MIN_RANGE_BYTES = 1024 * 1024
RANGES_SCHEMA = "index long, start long, end long"
RESERVED = ("is_returned", "run_id", "processed_at", *PARTITIONS)
# The columns every run adds, with their published types (docs/DATA_CONTRACT.md).
RUN_COLUMNS = {"is_returned": "boolean", "run_id": "string", "processed_at": "timestamp"}
KIND_LABELS = {"integer": "a whole number", "double": "a number"}
GLUE_TYPES = {"string": "string", "bigint": "bigint", "double": "double", "date": "date",
              "boolean": "boolean", "timestamp": "timestamp", "int": "int"}  # fmt: skip
# A contract kind as the Glue catalog (and Spark's simpleString) names it.
KIND_GLUE_TYPES = {"string": "string", "integer": "bigint", "double": "double", "date": "date"}


class JobError(RuntimeError):
    """A run failure with a message a person can act on."""


# Each attempt re-reads the table; several runs may publish at once (MaxConcurrentRuns).
PUBLISH_ATTEMPTS = 5
DEFAULT_KEEP_RUNS = 5  # run prefixes kept after a publish, without --keep_runs (a deployment passes its own)
# A run in one of these states has been told to stop and must not publish.
STOPPED_STATES = frozenset({"STOPPING", "STOPPED"})


# --------------------------------------------------------------------------- Spark session


def require_java() -> str:
    """Spark needs Java 17: JAVA_HOME or `java` on PATH."""
    java = (
        Path(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else shutil.which("java")
    )
    if not java or not Path(java).exists():
        raise SystemExit(
            "Java 17 is required for Spark and was not found (set JAVA_HOME or put java on PATH). "
            "Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless"
        )
    # The java that Spark itself would start (JAVA_HOME or PATH), with a fixed argument.
    version = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr  # noqa: S603
    match = re.search(r'version "(\d+)', version)
    if not match or int(match.group(1)) < 17:
        raise SystemExit(
            f"Spark 3.5 here needs Java 17; found: {version.splitlines()[0] if version else java}"
        )
    return str(java)


def local_spark(app_name: str = "ecommerce_join_data") -> SparkSession:
    """A local session tuned for one small machine: few shuffle partitions, modest heap, no UI."""
    require_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[2]")).appName(app_name)
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# Settings the job relies on; also applied on Glue (they are runtime SQL confs there).
JOB_CONF = {
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",  # wrong dates → NULL (then quarantined), never a crash
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # not legacy INT96
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
}
SESSION_CONF = {
    **JOB_CONF,
    "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "2g"),
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.files.maxPartitionBytes": str(256 * 1024 * 1024),
    "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR",
}


# --------------------------------------------------------------------------- pure DataFrame functions


def read_raw(spark: SparkSession, path: str, profile: CsvProfile) -> DataFrame:
    """Every column as a string, plus the raw text of lines with a wrong field count. A line that repeats
    the header (two exports concatenated; the header after Excel's ``sep=`` line, which Spark takes for the
    header) is no data."""
    fields = [T.StructField(c.name, T.StringType()) for c in profile.columns]
    schema = T.StructType([*fields, T.StructField(CORRUPT, T.StringType())])
    raw = (
        spark.read.schema(schema)
        .options(**profile.spark_read_options())  # escape '"': Spark's default `\` splits Superstore names
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("ignoreLeadingWhiteSpace", True)
        .option("ignoreTrailingWhiteSpace", True)
        .csv(path)
    )
    # Spark reads an empty field as null. A few columns tell a header (comparing all costs planning time).
    same = [F.col(c.name).eqNullSafe(F.lit(c.source or None)) for c in profile.header_columns]
    return raw.where(~reduce(operator.and_, same))


def _parse_date(source: Column, column: ColumnProfile) -> tuple[Column, dict[str, Column]]:
    """(the date, {repair: condition}). A value with a time gives the date as written (DATE_TIME_REGEX)."""
    fmt = column.date_format or csv_profile.DATE_FORMATS[0]
    date_part = F.to_date(F.regexp_extract(source, csv_profile.DATE_TIME_REGEX, 1), fmt.spark_pattern)
    if column.has_time:  # most values carry a time: strip it first
        parsed = date_part
        return parsed, {"time dropped": parsed.isNotNull() & (source.contains(":"))}
    plain = F.to_date(source, fmt.spark_pattern)
    # coalesce is lazy: the regex runs only on values the plain pattern does not take.
    return F.coalesce(plain, date_part), {"time dropped": plain.isNull() & date_part.isNotNull()}


def _parse_number(
    source: Column, column: ColumnProfile, profile: CsvProfile
) -> tuple[Column, dict[str, Column]]:
    """(the number, {repair: condition}): a plain cast first; currency, grouping and accounting negatives
    (NumberFormat.regex) only for values that the cast does not take."""
    fmt = column.number_format or NumberFormat(profile.decimal)
    if fmt.decimal == ",":
        plain = F.when(~source.contains("."), F.translate(source, ",", ".").cast("double"))
    else:
        plain = source.cast("double")
    cleaned = F.regexp_replace(F.translate(source, "(", "-"), fmt.strip_regex, "")
    if fmt.decimal == ",":
        cleaned = F.translate(cleaned, ",", ".")
    written = F.when(source.rlike(fmt.regex), cleaned.cast("double"))
    number = F.coalesce(plain, written)
    if column.kind == "integer":  # whole numbers only: 2.0 is 2, 2.5 is refused (a cast would truncate)
        number = F.when(number == F.floor(number), number.cast("bigint"))
    repaired = plain.isNull() & number.isNotNull()
    repairs = {
        "currency stripped": repaired & source.rlike(csv_profile.CURRENCY_REGEX),
        "thousands separators removed": repaired & source.contains(fmt.grouping),
        "accounting negative": repaired & source.startswith("("),
    }
    return number, repairs


def _parse(source: Column, column: ColumnProfile, profile: CsvProfile) -> tuple[Column, dict[str, Column]]:
    if column.kind == "date":
        return _parse_date(source, column)
    if column.kind in ("integer", "double"):
        return _parse_number(source, column, profile)
    return source, {}


def type_columns(raw: DataFrame, profile: CsvProfile, required: tuple[str, ...] = ()) -> DataFrame:
    """Convert columns to their contract types as the profile says they are written; a line that does not
    convert gets a `_reject_reason`, and a line whose value needed a repair (currency, grouping, accounting
    negative, a time) a true `_repair <column>: <what>` column.

    Required columns must not be empty. The line's text is kept in `_raw_line` for the quarantine.
    """
    field_count = F.lit(f"wrong number of fields, expected {len(profile.columns)}")
    typed, problems, repairs = [], [(F.col(CORRUPT).isNotNull(), field_count)], []
    for col in profile.columns:
        source = F.col(col.name)
        parsed, column_repairs = _parse(source, col, profile)
        # No alias for a text column: Spark's constraint propagation doubles the constraints that mention a
        # column for each `x AS x`, and the header filter mentions every column (2^n: minutes and OOM).
        typed.append(source if col.kind == "string" else parsed.alias(col.name))
        # A cheap condition per line; only the true ones are counted.
        repairs += [
            F.when(c, True).alias(f"{REPAIR}{col.name}: {what}") for what, c in column_repairs.items()
        ]
        if col.kind != "string":
            date_label = (col.date_format or csv_profile.DATE_FORMATS[0]).label
            label = date_label if col.kind == "date" else KIND_LABELS[col.kind]
            message = F.format_string(f"{col.name}: '%s' is not {label}", source)
            problems.append((source.isNotNull() & parsed.isNull(), message))
        if col.name in required:
            problems.append((source.isNull(), F.lit(f"{col.name}: empty")))
    # A cheap boolean per line; the reason text is only built for the (rare) rejected lines.
    rejected = reduce(operator.or_, [condition for condition, _ in problems])
    reason = F.concat_ws("; ", *[F.when(condition, message) for condition, message in problems])
    line = F.concat_ws(profile.delimiter, *[F.coalesce(F.col(c.name), F.lit("")) for c in profile.columns])
    return raw.select(
        *typed,
        F.when(rejected, reason).alias(REASON),
        F.when(rejected, F.coalesce(F.col(CORRUPT), line)).alias(RAW_LINE),
        *repairs,
    )


def repair_columns(typed: DataFrame) -> list[str]:
    """The repair marker columns that ``type_columns`` added."""
    return [c for c in typed.columns if c.startswith(REPAIR)]


def data_columns(frame: DataFrame) -> list[str]:
    """The columns that are data: the job's own bookkeeping columns start with ``_`` (snake_case names never
    do)."""
    return [c for c in frame.columns if not c.startswith("_")]


def join_key(orders: CsvProfile, returns: CsvProfile) -> list[str]:
    """`order_id`, plus `market` when both files have one (Global Superstore reuses ids across markets)."""
    return ["order_id", "market"] if "market" in orders.names and "market" in returns.names else ["order_id"]


def prepare_returns(returns: DataFrame, key: list[str], order_columns: list[str]) -> DataFrame:
    """One row per key (first in file order); clashing columns get a `return_` prefix; a match marker."""
    returns = returns.where(F.col(REASON).isNull()).select(*data_columns(returns))
    for name in returns.columns:
        if name not in key and (name in order_columns or name in RESERVED):
            returns = returns.withColumnRenamed(name, f"return_{name}")
    first = Window.partitionBy(*key).orderBy("_line")
    return (
        returns.withColumn("_line", F.monotonically_increasing_id())
        .withColumn("_rank", F.row_number().over(first))
        .where("_rank = 1")
        .drop("_line", "_rank")
        .withColumn(MATCHED, F.lit(True))
    )


def join_orders_returns(
    orders: DataFrame, returns: DataFrame, key: list[str], run_id: str, processed_at: datetime
) -> DataFrame:
    """Exactly one row per valid order line: order columns, is_returned, return extras, run columns."""
    order_columns = data_columns(orders)
    extras = [c for c in returns.columns if c not in key and c != MATCHED]
    joined = orders.join(F.broadcast(returns), on=key, how="left")
    return joined.select(
        *order_columns,
        F.coalesce(F.col(MATCHED), F.lit(False)).alias("is_returned"),
        *extras,
        F.lit(run_id).alias("run_id"),
        F.lit(processed_at).cast(T.TimestampType()).alias("processed_at"),
        F.year("order_date").alias("order_year"),
        F.month("order_date").alias("order_month"),
    )


# --------------------------------------------------------------------------- file and S3 helpers


def aws_client(service: str):
    """Every AWS client of this job comes from here: the local AWS runner (localaws/glue.py) points
    its own copy of this module at the local endpoint without touching the process environment."""
    import boto3

    return boto3.client(service)


def is_s3(path: str) -> bool:
    return path.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_head(path: str, size: int | None = None) -> tuple[bytes, bool]:
    """The first `size` bytes of a local or S3 file, and whether that is the whole file."""
    size = size or HEAD_BYTES
    if is_s3(path):
        bucket, key = split_s3(path)
        obj = aws_client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size}")
        data = obj["Body"].read()
    else:
        with open(path, "rb") as handle:
            data = handle.read(size + 1)
    return data[:size], len(data) <= size


def read_chunks(path: str, size: int = 1024 * 1024):
    """A local or S3 file's bytes, chunk by chunk (bounded memory)."""
    if is_s3(path):
        bucket, key = split_s3(path)
        yield from aws_client("s3").get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(size)
    else:
        with open(path, "rb") as handle:
            while chunk := handle.read(size):
                yield chunk


def write_text(uri: str, text: str) -> None:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        aws_client("s3").put_object(
            Bucket=bucket, Key=key, Body=text.encode(), ContentType="application/json"
        )
    else:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        Path(uri).write_text(text, encoding="utf-8")


def utc_iso(value: str) -> str:
    """One comparable form for batch times: 2026-11-25T18:30:00.123Z (milliseconds: two pairs uploaded
    within one second are still ordered)."""
    moment = datetime.fromisoformat(value)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def join_path(base: str, *parts: str) -> str:
    return base.rstrip("/") + "/" + "/".join(p.strip("/") for p in parts) + "/"


# --------------------------------------------------------------------------- the job


@dataclass
class JobArgs:
    orders_path: str
    returns_path: str
    output_path: str
    run_id: str
    database: str | None = None
    table: str | None = None
    batch_time: str | None = None
    max_quarantine_fraction: float = csv_profile.MAX_BAD_FRACTION
    keep_runs: int = DEFAULT_KEEP_RUNS
    job_name: str | None = None  # Glue's --JOB_NAME and --JOB_RUN_ID: this run, asked before publishing
    job_run_id: str | None = None
    execution_arn: str | None = None  # the execution that started it: publishes only while it runs
    # What CheckForFiles saw: the run reads these S3 versions, and refuses an input whose ETag differs.
    orders_version_id: str | None = None
    returns_version_id: str | None = None
    orders_etag: str | None = None
    returns_etag: str | None = None
    audit_path: str | None = None  # s3://…/audit/: each publish appends an entry (run_lineage.AuditEntry)


@dataclass
class Report:
    run_id: str
    run_path: str
    orders_path: str
    returns_path: str
    rows_in: int = 0
    rows_out: int = 0
    returned_lines: int = 0
    returns_in: int = 0
    returns_rejected: int = 0
    unmatched_returns: int = 0
    quarantined_lines: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    quarantine_examples: dict[str, str] = field(default_factory=dict)  # reason → a value that failed
    # Lines per repair, per file: {"orders": {"sales: currency stripped": 9994, …}, "returns": {…}}
    repairs: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantine_sample: list[dict] = field(default_factory=list)
    join_key: list[str] = field(default_factory=list)
    sales_in: float | None = None
    sales_out: float | None = None
    min_order_date: str | None = None
    max_order_date: str | None = None
    orders_version_id: str | None = None
    returns_version_id: str | None = None
    published: bool = False
    status: str = "RUNNING"
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    orders: dict = field(default_factory=dict)
    returns: dict = field(default_factory=dict)
    inputs: dict[str, dict] = field(default_factory=dict)  # kind → source, version_id, etag, size, …
    processed_at: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, default=str)


def profile_file(path: str, kind: str, max_bad_fraction: float) -> CsvProfile:
    """The file's profile; a gzip file (by its magic bytes) is profiled decompressed and read to its end
    once here (csv_profile.check_gzip when the head is not all of it), so that a corrupt or truncated one
    fails with a clear message, not in Spark's reader."""
    head, complete = read_head(path)
    profile = csv_profile.profile_bytes(
        head, kind=kind, complete=complete, max_bad_fraction=max_bad_fraction, max_text_bytes=HEAD_BYTES
    )
    # Spark (Hadoop's codec factory) decompresses a file by its name's ".gz" suffix only.
    name = path.rsplit("/", 1)[-1]
    if profile.compression == "gzip" and not name.endswith(".gz"):
        raise JobError(
            f"{path} is gzip-compressed but its name does not end in .gz (Spark decompresses by the name); "
            "upload it as a .csv.gz file"
        )
    if profile.compression is None and name.lower().endswith(".gz"):
        raise JobError(f"{path} is named .gz but is not gzip-compressed; upload it as a .csv file")
    if profile.compression == "gzip" and not complete:
        csv_profile.check_gzip(read_chunks(path), what=f"{kind} file")
    return profile


def new_report(args: JobArgs) -> Report:
    """The report of a new run: its run prefix under the output path, processed now (``pin_inputs``
    records the input files' lineage in it)."""
    run_path = join_path(args.output_path, f"run_id={args.run_id}")
    processed_at = datetime.now(UTC).replace(microsecond=0)
    return Report(
        args.run_id,
        run_path,
        args.orders_path,
        args.returns_path,
        orders_version_id=args.orders_version_id,
        returns_version_id=args.returns_version_id,
        processed_at=processed_at.isoformat(),
    )


def describe_unpinned(kind: str, path: str) -> run_lineage.InputFile:
    """An input that is read where it is, as lineage records it: an S3 object by a HEAD, a local file by
    its size and time (one that is missing as named: the read then fails with the reason)."""
    if is_s3(path):
        bucket, key = split_s3(path)
        return run_lineage.input_from_head(kind, path, aws_client("s3").head_object(Bucket=bucket, Key=key))
    if not Path(path).is_file():
        return run_lineage.InputFile(kind, path)
    stat = Path(path).stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds")
    return run_lineage.InputFile(kind, path, size=stat.st_size, uploaded_at=modified)


def pin_inputs(args: JobArgs, report: Report | None = None) -> JobArgs:
    """``args`` reading private copies of the checked input versions, under
    ``<output_path>_inputs/run_id=<id>/`` (not in the run prefix, which the Parquet write overwrites).

    Spark cannot read an S3 version, and a file replaced between CheckForFiles and the read must not slip
    in (nor a mix of both versions across Spark's range reads), so each S3 input is copied server-side at
    the version CheckForFiles saw, or, without a version, only while its ETag is the one seen. The raw
    files stay where they are; ``unpin_inputs`` deletes the copies. Local paths are used as they are.

    With ``report``, each input's lineage (version id, ETag, size, upload time) goes into it, from the same
    HEAD that checks the pinned version.
    """
    pinned, described = {}, []
    for kind in run_lineage.KINDS:
        path = getattr(args, f"{kind}_path")
        version, etag = getattr(args, f"{kind}_version_id"), getattr(args, f"{kind}_etag")
        if not is_s3(path) or not (version or etag):
            described.append(describe_unpinned(kind, path) if report is not None else None)
            continue
        into = join_path(args.output_path, "_inputs", f"run_id={args.run_id}", kind)
        pinned[f"{kind}_path"], head = _pin(path, version, etag, into)
        described.append(run_lineage.input_from_head(kind, path, head))
    if report is not None:
        report.inputs = run_lineage.report_inputs(described)
    return replace(args, **pinned)


def _pin(path: str, version: str | None, etag: str | None, into: str) -> tuple[str, dict]:
    """The copy's URI, and the HEAD of the version copied."""
    from botocore.exceptions import ClientError

    s3 = aws_client("s3")
    bucket, key = split_s3(path)
    source = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
    seen = f"version {version}" if version else f"ETag {etag}"
    quoted = f'"{(etag or "").strip(chr(34))}"'  # an HTTP entity tag is quoted
    try:
        head = s3.head_object(**source, **({} if version else {"IfMatch": quoted}))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("412", "PreconditionFailed"):
            raise JobError(
                f"{path} was replaced after it was checked ({seen}); the newer file has its own run"
            ) from None
        if code in ("404", "NoSuchKey", "NoSuchVersion", "405", "MethodNotAllowed"):
            raise JobError(f"{path} ({seen}) is gone since it was checked") from None
        raise
    if etag and head["ETag"].strip('"') != etag.strip('"'):
        found = head["ETag"].strip('"')
        raise JobError(f"{path} {seen} has ETag {found}, not the checked {etag}")
    target_bucket, target_key = split_s3(into + pinned_name(key))
    # Managed copy: multipart for inputs over 5 GB; the IfMatch guards an unversioned source on AWS.
    extra = {} if version else {"CopySourceIfMatch": quoted}
    s3.copy(source, target_bucket, target_key, ExtraArgs=extra)
    return f"s3://{target_bucket}/{target_key}", head


def pinned_name(key: str) -> str:
    """The copy's file name: the key's, without a leading ``_`` or ``.`` (Spark skips such files), and a
    ``.gz`` suffix in lower case, which is how Spark knows to decompress it."""
    name = key.rsplit("/", 1)[-1].lstrip("._") or "input.csv"
    return name[: -len(".gz")] + ".gz" if name.lower().endswith(".gz") else name


def unpin_inputs(pinned: JobArgs, args: JobArgs) -> None:
    """Delete the copies that ``pin_inputs`` made (never the raw files)."""
    s3 = None
    for kind in ("orders", "returns"):
        copy, raw = getattr(pinned, f"{kind}_path"), getattr(args, f"{kind}_path")
        if copy != raw and is_s3(copy):
            s3 = s3 or aws_client("s3")
            bucket, key = split_s3(copy)
            s3.delete_object(Bucket=bucket, Key=key)


def run_job(spark: SparkSession, args: JobArgs) -> Report:
    """Profile, transform, write the run prefix, check the invariants, then publish. Raises JobError."""
    report = new_report(args)
    pinned = args
    try:
        pinned = pin_inputs(args, report)
        schema = build_run(spark, pinned, report)
        if args.database and args.table:
            publish(args, report, schema)
        report.status = "SUCCEEDED"
        return report
    except (ProfileError, JobError) as error:
        report.status, report.error = "FAILED", str(error)
        raise
    finally:
        unpin_inputs(pinned, args)
        if report.orders:  # profiles passed: there is a run prefix to hold the report
            write_text(report.run_path + "_quality/report.json", report.to_json())


def build_run(
    spark: SparkSession, args: JobArgs, report: Report, write_path: str | None = None
) -> T.StructType:
    """Profile, transform and write the run prefix, fill in the report and check the invariants; returns
    the written schema (for publish). Raises ProfileError or JobError. Nothing is published here.

    The output is written to ``report.run_path``, or to ``write_path`` when given: a local staging copy of
    the run prefix that the caller uploads (the local AWS has no s3a). Messages always name
    ``report.run_path``. One pass over the orders, which also counts what the report needs.
    """
    for option, value in JOB_CONF.items():
        spark.conf.set(option, value)
    write_path = write_path or report.run_path
    processed_at = datetime.fromisoformat(report.processed_at)
    orders_profile, returns_profile = _profile_inputs(args, report)
    key = report.join_key
    has_sales = "sales" in orders_profile.names  # a number column by the contract

    # Both passes with pyarrow, the orders' in the Spark tasks (ADR 0025), or with Spark's reader for a file
    # that pyarrow does not take as Spark does (then the returns go through Spark too).
    run = (args.run_id, processed_at)
    orders = (spark, args.orders_path, orders_profile)
    returns, done = None, None
    if arrow_tasks.parses(orders_profile) and arrow_tasks.parses(returns_profile):
        returns = _returns_in_arrow(spark, args.returns_path, returns_profile, key, orders_profile.names)
    if returns is not None:
        done = _orders_in_tasks(*orders, returns, key, write_path, run)
    if done is None:
        returns = _returns_in_spark(spark, args.returns_path, returns_profile, key, orders_profile.names)
        done = _orders_in_spark(*orders, returns, key, write_path, run)

    _record_output(report, done.seen_in, done.seen_out, done.repairs, has_sales)
    report.returns_in, report.returns_rejected = returns.counts["rows_in"], returns.counts["rejected"]
    report.repairs["returns"] = _repair_counts(returns.repairs, returns.counts)
    report.unmatched_returns = done.returns - done.written.matched_keys
    if report.quarantined_lines:
        quarantine = join_path(write_path, "_quality", "quarantine")
        _write_quarantine(done.rejected(), returns.rejected(), report, quarantine)
    if done.staging and report.quarantined_lines:  # the tasks left rejected lines there
        delete_prefix(done.staging)
    returns.release()
    _check_run(report, done.written, done.seen_out["null_dates"], args.max_quarantine_fraction)
    _add_warnings(report)
    return done.schema


@dataclass
class ReturnsDone:
    """The returns, read, typed and deduplicated (``prepare_returns``), with their counts for the report."""

    table: pa.Table  # prepare_returns' rows
    frame: DataFrame  # the same for Spark's join (no rows when only its plan is needed)
    counts: dict  # rows_in, rejected, repair_<i>
    repairs: list[str]  # the repair columns, in type_columns' order
    rejected: Callable[[], DataFrame]  # the rejected lines (line and reason), for the quarantine
    release: Callable[[], None] = lambda: None  # frees what Spark cached


def _returns_in_arrow(
    spark: SparkSession, path: str, profile: CsvProfile, key: list[str], order_columns: list[str]
) -> ReturnsDone | None:
    """The returns (a small file) read, typed and deduplicated with pyarrow on the driver, as the Spark path
    does (no Spark job); None when it holds a value only Spark reads as the contract says."""
    filesystem, file_path = arrow_tasks.filesystem(path)
    try:
        raw = arrow_csv.read_range(path, 0, filesystem.get_file_info(file_path).size, profile)
        typed = arrow_typing.type_table(raw, profile, RETURNS_REQUIRED)
    except arrow_tasks.SPARK_ONLY as error:
        print(f"{path}: read with Spark ({error})", file=sys.stderr)
        return None
    table = arrow_tasks.prepare_returns(typed, key, {*order_columns, *RESERVED})
    repairs, counts = _numbered_repairs(arrow_tasks.typed_counts(typed))
    rejected = typed.filter(pc.is_valid(typed.column(REASON))).select([RAW_LINE, REASON])
    frame = spark.createDataFrame([], from_arrow_schema(table.schema))
    rejected_frame = lambda: spark.createDataFrame(rejected.to_pylist(), REJECTED_SCHEMA)  # noqa: E731
    return ReturnsDone(table, frame, counts, repairs, rejected_frame)


def _returns_in_spark(
    spark: SparkSession, path: str, profile: CsvProfile, key: list[str], order_columns: list[str]
) -> ReturnsDone:
    """The returns read, typed and deduplicated with Spark, cached, and collected as Arrow for the tasks."""
    typed = _read_typed(spark, path, profile, RETURNS_REQUIRED).cache()
    returns = prepare_returns(typed, key, order_columns).cache()
    table = pa.Table.from_batches(returns._collect_as_arrow(), schema=to_arrow_schema(returns.schema))
    repairs = repair_columns(typed)
    counts = typed.agg(
        F.count(F.lit(1)).alias("rows_in"),
        F.count(REASON).alias("rejected"),
        *[F.count(F.col(c)).alias(f"repair_{i}") for i, c in enumerate(repairs)],
    ).first()

    def release() -> None:
        typed.unpersist()
        returns.unpersist()

    return ReturnsDone(table, returns, counts.asDict(), repairs, lambda: typed, release)


@dataclass
class OrdersDone:
    """What the orders pass wrote and counted, for the report and the checks."""

    written: Written
    returns: int  # deduplicated returns
    seen_in: dict  # rows_in, rejected, sales_in, repair_<i>
    seen_out: dict  # rows_out, returned, null_dates, sales_out, min_date, max_date
    repairs: list[str]  # the repair columns, in type_columns' order
    schema: T.StructType  # of the rows written
    rejected: Callable[[], DataFrame]  # the rejected lines (line and reason), for the quarantine
    staging: str | None = None  # a folder to delete once the quarantine is written


def _orders_in_tasks(
    spark: SparkSession,
    path: str,
    profile: CsvProfile,
    returns: ReturnsDone,
    key: list[str],
    write_path: str,
    run: tuple[str, datetime],
) -> OrdersDone | None:
    """The orders pass in the tasks over byte ranges of the file (``arrow_tasks.OrdersPass``): no row
    goes through the JVM. None when a task met a value that only Spark reads as the contract says (then
    Spark's read does the pass)."""
    returns_frame, returns_table = returns.frame, returns.table
    # The output's schema (and its contract check) from the plan of the same join over no rows.
    schema = _join(_typed_frame(spark, profile), returns_frame, key, *run).schema
    filesystem, file_path = arrow_tasks.filesystem(path)
    size = filesystem.get_file_info(file_path).size
    cores = spark.sparkContext.defaultParallelism  # a task per core, as the workers scale
    range_bytes = max(MIN_RANGE_BYTES, min(RANGE_BYTES, -(-size // cores)))
    ranges = [(i, start, end) for i, (start, end) in enumerate(arrow_csv.byte_ranges(size, range_bytes))]
    shares = spark.sparkContext.parallelize(ranges, min(len(ranges), cores))  # each task its share of ranges
    frame = spark.createDataFrame(shares, RANGES_SCHEMA)
    shipped = replace(profile, _rows=())  # the head's rows stay on the driver
    output = to_arrow_schema(schema)

    def in_tasks(writer: arrow_tasks.PartitionedParquetWriter) -> DataFrame:
        task = arrow_tasks.OrdersPass(path, shipped, ORDERS_REQUIRED, returns_table, output, *run, writer)
        return frame.mapInArrow(task, arrow_tasks.WRITTEN_SCHEMA)

    written, returns_count, tasks = _write_run(write_path, returns_table, key, in_tasks)
    counts = arrow_tasks.add_counts([row["counts"] for row in tasks])
    if counts["spark_only"]:
        print(f"{path}: read with Spark ({counts['spark_only']})", file=sys.stderr)
        return None
    repairs, seen = _numbered_repairs(counts)
    staging = join_path(write_path, *arrow_tasks.REJECTED.split("/"))
    rejected = lambda: spark.read.parquet(staging)  # noqa: E731
    return OrdersDone(written, returns_count, seen, seen, repairs, schema, rejected, staging)


def _orders_in_spark(
    spark: SparkSession,
    path: str,
    profile: CsvProfile,
    returns: ReturnsDone,
    key: list[str],
    write_path: str,
    run: tuple[str, datetime],
) -> OrdersDone:
    """The orders pass with Spark's CSV reader and typing, the counts observed on the way; the tasks
    write the rows with pyarrow (ADR 0024)."""
    returns_frame, returns_table = returns.frame, returns.table
    orders = _read_typed(spark, path, profile, ORDERS_REQUIRED)
    has_sales = "sales" in profile.names
    repairs = repair_columns(orders)
    observed, seen = _observe_orders(orders, has_sales, repairs)
    joined, observed_out = _observe_output(_join(observed, returns_frame, key, *run), has_sales)
    in_tasks = lambda writer: joined.mapInArrow(writer, arrow_tasks.WRITTEN_SCHEMA)  # noqa: E731
    written, returns_count, _ = _write_run(write_path, returns_table, key, in_tasks)
    return OrdersDone(
        written, returns_count, seen.get, observed_out.get, repairs, joined.schema, lambda: orders
    )


def _profile_inputs(args: JobArgs, report: Report) -> tuple[CsvProfile, CsvProfile]:
    """Both files' profiles, recorded in the report with the join key."""
    orders_profile = profile_file(args.orders_path, "orders", args.max_quarantine_fraction)
    returns_profile = profile_file(args.returns_path, "returns", args.max_quarantine_fraction)
    report.orders, report.returns = orders_profile.to_report(), returns_profile.to_report()
    report.join_key = join_key(orders_profile, returns_profile)
    return orders_profile, returns_profile


def _read_typed(spark: SparkSession, path: str, profile: CsvProfile, required: tuple[str, ...]) -> DataFrame:
    """The file read as strings, then typed by the contract (with repairs and reject reasons)."""
    return type_columns(read_raw(spark, path, profile), profile, required)


def _observe_orders(
    orders: DataFrame, has_sales: bool, order_repairs: list[str]
) -> tuple[DataFrame, Observation]:
    """The orders with the counts of their one pass observed: lines in, rejected, input sales, repairs."""
    seen = Observation("orders_in")
    observed = orders.observe(
        seen,
        F.count(F.lit(1)).alias("rows_in"),
        F.count(REASON).alias("rejected"),
        F.sum(F.when(F.col(REASON).isNull(), F.col("sales") if has_sales else F.lit(0.0))).alias("sales_in"),
        *[F.count(F.col(c)).alias(f"repair_{i}") for i, c in enumerate(order_repairs)],
    )
    return observed, seen


def _join(
    observed: DataFrame, returns: DataFrame, key: list[str], run_id: str, processed_at: datetime
) -> DataFrame:
    """The valid order lines left-joined with the returns; refuses an output off the data contract."""
    joined = join_orders_returns(observed.where(F.col(REASON).isNull()), returns, key, run_id, processed_at)
    drift = contract_problems(joined.schema)
    if drift:  # the types come from the contract: this is a bug, and nothing is written
        raise JobError("the output does not match the data contract: " + "; ".join(drift))
    return joined


def _observe_output(joined: DataFrame, has_sales: bool) -> tuple[DataFrame, Observation]:
    """The output with its counts observed on the write: rows, returned lines, dates, sales."""
    written = Observation("rows_out")
    observed = joined.observe(
        written,
        F.count(F.lit(1)).alias("rows_out"),
        F.count(F.when(F.col("is_returned"), True)).alias("returned"),
        F.count(F.when(F.col("order_date").isNull(), True)).alias("null_dates"),
        F.sum(F.col("sales") if has_sales else F.lit(0.0)).alias("sales_out"),
        F.min("order_date").alias("min_date"),
        F.max("order_date").alias("max_date"),
    )
    return observed, written


@dataclass
class Written:
    """What the tasks wrote: rows, and, counted on those rows apart from the join, the lines that carry a
    returns key and the returns keys that some line carries."""

    rows: int
    keyed_lines: int
    matched_keys: int


def _numbered_repairs(counts: dict) -> tuple[list[str], dict]:
    """(the repair columns in type_columns' order, ``counts`` with each also as ``repair_<i>``, the names
    the Spark path's observations give them)."""
    repairs = [name for name in counts if name.startswith(REPAIR)]
    return repairs, {**counts, **{f"repair_{i}": counts[c] for i, c in enumerate(repairs)}}


def _typed_frame(spark: SparkSession, profile: CsvProfile) -> DataFrame:
    """No rows, with the columns ``type_columns`` gives the data (and the reject reason)."""
    kinds = {
        "string": T.StringType(),
        "integer": T.LongType(),
        "double": T.DoubleType(),
        "date": T.DateType(),
    }
    fields = [T.StructField(c.name, kinds[c.kind]) for c in profile.columns]
    return spark.createDataFrame([], T.StructType([*fields, T.StructField(REASON, T.StringType())]))


def _write_run(
    write_path: str,
    returns: pa.Table,
    key: list[str],
    rows: Callable[[arrow_tasks.PartitionedParquetWriter], DataFrame],
) -> tuple[Written, int, list]:
    """Write the run prefix (replacing what is there) as Spark's partitioned writer lays it out, each task
    writing its rows with pyarrow: ``rows(writer)`` is the DataFrame of what the tasks report
    (arrow_tasks). Returns what was written, the number of returns and each task's last report row. Raises
    JobError when the files found are not exactly the ones the tasks wrote."""
    delete_prefix(write_path)
    filesystem, base = arrow_tasks.filesystem(write_path)
    # The deduplicated returns' keys go to every task, as Spark's broadcast join sends them.
    return_keys = arrow_tasks.key_strings(returns, tuple(key))
    arrow_tasks.ship_by_value()
    writer = arrow_tasks.PartitionedParquetWriter(
        write_path, str(uuid.uuid4()), PARTITIONS, tuple(key), return_keys.drop_null().combine_chunks()
    )
    reported = rows(writer).collect()
    files = {row["path"]: row["rows"] for row in reported if row["path"] is not None}
    listed = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    found = {
        path
        for path in (info.path.removeprefix(base + "/") for info in listed if info.type == pafs.FileType.File)
        if not path.startswith("_")  # the run's own files (_quality/), which Athena reads no more than Spark
    }
    if found != set(files):
        raise JobError(
            f"the run prefix holds {len(found)} files where the tasks wrote {len(files)}: "
            + ", ".join(sorted(found ^ set(files))[:5])
        )
    with filesystem.open_output_stream(f"{base}/_SUCCESS"):
        pass  # as Spark's committer marks a complete write
    tasks = [row for row in reported if row["path"] is None]
    matched = set().union(*(row["matched"] for row in tasks))
    written = Written(sum(files.values()), sum(row["keyed"] for row in tasks), len(matched))
    return written, len(return_keys), tasks


def _record_output(
    report: Report, seen_in: dict, seen_out: dict, order_repairs: list[str], has_sales: bool
) -> None:
    """The observed counts of the orders pass and of the write, in the report."""
    report.rows_in, report.quarantined_lines = seen_in["rows_in"], seen_in["rejected"]
    report.repairs["orders"] = _repair_counts(order_repairs, seen_in)
    report.rows_out, report.returned_lines = seen_out["rows_out"], seen_out["returned"]
    report.min_order_date, report.max_order_date = (str(seen_out["min_date"]), str(seen_out["max_date"]))
    if has_sales:
        report.sales_in, report.sales_out = seen_in["sales_in"] or 0.0, seen_out["sales_out"] or 0.0


def _check_run(report: Report, written: Written, null_dates: int, max_quarantine_fraction: float) -> None:
    """Fails the run without valid lines, with a broken invariant or above the quarantine limit."""
    if report.rows_out == 0:
        raise JobError(
            f"no valid order lines: all {report.rows_in} lines were quarantined ({_top_reasons(report)})"
        )
    check_invariants(report, written.keyed_lines, null_dates, written.rows)
    fraction = report.quarantined_lines / report.rows_in
    if fraction > max_quarantine_fraction:
        raise JobError(
            f"{report.quarantined_lines} of {report.rows_in} order lines ({fraction:.1%}) "
            "could not be parsed, "
            f"above the {max_quarantine_fraction:.1%} limit: {_top_reasons(report)}. "
            f"See {report.run_path}_quality/quarantine/"
        )


def _add_warnings(report: Report) -> None:
    """What a person should know about a run that passed: quarantined, unparsed and unmatched lines."""
    if report.quarantined_lines:
        report.warnings.append(
            f"{report.quarantined_lines} order line(s) quarantined ({_top_reasons(report)}); "
            f"see {report.run_path}_quality/quarantine/"
        )
    if report.returns_rejected:
        report.warnings.append(
            f"{report.returns_rejected} returns line(s) could not be parsed and were ignored"
        )
    if report.unmatched_returns:
        report.warnings.append(f"{report.unmatched_returns} return(s) match no order")


def _repair_counts(columns: list[str], counts: dict) -> dict[str, int]:
    """{"sales: currency stripped": lines, …} for the repairs that happened."""
    found = {c.removeprefix(REPAIR): counts[f"repair_{i}"] for i, c in enumerate(columns)}
    return {what: n for what, n in found.items() if n}


def published_type(name: str) -> str:
    """The Glue type a data column is published with: the contract's (also for a returns column renamed
    ``return_<name>``), the run columns', or text for any other column."""
    if name in RUN_COLUMNS:
        return RUN_COLUMNS[name]
    if name not in CONTRACT and name.startswith("return_") and name.removeprefix("return_") in CONTRACT:
        name = name.removeprefix("return_")
    return KIND_GLUE_TYPES[csv_profile.contract_kind(name)]


def contract_problems(schema: T.StructType) -> list[str]:
    """The data columns whose type is not the one the contract publishes them with."""
    return [
        f"{f.name} is {f.dataType.simpleString()}, the contract says {published_type(f.name)}"
        for f in schema.fields
        if f.name not in PARTITIONS and f.dataType.simpleString() != published_type(f.name)
    ]


def _write_quarantine(orders: DataFrame, returns: DataFrame, report: Report, path: str) -> None:
    rejected = orders.where(F.col(REASON).isNotNull()).select(
        F.lit("orders").alias("file"), F.col(RAW_LINE).alias("line"), F.col(REASON).alias("reason")
    )
    rejected = rejected.unionByName(
        returns.where(F.col(REASON).isNotNull()).select(
            F.lit("returns").alias("file"), F.col(RAW_LINE).alias("line"), F.col(REASON).alias("reason")
        )
    ).cache()
    rejected.coalesce(1).write.mode("overwrite").option("header", True).csv(path)
    by_reason = (
        rejected.where("file = 'orders'")
        .groupBy(F.regexp_replace("reason", r": '.*?' is not ", ": not ").alias("reason"))
        .agg(
            F.count(F.lit(1)).alias("count"),
            F.min(F.regexp_extract("reason", r": '(.*?)' is not ", 1)).alias("example"),
        )
        .orderBy(F.desc("count"))
        .collect()
    )
    report.quarantine_reasons = {row["reason"]: row["count"] for row in by_reason}
    report.quarantine_examples = {row["reason"]: row["example"] for row in by_reason if row["example"]}
    report.quarantine_sample = [row.asDict() for row in rejected.limit(20).collect()]
    rejected.unpersist()


def _top_reasons(report: Report, limit: int = 3) -> str:
    items = list(report.quarantine_reasons.items())[:limit]
    examples = report.quarantine_examples
    return (
        ", ".join(
            f"{reason} ×{count}" + (f" (e.g. {examples[reason]!r})" if reason in examples else "")
            for reason, count in items
        )
        or "no reason recorded"
    )


def check_invariants(
    report: Report, keyed_lines: int, null_dates: int, rows_written: int | None = None
) -> None:
    """The run's invariants (docs/DATA_CONTRACT.md); a breach fails the run before anything is published."""
    broken = []
    if report.rows_out + report.quarantined_lines != report.rows_in:
        broken.append(
            f"rows out {report.rows_out} + quarantined {report.quarantined_lines} != rows in {report.rows_in}"
        )
    if rows_written is not None and rows_written != report.rows_out:
        broken.append(f"rows in the Parquet files {rows_written} != rows out {report.rows_out}")
    if report.returned_lines != keyed_lines:
        broken.append(
            f"returned lines {report.returned_lines} != order lines with a return key {keyed_lines}"
        )
    if report.sales_in is not None and abs(report.sales_in - report.sales_out) > 1e-6 * max(
        1.0, abs(report.sales_in)
    ):
        broken.append(f"sales {report.sales_out} != input sales {report.sales_in}")
    if null_dates:
        broken.append(f"{null_dates} output rows have no order_date")
    if broken:
        raise JobError("invariant broken: " + "; ".join(broken))


# --------------------------------------------------------------------------- atomic publish


def glue_columns(schema: T.StructType) -> list[dict]:
    return [{"Name": f.name, "Type": GLUE_TYPES[f.dataType.simpleString()]} for f in schema.fields]


def table_input(args: JobArgs, report: Report, schema: T.StructType) -> dict:
    """The whole table definition for this run: one UpdateTable switches readers to the new run prefix."""
    data_columns = [f for f in schema.fields if f.name not in PARTITIONS]
    first_year, last_year = report.min_order_date[:4], report.max_order_date[:4]
    return {
        "Name": args.table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "parquet",
            "EXTERNAL": "TRUE",
            # Partitions come from the template: no per-partition catalog writes, one atomic UpdateTable.
            "projection.enabled": "true",
            "projection.order_year.type": "integer",
            "projection.order_year.range": f"{first_year},{last_year}",
            "projection.order_month.type": "integer",
            "projection.order_month.range": "1,12",
            "storage.location.template": report.run_path
            + "order_year=${order_year}/order_month=${order_month}/",
            "run_id": args.run_id,
            "contract_version": str(CONTRACT_VERSION),
            "batch_time": utc_iso(args.batch_time or report.processed_at),
            "rows": str(report.rows_out),
            "returned_lines": str(report.returned_lines),
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # Lineage: the exact raw objects (bucket, key, version id, ETag, size, upload time).
            **run_lineage.table_parameters(run_lineage.inputs_from_report(report.__dict__)),
        },
        "PartitionKeys": [{"Name": "order_year", "Type": "int"}, {"Name": "order_month", "Type": "int"}],
        "StorageDescriptor": {
            "Columns": glue_columns(T.StructType(data_columns)),
            "Location": report.run_path,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
            },
            "Compressed": True,
        },
    }


def check_schema_change(current: dict, definition: dict, report: Report) -> None:
    """Refuse to change the type of a published column, except as the migration to a newer contract
    (docs/adr/0005-fixed-table-schema.md): a table published under an older contract version, or before
    versions existed (0), takes this run's types; one published under a newer version is never overwritten.
    Columns may come and go with the files: only their types are fixed."""
    published = current.get("Parameters", {})
    version = int(published.get("contract_version", "0"))
    if version > CONTRACT_VERSION:
        raise JobError(
            f"not published: the table follows data contract version {version}, this job writes version "
            f"{CONTRACT_VERSION}; deploy the current Glue job"
        )
    before = {c["Name"]: c["Type"] for c in current.get("StorageDescriptor", {}).get("Columns", [])}
    after = {c["Name"]: c["Type"] for c in definition["StorageDescriptor"]["Columns"]}
    changed = [f"{n} {before[n]} → {after[n]}" for n in after if n in before and before[n] != after[n]]
    if not changed:
        return
    if version == CONTRACT_VERSION:
        raise JobError(
            "not published: this run would change the type of published columns ("
            + ", ".join(changed)
            + "); a type changes only by a data contract migration (docs/DATA_CONTRACT.md)"
        )
    report.warnings.append(
        f"table migrated from data contract version {version} to {CONTRACT_VERSION}: " + ", ".join(changed)
    )


class RunStopped(JobError):
    """The job run was asked to stop (BatchStopJobRun): an abandoned run never publishes."""


def ensure_not_stopped(args: JobArgs) -> None:
    """Raise RunStopped when this Glue job run has been asked to stop, or the execution that started it
    is no longer running (stopped, timed out, failed): checked right before publishing."""
    if args.execution_arn:
        status = aws_client("stepfunctions").describe_execution(executionArn=args.execution_arn)["status"]
        if status != "RUNNING":
            raise RunStopped(f"execution {args.execution_arn.rsplit(':', 1)[-1]} is {status}: not published")
    if not (args.job_name and args.job_run_id):
        return  # a plain local run has no job run to ask
    glue = aws_client("glue")
    state = glue.get_job_run(JobName=args.job_name, RunId=args.job_run_id)["JobRun"].get("JobRunState")
    if state in STOPPED_STATES:
        raise RunStopped(f"job run {args.job_run_id} is {state}: not published")


def publish(args: JobArgs, report: Report, schema: T.StructType) -> None:
    """Point the table at this run unless the published batch is newer; then prune old run prefixes.

    Optimistic concurrency: the update names the table version it compared against (UpdateTable
    VersionId), so a run that published in between makes it conflict; then the table is read and the
    batch times compared again. An older batch never overwrites a newer one, even at the same moment.
    """
    glue = aws_client("glue")
    definition = table_input(args, report, schema)
    # Kept beside the data: a rollback (python -m deploy publish) makes this run live with this definition.
    write_text(
        report.run_path + run_lineage.TABLE_DEFINITION, json.dumps(definition, indent=2, sort_keys=True)
    )
    for _attempt in range(PUBLISH_ATTEMPTS):
        try:
            current = glue.get_table(DatabaseName=args.database, Name=args.table)["Table"]
        except glue.exceptions.EntityNotFoundException:
            current = None
        if current is not None:
            check_schema_change(current, definition, report)
            published = current.get("Parameters", {})
            published_batch = published.get("batch_time")
            if args.batch_time and published_batch and utc_iso(published_batch) > utc_iso(args.batch_time):
                report.warnings.append(
                    f"not published: this batch ({args.batch_time}) is older than the published run "
                    f"{published.get('run_id')} (batch {published.get('batch_time')})"
                )
                return
        ensure_not_stopped(args)
        if not run_lineage.point_table(glue, args.database, definition, current):
            continue  # another run published in between: compare with what it published
        report.published = True
        previous = (current or {}).get("Parameters", {}).get("run_id")
        record_publish(args, previous, definition["Parameters"]["batch_time"])
        prune_runs(args.output_path, keep=args.keep_runs, current=args.run_id)
        return
    raise JobError(f"not published: the table changed under each of {PUBLISH_ATTEMPTS} attempts")


def publisher(args: JobArgs) -> str:
    """Who published, for the audit log: the execution that ran the job, else the job run."""
    if args.execution_arn:
        return f"pipeline execution {args.execution_arn.rsplit(':', 1)[-1]}"
    if args.job_run_id:
        return f"Glue job run {args.job_run_id}"
    return "local run of the Glue script"


def record_publish(args: JobArgs, previous_run_id: str | None, batch_time: str) -> None:
    """Append the publish to the audit log (when the job is given one)."""
    if args.audit_path:
        entry = run_lineage.audit_entry("publish", publisher(args), args.run_id, previous_run_id, batch_time)
        write_text(entry.key(args.audit_path.rstrip("/") + "/"), entry.to_json())


def prune_runs(output_path: str, keep: int, current: str) -> list[str]:
    """Delete all but the newest `keep` run prefixes (run ids sort by batch time); never the current one."""
    if is_s3(output_path):
        s3 = aws_client("s3")
        bucket, prefix = split_s3(join_path(output_path))
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
        runs = [
            p["Prefix"][len(prefix) :].strip("/") for page in pages for p in page.get("CommonPrefixes", [])
        ]
    else:
        runs = (
            [p.name for p in Path(output_path).iterdir() if p.is_dir()] if Path(output_path).exists() else []
        )
    runs = sorted(r for r in runs if r.startswith("run_id="))
    doomed = [r for r in runs[: max(0, len(runs) - keep)] if r != f"run_id={current}"]
    for run in doomed:
        delete_prefix(join_path(output_path, run))
    return doomed


def delete_prefix(path: str) -> None:
    """Delete a local folder or every object under an S3 prefix (no folder marker left behind)."""
    if is_s3(path):
        s3 = aws_client("s3")
        bucket, prefix = split_s3(join_path(path))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objects:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    else:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- entry point


def parse_args(argv: list[str]) -> JobArgs:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders_path", required=True)
    parser.add_argument("--returns_path", required=True)
    parser.add_argument("--output_path", required=True)
    parser.add_argument("--run_id", default=None)
    parser.add_argument("--database", default=None)
    parser.add_argument("--table", default=None)
    parser.add_argument("--batch_time", default=None)
    parser.add_argument("--max_quarantine_fraction", type=float, default=csv_profile.MAX_BAD_FRACTION)
    parser.add_argument("--keep_runs", type=int, default=DEFAULT_KEEP_RUNS)
    for kind in ("orders", "returns"):
        parser.add_argument(f"--{kind}_version_id", default=None)
        parser.add_argument(f"--{kind}_etag", default=None)
    parser.add_argument("--execution_arn", default=None)
    parser.add_argument("--audit_path", default=None)
    parser.add_argument("--JOB_NAME", dest="job_name", default=None)
    parser.add_argument("--JOB_RUN_ID", dest="job_run_id", default=None)
    known, _glue_internal = parser.parse_known_args(argv)  # Glue adds --TempDir, --job-bookmark-option, …
    if known.run_id is None:
        known.run_id = "local-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if bool(known.database) != bool(known.table):
        parser.error("--database and --table go together")
    return JobArgs(**vars(known))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        from awsglue.context import GlueContext  # present only on AWS Glue
        from pyspark.context import SparkContext

        spark, on_glue = GlueContext(SparkContext.getOrCreate()).spark_session, True
    except ImportError:
        spark, on_glue = local_spark(), False
    try:
        report = run_job(spark, args)
    except (ProfileError, JobError) as error:
        if on_glue:
            raise  # Glue shows the message as the run's ErrorMessage
        print(f"error: {error}", file=sys.stderr)
        return 1
    summary = {
        k: getattr(report, k)
        for k in ("run_id", "rows_in", "rows_out", "returned_lines", "quarantined_lines")
    }
    print(
        json.dumps(
            {**summary, "output": report.run_path, "published": report.published, "warnings": report.warnings}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
