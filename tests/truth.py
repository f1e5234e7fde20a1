"""Expected KPIs computed straight from a Simulation, following shared/spec/kpis.md.

Deliberately independent of the pipeline (no warehouse, no dbt, no pseudonyms): the unit is the
simulated person's index, which the generator already makes unique per municipality for anonymous
participants. Only the newest truth is used, as the KPIs restate history from the newest snapshot.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
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


# ---- every KPI and breakdown of kpis.md ----------------------------------------------------------

BREAKDOWNS = ("kon", "alder", "fodelseregion", "funktionsnedsattning", "utbildningsniva", "forsorjningsstod_start")
SHARES = {  # kpi: (numerator set, denominator set), both from _person_sets
    "activity_share": ("moved_to_activity", "participants"),
    "exit_activity_share": ("exited_to_activity", "exited"),
    "not_known_share": ("not_known", "known_start_status"),
    "income_support_start_share": ("income_support_at_start", "known_income_support"),
    "income_support_end_share": ("income_support_at_end", "known_income_support"),
    "outcome_6m_activity_share": ("outcome_6m_activity", "known_outcome_6m"),
    "from_other_project_share": ("from_other_project", "participants"),
}
PHASE_KPIS = tuple(f"phase_{phase.lower()}" for phase in PHASES)
KNOWN = lambda code: code not in (None, "OKAND")  # noqa: E731


def _month_end(month: str) -> dt.date:
    return _period_bounds(month)[1]


def _months_before(period: str, count: int) -> str:
    serial = int(period[:4]) * 12 + int(period[5:7]) - 1 - count
    return f"{serial // 12:04d}-{serial % 12 + 1:02d}"


def _age(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _start(e: SimulatedEnrolment, project: Project) -> dt.date:
    """An enrolment counts from the project's start (kpis.md read with the contract)."""
    return max(e.startdatum, project.period_start)


def _first_enrolments(sim: Simulation, project: Project, area: str) -> dict[int, SimulatedEnrolment]:
    """Each person's first counting enrolment in the area: earliest start, then municipality, then row."""
    first: dict[int, SimulatedEnrolment] = {}
    for e in sorted(_counting(sim, project, area), key=lambda e: (_start(e, project), e.kommunkod, e.index)):
        first.setdefault(e.person_index, e)
    return first


def age_band(age: int | None, project: Project) -> str:
    """Five-year bands cut to the project's age range; UTANFOR outside it, OKAND unknown."""
    if age is None:
        return "OKAND"
    if not project.age_min <= age <= project.age_max:
        return "UTANFOR"
    low = age - age % 5
    return f"{max(project.age_min, low)}-{min(project.age_max, low + 4)}"


def person_groups(sim: Simulation, project: Project, area: str) -> dict[int, dict[str, str]]:
    """Each person's group in every breakdown, from what their first enrolment in the area says.

    kon: the kon cell, else (named persons) the sex digit; an anonymous person without a kon
    cell is OKAND. alder: age on the first startdatum from the birth date (anonymous: unknown).
    The optional codes as written, OKAND when the municipality left them out.
    """
    persons = {p.index: p for p in sim.persons}
    groups: dict[int, dict[str, str]] = {}
    for index, e in _first_enrolments(sim, project, area).items():
        person = persons[index]
        kon = e.kon_written or ("OKAND" if person.anonymous else person.kon)
        age = None if person.anonymous else _age(person.birth_date, e.startdatum)
        groups[index] = {
            "total": "T",
            "kon": kon,
            "alder": age_band(age, project),
            **{column: e.attributes.get(column) or "OKAND"
               for column in ("fodelseregion", "funktionsnedsattning", "utbildningsniva", "forsorjningsstod_start")},
        }
    return groups


def _newest_month(sim: Simulation, project: Project) -> dict[str, str]:
    """The newest delivered month of every municipality of the project."""
    newest: dict[str, str] = {}
    for f in sim.files:
        if f.project_id == project.id:
            newest[f.kommunkod] = max(newest.get(f.kommunkod, f.reporting_month), f.reporting_month)
    return newest


