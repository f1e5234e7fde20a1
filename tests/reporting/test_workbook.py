"""The funder workbook kpi.xlsx, opened with openpyxl and checked against the rows it was given."""

from __future__ import annotations

import dataclasses
import datetime as dt

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
    assert trend[1][header.index("Mål: Deltagare")] == 120
    assert header[-2:] == ["Mål: Deltagare", "Mål: Andel till aktivitet av alla deltagare"]     # every target
    cell = workbook["Trend"].cell(3, header.index("Andel till aktivitet av alla deltagare") + 1)
    assert cell.number_format == "0.0%"
    phases = {r[0]: r for r in table(workbook["Faser"])}
    assert phases["2020-02"][1] == 7 and phases["2020-02"][4] == 12


def test_data_quality_lists_deliveries_without_their_file_names(workbook):
    sheet = workbook["Datakvalitet"]
    rows = table(sheet)
    assert [(r[0], r[4]) for r in rows] == [("0136", "Godkänd"), ("0192", "Avvisad")]
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
    assert "så få och så små tal som möjligt" not in text
    assert "Cellerna väljs en i taget" in text and "inte garanterat den minsta möjliga uppsättningen" in text
    assert "deltagarna och deras delar" in text       # the relations across KPIs are protected too


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


# ---- print and format ------------------------------------------------------------------------

FIGURE_SHEETS = ("Mål", "Kommuner", "Fördelningar", "Trend", "Faser")


def cell_of(sheet, label: str, column_label: str, label_column: int = 1):
    """The cell of a table's row (by its label) and column (by its header label)."""
    header_row = int("".join(filter(str.isdigit, sheet.auto_filter.ref.split(":")[0])))
    header = [c.value for c in sheet[header_row]]
    row = next(r for r in table(sheet, values_only=False) if r[label_column - 1].value == label)
    return row[header.index(column_label)]


def test_counts_show_no_decimals_days_only_a_half_and_shares_percent(workbook):
    targets = workbook["Mål"]
    assert cell_of(targets, "Deltagare", "Värde").number_format == "#,##0"
    assert cell_of(targets, "Deltagare", "Mål").number_format == "#,##0"          # 120 persons
    assert cell_of(targets, "Mål för deltagare hittills (jämn takt)", "Värde").number_format == "#,##0"
    assert cell_of(targets, "Andel till aktivitet av alla deltagare", "Täljare").number_format == "#,##0"
    assert cell_of(targets, "Andel till aktivitet av alla deltagare", "Nämnare").number_format == "#,##0"
    assert cell_of(targets, "Andel till aktivitet av alla deltagare", "Mål").number_format == "0.0%"
    half = cell_of(targets, "Mediantid till aktivitet (dagar)", "Värde")
    assert (half.value, half.number_format) == (45.5, "#,##0.0")
    whole = next(r for r in table(workbook["Fördelningar"], values_only=False) if r[2].value == "Kvinna")[7]
    assert (whole.value, whole.number_format) == (30, "#,##0")                    # not 30.0
    trend = workbook["Trend"]
    assert cell_of(trend, "2020-02", "Mål: Deltagare").number_format == "#,##0"
    assert cell_of(trend, "2020-02", "Mål: Andel till aktivitet av alla deltagare").number_format == "0.0%"
    assert cell_of(workbook["Faser"], "2020-02", "Fas Hitta").number_format == "#,##0"
    quality = workbook["Datakvalitet"]
    assert all(c.number_format == "#,##0" for r in table(quality, values_only=False) for c in r[6:10])


def test_a_hidden_figure_is_a_right_aligned_x_on_grey(workbook):
    hidden = cell_of(workbook["Kommuner"], "0192", "Deltagare")
    assert hidden.value == "x"
    assert hidden.alignment.horizontal == "right"
    assert hidden.fill.fill_type == "solid" and hidden.fill.fgColor.rgb.endswith("D9D9D9")
    no_value = cell_of(workbook["Mål"], "Andel till aktivitet av avslutade", "Värde")
    assert no_value.value == ".." and no_value.alignment.horizontal == "right"
    assert no_value.fill.fill_type is None
    shown = cell_of(workbook["Kommuner"], "0136", "Deltagare")
    assert shown.fill.fill_type is None


def test_the_key_stands_under_every_table_of_figures_outside_its_autofilter(workbook):
    for title in FIGURE_SHEETS:
        sheet = workbook[title]
        last = int("".join(filter(str.isdigit, sheet.auto_filter.ref.split(":")[1])))
        assert last == max(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 2).value is not None), title
        under = [(r, sheet.cell(r, 1)) for r in range(last + 1, sheet.max_row + 1)]
        key = [(r, c) for r, c in under if c.value]
        assert key and key[0][0] - last in (1, 2), title
        text = " ".join(c.value for _, c in key)
        assert "x = dold för att skydda enskilda (röjandeskydd)" in text, title
        assert ".. = kan inte beräknas" in text and "Definitioner" in text, title
        assert all(c.font.i for _, c in key), title


