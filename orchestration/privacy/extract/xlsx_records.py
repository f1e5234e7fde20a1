"""The records of a delivered XLSX file's first worksheet, read through expat element by element.

The sheet is parsed here, not by openpyxl, so it costs its bytes in time and one row in memory.
An XLSX's declared <dimension> is never used (a 4.7 KB file claiming the whole grid made openpyxl
pad and yield a million empty rows), nor is load_workbook (it parses a sheet without one whole,
to size it); the parts openpyxl does parse whole (content types, workbook, styles, shared
strings) are first checked for size, nesting and DOCTYPE. Apart from the CSV reading
(csv_records.py): the two share nothing but the records they yield and the errors.
"""

from __future__ import annotations

import datetime as dt
import functools
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from xml.parsers import expat

from orchestration.ingest.limits import (
    MAX_XLSX_OBJECT_ELEMENTS,
    MAX_XLSX_PARTS,
    MAX_XML_DEPTH,
    MAX_XML_TOKEN_BYTES,
    MB,
    ReadLimits,
)
from orchestration.ingest.read_errors import (
    ExtractReadError,
    line_too_long,
    megabytes_text,
    number_text,
    too_many_columns,
    xlsx_too_large,
)
from orchestration.privacy.extract.records import Record

XML_CHUNK_BYTES = MB             # at most MAX_XML_TOKEN_BYTES (see _parse_in_chunks)


@dataclass
class _Workbook:
    """What reading the first worksheet needs from its workbook."""

    archive: zipfile.ZipFile
    sheet_path: str
    shared_strings: list[str]
    date_styles: set[int]            # cell styles whose numbers are dates
    duration_styles: set[int]        # ... durations
    epoch: dt.datetime


def xlsx_records(handle: BinaryIO, limits: ReadLimits) -> Iterator[Record]:
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
            f"Excel-filen består av {number_text(parts)} delar, men högst {number_text(MAX_XLSX_PARTS)} läses (en "
            "arbetsbok har ett tiotal). Spara om deltagarlistan i Excel som .xlsx eller CSV och skicka igen.",
        )


def _check_uncompressed_size(archive: zipfile.ZipFile, limits: ReadLimits) -> None:
    """The members' declared sizes bound what is read: zipfile never inflates a member beyond its size."""
    total = sum(member.file_size for member in archive.infolist())
    if total > limits.max_xlsx_uncompressed_bytes:
        raise xlsx_too_large(total, limits.max_xlsx_uncompressed_bytes, "innehållet", "max_xlsx_uncompressed_bytes")


def _check_held_parts(archive: zipfile.ZipFile, names: list[str], limits: ReadLimits,
                      shared_strings: str | None = None) -> None:
    """The parts openpyxl parses whole into memory (shared strings, styles, workbook, content
    types): small enough for the reader's memory, XML that cannot grow in ElementTree, and no
    more elements than openpyxl can make objects of (all but the shared strings: ~600 bytes each)."""
    members = set(archive.namelist())
    present = [name for name in dict.fromkeys(names) if name in members]
    size = sum(archive.getinfo(name).file_size for name in present)
    if size > limits.max_xlsx_held_bytes:
        raise xlsx_too_large(size, limits.max_xlsx_held_bytes, "textlistan och formatmallarna",
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
            f"Excel-filens formatmallar och arbetsbok har {number_text(elements)} delar, men högst "
            f"{number_text(MAX_XLSX_OBJECT_ELEMENTS)} läses (Excel själv tillåter högst 64 000 cellformat). "
            "Kopiera deltagarlistan till en ny arbetsbok utan format, eller spara den som CSV, och skicka igen.",
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
            raise _unusual_xml(f"en tagg eller text på över {megabytes_text(MAX_XML_TOKEN_BYTES)} MB")
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
                raise line_too_long(self._row_number, self._limits, xlsx=True)

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
            raise too_many_columns(self._row_number, self._column, self._limits, xlsx=True)
        self._row_chars += len(text)
        if self._row_chars > self._limits.max_line_chars:
            raise line_too_long(self._row_number, self._limits, xlsx=True)
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


def excel_serial_date(text: str) -> str:
    """An Excel date serial (a date cell formatted as a number) as YYYY-MM-DD; other text as is."""
    if text.isdigit() and 18264 <= int(text) <= 73051:   # 1950-01-01 .. 2099-12-31
        return (dt.date(1899, 12, 30) + dt.timedelta(days=int(text))).isoformat()
    return text
