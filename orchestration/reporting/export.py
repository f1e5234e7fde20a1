"""The funder table `kpi.csv` (shared/spec/kpis.md), one folder per project.

Funder exports pass disclosure control (reporting/suppression.py: small counts hidden, then
further cells so that no hidden figure can be recovered by subtraction); `--unsuppressed` writes
the exact figures as kpi_internal.csv for the region's own coordinators. Every text cell that a
spreadsheet would read as a formula (=, +, -, @ first) is neutralised with a leading quote.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.warehouse import connect
from orchestration.projects.config import Project, ProjectsConfig
from orchestration.reporting.suppression import MIN_SHARE_DENOMINATOR, suppress  # noqa: F401 - re-exported

KPI_COLUMNS = ("project_id", "area", "period", "kpi", "breakdown", "group", "value", "numerator",
               "denominator", "target", "target_met", "suppressed")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportedFile:
    project_id: str
    period: str
    path: Path
    rows: int


def newest_period(warehouse: Path, project_id: str) -> str | None:
    """The newest month with deliveries for the project (the default export period): the marts
    run to the newest accepted month, capped at the project's end."""
    with connect(warehouse, read_only=True) as db:
        row = db.execute("select max(period) from marts.kpi_values where project_id = ?", [project_id]).fetchone()
    return row[0] if row else None


def kpi_rows(warehouse: Path, project_id: str, period: str) -> list[dict]:
    with connect(warehouse, read_only=True) as db:
        cursor = db.execute(
            "select project_id, area, period, kpi, breakdown, breakdown_group as \"group\", value, numerator, "
            "denominator, target, target_met from marts.kpi_values where project_id = ? and period = ? "
            "order by area = 'ALL' desc, area, kpi, breakdown = 'total' desc, breakdown, breakdown_group",
            [project_id, period])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def export_project(warehouse: Path, project: Project, out_dir: Path, period: str | None = None,
                   unsuppressed: bool = False) -> ExportedFile | None:
    period = period or newest_period(warehouse, project.id)
    if period is None:
        return None
    rows = kpi_rows(warehouse, project.id, period)
    if unsuppressed:
        rows = [dict(row, suppressed=False) for row in rows]
        name = "kpi_internal.csv"
    else:
        rows = suppress(rows, project.min_count)
        name = "kpi.csv"
    target = out_dir / project.id / name
    target.parent.mkdir(parents=True, exist_ok=True)
    write_kpi_csv(rows, target)
    return ExportedFile(project.id, period, target, len(rows))


def write_kpi_csv(rows: list[dict], target: Path) -> None:
    """The rows as kpi.csv (UTF-8, comma, header), written atomically."""
    temporary = target.with_name(target.name + ".part")
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(KPI_COLUMNS)
        for row in rows:
            writer.writerow([_cell(row.get(column)) for column in KPI_COLUMNS])
    temporary.replace(target)


def export_all(warehouse: Path, config: ProjectsConfig, out_dir: Path, project_id: str | None = None,
               period: str | None = None, unsuppressed: bool = False) -> list[ExportedFile]:
    projects = [config.project(project_id)] if project_id else list(config.projects)
    exported = [export_project(warehouse, p, out_dir, period, unsuppressed) for p in projects]
    return [e for e in exported if e is not None]


def _isnan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _cell(value: object) -> str:
    """CSV text: blank for missing, true/false for booleans, integers without '.0'; a text that
    a spreadsheet would run as a formula gets a leading quote (numbers are never text here)."""
    if value is None or _isnan(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(round(value, 6))
        return str(value)
    return neutralise_formula(str(value))


def neutralise_formula(text: str) -> str:
    """'=HYPERLINK(…)' → "'=HYPERLINK(…)": Excel and LibreOffice show it as text, never run it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