def _person_sets(sim: Simulation, project: Project, area: str, period: str) -> dict[str, set[int]]:
    """The persons behind every count, and the numerators and denominators of every share."""
    units = _unit_sets(sim, project, area, period)
    _, last_day = _period_bounds(period)
    enrolments = [e for e in _counting(sim, project, area) if e.startdatum <= last_day]
    first = _first_enrolments(sim, project, area)
    newest = _newest_month(sim, project)
    sets = dict(units)
    sets["exited_to_activity"] = units["exited"] & units["moved_to_activity"]

    start_status = {p: (first[p].attributes.get("sysselsattning_start"), first[p].attributes.get("forsorjningsstod_start"))
                    for p in units["participants"]}
    sets["known_start_status"] = {p for p, (work, support) in start_status.items() if KNOWN(work) and KNOWN(support)}
    sets["not_known"] = {p for p in sets["known_start_status"]
                         if start_status[p][0] != "ARBETSLOS_AF" and start_status[p][1] != "JA"}

    def latest(candidates: list[SimulatedEnrolment]) -> dict[int, SimulatedEnrolment]:
        chosen: dict[int, SimulatedEnrolment] = {}
        for e in sorted(candidates, key=lambda e: (e.slutdatum, e.startdatum), reverse=True):
            chosen.setdefault(e.person_index, e)
        return chosen

    ended = latest([e for e in enrolments if e.slutdatum is not None and e.slutdatum <= last_day])
    support = {p: (ended[p].attributes.get("forsorjningsstod_start"), ended[p].attributes.get("forsorjningsstod_slut"))
               for p in units["exited"]}
    sets["known_income_support"] = {p for p, (start, end) in support.items() if KNOWN(start) and KNOWN(end)}
    sets["income_support_at_start"] = {p for p in sets["known_income_support"] if support[p][0] == "JA"}
    sets["income_support_at_end"] = {p for p in sets["known_income_support"] if support[p][1] == "JA"}

    cutoff = _month_end(_months_before(period, 6))
    followed = latest([e for e in enrolments if e.slutdatum is not None and e.slutdatum <= cutoff])

    def follow_up(e: SimulatedEnrolment) -> str | None:
        """The uppfoljning_6m cell of the municipality's newest file: there once six months have passed."""
        due = e.slutdatum <= _month_end(_months_before(newest[e.kommunkod], 6))  # type: ignore[operator]
        return e.attributes.get("uppfoljning_6m") if due else None

    outcomes = {p: follow_up(e) for p, e in followed.items()}
    sets["known_outcome_6m"] = {p for p, status in outcomes.items() if status not in (None, "OKAND", "EJ_NADD")}
    sets["outcome_6m_activity"] = {p for p in sets["known_outcome_6m"] if outcomes[p] in project.activity_outcomes}

    persons = {p.index: p for p in sim.persons}
    elsewhere: dict[int, list[dt.date]] = {}
    for e in sim.enrolments:
        if e.counts and e.project_id != project.id and not persons[e.person_index].anonymous:
            elsewhere.setdefault(e.person_index, []).append(e.startdatum)
    sets["from_other_project"] = {p for p in units["participants"]
                                  if any(day < _start(first[p], project) for day in elsewhere.get(p, []))}

    phases = {kpi: set() for kpi in PHASE_KPIS}  # type: dict[str, set[int]]
    for e in enrolments:
        if e.slutdatum is None or e.slutdatum > last_day:
            phases[f"phase_{e.fas_at(period).lower()}"].add(e.person_index)  # type: ignore[union-attr]
    sets |= phases
    return sets


