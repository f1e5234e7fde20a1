"""Read one delivered file into rows of text with the contract's column names.

Be liberal in what we read (encodings, separators, Excel quirks, header aliases) and precise in
what we say when we cannot: every failure is an ExtractReadError with a reason code and a
message in Swedish for the municipality that names the row (its line in the file, or its row in
the worksheet) and says what to do. No message repeats a cell's value: a cell may hold a
personnummer.

Read liberally, beyond the letter of the contract, because municipalities do send these:
UTF-16 text with a byte order mark (Excel's "Unicode-text"), lines in both UTF-8 and
Windows-1252 in one file (each line decoded on its own), an XLSX named .csv or a CSV named
.xlsx, a title row above the header, and Excel date serial numbers in a date column that is not
formatted as a date.

Read within bounds (orchestration/ingest/limits.py), whatever the file claims: its size is
checked before it is opened, a CSV is read a block of lines at a time and an XLSX sheet through
expat element by element, and only the contract columns of the data rows are kept, so memory
follows rows × contract columns and time the bytes actually there. An XLSX's declared
<dimension> is never used (a 4.7 KB file claiming the whole grid made openpyxl pad and yield a
million empty rows), nor is load_workbook (it parses a sheet without one whole, to size it);
the parts openpyxl does parse whole are first checked for size, nesting and DOCTYPE. A file
over a limit is rejected whole, with its own reason code.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import io
import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

import pandas as pd

from orchestration.ingest.limits import (
    ENVIRONMENT,
    MAX_XLSX_OBJECT_ELEMENTS,
    MAX_XLSX_PARTS,
    MAX_XML_DEPTH,
    MAX_XML_TOKEN_BYTES,
    MB,
    ReadLimits,
)
from orchestration.lib.contract import REQUIRED_COLUMNS, canonical_column

SEPARATORS = (";", ",", "\t")
SEPARATOR_NAMES = {";": "semikolon (;)", ",": "komma (,)", "\t": "tabb", "|": "lodstreck (|)", ":": "kolon (:)"}
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
HEADER_SEARCH_ROWS = 10          # a title row or two above the header is tolerated
LOOK_AHEAD_LINES = 1000          # a CSV's first lines, where its separator is looked for
BINARY_SAMPLE_CHARS = 4096       # the start of a text file that is looked at for binary data
DATE_COLUMNS = ("startdatum", "slutdatum")
LINE_BLOCK_BYTES = 1 << 16       # a CSV is read this much at a time
XML_CHUNK_BYTES = MB             # at most MAX_XML_TOKEN_BYTES (see _parse_in_chunks)
SHARED_VALUES = 4096             # distinct values a column keeps one copy of (see _DataRows)
_LOOKS_LIKE_PERSONNUMMER = re.compile(r"^\s*(\d{6}|\d{8})[-+]?\d{4}\s*$")
_LONG_DIGITS = re.compile(r"\d{6,}")
_EMAIL = re.compile(r"\S+@\S+")
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffd]")   # below 32 but tab, CR, LF; U+FFFD


class ExtractReadError(ValueError):
    """The file as a whole cannot be used; `code` is the reason code, the message plain Swedish."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Extract:
    """The rows of one file: canonical column names, every value as text ('' when blank)."""

    rows: pd.DataFrame                      # columns: row_number + canonical columns present
    unknown_columns: list[str] = field(default_factory=list)
    encoding: str = ""
    separator: str = ""


# A record: (its row number in the file, its cells as text). CSV: the line the record starts on;
# XLSX: the worksheet row. The municipality finds the row by that number.
Record = tuple[int, list[str]]


