"""Expected KPIs computed straight from a Simulation, following shared/spec/kpis.md.

Deliberately independent of the pipeline (no warehouse, no dbt, no pseudonyms): the unit is the
simulated person's index, which the generator already makes unique per municipality for anonymous
participants. Only the newest truth is used, as the KPIs restate history from the newest snapshot.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter

from orchestration.generator.model import SimulatedEnrolment, Simulation
from orchestration.projects.config import Project

COUNT_KPIS = ("participants", "new_participants", "active_participants", "exited", "moved_to_activity")
PHASES = ("HITTA", "MOTA", "AKTIVERA", "MATCHA")


def _period_bounds(period: str) -> tuple[dt.date, dt.date]:
    year, month = int(period[:4]), int(period[5:7])
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _counting(sim: Simulation, project: Project, area: str) -> list[SimulatedEnrolment]:
    """Counting enrolments (not FELREGISTRERING) of the project in the area."""
    return [e for e in sim.enrolments
            if e.project_id == project.id and e.counts and (area == "ALL" or e.kommunkod == area)]


def _unit_sets(sim: Simulation, project: Project, area: str, period: str) -> dict[str, set[int]]:
    first_day, last_day = _period_bounds(period)
    enrolments = _counting(sim, project, area)
    started = [e for e in enrolments if e.startdatum <= last_day]
    ongoing = {e.person_index for e in started if e.slutdatum is None or e.slutdatum > last_day}
    ended = [e for e in started if e.slutdatum is not None and e.slutdatum <= last_day]
    first_start: dict[int, dt.date] = {}
    for e in enrolments:
        first_start[e.person_index] = min(first_start.get(e.person_index, e.startdatum), e.startdatum)
    return {
        "participants": {e.person_index for e in started},
        "new_participants": {p for p, d in first_start.items() if first_day <= d <= last_day},
        "active_participants": ongoing,
        "exited": {e.person_index for e in ended} - ongoing,
        "moved_to_activity": {e.person_index for e in ended if e.avslutsorsak in project.activity_outcomes},
    }


def expected_kpis(sim: Simulation, project: Project, area: str, period: str) -> dict[str, float | int | None]:
    """participants … exit_activity_share for a project, an area (kommunkod or 'ALL') and a period."""
    units = _unit_sets(sim, project, area, period)
    result: dict[str, float | int | None] = {kpi: len(units[kpi]) for kpi in COUNT_KPIS}
    participants, exited = len(units["participants"]), len(units["exited"])
    result["activity_share"] = len(units["moved_to_activity"]) / participants if participants else None
    result["exit_activity_share"] = (
        len(units["exited"] & units["moved_to_activity"]) / exited if exited else None)
    return result


def expected_kon_breakdown(sim: Simulation, project: Project, area: str, period: str, kpi: str) -> dict[str, int]:
    """{'K': n, 'M': n, 'X': n} for a count KPI, plus 'OKAND' when an anonymous row has kon blank.

    A named person's kon is the one their rows report (X for a few), else derived from the
    personnummer; an anonymous person has only what their row says.
    """
    units = _unit_sets(sim, project, area, period)[kpi]
    anonymous_kon = {e.person_index: e.kon_written or "OKAND" for e in _counting(sim, project, area)}
    persons = {p.index: p for p in sim.persons}
    counts: Counter[str] = Counter({"K": 0, "M": 0, "X": 0})
    for index in units:
        person = persons[index]
        counts[anonymous_kon[index] if person.anonymous else person.kon_reported] += 1
    return dict(counts)


def expected_phase_counts(sim: Simulation, project: Project, area: str, period: str) -> dict[str, int]:
    """phase_hitta … phase_matcha: persons ongoing at the month's end, by that month's fas."""
    _, last_day = _period_bounds(period)
    counts = {f"phase_{phase.lower()}": set() for phase in PHASES}  # type: dict[str, set[int]]
    for e in _counting(sim, project, area):
        if e.startdatum <= last_day and (e.slutdatum is None or e.slutdatum > last_day):
            counts[f"phase_{e.fas_at(period).lower()}"].add(e.person_index)  # type: ignore[union-attr]
    return {kpi: len(units) for kpi, units in counts.items()}
