"""Delivery reports: one page per received file for the municipality that sent it.

    reports/<project>/<kommunkod>/<month>_<sha8>.html   verdict, counts, unknown columns, rows
    reports/<project>/<kommunkod>/<month>_<sha8>.csv    rejected rows and warnings (Excel-ready)
    reports/<project>/<kommunkod>/<month>_kartlaggning_<sha8>.html|.csv   the same for a mapping file
    reports/index.html                                  what needs action first, then every
                                                        delivery per project, newest month first,
                                                        and the files that were not ingested

Rows are identified by their row number in the file (for a CSV the line, for an XLSX the
worksheet row), never by a personnummer or a name: everything here comes from the warehouse,
which holds neither. What a report says about its file's state (in force, replaced, corrected by
a later file) comes from `landing.delivery_states` (the reports are written at validation, before dbt builds
the marts), so a report is rewritten when a later file changes it, and only then: a run with nothing new leaves the folder as it was. Times are Swedish
local time.

A mapping file (`extract_kind` KARTLAGGNING) gets the same report, headed and named as a mapping
("Kartläggning"), its rows' column a question id where an answer was wrong; in the index it is
listed in a table of its own per project. It has no monthly deadline and is never a late or
missing month.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration.lib import delivery_state as states
from orchestration.lib.contract import REJECTED
from orchestration.lib.local_time import shown
from orchestration.lib.mapping_contract import ENROLMENT, MAPPING, MAPPING_FOLDER
from orchestration.lib.warehouse import connect
from orchestration.projects.config import ProjectsConfig, load_kommuner
from orchestration.reporting import status

VERDICT_LABELS = {**states.VERDICT_LABELS, REJECTED: "Avvisad – hela filen räknas inte"}
HTML_ROW_LIMIT = 1000
CSV_COLUMNS = ("rad", "kolumn", "utfall", "orsakskod", "meddelande")


@dataclass
class DeliveryReportSummary:
    reports: int = 0
    written: list[Path] = field(default_factory=list)   # created or changed in this call
    index: Path | None = None


def report_paths(reports_dir: Path, project_id: str, kommunkod: str, month: str, sha256: str,
                 extract_kind: str = ENROLMENT) -> tuple[Path, Path]:
    """A delivery's report and its rows' CSV; a mapping file's name says so (`<month>_kartlaggning_<sha8>`),
    and the same bytes delivered as both kinds get two reports."""
    kind = f"{MAPPING_FOLDER}_" if extract_kind == MAPPING else ""
    stem = reports_dir / project_id / kommunkod / f"{month}_{kind}{sha256[:8]}"
    return stem.with_suffix(".html"), stem.with_suffix(".csv")


def write_delivery_reports(warehouse: Path, reports_dir: Path, config: ProjectsConfig,
                           today: dt.date | None = None) -> DeliveryReportSummary:
    """Write (or bring up to date) the report of every delivery and the index page."""
    with connect(warehouse, read_only=True) as db:
        deliveries = db.execute(
            "select delivery_id, project_id, kommunkod, reporting_month, file_name, sha256, size_bytes, received_at, "
            "arrival_seq, status, verdict, verdict_reason, verdict_message, rows_total, rows_accepted, rows_rejected, "
            "rows_warned, unknown_columns, state, needs_action, in_force_file_name, in_force_received_at, "
            f"coalesce(extract_kind, '{ENROLMENT}') as extract_kind from landing.delivery_states").df()
        rejected_by_delivery = _rows_by_delivery(db.execute(
            "select delivery_id, row_number, column_name, reason_code, message from landing.quarantine_rows "
            "order by delivery_id, row_number, reason_code").fetchall())
        warned_by_delivery = _rows_by_delivery(db.execute(
            "select delivery_id, row_number, column_name, warning_code, message from landing.row_warnings "
            "order by delivery_id, row_number, warning_code").fetchall())
        unrouted = db.execute(
            "select inbox_path, reason_code, message, coalesce(received_at, seen_at) as received_at, archive_path "
            "from landing.unrouted_files order by seen_at, inbox_path").fetchall()
    summary = DeliveryReportSummary()
    kommuner = load_kommuner()
    names = {p.id: p.name for p in config.projects}
    folders: set[Path] = set()
    for d in deliveries.itertuples(index=False):
        html_path, csv_path = report_paths(reports_dir, d.project_id, d.kommunkod, d.reporting_month, d.sha256,
                                           d.extract_kind)
        rejected = rejected_by_delivery.get(d.delivery_id, [])
        warned = warned_by_delivery.get(d.delivery_id, [])
        page = _delivery_page(d, names.get(d.project_id, d.project_id), kommuner.get(d.kommunkod, ""),
                              rejected, warned, csv_path.name)
        for path, content in ((html_path, page), (csv_path, _rows_csv(rejected, warned))):
            if _write_if_changed(path, content, folders):
                summary.written.append(path)
        summary.reports += 1
    index = reports_dir / "index.html"
    today = today or dt.date.today()
    months = [(project.project.id, cell) for project in status.delivery_status(warehouse, config, today=today)
              for cell in project.cells.values() if cell.is_missing(today) or (cell.in_force and cell.is_late)]
    if _write_if_changed(index, _index_page(deliveries, names, kommuner, months, unrouted, reports_dir)):
        summary.written.append(index)
    summary.index = index
    return summary


def _write_if_changed(path: Path, content: str, folders: set[Path] | None = None) -> bool:
    """folders: the folders known to exist (made or seen by an earlier call), not made again."""
    data = content.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    if folders is None or path.parent not in folders:
        path.parent.mkdir(parents=True, exist_ok=True)
        if folders is not None:
            folders.add(path.parent)
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(data)
    temporary.replace(path)
    return True


# A rejected or warned row of a delivery: (row_number, column_name, reason or warning code, message).
RowNote = tuple[int, object, object, object]
_MISSING = float("nan")


def _rows_by_delivery(rows: list[tuple]) -> dict[object, list[RowNote]]:
    """The rows of quarantine_rows or row_warnings (delivery_id first, in order) per delivery, in one
    pass (a national run has 10 440 deliveries). A missing text is NaN, as pandas read it when the
    rows were frames, so the reports are written as they were."""
    by_delivery: dict[object, list[RowNote]] = {}
    for delivery_id, row_number, column_name, code, message in rows:
        by_delivery.setdefault(delivery_id, []).append(
            (row_number, _MISSING if column_name is None else column_name, _MISSING if code is None else code,
             _MISSING if message is None else message))
    return by_delivery


def _rows_csv(rejected: list[RowNote], warned: list[RowNote]) -> str:
    """Semicolon-separated UTF-8 with BOM: Swedish Excel opens it as it is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row_number, column_name, code, message in rejected:
        writer.writerow((int(row_number), column_name or "", "AVVISAD", code, message))
    for row_number, column_name, code, message in warned:
        writer.writerow((int(row_number), column_name or "", "VARNING", code, message))
    return "\ufeff" + buffer.getvalue()


