"""US Superstore's orders export rewritten the way other tools write it (issue #13), built from the clean
sample in ../shared/data, and what the joined table must hold, computed with pandas from the clean files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
from csv_profile import CONTRACT

ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "double": pa.float64(), "date": pa.date32()}
RUN_COLUMNS = {"is_returned": pa.bool_(), "run_id": pa.string(), "processed_at": pa.timestamp("us", tz="UTC")}


def contract_type(name: str) -> pa.DataType:
    """The Parquet type docs/DATA_CONTRACT.md gives a column of the joined table."""
    return RUN_COLUMNS.get(name) or ARROW_TYPES[CONTRACT.get(name, "string")]


def us_rows(sample_data: Path) -> tuple[list[str], list[list[str]]]:
    with open(sample_data / "superstore-us/orders.csv", newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def write_csv(header: list[str], rows: list[list[str]], delimiter: str = ",", eol: str = "\r\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=eol).writerows([header, *rows])
    return out.getvalue()


def _money(value: str, decimal: str = ".") -> str:
    """261.96 → $261.96, 1261.96 → $1,261.96, -41.91 → ($41.91) (or 1.261,96 € with a decimal comma)."""
    number = float(value)
    text = f"{abs(number):,.4f}".rstrip("0").rstrip(".")
    if decimal == ",":
        return ("-" if number < 0 else "") + text.translate(str.maketrans(",.", ".,")) + " €"
    return f"(${text})" if number < 0 else f"${text}"


def _us_date(value: str) -> date:
    return datetime.strptime(value, "%m/%d/%Y").date()


def _columns(header: list[str], *names: str) -> list[int]:
    return [header.index(n) for n in names]


def currency(sample_data: Path) -> bytes:
    """Shop back-office / Excel: "$1,261.96", accounting negatives "($41.91)"."""
    header, rows = us_rows(sample_data)
    for row in rows:
        for i in _columns(header, "Sales", "Profit"):
            row[i] = _money(row[i])
    return write_csv(header, rows).encode()


def excel_times(sample_data: Path) -> bytes:
    """Excel's dates with a time: "11/8/2016 0:00", and 12-hour times "11/11/2016 3:15 PM"."""
    header, rows = us_rows(sample_data)
    order_date, ship_date = _columns(header, "Order Date", "Ship Date")
    for n, row in enumerate(rows):
        row[order_date] += " 0:00"
        row[ship_date] += f" {n % 12 + 1}:{n % 60:02d} {'AM' if n % 2 else 'PM'}"
    return write_csv(header, rows).encode()


def iso_timestamps(sample_data: Path) -> bytes:
    """Marketplace reports: ISO 8601 with an offset or Z; evening times whose UTC date is the next day."""
    header, rows = us_rows(sample_data)
    order_date, ship_date = _columns(header, "Order Date", "Ship Date")
    for n, row in enumerate(rows):
        row[order_date] = f"{_us_date(row[order_date]).isoformat()}T22:{n % 60:02d}:03-05:00"
        row[ship_date] = f"{_us_date(row[ship_date]).isoformat()}T10:02:03Z"
    return write_csv(header, rows).encode()


def unicode_text(sample_data: Path) -> bytes:
    """Excel's "Unicode Text": UTF-16 LE with a BOM, tab-delimited."""
    header, rows = us_rows(sample_data)
    return b"\xff\xfe" + write_csv(header, rows, delimiter="\t").encode("utf-16-le")


def sep_hint(sample_data: Path) -> bytes:
    """Excel in a decimal-comma locale: a "sep=;" first line, semicolons, "1.261,96 €" amounts."""
    header, rows = us_rows(sample_data)
    for row in rows:
        for i in _columns(header, "Sales", "Profit", "Discount"):
            row[i] = _money(row[i], decimal=",")
    return b"sep=;\r\n" + write_csv(header, rows, delimiter=";").encode()


KINDS = {
    "currency": currency,
    "excel-times": excel_times,
    "iso-timestamps": iso_timestamps,
    "utf16-unicode-text": unicode_text,
    "sep-hint": sep_hint,
}


@dataclass(frozen=True)
class Expected:
    rows: int
    returned_lines: int
    sales: float
    order_dates: list[date]


def expected_us(sample_data: Path) -> Expected:
    """From the clean files with pandas: what every variant must join to."""
    orders = pd.read_csv(sample_data / "superstore-us/orders.csv", dtype=str)
    returns = pd.read_csv(sample_data / "superstore-us/returns.csv", dtype=str)
    return Expected(
        rows=len(orders),
        returned_lines=int(orders["Order ID"].isin(returns["Order ID"]).sum()),
        sales=float(orders["Sales"].astype(float).sum()),
        order_dates=sorted(_us_date(d) for d in orders["Order Date"]),
    )
