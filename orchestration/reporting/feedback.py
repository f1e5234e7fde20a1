"""Feedback where a municipality delivers: `inbox/<project>/<kommunkod>/återkoppling/`.

After every run each municipality folder of the inbox gets back what the run made of its files:

    återkoppling/status.html           its months: delivered, accepted, rejected, missing, deadline;
                                       and the files of its folder that were not ingested, with why
    återkoppling/status.csv            the same months, Excel-ready
    återkoppling/<month>_<sha8>.html   the delivery reports (reporting/delivery_report.py), copied
    återkoppling/<month>_<sha8>.csv    as they are: per month the file in force and the newest file
    återkoppling/<month>_kartlaggning_<sha8>.html|.csv   the same for its mapping files, which
                                       status.html lists in a section of their own (no deadline)

Nothing here is a second report: the delivery reports are the bytes `write_delivery_reports` wrote
to reports/ (so they carry no personnummer or name either), and the months are what
reporting/status.py computes, filtered to the one municipality. A folder holds only its own
municipality's deliveries and months; it is written only where the municipality folder already
exists as a real folder (never through a link), and only when its content changed.

A folder is replaced whole: the new one is written beside it under a temporary name, the old one
renamed away, the new one renamed into place, the old one deleted. A report of a file that is no
longer relevant (replaced by a resubmission) is thereby gone. Intake never reads the folder: the
rule is ingest/inbox.is_feedback, and every reader of the inbox goes through it.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.ingest.inbox import FEEDBACK_FOLDER, FEEDBACK_TEMPORARY_PREFIX, entry_status
from orchestration.lib import delivery_state as states
from orchestration.lib.home import DataHome
from orchestration.lib.local_time import swedish_date
from orchestration.lib.mapping_contract import MAPPING, MAPPING_FOLDER
from orchestration.lib.thresholds import DEADLINE_DAY
from orchestration.lib.warehouse import connect
from orchestration.projects.config import ProjectsConfig, load_kommuner
from orchestration.reporting import status
from orchestration.reporting.delivery_report import _month_ranges, report_paths

STATUS_HTML = "status.html"
STATUS_CSV = "status.csv"
OUR_NAME = re.compile(r"(status|\d{4}-\d{2}_(kartlaggning_)?[0-9a-f]{8})\.(html|csv)")   # what this module writes
STATUS_COLUMNS = ("manad", "frist", "leveranser", "lage", "fil_som_galler", "mottagen", "sen", "avvisade_rader",
                  "rapport")


@dataclass
class FeedbackSummary:
    folders: int = 0                                        # municipality folders given feedback
    written: list[Path] = field(default_factory=list)       # feedback folders replaced in this call
    skipped: list[str] = field(default_factory=list)        # 'project/kommunkod: why' where none could be written


def write_feedback(home: DataHome, config: ProjectsConfig, today: dt.date | None = None,
                   deadline_day: int = DEADLINE_DAY) -> FeedbackSummary:
    """Bring every municipality folder's feedback up to date (after write_delivery_reports)."""
    today = today or dt.date.today()
    kommuner = load_kommuner()
    summary = FeedbackSummary()
    with connect(home.warehouse, read_only=True) as db:
        unrouted = db.execute("select inbox_path, reason_code, message from landing.unrouted_files "
                              "order by seen_at, inbox_path").fetchall()
    for project_status in status.delivery_status(home.warehouse, config, today=today, deadline_day=deadline_day):
        project = project_status.project
        for kommunkod in project.municipalities:
            folder = home.inbox / project.id / kommunkod
            if not (_real_folder(home.inbox / project.id) and _real_folder(folder)):
                continue
            not_read = [(path, code, message) for path, code, message in unrouted
                        if path.startswith(f"{project.id}/{kommunkod}/") and _still_there(home.inbox / path)]
            content = feedback_files(project_status, kommunkod, kommuner.get(kommunkod, ""), home.reports, today,
                                     deadline_day, not_read)
            summary.folders += 1
            try:
                if replace_if_changed(folder, content):
                    summary.written.append(folder / FEEDBACK_FOLDER)
            except FeedbackNotOursError:
                summary.skipped.append(f"{project.id}/{kommunkod}: '{FEEDBACK_FOLDER}' är kommunens fil eller länk")
            except OSError as error:      # a folder we may not write: the others still get theirs
                summary.skipped.append(f"{project.id}/{kommunkod}: {type(error).__name__}")
    return summary


