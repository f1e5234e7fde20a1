"""What a coordinator should be warned about each month: missing deliveries and slow pace.

Plain functions on the warehouse; orchestration/reporting/checks.py shows them as asset checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.warehouse import connect
from orchestration.projects.config import ProjectsConfig

ACCEPTED = ("ACCEPTED", "ACCEPTED_WITH_WARNINGS")


@dataclass(frozen=True)
class MissingDelivery:
    project_id: str
    kommunkod: str
    reporting_month: str


@dataclass(frozen=True)
class Pace:
    project_id: str
    period: str
    participants: float
    expected_by_now: float
    target: float

    @property
    def behind(self) -> bool:
        return self.participants < self.expected_by_now


def missing_deliveries(warehouse: Path, config: ProjectsConfig) -> list[MissingDelivery]:
    """Municipalities with no accepted delivery for their project's newest reporting month."""
    with connect(warehouse, read_only=True) as db:
        delivered = db.execute(
            "select project_id, kommunkod, reporting_month from landing.deliveries where verdict in (?, ?)",
            list(ACCEPTED)).fetchall()
    missing = []
    for project in config.projects:
        months = {m for p, _, m in delivered if p == project.id and m in project.months()}
        if not months:
            continue
        newest = max(months)
        have = {k for p, k, m in delivered if p == project.id and m == newest}
        missing += [MissingDelivery(project.id, k, newest) for k in project.municipalities if k not in have]
    return missing


def pacing(warehouse: Path, config: ProjectsConfig) -> list[Pace]:
    """Participants at the newest period against the target spread evenly over the period."""
    with connect(warehouse, read_only=True) as db:
        rows = db.execute(
            "select project_id, period, value from marts.kpi_values k where area = 'ALL' and breakdown = 'total' "
            "and kpi = 'participants' and period = (select max(period) from marts.kpi_values m "
            "where m.project_id = k.project_id)").fetchall()
    result = []
    for project_id, period, value in rows:
        project = config.project(project_id)
        target = project.targets.get("participants")
        if not target or period not in project.months():
            continue
        elapsed = project.months().index(period) + 1
        result.append(Pace(project_id, period, value or 0.0, target * elapsed / len(project.months()), target))
    return result
