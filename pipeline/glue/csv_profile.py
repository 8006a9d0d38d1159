"""Sniff a CSV export from its first bytes: encoding, delimiter, decimal mark, column names and kinds.

Standard library only: this file is shipped to AWS Glue with ``--extra-py-files`` and is also used by the
console's upload check. The Glue job reads the file with an explicit all-string schema (``names``) and then
converts each column by its ``kind`` (``date`` columns with ``date_format.spark_pattern``); lines whose values
do not convert are quarantined there. This module only decides what the file looks like and rejects files
that cannot be read at all, with a message a person can act on (design.md §3).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any

__all__ = [
    "DATE_FORMATS",
    "REQUIRED",
    "ColumnProfile",
    "CsvProfile",
    "DateFormat",
    "ProfileError",
    "profile_bytes",
    "snake_case",
]

REQUIRED: dict[str, tuple[str, ...]] = {"orders": ("order_id", "order_date"), "returns": ("order_id",)}

DELIMITERS = ",;\t|"
PREVIEW_LIMIT = 1000  # parsed rows kept on the profile for preview()

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_ALIASES = {"orderid": "order_id", "orderdate": "order_date"}
_ID_WORDS = ("postal", "zip", "code", "phone")


class ProfileError(ValueError):
    """The file cannot be loaded as it is; the message says why and what to do."""


# --------------------------------------------------------------------------------------------- names


_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def snake_case(name: str) -> str:
    """Normalised column name: ``"Sub-Category"`` → ``"sub_category"``, ``" ORDER ID "`` → ``"order_id"``.

    Aliases after snake-casing: ``orderid`` → ``order_id``, ``orderdate`` → ``order_date``.
    """
    snake = _NON_ALNUM.sub("_", name.replace("\ufeff", "").strip().lower()).strip("_")
    return _ALIASES.get(snake, snake)


def _is_id_like(name: str) -> bool:
    """IDs, postal codes and phone numbers stay strings whatever their values look like (leading zeros)."""
    return name.endswith("id") or any(word in name for word in _ID_WORDS)


def _human(name: str) -> str:
    return name.replace("_", " ")


# --------------------------------------------------------------------------------------------- dates


@dataclass(frozen=True)
class DateFormat:
    label: str
    spark_pattern: str
    regex: str = field(default="", repr=False, compare=False)
    order: str = field(default="ymd", repr=False, compare=False)  # which regex group holds y, m and d

    @cached_property
    def _compiled(self) -> re.Pattern[str]:
        return re.compile(self.regex)

    @cached_property
    def _groups(self) -> tuple[int, int, int]:
        y, m, d = (self.order.index(c) + 1 for c in "ymd")
        return y, m, d

    def match(self, text: str) -> re.Match[str] | None:
        return self._compiled.match(text.strip())

    def parse(self, text: str) -> datetime.date | None:
        """The date, or None when the text does not fit this format (or is no real date: 2/30/2016)."""
        m = self.match(text)
        if m is None:
            return None
        y, mo, d = (int(m.group(i)) for i in self._groups)
        try:
            return datetime.date(y, mo, d)
        except ValueError:
            return None


DATE_FORMATS: tuple[DateFormat, ...] = (
    DateFormat("YYYY-MM-DD", "yyyy-M-d", r"(\d{4})-(\d{1,2})-(\d{1,2})\Z", "ymd"),
    DateFormat("M/D/YYYY", "M/d/yyyy", r"(\d{1,2})/(\d{1,2})/(\d{4})\Z", "mdy"),
    DateFormat("D/M/YYYY", "d/M/yyyy", r"(\d{1,2})/(\d{1,2})/(\d{4})\Z", "dmy"),
    DateFormat("DD-MM-YYYY", "d-M-yyyy", r"(\d{1,2})-(\d{1,2})-(\d{4})\Z", "dmy"),
    DateFormat("D.M.YYYY", "d.M.yyyy", r"(\d{1,2})\.(\d{1,2})\.(\d{4})\Z", "dmy"),
)
_DATE_LABELS = ", ".join(f.label for f in DATE_FORMATS[:-1]) + f" or {DATE_FORMATS[-1].label}"
# Cheap shape test before trying the formats: anything that could be one of the dates above.
_DATE_SHAPE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\Z")


# --------------------------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class ColumnProfile:
    name: str  # snake_case name
    source: str  # header text as in the file (without BOM and surrounding spaces)
    kind: str  # "string" | "integer" | "double" | "date"
    date_format: DateFormat | None = None


@dataclass(frozen=True)
class CsvProfile:
    kind: str  # "orders" | "returns"
    encoding: str  # "utf-8", "utf-8-sig" (BOM) or "cp1252"
    delimiter: str  # "," ";" "\t" "|"
    decimal: str  # "." or ","
    line_terminator: str  # "\r\n" or "\n"
    columns: tuple[ColumnProfile, ...]
    sample_rows: int  # data rows seen in the head (excluding the header)
    complete: bool  # the head was the whole file
    multiline: bool = False  # some quoted field spans lines (Spark needs multiLine=true)
    warnings: tuple[str, ...] = ()  # tolerated problems, worth showing to a person
    _rows: tuple[tuple[str, ...], ...] = field(default=(), repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def spark_encoding(self) -> str:
        return "windows-1252" if self.encoding == "cp1252" else "UTF-8"

    def spark_read_options(self) -> dict[str, str]:
        """Options for ``spark.read.options(**…).schema(<all strings, in names order>).csv(path)``."""
        return {
            "header": "true",
            "sep": self.delimiter,
            "encoding": self.spark_encoding,
            "quote": '"',
            "escape": '"',  # RFC 4180 doubled quotes; Spark's default escape is a backslash
            "multiLine": "true" if self.multiline else "false",
            "mode": "PERMISSIVE",
        }

    def preview(self, n: int = 5) -> list[dict[str, str | None]]:
        """The first n parsed data rows (raw strings) keyed by snake name; None for a missing field."""
        names = self.names
        return [
            {name: (row[i] if i < len(row) else None) for i, name in enumerate(names)}
            for row in self._rows[: max(n, 0)]
        ]

    def to_report(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "decimal": self.decimal,
            "line_terminator": self.line_terminator,
            "date_formats": {c.name: c.date_format.label for c in self.columns if c.date_format},
            "columns": [{"name": c.name, "source": c.source, "kind": c.kind} for c in self.columns],
            "sample_rows": self.sample_rows,
            "complete": self.complete,
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------- bytes → text

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "it looks like an Excel workbook (.xls), export it as CSV"),
    (b"\x1f\x8b", "it looks like a gzip archive, decompress it first"),
    (b"BZh", "it looks like a bzip2 archive, decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "it looks like a 7-Zip archive, extract the CSV first"),
    (b"%PDF", "it looks like a PDF document, export the data as CSV"),
    (b"PAR1", "it looks like a Parquet file, export it as CSV"),
    (b"\xff\xfe", "it looks like UTF-16 text, export it as UTF-8 CSV"),
    (b"\xfe\xff", "it looks like UTF-16 text, export it as UTF-8 CSV"),
)
# Bytes that text does not contain: C0 controls other than tab, LF, FF and CR; DEL.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_CP1252_UNDEFINED = b"\x81\x8d\x8f\x90\x9d"


def _binary_hint(head: bytes) -> str | None:
    """Why the head is not CSV text, or None when it may be."""
    if head.startswith(b"PK\x03\x04"):
        window = head[:4096]
        if b"[Content_Types].xml" in window or b"xl/" in window:
            return "it looks like an Excel workbook, export it as CSV"
        return "it looks like a zip archive, extract the CSV first"
    for signature, hint in _SIGNATURES:
        if head.startswith(signature):
            return hint
    if b"\x00" in head or len(head) - len(head.translate(None, _CONTROL_BYTES)) > max(2, len(head) // 1000):
        return "it looks binary"
    return None


def _decode(head: bytes, complete: bool, what: str) -> tuple[str, str]:
    """(encoding, text). ``head`` is already cut at a line end when it is not the whole file."""
    if head.startswith(b"\xef\xbb\xbf"):
        try:
            return "utf-8-sig", head[3:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProfileError(
                f"{what} starts with a UTF-8 byte-order mark but is not valid UTF-8 (byte "
                f"0x{head[3 + exc.start]:02x} at offset {3 + exc.start}); save it again as UTF-8 CSV"
            ) from None
    try:
        # final=complete: a multi-byte character cut at the end of a partial head is not an error.
        return "utf-8", codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        pass
    # Windows-1252 decodes almost anything: text it is only if control and undefined bytes stay rare.
    odd = len(head) - len(head.translate(None, _CONTROL_BYTES + _CP1252_UNDEFINED))
    if odd > max(2, len(head) // 1000):
        raise ProfileError(f"{what} is not CSV text (it looks binary)")
    return "cp1252", head.decode("cp1252", errors="replace")


# --------------------------------------------------------------------------------------------- delimiter


def _first_record_counts(text: str) -> dict[str, int]:
    """How often each candidate delimiter occurs in the first record, outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in text[:65536]:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            if ch in counts:
                counts[ch] += 1
            elif ch in "\r\n":
                break
    return counts