def read_extract(path: Path, limits: ReadLimits | None = None) -> Extract:
    """Read a CSV or XLSX extract; raise ExtractReadError when the file cannot be used.
    `limits` None: ReadLimits.from_environment()."""
    limits = limits or ReadLimits.from_environment()
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".csv", ".txt", ".tsv"):
        raise ExtractReadError(
            "FILTYP_OKAND",
            f"Filtypen '{suffix or '(ingen)'}' kan inte läsas. Skicka filen som .csv eller .xlsx.",
        )
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise _file_too_large(size, limits)
    with path.open("rb") as handle:
        head = handle.read(BINARY_SAMPLE_CHARS)
        handle.seek(0)
        if head.startswith(OLE_MAGIC):
            raise _ole_error(handle.read(MB))
        if head.startswith(ZIP_MAGIC):
            with contextlib.closing(_xlsx_records(handle, limits)) as records:
                rows, unknown = _to_extract(records, limits, separator="", xlsx=True)
            return Extract(rows=rows, unknown_columns=unknown, encoding="xlsx")
        if suffix in (".xlsx", ".xlsm") and not _looks_like_text(head):
            raise ExtractReadError(
                "FIL_OLASBAR",
                "Excel-filen kan inte öppnas: den är skadad eller ofullständig (avbruten överföring?). "
                "Öppna den i Excel, spara den igen och skicka den på nytt.",
            )
        # CSV, or a CSV that was given the name .xlsx
        source = _CsvRecords(handle, limits)
        rows, unknown = _to_extract(source, limits, separator=source.separator, xlsx=False)
        return Extract(rows=rows, unknown_columns=unknown, encoding=source.encoding, separator=source.separator)


def _looks_like_text(head: bytes) -> bool:
    return b"\x00" not in head or head.startswith((b"\xff\xfe", b"\xfe\xff"))


def _ole_error(head: bytes) -> ExtractReadError:
    if ENCRYPTED_PACKAGE in head:
        return ExtractReadError(
            "LOSENORDSSKYDDAD",
            "Excel-filen är lösenordsskyddad (krypterad) och kan inte läsas. Ta bort lösenordet "
            "(Arkiv → Info → Skydda arbetsbok → Kryptera med lösenord, töm fältet), spara och skicka igen.",
        )
    return ExtractReadError(
        "GAMMALT_EXCELFORMAT",
        "Filen är sparad i Excels gamla format (.xls), inte .xlsx. Spara den som "
        "Excel-arbetsbok (.xlsx) eller CSV och skicka igen.",
    )


# --- Over a limit --------------------------------------------------------------------------------

