"""The funder workbook `kpi.xlsx`: the figures of kpi.csv with Swedish labels, one sheet per view.

A pure function on plain rows (the long KPI rows as `followup export` reads and suppresses them,
and the deliveries the figures were built from), so it is tested without a warehouse. Sheets: the
project against its targets, per municipality, per breakdown, the monthly trend, the phase
funnel, data quality, and the definitions with the suppression rule and the data version.

Made to be printed as well as read on screen: every sheet prints landscape on A4, as wide as one
page and as many pages tall as it needs, with its column labels repeated on every page and the
project, period and page number in the footer. Counts show no decimals, shares are percentages,
arrival times are dates in Swedish time, a hidden figure is a right-aligned grey `x`, and the key
to the signs stands under every table of figures (outside its autofilter).
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import weakref
from collections.abc import Iterable, Sequence
from copy import copy
from pathlib import Path
from typing import Any
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from orchestration.lib import kpis
from orchestration.lib.delivery_state import VERDICT_LABELS
from orchestration.lib.mapping_contract import MAPPING
from orchestration.lib.local_time import swedish
from orchestration.lib.thresholds import MIN_SHARE_DENOMINATOR
from orchestration.projects.config import Project, load_kommuner
from orchestration.reporting.kpi_names import BREAKDOWN_LABELS, GROUP_LABELS, KPI_DEFINITIONS, KPI_LABELS

SUPPRESSED = "x"  # SCB's sign for a figure withheld to protect individuals
NO_VALUE = ".."   # SCB's sign for a figure that cannot be computed (no one to compute it over)
PERCENT = "0.0%"
COUNT = "#,##0"   # thousands shown in the reader's own way (1 234 in Swedish), never decimals
HALF_DAYS = "#,##0.0"   # a median between two whole days (45.5); a whole median takes COUNT
MOMENT = "yyyy-mm-dd hh:mm"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

SUMMARY_KPIS = ("participants", "new_participants", "active_participants", "exited", "moved_to_activity",
                "activity_share", "exit_activity_share", "median_days_to_activity", "outcome_6m_activity_share")
BREAKDOWN_KPIS = ("participants", "moved_to_activity", "activity_share", "exit_activity_share",
                  "median_days_to_activity", "not_known_share")
TREND_KPIS = ("participants", "participants_pace_target", "new_participants", "active_participants",
              "moved_to_activity", "activity_share", "exit_activity_share")
PHASE_KPIS = kpis.parts_of("active_participants")          # the Faser sheet, with the active participants
# The Mål sheet: every KPI's whole-project total in the catalogue's order, the phases aside.
TARGET_SHEET_KPIS = tuple(kpi for kpi in kpis.catalogue() if kpi not in PHASE_KPIS)


def write_workbook(rows: list[dict], project: Project, out_path: Path | str, data_version: list[dict], *,
                   run_id: str | None = None, built_at: str | None = None, exact: bool = False,
                   mapping: list[dict] | None = None, stamped: dt.datetime | None = None) -> Path:
    """Write kpi.xlsx for one project and return its path.

    rows: the project's kpi_values rows of every period to show (keys as in kpi.csv: area, period,
    kpi, breakdown, group, value, numerator, denominator, target, target_met, suppressed); the
    newest period is the one the summary sheets show. data_version: one dict per delivery the
    figures stand on (kommunkod, reporting_month, file_name, sha256, received_at, verdict, and
    optionally verdict_reason, rows_total, rows_accepted, rows_rejected, rows_warned, is_current);
    received_at as the warehouse holds it, a naive UTC timestamp (or an aware one).
    exact: the rows are unsuppressed (the coordinators' own copy, kpi_internal.xlsx): the first sheet
    says so, and the file names the municipalities gave their deliveries are shown. A funder workbook
    identifies deliveries by sha256 and arrival time only: a file name is free text chosen by a
    municipality and has no place in a table that leaves the region.
    mapping: the project's mapping rows as kartlaggning.csv holds them (reporting/mapping.py), for
    the sheet Kartläggning; none for a project without a mapping instrument (no sheet).
    stamped: the time the file says it was made (its properties and the times of its parts), the
    build of the figures, never the clock: the same figures give the same bytes (UNKNOWN_TIME when
    the build is not known).
    """
    rows = [_normalised(row) for row in rows]
    figures = {(r["area"], r["period"], r["kpi"], r["breakdown"], r["group"]): r for r in rows}
    periods = sorted({r["period"] for r in rows})
    newest = periods[-1] if periods else None
    kommuner = load_kommuner()
    names = {"ALL": "Hela projektet", **{code: f"{code} {kommuner.get(code, '')}".strip() for code in project.municipalities}}
    areas = ["ALL", *project.municipalities]
    key = _key(exact)

    workbook = Workbook()
    _targets_sheet(workbook.active, project, figures, newest, exact, key)
    _areas_sheet(workbook.create_sheet("Kommuner"), figures, newest, areas, names, key)
    _breakdown_sheet(workbook.create_sheet("Fördelningar"), figures, newest, areas, names, rows, key)
    _trend_sheet(workbook.create_sheet("Trend"), project, figures, periods, key)
    _phase_sheet(workbook.create_sheet("Faser"), figures, periods, key)
    if mapping:
        _mapping_sheet(workbook.create_sheet("Kartläggning"), project, mapping, areas, names, exact, key)
    _quality_sheet(workbook.create_sheet("Datakvalitet"), data_version, exact)
    _definitions_sheet(workbook.create_sheet("Definitioner"), project, data_version, run_id, built_at, exact)
    for sheet in workbook:
        _page_setup(sheet, project, newest, exact)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = out_path.with_name(out_path.name + ".part")
    save_stamped(workbook, temporary, stamped or UNKNOWN_TIME)
    temporary.replace(out_path)
    del workbook, sheet
    # The sheets and cells point at each other, so only a full collection frees them, whenever one
    # comes: a national workbook is ~320 000 objects, ~85 MiB the run would otherwise carry on.
    gc.collect()
    return out_path


UNKNOWN_TIME = dt.datetime(2000, 1, 1)     # a workbook's time when the build of its figures is not known


def save_stamped(workbook: Workbook, path: Path, moment: dt.datetime) -> None:
    """Save as openpyxl's `Workbook.save` does, but with `moment` as the workbook's created and
    modified time and as the time of every part in the zip file, where openpyxl writes the clock's
    (so the same workbook saved twice had different bytes)."""
    moment = moment.replace(tzinfo=None, microsecond=0)
    workbook.properties.created = workbook.properties.modified = moment
    with _StampedZip(path, "w", ZIP_DEFLATED, allowZip64=True) as archive:
        archive.moment = (max(moment.year, 1980), *moment.timetuple()[1:6])   # a zip file cannot say earlier
        ExcelWriter(workbook, archive).write_data()


class _StampedZip(ZipFile):
    """A zip file whose every part has the time `moment`."""

    moment: tuple[int, ...]

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, ZipInfo):
            zinfo_or_arcname = ZipInfo(zinfo_or_arcname, date_time=self.moment)
            zinfo_or_arcname.compress_type = self.compression
            zinfo_or_arcname.external_attr = 0o600 << 16
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        self.writestr(arcname or Path(filename).name, Path(filename).read_bytes(), compress_type, compresslevel)


# ---- sheets ----------------------------------------------------------------------------------

def _targets_sheet(sheet: Worksheet, project: Project, figures: dict, period: str | None, exact: bool,
                   key: list[str]) -> None:
    sheet.title = "Mål"
    sheet.append([_text(project.name)])
    sheet["A1"].font = _TITLE_FONT
    scope = f"Hela projektet, period {period or '–'} (från projektstart till månadens slut)"
    if exact:
        scope += ". EXAKTA TAL utan röjandeskydd: endast för projektets samordnare, skicka inte vidare."
    sheet.append([scope])
    labels = ["Nyckeltal", "Värde", "Mål", "Målet nått", "Täljare", "Nämnare"]
    _header(sheet, labels, row=3)
    for kpi in TARGET_SHEET_KPIS:
        row = figures.get(("ALL", period, kpi, "total", "T"))
        if row is None:
            continue
        met, kind = row.get("target_met"), kpis.shown_as(kpi)
        _append_formatted(sheet, [KPI_LABELS[kpi], *_figure(row), row.get("target"),
                                  None if met is None or row["suppressed"] else ("ja" if met else "nej"),
                                  _plain(row, "numerator"), _plain(row, "denominator")],
                          2, (kind, kind, "verdict", "count", "count"))   # the figure and its target
    _finish(sheet, len(labels), header_row=3, key=key)
    _banner(sheet, 2, len(labels))                  # the scope (long in the exact copy) wraps over the table


def _areas_sheet(sheet: Worksheet, figures: dict, period: str | None, areas: list[str],
                 names: dict[str, str], key: list[str]) -> None:
    labels = ["Område", "Kommun", *(KPI_LABELS[k] for k in SUMMARY_KPIS)]
    _header(sheet, labels)
    kinds = [kpis.shown_as(k) for k in SUMMARY_KPIS]
    for area in areas:
        _append_formatted(sheet, [area, _text(names[area]), *(_figure(figures.get((area, period, k, "total", "T")))[0]
                                                             for k in SUMMARY_KPIS)], 3, kinds)
    _finish(sheet, len(labels), key=key)


def _breakdown_sheet(sheet: Worksheet, figures: dict, period: str | None, areas: list[str], names: dict[str, str],
                     rows: list[dict], key: list[str]) -> None:
    labels = ["Område", "Indelning", "Grupp", *(KPI_LABELS[k] for k in BREAKDOWN_KPIS)]
    _header(sheet, labels)
    kinds = [kpis.shown_as(k) for k in BREAKDOWN_KPIS]
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
                              4, kinds)
    _finish(sheet, len(labels), key=key)


def _trend_sheet(sheet: Worksheet, project: Project, figures: dict, periods: list[str], key: list[str]) -> None:
    targeted = list(project.targets)                    # every target, whatever measure it is set on
    shown = [*TREND_KPIS, *(k for k in targeted if k not in TREND_KPIS)]
    labels = ["Månad", *(KPI_LABELS[k] for k in shown), *(f"Mål: {KPI_LABELS[k]}" for k in targeted)]
    _header(sheet, labels)
    kinds = [kpis.shown_as(k) for k in (*shown, *targeted)]
    for period in periods:
        _append_formatted(sheet, [period, *(_figure(figures.get(("ALL", period, k, "total", "T")))[0] for k in shown),
                                  *(project.targets[k] for k in targeted)], 2, kinds)
    _finish(sheet, len(labels), key=key)


def _phase_sheet(sheet: Worksheet, figures: dict, periods: list[str], key: list[str]) -> None:
    labels = ["Månad", *(KPI_LABELS[k] for k in PHASE_KPIS), "Aktiva deltagare"]
    _header(sheet, labels)
    kinds = ["count"] * (len(PHASE_KPIS) + 1)
    for period in periods:
        _append_formatted(sheet, [period, *(_figure(figures.get(("ALL", period, k, "total", "T")))[0]
                                            for k in (*PHASE_KPIS, "active_participants"))], 2, kinds)
    _finish(sheet, len(labels), key=key)


MAPPING_LABELS = ["Område", "Domän", "Fråga", "Svar", "Andel", "Antal", "Svarande", "Före: andel",
                  "Efter: andel", "Svarat två gånger"]


def _mapping_sheet(sheet: Worksheet, project: Project, rows: list[dict], areas: list[str], names: dict[str, str],
                   exact: bool, key: list[str]) -> None:
    """The mapping figures of the whole group per area (ALL first), questions grouped by domain in
    the instrument's order and their categories in order: the share of the latest answers, their
    count and the persons answering; for persons who answered twice the share at the first and the
    latest answer. Then the inventory: each figure's count and, for the whole project, its share
    of the target population. kartlaggning.csv holds the same by kön and age group."""
    from orchestration.reporting.mapping import AFTER, ANSWER, BEFORE, INVENTORY

    sheet.append([f"Kartläggning: {_text(project.name)}"])
    sheet["A1"].font = _TITLE_FONT
    sheet.append(["Varje persons senaste svar på varje fråga, i hela gruppen; före och efter: bland dem som "
                  "besvarat frågan vid minst två tillfällen, deras första och senaste svar. Flerval: en person "
                  "kan ha flera svar, så andelarna kan bli mer än 100 %. Inventering: andelen är av "
                  "målgruppen enligt projektplanen. Fördelning på kön och ålder finns i kartlaggning.csv."
                  + (" EXAKTA TAL utan röjandeskydd: skicka inte vidare." if exact else "")])
    _header(sheet, MAPPING_LABELS, row=3)
    whole = [r for r in rows if r["breakdown"] == "total"]
    by_cell = {(r["area"], r["measure"], r["question_id"], r["category"]): r for r in whole}
    order = {q.id: i for i, q in enumerate(project.mapping.questions)} if project.mapping else {}
    domains = list(dict.fromkeys(q.domain for q in project.mapping.questions)) if project.mapping else []
    answers = sorted({(r["area"], r["question_id"], r["category"], r["category_order"], r["domain"], r["question"],
                       r["category_label"]) for r in whole if r["measure"] == ANSWER},
                     key=lambda a: (domains.index(a[4]) if a[4] in domains else 99, order.get(a[1], 99), a[3]))
    kinds = ("share", "count", "count", "share", "share", "count")
    for area in areas:
        previous, previous_domain = None, None
        for area_of, question, category, _, domain, text, label in answers:
            if area_of != area:
                continue
            answer, before, after = (by_cell.get((area, m, question, category)) for m in (ANSWER, BEFORE, AFTER))
            first, new_domain = question != previous, domain != previous_domain
            previous, previous_domain = question, domain
            _append_formatted(sheet, [
                _text(names.get(area, area)), _text(domain) if new_domain else None, _text(text) if first else None,
                _text(label), *_figure(answer), _plain(answer, "numerator") if answer else None,
                _plain(answer, "denominator") if answer else None, *_figure(before), *_figure(after),
                _plain(before, "denominator") if before else None], 5, kinds)
        inventory = sorted((r for r in whole if r["area"] == area and r["measure"] == INVENTORY),
                           key=lambda r: r["question_order"])
        for r in inventory:
            share = r if r.get("denominator") or r["suppressed"] else None
            _append_formatted(sheet, [
                _text(names.get(area, area)), "Inventering", _text(r["question"]), None,
                *(_figure(share) if share is not None and area == "ALL" else (None,)),
                SUPPRESSED if r["suppressed"] else r["numerator"], None, None, None, None], 5, kinds)
    last = sheet.max_row
    _finish(sheet, len(MAPPING_LABELS), header_row=3, key=key, widest=60)
    _banner(sheet, 2, len(MAPPING_LABELS))
    for row in sheet.iter_rows(min_row=4, max_row=last, max_col=4):
        for cell in row[1:4]:
            cell.alignment = _PROSE
        fit_height(sheet, row[0].row, [(row[c].value, sheet.column_dimensions[get_column_letter(c + 1)].width or 8)
                                       for c in (1, 2, 3)], bold=False)


def _quality_sheet(sheet: Worksheet, deliveries: list[dict], exact: bool) -> None:
    labels = ["Kommunkod", "Månad", "Fil" if exact else "SHA-256 (början)", "Inkom (svensk tid)", "Bedömning",
              "Orsak", "Rader", "Godkända rader", "Avvisade rader", "Rader med varning", "Gäller"]
    _header(sheet, labels)
    kinds = ["moment", None, None, "count", "count", "count", "count", None]
    for delivery in sorted(deliveries, key=lambda d: (d.get("kommunkod") or "", d.get("reporting_month") or "",
                                                      str(d.get("received_at") or ""))):
        current = delivery.get("is_current")
        _append_formatted(sheet, [
            _text(delivery.get("kommunkod")), _text(_month_of(delivery)),
            _text(delivery.get("file_name") if exact else (delivery.get("sha256") or "")[:12]),
            _swedish_time(delivery.get("received_at")),
            _text(VERDICT_LABELS.get(delivery.get("verdict") or "", delivery.get("verdict") or "ej bedömd")),
            _text(delivery.get("verdict_reason")), delivery.get("rows_total"), delivery.get("rows_accepted"),
            delivery.get("rows_rejected"), delivery.get("rows_warned"),
            None if current is None else ("ja" if current else "nej")], 4, kinds)
    _finish(sheet, len(labels))


def _definitions_sheet(sheet: Worksheet, project: Project, deliveries: list[dict], run_id: str | None,
                       built_at: str | None, exact: bool) -> None:
    """Two tables: the measures with the notes under them, then the deliveries of the data version.
    Row 1 is a title, the row printed on every page: the deliveries' pages would otherwise be
    headed by the measures' column labels."""
    sheet.append([f"Definitioner och dataversion: {_text(project.name)}"])
    sheet["A1"].font = _TITLE_FONT
    _header(sheet, ["Nyckeltal", "Id", "Definition"], row=2)
    for kpi, label in KPI_LABELS.items():
        _append_formatted(sheet, [label, kpi, KPI_DEFINITIONS[kpi]], 1, ("prose", "prose", "prose"))
    prose_rows = range(3, sheet.max_row + 1)
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
                         f"sådant antal eller vars nämnare är under {MIN_SHARE_DENOMINATOR}. Därefter döljs fler celler "
                         f"(sekundärt röjandeskydd) så att inget dolt tal kan räknas fram genom subtraktion, "
                         f"varken mellan grupperna och totalen i en indelning, mellan kommunerna och hela "
                         f"projektet eller mellan deltagarna och deras delar (aktiva och avslutade, de aktiva och "
                         f"faserna). Cellerna väljs en i taget: i första hand den efter vilken färst samband "
                         f"fortfarande röjer ett dolt tal, i andra hand den med minst tal. Till sist visas varje "
                         f"sådan cell igen som inte behövs för skyddet. Ingen cell döljs alltså i onödan, men det "
                         f"är inte garanterat den minsta möjliga uppsättningen: fler celler än nödvändigt kan "
                         f"döljas. Nollor visas. {NO_VALUE} betyder att värdet inte kan beräknas (ingen att "
                         f"beräkna det över)."),
        ("Andelar", "Visas i procent; i kpi.csv som decimaltal 0–1."),
        ("Antal och dagar", "Antal visas utan decimaler. Mål för deltagare hittills är ett antal personer och "
                            "visas avrundat till hel person (i kpi.csv med decimaler). Mediantiden i dagar "
                            "visas med en decimal bara när medianen ligger mitt mellan två dagar (45,5)."),
        ("Tider", "Inkom är tidpunkten då filen kom in, i svensk tid."),
    ]
    for title, text in notes:
        sheet.append([title, None, text])
        sheet.cell(sheet.max_row, 1).font = _BOLD
        for column in (1, 3):
            sheet.cell(sheet.max_row, column).alignment = _PROSE
    note_rows = range(prose_rows.stop + 1, sheet.max_row + 1)
    sheet.append([])
    sheet.append(["Dataversion", None, f"Körning {run_id or '–'}, byggd {built_at or '–'}; "
                                       f"{len(deliveries)} leveranser enligt nedan."])
    sheet.cell(sheet.max_row, 1).font = _BOLD
    labels = ["Kommunkod", "Månad", "SHA-256", "Inkom (svensk tid)", *(["Fil"] if exact else [])]
    _header(sheet, labels, row=sheet.max_row + 1)
    deliveries_header = sheet.max_row
    sheet.row_breaks.append(Break(id=deliveries_header - 2))        # the data version starts a page
    kinds = ["moment", *([None] if exact else [])]
    for delivery in sorted(deliveries, key=lambda d: (d.get("kommunkod") or "", d.get("reporting_month") or "")):
        _append_formatted(sheet, [_text(delivery.get("kommunkod")), _text(_month_of(delivery)),
                                  _text(delivery.get("sha256")), _swedish_time(delivery.get("received_at")),
                                  *([_text(delivery.get("file_name"))] if exact else [])], 4, kinds)
    _finish(sheet, len(labels), header_row=deliveries_header, measure_from=3, title_rows=1, freeze="A3", widest=70)
    widths = {c: sheet.column_dimensions[get_column_letter(c)].width for c in (1, 2, 3)}
    for row in (*prose_rows, *note_rows):         # neither Excel nor LibreOffice fits a row to wrapped text on opening
        fit_height(sheet, row, [(sheet.cell(row, c).value, widths[c]) for c in (1, 2, 3)], bold=False)


