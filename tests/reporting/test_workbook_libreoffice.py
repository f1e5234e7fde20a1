"""The funder workbooks open in LibreOffice Calc and show there what openpyxl wrote.

LibreOffice (headless) converts every sheet of every demo kpi.xlsx to CSV with the cells as
shown; each cell is compared with the workbook as written: text equal, numbers equal within the
shown precision, percentages shown as percentages. CI installs LibreOffice (.ci/run); on a
machine without it the test skips, except when FOLLOWUP_REQUIRE_LIBREOFFICE is set (CI sets it),
where a missing LibreOffice fails the test.
"""

from __future__ import annotations

import csv
import datetime as dt
import re

import openpyxl
import pytest

from tests.libreoffice import convert_workbooks, require

pytestmark = pytest.mark.slow
ALL_SHEETS_AS_SHOWN = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


@pytest.fixture(scope="module")
def converted(demo_pipeline, tmp_path_factory):
    require()
    work = tmp_path_factory.mktemp("libreoffice")
    books, _ = convert_workbooks(demo_pipeline.exported, work, ALL_SHEETS_AS_SHOWN, "csv")
    return work / "csv", books


def read_shown(path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.reader(handle)]


def agrees(written: object, shown: str, number_format: str) -> bool:
    """The shown text says the written value, to the precision of its format: a date-time to the
    minute, a count (#,##0, thousands grouped as the locale groups them) to the unit. LibreOffice
    writes the first sheet as shown, the others with their values in full (as it did before the
    workbook had formats of its own), so both are accepted."""
    if written is None:
        return shown == ""
    if isinstance(written, dt.datetime):
        return shown in (f"{written:%Y-%m-%d %H:%M}", f"{written:%Y-%m-%d %H:%M:%S}")
    if isinstance(written, bool) or not isinstance(written, (int, float)):
        return shown == str(written).removeprefix("'") or shown == str(written)
    if "%" in number_format:
        return shown.endswith("%") and abs(float(shown.rstrip("%").replace(",", ".")) / 100 - written) < 0.0006
    if "." not in number_format and re.fullmatch(r"-?\d{1,3}([,\xa0 ]\d{3})*", shown):
        return abs(int(re.sub(r"\D", "", shown)) * (-1 if shown.startswith("-") else 1) - written) <= 0.5
    return abs(float(shown.replace(",", ".")) - written) <= 0.051


def test_every_sheet_of_every_workbook_shows_what_was_written(converted):
    folder, books = converted
    for project_id, book_path in books.items():
        book = openpyxl.load_workbook(book_path)
        for sheet in book:
            shown_path = folder / f"{project_id}-{sheet.title}.csv"
            assert shown_path.exists(), f"LibreOffice did not open sheet {sheet.title} of {project_id}"
            shown = read_shown(shown_path)
            cells = 0
            for row in sheet.iter_rows():
                for cell in row:
                    if cell.value is None:
                        continue
                    text = shown[cell.row - 1][cell.column - 1]
                    assert agrees(cell.value, text, cell.number_format), \
                        (project_id, sheet.title, cell.coordinate, cell.value, text)
                    cells += 1
            assert cells > 0, (project_id, sheet.title)
