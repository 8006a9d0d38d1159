"""Sniff a CSV export from its first bytes: encoding, delimiter, decimal mark, column names and formats.

Standard library only: this file is shipped to AWS Glue with ``--extra-py-files`` and is also used by the
console's upload check, so both accept and refuse the same files. A column's type never comes from its
values: ``CONTRACT`` fixes the type of every column the data contract knows (docs/DATA_CONTRACT.md) and any
other column is text. From the values, the profile only learns how each typed column is written (date
format, with or without a time; decimal mark, currency, grouping), which the Glue job turns into Spark SQL
expressions (``DateFormat.spark_pattern``, ``DATE_TIME_REGEX``, ``NumberFormat.regex``); lines whose values
do not convert are quarantined there. A file that cannot be read at all is refused here, with a message a
person can act on (docs/DATA_CONTRACT.md).

A gzip-compressed export (``.csv.gz``, told by its magic bytes) is profiled on its decompressed head, never
more than ``max_text_bytes`` of text however well it compresses; ``check_gzip`` reads a whole stream to
its end for the truncation or corruption that a head cannot show (ADR 0019).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime
import io
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

__all__ = [
    "CONTRACT",
    "CONTRACT_VERSION",
    "CURRENCY_REGEX",
    "DATE_FORMATS",
    "DATE_TIME_REGEX",
    "REQUIRED",
    "ColumnProfile",
    "CsvProfile",
    "DateFormat",
    "GZIP_MAGIC",
    "NumberFormat",
    "ProfileError",
    "check_gzip",
    "contract_kind",
    "gunzip_head",
    "profile_bytes",
    "snake_case",
]

REQUIRED: dict[str, tuple[str, ...]] = {"orders": ("order_id", "order_date"), "returns": ("order_id",)}

# The published type of every column the data contract knows (docs/DATA_CONTRACT.md). Changing an entry is a
# schema migration: bump CONTRACT_VERSION and follow docs/adr/0005-fixed-table-schema.md.
CONTRACT_VERSION = 1
CONTRACT: dict[str, str] = {
    # keys and codes: text, leading zeros kept
    "order_id": "string",
    "row_id": "string",
    "customer_id": "string",
    "product_id": "string",
    "postal_code": "string",
    "market": "string",
    "order_date": "date",
    "ship_date": "date",
    "return_date": "date",
    "sales": "double",
    "quantity": "integer",
    "discount": "double",
    "profit": "double",
    "shipping_cost": "double",
}

DELIMITERS = ",;\t|"
PREVIEW_LIMIT = 1000  # parsed rows kept on the profile for preview()
# The share of lines that may be bad (a head's values here; quarantined lines in the job) before a file is
# refused. The job's and the upload check's default; a deployment sets its own (max_quarantine_fraction).
MAX_BAD_FRACTION = 0.01
# The most decompressed text a gzip head is profiled on (a gzip bomb cannot make it more); callers that
# read fewer compressed bytes pass their own limit.
MAX_TEXT_BYTES = 8 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer (CRC-32, length) around the deflate data
_INFLATE_STEP = 1024 * 1024  # decompressed bytes per step: memory stays bounded whatever the ratio

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_ALIASES = {"orderid": "order_id", "orderdate": "order_date"}


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


def contract_kind(name: str) -> str:
    """The type a column is published with: the contract's, or text for a column the contract does not know
    (whatever its values look like, so that no file can change a column's type)."""
    return CONTRACT.get(name, "string")


def _human(name: str) -> str:
    return name.replace("_", " ")


# --------------------------------------------------------------------------------------------- dates


@dataclass(frozen=True)
class DateFormat:
    label: str
    spark_pattern: str
    regex: str = field(default="", repr=False, compare=False)
    order: str = field(default="ymd", repr=False, compare=False)  # which regex group holds y, m and d

    # Properties, not cached_property (or lru_cache): Spark tasks get this module pickled by value, and
    # cached_property's lock (Python 3.11) cannot be pickled. re.compile keeps its own cache.
    @property
    def _compiled(self) -> re.Pattern[str]:
        return re.compile(self.regex)

    @property
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
# A date, optionally followed by a time as Excel (11/8/2016 0:00, 11/8/2016 3:15 PM) or an ISO 8601 timestamp
# (2016-11-08T10:02:03-05:00) writes it; group 1 is the date as written, so a timestamp gives the date in the
# export's own offset. Java and Python read this regex the same way (ASCII classes only): the Glue job uses
# it in regexp_extract.
_TIME = (
    r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?(?:[ \t]*[AaPp]\.?[Mm]\.?)?"
    r"(?:[ \t]*(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?))?"
)
DATE_TIME_REGEX = rf"^([0-9]{{1,4}}[-/.][0-9]{{1,2}}[-/.][0-9]{{1,4}})(?:(?:T|[ \t]+){_TIME})?$"
_DATE_TIME = re.compile(DATE_TIME_REGEX)


def split_time(text: str) -> tuple[str, bool] | None:
    """(the date part, whether a time followed it), or None when the text is no date of any shape."""
    m = _DATE_TIME.match(text.strip())
    if m is None:
        return None
    return m.group(1), m.end(1) < len(text.strip())


# --------------------------------------------------------------------------------------------- numbers

CURRENCY_REGEX = _CURRENCY = r"(?:[$€£¥]|USD|EUR|GBP)"
_SPACE = r"[ \t\u00a0\u202f]*"
_CURRENCY_FOUND = re.compile(_CURRENCY)


_NUMBER_REGEXES: dict[str, str] = {}


def _number_regex(decimal: str, grouping: str) -> str:
    """``NumberFormat.regex``: Java and Python read it alike."""
    d, g = re.escape(decimal), re.escape(grouping)
    number = (
        rf"(?:[0-9]{{1,3}}(?:{g}[0-9]{{3}})+(?:{d}[0-9]*)?|[0-9]+(?:{d}[0-9]*)?|{d}[0-9]+)"
        r"(?:[eE][+-]?[0-9]+)?"
    )
    amount = rf"(?:{_CURRENCY}{_SPACE})?{number}(?:{_SPACE}{_CURRENCY})?"
    return (
        rf"^{_SPACE}(?:[+-]?{_SPACE}{amount}|{_CURRENCY}{_SPACE}[+-]{_SPACE}{number}(?:{_SPACE}{_CURRENCY})?"
        rf"|\({_SPACE}{amount}{_SPACE}\)){_SPACE}$"
    )


@dataclass(frozen=True)
class NumberFormat:
    """How a numeric column is written: its decimal mark, and whether the head showed anything beyond a
    plain number (currency, grouping, accounting parentheses, a plus sign), which the job then cleans.

    Grouping uses the other mark (1,261.96 or 1.261,96). ``regex`` (Java and Python alike) accepts a value;
    ``strip_regex`` removes what is not the number once ``(`` has become ``-``."""

    decimal: str = "."
    formatted: bool = False

    @property
    def grouping(self) -> str:
        return "," if self.decimal == "." else "."

    @property
    def label(self) -> str:
        return "1,234.56" if self.decimal == "." else "1.234,56"

    @property
    def regex(self) -> str:
        if self.decimal not in _NUMBER_REGEXES:  # built once per decimal mark (the profiler asks per value)
            _NUMBER_REGEXES[self.decimal] = _number_regex(self.decimal, self.grouping)
        return _NUMBER_REGEXES[self.decimal]

    @property
    def strip_regex(self) -> str:
        return rf"USD|EUR|GBP|[^-0-9eE+{re.escape(self.decimal)}]"

    @property
    def _compiled(self) -> tuple[re.Pattern[str], re.Pattern[str]]:
        return re.compile(self.regex), re.compile(self.strip_regex)

    def parse(self, text: str) -> float | None:
        """The number, or None when the text is no number written this way."""
        accept, strip = self._compiled
        if not accept.match(text):
            return None
        cleaned = strip.sub("", text.replace("(", "-"))
        return float(cleaned.replace(",", ".") if self.decimal == "," else cleaned)

    def repairs(self, text: str) -> list[str]:
        """What parsing this accepted value takes beyond a plain number (the job counts lines per kind)."""
        if _PLAIN[self.decimal].match(text.strip()):
            return []
        stripped = text.strip()
        found = []
        if _CURRENCY_FOUND.search(stripped):
            found.append("currency stripped")
        if self.grouping in stripped:
            found.append("thousands separators removed")
        if stripped.startswith("("):
            found.append("accounting negative")
        return found


# Numbers that Spark casts as they are (the job's fast path).
_PLAIN = {
    ".": re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z"),
    ",": re.compile(r"[-+]?(?:[0-9]+,?[0-9]*|,[0-9]+)(?:[eE][-+]?[0-9]+)?\Z"),
}


# --------------------------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class ColumnProfile:
    name: str  # snake_case name
    source: str  # header text as in the file (without BOM and surrounding spaces)
    kind: str  # "string" | "integer" | "double" | "date": contract_kind(name), never from the values
    date_format: DateFormat | None = None  # None for a date column empty throughout the head
    has_time: bool = False  # the head's dates carry a time (dropped: the date as written is kept)
    number_format: NumberFormat | None = None


@dataclass(frozen=True)
class CsvProfile:
    kind: str  # "orders" | "returns"
    encoding: str  # "utf-8", "utf-8-sig" (BOM), "cp1252", "utf-16-le" or "utf-16-be" (BOM)
    delimiter: str  # "," ";" "\t" "|"
    decimal: str  # "." or ","
    line_terminator: str  # "\r\n" or "\n"
    columns: tuple[ColumnProfile, ...]
    sample_rows: int  # data rows seen in the head (excluding the header)
    complete: bool  # the head was the whole file
    multiline: bool = False  # some quoted field spans lines (Spark needs multiLine=true)
    warnings: tuple[str, ...] = ()  # tolerated problems, worth showing to a person
    sep_hint: bool = False  # Excel's "sep=X" first line set the delimiter; that line is no data
    compression: str | None = None  # "gzip" when the file is gzip-compressed (profiled decompressed)
    _rows: tuple[tuple[str, ...], ...] = field(default=(), repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def spark_encoding(self) -> str:
        if self.encoding.startswith("utf-16"):
            return "UTF-16"  # Java's UTF-16 reads the BOM for the byte order
        return "windows-1252" if self.encoding == "cp1252" else "UTF-8"

    def spark_read_options(self) -> dict[str, str]:
        """Options for ``spark.read.options(**…).schema(<all strings, in names order>).csv(path)``."""
        return {
            "header": "true",
            "sep": self.delimiter,
            "encoding": self.spark_encoding,
            "quote": '"',
            "escape": '"',  # RFC 4180 doubled quotes; Spark's default escape is a backslash
            # Spark splits lines on the byte \\n, which breaks UTF-16: read such a file as one stream.
            "multiLine": "true" if self.multiline or self.encoding.startswith("utf-16") else "false",
            "mode": "PERMISSIVE",
        }

    @property
    def header_columns(self) -> tuple[ColumnProfile, ...]:
        """The columns whose values tell a repeated header line (no data): the first, order_id, the last."""
        return _header_columns(self.columns)

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
            "dates_with_time": [c.name for c in self.columns if c.has_time],
            "number_formats": {c.name: c.number_format.label for c in self.columns if c.number_format},
            "formatted_numbers": [
                c.name for c in self.columns if c.number_format and c.number_format.formatted
            ],
            "sep_hint": self.sep_hint,
            "compression": self.compression,
            "columns": [{"name": c.name, "source": c.source, "kind": c.kind} for c in self.columns],
            "sample_rows": self.sample_rows,
            "complete": self.complete,
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------- bytes → text

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "it looks like an Excel workbook (.xls), export it as CSV"),
    # Only seen after one decompression: profile_bytes decompresses a gzip file itself.
    (GZIP_MAGIC, "it is gzip-compressed twice, compress the CSV itself once"),
    (b"BZh", "it looks like a bzip2 archive, decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "it looks like a 7-Zip archive, extract the CSV first"),
    (b"%PDF", "it looks like a PDF document, export the data as CSV"),
    (b"PAR1", "it looks like a Parquet file, export it as CSV"),
)
_UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}
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


