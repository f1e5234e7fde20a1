"""Building blocks for delivery files: synthetic persons and CSV / XLSX bytes.

Every personnummer here is synthetic: a date, a serial and a check digit computed with the
generator's Luhn function (orchestration/generator/personnummer.py, written independently of the
pipeline's parser). No real person's number is in the repository; the files are built at test
time.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass

import openpyxl

from orchestration.generator.personnummer import luhn_check_digit

HEADER = ["personnummer", "startdatum", "fas", "slutdatum", "avslutsorsak"]


@dataclass(frozen=True)
class Person:
    birth_date: dt.date
    serial: int  # three digits

    @property
    def ten(self) -> str:
        """The 10-digit form as municipalities write it: YYMMDD-NNNC."""
        nine = f"{self.birth_date:%y%m%d}{self.serial:03d}"
        return f"{nine[:6]}-{nine[6:]}{luhn_check_digit(nine)}"

    @property
    def twelve(self) -> str:
        """The canonical 12-digit form the pseudonym is computed from."""
        nine = f"{self.birth_date:%y%m%d}{self.serial:03d}"
        return f"{self.birth_date:%Y}{nine[2:]}{luhn_check_digit(nine)}"

    def written_forms(self) -> set[str]:
        return {self.ten, self.ten.replace("-", ""), self.twelve, f"{self.twelve[:8]}-{self.twelve[8:]}"}


class PersonFactory:
    """Distinct synthetic persons: no two cases share one, so a leak is traced to its case."""

    def __init__(self) -> None:
        self._taken: dict[int, int] = {}

    def take(self, birth_year: int, count: int) -> list[Person]:
        start = self._taken.get(birth_year, 0)
        self._taken[birth_year] = start + count
        return [Person(dt.date(birth_year, 1, 1) + dt.timedelta(days=k // 900), 100 + k % 900)
                for k in range(start, start + count)]


def rows_for(persons: list[Person], start: str, fas: str = "MOTA") -> list[list[str]]:
    """Ongoing enrolments, one per person, all starting on `start`."""
    return [[p.ten, start, fas, "", ""] for p in persons]


def csv_bytes(header: list[str], rows: list[list[str]], separator: str = ";", encoding: str = "utf-8",
              newline: str = "\n") -> bytes:
    def cell(value: str) -> str:
        return f'"{value}"' if separator in value or '"' in value else value

    lines = [separator.join(cell(v) for v in row) for row in [header, *rows]]
    return (newline.join(lines) + newline).encode(encoding)


def xlsx_bytes(header: list[object], rows: list[list[object]], extra_sheets: int = 0) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    for index in range(extra_sheets):
        workbook.create_sheet(f"Blad{index + 2}")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rewrite_zip(data: bytes, change) -> bytes:
    """The same XLSX with some parts rewritten: change(name, content) -> content or None (drop)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = change(item.filename, source.read(item.filename))
            if content is not None:
                target.writestr(item, content)
    return buffer.getvalue()


def xlsx_without_sheets() -> bytes:
    """A well-formed workbook whose workbook.xml lists no sheet (some export tools write these)."""

    def change(name: str, content: bytes) -> bytes | None:
        if name.startswith("xl/worksheets/"):
            return None
        if name == "xl/workbook.xml":
            start, end = content.index(b"<sheets>"), content.index(b"</sheets>") + len(b"</sheets>")
            return content[:start] + b"<sheets/>" + content[end:]
        if name == "xl/_rels/workbook.xml.rels":
            import re

            return re.sub(rb"<Relationship[^>]*worksheets/[^>]*/>", b"", content)
        if name == "[Content_Types].xml":
            import re

            return re.sub(rb"<Override[^>]*worksheets/[^>]*/>", b"", content)
        return content

    return rewrite_zip(xlsx_bytes(["x"], []), change)


def ole_file(encrypted: bool) -> bytes:
    """A compound (OLE) file as Excel writes it for an encrypted workbook (a stream named
    EncryptedPackage) or for the old .xls format (a Workbook stream). Only the parts the reader
    looks at: the magic bytes and the directory entry names."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    header = header.ljust(512, b"\xff")
    name = "EncryptedPackage" if encrypted else "Workbook"
    entry = ("Root Entry".encode("utf-16-le").ljust(64, b"\x00") + b"\x16\x00\x05\x01").ljust(128, b"\x00")
    entry += (name.encode("utf-16-le").ljust(64, b"\x00") + bytes([len(name) * 2 + 2, 0, 2, 1])).ljust(128, b"\x00")
    return header + entry.ljust(512, b"\x00") + bytes(range(256)) * 8


def with_formula_values(data: bytes, cells: dict[str, tuple[str, str]]) -> bytes:
    """Make cells formulas the way Excel saves them after calculating: <f> with a cached <v>.
    cells: reference (e.g. 'C2') -> (formula, cached text value)."""
    import re

    def change(name: str, content: bytes) -> bytes:
        if name != "xl/worksheets/sheet1.xml":
            return content
        for reference, (formula, value) in cells.items():
            pattern = rb'<c r="' + reference.encode() + rb'"[^>]*?(/>|>.*?</c>)'
            replacement = (f'<c r="{reference}" t="str"><f>{formula}</f><v>{value}</v></c>').encode()
            content, count = re.subn(pattern, replacement, content, count=1)
            assert count == 1, reference
        return content

    return rewrite_zip(data, change)


def wrong_check_digit(written: str) -> str:
    """The same number with a check digit that does not hold: a typical typing error."""
    return written[:-1] + str((int(written[-1]) + 1) % 10)


def month_start(month: str) -> str:
    return f"{month}-01"


def xlsx_workbook_bytes(fill) -> bytes:
    """An XLSX built by fill(worksheet), for what xlsx_bytes cannot express (formulas, blanks)."""
    workbook = openpyxl.Workbook()
    fill(workbook.active)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