def _consistency(sample: str, delimiter: str, cut: bool) -> tuple[int, float]:
    """(header field count, share of sampled rows with that count)."""
    rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if r]
    if cut and len(rows) > 2:
        rows.pop()  # may be a record cut by the sample
    if not rows:
        return 0, 0.0
    width = len(rows[0])
    data = rows[1:]
    if not data:
        return width, 1.0
    return width, sum(len(r) == width for r in data) / len(data)


def _sniff_delimiter(text: str) -> str:
    lines = text[:65536].splitlines(keepends=True)[:100]
    sample = "".join(lines)
    cut = len(sample) < len(text)
    counts = _first_record_counts(text)
    candidates: list[str] = []
    with contextlib.suppress(csv.Error):
        candidates.append(csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter)
    candidates += sorted((d for d in DELIMITERS if counts[d]), key=lambda d: -counts[d])
    for delimiter in dict.fromkeys(candidates):
        if delimiter not in DELIMITERS or not counts[delimiter]:
            continue  # the header must be split by it too
        width, share = _consistency(sample, delimiter, cut)
        if width >= 2 and share >= 0.9:
            return delimiter
    if not any(counts.values()):
        return ","  # one column
    # Nothing is consistent: take the most frequent header delimiter; the field-count check explains.
    return max(DELIMITERS, key=lambda d: counts[d])