def feedback_files(project_status: status.ProjectStatus, kommunkod: str, kommun: str, reports_dir: Path,
                   today: dt.date, deadline_day: int = DEADLINE_DAY,
                   not_read: list[tuple[str, str, str]] = ()) -> dict[str, bytes]:
    """File name → bytes of one municipality's feedback folder. Only cells, problems and
    deliveries whose kommunkod is this one are read; `not_read`: the files of its folder that were
    not ingested, (inbox path, reason code, message)."""
    project = project_status.project
    cells = [project_status.cells[(kommunkod, month)] for month in project_status.months]
    outside = [d for d in project_status.outside if d.kommunkod == kommunkod]
    by_month: dict[str, list[status.Delivery]] = {}
    for delivery in [d for cell in cells for d in cell.deliveries] + outside:
        by_month.setdefault(delivery.reporting_month, []).append(delivery)
    mappings = [d for d in project_status.mappings if d.kommunkod == kommunkod]
    mapping_months: dict[str, list[status.Delivery]] = {}
    for delivery in mappings:
        mapping_months.setdefault(delivery.reporting_month, []).append(delivery)
    files: dict[str, bytes] = {}
    for month, deliveries in [*by_month.items(), *mapping_months.items()]:
        for delivery in relevant_deliveries(deliveries):
            for path in report_paths(reports_dir, project.id, kommunkod, month, delivery.sha256, delivery.extract_kind):
                if path.is_file():
                    files[path.name] = path.read_bytes()
    problems = [p for p in project_status.problems + project_status.mapping_problems if p.kommunkod == kommunkod]
    files[STATUS_HTML] = _status_page(project_status, kommunkod, kommun, cells, outside, problems, files,
                                      reports_dir, today, deadline_day, not_read, mapping_months).encode("utf-8")
    files[STATUS_CSV] = _status_csv(project.id, kommunkod, cells, files, reports_dir, today).encode("utf-8")
    return files


def relevant_deliveries(deliveries: list[status.Delivery]) -> list[status.Delivery]:
    """Of one month's deliveries (in arrival order): the one in force and the newest. An earlier
    file a resubmission replaced or corrected is no longer the municipality's concern."""
    if not deliveries:
        return []
    chosen = [d for d in deliveries if d.in_force] + [deliveries[-1]]
    return list({d.sha256: d for d in chosen}.values())


def replace_if_changed(municipality_folder: Path, content: dict[str, bytes]) -> bool:
    """Make our files in `<municipality_folder>/återkoppling/` exactly `content`; False when they
    already were.

    Written under a temporary name beside it and renamed into place, so a reader sees the old
    folder or the new one, each complete (between the two renames, for an instant, neither). Leftovers of a run killed midway are removed first.
    Anything else in the folder (a file the municipality put there by mistake) is not ours to
    delete: it is moved into the new folder as it is (it is still never read)."""
    target = municipality_folder / FEEDBACK_FOLDER
    existing = entry_status(target)
    if existing is not None and not stat.S_ISDIR(existing.st_mode):
        raise FeedbackNotOursError(str(target))     # a file or link the municipality put there: leave it
    _remove_leftovers(municipality_folder)
    ours, theirs = _folder_content(target) if existing is not None else ({}, [])
    if existing is not None and ours == content:
        return False
    fresh = municipality_folder / f"{FEEDBACK_TEMPORARY_PREFIX}ny.{os.getpid()}"
    old = municipality_folder / f"{FEEDBACK_TEMPORARY_PREFIX}gammal.{os.getpid()}"
    fresh.mkdir()
    for name, data in sorted(content.items()):
        (fresh / name).write_bytes(data)
    for name in theirs:
        os.rename(target / name, fresh / name)
    if existing is not None:
        os.rename(target, old)
    os.rename(fresh, target)
    if existing is not None:
        shutil.rmtree(old)
    return True


class FeedbackNotOursError(OSError):
    """`återkoppling` in a municipality folder is not a folder (a file or link of the municipality's)."""


def _remove_leftovers(municipality_folder: Path) -> None:
    for entry in os.scandir(municipality_folder):
        if entry.name.startswith(FEEDBACK_TEMPORARY_PREFIX) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)