def _number(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _megabytes(size: int) -> str:
    return f"{size / MB:,.1f}".replace(",", " ").replace(".", ",")


def _coordinator(field_name: str, need: str = "Är filen verkligen så stor") -> str:
    """The sentence for the region's coordinator, the only place a setting is named."""
    return f"{need} kan regionens samordnare höja gränsen (inställningen {ENVIRONMENT[field_name][0]})."


def _file_too_large(size: int, limits: ReadLimits) -> ExtractReadError:
    return ExtractReadError(
        "FIL_FOR_STOR",
        f"Filen är {_megabytes(size)} MB, men filer över {_megabytes(limits.max_file_bytes)} MB läses inte. "
        "En månadsfil med deltagarlistan är sällan större än några MB. Kontrollera att filen bara innehåller "
        "projektets deltagare, en rad per inskrivning under en enda rubrikrad, och skicka den igen. "
        + _coordinator("max_file_bytes"),
    )


def _too_many_rows(number: int, limits: ReadLimits) -> ExtractReadError:
    return ExtractReadError(
        "FOR_MANGA_RADER",
        f"Filen har fler än {_number(limits.max_rows)} deltagarrader, som är det högsta antal som läses: rad "
        f"{number} är deltagarrad nummer {_number(limits.max_rows + 1)}. En månadsfil har sällan mer än några "
        "tusen rader. Kontrollera att filen bara innehåller projektets deltagare och en enda rubrikrad (inte "
        "flera listor eller månader efter varandra), och skicka den igen. " + _coordinator("max_rows"),
    )


def _too_many_columns(number: int, column: int, limits: ReadLimits, xlsx: bool) -> ExtractReadError:
    name = f" ({_column_letters(column)})" if xlsx and column <= 16384 else ""
    return ExtractReadError(
        "FOR_MANGA_KOLUMNER",
        f"Rad {number} har innehåll i kolumn {_number(column)}{name}, men högst {_number(limits.max_columns)} "
        "kolumner läses. Deltagarlistan har ett tjugotal kolumner. Ta bort kolumner och innehåll som inte hör "
        "till listan (även långt ut till höger), och skicka filen igen. "
        + _coordinator("max_columns", need="Behövs verkligen fler kolumner"),
    )


def _line_too_long(number: int, limits: ReadLimits, across_lines: bool = False, xlsx: bool = False) -> ExtractReadError:
    limit = _number(limits.max_line_chars)
    if across_lines:
        found = (f"den och raderna efter den blir ett enda fält på över {limit} tecken. Oftast är det ett "
                 "citattecken (\") som aldrig stängs, så att resten av filen hamnar i ett fält.")
    elif xlsx:
        found = f"dess celler har tillsammans över {limit} tecken."
    else:
        found = f"den har över {limit} tecken."
    return ExtractReadError(
        "RAD_FOR_LANG",
        f"Rad {number} är för lång: {found} En deltagarrad har sällan mer än några hundra tecken. Rätta raden "
        "och skicka filen igen. " + _coordinator("max_line_chars", need="Behövs verkligen så långa rader"),
    )


def _xlsx_too_large(size: int, limit: int, what: str, field_name: str) -> ExtractReadError:
    return ExtractReadError(
        "XLSX_FOR_STOR",
        f"Excel-filen är för stor uppackad: {what} är {_megabytes(size)} MB, men högst {_megabytes(limit)} MB "
        "läses. En .xlsx-fil är packad, och en månadsfil med deltagarlistan är sällan mer än några MB uppackad. "
        "Kontrollera att arbetsboken bara innehåller deltagarlistan (inga andra stora kalkylblad, bilder eller "
        "inbäddade filer), eller spara listan som CSV, och skicka igen. " + _coordinator(field_name),
    )


# --- CSV -----------------------------------------------------------------------------------------

class _LineTooLong(ExtractReadError):
    """RAD_FOR_LANG, with the start of the line (a file without line breaks may be no text at all)."""

    def __init__(self, error: ExtractReadError, beginning: str):
        super().__init__(error.code, error.message)
        self.beginning = beginning


class _CsvRecords:
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
                        raise _LineTooLong(_line_too_long(number, self._limits), text[:BINARY_SAMPLE_CHARS])
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
            raise _LineTooLong(_line_too_long(number, self._limits), text[:BINARY_SAMPLE_CHARS])


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
                raise _line_too_long(self.start, self._limits, across_lines=True)
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
        raise _too_many_columns(number, last, limits, xlsx=False)


# --- XLSX ----------------------------------------------------------------------------------------

@dataclass
class _Workbook:
    """What reading the first worksheet needs from its workbook."""

    archive: zipfile.ZipFile
    sheet_path: str
    shared_strings: list[str]
    date_styles: set[int]            # cell styles whose numbers are dates
    duration_styles: set[int]        # ... durations
    epoch: dt.datetime


def _xlsx_records(handle: BinaryIO, limits: ReadLimits) -> Iterator[Record]:
    book = _open_workbook(handle, limits)
    try:
        with book.archive.open(book.sheet_path) as source:
            yield from _SheetReader(book, limits).records(source)
    except ExtractReadError:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged sheet inside a readable zip
        raise ExtractReadError(
            "FIL_OLASBAR",
            f"Första kalkylbladet kan inte läsas ({type(error).__name__}). Spara om filen i Excel och skicka igen.",
        )
    finally:
        book.archive.close()


def _open_workbook(handle: BinaryIO, limits: ReadLimits) -> _Workbook:
    """openpyxl's own reading steps, up to the first worksheet's part, on parts checked first.

    Not load_workbook: in read-only mode it parses every worksheet that has no <dimension>
    (openpyxl's write-only mode writes none) all the way through, at open, to size it."""
    from openpyxl.reader.excel import ExcelReader  # lazily: only XLSX deliveries need it

    _check_part_count(handle)
    try:
        # A file object, not the path: openpyxl refuses a path whose name does not end in .xlsx,
        # and an XLSX named .csv is read like any other.
        reader = ExcelReader(handle, read_only=True, data_only=True, keep_links=False)
    except Exception as error:  # noqa: BLE001 - openpyxl raises many kinds on a damaged file
        raise _cannot_open(error)
    try:
        sheet_path = _read_workbook_parts(reader, limits)
    except ExtractReadError:
        reader.archive.close()
        raise
    except Exception as error:  # noqa: BLE001
        reader.archive.close()
        raise _cannot_open(error)
    workbook = reader.wb
    return _Workbook(reader.archive, sheet_path, reader.shared_strings, set(workbook._date_formats),
                     set(workbook._timedelta_formats), workbook.epoch)


def _read_workbook_parts(reader, limits: ReadLimits) -> str:
    """Content types, shared strings, workbook and styles, each checked before openpyxl parses
    it; the first worksheet's part."""
    from openpyxl.packaging.relationship import get_rels_path
    from openpyxl.reader.excel import _find_workbook_part
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.xml.constants import ARC_CONTENT_TYPES, ARC_STYLE, SHARED_STRINGS

    _check_uncompressed_size(reader.archive, limits)
    _check_held_parts(reader.archive, [ARC_CONTENT_TYPES], limits)
    reader.read_manifest()
    workbook_part = _find_workbook_part(reader.package).PartName[1:]
    strings = reader.package.find(SHARED_STRINGS)
    strings_part = strings.PartName[1:] if strings is not None else None
    _check_held_parts(reader.archive, [ARC_CONTENT_TYPES, workbook_part, get_rels_path(workbook_part), ARC_STYLE]
                      + ([strings_part] if strings_part else []), limits, shared_strings=strings_part)
    reader.read_strings()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)
    return _first_worksheet(reader)


