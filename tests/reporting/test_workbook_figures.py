"""The funder workbook as `followup export` writes it from the demo warehouse: every figure it
shows agrees with kpi.csv (the same suppression), and the data version names the run and the
deliveries the figures stand on."""

from __future__ import annotations

import csv
import math

import openpyxl
import pytest

from orchestration.projects.config import load_projects
from orchestration.reporting.kpi_names import BREAKDOWN_LABELS, GROUP_LABELS, KPI_LABELS
from orchestration.reporting.workbook import BREAKDOWN_KPIS, SUMMARY_KPIS, TREND_KPIS

pytestmark = pytest.mark.slow


def read_kpi_csv(path) -> dict:
    with path.open(encoding="utf-8", newline="") as handle:
        return {(r["area"], r["kpi"], r["breakdown"], r["group"]): r for r in csv.DictReader(handle)}


def shown(row: dict) -> object:
    """What the workbook must show for a kpi.csv row: x when suppressed, .. when no value."""
    if row["suppressed"] == "true":
        return "x"
    if row["value"] == "":
        return ".."
    return float(row["value"])


def table_rows(sheet) -> list[tuple]:
    """The rows of a sheet's table: the autofilter's range below its header (the key under the
    table is outside it)."""
    first, last = (int("".join(filter(str.isdigit, end))) for end in sheet.auto_filter.ref.split(":"))
    return list(sheet.iter_rows(min_row=first + 1, max_row=last, values_only=True))


def same(cell: object, expected: object) -> bool:
    if isinstance(expected, float):
        return isinstance(cell, (int, float)) and math.isclose(cell, expected, rel_tol=1e-6, abs_tol=1e-6)
    return cell == expected


@pytest.fixture(scope="module")
def books(demo_pipeline):
    out = {}
    for exported in demo_pipeline.exported:
        assert exported.workbook.name == "kpi.xlsx" and exported.workbook.parent == exported.path.parent
        out[exported.project_id] = (read_kpi_csv(exported.path), openpyxl.load_workbook(exported.workbook),
                                    exported)
    assert set(out) == {p.id for p in demo_pipeline.config.projects}
    return out


def test_every_project_gets_a_workbook_with_the_swedish_sheets(books):
    mapped = {p.id for p in load_projects().projects if p.mapping is not None}     # the demo's configuration
    for project_id, (_, book, exported) in books.items():
        # a project with a mapping instrument and mapping figures (kartlaggning.csv) has the sheet Kartläggning
        assert exported.mapping is None or project_id in mapped
        mapping = ["Kartläggning"] if exported.mapping else []
        assert book.sheetnames == ["Mål", "Kommuner", "Fördelningar", "Trend", "Faser", *mapping, "Datakvalitet",
                                   "Definitioner"]
        for sheet in book:
            assert sheet.freeze_panes is not None, sheet.title


def test_municipality_sheet_equals_kpi_csv(books, demo_pipeline):
    for project_id, (table, book, _) in books.items():
        project = demo_pipeline.config.project(project_id)
        rows = {r[0]: r for r in table_rows(book["Kommuner"])}
        assert list(rows) == ["ALL", *project.municipalities]
        checked = 0
        for area, row in rows.items():
            for position, kpi in enumerate(SUMMARY_KPIS, start=2):
                expected = table.get((area, kpi, "total", "T"))
                if expected is None:
                    continue
                assert same(row[position], shown(expected)), (project_id, area, kpi, row[position], expected)
                checked += 1
        assert checked >= len(rows) * 2


def test_breakdown_sheet_equals_kpi_csv(books):
    labels = {label: code for code, label in BREAKDOWN_LABELS.items()}
    groups = {label: code for code, label in GROUP_LABELS.items()}
    for project_id, (table, book, _) in books.items():
        names = {r[1]: r[0] for r in table_rows(book["Kommuner"])}
        compared = 0
        for row in table_rows(book["Fördelningar"]):
            area, breakdown, group = names[row[0]], labels[row[1]], groups.get(row[2], row[2])
            for position, kpi in enumerate(BREAKDOWN_KPIS, start=3):
                expected = table.get((area, kpi, breakdown, group))
                if expected is not None:
                    assert same(row[position], shown(expected)), (project_id, area, kpi, breakdown, group)
                    compared += 1
        in_csv = sum(1 for (a, k, b, g) in table if k in BREAKDOWN_KPIS and b in BREAKDOWN_LABELS)
        assert compared == in_csv, project_id


def test_targets_and_newest_trend_row_equal_kpi_csv(books, demo_pipeline):
    for project_id, (table, book, exported) in books.items():
        sheet = book["Mål"]
        by_label = {r[0]: r for r in sheet.iter_rows(min_row=4, values_only=True) if r[0]}
        participants = table[("ALL", "participants", "total", "T")]
        assert same(by_label["Deltagare"][1], shown(participants))
        share = table[("ALL", "activity_share", "total", "T")]
        share_row = by_label["Andel till aktivitet av alla deltagare"]
        assert same(share_row[1], shown(share))
        if share["target"]:
            assert same(share_row[2], float(share["target"]))
        trend = table_rows(book["Trend"])
        assert trend[-1][0] == exported.period and [r[0] for r in trend] == sorted(r[0] for r in trend)
        for position, kpi in enumerate(TREND_KPIS, start=1):
            expected = table.get(("ALL", kpi, "total", "T"))   # no pace target without a participants target
            assert same(trend[-1][position], None if expected is None else shown(expected)), (project_id, kpi)


