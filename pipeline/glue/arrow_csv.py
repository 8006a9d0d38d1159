"""Read a byte range of a CSV export with pyarrow, row for row as the Glue job's ``read_raw`` reads it with
Spark 3.5 (every column a string, ``_corrupt_record`` for a line with another field count, repeated
headers dropped), so that each Spark task can parse its own range without passing rows through the JVM.

Spark's CSV reader (``multiLine`` false) splits the file into lines first, as Hadoop's line reader does
(on ``\\n``, ``\\r\\n`` or ``\\r``, quotes or not), drops the lines that Java's ``String.trim``
empties and the header (the first of the others), then parses each line alone with univocity's parser.
Here pyarrow parses every line whose quoting it reads the same way (``_regular_pattern``), and the rare
others are parsed by ``univocity_fields``, a port of the univocity code paths Spark's options take, checked
against Spark (tests/glue/test_arrow_csv.py). One RE2 scan (``_pieces``) proves windows of the range
regular throughout (``_regular_text``): pyarrow reads their bytes as they are, and only the windows that
hold an irregular line are split into lines and classified one by one.

Runs inside Spark tasks: imports only pyarrow, the standard library and ``csv_profile``.
"""

from __future__ import annotations

import re

import csv_profile
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = ["CORRUPT", "SparkOnly", "byte_ranges", "read_range", "supports", "univocity_fields"]


class SparkOnly(ValueError):
    """A line that this parser cannot read as Spark does: read the file with Spark."""


CORRUPT = "_corrupt_record"
READ_STEP = 1024 * 1024  # bytes read past a range's end at a time, until its last line ends
_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "cp1252": "cp1252"}
# What Java's String.trim and univocity (Spark keeps its default, "skip bits as whitespace") take for
# whitespace: every char up to the space, NUL included.
_WHITESPACE = "".join(map(chr, range(33)))
_WS = r"\x00-\x20"
_QUOTE = '"'


def supports(profile: csv_profile.CsvProfile) -> bool:
    """Whether ``read_range`` reads this file as Spark does. Not: gzip (Spark decompresses the whole
    stream), quoted fields spanning lines (``multiLine``: Spark parses the file as one stream), UTF-16
    (read as one stream too), another encoding, a quote or delimiter this parser does not expect."""
    return (
        profile.compression is None
        and not profile.multiline
        and profile.encoding in _ENCODINGS
        and profile.spark_read_options()["multiLine"] == "false"
        and len(profile.delimiter) == 1
        and profile.delimiter not in f'"\r\n{_WHITESPACE.replace(chr(9), "")}'
    )


