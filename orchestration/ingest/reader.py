"""Read one delivered file into rows of text with the contract's column names.

Be liberal in what we read (encodings, separators, Excel quirks, header aliases) and precise in
what we say when we cannot: every failure is an ExtractReadError with a reason code and a
message in Swedish for the municipality that names the row (its line in the file, or its row in
the worksheet) and says what to do. No message repeats a cell's value: a cell may hold a
personnummer.

Read liberally, beyond the letter of the contract, because municipalities do send these:
UTF-16 text with a byte order mark (Excel's "Unicode-text"), lines in both UTF-8 and
Windows-1252 in one file (read line by line), an XLSX named .csv or a CSV named .xlsx, a title
row above the header, and Excel date serial numbers in a date column that is not formatted as a
date.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration.lib.contract import REQUIRED_COLUMNS, canonical_column

SEPARATORS = (";", ",", "\t")
SEPARATOR_NAMES = {";": "semikolon (;)", ",": "komma (,)", "\t": "tabb", "|": "lodstreck (|)", ":": "kolon (:)"}
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
HEADER_SEARCH_ROWS = 10          # a title row or two above the header is tolerated
DATE_COLUMNS = ("startdatum", "slutdatum")
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


def read_extract(path: Path) -> Extract:
    """Read a CSV or XLSX extract; raise ExtractReadError when the file cannot be used."""
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".csv", ".txt", ".tsv"):
        raise ExtractReadError(
            "FILTYP_OKAND",
            f"Filtypen '{suffix or '(ingen)'}' kan inte läsas. Skicka filen som .csv eller .xlsx.",
        )
    raw = path.read_bytes()
    if raw.startswith(OLE_MAGIC):
        raise _ole_error(raw)
    if raw.startswith(ZIP_MAGIC):
        records, encoding, separator = _read_xlsx(path), "xlsx", ""
    elif suffix in (".xlsx", ".xlsm") and raw.strip() and not _looks_like_text(raw):
        raise ExtractReadError(
            "FIL_OLASBAR",
            "Excel-filen kan inte öppnas: den är skadad eller ofullständig (avbruten överföring?). "
            "Öppna den i Excel, spara den igen och skicka den på nytt.",
        )
    else:  # CSV, or a CSV that was given the name .xlsx
        records, encoding, separator = _read_csv(raw)
    return _to_extract(records, encoding, separator)


def _looks_like_text(raw: bytes) -> bool:
    return b"\x00" not in raw[:4096] or raw.startswith((b"\xff\xfe", b"\xfe\xff"))


def _ole_error(raw: bytes) -> ExtractReadError:
    if ENCRYPTED_PACKAGE in raw[:1 << 20]:
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


# --- CSV -----------------------------------------------------------------------------------------

def _decode(raw: bytes) -> tuple[str, str]:
    """The text and the encoding it was in: UTF-8 (with or without BOM), UTF-16 with BOM,
    Windows-1252, or lines of UTF-8 and Windows-1252 mixed (each line read in its own)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            return _decode_mixed(raw[3:]), "utf-8/cp1252"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise ExtractReadError("FIL_OLASBAR", "Filen ser ut att vara UTF-16-text men går inte att läsa. "
                                                  "Spara den som CSV UTF-8 och skicka igen.")
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise ExtractReadError(
            "FIL_OLASBAR",
            f"Filen innehåller binära data (nolltecken på rad {line}) och är ingen textfil (CSV). "
            "Spara om den som CSV eller .xlsx och skicka igen.",
        )
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _has_utf8_multibyte(raw):
        return _decode_mixed(raw), "utf-8/cp1252"
    return raw.decode("cp1252", errors="replace"), "cp1252"


def _has_utf8_multibyte(raw: bytes) -> bool:
    """True when some line is valid UTF-8 with non-ASCII characters (so the file mixes encodings)."""
    for line in raw.splitlines():
        if max(line, default=0) >= 0x80:
            try:
                line.decode("utf-8")
                return True
            except UnicodeDecodeError:
                continue
    return False


def _decode_mixed(raw: bytes) -> str:
    lines = raw.splitlines(keepends=True)
    out = []
    for line in lines:
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(line.decode("cp1252", errors="replace"))
    return "".join(out)


def _read_csv(raw: bytes) -> tuple[list[Record], str, str]:
    if not raw.strip():
        raise ExtractReadError("FIL_TOM", "Filen är tom. Skicka en fil med rubrikrad och deltagarrader.")
    text, encoding = _decode(raw)
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ExtractReadError("FIL_TOM", "Filen är tom. Skicka en fil med rubrikrad och deltagarrader.")
    _refuse_binary(text)
    candidates = [line for line in text.splitlines() if line.strip()][:HEADER_SEARCH_ROWS]
    separator = _detect_separator(candidates)
    records = _parse_csv(text, separator)
    _check_quotes(records, separator)
    return records, encoding, separator


