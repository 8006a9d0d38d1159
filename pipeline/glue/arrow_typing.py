"""The Glue job's typing (``ecommerce_join_data.type_columns``) with pyarrow, for the Spark tasks that parse,
type, join and write a byte range of the file themselves (issue #11): the same columns, types and values,
the same reject reasons, raw lines and repair flags, line for line.

Spark 3.5's semantics reproduced here (tests/glue/test_arrow_typing.py compares with Spark):

- ``to_date(s, pattern)`` (timeParserPolicy CORRECTED): the whole value must fit; ``M`` and ``d`` take 1 to 19
  digits (leading zeros allowed: ``011/08/2016``), ``yyyy`` exactly 4 unsigned digits (year 0000 included);
  an impossible date (2/30/2016, month 13) is null.
- ``cast(s as double)`` is Java's ``Double.valueOf``: characters up to U+0020 trimmed, a leading ``+``,
  ``.5``, ``5.``, an exponent, a ``d``/``f`` suffix, ``NaN``/``Infinity`` with a sign; then Spark's own
  literals, any case, unsigned ``nan`` and ``[+-]inf(inity)``.
- An integer column takes whole numbers only: ``x == floor(x)`` with Spark's floor to a long (saturating),
  so NaN, the infinities and beyond ±2^63 are refused, and 2^63 itself becomes 2^63 - 1 as Spark's cast.
- Spark's regexes are Java's: ``$`` also matches before a final line terminator (translated for RE2).

Values Spark reads but this module does not (a signed year in a date: ``+20160`` or ``-2016``; a Java hex
float: ``0x1p3``) raise ``SparkOnly``; a date pattern other than ``yyyy``/``M``/``d`` makes ``supports``
false. Either way the job types that file with Spark.

Imports only pyarrow, the standard library and csv_profile: it runs in the Spark tasks.
"""

from __future__ import annotations

import datetime
import re

import csv_profile
import pyarrow as pa
import pyarrow.compute as pc

# The bookkeeping columns, named as ecommerce_join_data names them.
CORRUPT = "_corrupt_record"
REASON = "_reject_reason"
RAW_LINE = "_raw_line"
REPAIR = "_repair "
KIND_LABELS = {"integer": "a whole number", "double": "a number"}
ARROW_TYPES = {"date": pa.date32(), "integer": pa.int64(), "double": pa.float64()}

_LONG_LIMIT = 2.0**63  # Spark's floor and its cast to bigint saturate at the long range
_LONG_MAX = 2**63 - 1
_JAVA_TERMINATOR = r"(?:\r\n|[\n\r\x{85}\x{2028}\x{2029}])?"  # Java's `$` may stand before one of these
_TRIM = r"[\x00-\x20]*"  # Java's String.trim: every character up to U+0020
_DECIMAL = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_PLAIN_DOUBLE = rf"^{_DECIMAL}$"  # what Arrow's cast reads exactly as Java does
_JAVA_DOUBLE = rf"^{_TRIM}{_DECIMAL}[fFdD]?{_TRIM}$"
_JAVA_HEX = rf"^{_TRIM}[+-]?0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][+-]?[0-9]+[fFdD]?{_TRIM}$"
_NAN = rf"^{_TRIM}(?:[+-]?NaN|[Nn][Aa][Nn]){_TRIM}$"
_INFINITY = r"(?:Infinity|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?)"
_POSITIVE_INFINITY = rf"^{_TRIM}\+?{_INFINITY}{_TRIM}$"
_NEGATIVE_INFINITY = rf"^{_TRIM}-{_INFINITY}{_TRIM}$"


def _memo(function):
    """``functools.cache`` as a plain function: this module is pickled by value into the Spark tasks, where
    a cache wrapper would be pickled by name (which the local AWS's private copy of the module has not)."""
    saved: dict = {}

    def memo(*args):
        if args not in saved:
            saved[args] = function(*args)
        return saved[args]

    return memo


class SparkOnly(ValueError):
    """A value that Spark types and this module does not: the job types the file with Spark."""


def supports(profile: csv_profile.CsvProfile) -> bool:
    """Whether every date column's pattern is one this module reads (``yyyy``, ``M``, ``d`` and literals)."""
    try:
        for column in profile.columns:
            if column.kind == "date":
                _date_regex(_date_format(column).spark_pattern)
    except SparkOnly:
        return False
    return True


