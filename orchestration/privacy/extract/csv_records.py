"""The records of a delivered CSV file: lines decoded one by one, the separator found on the first ones.

Read a block of lines at a time, never the whole file: a line over the limit is refused as soon
as it is read, so a file without line breaks costs the line limit, not its size. Binary data, a
quote that never closes and content beyond the column limit are refused with their own messages.
Apart from the workbook reading (xlsx_records.py): the two share nothing but the records they
yield (records.py) and the errors (read_errors.py).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator
from typing import BinaryIO

from orchestration.ingest.limits import ReadLimits
from orchestration.ingest.read_errors import ExtractReadError, line_too_long, too_many_columns
from orchestration.privacy.extract.records import HEADER_SEARCH_ROWS, Record
from orchestration.lib.contract import canonical_column

SEPARATORS = (";", ",", "\t")
LOOK_AHEAD_LINES = 1000          # a CSV's first lines, where its separator is looked for
BINARY_SAMPLE_CHARS = 4096       # the start of a text file that is looked at for binary data
LINE_BLOCK_BYTES = 1 << 16       # a CSV is read this much at a time
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]")   # below 32 but tab, CR, LF; U+FFFD


class _LineTooLong(ExtractReadError):
    """RAD_FOR_LANG, with the start of the line (a file without line breaks may be no text at all)."""

    def __init__(self, error: ExtractReadError, beginning: str):
        super().__init__(error.code, error.message)
        self.beginning = beginning


class CsvRecords:
    """The records of a CSV file, read line by line: never the whole file, never every record.

    Decoded as UTF-8 (with or without BOM), UTF-16 with BOM, Windows-1252, or each line in
    whichever of UTF-8 and Windows-1252 it is in; `encoding` says which, once every line is read.
    The separator is detected on the first lines, before the records are iterated."""

    def __init__(self, handle: BinaryIO, limits: ReadLimits):
        self._limits = limits
        self._base = "utf-8"
        self._utf8_seen = self._cp1252_seen = False
        csv.field_size_limit(max(csv.field_size_limit(), limits.max_line_chars + 2))   # the line limit applies first
        self._lines = self._decoded_lines(handle)
        self._first_lines = self._look_ahead()
        candidates = [text for _, text in self._first_lines if not text.isspace()][:HEADER_SEARCH_ROWS]
        self.separator = _detect_separator(candidates)

    @property
    def encoding(self) -> str:
        if self._base == "utf-16" or not self._cp1252_seen:
            return self._base
        return "utf-8/cp1252" if self._utf8_seen or self._base == "utf-8-sig" else "cp1252"

    def __iter__(self) -> Iterator[Record]:
        feed = _RecordFeed(itertools.chain(self._first_lines, self._lines), self.separator, self._limits)
        reader = csv.reader(feed, delimiter=self.separator)
        last: Record | None = None
        try:
            for cells in reader:
                last = (feed.start, cells)
                _check_width(last, self._limits)
                yield last
                feed.next_record()
        except csv.Error:
            raise ExtractReadError(
                "FIL_OLASBAR",
                f"Filen kan inte tolkas som CSV (fel nära rad {feed.line}). Kontrollera citattecknen och skicka "
                "filen igen.",
            )
        if last is not None and not feed.skipped:      # the last record of the file, not one before blank lines
            _check_quotes(last, self.separator)

    def _look_ahead(self) -> list[tuple[int, str]]:
        """The first lines: enough for the separator (HEADER_SEARCH_ROWS non-blank lines) and for
        the binary check (BINARY_SAMPLE_CHARS characters), held until the records are read: at
        most LOOK_AHEAD_LINES from the first non-blank one (blank lines before it are no record)."""
        lines: list[tuple[int, str]] = []
        sample: list[str] = []
        sampled = non_blank = 0
        try:
            for number, text in self._lines:
                if sampled < BINARY_SAMPLE_CHARS:
                    sample.append(text)
                    sampled += len(text)
                if not non_blank and text.isspace():
                    continue
                lines.append((number, text))
                non_blank += not text.isspace()
                if non_blank >= HEADER_SEARCH_ROWS and sampled >= BINARY_SAMPLE_CHARS \
                        or len(lines) >= LOOK_AHEAD_LINES:
                    break
        except _LineTooLong as error:
            _refuse_binary("".join(sample) + error.beginning)
            raise
        if not non_blank:
            raise ExtractReadError("FIL_TOM", "Filen är tom. Skicka en fil med rubrikrad och deltagarrader.")
        _refuse_binary("".join(sample))
        return lines

    def _decoded_lines(self, handle: BinaryIO) -> Iterator[tuple[int, str]]:
        bom = handle.read(3)
        handle.seek(0)
        if bom.startswith((b"\xff\xfe", b"\xfe\xff")):
            self._base = "utf-16"
            yield from self._utf16_lines(handle)
            return
        if bom == b"\xef\xbb\xbf":
            self._base = "utf-8-sig"
            handle.seek(3)
        else:
            handle.seek(0)
        max_chars = self._limits.max_line_chars
        max_bytes = 4 * max_chars + 2                      # UTF-8: at most 4 bytes a character
        number = 0
        for lines in _physical_lines(handle, max_bytes):
            for raw in lines:
                number += 1
                if b"\x00" in raw:
                    raise _nul_error(number)
                text = raw.decode("ascii") if raw.isascii() else self._decode(raw)
                if len(raw) > max_chars:
                    if len(raw) > max_bytes:
                        raise _LineTooLong(line_too_long(number, self._limits), text[:BINARY_SAMPLE_CHARS])
                    self._check_length(number, text)
                yield number, text

    def _utf16_lines(self, handle: BinaryIO) -> Iterator[tuple[int, str]]:
        text_handle = io.TextIOWrapper(handle, encoding="utf-16", newline="")
        try:
            number = 0
            while text := text_handle.readline(self._limits.max_line_chars + 2):
                number += 1
                self._check_length(number, text)
                yield number, text
        except UnicodeDecodeError:
            raise ExtractReadError("FIL_OLASBAR", "Filen ser ut att vara UTF-16-text men går inte att läsa. "
                                                  "Spara den som CSV UTF-8 och skicka igen.")
        finally:
            text_handle.detach()

    def _decode(self, raw: bytes) -> str:
        """A line with bytes above 127: UTF-8 if it is, else Windows-1252."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._cp1252_seen = True
            return raw.decode("cp1252", errors="replace")
        self._utf8_seen = True
        return text

    def _check_length(self, number: int, text: str) -> None:
        if len(text) > self._limits.max_line_chars and len(text.rstrip("\r\n")) > self._limits.max_line_chars:
            raise _LineTooLong(line_too_long(number, self._limits), text[:BINARY_SAMPLE_CHARS])