def _refuse_binary(text: str) -> None:
    """Bytes that decode (Windows-1252 decodes almost anything) but are no text."""
    sample = text[:4096]
    control = len(_CONTROL_CHARACTERS.findall(sample))
    if control > max(3, len(sample) // 50):
        raise ExtractReadError(
            "FIL_OLASBAR",
            "Filen innehåller binära data och är ingen textfil (CSV). Spara om den som CSV eller .xlsx och skicka igen.",
        )


def _parse_csv(text: str, separator: str) -> list[Record]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    records: list[Record] = []
    line = 1
    try:
        for cells in reader:
            records.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as error:
        where = reader.line_num or line
        if "field larger than field limit" in str(error):
            raise ExtractReadError(
                "RAD_FOR_LANG",
                f"Rad {line} är för lång: ett fält har över {csv.field_size_limit():,} tecken".replace(",", " ")
                + ". Oftast är det ett citattecken (\") som aldrig stängs, så att resten av filen hamnar i ett "
                "fält. Rätta raden och skicka filen igen.",
            )
        raise ExtractReadError(
            "FIL_OLASBAR",
            f"Filen kan inte tolkas som CSV (fel nära rad {where}). Kontrollera citattecknen och skicka filen igen.",
        )
    return records


def _check_quotes(records: list[Record], separator: str) -> None:
    """A quote that never closes swallows every line after it into one field of the last record:
    find it, say where. (A note over several lines, quoted and closed, is fine.)"""
    if not records:
        return
    line, cells = records[-1]
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
                cells = next(csv.reader([line], delimiter=separator))
            except csv.Error:  # a line too long to be a header; parsing the file says where it is
                continue
            best = max(best, (sum(canonical_column(cell) is not None for cell in cells), len(cells)))
        return best

    return max(SEPARATORS, key=score)


# --- XLSX ----------------------------------------------------------------------------------------

def _read_xlsx(path: Path) -> list[Record]:
    import openpyxl  # lazily: only XLSX deliveries need it

    try:
        # From the bytes, not the path: openpyxl refuses a path whose name does not end in .xlsx,
        # and an XLSX named .csv is read like any other.
        workbook = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, TypeError, IndexError, EOFError) as error:
        raise ExtractReadError(
            "FIL_OLASBAR",
            "Excel-filen kan inte öppnas (skadad, ofullständig eller ingen riktig .xlsx). "
            f"Spara om den i Excel och skicka igen. ({type(error).__name__})",
        )
    except Exception as error:  # noqa: BLE001 - openpyxl raises many kinds on a damaged file
        raise ExtractReadError(
            "FIL_OLASBAR",
            f"Excel-filen kan inte öppnas ({type(error).__name__}). Spara om den i Excel som .xlsx och skicka igen.",
        )
    try:
        if not workbook.worksheets:
            raise ExtractReadError("INGET_KALKYLBLAD", "Excel-filen har inga kalkylblad. Lägg deltagarlistan "
                                                      "i första kalkylbladet och skicka igen.")
        sheet = workbook.worksheets[0]
        sheet_xml = getattr(sheet, "_worksheet_path", "")
        records: list[Record] = []
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            records.append((number, [_cell_text(value) for value in row]))
    except ExtractReadError:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged sheet inside a readable zip
        raise ExtractReadError(
            "FIL_OLASBAR",
            f"Första kalkylbladet kan inte läsas ({type(error).__name__}). Spara om filen i Excel och skicka igen.",
        )
    finally:
        workbook.close()
    if not any(any(cell.strip() for cell in cells) for _, cells in records):
        raise ExtractReadError("FIL_TOM", "Första kalkylbladet är tomt. Lägg deltagarlistan i första kalkylbladet, "
                                          "rubrikraden på rad 1 och deltagarna på raderna under, och skicka filen igen.")
    _check_formulas(path, sheet_xml, records)
    return records


