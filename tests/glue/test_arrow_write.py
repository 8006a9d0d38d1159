"""The run prefix that the tasks write with pyarrow (arrow_tasks) is the one Spark's partitioned Parquet
writer makes of the same rows: folders, physical Parquet types and rows, on every sample export. And the
orders pass in the tasks (``OrdersPass``: parse, type, join and write with pyarrow) gives the run prefix and
the report that Spark's read of the same files gives."""

from __future__ import annotations

import csv
from pathlib import Path

import arrow_tasks
import ecommerce_join_data
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from ecommerce_join_data import PARTITIONS, JobArgs, JobError, run_job

from tests import exports

pytestmark = pytest.mark.spark

SAMPLES = {
    "seed": ("seed/ordercsv.csv", "seed/returncsv.csv"),
    "superstore-us": ("superstore-us/orders.csv", "superstore-us/returns.csv"),
    "superstore-global": ("superstore-global/orders.csv", "superstore-global/returns.csv"),
}


def spark_read(monkeypatch) -> None:
    """Spark reads and types the orders (the job's path for what ``arrow_tasks.parses`` refuses)."""
    monkeypatch.setattr(arrow_tasks, "parses", lambda profile: False)


def spark_writer_beside(monkeypatch, reference: Path) -> None:
    """Spark reads the orders, and each run also writes its output rows with Spark's own writer (the job's
    writer until ADR 0024)."""
    spark_read(monkeypatch)
    observe = ecommerce_join_data._observe_output

    def and_write(joined, has_sales):
        joined.write.mode("overwrite").partitionBy(*PARTITIONS).option("compression", "snappy").parquet(
            str(reference)
        )
        return observe(joined, has_sales)

    monkeypatch.setattr(ecommerce_join_data, "_observe_output", and_write)


def layout(root: Path) -> dict[str, int]:
    """Rows per partition folder."""
    counts: dict[str, int] = {}
    for file in root.rglob("*.parquet"):
        folder = file.parent.relative_to(root).as_posix()
        counts[folder] = counts.get(folder, 0) + pq.ParquetFile(file).metadata.num_rows
    return counts


def physical_schemas(root: Path) -> set[tuple]:
    """Each file's columns as Parquet stores them: name, physical type, logical type, required or not."""
    return {
        tuple(
            (c.name, c.physical_type, str(c.logical_type), c.max_definition_level)
            for c in pq.ParquetFile(file).schema
        )
        for file in root.rglob("*.parquet")
    }


def table(root: Path, *leave_out: str):
    """All rows, read back with the partition columns from the folder names, in one order."""
    read = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    read = read.drop_columns(list(leave_out))
    return read.sort_by([(name, "ascending") for name in read.column_names])


def assert_same_output(ours: Path, reference: Path, *leave_out: str) -> None:
    assert layout(ours) == layout(reference)
    assert len(physical_schemas(ours)) == 1
    assert physical_schemas(ours) == physical_schemas(reference)
    mine, spark = table(ours, *leave_out), table(reference, *leave_out)
    assert mine.schema.remove_metadata() == spark.schema.remove_metadata()
    assert mine.equals(spark)
    assert (ours / "_SUCCESS").exists()


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_the_sample_exports_are_written_as_spark_writes_them(
    spark, tmp_path, sample_data, monkeypatch, sample
):
    orders, returns = (sample_data / name for name in SAMPLES[sample])
    spark_writer_beside(monkeypatch, tmp_path / "spark")
    report = run_job(spark, JobArgs(str(orders), str(returns), str(tmp_path / "out"), "r1"))
    assert report.rows_out > 0
    assert_same_output(Path(report.run_path), tmp_path / "spark")


@pytest.mark.parametrize("kind", list(exports.KINDS))
def test_the_excel_and_shop_exports_are_written_as_spark_writes_them(
    spark, tmp_path, sample_data, monkeypatch, kind
):
    orders = tmp_path / f"{kind}.csv"
    orders.write_bytes(exports.KINDS[kind](sample_data))
    spark_writer_beside(monkeypatch, tmp_path / "spark")
    args = JobArgs(str(orders), str(sample_data / "superstore-us/returns.csv"), str(tmp_path / "out"), "r1")
    report = run_job(spark, args)
    assert_same_output(Path(report.run_path), tmp_path / "spark")