def _folder_content(folder: Path) -> tuple[dict[str, bytes], list[str]]:
    """Our files in the folder with their bytes, and the names of every other entry."""
    ours, theirs = {}, []
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False) and OUR_NAME.fullmatch(entry.name):
            ours[entry.name] = Path(entry.path).read_bytes()
        else:
            theirs.append(entry.name)
    return ours, sorted(theirs)


def _real_folder(path: Path) -> bool:
    found = entry_status(path)
    return found is not None and stat.S_ISDIR(found.st_mode)


# --- the status page -----------------------------------------------------------------------------

def _e(value: object) -> str:
    return "" if value is None else html.escape(str(value))


def _month_state(cell: status.MonthStatus, today: dt.date) -> str:
    current = cell.in_force
    if current is not None:
        return states.VERDICT_LABELS.get(current.verdict, current.verdict)
    if any(d.waiting for d in cell.deliveries):
        return states.STATE_LABELS[states.WAITING]
    if cell.deliveries:
        return "Avvisad – ingen godkänd fil för månaden"
    if cell.is_missing(today):
        return "Saknas"
    return "Inte levererad än (fristen har inte gått ut)"


def _report_name(project_id: str, kommunkod: str, delivery: status.Delivery | None, files: dict[str, bytes],
                 reports_dir: Path) -> str:
    if delivery is None:
        return ""
    html_path, _ = report_paths(reports_dir, project_id, kommunkod, delivery.reporting_month, delivery.sha256,
                                delivery.extract_kind)
    return html_path.name if html_path.name in files else ""


def _shown_delivery(cell: status.MonthStatus) -> status.Delivery | None:
    """The file a month row names: the one in force, else the newest."""
    return cell.in_force or (cell.deliveries[-1] if cell.deliveries else None)


def _status_page(project_status: status.ProjectStatus, kommunkod: str, kommun: str, cells: list,
                 outside: list, problems: list, files: dict[str, bytes], reports_dir: Path, today: dt.date,
                 deadline_day: int, not_read: list[tuple[str, str, str]],
                 mapping_months: dict[str, list[status.Delivery]] | None = None) -> str:
    project = project_status.project
    rows = []
    for cell in reversed(cells):                                       # newest month first
        shown = _shown_delivery(cell)
        report = _report_name(project.id, kommunkod, shown, files, reports_dir)
        link = f"<a href=\"{_e(report)}\">{_e(shown.shown_name)}</a>" if report else _e(shown.shown_name if shown else "")
        needs = cell.is_missing(today) or cell.is_late or (shown is not None and shown.needs_action) or (
            cell.in_force is not None and cell.in_force.rows_rejected > 0)
        remarks = [text for text in (
            f"sen (kom {swedish_date(cell.first_accepted.received_at)})" if cell.is_late else "",
            f"{cell.in_force.rows_rejected} avvisade rader" if cell.in_force and cell.in_force.rows_rejected else "",
            f"{len(cell.deliveries)} leveranser (omleverans)" if len(cell.deliveries) > 1 else "",
        ) if text]
        rows.append(f"<tr{' class=action' if needs else ''}><td>{_e(cell.month)}</td><td>{_e(cell.deadline)}</td>"
                    f"<td>{len(cell.deliveries)}</td><td>{_e(_month_state(cell, today))}</td><td>{link}</td>"
                    f"<td>{_e(swedish_date(shown.received_at) if shown else '')}</td><td>{_e('; '.join(remarks))}</td></tr>")
    missing = [cell for cell in cells if cell.is_missing(today)]
    action = [p.text for p in problems if p.needs_action and p.kind != "saknas"]
    if missing:                                                        # one line, not one per month
        action.append(f"saknas ({len(missing)} {'månad' if len(missing) == 1 else 'månader'}): {_month_ranges(missing)}")
    information = [p.text for p in problems if not p.needs_action]
    months = (f"<table><tr><th>Månad</th><th>Frist</th><th>Leveranser</th><th>Läge</th><th>Fil som gäller</th>"
              f"<th>Mottagen</th><th>Anmärkning</th></tr>{''.join(rows)}</table>"
              if rows else "<p>Inga månader har gått ännu.</p>")
    outside_note = (f"<p>{len(outside)} leverans(er) med en månad utanför projektperioden; se listan nedan.</p>"
                    if outside else "")
    mapping_section = _mapping_section(project.id, kommunkod, mapping_months or {}, files, reports_dir)
    return f"""<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Leveransstatus {_e(kommunkod)}</title>
<style>{_STYLE}</style></head><body>
<h1>Leveransstatus: {_e(kommun)} ({_e(kommunkod)})</h1>
<p>{_e(project.name)} ({_e(project.period_start)} – {_e(project.period_end)}). Frist: den {deadline_day}:e månaden
efter rapportmånaden.</p>
<h2>Att åtgärda</h2>
{_list(action) or '<p>Inget att åtgärda.</p>'}
<h2>Månader</h2>
{months}
{outside_note}{mapping_section}<h2>Filer i mappen som inte lästes in</h2>
{_not_read_table(not_read)}
<h2>För kännedom</h2>
{_list(information) or '<p>Inget.</p>'}
<p class=note>Den här mappen skrivs om efter varje körning och läses aldrig in: lägg inga leveranser här.
Leveransrapporterna för filerna finns i samma mapp ({_e(STATUS_CSV)} har månaderna för Excel). Sidan innehåller
inga personnummer eller namn.</p>
</body></html>
"""