# --------------------------------------------------------------------------------------------- column kinds

_INT = re.compile(r"-?\d+\Z")
_NUM = {
    ".": re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z"),
    ",": re.compile(r"-?(?:\d+,?\d*|,\d+)(?:[eE][-+]?\d+)?\Z"),
}
_DOT_DECIMAL = re.compile(r"-?\d*\.\d+(?:[eE][-+]?\d+)?\Z")
_COMMA_DECIMAL = re.compile(r"-?\d*,\d+(?:[eE][-+]?\d+)?\Z")


def _decimal_mark(delimiter: str, columns: dict[str, Counter[str]]) -> str:
    """',' when the delimiter allows it and numbers are written like 261,96 rather than 261.96."""
    if delimiter == ",":
        return "."
    commas = dots = 0
    for values in columns.values():
        for value in values:
            if _COMMA_DECIMAL.match(value):
                commas += 1
            elif _DOT_DECIMAL.match(value):
                dots += 1
    return "," if commas > dots else "."


def _allowed(total: int, max_bad_fraction: float) -> int:
    return int(total * max_bad_fraction + 1e-9)


@dataclass
class _DateResult:
    fmt: DateFormat | None = None  # the winner
    tied: tuple[DateFormat, ...] = ()  # ≥ 2 formats that disagree on some value
    failures: int = 0
    example: str = ""  # a value the winner (or every format) does not parse


