"""Read one delivered file into rows of text with the contract's column names.

Be liberal in what we read (encodings, separators, Excel quirks, header aliases) and precise in
what we say when we cannot: every failure is an ExtractReadError with a reason code and a
message in Swedish for the municipality.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration.lib.contract import REQUIRED_COLUMNS, canonical_column

SEPARATORS = (";", ",", "\t")


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


def read_extract(path: Path) -> Extract:
    """Read a CSV or XLSX extract; raise ExtractReadError when the file cannot be used."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        header, records = _read_xlsx(path)
        encoding, separator = "xlsx", ""
    elif suffix in (".csv", ".txt", ".tsv"):
        header, records, encoding, separator = _read_csv(path)
    else:
        raise ExtractReadError(
            "FILTYP_OKAND",
            f"Filtypen '{suffix or '(ingen)'}' kan inte läsas. Skicka filen som .csv eller .xlsx.",
        )
    return _to_extract(header, records, encoding, separator)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]], str, str]:
    raw = path.read_bytes()
    if not raw.strip():
        raise ExtractReadError("FIL_TOM", "Filen är tom. Skicka en fil med rubrikrad och deltagarrader.")
    if b"\x00" in raw[:4096]:
        raise ExtractReadError(
            "FIL_OLASBAR",
            "Filen innehåller binära data och är ingen textfil (CSV). Spara om den som CSV eller .xlsx.",
        )
    for encoding in ("utf-8", "cp1252"):
        try:
            text = raw.decode(encoding).removeprefix("\ufeff")
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes almost anything; kept for clarity
        raise ExtractReadError("FIL_OLASBAR", "Filens teckenkodning känns inte igen. Spara som UTF-8.")
    first_line = text.lstrip("\r\n").splitlines()[0]
    separator = _detect_separator(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        table = [row for row in reader]
    except csv.Error as error:
        raise ExtractReadError("FIL_OLASBAR", f"Filen kan inte tolkas som CSV ({error}). Kontrollera citattecknen.")
    while table and not any(cell.strip() for cell in table[0]):
        table.pop(0)
    header, records = table[0], table[1:]
    if raw.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    return header, records, encoding, separator


def _detect_separator(header_line: str) -> str:
    """The separator that splits the header into the most contract columns (then the most cells)."""

    def score(separator: str) -> tuple[int, int]:
        cells = next(csv.reader([header_line], delimiter=separator))
        return sum(canonical_column(cell) is not None for cell in cells), len(cells)

    return max(SEPARATORS, key=score)


def _read_xlsx(path: Path) -> tuple[list[str], list[list[str]]]:
    import openpyxl  # lazily: only XLSX deliveries need it

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as error:
        raise ExtractReadError(
            "FIL_OLASBAR",
            "Excel-filen kan inte öppnas (skadad, lösenordsskyddad eller ingen riktig .xlsx). "
            f"Spara om den i Excel och skicka igen. ({type(error).__name__})",
        )
    try:
        if not workbook.worksheets:
            raise ExtractReadError("FIL_TOM", "Excel-filen har inga kalkylblad.")
        sheet = workbook.worksheets[0]
        table = [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    while table and not any(cell.strip() for cell in table[0]):
        table.pop(0)
    if not table:
        raise ExtractReadError("FIL_TOM", "Första kalkylbladet är tomt. Rubrikraden ska stå på rad 1.")
    return table[0], table[1:]


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


def _to_extract(header: list[str], records: list[list[str]], encoding: str, separator: str) -> Extract:
    if not header or not any(cell.strip() for cell in header):
        raise ExtractReadError("FIL_TOM", "Filen är tom. Skicka en fil med rubrikrad och deltagarrader.")
    while header and not header[-1].strip():
        header = header[:-1]  # blank trailing columns
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for index, name in enumerate(header):
        canonical = canonical_column(name)
        if canonical is None:
            if name.strip():
                unknown.append(name.strip())
            continue
        if canonical in columns:
            raise ExtractReadError(
                "KOLUMN_DUBBEL",
                f"Kolumnen '{canonical}' förekommer två gånger i rubrikraden (kolumn {columns[canonical] + 1} "
                f"och {index + 1}). Ta bort den ena och skicka filen igen.",
            )
        columns[canonical] = index
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise ExtractReadError(
            "KOLUMN_SAKNAS",
            f"Obligatorisk kolumn saknas: {', '.join(missing)}. Rubrikraden ska innehålla "
            f"{', '.join(REQUIRED_COLUMNS)}. Lägg till kolumnen och skicka filen igen.",
        )
    data: dict[str, list[object]] = {"row_number": []}
    for column in columns:
        data[column] = []
    for offset, record in enumerate(records):
        if not any(str(cell).strip() for cell in record):
            continue  # blank lines, wherever they are
        data["row_number"].append(offset + 2)  # the header is row 1
        for column, index in columns.items():
            data[column].append(record[index].strip() if index < len(record) else "")
    if not data["row_number"]:
        raise ExtractReadError("FIL_TOM", "Filen har en rubrikrad men inga deltagarrader.")
    frame = pd.DataFrame(data).astype({c: object for c in columns})
    return Extract(rows=frame, unknown_columns=unknown, encoding=encoding, separator=separator)