def _first_worksheet(reader) -> str:
    """The part of the first worksheet (as openpyxl's `worksheets[0]`: chart sheets and sheets
    whose part is missing do not count)."""
    names = set(reader.archive.namelist())
    for _, relation in reader.parser.find_sheets():
        if relation.target in names and "chartsheet" not in relation.Type:
            return relation.target
    raise ExtractReadError("INGET_KALKYLBLAD", "Excel-filen har inga kalkylblad. Lägg deltagarlistan "
                                              "i första kalkylbladet och skicka igen.")


def _cannot_open(error: Exception) -> ExtractReadError:
    if isinstance(error, (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError, IndexError, EOFError)):
        return ExtractReadError(
            "FIL_OLASBAR",
            "Excel-filen kan inte öppnas (skadad, ofullständig eller ingen riktig .xlsx). "
            f"Spara om den i Excel och skicka igen. ({type(error).__name__})",
        )
    return ExtractReadError(
        "FIL_OLASBAR",
        f"Excel-filen kan inte öppnas ({type(error).__name__}). Spara om den i Excel som .xlsx och skicka igen.",
    )


def _check_part_count(handle: BinaryIO) -> None:
    """Before zipfile reads the central directory (~0.5 KB a member, held): how many members it lists.
    zipfile's own reading of the end record, so the count is the one zipfile will use."""
    end_record = zipfile._EndRecData(handle)  # noqa: SLF001 - the record zipfile itself trusts
    handle.seek(0)
    parts = end_record[zipfile._ECD_ENTRIES_TOTAL] if end_record else 0  # noqa: SLF001
    if parts > MAX_XLSX_PARTS:
        raise ExtractReadError(
            "XLSX_FOR_STOR",
            f"Excel-filen består av {_number(parts)} delar, men högst {_number(MAX_XLSX_PARTS)} läses (en "
            "arbetsbok har ett tiotal). Spara om deltagarlistan i Excel som .xlsx eller CSV och skicka igen.",
        )


def _check_uncompressed_size(archive: zipfile.ZipFile, limits: ReadLimits) -> None:
    """The members' declared sizes bound what is read: zipfile never inflates a member beyond its size."""
    total = sum(member.file_size for member in archive.infolist())
    if total > limits.max_xlsx_uncompressed_bytes:
        raise _xlsx_too_large(total, limits.max_xlsx_uncompressed_bytes, "innehållet", "max_xlsx_uncompressed_bytes")


def _check_held_parts(archive: zipfile.ZipFile, names: list[str], limits: ReadLimits,
                      shared_strings: str | None = None) -> None:
    """The parts openpyxl parses whole into memory (shared strings, styles, workbook, content
    types): small enough for the reader's memory, XML that cannot grow in ElementTree, and no
    more elements than openpyxl can make objects of (all but the shared strings: ~600 bytes each)."""
    members = set(archive.namelist())
    present = [name for name in dict.fromkeys(names) if name in members]
    size = sum(archive.getinfo(name).file_size for name in present)
    if size > limits.max_xlsx_held_bytes:
        raise _xlsx_too_large(size, limits.max_xlsx_held_bytes, "textlistan och formatmallarna",
                              "reader_memory_bytes")
    elements = 0
    for name in present:
        with archive.open(name) as source:
            guard = _DepthGuard()
            parser = expat.ParserCreate(intern=None)
            parser.StartElementHandler, parser.EndElementHandler = guard.start, guard.end
            for _ in _parse_in_chunks(source, parser):
                pass
        elements += guard.elements if name != shared_strings else 0
    if elements > MAX_XLSX_OBJECT_ELEMENTS:
        raise ExtractReadError(
            "XLSX_FOR_STOR",
            f"Excel-filens formatmallar och arbetsbok har {_number(elements)} delar, men högst "
            f"{_number(MAX_XLSX_OBJECT_ELEMENTS)} läses (Excel själv tillåter högst 64 000 cellformat). Kopiera "
            "deltagarlistan till en ny arbetsbok utan format, eller spara den som CSV, och skicka igen.",
        )


