"""arrow_csv reads a CSV export row for row as Spark's ``read_raw`` does, over any split into byte ranges:
every sample export, each edge of Spark's CSV reader in a small file, and random lines of quotes,
delimiters and whitespace."""

from __future__ import annotations

import random
from pathlib import Path

import arrow_csv
import csv_profile
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from ecommerce_join_data import profile_file, read_raw

from tests import exports

pytestmark = pytest.mark.spark

RANGE_SIZES = (1024, 4096, 1 << 20, 1 << 40)  # tiny ones stress the line ownership at range ends

SAMPLES = {
    "seed": ("seed/ordercsv.csv", "orders"),
    "seed returns": ("seed/returncsv.csv", "returns"),
    "superstore-us": ("superstore-us/orders.csv", "orders"),
    "superstore-us returns": ("superstore-us/returns.csv", "returns"),
    "superstore-global": ("superstore-global/orders.csv", "orders"),
    "superstore-global returns": ("superstore-global/returns.csv", "returns"),
}


def arrow_rows(path: Path, profile, range_bytes: int) -> list[tuple]:
    size = path.stat().st_size
    tables = [
        arrow_csv.read_range(str(path), s, e, profile) for s, e in arrow_csv.byte_ranges(size, range_bytes)
    ]
    table = pa.concat_tables(tables)
    assert table.column_names == [*profile.names, arrow_csv.CORRUPT]
    assert all(t == pa.string() for t in table.schema.types)
    return [tuple(row.values()) for row in table.to_pylist()]


def text_profile(header: str, delimiter: str = ",", encoding: str = "utf-8") -> csv_profile.CsvProfile:
    """A profile written out by hand (every column text), for files the profiler would refuse."""
    sources = [h.strip().strip('"') for h in header.split(delimiter)]
    columns = tuple(csv_profile.ColumnProfile(f"c{i}", source, "string") for i, source in enumerate(sources))
    return csv_profile.CsvProfile("orders", encoding, delimiter, ".", "\n", columns, 1, True)


def assert_reads_as_spark(
    spark, path: Path, kind: str = "orders", sizes=RANGE_SIZES, profile=None
) -> list[tuple]:
    profile = profile or profile_file(str(path), kind, 0.5)
    assert arrow_csv.supports(profile)
    expected = [tuple(row) for row in read_raw(spark, str(path), profile).collect()]
    for range_bytes in sizes:
        got = arrow_rows(path, profile, range_bytes)
        assert len(got) == len(expected), range_bytes
        for i, (ours, spark_row) in enumerate(zip(got, expected, strict=True)):
            assert ours == spark_row, (range_bytes, i)
    return expected


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_export_reads_as_spark(spark, sample_data, name):
    relative, kind = SAMPLES[name]
    sizes = RANGE_SIZES if (sample_data / relative).stat().st_size < 3_000_000 else (64 * 1024, 1 << 40)
    assert assert_reads_as_spark(spark, sample_data / relative, kind, sizes)


@pytest.mark.parametrize("kind", ["currency", "excel-times", "iso-timestamps", "sep-hint"])
def test_each_rewritten_export_reads_as_spark(spark, tmp_path, sample_data, kind):
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(exports.KINDS[kind](sample_data))
    assert_reads_as_spark(spark, path, sizes=(4096, 1 << 40))


HEADER = "Order ID,Order Date,Product Name,Postal Code,Sales"
EDGES = {
    # two exports concatenated: the second header is no data, quoted or not
    "repeated header": f"{HEADER}\nCA-1,11/28/2016,Desk,04101,3\n{HEADER}\n"
    '"Order ID",Order Date,x,y,"Sales"\nCA-2,11/29/2016,Chair,,4\n',
    "quoted delimiters and doubled quotes": f'{HEADER}\nCA-1,11/28/2016,"Bush ""Somerset"", 2-Shelf",04101,'
    '"$1,261.96"\n"CA-2","11/29/2016","a ""b""","","5"\n',
    "quoted empty and spaces": f'{HEADER}\n"",11/28/2016," ",  , " x "\n CA-1 , 11/29/2016 , "in" , "" ,6 \n'
    'CA-2,\t"12/1/2016"\t,x "y" z,"a" b,"c"d\n',
    "too few and too many fields": f"{HEADER}\nCA-1,11/28/2016\nCA-2,11/29/2016,Desk,04101,3,extra,more\n"
    f'CA-3\n"CA-4,11/30/2016,Desk,02134,7\nCA-5,,,,\nCA-6,,,,,\n',
    "blank lines": f"\n  \n{HEADER}\n\nCA-1,11/28/2016,Desk,04101,3\n \t \n\nCA-2,11/29/2016,Desk,,4\n\n",
    # the head shows no quoted line end, so Spark splits lines inside quotes too
    "crlf and lone cr": f"{HEADER}\r\nCA-1,11/28/2016,Desk,04101,3\r\n\r\nCA-2,11/29/2016,Desk,,4\rCA-3,"
    '12/1/2016,"a\r\nb",x,5\r\n"c\rd",\r',
    "no final line end": f"{HEADER}\nCA-1,11/28/2016,Desk,04101,3\nCA-2,11/29/2016,Desk,,4",
    # all regular: pyarrow reads the whole text at once and the other field counts go back in their place
    "empty lines among other field counts": f"{HEADER}\r\n\r\nCA-1,x\r\n\r\n\r\nCA-2,11/29/2016,Desk,,4\r\n"
    '\nCA-3\nCA-4,11/30/2016," a, ""b"" ",  02134 ,5,6\n\nCA-5,12/1/2016,Desk,,4\n',
    "unbalanced quotes": f'{HEADER}\nCA-1,"11/28/2016,Desk,04101,3\nCA-2,11/29/2016,De"sk,"",4\n'
    'CA-3,"x""",""y,"z"""w,6\n',
}