def _decode_utf16(head: bytes, encoding: str, complete: bool, what: str) -> str:
    """The text after the BOM, cut after its last line end when the head is not the whole file."""
    try:
        # final=complete: a code unit or surrogate pair cut at the end of a partial head is not an error.
        text = codecs.getincrementaldecoder(encoding)().decode(head[2:], final=complete)
    except UnicodeDecodeError as exc:
        raise ProfileError(
            f"{what} starts with a UTF-16 byte-order mark but is not valid UTF-16 ({exc.reason} at byte "
            f"{2 + exc.start}); save it again as UTF-8 CSV or Unicode Text"
        ) from None
    if "\x00" in text:
        raise ProfileError(f"{what} is not CSV text (it looks binary)")
    return text if complete else text[: text.rfind("\n") + 1]


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


# --------------------------------------------------------------------------------------------- column formats

_NOT_NUMBER_MARKS = re.compile(r"[^0-9.,]+")


def _decimal_evidence(value: str) -> str | None:
    """The decimal mark that this value proves, or None (no mark, or 1,261 that fits both readings)."""
    core = _NOT_NUMBER_MARKS.sub("", value)
    dot, comma = core.rfind("."), core.rfind(",")
    if dot >= 0 and comma >= 0:
        return "." if dot > comma else ","  # 1,261.96 or 1.261,96: the last mark is the decimal
    mark = "." if dot >= 0 else "," if comma >= 0 else None
    if mark is None:
        return None
    if core.count(mark) > 1:
        return "," if mark == "." else "."  # 1,261,000: a repeated mark groups thousands
    whole, _, fraction = core.partition(mark)
    if len(fraction) == 3 and 1 <= len(whole) <= 3 and not whole.startswith("0"):
        return None
    return mark