def _date_result(values: Counter[str], total: int, allowed: int) -> _DateResult | None:
    """The best date format for these values, or None when they are not dates."""
    misfit = 0
    example = ""
    for value, count in values.items():
        if not _DATE_SHAPE.match(value):
            misfit += count
            example = example or value
            if misfit > allowed:
                return None
    scored: list[tuple[int, DateFormat, dict[str, datetime.date]]] = []
    for fmt in DATE_FORMATS:
        parsed: dict[str, datetime.date] = {}
        failures = 0
        for value, count in values.items():
            date = fmt.parse(value)
            if date is None:
                failures += count
            else:
                parsed[value] = date
        if parsed:
            scored.append((failures, fmt, parsed))
    if not scored:
        return _DateResult(failures=total, example=example or next(iter(values)))
    best = min(s[0] for s in scored)
    tied = [s for s in scored if s[0] == best]
    winner, parsed = tied[0][1], tied[0][2]
    bad_example = next((v for v in values if v not in parsed), "")
    if len(tied) > 1:
        disagree = [s[1] for s in tied[1:] if s[2] != parsed]  # a different date, or a date vs none
        if disagree:
            return _DateResult(tied=(winner, *disagree), failures=best, example=bad_example)
    return _DateResult(fmt=winner, failures=best, example=bad_example)


def _number_kind(values: Counter[str], decimal: str, allowed: int) -> tuple[str, int, str] | None:
    """("integer" | "double" | "string", bad count, a bad value) or None when these are not numbers."""
    number = _NUM[decimal]
    bad = 0
    example = ""
    integral = True
    leading_zero = False
    long_int = False
    for value, count in values.items():
        if _INT.match(value):
            digits = value.lstrip("-")
            leading_zero = leading_zero or (len(digits) > 1 and digits[0] == "0")
            long_int = long_int or len(digits) > 18
        elif number.match(value):
            integral = False
        else:
            bad += count
            example = example or value
            if bad > allowed:
                return None
    if bad == sum(values.values()):
        return None
    if integral:
        # 007 or a 20-digit number is a code, not a quantity: keep it as text (leading zeros, int64).
        return ("string" if leading_zero or long_int else "integer"), bad, example
    return "double", bad, example


_NUMBERISH = re.compile(r"-?[\d.,]+(?:[eE][-+]?\d+)?\Z")


def _clearly_text(rows: list[list[str]], i: int, most_bad: int) -> bool:
    """True when the first values of column i already hold more non-dates/non-numbers than tolerated
    (saves counting every value of text columns)."""
    bad = 0
    for row in rows[: 4 * most_bad + 100]:
        value = row[i].strip()
        if value and not (_NUMBERISH.match(value) or _DATE_SHAPE.match(value)):
            bad += 1
            if bad > most_bad:
                return True
    return False


# --------------------------------------------------------------------------------------------- entry point