def byte_ranges(size: int, range_bytes: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` covering ``[0, size)`` in pieces of ``range_bytes`` (the last shorter)."""
    if range_bytes <= 0:
        raise ValueError(f"range_bytes must be positive, not {range_bytes}")
    return [(start, min(start + range_bytes, size)) for start in range(0, size, range_bytes)]


# --------------------------------------------------------------------------------------------- bytes


def _line_start(handle, position: int, size: int) -> int:
    """The first position >= ``position`` where a line starts (Hadoop's line ends: LF, CRLF, CR)."""
    if position <= 0:
        return 0
    offset = position - 1  # the byte before: a line starts after a line end
    while offset < size:
        handle.seek(offset)
        chunk = handle.read(READ_STEP + 1)
        found = re.search(rb"[\r\n]", chunk[:READ_STEP])
        if found:
            end = offset + found.start()
            crlf = chunk[found.start() : found.start() + 2] == b"\r\n"
            return min(end + (2 if crlf else 1), size)
        offset += READ_STEP
    return size


def _owned_bytes(source: str, start: int, end: int) -> tuple[bytes, int]:
    """(the bytes of the lines that start in [start, end), where they start in the file)."""
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(source if "://" in source else _local_uri(source))
    with fs.open_input_file(path) as handle:
        size = handle.size()
        first = _line_start(handle, start, size)
        stop = _line_start(handle, end, size) if end < size else size
        if stop <= first:
            return b"", first
        handle.seek(first)
        return handle.read(stop - first), first


def _local_uri(path: str) -> str:
    from pathlib import Path

    return Path(path).resolve().as_uri()


def _text(data: bytes, encoding: str) -> pa.Buffer:
    """UTF-8 bytes of the text as Spark decodes it (Java's windows-1252 and Python's put U+FFFD for the
    same five undefined bytes)."""
    if _ENCODINGS[encoding] == "cp1252":
        return pa.py_buffer(data.decode("cp1252", errors="replace").encode("utf-8"))
    whole = pa.py_buffer(data)
    try:  # one string over the bytes, no copy
        _one_string(whole).validate(full=True)
    except pa.ArrowInvalid:
        # Java replaces some malformed sequences (a surrogate's ED A0 80) with fewer U+FFFD than Python.
        raise SparkOnly("the text is not valid UTF-8") from None
    return whole


def _one_string(text: pa.Buffer) -> pa.StringArray:
    return pa.Array.from_buffers(
        pa.string(), 1, [None, pa.array([0, text.size], pa.int32()).buffers()[1], text]
    )


def _lines(text: pa.Buffer) -> pa.StringArray:
    """Every line of the text, without its line end (an empty last piece after the final line end dropped)."""
    whole = _one_string(text)
    lone_cr = pc.count_substring(whole, "\r")[0].as_py() != pc.count_substring(whole, "\r\n")[0].as_py()
    pieces = pc.split_pattern_regex(whole, r"\r\n|\r|\n") if lone_cr else pc.split_pattern(whole, "\n")
    lines = pieces.flatten()
    if not lone_cr and pc.count_substring(whole, "\r")[0].as_py():
        lines = pc.utf8_rtrim(lines, "\r")  # every CR ends a CRLF here
    if len(lines) and text.size and lines[len(lines) - 1].as_py() == "":
        lines = lines.slice(0, len(lines) - 1)
    return lines


# --------------------------------------------------------------------------------------------- lines


def _regular_pattern(delimiter: str) -> str:
    """A line whose every field pyarrow splits and unquotes as univocity does, after trimming: an unquoted
    field whose first non-blank char is no quote, or a quoted one right between delimiters whose content
    neither starts nor ends with whitespace ("" is an escaped quote)."""
    d = re.escape(delimiter)
    unquoted = rf'[{_WS}]*(?:[^"{d}{_WS}][^{d}]*)?'
    edge = rf'(?:[^"{_WS}]|"")'
    quoted = rf'"(?:{edge}(?:(?:[^"]|"")*{edge})?)?"'
    field = rf"(?:{quoted}|{unquoted})"
    return rf"^{field}(?:{d}{field})*$"


def _classify(lines: pa.StringArray, delimiter: str) -> tuple[pa.BooleanArray, pa.BooleanArray]:
    """(blank: Spark skips the line, fast: pyarrow parses it as Spark does)."""
    blank = pc.match_substring_regex(lines, rf"^[{_WS}]*$")
    quoted = pc.match_substring(lines, _QUOTE)
    nul = pc.match_substring(lines, "\x00")
    if pc.any(pc.and_(nul, quoted)).as_py():
        # Inside quotes univocity keeps a NUL or drops it depending on where its 128-char input buffer ends.
        raise SparkOnly("a line has a NUL character and a quote")
    odd = pc.or_(nul, pc.starts_with(lines, "\ufeff"))  # a BOM may be dropped at a line's start
    if pc.any(quoted).as_py():
        irregular = pc.and_(quoted, pc.invert(pc.match_substring_regex(lines, _regular_pattern(delimiter))))
        odd = pc.or_(odd, irregular)
    fast = pc.and_(pc.invert(blank), pc.invert(odd))
    return blank, fast


def _parse_fast(lines: pa.StringArray, width: int, delimiter: str) -> tuple[pa.Table, list[int]]:
    """pyarrow's parse of these lines (none blank, all regular): the rows with ``width`` fields, trimmed,
    empty as null; and the indices of the lines with another field count."""
    if not len(lines):
        return _empty(width), []
    # Each line with its LF, in one contiguous buffer (a fresh array: its offsets start at 0).
    terminated = pc.binary_join_element_wise(lines, pa.scalar("", pa.string()), "\n")
    size = pc.sum(pc.binary_length(terminated)).as_py()
    table, wrong = _read_csv(terminated.buffers()[2].slice(0, size), width, delimiter)
    return _trimmed(table), [number for number, _ in wrong]


def _empty(width: int) -> pa.Table:
    return pa.table({f"f{i}": pa.array([], pa.string()) for i in range(width)})


def _read_csv(data: pa.Buffer, width: int, delimiter: str) -> tuple[pa.Table, list[tuple[int, str]]]:
    """pyarrow's parse of regular, non-blank lines (empty lines skipped): the rows with ``width`` fields,
    untrimmed, empty as null; and (row index, text) of each row with another field count."""
    names = [f"f{i}" for i in range(width)]
    wrong: list[tuple[int, str]] = []

    def other_field_count(row) -> str:
        wrong.append((row.number - 1, row.text))  # numbers count the rows pyarrow sees, empty lines not
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 30),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char=_QUOTE,
            double_quote=True,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=True,
            invalid_row_handler=other_field_count,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )
    return table, wrong


def _trimmed(table: pa.Table) -> pa.Table:
    """Each value without leading and trailing whitespace, as univocity gives it; empty then null."""
    columns = []
    for column in table.columns:
        trimmed = pc.ascii_trim(column, _WHITESPACE)  # all ASCII: no UTF-8 sequence is cut
        if pc.sum(pc.binary_length(trimmed)).as_py() != pc.sum(pc.binary_length(column)).as_py():
            column = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


# --------------------------------------------------------------------------------------------- ranges


def _regular_text(delimiter: str) -> str:
    """RE2 pattern that a whole text matches when every line in it is empty (pyarrow skips it, as Spark
    does) or a ``_regular_line``: pyarrow then reads the text as Spark does."""
    line = _regular_line(delimiter)
    return rf"\A(?:(?:{line})?\r?\n)*(?:{line})?\z"


def _regular_line(delimiter: str) -> str:
    """A line that is regular in ``_regular_pattern``'s sense and not blank, with no NUL, BOM or CR (lines
    the line-by-line path reads otherwise)."""
    d = re.escape(delimiter)
    odd = r"\x00\r\n\x{feff}"
    space = "[" + "".join(rf"\x{c:02x}" for c in range(1, 33) if chr(c) not in ("\r", "\n", delimiter)) + "]"
    solid = rf'[^"{d}{_WS}\x{{feff}}]'  # an unquoted value's first char that is no space
    edge = rf'(?:[^"{_WS}\x{{feff}}]|"")'
    quoted = rf'"(?:{edge}(?:(?:[^"{odd}]|"")*{edge})?)?"'
    filled = rf"(?:{quoted}|{space}*{solid}[^{d}{odd}]*)"
    field = rf"(?:{filled}|{space}*)"
    line = rf"(?:{space}*{d})*{filled}(?:{d}{field})*"  # not blank: some value has a non-space char
    if delimiter > " ":
        line = rf"(?:{line}|{space}*(?:{d}{field})+)"  # ... or it has a delimiter that is no space
    return line


_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|\Z)")
_LF = re.compile(rb"\n")
WINDOW = 16 * 1024  # bytes of whole lines checked at a time: an irregular line sends its window line by line


def _after_header(text: pa.Buffer) -> int:
    """Where the data starts in a text at a file's start: after the first line that is not blank."""
    data = memoryview(text)
    position = 0
    while position < len(data):
        line = _LINE.match(data, position)
        position = line.end()
        if bytes(line.group()).strip(_WHITESPACE.encode()):
            break
    return position


def _pieces(text: pa.Buffer, delimiter: str) -> list[tuple[bool, pa.Buffer]]:
    """The text cut into runs of whole lines, in order, each (regular: ``_regular_text`` holds; or not: the
    line-by-line path reads it). One RE2 pass checks windows of about ``WINDOW`` bytes."""
    data = memoryview(text)
    cuts = [0]
    while cuts[-1] < len(data):
        lf = _LF.search(data, cuts[-1] + WINDOW - 1)
        cuts.append(lf.end() if lf else len(data))
    offsets = pa.array(cuts, pa.int32()).buffers()[1]
    windows = pa.Array.from_buffers(pa.string(), len(cuts) - 1, [None, offsets, text])
    regular = pc.match_substring_regex(windows, _regular_text(delimiter)).to_pylist()
    pieces: list[tuple[bool, pa.Buffer]] = []
    run = 0
    for i in range(1, len(regular) + 1):
        if i == len(regular) or regular[i] != regular[run]:
            pieces.append((regular[run], text.slice(cuts[run], cuts[i] - cuts[run])))
            run = i
    return pieces


def _read_regular(text: pa.Buffer, profile: csv_profile.CsvProfile) -> pa.Table:
    """The rows of regular lines, read by pyarrow on the text as it is."""
    width = len(profile.columns)
    table, wrong = _read_csv(text, width, profile.delimiter)
    table = _trimmed(table)
    names = [*profile.names, CORRUPT]
    table = pa.table([*table.columns, pa.nulls(table.num_rows, pa.string())], names=names)
    if wrong:
        slow = pa.table(_parse_slow([line for _, line in wrong], width, profile.delimiter), names=names)
        pieces, taken = [], 0
        for k, (row, _) in enumerate(wrong):  # row k of slow goes to row ``row`` of the text
            pieces += [table.slice(taken, row - k - taken), slow.slice(k, 1)]
            taken = row - k
        table = pa.concat_tables([*pieces, table.slice(taken)])
    return table


def read_range(source, start: int, end: int, profile: csv_profile.CsvProfile) -> pa.Table:
    """The rows of the lines that start in ``[start, end)`` of ``source`` (a local path or ``s3://``), as
    ``read_raw`` gives them: ``profile.names`` and ``_corrupt_record``, all strings."""
    if not supports(profile):
        raise ValueError("arrow_csv does not read this file as Spark does (see supports)")
    data, first = _owned_bytes(str(source), start, end)
    text = _text(data, profile.encoding)
    if first == 0:  # Spark takes the file's first line that is not blank for the header
        text = text.slice(_after_header(text))
    names = [*profile.names, CORRUPT]
    tables = [
        _read_regular(piece, profile) if regular else _read_lines(piece, profile)
        for regular, piece in _pieces(text, profile.delimiter)
    ]
    table = pa.concat_tables(tables) if tables else pa.table({n: pa.array([], pa.string()) for n in names})
    repeated = _repeated_header(table, profile)
    return table.filter(pc.invert(repeated)) if pc.any(repeated).as_py() else table  # a filter copies


def _read_lines(text: pa.Buffer, profile: csv_profile.CsvProfile) -> pa.Table:
    """The rows of any lines, split one by one: pyarrow parses the regular ones, univocity's port the rest."""
    lines = _lines(text)
    blank, fast = _classify(lines, profile.delimiter)
    width = len(profile.columns)
    fast_index = pc.indices_nonzero(fast)
    fast_table, wrong = _parse_fast(lines.filter(fast), width, profile.delimiter)
    wrong_set = set(wrong)
    fast_rows = fast_index.filter(pa.array([i not in wrong_set for i in range(len(fast_index))], pa.bool_()))
    slow_index = pc.indices_nonzero(pc.and_(pc.invert(blank), pc.invert(fast))).to_pylist()
    slow_index = sorted(slow_index + pc.take(fast_index, pa.array(wrong, pa.int64())).to_pylist())
    slow = _parse_slow([lines[i].as_py() for i in slow_index], width, profile.delimiter)
    names = [*profile.names, CORRUPT]
    fast_columns = [*fast_table.columns, pa.nulls(len(fast_rows), pa.string())]
    table = pa.concat_tables([pa.table(fast_columns, names=names), pa.table(slow, names=names)])
    order = pc.sort_indices(pa.concat_arrays([fast_rows.cast(pa.int64()), pa.array(slow_index, pa.int64())]))
    return table.take(order)


def _parse_slow(lines: list[str], width: int, delimiter: str) -> list[pa.Array]:
    columns: list[list[str | None]] = [[] for _ in range(width + 1)]
    for line in lines:
        values, content = univocity_fields(line, delimiter)
        for i in range(width):
            columns[i].append(values[i] or None if i < len(values) else None)
        columns[width].append(None if len(values) == width else content)
    return [pa.array(c, pa.string()) for c in columns]


def _repeated_header(table: pa.Table, profile: csv_profile.CsvProfile) -> pa.BooleanArray:
    """read_raw's filter: the header columns hold their header text (a null where the header is empty)."""
    same = None
    for column in profile.header_columns:
        values = table.column(column.name)
        match = (
            pc.is_null(values) if not column.source else pc.fill_null(pc.equal(values, column.source), False)
        )
        same = match if same is None else pc.and_(same, match)
    return same


# --------------------------------------------------------------------------------------------- univocity


class _End(Exception):
    """The end of the line (univocity's EOFException)."""


class _Univocity:
    """univocity-parsers 2.9.1 ``CsvParser.parseLine`` on one line, with the settings Spark 3.5 gives it
    here: quote and escape ``"``, leading and trailing whitespace ignored (outside quotes), unescaped quotes
    STOP_AT_DELIMITER, no length limit (so the parser's fast paths never apply), empty values "" (Spark then
    reads "" as null). Mirrors the Java methods of the same names; ``ch`` and ``prev`` keep the Java
    semantics of ``'\\0'`` as "no char"."""

    def __init__(self, line: str, delimiter: str) -> None:
        self.text, self.d = line, delimiter
        self.i = 0
        self.ch = self.prev = "\0"
        self.unescaped = False
        self.values: list[str] = []
        self.chars: list[str] = []
        self.trim = False

    # input
    def next_char(self) -> str:
        if self.i >= len(self.text):
            raise _End
        c = self.text[self.i]
        self.i += 1
        return c

    def skip_whitespace(self, c: str) -> str:
        while c <= " " and c != self.d and c != _QUOTE and c != "\n":
            c = self.next_char()
        return c

    def append_until(self, c: str, *stops: str) -> str:
        while c not in stops:
            self.chars.append(c)
            c = self.next_char()
        return c

    # output
    def value_parsed(self) -> None:
        chars = self.chars
        if self.trim:
            while chars and chars[-1] <= " ":
                chars.pop()
        self.values.append("".join(chars))
        self.chars = []

    def empty_parsed(self) -> None:
        self.values.append("")

    # parser
    def parse(self) -> list[str]:
        try:
            self.ch = self.next_char()
            self.parse_record()
        except _End:
            self.handle_end()
        return self.values

    def parse_record(self) -> None:
        if self.ch <= " ":
            self.ch = self.skip_whitespace(self.ch)
        while self.ch != "\n":
            if self.ch <= " ":
                self.ch = self.skip_whitespace(self.ch)
            if self.ch == self.d or self.ch == "\n":
                self.empty_parsed()
            else:
                self.unescaped = False
                self.prev = "\0"
                if self.ch == _QUOTE:
                    self.trim = False
                    self.parse_quoted_value()
                    self.value_parsed()
                else:
                    self.trim = True
                    self.ch = self.append_until(self.ch, self.d, "\n")
                    self.value_parsed()
            if self.ch != "\n":
                self.ch = self.next_char()
                if self.ch == "\n":
                    self.empty_parsed()

    def parse_quoted_value(self) -> None:
        if self.prev != "\0":  # STOP_AT_DELIMITER: the rest of the field, quotes and all
            self.chars.insert(0, _QUOTE)
            self.ch = self.next_char()
            self.trim = True
            self.ch = self.append_until(self.ch, self.d, "\n")
            return
        self.ch = self.next_char()
        while True:
            if self.prev == _QUOTE and (self.ch <= " " or self.ch == self.d or self.ch == "\n"):
                break
            if self.ch != _QUOTE:
                if self.prev == _QUOTE:  # an unescaped quote
                    self.unescaped = True
                    self.chars += [_QUOTE, self.ch]
                    self.prev = self.ch
                    self.parse_quoted_value()
                    return
                self.ch = self.append_until(self.ch, _QUOTE)
                self.prev = self.ch
                self.ch = self.next_char()
            else:
                if self.prev == _QUOTE:  # a doubled quote
                    self.chars.append(_QUOTE)
                    self.ch = "\0"
                self.prev = self.ch
                self.ch = self.next_char()
                if self.unescaped and (self.ch == self.d or self.ch == "\n"):
                    return
        if self.ch != self.d and self.ch != "\n" and self.ch <= " ":
            spaces = []
            while True:
                spaces.append(self.ch)
                self.ch = self.next_char()
                if self.ch == "\n":
                    return
                if not self.ch <= " " or self.ch == self.d:
                    break
            if self.ch != self.d:  # more after the quoted value: it was no quoted value after all
                self.chars += [_QUOTE, *spaces, self.ch]
                self.prev = self.ch
                self.parse_quoted_value()

    def handle_end(self) -> None:
        """``consumeValueOnEOF`` and ``handleEOF``: a non-blank line always ends with one more value."""
        if self.ch == _QUOTE and self.prev != _QUOTE and not self.unescaped:
            self.chars.append(_QUOTE)  # a lone opening quote at the very end is kept
        self.value_parsed()


def univocity_fields(line: str, delimiter: str) -> tuple[list[str], str]:
    """(the fields univocity gives Spark for one line, "" for an empty one; the line's text as Spark's
    ``_corrupt_record`` gives it)."""
    return _Univocity(line, delimiter).parse(), line
