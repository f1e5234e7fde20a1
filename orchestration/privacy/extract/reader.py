"""Read one delivered file into rows of text with the contract's column names.

Be liberal in what we read (encodings, separators, Excel quirks, header aliases) and precise in
what we say when we cannot: every failure is an ExtractReadError (read_errors.py) with a reason
code and a message in Swedish for the municipality that names the row (its line in the file, or
its row in the worksheet) and says what to do. No message repeats a cell's value: a cell may
hold a personnummer.

Read liberally, beyond the letter of the contract, because municipalities do send these:
UTF-16 text with a byte order mark (Excel's "Unicode-text"), lines in both UTF-8 and
Windows-1252 in one file (each line decoded on its own), an XLSX named .csv or a CSV named
.xlsx, a title row above the header, and Excel date serial numbers in a date column that is not
formatted as a date.

Read within bounds (orchestration/ingest/limits.py), whatever the file claims: its size is
checked before it is opened, a CSV is read a block of lines at a time (csv_records.py) and an
XLSX sheet through expat element by element (xlsx_records.py), and only the contract columns of
the data rows are kept (here), so memory follows rows × contract columns and time the bytes
actually there. A file over a limit is rejected whole, with its own reason code.

This module tells the formats apart, finds the header among the records and keeps the rows.
Which columns it keeps is its schema's (schema.py): the enrolment contract's by default, or a
project's mapping columns and question ids for a mapping file (kartläggning).
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration.privacy.extract.csv_records import BINARY_SAMPLE_CHARS, SEPARATORS, CsvRecords
from orchestration.ingest.limits import MB, ReadLimits
from orchestration.ingest.read_errors import ExtractReadError, file_too_large, too_many_rows
from orchestration.privacy.extract.records import HEADER_SEARCH_ROWS, Record
from orchestration.privacy.extract.schema import ENROLMENT_SCHEMA, ColumnSchema
from orchestration.privacy.extract.xlsx_records import excel_serial_date, xlsx_records

__all__ = ["ColumnSchema", "ENROLMENT_SCHEMA", "Extract", "ExtractReadError", "read_extract", "safe_header_name"]

SEPARATOR_NAMES = {";": "semikolon (;)", ",": "komma (,)", "\t": "tabb", "|": "lodstreck (|)", ":": "kolon (:)"}
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
SHARED_VALUES = 4096             # distinct values a column keeps one copy of (see _DataRows)
_LOOKS_LIKE_PERSONNUMMER = re.compile(r"^\s*(\d{6}|\d{8})[-+]?\d{4}\s*$")
_LONG_DIGITS = re.compile(r"\d{6,}")
_EMAIL = re.compile(r"\S+@\S+")


@dataclass
class Extract:
    """The rows of one file: canonical column names, every value as text ('' when blank)."""

    rows: pd.DataFrame                      # columns: row_number + canonical columns present
    unknown_columns: list[str] = field(default_factory=list)
    encoding: str = ""
    separator: str = ""


def read_extract(path: Path, limits: ReadLimits | None = None, schema: ColumnSchema = ENROLMENT_SCHEMA) -> Extract:
    """Read a CSV or XLSX extract; raise ExtractReadError when the file cannot be used.
    `limits` None: ReadLimits.from_environment(). `schema`: the columns to keep (an enrolment
    extract's unless told otherwise)."""
    limits = limits or ReadLimits.from_environment()
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".csv", ".txt", ".tsv"):
        raise ExtractReadError(
            "FILTYP_OKAND",
            f"Filtypen '{suffix or '(ingen)'}' kan inte läsas. Skicka filen som .csv eller .xlsx.",
        )
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise file_too_large(size, limits)
    with path.open("rb") as handle:
        head = handle.read(BINARY_SAMPLE_CHARS)
        handle.seek(0)
        if head.startswith(OLE_MAGIC):
            raise _ole_error(handle.read(MB))
        if head.startswith(ZIP_MAGIC):
            with contextlib.closing(xlsx_records(handle, limits)) as records:
                rows, unknown = _to_extract(records, limits, separator="", xlsx=True, schema=schema)
            return Extract(rows=rows, unknown_columns=unknown, encoding="xlsx")
        if suffix in (".xlsx", ".xlsm") and not _looks_like_text(head):
            raise ExtractReadError(
                "FIL_OLASBAR",
                "Excel-filen kan inte öppnas: den är skadad eller ofullständig (avbruten överföring?). "
                "Öppna den i Excel, spara den igen och skicka den på nytt.",
            )
        # CSV, or a CSV that was given the name .xlsx
        source = CsvRecords(handle, limits)
        rows, unknown = _to_extract(source, limits, separator=source.separator, xlsx=False, schema=schema)
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


# --- Header and rows -----------------------------------------------------------------------------

