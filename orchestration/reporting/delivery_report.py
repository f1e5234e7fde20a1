"""Delivery reports: one page per received file for the municipality that sent it.

    reports/<project>/<kommunkod>/<month>_<sha8>.html   verdict, counts, unknown columns, rows
    reports/<project>/<kommunkod>/<month>_<sha8>.csv    rejected rows and warnings (Excel-ready)
    reports/index.html                                  every delivery, newest first, and the
                                                        files that were not ingested

Rows are identified by their row number in the file (for a CSV the line, for an XLSX the
worksheet row), never by a personnummer or a name: everything here comes from the warehouse,
which holds neither. Files are rewritten only when their content changes, so a run with nothing
new leaves the folder as it was.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration.lib.warehouse import connect
from orchestration.projects.config import ProjectsConfig, load_kommuner

VERDICT_LABELS = {
    "ACCEPTED": "Godkänd",
    "ACCEPTED_WITH_WARNINGS": "Godkänd med anmärkningar",
    "REJECTED": "Avvisad – hela filen räknas inte",
    None: "Under behandling",
}
COUNTING = ("ACCEPTED", "ACCEPTED_WITH_WARNINGS")
HTML_ROW_LIMIT = 1000
CSV_COLUMNS = ("rad", "kolumn", "utfall", "orsakskod", "meddelande")


@dataclass
class DeliveryReportSummary:
    reports: int = 0
    written: list[Path] = field(default_factory=list)   # created or changed in this call
    index: Path | None = None


def report_paths(reports_dir: Path, project_id: str, kommunkod: str, month: str, sha256: str) -> tuple[Path, Path]:
    stem = reports_dir / project_id / kommunkod / f"{month}_{sha256[:8]}"
    return stem.with_suffix(".html"), stem.with_suffix(".csv")


def write_delivery_reports(warehouse: Path, reports_dir: Path, config: ProjectsConfig) -> DeliveryReportSummary:
    """Write (or bring up to date) the report of every delivery and the index page."""
    with connect(warehouse, read_only=True) as db:
        deliveries = db.execute(
            "select delivery_id, project_id, kommunkod, reporting_month, file_name, sha256, size_bytes, received_at, "
            "arrival_seq, status, verdict, verdict_reason, verdict_message, rows_total, rows_accepted, rows_rejected, "
            "rows_warned, unknown_columns from landing.deliveries").df()
        quarantine = db.execute(
            "select delivery_id, row_number, column_name, reason_code, message from landing.quarantine_rows "
            "order by delivery_id, row_number, reason_code").df()
        warnings = db.execute(
            "select delivery_id, row_number, column_name, warning_code, message from landing.row_warnings "
            "order by delivery_id, row_number, warning_code").df()
        unrouted = db.execute(
            "select inbox_path, reason_code, message, coalesce(received_at, seen_at) as received_at, archive_path "
            "from landing.unrouted_files order by seen_at, inbox_path").fetchall()
    summary = DeliveryReportSummary()
    kommuner = load_kommuner()
    names = {p.id: p.name for p in config.projects}
    in_force = _in_force(deliveries)
    rejected_by_delivery = dict(tuple(quarantine.groupby("delivery_id"))) if len(quarantine) else {}
    warned_by_delivery = dict(tuple(warnings.groupby("delivery_id"))) if len(warnings) else {}
    empty_q = quarantine.iloc[0:0]
    empty_w = warnings.iloc[0:0]
    for d in deliveries.itertuples(index=False):
        html_path, csv_path = report_paths(reports_dir, d.project_id, d.kommunkod, d.reporting_month, d.sha256)
        rejected = rejected_by_delivery.get(d.delivery_id, empty_q)
        warned = warned_by_delivery.get(d.delivery_id, empty_w)
        current = in_force.get((d.project_id, d.kommunkod, d.reporting_month))
        page = _delivery_page(d, names.get(d.project_id, d.project_id), kommuner.get(d.kommunkod, ""),
                              current, rejected, warned, csv_path.name)
        for path, content in ((html_path, page), (csv_path, _rows_csv(rejected, warned))):
            if _write_if_changed(path, content):
                summary.written.append(path)
        summary.reports += 1
    index = reports_dir / "index.html"
    if _write_if_changed(index, _index_page(deliveries, names, kommuner, in_force, unrouted, reports_dir)):
        summary.written.append(index)
    summary.index = index
    return summary


def _in_force(deliveries: pd.DataFrame) -> dict[tuple[str, str, str], object]:
    """(project, kommun, month) → the delivery in force: the counting one that arrived last
    (the same rule as dbt's int_snapshots_ranked)."""
    current: dict[tuple[str, str, str], object] = {}
    counting = deliveries[(deliveries["status"] == "VALIDATED") & deliveries["verdict"].isin(COUNTING)]
    for d in counting.itertuples(index=False):
        key = (d.project_id, d.kommunkod, d.reporting_month)
        if key not in current or _arrival(d) > _arrival(current[key]):
            current[key] = d
    return current


def _arrival(d) -> tuple:
    seq = d.arrival_seq if d.arrival_seq == d.arrival_seq and d.arrival_seq is not None else -1
    return (seq, d.received_at, d.delivery_id)


def _write_if_changed(path: Path, content: str) -> bool:
    data = content.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(data)
    temporary.replace(path)
    return True


def _rows_csv(rejected: pd.DataFrame, warned: pd.DataFrame) -> str:
    """Semicolon-separated UTF-8 with BOM: Swedish Excel opens it as it is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rejected.itertuples(index=False):
        writer.writerow((int(r.row_number), r.column_name or "", "AVVISAD", r.reason_code, r.message))
    for w in warned.itertuples(index=False):
        writer.writerow((int(w.row_number), w.column_name or "", "VARNING", w.warning_code, w.message))
    return "\ufeff" + buffer.getvalue()


def _e(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return html.escape(str(value))


def _count(value: object) -> int:
    return 0 if value is None or value != value else int(value)


def _when(value: object) -> str:
    return "" if value is None or value != value else f"{pd.Timestamp(value):%Y-%m-%d %H:%M} (UTC)"


def _state(d, current) -> str:
    month = d.reporting_month
    if d.status != "VALIDATED":
        return "Filen är inte färdigbehandlad. Rapporten skrivs om när den är klar."
    if d.verdict in COUNTING:
        if current is not None and current.delivery_id == d.delivery_id:
            return f"Den här leveransen gäller för {month}."
        return (f"Ersatt: en senare leverans för {month} gäller, {current.file_name} "
                f"(mottagen {_when(current.received_at)}).")
    if current is not None:
        return (f"Den tidigare godkända leveransen för {month} gäller fortfarande: {current.file_name} "
                f"(mottagen {_when(current.received_at)}).")
    return f"Det finns ingen godkänd leverans för {month}: kommunen saknas för månaden tills en rättad fil kommer."


def _todo(d) -> str:
    name_hint = f"{d.reporting_month} rättad{Path(d.file_name).suffix or '.csv'}"
    if d.status != "VALIDATED":
        return "Inget att göra ännu."
    if d.verdict == "REJECTED":
        return ("Rätta filen enligt meddelandet ovan och lägg den rättade filen i samma mapp, med samma månad "
                f"({d.reporting_month}) i filnamnet, t.ex. '{name_hint}'. Den ersätter då den här filen vid nästa körning.")
    if _count(d.rows_rejected):
        return ("De avvisade raderna räknas inte. Rätta dem i ert system så kommer de med i nästa månads leverans "
                "(varje leverans är en hel lista). Ska rättelsen gälla redan för den här månaden: skicka en rättad "
                f"fil med {d.reporting_month} i filnamnet, t.ex. '{name_hint}'.")
    if _count(d.rows_warned):
        return "Raderna med varningar räknas. Kontrollera uppgifterna och rätta vid behov till nästa leverans."
    return "Inget att åtgärda."


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}.REJECTED{color:#a00}.ACCEPTED_WITH_WARNINGS{color:#a60}.ACCEPTED{color:#070}
.note{color:#555;font-size:.9em}"""


def _rows_table(frame: pd.DataFrame, code_column: str, title: str, csv_name: str) -> str:
    if frame.empty:
        return f"<h2>{title}</h2><p>Inga.</p>"
    shown = frame.head(HTML_ROW_LIMIT)
    body = "".join(
        f"<tr><td>{int(r.row_number)}</td><td>{_e(r.column_name)}</td><td>{_e(getattr(r, code_column))}</td>"
        f"<td>{_e(r.message)}</td></tr>" for r in shown.itertuples(index=False))
    more = (f"<p class=note>Visar de första {HTML_ROW_LIMIT} av {len(frame)}; alla finns i "
            f"<a href=\"{_e(csv_name)}\">{_e(csv_name)}</a>.</p>" if len(frame) > HTML_ROW_LIMIT else "")
    return (f"<h2>{title} ({len(frame)})</h2><table><tr><th>Rad</th><th>Kolumn</th><th>Orsak</th><th>Vad är fel och vad "
            f"ni gör</th></tr>{body}</table>{more}")


def _delivery_page(d, project_name: str, kommun: str, current, rejected: pd.DataFrame, warned: pd.DataFrame,
                   csv_name: str) -> str:
    reason = (f"<p><b>Orsak:</b> {_e(d.verdict_reason)} – {_e(d.verdict_message)}</p>"
              if d.verdict == "REJECTED" else "")
    unknown = _e(d.unknown_columns) if isinstance(d.unknown_columns, str) and d.unknown_columns else "Inga."
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Leveransrapport {_e(d.kommunkod)} {_e(d.reporting_month)}</title>
<style>{_STYLE}</style></head><body>
<h1>Leveransrapport: {_e(kommun)} ({_e(d.kommunkod)}), {_e(d.reporting_month)}</h1>
<p>{_e(project_name)}</p>
<table>
<tr><th>Fil</th><td>{_e(d.file_name)}</td></tr>
<tr><th>Mottagen</th><td>{_when(d.received_at)}</td></tr>
<tr><th>Kontrollsumma (SHA-256)</th><td><code>{_e(d.sha256)}</code></td></tr>
<tr><th>Storlek</th><td>{_count(d.size_bytes)} byte</td></tr>
</table>
<h2>Utfall: <span class="{_e(d.verdict)}">{_e(VERDICT_LABELS.get(d.verdict, d.verdict))}</span></h2>
{reason}<p>{_e(_state(d, current))}</p>
<table>
<tr><th>Rader i filen</th><td>{_count(d.rows_total)}</td></tr>
<tr><th>Godkända</th><td>{_count(d.rows_accepted)}</td></tr>
<tr><th>Avvisade</th><td>{_count(d.rows_rejected)}</td></tr>
<tr><th>Med varningar</th><td>{_count(d.rows_warned)}</td></tr>
<tr><th>Okända kolumner (lästes inte)</th><td>{unknown}</td></tr>
</table>
<h2>Vad ni gör nu</h2><p>{_e(_todo(d))}</p>
{_rows_table(rejected, "reason_code", "Avvisade rader", csv_name)}
{_rows_table(warned, "warning_code", "Varningar", csv_name)}
<p class=note>Raderna anges med sitt radnummer i filen (i Excel: radnumret till vänster). Rapporten innehåller
inga personnummer eller namn. Alla rader finns också i <a href="{_e(csv_name)}">{_e(csv_name)}</a>.</p>
</body></html>
"""


def _index_page(deliveries: pd.DataFrame, names: dict[str, str], kommuner: dict[str, str], in_force: dict,
                unrouted: list[tuple], reports_dir: Path) -> str:
    sections = []
    ordered = deliveries.sort_values(["project_id", "reporting_month", "kommunkod", "arrival_seq"],
                                     ascending=[True, False, True, False])
    for project_id, group in ordered.groupby("project_id", sort=True):
        rows = []
        for d in group.itertuples(index=False):
            html_path, _ = report_paths(reports_dir, d.project_id, d.kommunkod, d.reporting_month, d.sha256)
            current = in_force.get((d.project_id, d.kommunkod, d.reporting_month))
            force = "gäller" if current is not None and current.delivery_id == d.delivery_id else ""
            rows.append(
                f"<tr><td>{_e(d.reporting_month)}</td><td>{_e(d.kommunkod)} {_e(kommuner.get(d.kommunkod, ''))}</td>"
                f"<td><a href=\"{_e(html_path.relative_to(reports_dir).as_posix())}\">{_e(d.file_name)}</a></td>"
                f"<td class=\"{_e(d.verdict)}\">{_e(VERDICT_LABELS.get(d.verdict, d.verdict))}</td>"
                f"<td>{_count(d.rows_rejected)}</td><td>{force}</td></tr>")
        sections.append(f"<h2>{_e(names.get(project_id, project_id))}</h2><table><tr><th>Månad</th><th>Kommun</th>"
                        f"<th>Fil</th><th>Utfall</th><th>Avvisade rader</th><th></th></tr>{''.join(rows)}</table>")
    not_ingested = "".join(
        f"<tr><td>{_e(path)}</td><td>{_e(code)}</td><td>{_e(message)}</td></tr>" for path, code, message, _, _ in unrouted)
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Leveranser</title><style>{_STYLE}</style></head><body>
<h1>Leveranser</h1>
{''.join(sections) or '<p>Inga leveranser ännu.</p>'}
<h2>Inte inlästa filer</h2>
{f'<table><tr><th>Fil i inkorgen</th><th>Orsak</th><th>Vad ni gör</th></tr>{not_ingested}</table>' if unrouted else '<p>Inga.</p>'}
</body></html>
"""
