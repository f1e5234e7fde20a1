"""Encode a Table the way the municipality's software would, byte for byte.

CSV goes through the csv module into a string and is then encoded. XLSX goes through openpyxl
(the first sheet holds the list) and is then re-zipped with fixed timestamps, so the same seed
always gives the same bytes in both formats (a redelivered identical file must change nothing).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import zipfile
from pathlib import Path

import openpyxl

from orchestration.generator.snapshot import Table
from orchestration.generator.styles import DeliveryStyle

_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def write_table(path: Path, table: Table, style: DeliveryStyle, mtime: float) -> None:
    """Write the file and date it as arriving at mtime (arrival order is what ingest sorts by)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if style.fmt == "xlsx":
        path.write_bytes(xlsx_bytes(table, style, dt.datetime.fromtimestamp(mtime, dt.timezone.utc)))
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


def xlsx_bytes(table: Table, style: DeliveryStyle, saved_at: dt.datetime) -> bytes:
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
    workbook.properties.creator = "Kommunens handläggare"
    workbook.properties.created = saved_at.replace(tzinfo=None)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _deterministic_zip(buffer.getvalue(), saved_at)


def _deterministic_zip(data: bytes, saved_at: dt.datetime) -> bytes:
    """Re-zip with fixed entry times and the 'modified' property set to the arrival time."""
    stamp = saved_at.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    source = zipfile.ZipFile(io.BytesIO(data))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=saved_at.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            target.writestr(entry, content)
    return output.getvalue()
