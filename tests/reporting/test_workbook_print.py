"""The funder workbooks print: LibreOffice (headless) prints every demo kpi.xlsx to PDF, as it
prints every sheet, and poppler reads the pages back.

Each sheet must be as wide as one page. A sheet split across pages sideways (what the workbook
did before it had a page setup: 103 pages for UVAS, the labels on one page and the values on the
next) leaves pages where some of the sheet's column labels are missing, so the check is: every
page names its sheet (the page header), and carries every label of the rows its sheet repeats on
every page, the first column's and the last column's alike; and the sheets follow each other,
each on pages of its own. The footer names the project and the page.

One LibreOffice call for the module. CI installs LibreOffice (.ci/run); on a machine without it
the test skips, except when FOLLOWUP_REQUIRE_LIBREOFFICE is set (CI sets it), where a missing
LibreOffice fails the test. With FOLLOWUP_KEEP_PRINTS set, the PDFs and a PNG of each first page
of a sheet are kept under test-artifacts/print-check/ to be looked at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from tests.libreoffice import convert_workbooks, require

pytestmark = pytest.mark.slow
UVAS_PAGES_BEFORE = 103          # the UVAS demo workbook without a page setup


@pytest.fixture(scope="module")
def printed(demo_pipeline, tmp_path_factory) -> dict[str, tuple[Path, Path, list[str]]]:
    """project id → (workbook, PDF, the text of each page)."""
    require("pdfinfo", "pdftotext", install="libreoffice-calc-nogui poppler-utils")
    work = tmp_path_factory.mktemp("print")
    books, result = convert_workbooks(demo_pipeline.exported, work, "pdf", "pdf")
    out = {}
    for project_id, book in books.items():
        pdf = work / "pdf" / f"{project_id}.pdf"
        assert pdf.exists(), f"LibreOffice did not print {project_id}: {result.stderr}"
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        pages = text.split("\f")
        if pages and not pages[-1].strip():
            pages.pop()                           # pdftotext ends the last page with a form feed too
        out[project_id] = (book, pdf, pages)
    if os.environ.get("FOLLOWUP_KEEP_PRINTS"):
        _keep(out)
    return out


def _keep(printed: dict) -> None:
    keep = Path(__file__).resolve().parents[2] / "test-artifacts" / "print-check"
    keep.mkdir(parents=True, exist_ok=True)
    for project_id, (_, pdf, _) in printed.items():
        shutil.copyfile(pdf, keep / pdf.name)
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(keep / project_id)], check=False)


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))


def repeated_labels(sheet) -> list[str]:
    """A word of every label in the rows the sheet prints on every page (the longest word: a
    label wraps within its column, but a word is never split)."""
    rows = sheet.print_title_rows
    assert rows, f"{sheet.title} repeats no rows on its pages"
    first, last = (int(n) for n in re.findall(r"\d+", rows))
    words = []
    for row in sheet.iter_rows(min_row=first, max_row=last, values_only=True):
        for value in row:
            if value is not None:
                words.append(max(str(value).split(), key=len))
    return words


def sheet_of(page: str, titles: list[str]) -> str | None:
    """The sheet a page shows: its header (the first line) names it."""
    first_line = next((line.strip() for line in page.splitlines() if line.strip()), "")
    return first_line if first_line in titles else None


def test_every_sheet_prints_one_page_wide_with_its_labels_on_every_page(printed):
    for project_id, (book_path, _, pages) in printed.items():
        book = openpyxl.load_workbook(book_path)
        titles = book.sheetnames
        shown = [sheet_of(page, titles) for page in pages]
        assert None not in shown, (project_id, "a page whose header names no sheet",
                                   pages[shown.index(None)][:300])
        in_order = [title for i, title in enumerate(shown) if i == 0 or shown[i - 1] != title]
        assert in_order == titles, (project_id, "each sheet on pages of its own, in order", in_order)
        for sheet in book:
            labels = repeated_labels(sheet)
            for number, page in enumerate(pages, start=1):
                if shown[number - 1] != sheet.title:
                    continue
                missing = [label for label in labels if label not in page]
                assert not missing, (project_id, sheet.title, f"page {number}", "labels not on the page", missing)


def as_printed(cell) -> str:
    """A cell's text as its number format shows it (LibreOffice's default locale, en-US)."""
    value = cell.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if cell.number_format == "0.0%":
        return f"{value:.1%}"
    return f"{value:,.1f}" if cell.number_format.endswith(".0") else f"{value:,.0f}"


def test_a_row_of_figures_prints_on_one_line_as_formatted(printed):
    """Beyond the labels: on the Kommuner pages, the line of every municipality holds its name
    (the first columns) and every figure to the last column, each as its format shows it: 395,
    not 395.0; 61.0%; 124.5 days but 156, not 156.0."""
    for project_id, (book_path, _, pages) in printed.items():
        book = openpyxl.load_workbook(book_path)
        sheet = book["Kommuner"]
        first, last = (int(n) for n in re.findall(r"\d+", sheet.auto_filter.ref))
        lines = "\n".join(page for page in pages if sheet_of(page, book.sheetnames) == "Kommuner").splitlines()
        for code, name, *figures in sheet.iter_rows(min_row=first + 1, max_row=last):
            line = next((line for line in lines if line.split()[:1] == [code.value]), None)
            assert line is not None, (project_id, code.value)
            assert name.value in line, (project_id, code.value, line)
            shown = line.split(name.value, 1)[1].split()
            assert shown == [as_printed(c) for c in figures if c.value is not None], (project_id, line)


def test_the_uvas_workbook_prints_on_far_fewer_pages(printed):
    _, pdf, pages = printed["uvas"]
    assert len(pages) == page_count(pdf)
    assert page_count(pdf) <= UVAS_PAGES_BEFORE // 3, page_count(pdf)


def test_every_page_is_landscape_a4_with_the_project_and_the_page_in_its_footer(printed, demo_pipeline):
    for project_id, (_, pdf, pages) in printed.items():
        project = demo_pipeline.config.project(project_id)
        sizes = subprocess.run(["pdfinfo", "-f", "1", "-l", str(len(pages)), str(pdf)], capture_output=True,
                               text=True, check=True).stdout
        for width, height in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", sizes):
            assert (round(float(width)), round(float(height))) == (842, 595), (project_id, width, height)
        for number, page in enumerate(pages, start=1):
            footer = page.strip().splitlines()[-1]
            assert project.name[:30] in footer, (project_id, number, footer)
            assert f"Sida {number} av {len(pages)}" in footer, (project_id, number, footer)
            assert "Period 20" in footer, (project_id, number, footer)
