"""The funder workbook kpi.xlsx, opened with openpyxl and checked against the rows it was given."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from orchestration.projects.config import Project
from orchestration.reporting.workbook import write_workbook

PROJECT = Project(
    id="p1", name="Projekt Ett", owner="Förbundet", funder="ESF", period_start=dt.date(2020, 1, 1),
    period_end=dt.date(2020, 12, 31), age_min=16, age_max=25, municipalities=("0136", "0192"),
    activity_outcomes=("ARBETE", "STUDIER"), targets={"participants": 120.0, "activity_share": 0.5}, min_count=5,
)


def row(area, period, kpi, value, breakdown="total", group="T", numerator=None, denominator=None, target=None,
        target_met=None, suppressed=False):
    return {"project_id": "p1", "area": area, "period": period, "kpi": kpi, "breakdown": breakdown, "group": group,
            "value": value, "numerator": value if numerator is None and denominator is None else numerator,
            "denominator": denominator, "target": target, "target_met": target_met, "suppressed": suppressed}


ROWS = [
    row("ALL", "2020-01", "participants", 20.0, target=120.0, target_met=False),
    row("ALL", "2020-02", "participants", 42.0, target=120.0, target_met=False),
    row("ALL", "2020-02", "participants_pace_target", 20.0, numerator=None, denominator=None),
    row("ALL", "2020-02", "activity_share", 0.25, numerator=10.0, denominator=40.0, target=0.5, target_met=False),
    row("ALL", "2020-01", "activity_share", 0.1, numerator=2.0, denominator=20.0, target=0.5, target_met=False),
    row("ALL", "2020-02", "median_days_to_activity", 45.5, numerator=None, denominator=10.0),
    row("ALL", "2020-02", "median_days_to_activity", 30.0, breakdown="kon", group="K", numerator=None, denominator=9.0),
    row("ALL", "2020-02", "outcome_6m_activity_share", 0.6, numerator=6.0, denominator=10.0, target=0.5, target_met=True),
    row("ALL", "2020-02", "exit_activity_share", None, numerator=0.0, denominator=0.0),
    row("ALL", "2020-02", "phase_hitta", 7.0),
    row("ALL", "2020-02", "phase_matcha", 12.0),
    row("ALL", "2020-02", "participants", 30.0, breakdown="kon", group="K"),
    row("ALL", "2020-02", "participants", 12.0, breakdown="kon", group="M"),
    row("ALL", "2020-02", "participants", 0.0, breakdown="kon", group="X"),
    row("ALL", "2020-02", "participants", 42.0, breakdown="alder", group="16-19"),
    row("ALL", "2020-02", "activity_share", 0.3, breakdown="kon", group="K", numerator=9.0, denominator=30.0),
    row("0136", "2020-02", "participants", 38.0),
    row("0192", "2020-02", "participants", None, suppressed=True),
    row("0192", "2020-02", "activity_share", None, numerator=None, denominator=None, suppressed=True),
]
DELIVERIES = [
    {"kommunkod": "0136", "reporting_month": "2020-02", "file_name": "2020-02.csv", "sha256": "a" * 64,
     "received_at": dt.datetime(2020, 3, 5, 8, 0), "verdict": "ACCEPTED", "rows_total": 40, "rows_accepted": 40,
     "rows_rejected": 0, "rows_warned": 0, "is_current": True},
    {"kommunkod": "0192", "reporting_month": "2020-02", "file_name": "=HYPERLINK(\"http://x\")2020-02.csv",
     "sha256": "b" * 64, "received_at": dt.datetime(2020, 3, 6, 9, 30), "verdict": "REJECTED",
     "verdict_reason": "KOLUMN_SAKNAS", "rows_total": 5, "rows_accepted": 0, "rows_rejected": 5, "rows_warned": 0,
     "is_current": False},
]


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    path = write_workbook(ROWS, PROJECT, tmp_path_factory.mktemp("wb") / "p1" / "kpi.xlsx", DELIVERIES,
                          run_id="run-123", built_at="2020-03-11 06:00")
    return openpyxl.load_workbook(path)


def by_label(sheet, label_column: int = 1) -> dict:
    return {r[label_column - 1]: r for r in sheet.iter_rows(values_only=True) if r and r[label_column - 1]}


def table(sheet, values_only: bool = True) -> list:
    """The rows of a sheet's table, under its header: the autofilter's range (the key under the
    table is outside it)."""
    first, last = sheet.auto_filter.ref.split(":")
    top, bottom = int("".join(filter(str.isdigit, first))), int("".join(filter(str.isdigit, last)))
    return list(sheet.iter_rows(min_row=top + 1, max_row=bottom, values_only=values_only))


def test_workbook_has_the_swedish_sheets_in_order(workbook):
    assert workbook.sheetnames == ["Mål", "Kommuner", "Fördelningar", "Trend", "Faser", "Datakvalitet", "Definitioner"]


def test_targets_sheet_shows_the_newest_figures_against_the_targets(workbook):
    sheet = workbook["Mål"]
    rows = by_label(sheet)
    assert rows["Deltagare"][1:4] == (42, 120, "nej")
    assert rows["Mål för deltagare hittills (jämn takt)"][1] == 20
    share = rows["Andel till aktivitet av alla deltagare"]
    assert share[1:6] == (0.25, 0.5, "nej", 10, 40)
    assert rows["Mediantid till aktivitet (dagar)"][1] == 45.5
    assert rows["Andel till aktivitet av avslutade"][1] == ".."  # denominator 0: cannot be computed
    share_row = next(r for r in sheet.iter_rows(min_row=4) if r[0].value == "Andel till aktivitet av alla deltagare")
    assert share_row[1].number_format == "0.0%" and share_row[2].number_format == "0.0%"
    assert sheet.freeze_panes == "A4"


def test_municipality_sheet_hides_suppressed_cells(workbook):
    sheet = workbook["Kommuner"]
    rows = by_label(sheet)
    assert rows["ALL"][1] == "Hela projektet"
    assert rows["0136"][1] == "0136 Haninge" and rows["0136"][2] == 38
    assert rows["0192"][2] == "x"  # suppressed: shown as x, never the figure
    header = [c.value for c in sheet[1]]
    assert rows["0192"][header.index("Andel till aktivitet av alla deltagare")] == "x"
    assert sheet.freeze_panes == "A2"


def test_breakdown_sheet_lists_every_group_with_swedish_labels(workbook):
    rows = [r for r in table(workbook["Fördelningar"]) if r[0] == "Hela projektet"]
    groups = {(r[1], r[2]): r for r in rows}
    assert groups[("Kön", "Kvinna")][3] == 30 and groups[("Kön", "Man")][3] == 12
    assert groups[("Kön", "Annat/ickebinär")][3] == 0
    assert groups[("Ålder vid första start", "16-19")][3] == 42
    assert groups[("Kön", "Kvinna")][5] == pytest.approx(0.3)
    assert [r[1] for r in rows][0] == "Totalt"


def test_trend_and_phase_sheets_run_month_by_month(workbook):
    trend = table(workbook["Trend"])
    assert [(r[0], r[1]) for r in trend] == [("2020-01", 20), ("2020-02", 42)]
    header = [c.value for c in workbook["Trend"][1]]
    assert trend[1][header.index("Andel till aktivitet av alla deltagare")] == 0.25
    assert trend[1][header.index("Mål deltagare")] == 120
    cell = workbook["Trend"].cell(3, header.index("Andel till aktivitet av alla deltagare") + 1)
    assert cell.number_format == "0.0%"
    phases = {r[0]: r for r in table(workbook["Faser"])}
    assert phases["2020-02"][1] == 7 and phases["2020-02"][4] == 12


def test_data_quality_lists_deliveries_without_their_file_names(workbook):
    sheet = workbook["Datakvalitet"]
    rows = table(sheet)
    assert [(r[0], r[4]) for r in rows] == [("0136", "Godkänd"), ("0192", "Underkänd")]
    assert rows[1][5] == "KOLUMN_SAKNAS"
    assert [r[2] for r in rows] == ["a" * 12, "b" * 12]
    names = [d["file_name"] for d in DELIVERIES]
    assert not any(name in str(cell.value) for ws in workbook for row in ws.iter_rows() for cell in row
                   for name in names if cell.value is not None)


def test_the_coordinators_exact_workbook_shows_file_names_as_text_never_as_formulas(tmp_path):
    path = write_workbook(ROWS, PROJECT, tmp_path / "kpi_internal.xlsx", DELIVERIES, exact=True)
    book = openpyxl.load_workbook(path)
    rows = table(book["Datakvalitet"])
    assert rows[1][2] == "'" + DELIVERIES[1]["file_name"]
    assert all(cell.data_type != "f" for ws in book for row in ws.iter_rows() for cell in row)
    assert "EXAKTA TAL" in book["Mål"]["A2"].value


def test_definitions_name_every_kpi_the_suppression_rule_and_the_data_version(workbook):
    sheet = workbook["Definitioner"]
    values = [r for r in sheet.iter_rows(values_only=True)]
    ids = {r[1] for r in values if r[1]}
    assert {"participants", "activity_share", "median_days_to_activity", "participants_pace_target"} <= ids
    text = "\n".join(" ".join(str(c) for c in r if c is not None) for r in values)
    assert "antal från 1 till 4 inte" in text
    assert "sekundärt röjandeskydd" in text
    assert "run-123" in text
    assert "a" * 64 in text and "b" * 64 in text
    assert "2020-03-05 09:00:00" in text          # 08:00 UTC, received in winter
    assert "de minsta möjliga cellerna" not in text   # the greedy choice promises no minimum
    assert "inte garanterat den minsta möjliga uppsättningen" in text


def test_column_widths_fit_their_content(workbook):
    sheet = workbook["Definitioner"]
    assert sheet.column_dimensions["C"].width >= 60
    assert 8 <= workbook["Kommuner"].column_dimensions["A"].width <= 20


def test_without_a_recorded_build_the_run_comes_from_the_dagster_instance_or_is_unknown(tmp_path):
    """An export from the command line names the run that built the figures: from the warehouse's
    record of the dbt step, else the Dagster instance, else nobody (an empty data home)."""
    from orchestration.lib.warehouse import connect, record_marts_build
    from orchestration.reporting.export import BuiltBy, figures_built_by

    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse) as db:
        db.execute("create table t (x int)")
    assert figures_built_by(tmp_path / "dagster", warehouse) == BuiltBy(None, None)
    record_marts_build(warehouse, "run-1")
    record_marts_build(warehouse, "run-2")
    built = figures_built_by(tmp_path / "dagster", warehouse)
    assert built.run_id == "run-2" and built.built_at is not None