def test_a_task_that_holds_more_than_a_flush_writes_more_files_of_the_same_rows(
    spark, tmp_path, sample_data, monkeypatch
):
    monkeypatch.setattr(arrow_tasks, "FLUSH_BYTES", 64 * 1024)
    spark_writer_beside(monkeypatch, tmp_path / "spark")
    orders, returns = (sample_data / name for name in SAMPLES["superstore-us"])
    batch = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(batch)
    spark.conf.set(batch, "1000")  # several batches per task, so that a task flushes more than once
    try:
        report = run_job(spark, JobArgs(str(orders), str(returns), str(tmp_path / "out"), "r1"))
    finally:
        spark.conf.set(batch, before)
    ours = Path(report.run_path)
    assert len(list(ours.rglob("*.parquet"))) > len(list((tmp_path / "spark").rglob("*.parquet")))
    assert_same_output(ours, tmp_path / "spark")


def test_a_rerun_replaces_the_run_prefix(spark, tmp_path, sample_data):
    orders, returns = (sample_data / name for name in SAMPLES["seed"])
    args = JobArgs(str(orders), str(returns), str(tmp_path / "out"), "r1")
    first = {p.name for p in Path(run_job(spark, args).run_path).rglob("*.parquet")}
    stale = Path(tmp_path / "out" / "run_id=r1" / "order_year=1999" / "order_month=1" / "part-0.parquet")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by an earlier attempt")
    second = {p.name for p in Path(run_job(spark, args).run_path).rglob("*.parquet")}
    assert not stale.exists() and first.isdisjoint(second)  # each write has its own file names


def test_a_file_the_tasks_did_not_report_fails_the_run(spark, tmp_path, sample_data, monkeypatch):
    """A file in the run prefix that no task reported (a stray attempt, a concurrent writer) is caught
    before anything is published."""
    original = arrow_tasks.PartitionedParquetWriter._write

    def and_a_stray(self, fs, base, table, part, written):
        original(self, fs, base, table, part, written)
        fs.create_dir(f"{base}/order_year=1999/order_month=1", recursive=True)
        with fs.open_output_stream(f"{base}/order_year=1999/order_month=1/part-{part}-stray.parquet"):
            pass

    monkeypatch.setattr(arrow_tasks.PartitionedParquetWriter, "_write", and_a_stray)
    orders, returns = (sample_data / name for name in SAMPLES["seed"])
    with pytest.raises(JobError, match="holds .* files where the tasks wrote"):
        run_job(spark, JobArgs(str(orders), str(returns), str(tmp_path / "out"), "r1"))


def test_a_join_that_marks_a_line_returned_wrongly_fails_the_run(spark, tmp_path, sample_data, monkeypatch):
    """The writing tasks count the lines with a returns key on their own: a join that gets one line wrong
    breaks the returned-lines invariant, and nothing is published."""
    from pyspark.sql import functions as F

    join = ecommerce_join_data.join_orders_returns

    def wrong_join(*args, **kwargs):
        joined = join(*args, **kwargs)
        return joined.withColumn("is_returned", F.col("is_returned") | (F.col("row_id") == "1"))

    monkeypatch.setattr(ecommerce_join_data, "join_orders_returns", wrong_join)
    spark_read(monkeypatch)
    orders, returns = (sample_data / name for name in SAMPLES["superstore-us"])
    with pytest.raises(JobError, match=r"returned lines 801 != order lines with a return key 800"):
        run_job(spark, JobArgs(str(orders), str(returns), str(tmp_path / "out"), "r1"))


def test_a_join_in_the_tasks_that_marks_a_line_returned_wrongly_fails_the_run(
    spark, tmp_path, sample_data, monkeypatch
):
    """The same check for the orders pass in the tasks, whose join is pyarrow's."""
    import pyarrow.compute as pc

    join = arrow_tasks.OrdersPass._join

    def wrong_join(self, valid):
        joined = join(self, valid)
        wrong = pc.or_(joined.column("is_returned"), pc.equal(joined.column("row_id"), "1"))
        return joined.set_column(joined.schema.get_field_index("is_returned"), "is_returned", wrong)

    monkeypatch.setattr(arrow_tasks.OrdersPass, "_join", wrong_join)
    orders, returns = (sample_data / name for name in SAMPLES["superstore-us"])
    with pytest.raises(JobError, match=r"returned lines 801 != order lines with a return key 800"):
        run_job(spark, JobArgs(str(orders), str(returns), str(tmp_path / "out"), "r1"))


def test_a_private_copy_of_the_module_ships_too(monkeypatch):
    """The local AWS loads the job and its extra files as private modules, absent from sys.modules once
    loaded: shipping them by value must not need a registry entry (it raised KeyError)."""
    import sys

    monkeypatch.delitem(sys.modules, "arrow_tasks")
    arrow_tasks.ship_by_value()