def test_shares_are_formatted_as_percentages(books):
    for _, book, _ in books.values():
        formats = {c.number_format for row in book["Kommuner"].iter_rows(min_row=2) for c in row
                   if isinstance(c.value, float) and 0 < c.value < 1}
        assert formats == {"0.0%"}


def test_counts_show_no_decimals_and_a_median_one_only_when_it_is_a_half(books):
    """Every figure of every sheet has a format of its own: a count (and a whole median) none of
    the decimals it is stored with (350.0), a median between two days one, a share a percentage."""
    for project_id, (_, book, _) in books.items():
        for sheet in book:
            for cell in (c for row in sheet.iter_rows() for c in row):
                if isinstance(cell.value, bool) or not isinstance(cell.value, (int, float)):
                    continue
                assert cell.number_format in {"#,##0", "#,##0.0", "0.0%"}, (project_id, sheet.title, cell.coordinate)
                if cell.number_format == "#,##0.0":
                    assert cell.value % 1 == 0.5, (project_id, sheet.title, cell.coordinate, cell.value)


def test_data_version_names_the_run_and_every_delivery(books, demo_pipeline):
    import duckdb

    with duckdb.connect(str(demo_pipeline.home.warehouse), read_only=True) as db:
        for project_id, (_, book, exported) in books.items():
            text = "\n".join(" ".join(str(c) for c in r if c is not None)
                             for r in book["Definitioner"].iter_rows(values_only=True))
            assert demo_pipeline.outcome.run_id in text
            written_by_the_run = openpyxl.load_workbook(demo_pipeline.home.exports / project_id / "kpi.xlsx")
            assert any(demo_pipeline.outcome.run_id in str(c) for r in
                       written_by_the_run["Definitioner"].iter_rows(values_only=True) for c in r if c)
            hashes = db.execute("select sha256 from marts.fct_deliveries where project_id = ? and reporting_month <= ?",
                                [project_id, exported.period]).fetchall()
            assert hashes and all(h in text for (h,) in hashes)
            file_names = db.execute("select file_name from marts.fct_deliveries where project_id = ?",
                                    [project_id]).fetchall()
            whole = "\n".join(str(c.value) for ws in book for row in ws.iter_rows() for c in row if c.value)
            assert not any(name in whole for (name,) in file_names), "a funder workbook shows no file names"
            # a mapping file of the data version says it is one, on both sheets that list deliveries
            mapping = db.execute("select count(*) from marts.fct_deliveries where project_id = ? and reporting_month <= ? "
                                 "and extract_kind = 'KARTLAGGNING'", [project_id, exported.period]).fetchone()[0]
            for sheet in ("Datakvalitet", "Definitioner"):
                labelled = [r for r in book[sheet].iter_rows(values_only=True)
                            if r[1] is not None and str(r[1]).endswith(" (kartläggning)")]
                assert len(labelled) == mapping, (project_id, sheet)
            assert project_id not in ("vaga_valja_vag", "harjedalen") or mapping > 0


def test_the_internal_workbook_is_exact(demo_pipeline):
    for exported in demo_pipeline.internal:
        assert exported.workbook.name == "kpi_internal.xlsx"
        table = read_kpi_csv(exported.path)
        assert all(r["suppressed"] == "false" for r in table.values())
        rows = {r[0]: r for r in table_rows(openpyxl.load_workbook(exported.workbook)["Kommuner"])}
        assert same(rows["ALL"][2], shown(table[("ALL", SUMMARY_KPIS[0], "total", "T")]))
        assert "x" not in {c for r in rows.values() for c in r}


def test_the_one_page_report_shows_exactly_what_kpi_csv_shows(books, demo_pipeline):
    """rapport.html names its measures as the workbook does (kpi_names.KPI_LABELS): participants
    always, a share where the project shows it (a target of its own, or no other target)."""
    import re

    for project_id, (table, _, _) in books.items():
        page = (demo_pipeline.home.exports / project_id / "rapport.html").read_text(encoding="utf-8")
        shown_there = dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]+)</td>", page))
        participants = table[("ALL", "participants", "total", "T")]
        expected = "visas inte" if participants["suppressed"] == "true" else f"{float(participants['value']):.0f}"
        assert shown_there[KPI_LABELS["participants"]] == expected, project_id
        shares = [kpi for kpi in ("activity_share", "exit_activity_share") if KPI_LABELS[kpi] in shown_there]
        for kpi in shares:
            share = table[("ALL", kpi, "total", "T")]
            if share["suppressed"] == "true":
                expected = "visas inte"
            elif share["value"] == "":
                expected = "–"
            else:
                expected = f"{float(share['value']):.0%}".replace("%", " %")
            assert shown_there[KPI_LABELS[kpi]] == expected, (project_id, kpi)
    assert any(KPI_LABELS["activity_share"] in (demo_pipeline.home.exports / p / "rapport.html").read_text(encoding="utf-8")
               for p in books)