def _month_of(delivery: dict) -> str | None:
    """A delivery's month, and for a mapping file (the sheet Kartläggning's data) that it is one."""
    month = delivery.get("reporting_month")
    return f"{month} (kartläggning)" if delivery.get("extract_kind") == MAPPING and month else month


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


_FONT = "Calibri"           # openpyxl's default; a font without a name falls back to a serif in LibreOffice
_SIGN = Alignment(horizontal="right")
_LEFT = Alignment(horizontal="left")
_HIDDEN_FILL = PatternFill("solid", fgColor="D9D9D9")   # light grey: still legible printed in black and white
_VERDICT_STYLE = {"ja": (PatternFill("solid", fgColor="C6EFCE"), Font(name=_FONT, color="006100")),    # green
                  "nej": (PatternFill("solid", fgColor="FFC7CE"), Font(name=_FONT, color="9C0006"))}   # red
_PROSE = Alignment(wrap_text=True, vertical="top")


def _format_cell(cell: Cell, kind: str | None, styles: dict | None = None) -> None:
    """Number format or style of one cell by the kind of its column: count, share, days (a median,
    whole or half), moment (a date-time), verdict (ja/nej of a target), prose (wrapped text).
    styles: the workbook's styles made so far, by _style_key; a cell of a style already made takes
    it whole instead of setting its parts (openpyxl looks each part up in the workbook's lists,
    ~10 µs a part, on ~50 000 cells nationally)."""
    key = _style_key(cell.value, kind)
    if key is None:
        return
    if styles is not None and key in styles:
        cell._style = copy(styles[key])
        return
    value = cell.value
    if key[0] == "number":
        cell.number_format = key[1]
    elif key == ("moment",):
        cell.number_format = MOMENT
        cell.alignment = _LEFT                      # under its label, apart from the figures to its right
    elif key == ("sign", SUPPRESSED):
        cell.alignment = _SIGN
        cell.fill = _HIDDEN_FILL
    elif key == ("sign", NO_VALUE):
        cell.alignment = _SIGN
    elif key[0] == "verdict":
        cell.fill, cell.font = _VERDICT_STYLE[value]
    elif key == ("prose",):
        cell.alignment = _PROSE
    if styles is not None:
        styles[key] = copy(cell._style)