def _to_extract(records: Iterable[Record], limits: ReadLimits, separator: str,
                xlsx: bool, schema: ColumnSchema = ENROLMENT_SCHEMA) -> tuple[pd.DataFrame, list[str]]:
    """The data rows under the header, as a frame of the schema's columns, and the unknown headers."""
    records = iter(records)
    candidates = list(itertools.islice((r for r in records if not _is_blank(r[1])), HEADER_SEARCH_ROWS))
    if not candidates:
        raise _empty(xlsx)
    header_index = _find_header(candidates, schema)
    header_line, header = candidates[header_index]
    while header and not header[-1].strip():
        header = header[:-1]  # blank trailing columns
    columns, unknown = _header_columns(header, header_line, separator, schema)
    rows = _DataRows(columns, limits, xlsx, schema.dates)
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


def _find_header(candidates: list[Record], schema: ColumnSchema) -> int:
    """Index of the header among the first non-blank records: the first one, or a later one when
    only that one names every required column (a title row above the header)."""
    for index, (_, cells) in enumerate(candidates):
        names = {schema.canonical(cell) for cell in cells}
        if all(column in names for column in schema.required):
            return index
    return 0


def _header_columns(header: list[str], line: int, separator: str,
                    schema: ColumnSchema) -> tuple[dict[str, int], list[str]]:
    """Each schema column's index in the header, and the headers the schema does not know."""
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, name in enumerate(header):
        canonical = schema.canonical(name)
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
    missing = [column for column in schema.required if column not in columns]
    if missing:
        raise _missing_columns_error(missing, header, line, separator, schema)
    unanswerable = [question for question in schema.required_questions if question not in columns]
    if unanswerable:
        raise _missing_questions_error(unanswerable, line)
    return columns, unknown


class _DataRows:
    """The data rows kept: their numbers and the cells of the contract columns, column by column
    (memory follows rows × contract columns, not the file). A value seen before in its column is
    kept once (codes, dates and blanks repeat: a 200 000-row file takes half the memory)."""

    def __init__(self, columns: dict[str, int], limits: ReadLimits, xlsx: bool, dates: tuple[str, ...]):
        self._columns = columns
        self._limit = limits.max_rows
        self._limits = limits
        self._dates = [c for c in dates if c in columns] if xlsx else []
        self._numbers: list[int] = []
        self._values: dict[str, list[str]] = {column: [] for column in columns}
        self._seen: dict[str, dict[str, str]] = {column: {} for column in columns}
        self.count = 0

    def add(self, number: int, cells: list[str]) -> None:
        self.count += 1
        if self.count > self._limit:
            raise too_many_rows(number, self._limits)
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
            self._values[column] = [excel_serial_date(v) for v in self._values[column]]
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


def _missing_columns_error(missing: list[str], header: list[str], line: int, separator: str,
                           schema: ColumnSchema) -> ExtractReadError:
    required = schema.required
    if any(_LOOKS_LIKE_PERSONNUMMER.match(cell) for cell in header):
        return ExtractReadError(
            "RUBRIKRAD_SAKNAS",
            f"Rubrikraden saknas: rad {line} ser ut att vara en deltagarrad. Lägg en rubrikrad överst "
            f"({';'.join(required)};…) och skicka filen igen.",
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
        f"{', '.join(required)}.{hint} {_found_header(header, line, schema)}Lägg till kolumnen och skicka filen igen.",
    )


def _missing_questions_error(questions: list[str], line: int) -> ExtractReadError:
    """A mapping file without the column of a question the project requires an answer to."""
    if len(questions) == 1:
        what = f"Kolumnen för den obligatoriska frågan {questions[0]} saknas i rubrikraden (rad {line})."
    else:
        what = (f"Kolumnerna för de obligatoriska frågorna {', '.join(questions)} saknas i rubrikraden "
                f"(rad {line}).")
    return ExtractReadError(
        "FRAGA_SAKNAS",
        f"{what} Varje obligatorisk fråga i projektets kartläggning ska ha en kolumn med frågans id som "
        "rubrik och ett svar på varje rad. Lägg till kolumnen med svaren och skicka filen igen.",
    )


_HEADER_WORD = re.compile(r"^[^\W\d][\w .()/–-]{0,39}$")


def _found_header(header: list[str], line: int, schema: ColumnSchema) -> str:
    """`Rubrikraden som hittades (rad 1): personnummer; startdatum; Fass. ` so a case worker sees the
    misspelt or missing name. A row with no column the contract knows, or with any cell that is not
    a plain word (a date, a number, an address), may be a participant's row rather than a header:
    then only its position is named, never its cells (a name in a report identifies a person)."""
    cells = [cell.strip() for cell in header if cell.strip()]
    if (not any(schema.canonical(cell) for cell in cells)
            or not all(_HEADER_WORD.match(cell) for cell in cells)):
        return f"Rubrikraden söktes på rad {line}. "
    shown = "; ".join(safe_header_name(cell) for cell in cells[:40]) + ("; …" if len(cells) > 40 else "")
    return f"Rubrikraden som hittades (rad {line}): {shown}. "