def days_to_activity(sim: Simulation, project: Project, area: str, period: str) -> dict[int, int]:
    """For persons moved to activity by the period: first start to the first activity exit, in days."""
    _, last_day = _period_bounds(period)
    first = _first_enrolments(sim, project, area)
    exits: dict[int, dt.date] = {}
    for e in _counting(sim, project, area):
        if e.slutdatum is not None and e.slutdatum <= last_day and e.avslutsorsak in project.activity_outcomes:
            exits[e.person_index] = min(exits.get(e.person_index, e.slutdatum), e.slutdatum)
    return {p: (end - _start(first[p], project)).days for p, end in exits.items()}


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def expected_cells(sim: Simulation, project: Project, area: str, period: str) -> dict[tuple[str, str, str], float | None]:
    """(kpi, breakdown, group) → value for every KPI of kpis.md and every breakdown group somebody
    of the area is in; a group nobody is in has 0 for a count and no value for a share or median.
    participants_target_share, reach and the pace target only for ALL / total."""
    sets = _person_sets(sim, project, area, period)
    groups = person_groups(sim, project, area)
    days = days_to_activity(sim, project, area, period)
    cells: dict[tuple[str, str, str], float | None] = {}
    for breakdown in ("total", *BREAKDOWNS):
        for group in sorted({g[breakdown] for g in groups.values()}):
            members = {p for p, g in groups.items() if g[breakdown] == group}
            for kpi in (*COUNT_KPIS, *PHASE_KPIS):
                cells[(kpi, breakdown, group)] = len(sets[kpi] & members)
            for kpi, (numerator, denominator) in SHARES.items():
                below = len(sets[denominator] & members)
                cells[(kpi, breakdown, group)] = len(sets[numerator] & members) / below if below else None
            moved = sets["moved_to_activity"] & members
            cells[("median_days_to_activity", breakdown, group)] = _median([days[p] for p in moved])
    if area == "ALL":
        participants = len(sets["participants"])
        target = project.targets.get("participants")
        if target:
            cells[("participants_target_share", "total", "T")] = participants / target
            months = project.months()
            cells[("participants_pace_target", "total", "T")] = target * (months.index(period) + 1) / len(months)
        if project.target_population:
            cells[("reach", "total", "T")] = participants / project.target_population
    return cells


def expected_overlap(sim: Simulation, project: Project, area: str) -> dict[str, int]:
    """other project → participants of the project (area, last month) who started there before."""
    period = project.months()[-1]
    participants = _unit_sets(sim, project, area, period)["participants"]
    first = _first_enrolments(sim, project, area)
    persons = {p.index: p for p in sim.persons}
    found: dict[str, set[int]] = {}
    for e in sim.enrolments:
        if (e.counts and e.project_id != project.id and e.person_index in participants
                and not persons[e.person_index].anonymous and e.startdatum < _start(first[e.person_index], project)):
            found.setdefault(e.project_id, set()).add(e.person_index)
    return {other: len(found_persons) for other, found_persons in found.items()}