def _style_key(value: Any, kind: str | None) -> tuple | None:
    """Which of _format_cell's styles a value of a column of `kind` gets (None: left as it is)."""
    if isinstance(value, bool) or kind is None:
        return None
    if isinstance(value, (int, float)):
        if kind == "share":
            return ("number", PERCENT)
        if kind == "days" and not float(value).is_integer():
            return ("number", HALF_DAYS)
        return ("number", COUNT)
    if isinstance(value, dt.datetime):
        return ("moment",)
    if value == SUPPRESSED or value == NO_VALUE:
        return ("sign", value)
    if kind == "verdict" and value in _VERDICT_STYLE:
        return ("verdict", value)
    if kind == "prose":
        return ("prose",)
    return None


def _append_formatted(sheet: Worksheet, values: list, first: int, kinds: Iterable[str | None]) -> None:
    """Append a row whose cells, from column `first` on, are formatted for their kinds (see
    `_format_cell`). The cells are made and formatted before they are appended: finding the new
    row again through `sheet.max_row` looks at every cell of the sheet, and once per figure that
    made the national breakdown sheet (~6 200 rows, ~40 000 look-ups) take 70 s."""
    cells = [Cell(sheet, value=value) for value in values]
    styles = _STYLES.setdefault(sheet.parent, {})
    for cell, kind in zip(cells[first - 1:], kinds):
        _format_cell(cell, kind, styles)
    sheet.append(cells)


_STYLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # workbook → its styles by _style_key


def neutralise_formula(text: str) -> str:
    """'=HYPERLINK(…)' → "'=HYPERLINK(…)": Excel and LibreOffice show it as text, never run it
    (CSV/XLSX injection). Used for kpi.csv too."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _text(value: Any) -> Any:
    return None if value is None else neutralise_formula(str(value))


def _swedish_time(value: Any) -> Any:
    """An arrival time as a date-time cell in Swedish local time, without a time zone (a workbook
    cannot hold one). The warehouse keeps `received_at` as a naive timestamp in UTC (the file's
    modification time, ingest/inbox.py); an aware one is converted from its own zone. A text that
    is not a time stays text."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return _text(value)
    if not isinstance(value, dt.datetime):
        return _text(value)
    return swedish(value)


# ---- layout ----------------------------------------------------------------------------------

_LABEL = Alignment(wrap_text=True, vertical="top")
_FIGURE_LABEL = Alignment(wrap_text=True, vertical="top", horizontal="right")
_UNDER_LABELS = Border(bottom=Side(style="thin"))
_BOLD = Font(name=_FONT, bold=True)
_TITLE_FONT = Font(name=_FONT, bold=True, size=13)
_KEY_FONT = Font(name=_FONT, italic=True, size=9)
_LINE_POINTS = 15           # the height of one line of Calibri 11, the workbook's font