class _DepthGuard:
    """Expat handlers that count the elements and how deep they nest: ElementTree holds every
    open one."""

    def __init__(self) -> None:
        self.depth = self.elements = 0

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_XML_DEPTH:
            raise _unusual_xml(f"element nästlade i över {MAX_XML_DEPTH} nivåer")

    def end(self, name: str) -> None:
        self.depth -= 1


def _parse_in_chunks(source: BinaryIO, parser: expat.XMLParserType) -> Iterator[None]:
    """Feed the XML to the parser a chunk at a time, pausing after each (for what its handlers
    collected). Refused: a DOCTYPE (Excel never writes one, and its entities expand), and a tag or
    text over MAX_XML_TOKEN_BYTES: expat holds a tag whole and scans it again for every chunk
    that does not end it. A run without '<' longer than a chunk must span chunks, so counting
    from the last '<' of a chunk to the first of the next ones finds every one."""
    parser.StartDoctypeDeclHandler = _refuse_doctype
    since_tag = 0
    while chunk := source.read(XML_CHUNK_BYTES):
        first = chunk.find(b"<")
        since_tag += len(chunk) if first < 0 else first
        if since_tag > MAX_XML_TOKEN_BYTES:
            raise _unusual_xml(f"en tagg eller text på över {_megabytes(MAX_XML_TOKEN_BYTES)} MB")
        if first >= 0:
            since_tag = len(chunk) - chunk.rfind(b"<") - 1
        parser.Parse(chunk, False)
        yield
    parser.Parse(b"", True)
    yield


def _refuse_doctype(*_: object) -> None:
    raise _unusual_xml("en DOCTYPE-deklaration")


def _unusual_xml(what: str) -> ExtractReadError:
    return ExtractReadError(
        "FIL_OLASBAR",
        f"Excel-filen innehåller XML som Excel inte skriver ({what}) och läses inte. Öppna den i Excel, "
        "spara den som .xlsx och skicka igen.",
    )


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main "
_ROW, _CELL, _VALUE, _FORMULA, _INLINE, _TEXT, _RUN = (_MAIN + name for name in ("row", "c", "v", "f", "is", "t", "r"))
_VALUE_PATH, _TEXT_PATHS = [_VALUE], ([_INLINE, _TEXT], [_INLINE, _RUN, _TEXT])