def _check_formulas(path: Path, sheet_xml: str, records: list[Record]) -> None:
    """A formula Excel has calculated carries its value and reads as that value. A formula saved
    by a program that does not calculate (scripts, some exports) has none: say where it is.

    In the sheet's XML such a cell has an <f> and an empty <v> without t="str" (Excel writes the
    value of every number or date it calculated; an empty text result is t="str")."""
    import xml.etree.ElementTree as ElementTree

    with zipfile.ZipFile(path) as archive:
        if sheet_xml not in archive.namelist():
            return
        with archive.open(sheet_xml) as handle:
            if not re.search(rb"<(\w+:)?f[ >/]", handle.read()):
                return
        with archive.open(sheet_xml) as handle:
            for _, element in ElementTree.iterparse(handle):
                if not element.tag.endswith("}c") and element.tag != "c":
                    continue
                children = {child.tag.rsplit("}", 1)[-1]: child for child in element}
                value = children.get("v")
                if "f" in children and (value is None or not (value.text or "").strip()) \
                        and element.get("t") not in ("str", "s", "inlineStr"):
                    raise ExtractReadError(
                        "FORMEL_UTAN_VARDE",
                        f"Cell {element.get('r', '?')} innehåller en formel utan uträknat värde. Öppna filen i "
                        "Excel och spara den (då räknas formlerna ut), eller kopiera och klistra in som värden, "
                        "och skicka igen.",
                    )
                element.clear()


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

def _find_header(records: list[Record]) -> int:
    """Index of the header record: the first non-blank one, or a later one among the first few
    when only that one names every required column (a title row above the header)."""
    non_blank = [i for i, (_, cells) in enumerate(records) if any(cell.strip() for cell in cells)]
    if not non_blank:
        raise ExtractReadError("FIL_TOM", "Filen är tom. Skicka en fil med rubrikrad och deltagarrader.")
    for index in non_blank[:HEADER_SEARCH_ROWS]:
        names = {canonical_column(cell) for cell in records[index][1]}
        if all(column in names for column in REQUIRED_COLUMNS):
            return index
    return non_blank[0]


def safe_header_name(name: str) -> str:
    """A header as it may be shown in a report: never a run of digits (a personnummer in the
    header row) or an e-mail address, and not endless."""
    text = _EMAIL.sub("(e-postadress)", _LONG_DIGITS.sub("(siffror)", name.strip()))
    return text if len(text) <= 60 else text[:57] + "…"


def _to_extract(records: list[Record], encoding: str, separator: str) -> Extract:
    header_index = _find_header(records)
    header_line, header = records[header_index]
    while header and not header[-1].strip():
        header = header[:-1]  # blank trailing columns
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
                f"Kolumnen '{canonical}' förekommer två gånger i rubrikraden (rad {header_line}, kolumn "
                f"{columns[canonical] + 1} och {index + 1}). Ta bort den ena och skicka filen igen.",
            )
        columns[canonical] = index
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise _missing_columns_error(missing, header, header_line, separator)
    data_records = [(n, cells) for n, cells in records[header_index + 1:] if any(str(c).strip() for c in cells)]
    if not data_records:
        raise ExtractReadError("FIL_TOM", "Filen har en rubrikrad men inga deltagarrader. Exportera listan igen "
                                          "med deltagarna under rubrikraden och skicka filen igen.")
    if separator:
        _check_row_separator(data_records, len(header), separator)
    data: dict[str, list[object]] = {"row_number": [n for n, _ in data_records]}
    for column, index in columns.items():
        values = [cells[index].strip() if index < len(cells) else "" for _, cells in data_records]
        if encoding == "xlsx" and column in DATE_COLUMNS:
            values = [_excel_serial_date(v) for v in values]
        data[column] = values
    # dtype=object up front: pandas 3 would otherwise infer its string dtype, checking every cell,
    # only for astype to undo it (half the reading time of a national backfill, BENCHMARKS.md)
    frame = pd.DataFrame(data, dtype=object)
    frame["row_number"] = frame["row_number"].astype("int64")
    return Extract(rows=frame, unknown_columns=unknown, encoding=encoding, separator=separator)


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


def _check_row_separator(records: list[Record], header_width: int, separator: str) -> None:
    """Rows that do not split with the header's separator but do with another: the file was
    put together from two exports (or edited by hand)."""
    if header_width < 2:
        return
    single = [(n, cells[0]) for n, cells in records if len(cells) == 1]
    if len(single) * 2 < len(records):
        return
    for other in (s for s in (*SEPARATORS, "|") if s != separator):
        if sum(text.count(other) >= header_width - 1 for _, text in single) * 2 >= len(single):
            first = single[0][0]
            raise ExtractReadError(
                "AVGRANSARE_OLIKA",
                f"Rubrikraden använder {SEPARATOR_NAMES[separator]} mellan kolumnerna men raderna (från rad "
                f"{first}) {SEPARATOR_NAMES[other]}. Spara filen med samma avgränsare överallt och skicka igen.",
            )