def _header(sheet: Worksheet, labels: Iterable[str], row: int = 1) -> None:
    """Bold column labels that wrap within their column (the column's figures set its width)."""
    for column, label in enumerate(labels, start=1):
        cell = sheet.cell(row, column, label)
        cell.font = _BOLD
        cell.alignment = _LABEL
        cell.border = _UNDER_LABELS


def _key(exact: bool) -> list[str]:
    """The signs, written under every table of figures."""
    first = ("Exakta tal utan röjandeskydd, endast för projektets samordnare: skicka inte vidare." if exact else
             f"{SUPPRESSED} = dold för att skydda enskilda (röjandeskydd): ett litet antal, eller ett tal "
             "som skulle låta någon räkna fram ett.")
    return [first, f"{NO_VALUE} = kan inte beräknas (ingen att beräkna det över). Se bladet Definitioner."]


def _finish(sheet: Worksheet, columns: int, header_row: int = 1, key: Sequence[str] = (),
            title_rows: int | None = None, freeze: str | None = None, widest: int = 40,
            measure_from: int | None = None) -> None:
    """Frozen labels, widths, the autofilter over the table (header row to its last row), the key
    under it and the rows printed on every page. Looks at every cell once (the widths), never per row.
    measure_from: the first row whose contents set the widths (default: the row under the header)."""
    last_row = sheet.max_row
    sheet.freeze_panes = freeze or f"A{header_row + 1}"
    widths, figures = _widths(sheet, header_row, measure_from or header_row + 1, last_row, widest)
    for column, width in widths.items():
        sheet.column_dimensions[get_column_letter(column)].width = width
    for column in figures:                          # a figure's label stands over it, on the right
        sheet.cell(header_row, column).alignment = _FIGURE_LABEL
    sheet.auto_filter.ref = f"A{header_row}:{get_column_letter(columns)}{last_row}"
    fit_height(sheet, header_row, [(sheet.cell(header_row, c).value, widths.get(c, 8)) for c in range(1, columns + 1)])
    table_width = sum(widths.get(c, 8) for c in range(1, columns + 1))
    for offset, text in enumerate(key):
        row = last_row + 2 + offset                 # one empty row, then the key, outside the autofilter
        cell = sheet.cell(row, 1, text)
        cell.font = _KEY_FONT
        cell.alignment = _PROSE
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=columns)
        fit_height(sheet, row, [(text, table_width)], points=12, bold=False)
    sheet.print_title_rows = f"1:{title_rows or header_row}"