# --------------------------------------------------------------------------- the orders pass in the tasks

REPORTED = ("rows_in", "rows_out", "returned_lines", "quarantined_lines", "repairs", "min_order_date",
            "max_order_date", "unmatched_returns", "returns_in", "returns_rejected", "quarantine_reasons",
            "quarantine_examples", "warnings", "join_key")  # fmt: skip


def both_reads(spark, tmp_path, monkeypatch, orders: Path, returns: Path):
    """The reports of the same run read by the tasks with pyarrow, then by Spark."""
    ours = run_job(spark, JobArgs(str(orders), str(returns), str(tmp_path / "tasks"), "r1"))
    with monkeypatch.context() as patched:
        spark_read(patched)
        theirs = run_job(spark, JobArgs(str(orders), str(returns), str(tmp_path / "spark"), "r1"))
    return ours, theirs


def assert_same_run(ours, theirs) -> None:
    def reported(run) -> dict:  # the warnings name the run's own folder
        fields = {k: getattr(run, k) for k in REPORTED}
        return {**fields, "warnings": [w.replace(run.run_path, "<run>/") for w in run.warnings]}

    assert reported(ours) == reported(theirs)
    assert ours.sales_in == pytest.approx(theirs.sales_in) and ours.sales_out == pytest.approx(
        theirs.sales_out
    )
    assert_same_output(Path(ours.run_path), Path(theirs.run_path), "processed_at")


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_the_orders_pass_in_the_tasks_gives_the_run_of_sparks_read(
    spark, tmp_path, sample_data, monkeypatch, sample
):
    orders, returns = (sample_data / name for name in SAMPLES[sample])
    assert arrow_tasks.parses(ecommerce_join_data.profile_file(str(orders), "orders", 0.05))
    ours, theirs = both_reads(spark, tmp_path, monkeypatch, orders, returns)
    assert ours.rows_out > 0
    assert_same_run(ours, theirs)


@pytest.mark.parametrize("kind", list(exports.KINDS))
def test_the_orders_pass_in_the_tasks_reads_each_export_kind_as_spark(
    spark, tmp_path, sample_data, monkeypatch, kind
):
    orders = tmp_path / f"{kind}.csv"
    orders.write_bytes(exports.KINDS[kind](sample_data))
    parsed = arrow_tasks.parses(ecommerce_join_data.profile_file(str(orders), "orders", 0.05))
    assert parsed == (kind != "utf16-unicode-text")  # UTF-16 is read by Spark as one stream
    ours, theirs = both_reads(spark, tmp_path, monkeypatch, orders, sample_data / "superstore-us/returns.csv")
    assert_same_run(ours, theirs)


def test_the_tasks_quarantine_what_spark_quarantines(spark, tmp_path, sample_data, monkeypatch):
    """Bad dates, numbers and field counts: the same lines, reasons and quarantine file either way."""
    with open(sample_data / "superstore-us/orders.csv", encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))[:40]
    rows[3][header.index("Order Date")] = "6/31/20x6"
    rows[5][header.index("Profit")] = "lots"
    rows[7].append("extra")  # one field too many
    rows[9] = rows[9][:5]  # too few
    orders = tmp_path / "bad.csv"
    with orders.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows([header, *rows])
    returns = sample_data / "superstore-us/returns.csv"

    def job(out: str) -> JobArgs:
        return JobArgs(str(orders), str(returns), str(tmp_path / out), "r1", max_quarantine_fraction=0.5)

    ours = run_job(spark, job("t"))
    with monkeypatch.context() as patched:
        spark_read(patched)
        theirs = run_job(spark, job("s"))
    assert ours.quarantined_lines == 4
    assert_same_run(ours, theirs)
    assert ours.quarantine_sample == theirs.quarantine_sample
    quarantine = lambda run: sorted(  # noqa: E731
        line
        for f in (Path(run.run_path) / "_quality" / "quarantine").glob("*.csv")
        for line in f.read_text().splitlines()
    )
    assert quarantine(ours) == quarantine(theirs)
    assert not (Path(ours.run_path) / "_quality" / "rejected").exists()  # the tasks' staging is gone


