"""Young people who take part in one project and, years later, in another in the same municipality.

Pseudonyms are the same in every project, so the warehouse recognises such a person; the
generator makes a few of them (the Härjedalen study of 2012 feeds UVAS in Härjedalen 2015–2018)
so the cross-project figures have a truth to be tested against. They draw from their own random
stream, so every project's own persons, and every file without them, stay as they were.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from orchestration.generator.model import SimulatedEnrolment, SimulatedPerson
from orchestration.generator.months import age_on
from orchestration.generator.population import PERSON_CODES, _ProjectSimulator, _weighted, _years_before
from orchestration.projects.config import Project

RETURNING_PERSONS = 3  # per pair of projects, at scale 1


@dataclass
class SimulatedProject:
    """One generated project: its persons and enrolments before the files are written."""

    position: int
    project: Project
    months: list[str]
    persons: list[SimulatedPerson]
    enrolments: list[SimulatedEnrolment]


def returning_enrolments(projects: list[SimulatedProject], seed: int, scale: float) -> dict[str, list[SimulatedEnrolment]]:
    """Later-project enrolments of a few persons from an earlier project in a shared municipality.

    For every pair where one project ends before the other starts and both have a municipality
    in common, up to RETURNING_PERSONS named participants of the earlier one who are still young
    enough start again in the later one, in the municipality where they first took part.
    """
    added: dict[str, list[SimulatedEnrolment]] = {}
    for earlier in projects:
        for later in projects:
            if earlier.project.period_end >= later.project.period_start:
                continue
            rng = random.Random(f"{seed}:{earlier.project.id}:{later.project.id}:returning")
            candidates = _candidates(earlier, later.project)
            wanted = min(len(candidates), max(1, round(RETURNING_PERSONS * scale)))
            simulator = _ProjectSimulator(later.project, rng, first_index=0, partition_digit=later.position)
            for person, kommunkod, codes in rng.sample(candidates, wanted) if candidates else []:
                start = _start(rng, person, later.project)
                if start is None:
                    continue
                for column, weights in PERSON_CODES.items():  # what the earlier municipality did not record
                    codes.setdefault(column, _weighted(rng, weights))
                codes["utbildningsniva"] = simulator._education(person, start)
                simulator._natural_course(person, kommunkod, start, codes)
            if simulator.enrolments:
                added.setdefault(later.project.id, []).extend(simulator.enrolments)
    return added


def _candidates(earlier: SimulatedProject, later: Project) -> list[tuple[SimulatedPerson, str, dict[str, str]]]:
    """Named participants of the earlier project whose first municipality is also in the later one."""
    first: dict[int, SimulatedEnrolment] = {}
    for enrolment in sorted(earlier.enrolments, key=lambda e: (e.startdatum, e.index)):
        if enrolment.counts:
            first.setdefault(enrolment.person_index, enrolment)
    result = []
    for person in earlier.persons:
        enrolment = first.get(person.index)
        if person.anonymous or enrolment is None or enrolment.kommunkod not in later.municipalities:
            continue
        if _start_window(person, later) is None:
            continue
        codes = {column: enrolment.attributes[column] for column in PERSON_CODES if column in enrolment.attributes}
        result.append((person, enrolment.kommunkod, codes))
    return result


def _start_window(person: SimulatedPerson, project: Project) -> tuple[dt.date, dt.date] | None:
    """Days in the first half of the project on which the person's age fits its range."""
    first = max(project.period_start, _years_before_birthday(person, project.age_min))
    last = min(project.period_start + (project.period_end - project.period_start) / 2,
               _years_before_birthday(person, project.age_max + 1) - dt.timedelta(days=1))
    return (first, last) if first <= last else None


def _years_before_birthday(person: SimulatedPerson, age: int) -> dt.date:
    """The day the person turns `age`."""
    return _years_before(person.birth_date, -age)


def _start(rng: random.Random, person: SimulatedPerson, project: Project) -> dt.date | None:
    window = _start_window(person, project)
    if window is None:
        return None
    first, last = window
    start = _ProjectSimulator._weekday(first + dt.timedelta(days=rng.randint(0, (last - first).days)), first, last)
    return start if project.age_min <= age_on(person.birth_date, start) <= project.age_max else None