def _e(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return html.escape(str(value))


def _count(value: object) -> int:
    return 0 if value is None or value != value else int(value)


def _when(value: object, zone: bool = True) -> str:
    if value is None or value != value:
        return ""
    return f"{shown(pd.Timestamp(value))} (svensk tid)" if zone else shown(pd.Timestamp(value))


def _state(d) -> str:
    """Where this file stands now, after every file that arrived for its month."""
    month, current = d.reporting_month, f"{d.in_force_file_name} (mottagen {_when(d.in_force_received_at)})"
    if d.extract_kind == MAPPING:
        return {
            states.WAITING: "Filen är inte färdigbehandlad. Rapporten skrivs om när den är klar.",
            states.IN_FORCE: f"Den här kartläggningsfilen gäller för {month}.",
            states.REPLACED: f"Ersatt: en senare kartläggningsfil för {month} gäller, {current}.",
            states.REJECTED_CORRECTED: f"En senare kartläggningsfil för {month} är godkänd och gäller: {current}. "
                                       "Den här filen räknas inte.",
            states.REJECTED_EARLIER_COUNTS: f"Den här filen räknas inte. Den tidigare godkända kartläggningsfilen för "
                                            f"{month} gäller fortfarande: {current}.",
            states.REJECTED_NOTHING_COUNTS: f"Det finns ingen godkänd kartläggningsfil för {month}: svaren räknas inte "
                                            "förrän en rättad fil kommer.",
        }[d.state]
    return {
        states.WAITING: "Filen är inte färdigbehandlad. Rapporten skrivs om när den är klar.",
        states.IN_FORCE: f"Den här leveransen gäller för {month}.",
        states.REPLACED: f"Ersatt: en senare leverans för {month} gäller, {current}.",
        states.REJECTED_CORRECTED: f"En senare leverans för {month} är godkänd och gäller: {current}. "
                                   "Den här filen räknas inte.",
        states.REJECTED_EARLIER_COUNTS: f"Den här filen räknas inte. Den tidigare godkända leveransen för {month} "
                                        f"gäller fortfarande: {current}.",
        states.REJECTED_NOTHING_COUNTS: f"Det finns ingen godkänd leverans för {month}: kommunen saknas för månaden "
                                        "tills en rättad fil kommer.",
    }[d.state]


def _todo(d) -> str:
    name_hint = f"{d.reporting_month} rättad{Path(d.file_name).suffix or '.csv'}"
    folder = f"samma mapp ({MAPPING_FOLDER}/)" if d.extract_kind == MAPPING else "samma mapp"
    resend = (f"lägg den rättade filen i {folder}, med samma månad ({d.reporting_month}) i filnamnet, t.ex. "
              f"'{name_hint}'")
    if d.state == states.WAITING:
        return "Inget att göra ännu."
    if d.state == states.REJECTED_CORRECTED:
        return "Inget att åtgärda: den rättade filen som kom senare gäller."
    if d.state == states.REPLACED:
        return "Inget att åtgärda: en senare leverans ersätter den här."
    if d.state == states.REJECTED_EARLIER_COUNTS:
        return (f"Var filen en rättelse av den godkända leveransen? Rätta den enligt meddelandet ovan och {resend}. "
                "Annars gäller den tidigare leveransen och ni behöver inte göra något.")
    if d.state == states.REJECTED_NOTHING_COUNTS:
        return f"Rätta filen enligt meddelandet ovan och {resend}. Den ersätter då den här filen vid nästa körning."
    if _count(d.rows_rejected) and d.extract_kind == MAPPING:
        return ("De avvisade raderna räknas inte. Rätta dem och skicka en rättad fil med hela månadens svar och "
                f"{d.reporting_month} i filnamnet i {folder}, t.ex. '{name_hint}': den ersätter den här filen.")
    if _count(d.rows_rejected):
        return ("De avvisade raderna räknas inte. Rätta dem i ert system så kommer de med i nästa månads leverans "
                "(varje leverans är en hel lista). Ska rättelsen gälla redan för den här månaden: skicka en rättad "
                f"fil med {d.reporting_month} i filnamnet, t.ex. '{name_hint}'.")
    if _count(d.rows_warned):
        if d.extract_kind == MAPPING:
            return ("Raderna med varningar räknas (ett svar med varning på en frivillig fråga räknas inte). "
                    "Kontrollera uppgifterna och skicka vid behov en rättad fil för månaden.")
        return "Raderna med varningar räknas. Kontrollera uppgifterna och rätta vid behov till nästa leverans."
    return "Inget att åtgärda."


def _rows_checked(d) -> bool:
    """False for a file rejected as a whole before its rows were read: its counts are not 0, they
    do not exist."""
    return not (d.verdict == REJECTED and not _count(d.rows_total))


def _row_count(d, column: str) -> str:
    if not _rows_checked(d):
        return "–" if column != "rows_total" else "– (raderna kontrollerades inte: filen avvisades som helhet, se orsaken ovan)"
    return str(_count(getattr(d, column)))


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}.REJECTED{color:#a00}.ACCEPTED_WITH_WARNINGS{color:#a60}.ACCEPTED{color:#070}
.note{color:#555;font-size:.9em}.action{background:#fff4e5}"""


def _rows_table(rows: list[RowNote], title: str, csv_name: str, column: str = "Kolumn") -> str:
    if not rows:
        return f"<h2>{title}</h2><p>Inga.</p>"
    body = "".join(
        f"<tr><td>{int(row_number)}</td><td>{_e(column_name)}</td><td>{_e(code)}</td><td>{_e(message)}</td></tr>"
        for row_number, column_name, code, message in rows[:HTML_ROW_LIMIT])
    more = (f"<p class=note>Visar de första {HTML_ROW_LIMIT} av {len(rows)}; alla finns i "
            f"<a href=\"{_e(csv_name)}\">{_e(csv_name)}</a>.</p>" if len(rows) > HTML_ROW_LIMIT else "")
    return (f"<h2>{title} ({len(rows)})</h2><table><tr><th>Rad</th><th>{column}</th><th>Orsak</th><th>Vad är fel och vad "
            f"ni gör</th></tr>{body}</table>{more}")


def _delivery_page(d, project_name: str, kommun: str, rejected: list[RowNote], warned: list[RowNote],
                   csv_name: str) -> str:
    reason = (f"<p><b>Orsak:</b> {_e(d.verdict_reason)} – {_e(d.verdict_message)}</p>"
              if d.verdict == REJECTED else "")
    unknown = _e(d.unknown_columns) if isinstance(d.unknown_columns, str) and d.unknown_columns else "Inga."
    mapping = d.extract_kind == MAPPING
    title = "Leveransrapport, kartläggning" if mapping else "Leveransrapport"
    kind = (f"<tr><th>Slag</th><td>{states.KIND_LABELS[MAPPING]}: svar på projektets kartläggningsfrågor "
            f"(mappen {MAPPING_FOLDER}/), ingen inskrivningslista</td></tr>\n" if mapping else "")
    column = "Kolumn (fråga)" if mapping else "Kolumn"
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>{title} {_e(d.kommunkod)} {_e(d.reporting_month)}</title>
<style>{_STYLE}</style></head><body>
<h1>{title}: {_e(kommun)} ({_e(d.kommunkod)}), {_e(d.reporting_month)}</h1>
<p>{_e(project_name)}</p>
<table>
{kind}<tr><th>Fil</th><td>{_e(d.file_name)}</td></tr>
<tr><th>Mottagen (svensk tid)</th><td>{_e(_when(d.received_at, False))}</td></tr>
<tr><th>Kontrollsumma (SHA-256)</th><td><code>{_e(d.sha256)}</code></td></tr>
<tr><th>Storlek</th><td>{_count(d.size_bytes)} byte</td></tr>
</table>
<h2>Utfall: <span class="{_e(d.verdict)}">{_e(VERDICT_LABELS.get(d.verdict, d.verdict))}</span></h2>
{reason}<p><b>Läge nu:</b> {_e(_state(d))}</p>
<table>
<tr><th>Rader i filen</th><td>{_e(_row_count(d, "rows_total"))}</td></tr>
<tr><th>Godkända</th><td>{_row_count(d, "rows_accepted")}</td></tr>
<tr><th>Avvisade</th><td>{_row_count(d, "rows_rejected")}</td></tr>
<tr><th>Med varningar</th><td>{_row_count(d, "rows_warned")}</td></tr>
<tr><th>Okända kolumner (lästes inte)</th><td>{unknown}</td></tr>
</table>
<h2>Vad ni gör nu</h2><p>{_e(_todo(d))}</p>
{_rows_table(rejected, "Avvisade rader", csv_name, column)}
{_rows_table(warned, "Varningar", csv_name, column)}
<p class=note>Raderna anges med sitt radnummer i filen (i Excel: radnumret till vänster). Rapporten innehåller
inga personnummer eller namn. Alla rader finns också i <a href="{_e(csv_name)}">{_e(csv_name)}</a>.</p>
</body></html>
"""


def _month_ranges(cells: list) -> str:
    """`2016-01 – 2016-04, 2016-07`: consecutive months as one range."""
    months = sorted(c.month for c in cells)
    ranges: list[list[str]] = []
    for month in months:
        year, number = int(month[:4]), int(month[5:])
        previous = f"{year - (number == 1):04d}-{12 if number == 1 else number - 1:02d}"
        if ranges and ranges[-1][-1] == previous:
            ranges[-1].append(month)
        else:
            ranges.append([month])
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]} – {r[-1]}" for r in ranges)


def _index_page(deliveries: pd.DataFrame, names: dict[str, str], kommuner: dict[str, str], months: list,
                unrouted: list[tuple], reports_dir: Path) -> str:
    """What needs action first (files no later file corrected, rejected rows in force, late and
    missing months), then every delivery per project, newest month first."""
    def link(d) -> str:
        html_path, _ = report_paths(reports_dir, d.project_id, d.kommunkod, d.reporting_month, d.sha256,
                                    getattr(d, "extract_kind", ENROLMENT))
        return f"<a href=\"{_e(html_path.relative_to(reports_dir).as_posix())}\">{_e(d.file_name)}</a>"

    def kommun(code: str) -> str:
        return f"{_e(code)} {_e(kommuner.get(code, ''))}"

    def what(d) -> str:
        text = states.STATE_LABELS[d.state] if d.verdict == REJECTED else f"{_count(d.rows_rejected)} avvisade rader"
        return f"{states.KIND_LABELS[MAPPING]}: {text}" if d.extract_kind == MAPPING else text

    action_rows = [
        f"<tr class=action><td>{_e(names.get(d.project_id, d.project_id))}</td><td>{_e(d.reporting_month)}</td>"
        f"<td>{kommun(d.kommunkod)}</td><td>{link(d)}</td><td>{_e(_when(d.received_at))}</td>"
        f"<td>{_e(what(d))}</td></tr>"
        for d in deliveries[deliveries["needs_action"]].sort_values(
            ["project_id", "reporting_month", "kommunkod"]).itertuples(index=False)]
    late = sorted((m for m in months if m[1].deliveries), key=lambda m: (m[0], m[1].month, m[1].kommunkod))
    action_rows += [
        f"<tr class=action><td>{_e(names.get(project_id, project_id))}</td><td>{_e(cell.month)}</td>"
        f"<td>{kommun(cell.kommunkod)}</td><td>{link(cell.first_accepted)}</td>"
        f"<td>{_e(_when(cell.first_accepted.received_at, False))}</td><td>Sen leverans (frist {cell.deadline})</td></tr>"
        for project_id, cell in late]
    missing: dict[tuple[str, str], list] = {}
    for project_id, cell in months:
        if not cell.deliveries:
            missing.setdefault((project_id, cell.kommunkod), []).append(cell)
    action_rows += [
        f"<tr class=action><td>{_e(names.get(project_id, project_id))}</td><td>{_e(_month_ranges(cells))}</td>"
        f"<td>{kommun(code)}</td><td></td><td></td><td>Saknas ({len(cells)} "
        f"{'månad' if len(cells) == 1 else 'månader'}; frist den {cells[0].deadline.day}:e månaden efter)</td></tr>"
        for (project_id, code), cells in sorted(missing.items())]
    action = (f"<table><tr><th>Projekt</th><th>Månad</th><th>Kommun</th><th>Fil</th><th>Mottagen (svensk tid)</th><th>Vad</th></tr>"
              f"{''.join(action_rows)}</table>" if action_rows else "<p>Inget att åtgärda.</p>")
    sections = []
    ordered = deliveries.sort_values(["project_id", "reporting_month", "kommunkod", "arrival_seq"],
                                     ascending=[True, False, True, False])
    groups = dict(tuple(ordered.groupby("project_id", sort=False)))
    head = ("<tr><th>Månad</th><th>Kommun</th><th>Fil</th><th>Mottagen (svensk tid)</th><th>Utfall</th><th>Läge</th>"
            "<th>Avvisade rader</th></tr>")
    for project_id, group in sorted(groups.items(), key=lambda item: (item[0] not in names, list(names).index(item[0])
                                                                   if item[0] in names else 0, item[0])):
        rows: dict[str, list[str]] = {ENROLMENT: [], MAPPING: []}    # joined once: += on a dict's text copies it whole
        for d in group.itertuples(index=False):
            rows[d.extract_kind].append(
                f"<tr{' class=action' if d.needs_action else ''}><td>{_e(d.reporting_month)}</td><td>{kommun(d.kommunkod)}</td>"
                f"<td>{link(d)}</td><td>{_e(_when(d.received_at, False))}</td>"
                f"<td class=\"{_e(d.verdict)}\">{_e(VERDICT_LABELS.get(d.verdict, d.verdict))}</td>"
                f"<td>{_e(states.STATE_LABELS[d.state])}</td><td>{_count(d.rows_rejected)}</td></tr>")
        enrolments, mappings = "".join(rows[ENROLMENT]), "".join(rows[MAPPING])
        section = f"<h2>{_e(names.get(project_id, project_id))}</h2>"
        if enrolments or not mappings:
            section += f"<table>{head}{enrolments}</table>"
        if mappings:
            section += (f"<h3>{_e(names.get(project_id, project_id))}: {states.KIND_LABELS[MAPPING]} (ingen "
                        f"månadsfrist)</h3><table>{head}{mappings}</table>")
        sections.append(section)
    not_ingested = "".join(
        f"<tr><td>{_e(path)}</td><td>{_e(_when(received, False))}</td><td>{_e(code)}</td><td>{_e(message)}</td></tr>"
        for path, code, message, received, _ in unrouted)
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Leveranser</title><style>{_STYLE}</style></head><body>
<h1>Leveranser</h1>
<h2>Att åtgärda</h2>
{action}
{''.join(sections) or '<p>Inga leveranser ännu.</p>'}
<h2>Inte inlästa filer</h2>
{f'<table><tr><th>Fil i inkorgen</th><th>Mottagen (svensk tid)</th><th>Orsak</th><th>Vad ni gör</th></tr>{not_ingested}</table>'
 if unrouted else '<p>Inga.</p>'}
</body></html>
"""
