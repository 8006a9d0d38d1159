"""Work that the Glue job does inside its Spark tasks with pyarrow (``DataFrame.mapInArrow``).

Each task writes its own rows as Parquet into Hive partition folders (``order_year=2016/order_month=3/``),
as Spark's partitioned writer lays them out, but without Spark's sort by partition and its row-by-row
Parquet encoding (docs/adr/0024-parquet-written-by-arrow-in-the-tasks.md). The code here runs on the
executors, so it imports nothing of the job but pyarrow; the job ships it by value (``ship_by_value``).
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import arrow_csv
import arrow_typing
import pyarrow as pa

# What each writing task reports back: a row per file written (the driver checks them against a listing),
# and a last row with how many of its lines carry a returns key and which of the keys (their indices).
WRITTEN_SCHEMA = "path string, rows long, keyed long, matched array<long>, counts string"
_WRITTEN = pa.schema(
    [("path", pa.string()), ("rows", pa.int64()), ("keyed", pa.int64()), ("matched", pa.list_(pa.int64())),
     ("counts", pa.string())]
)  # fmt: skip
KEY_SEPARATOR = "\x1f"  # joins a key of several columns into one string
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # Spark's folder name for a null partition value
# A task groups and writes what it holds once it holds this much: bounded memory on a large split.
FLUSH_BYTES = 512 * 1024 * 1024


def ship_by_value() -> None:
    """Let Spark pickle this module's code into the tasks: executors then need not import it (on Glue the
    job's extra files are importable there; for a local run, or the local AWS's private copy of the job,
    they are not)."""
    from pyspark import cloudpickle

    for name in (__name__, arrow_csv.__name__, arrow_typing.__name__, "csv_profile"):
        module = sys.modules.get(name)
        if module is not None:  # a private copy (the local AWS's) is in no registry: pickled by value anyway
            cloudpickle.register_pickle_by_value(module)


def parses(profile: Any) -> bool:
    """Whether the tasks parse and type this file with pyarrow (``OrdersPass``); else Spark reads it."""
    return arrow_csv.supports(profile) and arrow_typing.supports(profile)


def filesystem(uri: str):
    """(pyarrow filesystem, path in it) for a local folder or an ``s3://bucket/prefix/`` (S3 with the
    default AWS credential chain: the Glue job's role on the workers)."""
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri.rstrip("/") or "/")
    return fs, path.rstrip("/")


def key_strings(table: pa.Table, key: tuple[str, ...]) -> pa.Array:
    """One string per row for a join key of one or more text columns; null when a part is null, which
    matches nothing, as in the join."""
    import pyarrow.compute as pc

    columns = [table.column(name) for name in key]
    return columns[0] if len(columns) == 1 else pc.binary_join_element_wise(*columns, KEY_SEPARATOR)


def folder(names: tuple[str, ...], values: tuple) -> str:
    """The Hive folder of one partition: ``order_year=2016/order_month=3``."""
    return "/".join(f"{n}={NULL_PARTITION if v is None else v}" for n, v in zip(names, values, strict=True))


@dataclass(frozen=True)
class PartitionedParquetWriter:
    """``mapInArrow`` function: writes the task's rows under ``root`` as snappy Parquet, one file per
    partition folder (per ``FLUSH_BYTES`` of input), without the partition columns. File names are fixed
    by the task's partition and the write's token, so a retried task overwrites its own files.

    On the rows it writes, it also counts those whose ``key`` is one of ``return_keys`` (the returns'
    ``key_strings``, without nulls): a count made apart from Spark's join, for the returned-lines
    invariant, and the returns that some line matches."""

    root: str
    token: str  # one per write
    partitions: tuple[str, ...]
    key: tuple[str, ...]
    return_keys: pa.Array

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        task = TaskContext.get().partitionId()
        fs, base = filesystem(self.root)
        written: dict[str, list] = {name: [] for name in _WRITTEN.names}
        matched: set[int] = set()
        held, size, flushes, keyed = [], 0, 0, 0
        for batch in itertools.chain(batches, [None]):  # None: the end, write what is held
            if batch is not None:
                held.append(batch)
                size += batch.nbytes
            if held and (batch is None or size >= FLUSH_BYTES):
                table = pa.Table.from_batches(held)
                keyed += self._count_keys(table, matched)
                self._write(fs, base, table, f"{task:05d}-{flushes:03d}", written)
                held, size, flushes = [], 0, flushes + 1
        for name, value in zip(_WRITTEN.names, (None, None, keyed, sorted(matched), None), strict=True):
            written[name].append(value)
        yield pa.RecordBatch.from_pydict(written, schema=_WRITTEN)

    def _count_keys(self, table: pa.Table, matched: set[int]) -> int:
        """The rows whose key is a returns key; adds the indices of the keys they carry to ``matched``."""
        import pyarrow.compute as pc

        index = pc.index_in(key_strings(table, self.key), value_set=self.return_keys)
        matched.update(pc.unique(index.drop_null()).to_pylist())
        return len(index) - index.null_count

    def _write(self, fs, base: str, table: pa.Table, part: str, written: dict[str, list]) -> None:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        # A stable sort by partition keeps each partition's rows in the task's order, as Spark's sort does;
        # each partition is then one slice (filtering per partition read the whole table each time). The
        # groups come in no set order: sorted the same way, they give the slices' lengths in order.
        names = list(self.partitions)
        order = [(n, "ascending") for n in names]  # nulls last in both sorts
        table = table.take(pc.sort_indices(table, order))
        data = table.select([n for n in table.column_names if n not in self.partitions])
        groups = table.select(names).group_by(names).aggregate([([], "count_all")]).sort_by(order)
        offset = 0
        for *values, length in zip(*(groups.column(n).to_pylist() for n in groups.column_names), strict=True):
            rows, offset = data.slice(offset, length), offset + length
            path = f"{folder(self.partitions, tuple(values))}/part-{part}-{self.token}.c000.snappy.parquet"
            if fs.type_name == "local":  # S3 has no folders: no marker objects there
                fs.create_dir(f"{base}/{path.rsplit('/', 1)[0]}", recursive=True)
            pq.write_table(rows, f"{base}/{path}", filesystem=fs, compression="snappy")
            for name, value in zip(_WRITTEN.names, (path, rows.num_rows, None, None, None), strict=True):
                written[name].append(value)


