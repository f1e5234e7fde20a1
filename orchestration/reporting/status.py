"""`followup status`: which municipality delivered which month, with verdicts and gaps.

Per project a municipality × month matrix (one character per month) and below it every month
that needs attention: missing, late, rejected, rows rejected, resubmitted, waiting.

- Which file is in force, replaced or rejected comes from the warehouse's view
  `landing.delivery_states` (lib/delivery_state.py), read here as by every other view.
- A month is missing when nothing was received and its deadline has passed; it is late when its
  first accepted delivery was received (the file's modification time, Swedish local date) after
  the deadline: the deadline day (default the 10th) of the following month.
- What needs action comes first: a rejected file no later file corrected, rejected rows in the
  file in force, a late or a missing month. A rejected file that a later one corrected, a
  resubmission and a file waiting for the next run are listed after, for information.
- A delivery that intake recorded but no run has validated yet (a run killed or stopped
  halfway) is waiting, never rejected: the next `followup run` processes it.
- The matrix, its deadlines and missing months are the monthly enrolment snapshots'
  (`extract_kind` INSKRIVNING) alone. Mapping files (KARTLAGGNING, `inbox/<project>/<kommunkod>/
  kartlaggning/`) have no monthly deadline: they are listed per project in a section of their own
  (`ProjectStatus.mappings`), with what needs action about them (`mapping_problems`), and are never
  a missing or late month.

File names and messages come from the municipalities' files: every one passes through
`safe_text.console` before it is shown, so no escape sequence reaches a terminal.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from typing import NamedTuple

from orchestration.ingest.normalise import month_end
from orchestration.lib import delivery_state as states
from orchestration.lib.contract import ACCEPTED, ACCEPTED_WITH_WARNINGS, REJECTED
from orchestration.lib.local_time import shown, swedish_date
from orchestration.lib.mapping_contract import ENROLMENT, MAPPING
from orchestration.lib.safe_text import console, display_path
from orchestration.lib.thresholds import DEADLINE_DAY
from orchestration.lib.warehouse import connect
from orchestration.projects.config import Project, ProjectsConfig, load_kommuner

WAITING = "…"
SYMBOLS = {ACCEPTED: "✓", ACCEPTED_WITH_WARNINGS: "!", REJECTED: "✗", None: "·"}
LEGEND = ("✓ godkänd  ! godkänd med avvisade rader eller varningar  ✗ avvisad, ingen godkänd fil för månaden  "
          f"{WAITING} väntar på nästa körning  · ingen leverans")


@dataclass(frozen=True)
class Delivery:
    project_id: str
    kommunkod: str
    reporting_month: str
    file_name: str
    received_at: dt.datetime
    arrival_seq: int
    status: str
    verdict: str | None
    verdict_reason: str | None
    rows_rejected: int
    rows_warned: int
    state: str                    # lib/delivery_state.py
    in_force: bool
    needs_action: bool
    sha256: str
    extract_kind: str = ENROLMENT  # lib/mapping_contract.EXTRACT_KINDS

    @property
    def is_mapping(self) -> bool:
        return self.extract_kind == MAPPING

    @property
    def counts(self) -> bool:
        return self.state in (states.IN_FORCE, states.REPLACED)

    @property
    def waiting(self) -> bool:
        """Recorded by intake, not yet validated: a run is at it, or the one that took it ended first."""
        return self.state == states.WAITING

    @property
    def shown_name(self) -> str:
        return console(self.file_name, keep_newlines=False)


@dataclass
class MonthStatus:
    kommunkod: str
    month: str
    deadline: dt.date
    deliveries: list[Delivery] = field(default_factory=list)     # in arrival order

    @property
    def in_force(self) -> Delivery | None:
        return next((d for d in self.deliveries if d.in_force), None)

    @property
    def symbol(self) -> str:
        if self.in_force:
            return SYMBOLS[self.in_force.verdict]
        if any(d.waiting for d in self.deliveries):
            return WAITING
        return SYMBOLS[REJECTED] if self.deliveries else SYMBOLS[None]

    @property
    def first_accepted(self) -> Delivery | None:
        return next((d for d in self.deliveries if d.counts), None)

    @property
    def is_late(self) -> bool:
        first = self.first_accepted
        return first is not None and swedish_date(first.received_at) > self.deadline

    def is_missing(self, today: dt.date) -> bool:
        return not self.deliveries and today > self.deadline


class Problem(NamedTuple):
    kind: str
    kommunkod: str
    month: str
    text: str

    @property
    def needs_action(self) -> bool:
        return self.kind in ACTION_KINDS


ACTION_KINDS = ("avvisad", "avvisade_rader", "saknas", "sen")     # the rest is for information


@dataclass
class ProjectStatus:
    project: Project
    months: list[str]
    cells: dict[tuple[str, str], MonthStatus]
    problems: list[Problem]                             # what needs action first
    outside: list[Delivery]                             # months outside the matrix
    mappings: list[Delivery] = field(default_factory=list)          # mapping files, in arrival order
    mapping_problems: list[Problem] = field(default_factory=list)   # about them, action first


def deadline_for(month: str, deadline_day: int = DEADLINE_DAY) -> dt.date:
    following = month_end(month) + dt.timedelta(days=1)
    return following.replace(day=deadline_day)


def calendar_phase(today: dt.date, deadline_day: int = DEADLINE_DAY) -> str:
    """What of the date the status, the delivery reports and intake read: the months shown (ended
    ones), whether last month's deadline has passed, whether a month has begun. The same phase on
    two days gives the same results (lib/last_run.py)."""
    last_month = today.replace(day=1) - dt.timedelta(days=1)
    passed = today > deadline_for(f"{last_month:%Y-%m}", deadline_day)
    return f"{today:%Y-%m} {'efter' if passed else 'före'} fristen"


def _load(warehouse: Path) -> tuple[list[Delivery], list[tuple[str, str, str]]]:
    with connect(warehouse, read_only=True) as db:
        rows = db.execute(
            "select project_id, kommunkod, reporting_month, file_name, received_at, coalesce(arrival_seq, 0), status, "
            "verdict, verdict_reason, coalesce(rows_rejected, 0), coalesce(rows_warned, 0), state, in_force, "
            "needs_action, sha256, coalesce(extract_kind, 'INSKRIVNING') from landing.delivery_states "
            "order by coalesce(arrival_seq, 0), received_at, delivery_id"
        ).fetchall()
        unrouted = db.execute(
            "select inbox_path, reason_code, message from landing.unrouted_files order by seen_at, inbox_path").fetchall()
    return [Delivery(*row) for row in rows], unrouted


def delivery_status(warehouse: Path, config: ProjectsConfig, project_id: str | None = None,
                    today: dt.date | None = None, deadline_day: int = DEADLINE_DAY) -> list[ProjectStatus]:
    today = today or dt.date.today()
    kommuner = load_kommuner()
    deliveries, _ = _load(warehouse)
    result = []
    for project in config.projects:
        if project_id and project.id != project_id:
            continue
        months = [m for m in project.months() if month_end(m) < today]
        cells = {(code, m): MonthStatus(code, m, deadline_for(m, deadline_day))
                 for code in project.municipalities for m in months}
        outside, mappings = [], []
        for d in deliveries:
            if d.project_id != project.id:
                continue
            if d.is_mapping:
                mappings.append(d)
                continue
            cell = cells.get((d.kommunkod, d.reporting_month))
            if cell is None:
                outside.append(d)
            else:
                cell.deliveries.append(d)
        problems = []
        for code in project.municipalities:
            name = f"{code} {kommuner.get(code, '')}".strip()
            for month in months:
                problems += _problems(cells[(code, month)], name, today)
        for d in outside:
            outcome = "väntar på nästa körning" if d.waiting else d.verdict or d.status
            problems.append(Problem("utanför", d.kommunkod, d.reporting_month,
                             f"utanför projektperioden: {d.kommunkod} {d.reporting_month} {d.shown_name}: "
                             f"{outcome}{f' ({d.verdict_reason})' if d.verdict_reason else ''}"))
        problems.sort(key=lambda p: not p.needs_action)          # stable: by municipality and month within
        mapping_problems = [p for d in mappings for p in _mapping_problems(d, kommuner, project)]
        mapping_problems.sort(key=lambda p: not p.needs_action)
        result.append(ProjectStatus(project, months, cells, problems, outside, mappings, mapping_problems))
    return result


# what a rejected mapping file leaves in force for its municipality and month
MAPPING_REJECTED_CONSEQUENCES = {
    states.REJECTED_CORRECTED: "en senare rättad kartläggningsfil gäller",
    states.REJECTED_EARLIER_COUNTS: "en tidigare godkänd kartläggningsfil gäller fortfarande",
    states.REJECTED_NOTHING_COUNTS: "ingen kartläggning gäller för månaden",
}


def mapping_label(d: Delivery, kommuner: dict[str, str]) -> str:
    """`kartläggning 0482 Flen 2009-10 svar.csv`: what a mapping file is called in a list."""
    name = f"{d.kommunkod} {kommuner.get(d.kommunkod, '')}".strip()
    return f"kartläggning {name} {d.reporting_month} {d.shown_name}"


def _mapping_problems(d: Delivery, kommuner: dict[str, str], project: Project) -> list[Problem]:
    """What needs action about one mapping file (no deadline: never missing, never late)."""
    label = mapping_label(d, kommuner)
    if d.verdict == REJECTED:
        kind = "avvisad" if d.needs_action else "avvisad_rättad"
        return [Problem(kind, d.kommunkod, d.reporting_month,
                        f"avvisad: {label} (mottagen {shown(d.received_at)}): {d.verdict_reason}; "
                        f"{MAPPING_REJECTED_CONSEQUENCES[d.state]}")]
    if d.waiting:
        return [Problem("väntar", d.kommunkod, d.reporting_month,
                        f"väntar: {label}: mottagen men inte färdigbehandlad; nästa körning (`followup run`) "
                        "behandlar den")]
    found = []
    if d.in_force and d.rows_rejected:
        found.append(Problem("avvisade_rader", d.kommunkod, d.reporting_month, f"{d.rows_rejected} avvisade rader: {label}"))
    if d.state == states.REPLACED:
        found.append(Problem("omleverans", d.kommunkod, d.reporting_month, f"ersatt av en senare fil: {label}"))
    if d.reporting_month not in project.months():
        found.append(Problem("utanför", d.kommunkod, d.reporting_month, f"utanför projektperioden: {label}"))
    return found


def _problems(cell: MonthStatus, name: str, today: dt.date) -> list[Problem]:
    code, month = cell.kommunkod, cell.month
    found = []
    if cell.is_missing(today):
        return [Problem("saknas", code, month, f"saknas: {name} {month} (frist {cell.deadline})")]
    current = cell.in_force
    for d in cell.deliveries:
        if d.verdict == REJECTED:
            kind = "avvisad" if d.needs_action else "avvisad_rättad"
            found.append(Problem(kind, code, month, f"avvisad: {name} {month} {d.shown_name} (mottagen "
                                                    f"{shown(d.received_at)}): {d.verdict_reason}; "
                                                    f"{states.REJECTED_CONSEQUENCES[d.state]}"))
        elif d.waiting:
            found.append(Problem("väntar", code, month, f"väntar: {name} {month} {d.shown_name}: mottagen men inte "
                                                        "färdigbehandlad; nästa körning (`followup run`) behandlar den"))
    if current and cell.is_late:
        found.append(Problem("sen", code, month, f"sen: {name} {month} kom {swedish_date(cell.first_accepted.received_at)} "
                                                 f"(frist {cell.deadline})"))
    if current and current.rows_rejected:
        found.append(Problem("avvisade_rader", code, month,
                             f"{current.rows_rejected} avvisade rader: {name} {month} {current.shown_name}"))
    if len(cell.deliveries) > 1:
        force = f"gäller: {current.shown_name}" if current else "ingen gäller"
        found.append(Problem("omleverans", code, month,
                             f"{len(cell.deliveries)} leveranser (omleverans): {name} {month}, {force}"))
    return found


def format_status(warehouse: Path, config: ProjectsConfig, project_id: str | None = None,
                  today: dt.date | None = None, deadline_day: int = DEADLINE_DAY, inbox: Path | None = None,
                  lists: bool = True, statuses: list[ProjectStatus] | None = None) -> str:
    """The matrix and the list of what needs attention, as text for the terminal; `lists=False`:
    the matrices alone (the Dagster UI shows the lists beside them). `statuses`: delivery_status's
    answer when the caller has it already (one read of the warehouse for every project's matrix).

    With `inbox`, the files that were not ingested are listed only while they are still there."""
    kommuner = load_kommuner()
    if statuses is None:
        statuses = delivery_status(warehouse, config, project_id, today, deadline_day)
    statuses = [s for s in statuses if project_id is None or s.project.id == project_id]
    unrouted = _load(warehouse)[1] if lists else []
    shown_paths: set[str] | None = None

    def still_in_inbox(path: str) -> bool:
        """Intake stores a name as its display text (safe_text.display_name): a name with control
        characters or bytes that are not UTF-8 is found by comparing display texts."""
        nonlocal shown_paths
        if (inbox / path).exists() or (inbox / path).is_symlink():
            return True
        if shown_paths is None:
            shown_paths = _shown_inbox_paths(inbox)
        return path in shown_paths

    lines: list[str] = []
    for status in statuses:
        project, months = status.project, status.months
        lines.append(f"{project.id} – {project.name} ({project.period_start} – {project.period_end}), "
                     f"frist den {deadline_day}:e månaden efter")
        span = f"{months[0]} … {months[-1]}" if months else "inga månader har gått ännu"
        lines.append(f"  {'kommun':<18} {span:<{max(len(months), len(span))}}  lev. sena saknas avv.rader")
        if len(months) > len(span):
            lines.append(f"  {'':<18} {year_ruler(months)}")
        for code in project.municipalities:
            cells = [status.cells[(code, m)] for m in months]
            delivered = sum(len(c.deliveries) for c in cells)
            late = sum(1 for c in cells if c.is_late)
            missing = sum(1 for c in cells if c.is_missing(today or dt.date.today()))
            rejected_rows = sum(c.in_force.rows_rejected for c in cells if c.in_force)
            marks = "".join(c.symbol for c in cells)
            name = f"{code} {kommuner.get(code, '')}"[:18]
            lines.append(f"  {name:<18} {marks:<{max(len(months), len(span))}}  {delivered:>4} {late:>4} {missing:>6} "
                         f"{rejected_rows:>9}")
        if status.mappings:
            lines.append(f"  kartläggningar (ingen månadsfrist): {len(status.mappings)} filer, "
                         f"{sum(1 for d in status.mappings if d.in_force)} gäller")
            if lists:
                lines.extend(f"    {mapping_line(d, kommuner)}" for d in status.mappings)
        problems = status.problems + status.mapping_problems
        action = [p.text for p in problems if p.needs_action]
        information = [p.text for p in problems if not p.needs_action]
        if action and lists:
            lines.append("  att åtgärda:")
            lines.extend(f"    {text}" for text in action)
        if information and lists:
            lines.append("  för kännedom:")
            lines.extend(f"    {text}" for text in information)
        lines.append("")
    if not lists:
        return "\n".join(lines).rstrip()
    lines.append(LEGEND)
    for path, code, message in unrouted:
        if project_id and not path.startswith(f"{project_id}/"):
            continue
        if inbox is not None and not still_in_inbox(path):
            continue
        lines.append(f"Inte inläst ({console(code, False)}): {console(path, False)}: {console(message, False)}")
    return "\n".join(lines)


def mapping_line(d: Delivery, kommuner: dict[str, str]) -> str:
    """One mapping file in `followup status`: municipality, month, file, verdict and state."""
    name = f"{d.kommunkod} {kommuner.get(d.kommunkod, '')}".strip()
    verdict = states.VERDICT_LABELS.get(d.verdict, d.verdict).lower()
    rejected = f", {d.rows_rejected} avvisade rader" if d.in_force and d.rows_rejected else ""
    return f"{name} {d.reporting_month} {d.shown_name}: {verdict}{rejected}; {states.STATE_LABELS[d.state].lower()}"


def year_ruler(months: list[str]) -> str:
    """`2015   2016        2017`: each year written above its first month in the matrix."""
    ruler = [" "] * len(months)
    for index, month in enumerate(months):
        if (index == 0 or month.endswith("-01")) and index + 4 <= len(months) and ruler[index] == " ":
            if index == 0 or all(c == " " for c in ruler[max(0, index - 1):index]):
                ruler[index:index + 4] = month[:4]
    return "".join(ruler).rstrip()


def _shown_inbox_paths(inbox: Path) -> set[str]:
    """Every entry under the inbox, as its relative path's display text."""
    shown = set()
    for folder, folders, files in os.walk(inbox):
        relative = Path(folder).relative_to(inbox)
        for name in folders + files:
            shown.add(display_path((relative / name).as_posix()))
    return shown