def sample_periods(months: list[str]) -> list[str]:
    """The months an end-to-end test compares: the last month and two earlier ones (first and middle)."""
    return sorted({months[-1], months[0], months[len(months) // 2]})


def same(actual: float | None, expected: float | None) -> bool:
    """A warehouse figure equals the truth: both absent (NULL or NaN), or equal within float noise."""
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    return actual is not None and math.isclose(actual, expected, abs_tol=1e-9)


# ---- the mapping figures (kartläggning), straight from the generator's record ---------------------
#
# mapping-design.md, "Which answers count, and the figures": the accepted rows of the mapping files
# in force (Simulation.mapping.counted_rows); per area (each municipality and ALL), each person's
# latest answer to each question (from their latest occasion answering it), the first and latest
# for persons answering twice; groups from the person's latest occasion (kon) and first occasion
# (alder); inventory figures from the latest answers.

MAPPING_BREAKDOWNS = ("total", "kon", "alder")
MAPPING_MEASURES = ("svar", "fore", "efter")
INVENTORY_MAPPED = "kartlagda"


def mapping_categories(question, answer) -> list[str]:
    """The categories an answer counts in: its code(s), the scale step, the band of a number
    (lower <= x < upper, the last band open), BESVARAD for a number without bands; none for free text."""
    if question.type in ("single_choice", "yes_no"):
        return [answer]
    if question.type == "multiple_choice":
        return list(answer)
    if question.type == "scale":
        return [str(int(answer))]
    if question.type == "number":
        if not question.bands:
            return ["BESVARAD"]
        bounds = list(question.bands)
        for position, lower in enumerate(bounds):
            upper = bounds[position + 1] if position + 1 < len(bounds) else None
            if lower <= answer and (upper is None or answer < upper):
                return [_band_name(lower, upper)]
        return []
    return []


def _band_name(lower: float, upper: float | None) -> str:
    """A band's category code as the configuration names it: '1-3' (from 1, below 3), '5-' (5 or more)."""
    return f"{lower:g}-" if upper is None else f"{lower:g}-{upper:g}"


def mapping_occasions(sim: Simulation, project: Project, area: str) -> dict[int, list]:
    """person → their counted occasions (rows) in the area, earliest besvarad first."""
    occasions: dict[int, list] = {}
    for row in sim.mapping.counted_rows(project.id):
        if area == "ALL" or row.kommunkod == area:
            occasions.setdefault(row.person_index, []).append(row)
    return {person: sorted(rows, key=lambda r: r.besvarad) for person, rows in occasions.items()}


def mapping_groups(sim: Simulation, project: Project, area: str) -> dict[int, dict[str, str]]:
    """Each mapped person's group per breakdown: kon from the latest occasion's row, alder from
    the age at the first occasion (five-year bands cut to the age range, UTANFOR, OKAND)."""
    groups = {}
    for person, rows in mapping_occasions(sim, project, area).items():
        kon = rows[-1].kon if rows[-1].kon in ("K", "M", "X") else "OKAND"
        groups[person] = {"total": "T", "kon": kon, "alder": age_band(rows[0].age_at_answer, project)}
    return groups


def _answers_over_time(rows: list, question_id: str) -> list:
    return [row.answers[question_id] for row in rows
            if question_id in row.answers and row.answers[question_id] not in (None, "", [])]


def expected_mapping_values(sim: Simulation, project: Project) -> dict[tuple, tuple[int, int]]:
    """(area, breakdown, group, question_id, measure, category) → (numerator, denominator) for
    svar, fore and efter, every category of every question with a figure, for every group somebody
    mapped in the area is in and whose denominator is above zero."""
    assert project.mapping is not None
    cells: dict[tuple, tuple[int, int]] = {}
    for area in ("ALL", *project.municipalities):
        occasions = mapping_occasions(sim, project, area)
        groups = mapping_groups(sim, project, area)
        for question in project.mapping.questions:
            if question.type == "free_text":
                continue
            categories = [c.code for c in question.categories()]
            answered = {p: _answers_over_time(rows, question.id) for p, rows in occasions.items()}
            latest = {p: set(mapping_categories(question, a[-1])) for p, a in answered.items() if a}
            twice = {p: a for p, a in answered.items() if len(a) >= 2}
            first = {p: set(mapping_categories(question, a[0])) for p, a in twice.items()}
            last = {p: set(mapping_categories(question, a[-1])) for p, a in twice.items()}
            for breakdown in MAPPING_BREAKDOWNS:
                for group in sorted({g[breakdown] for g in groups.values()}):
                    members = {p for p, g in groups.items() if g[breakdown] == group}
                    for measure, chosen in (("svar", latest), ("fore", first), ("efter", last)):
                        base = [p for p in members if p in chosen]
                        if not base:
                            continue
                        for category in categories:
                            count = sum(1 for p in base if category in chosen[p])
                            cells[(area, breakdown, group, question.id, measure, category)] = (count, len(base))
    return cells


def expected_mapping_inventory(sim: Simulation, project: Project) -> dict[tuple[str, str], tuple[int, int | None]]:
    """(area, figure) → (persons, target population or None): kartlagda (persons mapped) and every
    inventory figure (persons whose latest answer to each question the figure names is one of its
    codes); the target population is the base at ALL only."""
    assert project.mapping is not None
    cells: dict[tuple[str, str], tuple[int, int | None]] = {}
    for area in ("ALL", *project.municipalities):
        occasions = mapping_occasions(sim, project, area)
        base = project.target_population if area == "ALL" else None
        cells[(area, INVENTORY_MAPPED)] = (len(occasions), base)
        for figure, conditions in project.mapping.inventory:
            count = 0
            for rows in occasions.values():
                latest = {question_id: _answers_over_time(rows, question_id) for question_id, _ in conditions}
                if all(latest[q] and latest[q][-1] in codes for q, codes in conditions):
                    count += 1
            cells[(area, figure)] = (count, base)
    return cells