# The job's bookkeeping columns (ecommerce_join_data), and where the tasks leave the rejected lines for the
# quarantine (under the run prefix; a name starting with "_" is no data to Athena).
REASON, RAW_LINE, MATCHED = "_reject_reason", "_raw_line", "_matched"
REJECTED = "_quality/rejected"
# Values that Spark reads and the pyarrow pass does not: a task that meets one says so in its counts.
SPARK_ONLY = (arrow_csv.SparkOnly, arrow_typing.SparkOnly)


@dataclass(frozen=True)
class OrdersPass:
    """``mapInArrow`` function over byte ranges of the orders file (rows of ``index, start, end``): each task
    parses its lines (arrow_csv), types them with their reject reasons and repairs (arrow_typing), left-joins
    the valid ones with the returns and writes them with ``writer``, all with pyarrow, so that no row goes
    through the JVM (docs/adr/0025-orders-pass-in-the-tasks.md). Besides the files it reports, per task, the
    counts that the Spark path observes (``counts``: JSON)."""

    source: str
    profile: Any  # csv_profile.CsvProfile
    required: tuple[str, ...]
    returns: pa.Table  # prepare_returns' rows: the key, the return extras and the match marker
    output: pa.Schema  # the joined rows as the Spark plan types them, partition columns included
    run_id: str
    processed_at: datetime
    writer: PartitionedParquetWriter

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        task = TaskContext.get().partitionId()
        fs, base = filesystem(self.writer.root)
        written: dict[str, list] = {name: [] for name in _WRITTEN.names}
        matched: set[int] = set()
        counts: Counter = Counter()
        extremes: list = []
        keyed = 0
        held: list[pa.Table] = []  # written once they reach FLUSH_BYTES: fewer, larger files for Athena
        flushes, spark_only = 0, None
        try:
            for batch in batches:
                ranges = (batch.column(n).to_pylist() for n in ("index", "start", "end"))
                for index, start, end in zip(*ranges, strict=True):
                    raw = arrow_csv.read_range(self.source, start, end, self.profile)
                    typed = arrow_typing.type_table(raw, self.profile, self.required)
                    valid = self._count_in(typed, counts, f"{base}/{REJECTED}/part-{index:05d}", fs)
                    joined = self._join(valid)
                    self._count_out(joined, counts, extremes)
                    keyed += self.writer._count_keys(joined, matched)
                    held.append(joined)
                    if sum(t.nbytes for t in held) >= FLUSH_BYTES:
                        self.writer._write(
                            fs, base, pa.concat_tables(held), f"{task:05d}-{flushes:03d}", written
                        )
                        held, flushes = [], flushes + 1
            if held:
                self.writer._write(fs, base, pa.concat_tables(held), f"{task:05d}-{flushes:03d}", written)
        except SPARK_ONLY as error:  # the driver gives the file to Spark's read instead
            spark_only = str(error)
        dates = [d for d in extremes if d is not None]
        total = {**counts, "min_date": min(dates, default=None), "max_date": max(dates, default=None),
                 "spark_only": spark_only}  # fmt: skip
        last = (None, None, keyed, sorted(matched), json.dumps(total, default=str))
        for name, value in zip(_WRITTEN.names, last, strict=True):
            written[name].append(value)
        yield pa.RecordBatch.from_pydict(written, schema=_WRITTEN)

    def _count_in(self, typed: pa.Table, counts: Counter, rejected_path: str, fs) -> pa.Table:
        """Counts lines in, rejected and repaired, and the valid lines' sales; returns the valid lines. The
        rejected ones (line and reason) go to a Parquet file at ``rejected_path`` for the quarantine."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        reason = typed.column(REASON)
        counts.update(typed_counts(typed))
        if reason.null_count < typed.num_rows:
            if fs.type_name == "local":
                fs.create_dir(rejected_path.rsplit("/", 1)[0], recursive=True)
            rejected = typed.filter(pc.is_valid(reason)).select([RAW_LINE, REASON])
            pq.write_table(rejected, f"{rejected_path}.parquet", filesystem=fs)
        valid = typed.filter(pc.is_null(reason)).select(
            [n for n in typed.column_names if not n.startswith("_")]
        )
        if "sales" in valid.column_names:
            counts["sales_in"] += pc.sum(valid.column("sales")).as_py() or 0.0
        return valid

    def _join(self, valid: pa.Table) -> pa.Table:
        """The valid lines left-joined with the returns, with the run columns, as ``output`` lays them out.

        The hash join takes only the key and the line number (it would copy and reorder every column);
        the returns' columns are then taken to the matched lines, which keep their order."""
        import numpy as np
        import pyarrow.compute as pc

        key, rows = list(self.writer.key), valid.num_rows
        lines = valid.select(key).append_column("_line", pa.array(np.arange(rows, dtype=np.int64)))
        matched = lines.join(self.returns, keys=key, join_type="inner", use_threads=False)
        at = np.full(rows, -1, dtype=np.int64)  # each line's row in ``matched``, or -1
        at[matched.column("_line").to_numpy()] = np.arange(matched.num_rows, dtype=np.int64)
        match = pa.array(at, mask=at < 0)
        dates = valid.column("order_date")
        stamp = pa.scalar(self.processed_at, self.output.field("processed_at").type)
        made = {
            "is_returned": pc.is_valid(match),
            "run_id": pa.repeat(pa.scalar(self.run_id), rows),
            "processed_at": pa.repeat(stamp, rows),
            "order_year": pc.year(dates),
            "order_month": pc.month(dates),
        }
        own = set(valid.column_names)
        columns = [
            made[f.name]
            if f.name in made
            else valid.column(f.name)
            if f.name in own
            else matched.column(f.name).take(match)
            for f in self.output
        ]
        return pa.Table.from_arrays(
            [pc.cast(c, f.type) for c, f in zip(columns, self.output, strict=True)], schema=self.output
        )

    @staticmethod
    def _count_out(joined: pa.Table, counts: Counter, extremes: list) -> None:
        import pyarrow.compute as pc

        dates = joined.column("order_date")
        counts["rows_out"] += joined.num_rows
        counts["returned"] += pc.sum(pc.cast(joined.column("is_returned"), pa.int64())).as_py() or 0
        counts["null_dates"] += dates.null_count
        if "sales" in joined.column_names:
            counts["sales_out"] += pc.sum(joined.column("sales")).as_py() or 0.0
        span = pc.min_max(dates)
        extremes += [span["min"].as_py(), span["max"].as_py()]