def _widths(sheet: Worksheet, header_row: int, first_row: int, last_row: int,
            widest: int) -> tuple[dict[int, float], set[int]]:
    """The width of every column, and which columns hold figures. A column of figures (or of
    nothing) is 10–14 wide whatever its label (the label wraps; a long word widens it a little); a
    column of text as wide as its longest text, up to `widest`. Rows above the header (titles) do
    not count."""
    longest: dict[int, int] = {}
    numeric: dict[int, bool] = {}
    for row in sheet.iter_rows(min_row=first_row, max_row=last_row):
        for cell in row:
            value = cell.value
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                shown, figure = 16, False           # yyyy-mm-dd hh:mm: a text column's width, not a figure's
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                shown, figure = len(f"{value:,.1f}"), True
            else:
                shown, figure = len(str(value)), value in (SUPPRESSED, NO_VALUE)
            longest[cell.column] = max(longest.get(cell.column, 0), shown)
            numeric[cell.column] = numeric.get(cell.column, True) and figure
    widths, figures = {}, set()
    for column in range(1, sheet.max_column + 1):
        label = sheet.cell(header_row, column).value
        if column not in longest and not label:
            continue
        word = max((len(w) for w in str(label).split()), default=0) if label else 0
        word_width = word * 1.2 + 2                 # bold
        if numeric.get(column, True):
            widths[column] = round(min(18, max(10, min(14, longest.get(column, 0) + 3), word_width)), 1)
            figures.add(column)
        else:
            widths[column] = round(min(widest, max(8, longest[column] + 2, word_width)), 1)
    return widths, figures