def _decimal_votes(values: Counter[str]) -> Counter[str]:
    votes: Counter[str] = Counter()
    for value, count in values.items():
        mark = _decimal_evidence(value)
        if mark:
            votes[mark] += count
    return votes


def _allowed(total: int, max_bad_fraction: float) -> int:
    return int(total * max_bad_fraction + 1e-9)


@dataclass
class _DateResult:
    fmt: DateFormat | None = None  # the winner
    tied: tuple[DateFormat, ...] = ()  # ≥ 2 formats that disagree on some value
    failures: int = 0
    example: str = ""  # a value the winner (or every format) does not parse
    has_time: bool = False


def _date_result(values: Counter[str], total: int, allowed: int) -> _DateResult:
    """The best date format for these values (each value's date part, its time dropped)."""
    misfit = 0
    example = ""
    parts: Counter[str] = Counter()
    has_time = False
    for value, count in values.items():
        split = split_time(value)
        if split is None:
            misfit += count
            example = example or value
            if misfit > allowed:
                return _DateResult(failures=misfit, example=example)
            continue
        parts[split[0]] += count
        has_time = has_time or split[1]
    scored: list[tuple[int, DateFormat, dict[str, datetime.date]]] = []
    for fmt in DATE_FORMATS:
        parsed: dict[str, datetime.date] = {}
        failures = misfit
        for value, count in parts.items():
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
    bad_example = example or next((v for v in values if (split_time(v) or ("",))[0] not in parsed), "")
    if len(tied) > 1:
        disagree = [s[1] for s in tied[1:] if s[2] != parsed]  # a different date, or a date vs none
        if disagree:
            return _DateResult(
                tied=(winner, *disagree), failures=best, example=bad_example, has_time=has_time
            )
    return _DateResult(fmt=winner, failures=best, example=bad_example, has_time=has_time)