def test_the_exact_workbook_key_says_the_figures_are_exact(tmp_path):
    book = openpyxl.load_workbook(write_workbook(ROWS, PROJECT, tmp_path / "kpi_internal.xlsx", DELIVERIES, exact=True))
    sheet = book["Kommuner"]
    text = " ".join(str(sheet.cell(r, 1).value) for r in range(1, sheet.max_row + 1))
    assert "Exakta tal utan röjandeskydd" in text and "x = dold" not in text
    assert "EXAKTA TAL" in sheet.oddFooter.center.text


def test_every_sheet_prints_landscape_one_page_wide_with_its_labels_and_a_footer(workbook):
    for sheet in workbook:
        setup = sheet.page_setup
        assert setup.orientation == "landscape", sheet.title
        assert int(setup.paperSize) == 9, sheet.title                   # A4
        assert (int(setup.fitToWidth), int(setup.fitToHeight)) == (1, 0), sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert sheet.print_title_rows, sheet.title
        assert "Projekt Ett" in sheet.oddFooter.left.text, sheet.title
        assert "2020-02" in sheet.oddFooter.center.text, sheet.title
        assert sheet.oddFooter.right.text == "Sida &P av &N", sheet.title
        assert sheet.page_margins.left >= 0.4, sheet.title
    titles = {sheet.title: sheet.print_title_rows.replace("$", "") for sheet in workbook}
    assert titles["Kommuner"] == "1:1" and titles["Trend"] == "1:1"
    assert titles["Mål"] == "1:3"                                       # the project's name, scope and labels
    assert titles["Definitioner"] == "1:1"       # its title: the measures' labels would head the deliveries' pages


def test_a_project_name_with_an_ampersand_stays_itself_in_the_footer(tmp_path):
    project = dataclasses.replace(PROJECT, name="Jobb & Studier")
    book = openpyxl.load_workbook(write_workbook(ROWS, project, tmp_path / "kpi.xlsx", DELIVERIES))
    assert book["Mål"].oddFooter.left.text == "Jobb && Studier"          # & alone would start a code


def test_labels_are_bold_and_wrap_and_do_not_widen_a_column_of_figures(workbook):
    sheet = workbook["Kommuner"]
    header = list(sheet[1])
    assert all(c.font.b and c.alignment.wrap_text and c.alignment.vertical == "top" for c in header)
    for cell in header[2:]:                                              # the figures
        assert 10 <= sheet.column_dimensions[cell.column_letter].width <= 14, cell.value
        assert cell.alignment.horizontal == "right", cell.value
    assert sheet.column_dimensions["B"].width >= len("0136 Haninge")
    assert sheet.row_dimensions[1].height >= 3 * 15                      # the longest label takes lines


def test_every_table_has_an_autofilter_over_its_header_and_rows(workbook):
    expected = {"Mål": "A3:F", "Kommuner": "A1:K", "Fördelningar": "A1:I", "Trend": "A1:J", "Faser": "A1:F",
                "Datakvalitet": "A1:K"}
    for title, start in expected.items():
        assert workbook[title].auto_filter.ref.startswith(start), (title, workbook[title].auto_filter.ref)
    assert workbook["Trend"].auto_filter.ref == "A1:J3"                  # two months
    definitions = workbook["Definitioner"]
    top = int("".join(filter(str.isdigit, definitions.auto_filter.ref.split(":")[0])))
    assert definitions.cell(top, 3).value == "SHA-256"                   # the deliveries of the data version


def test_a_target_met_is_green_and_a_target_missed_red_with_the_word_too(workbook):
    sheet = workbook["Mål"]
    met = cell_of(sheet, "Andel i aktivitet sex månader efter avslut", "Målet nått")
    missed = cell_of(sheet, "Andel till aktivitet av alla deltagare", "Målet nått")
    assert met.value == "ja" and met.fill.fgColor.rgb.endswith("C6EFCE")
    assert missed.value == "nej" and missed.fill.fgColor.rgb.endswith("FFC7CE")
    assert met.fill.fill_type == missed.fill.fill_type == "solid"


@pytest.mark.parametrize(("received_at", "shown"), [
    (dt.datetime(2020, 1, 15, 23, 30), dt.datetime(2020, 1, 16, 0, 30)),                  # naive: UTC, as stored
    (dt.datetime(2020, 7, 1, 10, 0, tzinfo=dt.timezone.utc), dt.datetime(2020, 7, 1, 12, 0)),   # summer time
    ("2020-01-15 23:30:00", dt.datetime(2020, 1, 16, 0, 30)),
])
def test_arrival_times_are_date_times_in_swedish_time(tmp_path, received_at, shown):
    delivery = dict(DELIVERIES[0], received_at=received_at)
    book = openpyxl.load_workbook(write_workbook(ROWS, PROJECT, tmp_path / "kpi.xlsx", [delivery]))
    quality = book["Datakvalitet"]
    assert quality["D1"].value == "Inkom (svensk tid)"
    cell = table(quality, values_only=False)[0][3]
    assert cell.value == shown and cell.is_date
    assert cell.number_format == "yyyy-mm-dd hh:mm"
    definitions = book["Definitioner"]
    assert any(c.value == shown for r in definitions.iter_rows() for c in r)
    assert any(c.value == "Inkom (svensk tid)" for r in definitions.iter_rows() for c in r)