class _SheetReader:
    """The non-blank rows of a worksheet's XML, in the order and with the numbers they stand
    there, each as the text of its cells up to the last non-blank one.

    Expat with handlers, not a tree: nothing is held but the row being read, so a sheet costs
    its bytes in time and one row in memory, whatever it declares or however it nests. Cell
    values as openpyxl reads them with data_only=True (its WorkSheetParser.parse_cell): shared
    and inline strings, numbers, dates by cell style, booleans, ISO dates, error codes."""

    def __init__(self, book: _Workbook, limits: ReadLimits):
        from openpyxl.utils.datetime import from_excel, from_ISO8601

        self._book, self._limits = book, limits
        self._from_excel, self._from_iso8601 = from_excel, from_ISO8601
        self._ready: list[Record] = []
        self._depth = 0
        self._in_row = False
        self._row_number = self._column = self._row_chars = 0
        self._row: dict[int, str] = {}
        self._in_cell = False
        self._path: list[str] = []                 # elements open inside the cell
        self._target: list[str] | None = None      # where the characters being read go
        self._value: list[str] = []
        self._inline: list[str] | None = None
        self._cell_chars = 0
        self._reference: str | None = None
        self._type, self._formula = "n", False
        self._style: str | None = None

    def records(self, source: BinaryIO) -> Iterator[Record]:
        parser = expat.ParserCreate(namespace_separator=" ", intern=None)
        parser.buffer_text = True
        parser.StartElementHandler, parser.EndElementHandler = self._start, self._end
        parser.CharacterDataHandler = self._characters
        for _ in _parse_in_chunks(source, parser):
            yield from self._ready
            self._ready.clear()

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        self._depth += 1
        if self._depth > MAX_XML_DEPTH:
            raise _unusual_xml(f"element nästlade i över {MAX_XML_DEPTH} nivåer")
        if self._in_cell:
            path = self._path
            path.append(name)
            if path == _VALUE_PATH:
                self._target = self._value
            elif path in _TEXT_PATHS:
                self._target = self._inline
            elif path == [_INLINE]:
                self._inline = []
            elif path == [_FORMULA]:
                self._formula = True
        elif name == _CELL:
            if self._in_row:
                self._open_cell(attributes)
        elif name == _ROW:
            self._open_row(attributes)

    def _end(self, name: str) -> None:
        self._depth -= 1
        if not self._in_cell:
            if name == _ROW:
                self._close_row()
        elif self._path:
            self._path.pop()
            self._target = None
        else:
            self._in_cell = False
            if self._value or self._inline is not None or self._formula:   # else blank: nothing to keep
                self._close_cell()

    def _characters(self, text: str) -> None:
        if self._target is not None:
            self._target.append(text)
            self._cell_chars += len(text)
            if self._cell_chars > self._limits.max_line_chars:
                raise _line_too_long(self._row_number, self._limits, xlsx=True)

    def _open_row(self, attributes: dict[str, str]) -> None:
        number = attributes.get("r")
        self._row_number = _row_index(number) if number else self._row_number + 1
        self._in_row, self._row, self._column, self._row_chars = True, {}, 0, 0

    def _close_row(self) -> None:
        self._in_row = False
        if self._row:
            cells = [""] * max(self._row)
            for column, text in self._row.items():
                cells[column - 1] = text
            self._ready.append((self._row_number, cells))

    def _open_cell(self, attributes: dict[str, str]) -> None:
        self._reference = attributes.get("r")
        self._column = _column_index(self._reference) if self._reference else self._column + 1
        self._type, self._style = attributes.get("t", "n"), attributes.get("s")
        self._in_cell, self._formula, self._cell_chars = True, False, 0
        self._value, self._inline = [], None

    def _close_cell(self) -> None:
        text = _cell_text(self._cell_value())
        if not text.strip():
            return
        if self._column > self._limits.max_columns:
            raise _too_many_columns(self._row_number, self._column, self._limits, xlsx=True)
        self._row_chars += len(text)
        if self._row_chars > self._limits.max_line_chars:
            raise _line_too_long(self._row_number, self._limits, xlsx=True)
        self._row[self._column] = text

    def _cell_value(self) -> object:
        kind, raw = self._type, "".join(self._value) or None
        if self._formula and kind not in ("str", "s", "inlineStr") and not (raw or "").strip():
            raise _formula_without_value(self._reference or "?")
        if kind == "inlineStr":
            return None if self._inline is None else "".join(self._inline)
        if raw is None:
            return None
        if kind == "n":
            return self._number(raw)
        if kind == "s":
            return self._book.shared_strings[int(raw)]
        if kind == "b":
            return bool(int(raw))
        if kind == "d":
            return self._from_iso8601(raw)
        return raw                                  # str (a formula's text), e (an error code)

    def _number(self, raw: str) -> object:
        number = float(raw) if ("." in raw or "E" in raw or "e" in raw) else int(raw)
        style = int(self._style) if self._style else 0
        if style not in self._book.date_styles:
            return number
        try:
            return self._from_excel(number, self._book.epoch, timedelta=style in self._book.duration_styles)
        except (OverflowError, ValueError):
            return "#VALUE!"                        # openpyxl's reading of a date out of range


def _row_index(text: str) -> int:
    number = float(text) if "." in text else int(text)
    if number != int(number):
        raise ValueError("row number")
    return int(number)


def _column_index(reference: str) -> int:
    """The column of a cell reference ("AB12" -> 28)."""
    return _column_of_letters(reference.rstrip("0123456789"))


@functools.lru_cache(maxsize=1 << 15)
def _column_of_letters(letters: str) -> int:
    from openpyxl.utils.cell import column_index_from_string

    return column_index_from_string(letters)     # A..ZZZ, else ValueError