def _number_result(values: Counter[str], fmt: NumberFormat, kind: str) -> tuple[NumberFormat, int, str]:
    """(the format, with ``formatted`` when some value is more than a plain number; bad count; a bad value).
    An integer column takes whole numbers only (2.0 is 2; 2.5 is refused, never truncated)."""
    bad = 0
    example = ""
    formatted = False
    plain = _PLAIN[fmt.decimal]
    for value, count in values.items():
        number = fmt.parse(value)
        if number is None or (kind == "integer" and not number.is_integer()):
            bad += count
            example = example or value
        elif not formatted and not plain.match(value):
            formatted = True
    return NumberFormat(fmt.decimal, formatted), bad, example


# --------------------------------------------------------------------------------------------- gzip


def _inflate(chunks: Iterable[bytes], keep: int, what: str, to_end: bool) -> tuple[bytes, bool, bool]:
    """(the first ``keep`` decompressed bytes, whether more text followed them, whether the last gzip member
    ended cleanly at the end of ``chunks``). Stops once ``keep`` bytes are out, unless ``to_end``: then it
    reads on, keeping nothing more (memory stays bounded, whatever the ratio). Members may follow one
    another (``cat a.gz b.gz``, pigz); zlib checks each member's CRC-32 and length. Raises ProfileError on
    bytes that are not gzip data."""
    inflater = zlib.decompressobj(_GZIP_WBITS)
    text = bytearray()
    more = False
    for chunk in chunks:
        data = chunk
        while data:
            room = keep - len(text)
            if room <= 0 and not to_end:
                return bytes(text), True, False
            if inflater.eof:  # the member ended: another one follows
                inflater = zlib.decompressobj(_GZIP_WBITS)
            try:
                out = inflater.decompress(data, min(room, _INFLATE_STEP) if room > 0 else _INFLATE_STEP)
            except zlib.error as exc:
                raise ProfileError(
                    f"{what} is a corrupt gzip file ({exc}); compress the export again and upload it again"
                ) from None
            text += out[: max(room, 0)]
            more = more or len(out) > room
            data = inflater.unconsumed_tail or (inflater.unused_data if inflater.eof else b"")
    return bytes(text), more, inflater.eof