def _mapping_section(project_id: str, kommunkod: str, mapping_months: dict[str, list[status.Delivery]],
                     files: dict[str, bytes], reports_dir: Path) -> str:
    """The municipality's mapping files (kartlaggning/), per month the one in force and the newest:
    they have no deadline, so a month without one is neither missing nor late."""
    if not mapping_months:
        return ""
    rows = []
    for month in sorted(mapping_months, reverse=True):
        for d in relevant_deliveries(mapping_months[month]):
            report = _report_name(project_id, kommunkod, d, files, reports_dir)
            link = f"<a href=\"{_e(report)}\">{_e(d.shown_name)}</a>" if report else _e(d.shown_name)
            rows.append(f"<tr{' class=action' if d.needs_action else ''}><td>{_e(month)}</td><td>{link}</td>"
                        f"<td>{_e(swedish_date(d.received_at))}</td>"
                        f"<td>{_e(states.VERDICT_LABELS.get(d.verdict, d.verdict))}</td>"
                        f"<td>{_e(states.STATE_LABELS[d.state])}</td><td>{d.rows_rejected if d.in_force else ''}</td></tr>")
    return (f"<h2>{states.KIND_LABELS[MAPPING]}</h2><p>Filer i mappen {MAPPING_FOLDER}/ (svar på projektets "
            "kartläggningsfrågor). De har ingen frist: en månad utan kartläggning saknas inte.</p>"
            "<table><tr><th>Månad</th><th>Fil</th><th>Mottagen</th><th>Utfall</th><th>Läge</th><th>Avvisade rader</th>"
            f"</tr>{''.join(rows)}</table>")


def _not_read_table(not_read: list[tuple[str, str, str]]) -> str:
    if not not_read:
        return "<p>Inga.</p>"
    rows = "".join(f"<tr><td>{_e(path.split('/', 2)[-1])}</td><td>{_e(code)}</td><td>{_e(message)}</td></tr>"
                   for path, code, message in not_read)
    return f"<table><tr><th>Fil</th><th>Orsak</th><th>Vad ni gör</th></tr>{rows}</table>"


def _still_there(path: Path) -> bool:
    """A file not ingested is listed while it is in the inbox (as `followup status` does)."""
    return path.exists() or path.is_symlink()


def _list(texts: list[str]) -> str:
    return f"<ul>{''.join(f'<li>{_e(text)}</li>' for text in texts)}</ul>" if texts else ""


def _status_csv(project_id: str, kommunkod: str, cells: list, files: dict[str, bytes], reports_dir: Path,
                today: dt.date) -> str:
    """Semicolon-separated UTF-8 with BOM, as the delivery reports' CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(STATUS_COLUMNS)
    for cell in reversed(cells):
        shown = _shown_delivery(cell)
        writer.writerow((cell.month, cell.deadline.isoformat(), len(cell.deliveries), _month_state(cell, today),
                         shown.shown_name if shown else "", swedish_date(shown.received_at).isoformat() if shown else "",
                         "ja" if cell.is_late else "nej", cell.in_force.rows_rejected if cell.in_force else "",
                         _report_name(project_id, kommunkod, shown, files, reports_dir)))
    return "\ufeff" + buffer.getvalue()


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}.note{color:#555;font-size:.9em}.action{background:#fff4e5}"""