def type_table(raw: pa.Table, profile: csv_profile.CsvProfile, required: tuple[str, ...] = ()) -> pa.Table:
    """``type_columns`` on a table of what ``read_raw`` yields: one string column per ``profile.names`` (null
    for an empty field) and ``_corrupt_record``. Raises SparkOnly for a value it cannot type as Spark does."""
    size = raw.num_rows
    corrupt = _array(raw.column(CORRUPT))
    typed: dict[str, pa.Array] = {}
    repairs: dict[str, pa.Array] = {}
    problems = [(pc.is_valid(corrupt), None)]  # (condition, column whose value the message shows)
    for column in profile.columns:
        source = _array(raw.column(column.name))
        if column.kind == "date":
            parsed, column_repairs = _parse_date(source, column)
        elif column.kind in ("integer", "double"):
            parsed, column_repairs = _parse_number(source, column, profile)
        else:
            parsed, column_repairs = source, {}
        typed[column.name] = parsed
        for what, condition in column_repairs.items():
            repairs[f"{REPAIR}{column.name}: {what}"] = _true_or_null(condition)
        if column.kind != "string":
            problems.append((pc.and_(pc.is_valid(source), pc.is_null(parsed)), column))
        if column.name in required:
            problems.append((pc.is_null(source), column.name))
    rejected = problems[0][0]
    for condition, _ in problems[1:]:
        rejected = pc.or_(rejected, condition)
    reason, line = _rejections(raw, profile, rejected, problems, size)
    return pa.table({**typed, REASON: reason, RAW_LINE: line, **repairs})


# --------------------------------------------------------------------------------------------- rejections


def _rejections(raw, profile, rejected, problems, size) -> tuple[pa.Array, pa.Array]:
    """(``_reject_reason``, ``_raw_line``), built only for the rejected lines (few) and null elsewhere."""
    none = pa.nulls(size, pa.string())
    if not pc.any(rejected).as_py():
        return none, none
    rows = raw.filter(rejected)
    messages = []
    for condition, about in problems:
        holds = pc.filter(condition, rejected)
        if about is None:
            message = pa.scalar(f"wrong number of fields, expected {len(profile.columns)}")
        elif isinstance(about, str):
            message = pa.scalar(f"{about}: empty")
        else:
            label = _date_format(about).label if about.kind == "date" else KIND_LABELS[about.kind]
            value = _array(rows.column(about.name))
            message = pc.binary_join_element_wise(f"{about.name}: '", value, f"' is not {label}", "")
        messages.append(pc.if_else(holds, message, pa.scalar(None, pa.string())))
    reason = pc.binary_join_element_wise(*messages, "; ", null_handling="skip")
    fields = [_array(rows.column(name)) for name in profile.names]
    rebuilt = pc.binary_join_element_wise(
        *fields, profile.delimiter, null_handling="replace", null_replacement=""
    )
    line = pc.coalesce(_array(rows.column(CORRUPT)), rebuilt)
    return pc.replace_with_mask(none, rejected, reason), pc.replace_with_mask(none, rejected, line)


# --------------------------------------------------------------------------------------------- dates


def _date_format(column: csv_profile.ColumnProfile) -> csv_profile.DateFormat:
    return column.date_format or csv_profile.DATE_FORMATS[0]


def _parse_date(source: pa.Array, column: csv_profile.ColumnProfile) -> tuple[pa.Array, dict[str, pa.Array]]:
    """As ``_parse_date`` of the job: to_date with the column's pattern, or on the date part of a value
    with a time (DATE_TIME_REGEX). A file holds few distinct dates: each is parsed once."""
    encoded = pc.dictionary_encode(source)
    parsed, repairs = _parse_distinct_dates(encoded.dictionary, column)
    return pc.take(parsed, encoded.indices), {
        what: pc.take(c, encoded.indices) for what, c in repairs.items()
    }


def _parse_distinct_dates(
    source: pa.Array, column: csv_profile.ColumnProfile
) -> tuple[pa.Array, dict[str, pa.Array]]:
    pattern = _date_format(column).spark_pattern
    if column.has_time:
        parsed = _to_date(_date_part(source), pattern)
        return parsed, {"time dropped": pc.and_(pc.is_valid(parsed), pc.match_substring(source, ":"))}
    plain = _to_date(source, pattern)
    retry = pc.and_(pc.is_null(plain), pc.is_valid(source))  # the regex only for what the pattern refuses
    if not pc.any(retry).as_py():
        return plain, {"time dropped": pa.nulls(len(source), pa.bool_())}
    date_part = _to_date(_date_part(source.filter(retry)), pattern)
    dropped = pc.replace_with_mask(pa.repeat(False, len(source)), retry, pc.is_valid(date_part))
    return pc.replace_with_mask(plain, retry, date_part), {"time dropped": dropped}