def fit_height(sheet: Worksheet, row: int, texts: list[tuple[Any, float]], points: int = _LINE_POINTS,
                bold: bool = True) -> None:
    """Height for wrapped text, set explicitly: merged cells are never fitted by Excel or LibreOffice,
    nor is a row by LibreOffice when it opens a workbook, and a row sized here looks the same in both."""
    lines = 1
    for text, width in texts:
        if text is None:
            continue
        lines = max(lines, _lines(str(text), width * (1.05 if bold else 1.15)))
    if lines > 1 or points != _LINE_POINTS:
        sheet.row_dimensions[row].height = lines * points


def _lines(text: str, width: float) -> int:
    """Lines of `text` wrapped by word in a column `width` characters wide (of bold text; a wider
    font than Calibri, as LibreOffice substitutes it, still fits)."""
    room = max(1.0, width - 0.5)
    lines, used = 1, 0.0
    for word in text.split():
        needed = len(word) + (1 if used else 0)
        if used and used + needed > room:
            lines, used = lines + 1, len(word)
        else:
            used += needed
    return lines


def _banner(sheet: Worksheet, row: int, columns: int) -> None:
    """A line of text above a table, wrapped over the table's width."""
    width = sum(sheet.column_dimensions[get_column_letter(c)].width or 8 for c in range(1, columns + 1))
    sheet.cell(row, 1).alignment = _PROSE
    sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=columns)
    fit_height(sheet, row, [(sheet.cell(row, 1).value, width)])


def _page_setup(sheet: Worksheet, project: Project, period: str | None, exact: bool) -> None:
    """Landscape A4, as wide as one page and as tall as it takes; project, period and page in the footer."""
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.7, header=0.3, footer=0.3)
    sheet.oddHeader.left.text = "&A"           # the sheet's name
    sheet.oddHeader.left.size = 9
    sheet.oddFooter.left.text = _footer_text(project.name)
    sheet.oddFooter.center.text = _footer_text(f"Period {period or '–'}"
                                               + (": EXAKTA TAL, skicka inte vidare" if exact else ""))
    sheet.oddFooter.right.text = "Sida &P av &N"
    for part in (sheet.oddFooter.left, sheet.oddFooter.center, sheet.oddFooter.right):
        part.size = 9


def _footer_text(text: str) -> str:
    return text.replace("&", "&&")             # & starts a code (&P, &N) in a header or footer