def test_a_value_only_spark_reads_sends_the_file_to_sparks_read(
    spark, tmp_path, sample_data, monkeypatch, capsys
):
    """Java reads 0x1p3 as 8.0; the pyarrow typing does not, so the tasks say so and Spark does the pass."""
    lines = (sample_data / "superstore-us/orders.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, row = csv.reader(lines[:2])
    row[header.index("Quantity")] = "0x1p3"
    orders = tmp_path / "hex.csv"
    orders.write_text(
        lines[0] + ",".join(f'"{v}"' for v in row) + "\n" + "".join(lines[2:]), encoding="utf-8"
    )
    ours, theirs = both_reads(spark, tmp_path, monkeypatch, orders, sample_data / "superstore-us/returns.csv")
    assert "read with Spark (a hexadecimal floating-point number" in capsys.readouterr().err
    assert ours.quarantined_lines == 0
    assert_same_run(ours, theirs)
    quantities = table(Path(ours.run_path)).filter(pc.equal(ds.field("row_id"), row[0])).column("quantity")
    assert quantities.to_pylist() == [8]


def test_each_row_lands_in_its_own_partition_folder(tmp_path):
    """The writer slices a sorted table by its groups; pyarrow gives the groups in no set order (a small
    table's came out shuffled, and rows went to their neighbours' folders)."""
    import random

    import pyarrow as pa
    import pyarrow.fs as pafs

    rng = random.Random(7)
    years = [rng.choice([2014, 2015, 2016, 2017, None]) for _ in range(1000)]
    months = [rng.randint(1, 12) for _ in range(1000)]
    year_month = {"year": pa.array(years, pa.int32()), "month": pa.array(months, pa.int32())}  # as Spark's
    rows = pa.table({"row_id": [str(i) for i in range(1000)], **year_month})
    writer = arrow_tasks.PartitionedParquetWriter(
        str(tmp_path), "t", ("year", "month"), ("row_id",), pa.array([])
    )
    written = {name: [] for name in arrow_tasks._WRITTEN.names}
    writer._write(pafs.LocalFileSystem(), str(tmp_path), rows, "0", written)
    landed = {}
    for path in written["path"]:
        folder = dict(part.split("=") for part in path.split("/")[:2])
        for row_id in pq.read_table(tmp_path / path).column("row_id").to_pylist():
            landed[row_id] = (folder["year"], folder["month"])
    expected = {
        str(i): (arrow_tasks.NULL_PARTITION if y is None else str(y), str(m))
        for i, (y, m) in enumerate(zip(years, months, strict=True))
    }
    assert landed == expected


def test_the_returns_deduplicated_with_pyarrow_are_sparks(spark):
    """First valid line per key in file order (a null market is one key), clashing names prefixed."""
    import pyarrow as pa
    from ecommerce_join_data import RESERVED, prepare_returns

    columns = ["order_id", "market", "region", "run_id", "_reject_reason"]
    rows = [
        ("1", "US", "East", "a", "bad date"),  # rejected: never the first
        ("1", "US", "West", "b", None),
        ("1", "US", "North", "c", None),
        ("1", None, "South", "d", None),
        ("1", None, "East", "e", None),
        ("2", "EU", "West", "f", None),
    ]
    key, orders = ["order_id", "market"], ["order_id", "market", "region"]
    theirs = prepare_returns(spark.createDataFrame(rows, columns), key, orders)
    table = pa.table(dict(zip(columns, map(list, zip(*rows, strict=True)), strict=True)))
    ours = arrow_tasks.prepare_returns(table, key, {*orders, *RESERVED})
    assert ours.column_names == theirs.columns
    assert sorted(map(tuple, theirs.collect()), key=str) == sorted(
        zip(*(ours.column(n).to_pylist() for n in ours.column_names), strict=True), key=str
    )


def test_the_tasks_write_what_they_hold_in_flushes_of_the_same_rows(
    spark, tmp_path, sample_data, monkeypatch
):
    """A task holds its ranges' rows up to FLUSH_BYTES, then writes them (fewer, larger files): with a small
    flush it writes more files, and the run is the same."""
    orders, returns = (sample_data / name for name in SAMPLES["superstore-us"])
    ours, theirs = both_reads(spark, tmp_path, monkeypatch, orders, returns)
    monkeypatch.setattr(ecommerce_join_data, "MIN_RANGE_BYTES", 64 * 1024)
    monkeypatch.setattr(ecommerce_join_data, "RANGE_BYTES", 256 * 1024)  # several ranges per task
    monkeypatch.setattr(arrow_tasks, "FLUSH_BYTES", 512 * 1024)
    flushed = run_job(spark, JobArgs(str(orders), str(returns), str(tmp_path / "flushed"), "r1"))
    files = lambda run: len(list(Path(run.run_path).rglob("*.parquet")))  # noqa: E731
    assert files(flushed) > files(ours)
    assert_same_run(flushed, theirs)