def _truncated(what: str) -> ProfileError:
    return ProfileError(
        f"{what} is a truncated gzip file (the compressed data ends before the end of its stream); "
        "upload the whole file again"
    )


def gunzip_head(
    head: bytes, *, complete: bool, limit: int = MAX_TEXT_BYTES, what: str = "file"
) -> tuple[bytes, bool]:
    """The decompressed text of a gzip file's first bytes, at most ``limit`` bytes, and whether that text is
    the whole file. When ``head`` is the whole compressed file (``complete``), it is read to its end (text
    beyond ``limit`` is not kept). Raises ProfileError when the data is corrupt, or when the whole file ends
    before its gzip stream does."""
    text, more, ended = _inflate([head], limit, what, to_end=complete)
    if complete and not ended:
        raise _truncated(what)
    return text, complete and not more


def check_gzip(chunks: Iterable[bytes], what: str = "file") -> None:
    """Read a whole gzip stream (in bounded memory, keeping nothing) and raise ProfileError when it is
    corrupt or truncated: a head cannot show what is wrong at the end of a big file."""
    _, _, ended = _inflate(chunks, 0, what, to_end=True)
    if not ended:
        raise _truncated(what)


# --------------------------------------------------------------------------------------------- entry point


def profile_bytes(
    head: bytes,
    *,
    kind: str,
    complete: bool = True,
    max_bad_fraction: float = MAX_BAD_FRACTION,
    max_text_bytes: int = MAX_TEXT_BYTES,
) -> CsvProfile:
    """Profile a CSV export from its first bytes (``complete``: they are the whole file).

    A gzip-compressed head is decompressed first, to at most ``max_text_bytes`` of text.
    Raises ProfileError with a message for a person when the file cannot be loaded as it is.
    """
    if kind not in REQUIRED:
        raise ValueError(f"kind must be one of {sorted(REQUIRED)}, not {kind!r}")
    what = f"{kind} file"
    compression = None
    if head.startswith(GZIP_MAGIC):
        head, complete = gunzip_head(head, complete=complete, limit=max_text_bytes, what=what)
        compression = "gzip"
    encoding, text = _decode_head(head, complete, what)
    line_terminator = _line_terminator(text)
    delimiter, text, sep_hint = _sniff_dialect(text, what)
    rows, multiline = _parse(text, delimiter, complete, what)
    records = _split_records(rows, complete, what, read=len(head))
    names = _normalise_header(records.header_cells, what)
    _check_required(kind, names, what)
    warnings = _check_field_counts(records, text, delimiter, multiline, sep_hint, max_bad_fraction, what)
    typed = _profile_typed_columns(kind, names, records.good, delimiter, max_bad_fraction, what, warnings)
    _warn_of_an_orders_file(kind, names, warnings)
    return CsvProfile(
        kind=kind,
        encoding=encoding,
        delimiter=delimiter,
        decimal=typed.decimal,
        line_terminator=line_terminator,
        columns=_column_profiles(names, records.header_cells, typed),
        sample_rows=records.sample_rows,
        complete=complete,
        multiline=multiline,
        warnings=tuple(warnings),
        sep_hint=sep_hint,
        compression=compression,
        _rows=records.preview,
    )