def profile_bytes(
    head: bytes, *, kind: str, complete: bool = True, max_bad_fraction: float = 0.01
) -> CsvProfile:
    """Profile a CSV export from its first bytes (``complete``: they are the whole file).

    Raises ProfileError with a message for a person when the file cannot be loaded as it is.
    """
    if kind not in REQUIRED:
        raise ValueError(f"kind must be one of {sorted(REQUIRED)}, not {kind!r}")
    what = f"{kind} file"
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ProfileError(f"{what} is empty")
    hint = _binary_hint(head)
    if hint:
        raise ProfileError(f"{what} is not CSV text ({hint})")
    read = len(head)
    if not complete:
        # The last line may be cut (also in the middle of a multi-byte character): drop it.
        head = head[: head.rfind(b"\n") + 1]
        if not head:
            raise ProfileError(f"{what}: no complete line in the first {read:,} bytes read")
    encoding, text = _decode(head, complete, what)

    first_nl = text.find("\n")
    line_terminator = "\r\n" if first_nl > 0 and text[first_nl - 1] == "\r" else "\n"
    delimiter = _sniff_delimiter(text)

    rows, multiline = _parse(text, delimiter, complete, what)
    # Blank lines are no rows (Spark skips them too, also before the header).
    top = next((i for i, r in enumerate(rows) if not _blank(r)), len(rows))
    header = rows[top] if top < len(rows) else []
    width = len(header)
    good = [r for r in rows[top + 1 :] if len(r) == width]
    if width == 1:
        good = [r for r in good if r[0].strip()]
    # Rows with another field count, with their record index (= line - 1 unless a record spans lines).
    odd = [(i, r) for i, r in enumerate(rows) if i > top and len(r) != width and not _blank(r)]
    sample_rows = len(good) + len(odd)
    if not sample_rows:
        if complete:
            raise ProfileError(f"{what} has a header but no data rows")
        raise ProfileError(f"{what} has no complete data row in the first {read:,} bytes read")

    # --- names
    sources = [h.replace("\ufeff", "").strip() for h in header]
    names = [snake_case(s) or f"column_{i}" for i, s in enumerate(sources, 1)]
    seen: dict[str, list[str]] = {}
    for source, name in zip(sources, names, strict=True):
        seen.setdefault(name, []).append(source)
    dupes = {n: s for n, s in seen.items() if len(s) > 1}
    if dupes:
        listed = "; ".join(
            f"{' and '.join(map(repr, srcs))} {'both' if len(srcs) == 2 else 'all'} become {n}"
            for n, srcs in dupes.items()
        )
        raise ProfileError(f"{what} has duplicate column names after normalising: {listed}")
    _check_required(kind, names, what)

    # --- field counts
    warnings: list[str] = []
    if odd:
        index, row = odd[0]
        line = _line_of(text, delimiter, index) if multiline else index + 1
        detail = (
            f"{len(odd):,} of {sample_rows:,} rows do not have the header's {width} fields "
            f"(split on {_DELIMITER_NAMES[delimiter]}), e.g. line {line:,} has {len(row)}"
        )
        if len(odd) > _allowed(sample_rows, max_bad_fraction):
            raise ProfileError(f"{what}: {detail}")
        warnings.append(detail)

    # --- kinds (IDs and codes stay strings: their values are not even counted)
    counters: dict[str, Counter[str]] = {}
    most_bad = _allowed(len(good), max_bad_fraction)
    for i, name in enumerate(names):
        if _is_id_like(name) or (name != "order_date" and _clearly_text(good, i, most_bad)):
            continue
        counts: Counter[str] = Counter()
        for value, count in Counter(map(itemgetter(i), good)).items():
            stripped = value.strip()
            if stripped:
                counts[stripped] += count
        counters[name] = counts
    decimal = _decimal_mark(delimiter, counters)

    kinds: dict[str, str] = {}
    dates: dict[str, _DateResult] = {}
    for name in names:
        kinds[name] = "string"
        values = counters.get(name, Counter())
        total = sum(values.values())
        if not total:
            if name == "order_date" and kind == "orders":
                raise ProfileError(f"{what}: order_date is empty in every row")
            continue
        allowed = _allowed(total, max_bad_fraction)
        result = _date_result(values, total, allowed)
        if result is not None and (result.fmt or result.tied) and result.failures <= allowed:
            kinds[name] = "date"
            dates[name] = result
            if result.failures:
                warnings.append(
                    f"{name}: {result.failures:,} of {total:,} values are not dates "
                    f"(e.g. {result.example!r}); those lines will be quarantined"
                )
            continue
        if name == "order_date" and kind == "orders":
            detail = _date_result(values, total, total)  # no early exit: find the best format anyway
            raise ProfileError(f"{what}: {_not_dates(detail, values, total)}")
        number = _number_kind(values, decimal, allowed)
        if number is not None:
            kinds[name], bad, example = number
            if bad and kinds[name] != "string":
                warnings.append(
                    f"{name}: {bad:,} of {total:,} values are not numbers "
                    f"(e.g. {example!r}); those lines will be quarantined"
                )
    formats = _settle_dates(dates, what, warnings)
    if kind == "returns" and "order_date" in names and not any(n.startswith("return") for n in names):
        warnings.append(
            "this returns file has an order date and no returned/return_* column: is it an orders file?"
        )

    columns = tuple(
        ColumnProfile(name, source, kinds[name], formats.get(name))
        for name, source in zip(names, sources, strict=True)
    )
    return CsvProfile(
        kind=kind,
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        line_terminator=line_terminator,
        columns=columns,
        sample_rows=sample_rows,
        complete=complete,
        multiline=multiline,
        warnings=tuple(warnings),
        _rows=tuple(tuple(r) for r in rows[top + 1 : top + 1 + PREVIEW_LIMIT] if not _blank(r)),
    )


