"""Work that the Glue job does inside its Spark tasks with pyarrow (``DataFrame.mapInArrow``).

Each task writes its own rows as Parquet into Hive partition folders (``order_year=2016/order_month=3/``),
as Spark's partitioned writer lays them out, but without Spark's sort by partition and its row-by-row
Parquet encoding (docs/adr/0024-parquet-written-by-arrow-in-the-tasks.md). The code here runs on the
executors, so it imports nothing of the job but pyarrow; the job ships it by value (``ship_by_value``).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

# What each writing task reports back: a row per file written (the driver checks them against a listing),
# and a last row with how many of its lines carry a returns key and which of the keys (their indices).
WRITTEN_SCHEMA = "path string, rows long, keyed long, matched array<long>"
_WRITTEN = pa.schema(
    [("path", pa.string()), ("rows", pa.int64()), ("keyed", pa.int64()), ("matched", pa.list_(pa.int64()))]
)
KEY_SEPARATOR = "\x1f"  # joins a key of several columns into one string
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # Spark's folder name for a null partition value
# A task groups and writes what it holds once it holds this much: bounded memory on a large split.
FLUSH_BYTES = 512 * 1024 * 1024


def ship_by_value() -> None:
    """Let Spark pickle this module's code into the tasks: executors then need not import it (on Glue the
    job's extra files are importable there; for a local run, or the local AWS's private copy of the job,
    they are not)."""
    from pyspark import cloudpickle

    module = sys.modules.get(__name__)
    if module is not None:  # a private copy (the local AWS's) is in no registry: pickled by value anyway
        cloudpickle.register_pickle_by_value(module)


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
        for name, value in zip(_WRITTEN.names, (None, None, keyed, sorted(matched)), strict=True):
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

        data = table.select([n for n in table.column_names if n not in self.partitions])
        keys = table.select(list(self.partitions)).group_by(list(self.partitions)).aggregate([])
        for values in zip(*(keys.column(n).to_pylist() for n in self.partitions), strict=True):
            mask = None
            for name, value in zip(self.partitions, values, strict=True):
                column = table.column(name)
                match = pc.is_null(column) if value is None else pc.fill_null(pc.equal(column, value), False)
                mask = match if mask is None else pc.and_(mask, match)
            rows = data.filter(mask)  # keeps the task's row order, as Spark's stable sort does
            path = f"{folder(self.partitions, values)}/part-{part}-{self.token}.c000.snappy.parquet"
            if fs.type_name == "local":  # S3 has no folders: no marker objects there
                fs.create_dir(f"{base}/{path.rsplit('/', 1)[0]}", recursive=True)
            pq.write_table(rows, f"{base}/{path}", filesystem=fs, compression="snappy")
            for name, value in zip(_WRITTEN.names, (path, rows.num_rows, None, None), strict=True):
                written[name].append(value)
