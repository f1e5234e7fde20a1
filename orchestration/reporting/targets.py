"""A project's targets and whether each is reached, at its newest month: the one place the
headline, the funder report, the chart and the asset checks read them from.

Which measures have a target is the project's configuration (projects-config.md: a KPI the
catalogue, lib/kpis.py, lets a project set one for). Whether a target is reached is the warehouse's `target_met`
(marts.kpi_values: at least the target, for `median_days_to_activity` at most, since fewer days
is better), so the direction of a measure is decided once, in SQL, and never again here. The
participants target to date (the target × months so far / all months) is the warehouse's
`participants_pace_target`; the only comparison made here is participants against it.

Exact figures: this is what coordinators read (the terminal, the Dagster UI). A funder report
shows the same measures from its disclosure-controlled rows (funder_report.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.lib import kpis
from orchestration.lib.warehouse import connect
from orchestration.projects.config import Project, ProjectsConfig
from orchestration.reporting.kpi_names import KPI_LABELS

(PACE_KPI,) = kpis.of_kind("target")        # participants_pace_target, the catalogue's one target
# Shown for every project: how many took part; and, when no other measure has a target, the
# share of them that moved to activity (the UVAS headline).
ALWAYS_SHOWN = "participants"
SHOWN_WITHOUT_TARGETS = "activity_share"

REACHED, NOT_REACHED = "nått", "inte nått"


def format_value(kind: str, value: float) -> str:
    """A figure as a Swedish reader expects it: 61 %, 350, 42 dagar."""
    if kind == "share":
        return f"{value:.0%}".replace("%", " %")
    if kind == "days":
        return f"{value:.0f} dagar"
    return f"{value:.0f}"


def shown_kpis(project: Project) -> list[str]:
    """The measures a project's headline, report and chart show, in this order: participants,
    then every measure with a target in the configuration's order; activity_share when no
    measure other than participants has one."""
    targeted = [kpi for kpi in project.targets if kpi != ALWAYS_SHOWN]
    return [ALWAYS_SHOWN, *(targeted or [SHOWN_WITHOUT_TARGETS])]


@dataclass(frozen=True)
class Pace:
    """Participants so far against the participants target spread evenly over the project."""

    project_id: str
    period: str
    participants: float
    expected_by_now: float
    target: float

    @property
    def behind(self) -> bool:
        return self.participants < self.expected_by_now


@dataclass(frozen=True)
class Measure:
    """One measure of a project at a month, with its target where it has one."""

    project_id: str
    period: str | None
    kpi: str
    value: float | None
    target: float | None
    met: bool | None = None        # the warehouse's target_met; None without a target or a value
    pace: Pace | None = None       # participants with a target: the target to date

    @property
    def label(self) -> str:
        return KPI_LABELS.get(self.kpi, self.kpi)

    @property
    def kind(self) -> str:
        return kpis.shown_as(self.kpi)

    @property
    def verdict(self) -> str:
        """'nått', 'inte nått', '–' (a target but no figure to judge), '' (no target)."""
        if self.target is None:
            return ""
        if self.met is None:
            return "–"
        return REACHED if self.met else NOT_REACHED


def newest_totals(warehouse: Path) -> dict[str, tuple[str, dict[str, tuple]]]:
    """Per project: its newest month and the whole-project total row of every KPI that month,
    kpi → (value, target, target_met)."""
    with connect(warehouse, read_only=True) as db:
        rows = db.execute(
            "with newest as (select project_id, max(period) as period from marts.kpi_values group by project_id) "
            "select k.project_id, k.period, k.kpi, k.value, k.target, k.target_met "
            "from marts.kpi_values k join newest using (project_id, period) "
            "where k.area = 'ALL' and k.breakdown = 'total'").fetchall()
    result: dict[str, tuple[str, dict[str, tuple]]] = {}
    for project_id, period, kpi, value, target, met in rows:
        result.setdefault(project_id, (period, {}))[1][kpi] = (value, target, met)
    return result


def measures_of(project: Project, period: str | None, totals: dict[str, tuple]) -> list[Measure]:
    """The shown measures of one project from its month's total rows (newest_totals)."""
    result = []
    for kpi in shown_kpis(project):
        value, target, met = totals.get(kpi, (None, None, None))
        if target is None:
            target, met = project.targets.get(kpi), None   # configured after the warehouse was built
        pace = None
        if kpi == ALWAYS_SHOWN and target is not None and totals.get(PACE_KPI, (None,))[0] is not None:
            pace = Pace(project.id, period, value or 0.0, totals[PACE_KPI][0], target)
        result.append(Measure(project.id, period, kpi, value, target, met, pace))
    return result


def project_measures(warehouse: Path, config: ProjectsConfig) -> dict[str, list[Measure]]:
    """Every project's shown measures at its newest month (a project without figures: its
    measures with no period and no values)."""
    totals = newest_totals(warehouse)
    return {project.id: measures_of(project, *totals.get(project.id, (None, {}))) for project in config.projects}


def targets(warehouse: Path, config: ProjectsConfig) -> list[Measure]:
    """Every configured target of every project at the project's newest month."""
    return [m for measures in project_measures(warehouse, config).values() for m in measures if m.target is not None]


def pacing(warehouse: Path, config: ProjectsConfig) -> list[Pace]:
    """Participants at the newest month against the target to date, for projects with a participants target."""
    return [m.pace for m in targets(warehouse, config) if m.pace is not None]
