"""Encode a Table the way the municipality's software would, byte for byte.

CSV goes through the csv module into a string and is then encoded, so the same seed always
gives the same bytes. XLSX goes through openpyxl (the first sheet holds the list).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path

import openpyxl

from orchestration.generator.snapshot import Table
from orchestration.generator.styles import DeliveryStyle

FIXED_XLSX_TIMESTAMP = dt.datetime(2020, 1, 1, 12, 0, 0)


def write_table(path: Path, table: Table, style: DeliveryStyle, mtime: float) -> None:
    """Write the file and date it as arriving at mtime (arrival order is what ingest sorts by)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if style.fmt == "xlsx":
        _write_xlsx(path, table, style)
    else:
        path.write_bytes(csv_bytes(table, style))
    os.utime(path, (mtime, mtime))


def csv_bytes(table: Table, style: DeliveryStyle) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=style.separator or ",",
        lineterminator=style.line_ending,
        quoting=csv.QUOTE_ALL if style.quote_all else csv.QUOTE_MINIMAL,
    )
    trailing = [""] if style.trailing_blank_column else []
    writer.writerow(table.headers + trailing)
    for row in table.rows:
        writer.writerow([_csv_text(cell) for cell in row] + trailing)
    text = buffer.getvalue() + style.line_ending * style.trailing_blank_lines
    assert style.encoding is not None
    return text.encode(style.encoding)


def _csv_text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return str(cell)


def _write_xlsx(path: Path, table: Table, style: DeliveryStyle) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Deltagare"
    sheet.append(table.headers)
    for row in table.rows:
        sheet.append(row)
    if style.date_form == "excel":
        for column_index, column in enumerate(table.columns, start=1):
            if column in ("startdatum", "slutdatum"):
                for (cell,) in sheet.iter_rows(min_row=2, min_col=column_index, max_col=column_index):
                    cell.number_format = "yyyy-mm-dd"
    if style.extra_sheet:
        notes = workbook.create_sheet("Instruktioner")
        notes.append(["Fyll i en rad per inskrivning. Personnummer ÅÅMMDD-NNNN."])
    workbook.properties.creator = "followup generator"
    workbook.properties.created = FIXED_XLSX_TIMESTAMP
    workbook.save(path)