def _date_part(source: pa.Array) -> pa.Array:
    """regexp_extract(source, DATE_TIME_REGEX, 1), null where Spark's gives ''."""
    regex = _java_regex(csv_profile.DATE_TIME_REGEX).replace("^(", "^(?P<date>", 1)
    return pc.struct_field(pc.extract_regex(source, regex), [0])


def _to_date(text: pa.Array, pattern: str) -> pa.Array:
    """Spark's to_date(text, pattern): null where the whole text does not fit or is no real date."""
    regex, signed = _date_regex(pattern)
    parts = pc.extract_regex(text, regex)
    fits = pc.is_valid(parts)
    if not pc.all(fits).as_py():
        unfit = text.filter(pc.invert(fits))
        if pc.any(pc.match_substring_regex(unfit, signed)).as_py():
            raise SparkOnly(f"a date with a signed year ({pattern}): Spark reads it, this module does not")
    year, month, day = (
        pc.cast(pc.struct_field(parts, [name]), pa.int32()) for name in ("year", "month", "day")
    )
    month_index = pc.if_else(
        pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12)),
        pc.add(pc.multiply(year, 12), pc.subtract(month, 1)),
        None,
    )
    first_days, lengths = _calendar()
    first = pc.take(first_days, month_index)
    real = pc.and_(pc.greater_equal(day, 1), pc.less_equal(day, pc.take(lengths, month_index)))
    days = pc.if_else(real, pc.subtract(pc.add(first, day), 1), None)
    return days.cast(pa.int32()).cast(pa.date32())


@_memo
def _date_regex(pattern: str) -> tuple[str, str]:
    """(an RE2 regex with groups year, month, day that fits what Spark's pattern takes; one that fits the
    same with a signed year, which Spark also takes)."""
    parts, signed = [], []
    for run in re.finditer(r"([A-Za-z])\1*|[^A-Za-z]", pattern):
        letters = run.group(0)
        if letters == "yyyy":
            parts.append(r"(?P<year>[0-9]{4})")
            signed.append(r"[+-][0-9]{4,}")
        elif letters in ("M", "d"):
            # 1 to 19 digits (Java's parser stops at 19); any value with 3 significant digits is out of range.
            name = "month" if letters == "M" else "day"
            parts.append(rf"0{{0,17}}(?P<{name}>[0-9]{{1,2}})")
            signed.append(r"[0-9]+")
        elif letters[0].isalpha():
            raise SparkOnly(f"the date pattern {pattern!r} ({letters!r}) is not translated for pyarrow")
        else:
            parts.append(re.escape(letters))
            signed.append(re.escape(letters))
    regex = "^" + "".join(parts) + "$"
    if any(f"?P<{name}>" not in regex for name in ("year", "month", "day")):
        raise SparkOnly(f"the date pattern {pattern!r} lacks a year, month or day")
    return regex, "^" + "".join(signed) + "$"


@_memo
def _calendar() -> tuple[pa.Array, pa.Array]:
    """(the epoch day of the first of each month of years 0000–9999 by index year * 12 + month - 1, its
    length in days): a proleptic Gregorian table, as Spark's dates."""
    epoch = datetime.date(1970, 1, 1).toordinal()
    first, lengths = [], []
    for year in range(10000):
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        days_before = _days_before_year(year) - epoch
        for length in (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31):
            first.append(days_before)
            lengths.append(length)
            days_before += length
    return pa.array(first, pa.int32()), pa.array(lengths, pa.int32())


def _days_before_year(year: int) -> int:
    """The proleptic Gregorian ordinal of 1 January of ``year`` minus one (year 0 is 1 BC, a leap year)."""
    y = year - 1
    return y * 365 + y // 4 - y // 100 + y // 400 + 1


# --------------------------------------------------------------------------------------------- numbers