def add_counts(reports: list[str]) -> dict[str, Any]:
    """The tasks' ``counts`` added up; ``min_date`` and ``max_date`` as dates; ``spark_only``: why a task
    stopped at a value only Spark reads, or None."""
    from datetime import date

    totals: Counter = Counter()
    lows, highs, stops = [], [], []
    for report in map(json.loads, reports):
        lows.append(report.pop("min_date"))
        highs.append(report.pop("max_date"))
        stops.append(report.pop("spark_only"))
        totals.update(report)
    low, high = min(filter(None, lows), default=None), max(filter(None, highs), default=None)
    return {
        **totals,
        "min_date": low and date.fromisoformat(low),
        "max_date": high and date.fromisoformat(high),
        "spark_only": next(filter(None, stops), None),
    }


def typed_counts(typed: pa.Table) -> dict[str, int]:
    """Lines, rejected lines and each repair column's lines, of a typed table (``arrow_typing``)."""
    counts = {"rows_in": typed.num_rows, "rejected": typed.num_rows - typed.column(REASON).null_count}
    for name in typed.column_names:
        if name.startswith("_repair "):
            counts[name] = typed.num_rows - typed.column(name).null_count
    return counts


def prepare_returns(typed: pa.Table, key: list[str], clashing: set[str]) -> pa.Table:
    """The job's ``prepare_returns`` with pyarrow: the valid lines' data, one row per key (the first in
    file order; a null key is one key, as in Spark's window), a ``return_`` prefix on ``clashing`` names
    that are not the key, and the match marker."""
    import pyarrow.compute as pc

    valid = typed.filter(pc.is_null(typed.column(REASON)))
    valid = valid.select([n for n in valid.column_names if not n.startswith("_")])
    valid = valid.rename_columns(
        [f"return_{n}" if n not in key and n in clashing else n for n in valid.column_names]
    )
    lines = valid.append_column("_line", pa.array(range(valid.num_rows), pa.int64()))
    firsts = lines.group_by(key, use_threads=False).aggregate([("_line", "min")]).column("_line_min")
    first = valid.take(pc.take(firsts, pc.sort_indices(firsts)))  # in file order
    return first.append_column(MATCHED, pa.repeat(pa.scalar(True), first.num_rows))
