"""Simulate the young people and enrolments of one project: the truth deliveries are drawn from.

Sizes and outcome mixes follow the real projects (UVAS: about 400 persons in Jämtland's eight
municipalities, about 60 % out into work, studies or internship). A few storylines are forced
rather than left to chance, so every feature the pipeline must handle (re-enrolment, moves,
mistaken registrations, samordningsnummer, anonymous participants, persons born in the 2000s)
occurs for the default seed at scale 1.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from orchestration.generator.identities import random_contact
from orchestration.generator.model import SimulatedEnrolment, SimulatedPerson
from orchestration.generator.months import age_on, month_end, month_of, months_between
from orchestration.generator.personnummer import kon_from_personnummer, make_personnummer, random_serial
from orchestration.lib.contract import FAS
from orchestration.projects.config import Project

BASE_PERSONS = {"uvas": 400, "fokus_16_25": 40, "ostra_sodertorn": 60, "vaga_valja_vag": 25, "harjedalen": 20}
PERSONS_PER_MUNICIPALITY = 25  # for a project the bundled example does not describe

# Relative size of the municipalities' target groups (Östersund dominates Jämtland).
KOMMUN_WEIGHTS = {
    "2380": 40, "2309": 12, "2321": 10, "2313": 9, "2361": 9, "2305": 7, "2326": 7, "2303": 6,
    "2029": 40, "2031": 35, "2026": 25, "0136": 50, "0138": 30, "0192": 20,
}

OUTCOME_WEIGHTS = {
    "ARBETE": 33, "STUDIER": 24, "PRAKTIK": 11, "ARBETSMARKNADSPROGRAM": 5, "ANNAN_INSATS": 5,
    "OHALSA": 4, "FLYTT": 4, "AVBROTT": 7, "EJ_KONTAKT": 5, "OVRIGT": 2,
}
PERSON_CODES = {
    "fodelseregion": {"SVERIGE": 72, "EU_EES": 6, "TREDJELAND": 19, "OKAND": 3},
    "funktionsnedsattning": {"JA": 15, "NEJ": 65, "OKAND": 20},
}
ENROLMENT_CODES = {
    "sysselsattning_start": {"ARBETSLOS_AF": 42, "INAKTIV": 36, "STUDERAR": 4, "ARBETAR": 3, "OKAND": 15},
    "forsorjningsstod_start": {"JA": 30, "NEJ": 55, "OKAND": 15},
}
ADVANCED_PHASE = 2  # AKTIVERA: someone leaving for work or studies has got that far
ADVANCING_OUTCOMES = ("ARBETE", "STUDIER", "PRAKTIK", "ARBETSMARKNADSPROGRAM")


def _age_weight(age: int) -> float:
    """Most participants are 19–24; the very young and the late twenties are fewer."""
    table = {15: 1, 16: 2, 17: 3, 18: 5, 19: 7, 25: 6, 26: 6, 27: 5, 28: 4, 29: 4}
    return table.get(age, 8 if 20 <= age <= 24 else 3)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class _Plan:
    """What will happen to one person, decided before any date is drawn."""

    role: str  # plain, reenrol, mover, felreg, anonymous
    home: str
    first_start: dt.date | None = None
    anchor: bool = False  # starts in the first month, so no municipality's first file is empty
    born_2000s: bool = False
    samordning: bool = False
    kon_x: bool = False


class _ProjectSimulator:
    def __init__(self, project: Project, rng: random.Random, first_index: int, partition_digit: int):
        self.project = project
        self.rng = rng
        self.next_index = first_index
        self.partition_digit = partition_digit
        self.days = (project.period_end - project.period_start).days
        self.mean_days = min(180.0, 0.45 * self.days)
        self.used_pnr: set[str] = set()
        self.used_emails: set[str] = set()
        self.anonym_counter = {code: rng.randint(1, 12) for code in project.municipalities}
        # Each municipality numbers its own anonymous participants from A-0001, as they do: the
        # same anonym_id then turns up in several municipalities and projects (never one person).
        self.anonym_first = dict(self.anonym_counter)
        self.persons: list[SimulatedPerson] = []
        self.enrolments: list[SimulatedEnrolment] = []
        self.storyline_count = {"reenrol": 0, "mover": 0}

    # ---- plans -------------------------------------------------------------------------
    def plans(self, n_persons: int) -> list[_Plan]:
        rng, munis = self.rng, self.project.municipalities
        n_movers = max(1, round(0.015 * n_persons)) if n_persons >= 15 and len(munis) > 1 else 0
        n_reenrol = max(1, round(0.02 * n_persons)) if n_persons >= 15 else 0
        n_felreg = max(1, round(0.02 * n_persons)) if n_persons >= 20 else 0
        n_anon = max(1, round(0.015 * n_persons)) if n_persons >= 20 else 0
        roles = ["mover"] * n_movers + ["reenrol"] * n_reenrol + ["felreg"] * n_felreg + ["anonymous"] * n_anon
        roles += ["plain"] * max(0, n_persons - len(roles))
        rng.shuffle(roles)
        weights = [KOMMUN_WEIGHTS.get(code, 10) for code in munis]
        plans = [_Plan(role, rng.choices(munis, weights=weights)[0]) for role in roles]
        self._anchor_every_municipality(plans)
        for plan in plans:
            plan.first_start = self._first_start(plan)
        self._ensure_born_2000s(plans)
        named = [p for p in plans if p.role != "anonymous"]
        if n_persons >= 20:
            for plan in rng.sample(named, max(1, round(0.02 * n_persons))):
                plan.samordning = True
            for plan in rng.sample(named, max(1, round(0.01 * n_persons))):
                plan.kon_x = True
        return plans

    def _anchor_every_municipality(self, plans: list[_Plan]) -> None:
        for code in self.project.municipalities:
            candidates = [p for p in plans if p.home == code and p.role == "plain" and not p.anchor]
            if not candidates:
                spare = [p for p in plans if p.role == "plain" and not p.anchor
                         and sum(1 for q in plans if q.home == p.home) > 1]
                if spare:
                    candidates = [self.rng.choice(spare)]
                    candidates[0].home = code
                else:
                    candidates = [_Plan("plain", code)]
                    plans.append(candidates[0])
            candidates[0].anchor = True

    def _first_start(self, plan: _Plan) -> dt.date:
        start = self.project.period_start
        if plan.anchor:
            last = min(month_end(month_of(start)), self.project.period_end)
        elif plan.role in ("reenrol", "mover"):
            last = start + dt.timedelta(days=int(0.4 * self.days))
        else:
            last = self.project.period_end - dt.timedelta(days=min(14, self.days // 4))
        return self._weekday(start + dt.timedelta(days=self.rng.randint(0, max(0, (last - start).days))), start, last)

    @staticmethod
    def _weekday(day: dt.date, first: dt.date, last: dt.date) -> dt.date:
        """Case workers register on weekdays; stay inside [first, last]."""
        for shift in (0, 1, 2, -1, -2):
            candidate = day + dt.timedelta(days=shift)
            if candidate.weekday() < 5 and first <= candidate <= last:
                return candidate
        return day

    def _ensure_born_2000s(self, plans: list[_Plan]) -> None:
        """One person per municipality born 2000–2009 where the age range allows: XLSX drops their zero."""
        for code in self.project.municipalities:
            named = [p for p in plans if p.home == code and p.role in ("plain", "reenrol", "mover")]
            feasible = [p for p in named if p.first_start and p.first_start.year - 2001 >= self.project.age_min]
            if feasible:
                max(feasible, key=lambda p: (p.first_start, p.role == "plain")).born_2000s = True

    # ---- persons -----------------------------------------------------------------------
    def person(self, plan: _Plan) -> SimulatedPerson:
        rng, project = self.rng, self.project
        assert plan.first_start is not None
        max_age = project.age_max
        if plan.born_2000s:
            max_age = min(max_age, plan.first_start.year - 2001)
        ages = list(range(project.age_min, max_age + 1))
        age = rng.choices(ages, weights=[_age_weight(a) for a in ages])[0]
        birth = self._birth_date(plan.first_start, age)
        kon = rng.choice("KM")
        index, self.next_index = self.next_index, self.next_index + 1
        if plan.role == "anonymous":
            return SimulatedPerson(index, None, False, kon, birth, "", "", "", "", "", anonymous=True,
                                   project_id=project.id)
        pnr = self._unique_pnr(birth, kon, plan.samordning)
        contact = random_contact(rng, "X" if plan.kon_x else kon, self.used_emails)
        return SimulatedPerson(index, pnr, plan.samordning, kon_from_personnummer(pnr), birth,
                               contact.fornamn, contact.efternamn, contact.telefon, contact.epost,
                               contact.adress, project_id=project.id, kon_reported="X" if plan.kon_x else "")

    def _birth_date(self, start: dt.date, age: int) -> dt.date:
        latest = _years_before(start, age)
        earliest = _years_before(start, age + 1) + dt.timedelta(days=1)
        birth = earliest + dt.timedelta(days=self.rng.randint(0, (latest - earliest).days))
        assert age_on(birth, start) == age
        return birth

    def _unique_pnr(self, birth: dt.date, kon: str, samordning: bool) -> str:
        while True:
            pnr = make_personnummer(birth, random_serial(self.rng, kon, self.partition_digit), samordning=samordning)
            if pnr not in self.used_pnr:
                self.used_pnr.add(pnr)
                return pnr

    # ---- enrolments --------------------------------------------------------------------
    def enrol(self, plan: _Plan, person: SimulatedPerson) -> None:
        assert plan.first_start is not None
        person_codes = {col: _weighted(self.rng, w) for col, w in PERSON_CODES.items()}
        person_codes["utbildningsniva"] = self._education(person, plan.first_start)
        if plan.role == "felreg":
            self._spell(person, plan.home, self._early_in_month(plan.first_start), person_codes,
                        outcome="FELREGISTRERING")
            return
        if plan.role == "anonymous":
            self._spell(person, plan.home, plan.first_start, person_codes, anonym_id=self._anonym_id(plan.home))
            return
        if plan.role in ("reenrol", "mover"):
            self._storyline(plan, person, person_codes)
            return
        self._natural_course(person, plan.home, plan.first_start, person_codes)

    def _storyline(self, plan: _Plan, person: SimulatedPerson, codes: dict[str, str]) -> None:
        """A forced exit (AVBROTT/EJ_KONTAKT or FLYTT) followed by a new enrolment."""
        assert plan.first_start is not None
        rng = self.rng
        number = self.storyline_count[plan.role]
        self.storyline_count[plan.role] += 1
        first_outcome = "FLYTT" if plan.role == "mover" else rng.choice(["AVBROTT", "EJ_KONTAKT"])
        latest_end = plan.first_start + dt.timedelta(days=max(21, int(0.2 * self.days)))
        first = self._spell(person, plan.home, plan.first_start, codes, outcome=first_outcome, latest_end=latest_end)
        assert first.slutdatum is not None
        where = plan.home
        if plan.role == "mover":
            others = [c for c in self.project.municipalities if c != plan.home]
            where = rng.choices(others, weights=[KOMMUN_WEIGHTS.get(c, 10) for c in others])[0]
        gap = rng.randint(21, max(22, int(0.12 * self.days)))
        start = self._weekday(first.slutdatum + dt.timedelta(days=gap), first.slutdatum + dt.timedelta(days=1),
                              self.project.period_end)
        if not self._may_start(person, start):
            return
        if number % 2 == 0:
            outcome = rng.choice(self.project.activity_outcomes)
            self._spell(person, where, start, codes, outcome=outcome, latest_end=self.project.period_end)
        else:
            self._natural_course(person, where, start, codes, depth=1)

    def _natural_course(self, person: SimulatedPerson, kommunkod: str, start: dt.date,
                        codes: dict[str, str], depth: int = 0) -> None:
        """A spell with a drawn outcome; a move or a drop-out sometimes leads to a new spell."""
        spell = self._spell(person, kommunkod, start, codes)
        if spell.slutdatum is None or depth >= 2:
            return
        rng, munis = self.rng, self.project.municipalities
        if spell.avslutsorsak == "FLYTT" and len(munis) > 1 and rng.random() < 0.5:
            kommunkod = rng.choice([c for c in munis if c != kommunkod])
            gap = rng.randint(14, 120)
        elif spell.avslutsorsak in ("AVBROTT", "EJ_KONTAKT") and rng.random() < 0.35:
            gap = rng.randint(30, 180)
        else:
            return
        next_start = self._weekday(spell.slutdatum + dt.timedelta(days=gap),
                                   spell.slutdatum + dt.timedelta(days=1), self.project.period_end)
        if self._may_start(person, next_start):
            self._natural_course(person, kommunkod, next_start, codes, depth + 1)

    def _early_in_month(self, day: dt.date) -> dt.date:
        """A mistaken registration is undone within the month, so no month-end snapshot shows it open."""
        if day.day > 22:
            day = max(self.project.period_start, day - dt.timedelta(days=10))
        return day

    def _may_start(self, person: SimulatedPerson, start: dt.date) -> bool:
        latest = self.project.period_end - dt.timedelta(days=min(14, self.days // 4))
        return start <= latest and age_on(person.birth_date, start) <= self.project.age_max

    def _spell(self, person: SimulatedPerson, kommunkod: str, start: dt.date, person_codes: dict[str, str], *,
               outcome: str | None = None, latest_end: dt.date | None = None,
               anonym_id: str | None = None) -> SimulatedEnrolment:
        rng, project = self.rng, self.project
        if outcome == "FELREGISTRERING":
            end: dt.date | None = min(start + dt.timedelta(days=rng.randint(1, 6)), project.period_end)
        else:
            duration = max(14, int(rng.gammavariate(2.0, self.mean_days / 2)))
            end = start + dt.timedelta(days=duration)
            if latest_end is not None and end > latest_end:
                span = max(1, (latest_end - start).days)
                end = start + dt.timedelta(days=rng.randint(min(14, span), span))
            if end > project.period_end:
                end, outcome = None, None
            elif outcome is None:
                outcome = _weighted(rng, OUTCOME_WEIGHTS)
        attributes = dict(person_codes)
        attributes |= {col: _weighted(rng, w) for col, w in ENROLMENT_CODES.items()}
        if end is not None and outcome != "FELREGISTRERING":
            attributes["forsorjningsstod_slut"] = self._income_support_at_end(attributes["forsorjningsstod_start"])
            attributes["uppfoljning_6m"] = self._follow_up(outcome)
        enrolment = SimulatedEnrolment(
            person_index=person.index, project_id=project.id, kommunkod=kommunkod, startdatum=start,
            slutdatum=end, avslutsorsak=outcome, fas_by_month=self._phases(start, end, outcome),
            counts=outcome != "FELREGISTRERING", anonym_id=anonym_id, attributes=attributes,
        )
        self.enrolments.append(enrolment)
        return enrolment

    def _phases(self, start: dt.date, end: dt.date | None, outcome: str | None) -> dict[str, str]:
        """Hitta → Möta → Aktivera → Matcha, one step at most per month."""
        last_month = month_of(end) if end else month_of(self.project.period_end)
        months = months_between(month_of(start), last_month)
        if outcome == "FELREGISTRERING":
            return {m: "HITTA" for m in months}
        phase = 0 if self.rng.random() < 0.6 else 1
        path = []
        for position, _ in enumerate(months):
            if position and phase < 3 and self.rng.random() < 0.4:
                phase += 1
            path.append(phase)
        if outcome in ADVANCING_OUTCOMES and path[-1] < ADVANCED_PHASE:
            path[-1] = 3
        return {m: FAS[p] for m, p in zip(months, path)}

    def _education(self, person: SimulatedPerson, start: dt.date) -> str:
        if age_on(person.birth_date, start) < 19:
            return _weighted(self.rng, {"ISCED_0_2": 80, "ISCED_3_4": 10, "OKAND": 10})
        return _weighted(self.rng, {"ISCED_0_2": 40, "ISCED_3_4": 48, "ISCED_5_8": 4, "OKAND": 8})

    def _income_support_at_end(self, at_start: str) -> str:
        if at_start == "JA":
            return _weighted(self.rng, {"JA": 45, "NEJ": 48, "OKAND": 7})
        return _weighted(self.rng, {"JA": 8, "NEJ": 80, "OKAND": 12})

    def _follow_up(self, outcome: str | None) -> str:
        """Status six months on: most who left for an activity are still in one."""
        if outcome in ("ARBETE", "STUDIER", "PRAKTIK"):
            weights = {"ARBETE": 6, "STUDIER": 4, "UTAN_SYSSELSATTNING": 12, "EJ_NADD": 8}
            share_kept = 70
        elif outcome in ("ARBETSMARKNADSPROGRAM", "ANNAN_INSATS"):
            weights = {"ARBETE": 10, "STUDIER": 5, "UTAN_SYSSELSATTNING": 25, "EJ_NADD": 15}
            share_kept = 45
        else:
            return _weighted(self.rng, {"ARBETE": 10, "STUDIER": 8, "UTAN_SYSSELSATTNING": 40, "EJ_NADD": 42})
        assert outcome is not None
        weights[outcome] = weights.get(outcome, 0) + share_kept
        return _weighted(self.rng, weights)

    def _anonym_id(self, kommunkod: str) -> str:
        number = self.anonym_counter[kommunkod] - self.anonym_first[kommunkod] + 1
        self.anonym_counter[kommunkod] += self.rng.randint(1, 3)
        return f"A-{number:04d}"


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def persons_for(project: Project, scale: float) -> int:
    base = BASE_PERSONS.get(project.id, PERSONS_PER_MUNICIPALITY * len(project.municipalities))
    return max(1, round(base * scale))


def simulate_project(project: Project, rng: random.Random, *, scale: float, first_index: int,
                     partition_digit: int) -> tuple[list[SimulatedPerson], list[SimulatedEnrolment]]:
    """Persons and enrolments of one project, in person order then start order."""
    simulator = _ProjectSimulator(project, rng, first_index, partition_digit)
    for plan in simulator.plans(persons_for(project, scale)):
        person = simulator.person(plan)
        simulator.persons.append(person)
        simulator.enrol(plan, person)
    return simulator.persons, simulator.enrolments