class _RecordFeed:
    """Decoded lines to csv.reader, one record at a time: a record is one line, or several when a
    quoted field runs over line breaks (one whose quote never closes runs to the end of the file).
    Refuses a record over the line limit; skips, uncounted, a blank line where a record would start
    (an empty line costs a few tenths of a microsecond); keeps the line numbers."""

    def __init__(self, lines: Iterator[tuple[int, str]], separator: str, limits: ReadLimits):
        self._lines, self._separator, self._limits = lines, separator, limits
        self._chars = 0          # characters of the record being read
        self.start = 0           # the line it starts on
        self.line = 0            # the last line given to csv
        self.skipped = False     # blank lines skipped since the last record

    def __iter__(self) -> _RecordFeed:
        return self

    def __next__(self) -> str:
        for number, text in self._lines:
            if not self._chars:
                if '"' not in text and (text.isspace() or not text.replace(self._separator, "").strip()):
                    self.skipped = True
                    continue
                self.start = number
            self.line = number
            self._chars += len(text)
            if self._chars > self._limits.max_line_chars and number > self.start \
                    and self._chars - (len(text) - len(text.rstrip("\r\n"))) > self._limits.max_line_chars:
                raise line_too_long(self.start, self._limits, across_lines=True)
            return text
        raise StopIteration

    def next_record(self) -> None:
        self._chars, self.skipped = 0, False


def _physical_lines(handle: BinaryIO, max_bytes: int) -> Iterator[list[bytes]]:
    """The lines of a binary file, each with its end (\\n, \\r\\n or \\r, kept as csv expects), a
    block's worth at a time. A line longer than max_bytes comes last, as far as it was read (for
    the caller to refuse): a file without line breaks costs max_bytes, not its size."""
    pending = b""
    while block := handle.read(LINE_BLOCK_BYTES):
        lines = (pending + block).splitlines(keepends=True)
        pending = lines.pop()
        if pending.endswith(b"\n"):          # else a line still being read (or a \r before its \n)
            lines.append(pending)
            pending = b""
        elif len(pending) > max_bytes:
            lines.append(pending)
            yield lines
            return
        yield lines
    if pending:
        yield [pending]


def _nul_error(line: int) -> ExtractReadError:
    """A NUL byte in anything but UTF-16 means binary data."""
    return ExtractReadError(
        "FIL_OLASBAR",
        f"Filen innehåller binära data (nolltecken på rad {line}) och är ingen textfil (CSV). "
        "Spara om den som CSV eller .xlsx och skicka igen.",
    )


def _refuse_binary(text: str) -> None:
    """Bytes that decode (Windows-1252 decodes almost anything) but are no text."""
    sample = text[:BINARY_SAMPLE_CHARS]
    control = len(_CONTROL_CHARACTERS.findall(sample))
    if control > max(3, len(sample) // 50):
        raise ExtractReadError(
            "FIL_OLASBAR",
            "Filen innehåller binära data och är ingen textfil (CSV). Spara om den som CSV eller .xlsx och skicka igen.",
        )


def _check_quotes(record: Record, separator: str) -> None:
    """A quote that never closes swallows every line after it into one field of the last record:
    find it, say where. (A note over several lines, quoted and closed, is fine.)"""
    line, cells = record
    for cell in cells:
        if "\n" in cell and sum(part.count(separator) >= 2 for part in cell.splitlines()[1:]) >= 1:
            raise ExtractReadError(
                "CITATTECKEN_EJ_STANGT",
                f"Ett citattecken (\") på rad {line} stängs aldrig, så raderna efter det blev en del av "
                "samma fält. Ta bort citattecknet eller stäng det, och skicka filen igen.",
            )


def _detect_separator(lines: list[str]) -> str:
    """The separator that splits a line (the header, normally the first) into the most contract
    columns, then the most cells."""

    def score(separator: str) -> tuple[int, int]:
        best = (0, 0)
        for line in lines:
            try:
                cells = next(csv.reader([line.rstrip("\r\n")], delimiter=separator))
            except (csv.Error, StopIteration):  # a field over csv's limit; reading the file says where
                continue
            best = max(best, (sum(canonical_column(cell) is not None for cell in cells), len(cells)))
        return best

    return max(SEPARATORS, key=score)


def _check_width(record: Record, limits: ReadLimits) -> None:
    """A non-blank cell beyond the column limit (blank trailing cells do not count)."""
    number, cells = record
    if len(cells) > limits.max_columns and "".join(cells[limits.max_columns:]).strip():
        last = next(index for index in range(len(cells), 0, -1) if cells[index - 1].strip())
        raise too_many_columns(number, last, limits, xlsx=False)