def _column_letters(column: int) -> str:
    from openpyxl.utils.cell import get_column_letter

    return get_column_letter(column)


def _formula_without_value(reference: str) -> ExtractReadError:
    """A formula Excel has calculated carries its value and reads as that value. A formula saved
    by a program that does not calculate (scripts, some exports) has none: say where it is.
    (Such a cell has an <f> and an empty <v> without t="str": Excel writes the value of every
    number or date it calculated; an empty text result is t="str".)"""
    return ExtractReadError(
        "FORMEL_UTAN_VARDE",
        f"Cell {reference} innehåller en formel utan uträknat värde. Öppna filen i "
        "Excel och spara den (då räknas formlerna ut), eller kopiera och klistra in som värden, "
        "och skicka igen.",
    )


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _excel_serial_date(text: str) -> str:
    """An Excel date serial (a date cell formatted as a number) as YYYY-MM-DD; other text as is."""
    if text.isdigit() and 18264 <= int(text) <= 73051:   # 1950-01-01 .. 2099-12-31
        return (dt.date(1899, 12, 30) + dt.timedelta(days=int(text))).isoformat()
    return text


# --- Header and rows -----------------------------------------------------------------------------

def _to_extract(records: Iterable[Record], limits: ReadLimits, separator: str,
                xlsx: bool) -> tuple[pd.DataFrame, list[str]]:
    """The data rows under the header, as a frame of the contract columns, and the unknown headers."""
    records = iter(records)
    candidates = list(itertools.islice((r for r in records if not _is_blank(r[1])), HEADER_SEARCH_ROWS))
    if not candidates:
        raise _empty(xlsx)
    header_index = _find_header(candidates)
    header_line, header = candidates[header_index]
    while header and not header[-1].strip():
        header = header[:-1]  # blank trailing columns
    columns, unknown = _header_columns(header, header_line, separator)
    rows = _DataRows(columns, limits, xlsx)
    tally = _SeparatorTally(len(header), separator)
    for number, cells in itertools.chain(candidates[header_index + 1:], records):
        if _is_blank(cells):
            continue
        rows.add(number, cells)
        tally.add(number, cells)
    if not rows.count:
        raise ExtractReadError("FIL_TOM", "Filen har en rubrikrad men inga deltagarrader. Exportera listan igen "
                                          "med deltagarna under rubrikraden och skicka filen igen.")
    tally.check()
    return rows.frame(), unknown


def _is_blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def _empty(xlsx: bool) -> ExtractReadError:
    if xlsx:
        return ExtractReadError("FIL_TOM", "Första kalkylbladet är tomt. Lägg deltagarlistan i första kalkylbladet, "
                                           "rubrikraden på rad 1 och deltagarna på raderna under, och skicka filen igen.")
    return ExtractReadError("FIL_TOM", "Filen är tom. Skicka en fil med rubrikrad och deltagarrader.")


def _find_header(candidates: list[Record]) -> int:
    """Index of the header among the first non-blank records: the first one, or a later one when
    only that one names every required column (a title row above the header)."""
    for index, (_, cells) in enumerate(candidates):
        names = {canonical_column(cell) for cell in cells}
        if all(column in names for column in REQUIRED_COLUMNS):
            return index
    return 0


def _header_columns(header: list[str], line: int, separator: str) -> tuple[dict[str, int], list[str]]:
    """Each contract column's index in the header, and the headers the contract does not know."""
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, name in enumerate(header):
        canonical = canonical_column(name)
        if canonical is None:
            if name.strip():
                unknown.append(safe_header_name(name))
            continue
        if canonical in columns:
            raise ExtractReadError(
                "KOLUMN_DUBBEL",
                f"Kolumnen '{canonical}' förekommer två gånger i rubrikraden (rad {line}, kolumn "
                f"{columns[canonical] + 1} och {index + 1}). Ta bort den ena och skicka filen igen.",
            )
        columns[canonical] = index
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise _missing_columns_error(missing, header, line, separator)
    return columns, unknown