def _parse_number(
    source: pa.Array, column: csv_profile.ColumnProfile, profile: csv_profile.CsvProfile
) -> tuple[pa.Array, dict[str, pa.Array]]:
    """As ``_parse_number`` of the job: Spark's cast first; currency, grouping and accounting negatives
    (NumberFormat.regex) only for values the cast does not take."""
    fmt = column.number_format or csv_profile.NumberFormat(profile.decimal)
    if fmt.decimal == ",":
        no_point = pc.invert(pc.match_substring(source, "."))
        plain = _java_double(pc.if_else(no_point, pc.replace_substring(source, ",", "."), None))
    else:
        plain = _java_double(source)
    retry = pc.and_(pc.is_null(plain), pc.is_valid(source))
    number = plain
    if pc.any(retry).as_py():
        written = source.filter(retry)
        cleaned = pc.replace_substring_regex(
            pc.replace_substring(written, "(", "-"), _java_regex(fmt.strip_regex), ""
        )
        if fmt.decimal == ",":
            cleaned = pc.replace_substring(cleaned, ",", ".")
        accepted = pc.match_substring_regex(written, _java_regex(fmt.regex))
        number = pc.replace_with_mask(plain, retry, _java_double(pc.if_else(accepted, cleaned, None)))
    if column.kind == "integer":
        number = _whole(number)
    repaired = pc.and_(pc.is_null(plain), pc.is_valid(number))
    no_repair = pa.nulls(len(source), pa.bool_())
    if not pc.any(repaired).as_py():
        repairs = dict.fromkeys(("currency stripped", "thousands separators removed", "accounting negative"))
        return number, {what: no_repair for what in repairs}
    return number, {
        "currency stripped": pc.and_(repaired, pc.match_substring_regex(source, csv_profile.CURRENCY_REGEX)),
        "thousands separators removed": pc.and_(repaired, pc.match_substring(source, fmt.grouping)),
        "accounting negative": pc.and_(repaired, pc.starts_with(source, "(")),
    }


def _java_double(text: pa.Array) -> pa.Array:
    """Spark's cast(text as double): Java's Double.valueOf, then Spark's own literals; null otherwise."""
    try:  # the usual column: every value plain (Arrow's cast takes a subset of Java's syntax, and NaN/inf)
        number = pc.cast(text, pa.float64())
    except pa.ArrowInvalid:
        return _java_double_checked(text)
    # Arrow takes some spellings of NaN and infinity that Java and Spark do not (+nan, nan(1)).
    named = pc.fill_null(pc.invert(pc.is_finite(number)), False)
    if not pc.any(named).as_py():
        return number
    return pc.replace_with_mask(number, named, _java_double_checked(text.filter(named)))


def _java_double_checked(text: pa.Array) -> pa.Array:
    """_java_double for a column with values Arrow's cast refuses: each value's syntax checked first."""
    plain = pc.match_substring_regex(text, _PLAIN_DOUBLE)
    number = pc.cast(pc.if_else(plain, text, None), pa.float64())
    odd = pc.and_(pc.invert(plain), pc.is_valid(text))
    if not pc.any(odd).as_py():
        return number
    rest = text.filter(odd)
    if pc.any(pc.match_substring_regex(rest, _JAVA_HEX)).as_py():
        raise SparkOnly("a hexadecimal floating-point number: Spark reads it, this module does not")
    decimal = pc.replace_substring_regex(rest, rf"^{_TRIM}|[fFdD]?{_TRIM}$", "")
    literal = pc.case_when(
        pc.make_struct(
            pc.match_substring_regex(rest, _JAVA_DOUBLE),
            pc.match_substring_regex(rest, _NAN),
            pc.match_substring_regex(rest, _POSITIVE_INFINITY),
            pc.match_substring_regex(rest, _NEGATIVE_INFINITY),
        ),
        decimal,
        "nan",
        "inf",
        "-inf",
    )
    return pc.replace_with_mask(number, odd, pc.cast(literal, pa.float64()))


def _whole(number: pa.Array) -> pa.Array:
    """Spark's ``when(x == floor(x), cast(x as bigint))``: floor and cast saturate at the long range."""
    whole = pc.equal(number, pc.floor(number))
    in_range = pc.and_(whole, pc.and_(pc.greater_equal(number, -_LONG_LIMIT), pc.less(number, _LONG_LIMIT)))
    integers = pc.cast(pc.if_else(in_range, number, None), pa.int64())
    return pc.if_else(pc.equal(number, _LONG_LIMIT), pa.scalar(_LONG_MAX, pa.int64()), integers)


# --------------------------------------------------------------------------------------------- helpers


@_memo
def _java_regex(regex: str) -> str:
    """A Java regex of csv_profile for RE2: ``\\uXXXX`` escapes, and ``$`` (or ``\\Z``), which in Java also
    matches before a final line terminator."""
    out, in_class, escaped = [], False, False
    for char in regex:
        if escaped:
            out.append(_JAVA_TERMINATOR + r"\z" if char == "Z" else "\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "$":
            out.append(_JAVA_TERMINATOR + "$")
        else:
            out.append(char)
    return re.sub(r"\\u([0-9a-fA-F]{4})", r"\\x{\1}", "".join(out))


def _array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array (a table from one record batch has one chunk: no copy)."""
    if isinstance(column, pa.Array):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _true_or_null(condition: pa.Array) -> pa.Array:
    """A repair flag as Spark's ``when(condition, true)``: true, else null."""
    return pc.if_else(condition, pa.scalar(True), pa.scalar(None, pa.bool_()))
