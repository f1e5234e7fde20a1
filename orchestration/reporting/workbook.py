"""The funder workbook `kpi.xlsx`: the figures of kpi.csv with Swedish labels, one sheet per view.

A pure function on plain rows (the long KPI rows as `followup export` reads and suppresses them,
and the deliveries the figures were built from), so it is tested without a warehouse. Sheets: the
project against its targets, per municipality, per breakdown, the monthly trend, the phase
funnel, data quality, and the definitions with the suppression rule and the data version.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from orchestration.projects.config import Project, load_kommuner
from orchestration.reporting.kpi_names import BREAKDOWN_LABELS, GROUP_LABELS, KPI_DEFINITIONS, KPI_LABELS

SUPPRESSED = "x"  # SCB's sign for a figure withheld to protect individuals
NO_VALUE = ".."   # SCB's sign for a figure that cannot be computed (no one to compute it over)
PERCENT = "0.0%"
DAYS = "0.0"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

VERDICT_LABELS = {"ACCEPTED": "Godkänd", "ACCEPTED_WITH_WARNINGS": "Godkänd med varningar", "REJECTED": "Underkänd"}
SUMMARY_KPIS = ("participants", "new_participants", "active_participants", "exited", "moved_to_activity",
                "activity_share", "exit_activity_share", "median_days_to_activity", "outcome_6m_activity_share")
BREAKDOWN_KPIS = ("participants", "moved_to_activity", "activity_share", "exit_activity_share",
                  "median_days_to_activity", "not_known_share")
TREND_KPIS = ("participants", "participants_pace_target", "new_participants", "active_participants",
              "moved_to_activity", "activity_share", "exit_activity_share")
PHASE_KPIS = ("phase_hitta", "phase_mota", "phase_aktivera", "phase_matcha")


def write_workbook(rows: list[dict], project: Project, out_path: Path | str, data_version: list[dict], *,
                   run_id: str | None = None, built_at: str | None = None, exact: bool = False) -> Path:
    """Write kpi.xlsx for one project and return its path.

    rows: the project's kpi_values rows of every period to show (keys as in kpi.csv: area, period,
    kpi, breakdown, group, value, numerator, denominator, target, target_met, suppressed); the
    newest period is the one the summary sheets show. data_version: one dict per delivery the
    figures stand on (kommunkod, reporting_month, file_name, sha256, received_at, verdict, and
    optionally verdict_reason, rows_total, rows_accepted, rows_rejected, rows_warned, is_current).
    exact: the rows are unsuppressed (the coordinators' own copy, kpi_internal.xlsx): the first sheet
    says so, and the file names the municipalities gave their deliveries are shown. A funder workbook
    identifies deliveries by sha256 and arrival time only: a file name is free text chosen by a
    municipality and has no place in a table that leaves the region.
    """
    rows = [_normalised(row) for row in rows]
    figures = {(r["area"], r["period"], r["kpi"], r["breakdown"], r["group"]): r for r in rows}
    periods = sorted({r["period"] for r in rows})
    newest = periods[-1] if periods else None
    kommuner = load_kommuner()
    names = {"ALL": "Hela projektet", **{code: f"{code} {kommuner.get(code, '')}".strip() for code in project.municipalities}}
    areas = ["ALL", *project.municipalities]

    workbook = Workbook()
    _targets_sheet(workbook.active, project, figures, newest, exact)
    _areas_sheet(workbook.create_sheet("Kommuner"), figures, newest, areas, names)
    _breakdown_sheet(workbook.create_sheet("Fördelningar"), figures, newest, areas, names, rows)
    _trend_sheet(workbook.create_sheet("Trend"), project, figures, periods)
    _phase_sheet(workbook.create_sheet("Faser"), figures, periods)
    _quality_sheet(workbook.create_sheet("Datakvalitet"), data_version, exact)
    _definitions_sheet(workbook.create_sheet("Definitioner"), project, data_version, run_id, built_at, exact)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_path.with_name(out_path.name + ".part")
    workbook.save(temporary)
    temporary.replace(out_path)
    return out_path


# ---- sheets ----------------------------------------------------------------------------------

def _targets_sheet(sheet: Worksheet, project: Project, figures: dict, period: str | None, exact: bool) -> None:
    sheet.title = "Mål"
    sheet.append([_text(project.name)])
    sheet["A1"].font = Font(bold=True, size=13)
    scope = f"Hela projektet, period {period or '–'} (från projektstart till månadens slut)"
    if exact:
        scope += ". EXAKTA TAL utan röjandeskydd: endast för projektets samordnare, skicka inte vidare."
    sheet.append([scope])
    _header(sheet, ["Nyckeltal", "Värde", "Mål", "Målet nått", "Täljare", "Nämnare"], row=3)
    kpis = ("participants", "participants_pace_target", "participants_target_share", "reach", *SUMMARY_KPIS[1:],
            "not_known_share", "income_support_start_share", "income_support_end_share", "from_other_project_share")
    for kpi in kpis:
        row = figures.get(("ALL", period, kpi, "total", "T"))
        if row is None:
            continue
        met = row.get("target_met")
        _append_formatted(sheet, [KPI_LABELS[kpi], *_figure(row), row.get("target"),
                                  None if met is None or row["suppressed"] else ("ja" if met else "nej"),
                                  _plain(row, "numerator"), _plain(row, "denominator")],
                          2, (kpi, kpi))                # the figure and its target
    _finish(sheet, freeze="A4")


def _areas_sheet(sheet: Worksheet, figures: dict, period: str | None, areas: list[str],
                 names: dict[str, str]) -> None:
    _header(sheet, ["Område", "Kommun", *(KPI_LABELS[k] for k in SUMMARY_KPIS)])
    for area in areas:
        _append_formatted(sheet, [area, _text(names[area]), *(_figure(figures.get((area, period, k, "total", "T")))[0]
                                                             for k in SUMMARY_KPIS)], 3, SUMMARY_KPIS)
    _finish(sheet)


def _breakdown_sheet(sheet: Worksheet, figures: dict, period: str | None, areas: list[str], names: dict[str, str],
                     rows: list[dict]) -> None:
    _header(sheet, ["Område", "Indelning", "Grupp", *(KPI_LABELS[k] for k in BREAKDOWN_KPIS)])
    order = list(BREAKDOWN_LABELS)
    groups: dict[str, set[tuple[str, str]]] = {}    # one pass over the rows, not one per area
    for r in rows:
        if r["period"] == period and r["breakdown"] in BREAKDOWN_LABELS:
            groups.setdefault(r["area"], set()).add((r["breakdown"], r["group"]))
    for area in areas:
        cells = sorted(groups.get(area, ()), key=lambda c: (order.index(c[0]), c[1] in ("OKAND", "UTANFOR"), c[1]))
        for breakdown, group in cells:
            _append_formatted(sheet, [_text(names[area]), BREAKDOWN_LABELS[breakdown], _text(GROUP_LABELS.get(group, group)),
                                      *(_figure(figures.get((area, period, k, breakdown, group)))[0] for k in BREAKDOWN_KPIS)],
                              4, BREAKDOWN_KPIS)
    _finish(sheet)


def _trend_sheet(sheet: Worksheet, project: Project, figures: dict, periods: list[str]) -> None:
    _header(sheet, ["Månad", *(KPI_LABELS[k] for k in TREND_KPIS), "Mål deltagare", "Mål andel till aktivitet"])
    for period in periods:
        _append_formatted(sheet, [period, *(_figure(figures.get(("ALL", period, k, "total", "T")))[0] for k in TREND_KPIS),
                                  project.targets.get("participants"), project.targets.get("activity_share")],
                          2, (*TREND_KPIS, "participants", "activity_share"))
    _finish(sheet)


def _phase_sheet(sheet: Worksheet, figures: dict, periods: list[str]) -> None:
    _header(sheet, ["Månad", *(KPI_LABELS[k] for k in PHASE_KPIS), "Aktiva deltagare"])
    for period in periods:
        sheet.append([period, *(_figure(figures.get(("ALL", period, k, "total", "T")))[0]
                                for k in (*PHASE_KPIS, "active_participants"))])
    _finish(sheet)


def _quality_sheet(sheet: Worksheet, deliveries: list[dict], exact: bool) -> None:
    _header(sheet, ["Kommunkod", "Månad", "Fil" if exact else "SHA-256 (början)", "Inkom", "Bedömning", "Orsak",
                    "Rader", "Godkända rader", "Avvisade rader", "Rader med varning", "Gäller"])
    for delivery in sorted(deliveries, key=lambda d: (d.get("kommunkod") or "", d.get("reporting_month") or "",
                                                      str(d.get("received_at") or ""))):
        current = delivery.get("is_current")
        sheet.append([_text(delivery.get("kommunkod")), _text(delivery.get("reporting_month")),
                      _text(delivery.get("file_name") if exact else (delivery.get("sha256") or "")[:12]),
                      _text(_moment(delivery.get("received_at"))),
                      _text(VERDICT_LABELS.get(delivery.get("verdict") or "", delivery.get("verdict") or "ej bedömd")),
                      _text(delivery.get("verdict_reason")), delivery.get("rows_total"), delivery.get("rows_accepted"),
                      delivery.get("rows_rejected"), delivery.get("rows_warned"),
                      None if current is None else ("ja" if current else "nej")])
    _finish(sheet)


def _definitions_sheet(sheet: Worksheet, project: Project, deliveries: list[dict], run_id: str | None,
                       built_at: str | None, exact: bool) -> None:
    _header(sheet, ["Nyckeltal", "Id", "Definition"])
    for kpi, label in KPI_LABELS.items():
        sheet.append([label, kpi, KPI_DEFINITIONS[kpi]])
    sheet.append([])
    notes = [
        ("Period", "Kumulativt från projektets start till månadens sista dag, om inte nyckeltalet säger "
                   "\"under månaden\". En person räknas en gång per område; en person som flyttat räknas "
                   "en gång i varje kommun och en gång i hela projektet."),
        ("Grupper", "Indelningarna (kön, ålder vid första start, födelseregion, funktionsnedsättning, "
                    "utbildningsnivå, försörjningsstöd vid start) tas från personens första inskrivning i "
                    "området. Åldersgrupperna är femårsgrupper avgränsade till projektets åldrar."),
        ("Röjandeskydd", ("Inget: detta är de exakta talen för projektets samordnare. " if exact else "")
                         + f"I tabeller till finansiärer visas antal från 1 till {project.min_count - 1} inte "
                         f"({SUPPRESSED}), inte heller andelar eller medianer vars täljare eller nämnare är ett "
                         f"sådant antal eller vars nämnare är under 10. Därefter döljs fler celler "
                         f"(sekundärt röjandeskydd) så att inget dolt tal kan räknas fram genom subtraktion, "
                         f"varken mellan grupperna och totalen i en indelning eller mellan kommunerna och hela "
                         f"projektet; de minsta möjliga cellerna väljs. Nollor visas. {NO_VALUE} betyder att "
                         f"värdet inte kan beräknas (ingen att beräkna det över)."),
        ("Andelar", "Visas i procent; i kpi.csv som decimaltal 0–1."),
    ]
    for title, text in notes:
        sheet.append([title, None, text])
        sheet.cell(sheet.max_row, 1).font = Font(bold=True)
    sheet.append([])
    sheet.append(["Dataversion", None, f"Körning {run_id or '–'}, byggd {built_at or '–'}; "
                                       f"{len(deliveries)} leveranser enligt nedan."])
    sheet.cell(sheet.max_row, 1).font = Font(bold=True)
    labels = ["Kommunkod", "Månad", "SHA-256", "Inkom", *(["Fil"] if exact else [])]
    sheet.append(labels)
    for position in range(1, len(labels) + 1):
        sheet.cell(sheet.max_row, position).font = Font(bold=True)
    for delivery in sorted(deliveries, key=lambda d: (d.get("kommunkod") or "", d.get("reporting_month") or "")):
        sheet.append([_text(delivery.get("kommunkod")), _text(delivery.get("reporting_month")),
                      _text(delivery.get("sha256")), _text(_moment(delivery.get("received_at"))),
                      *([_text(delivery.get("file_name"))] if exact else [])])
    _finish(sheet, widest=100)


# ---- cells -----------------------------------------------------------------------------------

def _normalised(row: dict) -> dict:
    row = dict(row)
    row.setdefault("group", row.get("breakdown_group"))
    row["suppressed"] = bool(row.get("suppressed"))
    for key in ("value", "numerator", "denominator", "target"):
        if isinstance(row.get(key), float) and math.isnan(row[key]):
            row[key] = None
    return row


def _figure(row: dict | None) -> tuple[Any]:
    """The value cell: the number, x when suppressed, .. when it cannot be computed."""
    if row is None:
        return (None,)
    if row["suppressed"]:
        return (SUPPRESSED,)
    return (NO_VALUE if row["value"] is None else row["value"],)


def _plain(row: dict, key: str) -> Any:
    return None if row["suppressed"] else row.get(key)


def _kind(kpi: str) -> str:
    if kpi.endswith("_share") or kpi == "reach":
        return "share"
    if kpi == "median_days_to_activity":
        return "days"
    if kpi == "participants_pace_target":
        return "days"  # one decimal, like the median
    return "count"


def _format_cell(cell: Any, kpi: str) -> None:
    if isinstance(cell.value, (int, float)):
        cell.number_format = {"share": PERCENT, "days": DAYS, "count": "0"}[_kind(kpi)]


def _append_formatted(sheet: Worksheet, values: list, first: int, kpis: Iterable[str]) -> None:
    """Append a row whose figures, from column `first` on, are formatted for their KPIs. The
    cells are made and formatted before they are appended: finding the new row again through
    `sheet.max_row` looks at every cell of the sheet, and once per figure that made the national
    breakdown sheet (~6 200 rows, ~40 000 look-ups) take 70 s."""
    cells = [Cell(sheet, value=value) for value in values]
    for cell, kpi in zip(cells[first - 1:], kpis):
        _format_cell(cell, kpi)
    sheet.append(cells)


def neutralise_formula(text: str) -> str:
    """'=HYPERLINK(…)' → "'=HYPERLINK(…)": Excel and LibreOffice show it as text, never run it
    (CSV/XLSX injection). Used for kpi.csv too."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _text(value: Any) -> Any:
    return None if value is None else neutralise_formula(str(value))


def _moment(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat(sep=" ", timespec="seconds") if hasattr(value, "isoformat") and not isinstance(value, str) else str(value)


def _header(sheet: Worksheet, labels: Iterable[str], row: int = 1) -> None:
    for column, label in enumerate(labels, start=1):
        cell = sheet.cell(row, column, label)
        cell.font = Font(bold=True)


def _finish(sheet: Worksheet, freeze: str = "A2", widest: int = 60) -> None:
    """Frozen header row and column widths that fit their content (within reason)."""
    sheet.freeze_panes = freeze
    widths: dict[int, int] = {}
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value is not None:
                widths[cell.column] = max(widths.get(cell.column, 0), len(str(cell.value)))
    for column, width in widths.items():
        sheet.column_dimensions[get_column_letter(column)].width = min(widest, max(8, width + 2))