# --------------------------------------------------------------------------------------------- the steps


def _decode_head(head: bytes, complete: bool, what: str) -> tuple[str, str]:
    """(encoding, text) of the head; refuses an empty head, a binary file and a head without a line."""
    read = len(head)
    utf16 = _UTF16_BOMS.get(head[:2])
    if utf16:  # Excel's "Unicode Text": UTF-16 with a BOM, tab-delimited
        text = _decode_utf16(head, utf16, complete, what)
        if not text.strip(" \t\r\n") and not complete and head[2:].strip(b" \t\r\n\x00"):
            raise ProfileError(f"{what}: no complete line in the first {read:,} bytes read")
        if not text.strip(" \t\r\n"):
            raise ProfileError(f"{what} is empty")
        return utf16, text
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ProfileError(f"{what} is empty")
    hint = _binary_hint(head)
    if hint:
        raise ProfileError(f"{what} is not CSV text ({hint})")
    if not complete:
        # The last line may be cut (also in the middle of a multi-byte character): drop it.
        head = head[: head.rfind(b"\n") + 1]
        if not head:
            raise ProfileError(f"{what}: no complete line in the first {read:,} bytes read")
    return _decode(head, complete, what)


def _line_terminator(text: str) -> str:
    first_nl = text.find("\n")
    return "\r\n" if first_nl > 0 and text[first_nl - 1] == "\r" else "\n"


def _sniff_dialect(text: str, what: str) -> tuple[str, str, bool]:
    """(delimiter, the text without Excel's "sep=" line, whether there was one)."""
    sep_hint = _SEP_HINT.match(text)
    if not sep_hint:
        return _sniff_delimiter(text), text, False
    # Excel's "sep=;" line names the delimiter and is no data (nor the header).
    delimiter = sep_hint.group(1)
    if delimiter not in DELIMITERS:
        raise ProfileError(
            f"{what}: its first line {sep_hint.group(0).strip()!r} names the delimiter {delimiter!r}; "
            "use a comma, semicolon, tab or pipe"
        )
    return delimiter, text[sep_hint.end() :], True


@dataclass(frozen=True)
class _Records:
    header_cells: list[str]  # the header's fields, without BOM and surrounding spaces
    good: list[list[str]]  # data rows with the header's field count, repeated headers left out
    odd: list[tuple[int, list[str]]]  # (record index, row) of the rows with another field count
    preview: tuple[tuple[str, ...], ...]  # the first PREVIEW_LIMIT records after the header, blanks left out

    @property
    def width(self) -> int:
        return len(self.header_cells)

    @property
    def sample_rows(self) -> int:
        return len(self.good) + len(self.odd)


def _split_records(rows: list[list[str]], complete: bool, what: str, read: int) -> _Records:
    """The header and the data rows; refuses a head without a data row."""
    # Blank lines are no rows (Spark skips them too, also before the header).
    top = next((i for i, r in enumerate(rows) if not _blank(r)), len(rows))
    header = rows[top] if top < len(rows) else []
    width = len(header)
    header_cells = [h.replace("\ufeff", "").strip() for h in header]
    # A header repeated further down (two exports concatenated) is no data: the job drops it too.
    is_header = _header_test(header_cells)
    good = [r for r in rows[top + 1 :] if len(r) == width and not is_header(r)]
    if width == 1:
        good = [r for r in good if r[0].strip()]
    # Rows with another field count, with their record index (= line - 1 unless a record spans lines).
    odd = [(i, r) for i, r in enumerate(rows) if i > top and len(r) != width and not _blank(r)]
    if not good and not odd:
        if complete:
            raise ProfileError(f"{what} has a header but no data rows")
        raise ProfileError(f"{what} has no complete data row in the first {read:,} bytes read")
    preview = tuple(tuple(r) for r in rows[top + 1 : top + 1 + PREVIEW_LIMIT] if not _blank(r))
    return _Records(header_cells, good, odd, preview)