@pytest.mark.parametrize("name", EDGES)
def test_each_edge_reads_as_spark(spark, tmp_path, name):
    path = tmp_path / "orders.csv"
    path.write_bytes(EDGES[name].encode())
    assert assert_reads_as_spark(spark, path, sizes=(1, 7, 64, 1 << 40), profile=text_profile(HEADER))


@pytest.mark.parametrize("name", ["seed", "superstore-us", "superstore-global returns"])
def test_only_windows_with_irregular_lines_are_split_one_by_one(monkeypatch, sample_data, name):
    """pyarrow parses a range's text as it is, but for the windows around the lines it quotes otherwise
    than univocity (superstore-us has 16 product names with a space before the closing quote)."""
    relative, kind = SAMPLES[name]
    path = sample_data / relative
    profile = profile_file(str(path), kind, 0.5)
    lines = arrow_csv._lines(arrow_csv._text(path.read_bytes(), profile.encoding))
    blank, fast = arrow_csv._classify(lines, profile.delimiter)
    irregular = lines.filter(pc.invert(pc.or_(blank, fast))).to_pylist()
    split_lines, split = arrow_csv._lines, []

    def counted(text):
        split.extend(split_lines(text).to_pylist())
        return split_lines(text)

    monkeypatch.setattr(arrow_csv, "_lines", counted)
    arrow_rows(path, profile, 64 * 1024)
    assert len(irregular) == (16 if name == "superstore-us" else 0)
    assert set(irregular) <= set(split)
    assert len(split) <= len(irregular) * 2 * arrow_csv.WINDOW / 200  # lines of 200 bytes or more


def test_excels_sep_line_and_a_semicolon_with_decimal_commas(spark, tmp_path):
    """Spark takes the sep= line for the header; the real header is then dropped as a repeated one."""
    path = tmp_path / "orders.csv"
    path.write_bytes(
        b"sep=;\r\nOrder ID;Order Date;Sales\r\n"
        b'CA-1;8.11.2016;"1.261,96 \xe2\x82\xac"\r\nCA-2;9.11.2016;3,5\r\n'
    )
    rows = assert_reads_as_spark(spark, path, sizes=(1, 16, 1 << 40))
    assert rows == [("CA-1", "8.11.2016", "1.261,96 €", None), ("CA-2", "9.11.2016", "3,5", None)]


def test_a_bom_and_a_tab_delimiter(spark, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(
        b'\xef\xbb\xbfOrder ID\tOrder Date\tSales\nCA-1\t2016-11-08\t 3 \n"CA\t2"\t2016-11-09\t\n'
    )
    assert profile_file(str(path), "orders", 0.5).encoding == "utf-8-sig"
    assert assert_reads_as_spark(spark, path, sizes=(1, 5, 1 << 40))


def test_windows_1252_text_is_transcoded(spark, tmp_path):
    path = tmp_path / "orders.csv"
    text = (
        "Order ID,Order Date,Product Name\r\nCA-1,2016-11-08,“Café” – Crème brûlée\r\n"
        "CA-2,2016-11-09,Ärger €\r\n"
    )
    path.write_bytes(text.encode("cp1252") + b"CA-3,2016-11-10,undefined \x81 byte\r\n")
    assert profile_file(str(path), "orders", 0.5).encoding == "cp1252"
    rows = assert_reads_as_spark(spark, path, sizes=(3, 1 << 40))
    assert rows[0][2] == "“Café” – Crème brûlée"


def test_invalid_utf8_is_left_to_spark(tmp_path):
    """Java and Python replace some malformed UTF-8 with a different number of U+FFFD."""
    path = tmp_path / "orders.csv"
    path.write_bytes(b"Order ID,Order Date,Product Name\nCA-9,2016-11-08,bad \xed\xa0\x80 end\n")
    with pytest.raises(arrow_csv.SparkOnly):
        arrow_csv.read_range(
            str(path), 0, path.stat().st_size, text_profile("Order ID,Order Date,Product Name")
        )


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_random_lines_read_as_spark(spark, tmp_path, delimiter):
    """Lines of quotes, delimiters and whitespace in any order: most go through univocity's port."""
    rng = random.Random(7)
    alphabet = ["a", "b", " ", '"', '"', delimiter, delimiter, "\t", "\x0b", "\ufeff", "é"]
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(1500)]
    path = tmp_path / "orders.csv"
    header = delimiter.join(["Order ID", "Order Date", "Sales"])
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    assert assert_reads_as_spark(spark, path, sizes=(512, 1 << 40), profile=text_profile(header, delimiter))


def test_what_it_does_not_read(spark, tmp_path, sample_data):
    unicode_text = tmp_path / "utf16.csv"
    unicode_text.write_bytes(exports.unicode_text(sample_data))
    assert not arrow_csv.supports(profile_file(str(unicode_text), "orders", 0.5))
    multiline = tmp_path / "multiline.csv"
    multiline.write_text('Order ID,Order Date,Note\nCA-1,2016-11-08,"two\nlines"\n')
    assert not arrow_csv.supports(profile_file(str(multiline), "orders", 0.5))
    nul = tmp_path / "nul.csv"
    nul.write_text('Order ID,Order Date,Note\nCA-1,2016-11-08,"a\x00b"\n')
    with pytest.raises(arrow_csv.SparkOnly):
        arrow_csv.read_range(str(nul), 0, nul.stat().st_size, text_profile("Order ID,Order Date,Note"))


def test_byte_ranges_cover_the_file():
    assert arrow_csv.byte_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert arrow_csv.byte_ranges(0, 4) == []