class _DataRows:
    """The data rows kept: their numbers and the cells of the contract columns, column by column
    (memory follows rows × contract columns, not the file). A value seen before in its column is
    kept once (codes, dates and blanks repeat: a 200 000-row file takes half the memory)."""

    def __init__(self, columns: dict[str, int], limits: ReadLimits, xlsx: bool):
        self._columns = columns
        self._limit = limits.max_rows
        self._limits = limits
        self._dates = [c for c in DATE_COLUMNS if c in columns] if xlsx else []
        self._numbers: list[int] = []
        self._values: dict[str, list[str]] = {column: [] for column in columns}
        self._seen: dict[str, dict[str, str]] = {column: {} for column in columns}
        self.count = 0

    def add(self, number: int, cells: list[str]) -> None:
        self.count += 1
        if self.count > self._limit:
            raise _too_many_rows(number, self._limits)
        self._numbers.append(number)
        width = len(cells)
        for column, index in self._columns.items():
            value = cells[index].strip() if index < width else ""
            seen = self._seen[column]
            if value in seen:
                value = seen[value]
            elif len(seen) < SHARED_VALUES:
                seen[value] = value
            self._values[column].append(value)

    def frame(self) -> pd.DataFrame:
        for column in self._dates:
            self._values[column] = [_excel_serial_date(v) for v in self._values[column]]
        data: dict[str, list[object]] = {"row_number": self._numbers, **self._values}
        # dtype=object up front: pandas 3 would otherwise infer its string dtype, checking every cell,
        # only for astype to undo it (half the reading time of a national backfill, BENCHMARKS.md)
        frame = pd.DataFrame(data, dtype=object)
        frame["row_number"] = frame["row_number"].astype("int64")
        return frame


class _SeparatorTally:
    """Rows that do not split with the header's separator but do with another: the file was
    put together from two exports (or edited by hand). Counted row by row, judged at the end."""

    def __init__(self, header_width: int, separator: str):
        self._width, self._separator = header_width, separator
        self._others = [s for s in (*SEPARATORS, "|") if s != separator]
        self._active = bool(separator) and header_width >= 2
        self._rows = self._single = 0
        self._first_single = 0
        self._splits = dict.fromkeys(self._others, 0)

    def add(self, number: int, cells: list[str]) -> None:
        if not self._active:
            return
        self._rows += 1
        if len(cells) != 1:
            return
        self._single += 1
        self._first_single = self._first_single or number
        for other in self._others:
            self._splits[other] += cells[0].count(other) >= self._width - 1

    def check(self) -> None:
        if not self._active or self._single * 2 < self._rows:
            return
        for other in self._others:
            if self._splits[other] * 2 >= self._single:
                raise ExtractReadError(
                    "AVGRANSARE_OLIKA",
                    f"Rubrikraden använder {SEPARATOR_NAMES[self._separator]} mellan kolumnerna men raderna (från "
                    f"rad {self._first_single}) {SEPARATOR_NAMES[other]}. Spara filen med samma avgränsare överallt "
                    "och skicka igen.",
                )


def safe_header_name(name: str) -> str:
    """A header as it may be shown in a report: never a run of digits (a personnummer in the
    header row) or an e-mail address, and not endless."""
    text = _EMAIL.sub("(e-postadress)", _LONG_DIGITS.sub("(siffror)", name.strip()))
    return text if len(text) <= 60 else text[:57] + "…"


def _missing_columns_error(missing: list[str], header: list[str], line: int, separator: str) -> ExtractReadError:
    if any(_LOOKS_LIKE_PERSONNUMMER.match(cell) for cell in header):
        return ExtractReadError(
            "RUBRIKRAD_SAKNAS",
            f"Rubrikraden saknas: rad {line} ser ut att vara en deltagarrad. Lägg en rubrikrad överst "
            f"({';'.join(REQUIRED_COLUMNS)};…) och skicka filen igen.",
        )
    hint = ""
    if separator and len([c for c in header if c.strip()]) <= 1:
        used = next((SEPARATOR_NAMES[s] for s in ("|", ":") if s in "".join(header)), None)
        hint = (" Rubrikraden kunde inte delas upp i kolumner"
                + (f" (filen verkar använda {used})" if used else "")
                + ". Använd semikolon (;), komma (,) eller tabb mellan kolumnerna.")
    return ExtractReadError(
        "KOLUMN_SAKNAS",
        f"Obligatorisk kolumn saknas: {', '.join(missing)}. Rubrikraden ska innehålla "
        f"{', '.join(REQUIRED_COLUMNS)}.{hint} Lägg till kolumnen och skicka filen igen.",
    )