def _normalise_header(sources: list[str], what: str) -> list[str]:
    """The snake_case name of each header field; refuses two fields that become one name."""
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
    return names


def _check_field_counts(
    records: _Records,
    text: str,
    delimiter: str,
    multiline: bool,
    sep_hint: bool,
    max_bad_fraction: float,
    what: str,
) -> list[str]:
    """The warnings so far: rows with another field count than the header's are tolerated up to
    ``max_bad_fraction`` (with a warning), refused above it."""
    if not records.odd:
        return []
    index, row = records.odd[0]
    line = (_line_of(text, delimiter, index) if multiline else index + 1) + (1 if sep_hint else 0)
    detail = (
        f"{len(records.odd):,} of {records.sample_rows:,} rows do not have the header's {records.width} "
        f"fields (split on {_DELIMITER_NAMES[delimiter]}), e.g. line {line:,} has {len(row)}"
    )
    if len(records.odd) > _allowed(records.sample_rows, max_bad_fraction):
        raise ProfileError(f"{what}: {detail}")
    return [detail]


@dataclass(frozen=True)
class _TypedColumns:
    dates: dict[str, _DateResult]  # the date columns with values
    formats: dict[str, DateFormat]  # their settled formats
    numbers: dict[str, NumberFormat]  # the number columns with values
    numeric: frozenset[str]  # every number column, also those empty throughout the head
    decimal: str  # the file's decimal mark


def _profile_typed_columns(
    kind: str,
    names: list[str],
    good: list[list[str]],
    delimiter: str,
    max_bad_fraction: float,
    what: str,
    warnings: list[str],
) -> _TypedColumns:
    """How each typed column of the contract is written (every other column is text, its values unread)."""
    counters = _typed_values(names, good)
    numeric = {n: v for n, v in counters.items() if contract_kind(n) in ("integer", "double")}
    # A column's own values name its decimal mark; a column that does not tell takes the file's.
    column_votes = {name: _decimal_votes(values) for name, values in numeric.items()}
    default_decimal = _file_decimal(column_votes, delimiter)

    dates: dict[str, _DateResult] = {}
    numbers: dict[str, NumberFormat] = {}
    for name, values in counters.items():
        total = sum(values.values())
        if not total:
            if name == "order_date" and kind == "orders":
                raise ProfileError(f"{what}: order_date is empty in every row")
            continue
        allowed = _allowed(total, max_bad_fraction)
        if contract_kind(name) == "date":
            dates[name] = _profile_dates(name, values, total, allowed, what, warnings)
            continue
        votes = column_votes[name]
        decimal = votes.most_common(1)[0][0] if votes else default_decimal
        numbers[name] = _profile_numbers(name, values, total, allowed, decimal, what, warnings)
    decimals = Counter(f.decimal for f in numbers.values())
    decimal = decimals.most_common(1)[0][0] if decimals else default_decimal
    formats = _settle_dates(dates, what, warnings)
    return _TypedColumns(dates, formats, numbers, frozenset(numeric), decimal)


def _typed_values(names: list[str], good: list[list[str]]) -> dict[str, Counter[str]]:
    """Each typed column's non-empty values (stripped) with their counts."""
    counters: dict[str, Counter[str]] = {}
    for i, name in enumerate(names):
        if contract_kind(name) == "string":
            continue
        counts: Counter[str] = Counter()
        for value, count in Counter(map(itemgetter(i), good)).items():
            stripped = value.strip()
            if stripped:
                counts[stripped] += count
        counters[name] = counts
    return counters