def _blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def _reader(text: str, delimiter: str):
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True)


def _parse(text: str, delimiter: str, complete: bool, what: str) -> tuple[list[list[str]], bool]:
    """(records, some record spans lines). Blank lines come back as empty records."""
    reader = _reader(text, delimiter)
    try:
        rows = list(reader)
    except csv.Error as exc:  # in practice "field larger than field limit": a quote that is never closed
        if complete:
            where = f"after line {reader.line_num:,}"
            raise ProfileError(f"{what}: {exc} {where} (is a quote never closed?)") from None
        rows = []
        reader = _reader(text, delimiter)
        with contextlib.suppress(csv.Error):
            for row in reader:
                rows.append(row)
        return rows, reader.line_num > len(rows)
    if not complete and rows and rows[-1] and rows[-1][-1].endswith(("\n", "\r")):
        rows.pop()  # the head ends inside a quoted field that spans lines: that record is partial
    # A record spans lines when the reader consumed more lines than it returned records (a popped partial
    # record spans lines too).
    return rows, reader.line_num > len(rows)


def _line_of(text: str, delimiter: str, index: int) -> int:
    """The line on which record ``index`` (0 = header) ends."""
    reader = _reader(text, delimiter)
    for i, _ in enumerate(reader):
        if i == index:
            break
    return reader.line_num


def _check_required(kind: str, names: list[str], what: str) -> None:
    missing = [_human(n) for n in REQUIRED[kind] if n not in names]
    if not missing:
        return
    found = ", ".join(names) or "no columns"
    message = f"{what} has no {' or '.join(missing)} column (found: {found})"
    other = "returns" if kind == "orders" else "orders"
    if _looks_like(other, names):
        message += f" — is this {'an' if other == 'orders' else 'a'} {other} file?"
    raise ProfileError(message)


def _looks_like(kind: str, names: list[str]) -> bool:
    if kind == "returns":
        return "order_id" in names and any(n.startswith("return") for n in names)
    return "order_id" in names and "order_date" in names


def _not_dates(result: _DateResult | None, values: Counter[str], total: int) -> str:
    if result is not None and result.fmt is not None and result.failures < total:
        share = result.failures / total
        return (
            f"order_date: {result.failures:,} of {total:,} values ({share:.1%}) are not "
            f"{result.fmt.label} dates (e.g. {result.example!r}); fix them or use one format throughout"
        )
    example = (result.example if result else "") or next(
        (v for v in values if not any(f.parse(v) for f in DATE_FORMATS)), next(iter(values))
    )
    return f"order_date: values are not dates in a supported format (e.g. {example!r}); use {_DATE_LABELS}"


def _settle_dates(dates: dict[str, _DateResult], what: str, warnings: list[str]) -> dict[str, DateFormat]:
    """Each date column's format. An ambiguous column takes the format of another date column in the file
    when exactly one of its candidates is used there; otherwise the ambiguity is an error."""
    settled = {name: r.fmt for name, r in dates.items() if r.fmt is not None}
    for name, result in dates.items():
        if result.fmt is not None:
            continue
        used = {f for f in settled.values() if f in result.tied}
        if len(used) == 1:
            fmt = used.pop()
            other = next(n for n, f in settled.items() if f == fmt)
            settled[name] = fmt
            labels = " and ".join(f.label for f in result.tied)
            warnings.append(f"{name}: values fit both {labels}; using {fmt.label} like {other}")
            continue
        labels = _join_labels(result.tied)
        raise ProfileError(
            f"{what}: {name}: values fit {labels}, so day and month cannot be told apart; "
            f"export the dates as YYYY-MM-DD"
        )
    return {name: settled[name] for name in dates}


def _join_labels(formats: tuple[DateFormat, ...]) -> str:
    labels = [f.label for f in formats]
    if len(labels) == 2:
        return f"both {labels[0]} and {labels[1]}"
    return "each of " + ", ".join(labels[:-1]) + f" and {labels[-1]}"