def _file_decimal(column_votes: dict[str, Counter[str]], delimiter: str) -> str:
    """The decimal mark of a number column whose values do not tell: "." in a comma-delimited file, else
    the one the file's number columns vote for."""
    file_votes = sum(column_votes.values(), Counter())
    return "." if delimiter == "," or not file_votes else file_votes.most_common(1)[0][0]


def _profile_dates(
    name: str, values: Counter[str], total: int, allowed: int, what: str, warnings: list[str]
) -> _DateResult:
    """The date column's format (or its tied candidates); refuses too many values that are no dates."""
    result = _date_result(values, total, allowed)
    if (result.fmt or result.tied) and result.failures <= allowed:
        if result.failures:
            warnings.append(
                f"{name}: {result.failures:,} of {total:,} values are not dates "
                f"(e.g. {result.example!r}); those lines will be quarantined"
            )
        return result
    detail = _date_result(values, total, total)  # no early exit: find the best format anyway
    raise ProfileError(f"{what}: {_not_dates(name, detail, values, total)}")


def _profile_numbers(
    name: str, values: Counter[str], total: int, allowed: int, decimal: str, what: str, warnings: list[str]
) -> NumberFormat:
    """The number column's format; refuses too many values that are no (whole) numbers."""
    column_kind = contract_kind(name)
    fmt, bad, example = _number_result(values, NumberFormat(decimal), column_kind)
    what_numbers = "whole numbers" if column_kind == "integer" else "numbers"
    if bad > allowed:
        raise ProfileError(
            f"{what}: {name}: {bad:,} of {total:,} values ({bad / total:.1%}) are not {what_numbers} "
            f"(e.g. {example!r}); {name} is a number column in the data contract, fix these values"
        )
    if bad:
        warnings.append(
            f"{name}: {bad:,} of {total:,} values are not {what_numbers} "
            f"(e.g. {example!r}); those lines will be quarantined"
        )
    return fmt


def _warn_of_an_orders_file(kind: str, names: list[str], warnings: list[str]) -> None:
    if kind == "returns" and "order_date" in names and not any(n.startswith("return") for n in names):
        warnings.append(
            "this returns file has an order date and no returned/return_* column: is it an orders file?"
        )


def _column_profiles(names: list[str], sources: list[str], typed: _TypedColumns) -> tuple[ColumnProfile, ...]:
    return tuple(
        ColumnProfile(
            name,
            source,
            contract_kind(name),
            typed.formats.get(name),
            has_time=name in typed.dates and typed.dates[name].has_time,
            number_format=typed.numbers.get(
                name, NumberFormat(typed.decimal) if name in typed.numeric else None
            ),
        )
        for name, source in zip(names, sources, strict=True)
    )


# --------------------------------------------------------------------------------------------- helpers


_SEP_HINT = re.compile(r'\ufeff?"?sep=(.)"?[ \t]*\r?\n', re.IGNORECASE)


def _header_columns(columns: tuple[ColumnProfile, ...]) -> tuple[ColumnProfile, ...]:
    picked = {c.name: c for c in (columns[0], *(c for c in columns if c.name == "order_id"), columns[-1])}
    return tuple(picked.values())


def _header_test(header_cells: list[str]):
    """The job's test for a repeated header (CsvProfile.header_columns) on a parsed row."""
    order_id = next((i for i, h in enumerate(header_cells) if snake_case(h) == "order_id"), 0)
    indexes = tuple(dict.fromkeys((0, order_id, len(header_cells) - 1)))
    return lambda row: all(row[i].strip() == header_cells[i] for i in indexes)


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


def _not_dates(name: str, result: _DateResult, values: Counter[str], total: int) -> str:
    if result.fmt is not None and result.failures < total:
        share = result.failures / total
        return (
            f"{name}: {result.failures:,} of {total:,} values ({share:.1%}) are not "
            f"{result.fmt.label} dates (e.g. {result.example!r}); fix them or use one format throughout"
        )
    example = result.example or next(iter(values))
    return (
        f"{name}: values are not dates in a supported format (e.g. {example!r}); use {_DATE_LABELS}, "
        "optionally with a time"
    )


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
