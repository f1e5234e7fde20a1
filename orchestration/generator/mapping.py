"""Synthetic mapping deliveries (kartläggning) for the projects with an instrument, and their truth.

A mapping file lies in `inbox/<project>/<kommunkod>/kartlaggning/` (or `Kartläggning/`), is named
with the month the answers were collected, and holds one row per person and occasion: the
personnummer (or an anonym_id), the date answered and one column per question id of the
project's instrument (`kartlaggning:` in the projects configuration). Some mapped persons are
also enrolled in the same project (same personnummer); a few rows are wrong on purpose, each with
the verdict the pipeline must give it, and one month is delivered twice (the corrected file
replaces the first). Everything is recorded in `Simulation.mapping`.

Each project draws from its own stream (`<seed>:<project>:mapping`), after the enrolment files
are written, so the enrolment files and their truth are the same with or without mappings.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl

from orchestration.generator.identities import random_contact
from orchestration.generator.model import MappingFile, MappingRow, SimulatedPerson, Simulation
from orchestration.generator.months import add_months, age_on, month_end, month_of, month_start
from orchestration.generator.personnummer import (
    format_personnummer, kon_from_personnummer, make_personnummer, random_serial, with_wrong_check_digit,
)
from orchestration.generator.writers import _deterministic_zip
from orchestration.lib.mapping_contract import (
    FREE_TEXT, MULTIPLE_CHOICE, NUMBER, SCALE, SINGLE_CHOICE, YES_NO,
)
from orchestration.projects.config import Project, ProjectsConfig
from orchestration.projects.instrument import Question

ARRIVAL_DAY = 6           # mapping files arrive about the 6th of the following month
ARRIVAL_HOUR = 9
RESUBMISSION_DELAY = dt.timedelta(days=7)
CORRECTED_SUFFIX = " (rättad)"

# Bad rows, each with the verdict the pipeline must give it.
JUNK_PNR = "junk_pnr"                         # an invalid personnummer: rejected PNR_OGILTIG
BESVARAD_AFTER = "besvarad_after"             # answered after the file's month: rejected BESVARAD_EFTER_MANADEN
REQUIRED_BLANK = "required_blank"             # a required question blank: rejected SVAR_SAKNAS
UNKNOWN_OPTIONAL_CODE = "unknown_optional_code"   # warning SVAR_KOD_OKAND, the answer dropped
OPTIONAL_NOT_A_NUMBER = "optional_not_a_number"   # warning SVAR_INTE_TAL, the answer dropped
OPTIONAL_OUT_OF_SCALE = "optional_out_of_scale"   # warning SVAR_UTANFOR_SKALAN, the answer dropped
REPEATED_OCCASION = "repeated_occasion"       # last month's occasion again, one answer changed: this one counts
RESUBMISSION = "resubmission"                 # a flawed file first, then '<name> (rättad)' replacing it

REJECTION_CODES = {JUNK_PNR: "PNR_OGILTIG", BESVARAD_AFTER: "BESVARAD_EFTER_MANADEN", REQUIRED_BLANK: "SVAR_SAKNAS"}
WARNING_CODES = {UNKNOWN_OPTIONAL_CODE: "SVAR_KOD_OKAND", OPTIONAL_NOT_A_NUMBER: "SVAR_INTE_TAL",
                 OPTIONAL_OUT_OF_SCALE: "SVAR_UTANFOR_SKALAN"}

# How the codes of the bundled instruments are typed in Swedish.
SPELLING = {
    "EGET": "eget", "FORALDRAR": "föräldrar", "ANNAT": "annat", "JA": "ja", "NEJ": "nej",
    "KOST": "kost", "ALKOHOL": "alkohol", "DROGER": "droger", "SPEL": "spel", "NAT": "nät", "INGET": "inget",
    "FULLFOLJT": "fullföljt", "AVBRUTIT": "avbrutit", "PAGAR": "pågår", "EJ_BORJAT": "ej börjat",
    "ARBETAR": "arbetar", "STUDERAR": "studerar", "ANNAN": "annan", "INGEN": "ingen",
}
# Answer weights of the bundled questions (others: every code alike).
CODE_WEIGHTS = {
    "boende": {"EGET": 35, "FORALDRAR": 50, "ANNAT": 15},
    "gymnasiet": {"FULLFOLJT": 45, "AVBRUTIT": 35, "PAGAR": 12, "EJ_BORJAT": 8},
    "nagon_att_prata_med": {"JA": 75, "NEJ": 25},
    "forening": {"JA": 30, "NEJ": 70},
    "sysselsattning": {"ARBETAR": 14, "STUDERAR": 12, "ANNAN": 16, "INGEN": 58},
    "inskriven_af": {"JA": 55, "NEJ": 45},
    "forsorjningsstod": {"JA": 30, "NEJ": 70},
    "bor_hos_foraldrar": {"JA": 45, "NEJ": 55},
}
PAVERKAR_WEIGHTS = {"KOST": 40, "ALKOHOL": 15, "DROGER": 8, "SPEL": 10, "NAT": 35}
FREE_TEXTS = (
    "Vill gärna börja träna men vet inte var",
    "Behöver hjälp med körkortsteorin",
    "Trivs bäst när jag får vara ute i naturen",
    "Vill ha stöd att hitta praktik nära hemmet",
    "Någon att prata med om ekonomin",
    "Hjälp att komma i gång med studier på Komvux",
)
FREE_TEXTS_WITH_NAME = (
    "{fornamn} vill ha hjälp med körkortet",
    "{fornamn} vill inte till Arbetsförmedlingen igen",
)
FREE_TEXTS_WITH_PHONE = (
    "Ring mig på {telefon} om det blir något",
    "Nås på {telefon} efter kl 15",
)


@dataclass(frozen=True)
class MappingStyle:
    """How one municipality writes its mapping list: format, folder, headers, spellings."""

    name: str
    fmt: str                   # csv-cp1252, csv-utf8, xlsx
    folder: str
    file_name: str             # template with {month}, {project}, {kommunkod}
    fixed: tuple[tuple[str, str], ...]   # (fixed column, header as written)
    headers: dict[str, str]    # question id -> header as written (the id itself when absent)
    pnr_form: str
    date_form: str             # iso, excel
    code_case: str             # lower, title, upper
    kon_blank_rate: float = 0.0
    line_ending: str = "\n"

    @property
    def separator(self) -> str | None:
        return {"csv-cp1252": ";", "csv-utf8": ","}.get(self.fmt)

    @property
    def encoding(self) -> str | None:
        return {"csv-cp1252": "cp1252", "csv-utf8": "utf-8"}.get(self.fmt)

    def has(self, column: str) -> bool:
        return any(c == column for c, _ in self.fixed)


VVV_STYLE = MappingStyle(
    "excel-semicolon-sv", "csv-cp1252", "Kartläggning", "Kartläggning VVV {month}.csv",
    (("personnummer", "Personnummer"), ("fornamn", "Förnamn"), ("efternamn", "Efternamn"), ("kon", "Kön"),
     ("besvarad", "Datum")),
    {"paverka_vardag": "Påverka vardag", "delaktig_samhalle": "Delaktig samhälle", "boende": "Boende",
     "nagon_att_prata_med": "Någon att prata med", "fysiskt_aktiv_dagar": "Fysiskt aktiv dagar",
     "paverkar_halsan": "Påverkar hälsan", "gymnasiet": "Gymnasiet", "forening": "Förening", "ovrigt": "Övrigt"},
    pnr_form="ten_dash", date_form="iso", code_case="title", kon_blank_rate=0.3, line_ending="\r\n")
CSV_STYLE = MappingStyle(
    "canonical-utf8", "csv-utf8", "kartlaggning", "kartlaggning_{kommunkod}_{month}.csv",
    (("personnummer", "personnummer"), ("anonym_id", "anonym_id"), ("fornamn", "fornamn"), ("telefon", "telefon"),
     ("besvarad", "besvarad")),
    {}, pnr_form="twelve", date_form="iso", code_case="upper")
XLSX_STYLE = MappingStyle(
    "excel-sheet", "xlsx", "kartlaggning", "Inventering {month}.xlsx",
    (("personnummer", "Pnr"), ("anonym_id", "Anonym_id"), ("fornamn", "Förnamn"), ("telefon", "Mobil"),
     ("kon", "Kön"), ("besvarad", "Intervjudatum")),
    {"sysselsattning": "Sysselsättning", "inskriven_af": "Inskriven AF", "forsorjningsstod": "Försörjningsstöd",
     "bor_hos_foraldrar": "Bor hos föräldrar", "livssituation": "Livssituation", "bemotande": "Bemötande",
     "onskat_stod": "Önskat stöd"},
    pnr_form="twelve_dash", date_form="excel", code_case="lower", kon_blank_rate=0.2)


@dataclass(frozen=True)
class MappingPlan:
    persons: int                 # persons mapped (at scale 1)
    repeated: int                # of them mapped a second time later
    enrolled: int                # of them also enrolled in the project
    follow_up_optional: bool     # True: optional questions only on the second occasion (an interview)
    outside_age: int = 1         # persons older than the age range at their first occasion
    anonymous: int = 0
    styles: dict[str, MappingStyle] = field(default_factory=dict)   # month -> style ('' for every month)
    noise: dict[str, tuple[str, ...]] = field(default_factory=dict)  # month -> bad rows / resubmission


PLANS = {
    "vaga_valja_vag": MappingPlan(
        persons=120, repeated=40, enrolled=8, follow_up_optional=False, outside_age=1,
        styles={"": VVV_STYLE},
        noise={"2009-08": (JUNK_PNR,), "2009-09": (BESVARAD_AFTER,), "2009-10": (UNKNOWN_OPTIONAL_CODE,),
               "2009-11": (REQUIRED_BLANK,), "2009-12": (OPTIONAL_NOT_A_NUMBER,)}),
    "harjedalen": MappingPlan(
        persons=180, repeated=20, enrolled=6, follow_up_optional=True, outside_age=2, anonymous=3,
        styles={"2012-08": CSV_STYLE, "2012-09": CSV_STYLE, "": XLSX_STYLE},
        noise={"2012-08": (JUNK_PNR,), "2012-09": (RESUBMISSION,), "2012-10": (REQUIRED_BLANK,),
               "2012-11": (OPTIONAL_OUT_OF_SCALE, REPEATED_OCCASION), "2012-12": (BESVARAD_AFTER,)}),
}
PERSONS_PER_MUNICIPALITY = 30   # a project of another configuration: no noise, CSV UTF-8


@dataclass
class _Occasion:
    person: SimulatedPerson
    kommunkod: str
    besvarad: dt.date
    answers: dict[str, Any]             # question id -> the answer as meant (code, [codes], int, number, text)
    kon_cell: str | None                # what the kon column says, None when blank
    anonym_id: str | None = None
    written: dict[str, Any] = field(default_factory=dict)   # question id -> a cell written instead of the answer
    besvarad_written: dt.date | None = None
    rejected: str | None = None
    warnings: tuple[tuple[str, str], ...] = ()
    identifiers: tuple[str, ...] = ()   # a junk row's
    junk_pnr: str | None = None


def generate_mappings(simulation: Simulation, config: ProjectsConfig, inbox: Path, *, seed: int, scale: float,
                      wanted: set[str], until_month: str | None) -> None:
    """Write the mapping files of every generated project with an instrument; record them."""
    used = {p.personnummer for p in simulation.persons if p.personnummer}
    for position, project in enumerate(config.projects):
        if project.id not in wanted or project.mapping is None:
            continue
        months = [m for m in project.months() if until_month is None or m <= until_month]
        if months:
            _Project(simulation, project, position, months, inbox, seed, scale, used).generate()


class _Project:
    def __init__(self, simulation: Simulation, project: Project, position: int, months: list[str], inbox: Path,
                 seed: int, scale: float, used: set[str]):
        self.sim, self.project, self.position, self.months = simulation, project, position, months
        self.inbox, self.seed, self.scale, self.used = inbox, seed, scale, used
        self.rng = random.Random(f"{seed}:{project.id}:mapping")
        self.protected: set[int] = set()     # persons of a storyline: no bad row is made of them
        self.plan = PLANS.get(project.id) or MappingPlan(
            persons=PERSONS_PER_MUNICIPALITY * len(project.municipalities), repeated=8, enrolled=3,
            follow_up_optional=False, outside_age=0, styles={"": CSV_STYLE})
        assert project.mapping is not None
        self.questions = project.mapping.questions
        self.first_day = project.period_start
        self.last_day = min(project.period_end, month_end(months[-1]))

    # ---- persons and occasions ------------------------------------------------------------
    def generate(self) -> None:
        occasions = self._occasions()
        by_month: dict[str, list[_Occasion]] = {m: [] for m in self.months}
        for occasion in occasions:
            by_month[month_of(occasion.besvarad)].append(occasion)
        for muni_position, code in enumerate(self.project.municipalities):
            previous: list[_Occasion] = []
            for month in self.months:
                rows = sorted((o for o in by_month[month] if o.kommunkod == code),
                              key=lambda o: (o.besvarad, o.person.index))
                noise = self.plan.noise.get(month, ()) if code == self.project.municipalities[0] else ()
                rows = self._noisy(rows, noise, month, code, previous)
                previous = [o for o in rows if o.rejected is None and o.person.index >= 0]
                self._write_month(rows, month, code, muni_position, resubmission=RESUBMISSION in noise)

    def _occasions(self) -> list[_Occasion]:
        rng, plan = self.rng, self.plan
        n_persons = max(1, round(plan.persons * self.scale))
        enrolled = self._enrolled_persons(min(plan.enrolled, n_persons))
        persons: list[tuple[SimulatedPerson, str, str | None]] = [
            (person, code, None) for person, code in enrolled]
        self.sim.mapping.enrolled += [p.index for p, _ in enrolled]
        n_new = n_persons - len(persons)
        n_anonymous = min(plan.anonymous, n_new)
        for number in range(n_new):
            anonymous = number < n_anonymous
            older = plan.outside_age > 0 and n_anonymous <= number < n_anonymous + plan.outside_age
            person = self._new_person(anonymous, older, samordning=number == n_anonymous + plan.outside_age,
                                      kon_x=number == n_new - 1)
            code = rng.choice(self.project.municipalities)
            persons.append((person, code, f"INV-{number + 1:02d}" if anonymous else None))
        rng.shuffle(persons)
        span = (self.last_day - self.first_day).days
        n_repeated = min(max(0, round(plan.repeated * self.scale)), len(persons)) if span >= 60 else 0
        occasions: list[_Occasion] = []
        for number, (person, code, anonym_id) in enumerate(persons):
            repeated = number < n_repeated
            latest_first = self.last_day - dt.timedelta(days=42) if repeated else self.last_day
            first = self._weekday(self.first_day + dt.timedelta(days=rng.randint(0, (latest_first - self.first_day).days)))
            first_answers = self._answers(None, optional=not plan.follow_up_optional)
            kon_cell = self._kon_cell(person)
            occasions.append(_Occasion(person, code, first, first_answers, kon_cell, anonym_id))
            if repeated:
                second = self._weekday(min(self.last_day, first + dt.timedelta(days=rng.randint(28, 70))))
                if second <= first:
                    continue
                answers = self._answers(first_answers, optional=True)
                occasions.append(_Occasion(person, code, second, answers, self._kon_cell(person), anonym_id))
        return occasions + self._storylines()

    def _storylines(self) -> list[_Occasion]:
        """Persons mapped twice whose groups tell the rules apart: the age group is the one at the
        first occasion (a birthday across a band's boundary in between), kön the one of the latest
        (a person reporting X only the second time; an anonymous person whose kön is given only the
        second time)."""
        span = (self.last_day - self.first_day).days
        if span < 60:
            return []
        project = self.project
        code = project.municipalities[0]
        first = self._weekday(self.first_day + dt.timedelta(days=3))
        second = self._weekday(first + dt.timedelta(days=max(45, span * 2 // 3)))
        occasions: list[_Occasion] = []
        boundary = (project.age_min // 5 + 1) * 5
        if boundary <= project.age_max:
            person = self._new_person(False, False, False, False, birth=_years_before(first + (second - first) / 2,
                                                                                     boundary))
            occasions += self._twice(person, code, first, second)
        occasions += self._twice(self._new_person(False, False, False, kon_x=True), code, first, second,
                                 kon_cells=(None, "X"))      # X said the second time; first from the number
        if self.plan.anonymous:
            anonymous = self._new_person(True, False, False, False)
            occasions += self._twice(anonymous, code, first, second, anonym_id=f"INV-{self.plan.anonymous + 90}",
                                     kon_cells=(None, anonymous.kon))
        self.protected |= {o.person.index for o in occasions}
        return occasions

    def _twice(self, person: SimulatedPerson, code: str, first: dt.date, second: dt.date,
               anonym_id: str | None = None, kon_cells: tuple[str | None, str | None] | None = None) -> list[_Occasion]:
        before = self._answers(None, optional=not self.plan.follow_up_optional)
        after = self._answers(before, optional=True)
        cells = kon_cells or (self._kon_cell(person), self._kon_cell(person))
        return [_Occasion(person, code, first, before, cells[0], anonym_id),
                _Occasion(person, code, second, after, cells[1], anonym_id)]

    def _enrolled_persons(self, wanted: int) -> list[tuple[SimulatedPerson, str]]:
        """Named persons enrolled in this project, each with the municipality of their first enrolment."""
        first: dict[int, str] = {}
        for enrolment in sorted(self.sim.enrolments, key=lambda e: (e.startdatum, e.index)):
            if enrolment.project_id == self.project.id and enrolment.counts:
                first.setdefault(enrolment.person_index, enrolment.kommunkod)
        candidates = [p for p in self.sim.persons
                      if p.index in first and not p.anonymous and p.project_id == self.project.id]
        chosen = self.rng.sample(candidates, min(wanted, len(candidates)))
        return [(p, first[p.index]) for p in sorted(chosen, key=lambda p: p.index)]

    def _new_person(self, anonymous: bool, older: bool, samordning: bool, kon_x: bool,
                    birth: dt.date | None = None) -> SimulatedPerson:
        rng, project = self.rng, self.project
        index = len(self.sim.persons) + len(self.sim.mapping.persons) + 100000
        kon = rng.choice("KM")
        age = project.age_max + 1 if older else rng.randint(project.age_min, project.age_max)
        # born so that the age holds over the whole period (the first occasion decides the age group)
        latest = _years_before(self.first_day, age)
        earliest = _years_before(self.last_day, age + 1) + dt.timedelta(days=1)
        drawn = earliest + dt.timedelta(days=rng.randint(0, max(0, (latest - earliest).days)))
        birth = birth or drawn
        if anonymous:
            person = SimulatedPerson(index, None, False, kon, birth, "", "", "", "", "", anonymous=True,
                                     project_id=project.id)
        else:
            while True:
                pnr = make_personnummer(birth, random_serial(rng, kon, self.position), samordning=samordning)
                if pnr not in self.used:
                    self.used.add(pnr)
                    break
            contact = random_contact(rng, "X" if kon_x else kon, set())
            person = SimulatedPerson(index, pnr, samordning, kon_from_personnummer(pnr), birth, contact.fornamn,
                                     contact.efternamn, contact.telefon, contact.epost, contact.adress,
                                     project_id=project.id, kon_reported="X" if kon_x else "")
        self.sim.mapping.persons.append(person)
        return person

    def _kon_cell(self, person: SimulatedPerson) -> str | None:
        if person.kon_reported == "X":
            return "X"
        return None if self.rng.random() < 0.25 else person.kon_reported

    def _weekday(self, day: dt.date) -> dt.date:
        """Mappings are made on weekdays, within the period."""
        for shift in (0, -1, -2, 1, 2):
            candidate = day + dt.timedelta(days=shift)
            if candidate.weekday() < 5 and self.first_day <= candidate <= self.last_day:
                return candidate
        return day

    # ---- answers ----------------------------------------------------------------------------
    def _answers(self, before: dict[str, Any] | None, optional: bool) -> dict[str, Any]:
        """Every required question answered; the optional ones now and then (all of them only
        on an occasion with optional questions). A second occasion leans on the first."""
        answers: dict[str, Any] = {}
        for question in self.questions:
            if not question.required and (not optional or self.rng.random() < self._skip_rate(question)):
                continue
            answer = self._answer(question, (before or {}).get(question.id))
            if answer is not None:
                answers[question.id] = answer
        return answers

    @staticmethod
    def _skip_rate(question: Question) -> float:
        return 0.7 if question.type == FREE_TEXT else 0.1

    def _answer(self, question: Question, before: Any) -> Any:
        rng = self.rng
        if question.type in (SINGLE_CHOICE, YES_NO):
            if before is not None and rng.random() < 0.6:
                return before
            weights = CODE_WEIGHTS.get(question.id) or {code: 1 for code in question.code_set}
            return rng.choices(list(weights), weights=list(weights.values()))[0]
        if question.type == MULTIPLE_CHOICE:
            codes = [c for c in question.code_set if c != "INGET"]
            if rng.random() < 0.15 and "INGET" in question.code_set:
                return ["INGET"]
            weights = [PAVERKAR_WEIGHTS.get(c, 20) for c in codes]
            chosen = {rng.choices(codes, weights=weights)[0] for _ in range(rng.randint(1, 3))}
            return [c for c in question.code_set if c in chosen]
        if question.type == SCALE:
            low, high = int(question.minimum), int(question.maximum)
            if before is not None:
                return max(low, min(high, before + rng.choice((-1, 0, 0, 1, 1, 2))))
            if high - low == 4:
                return rng.choices(range(low, high + 1), weights=[1, 2, 4, 3, 2])[0]
            return rng.randint(low, high)
        if question.type == NUMBER:
            low, high = question.minimum, question.maximum
            value = rng.randint(int(low), int(high))
            if before is not None:
                value = int(max(low, min(high, before + rng.choice((0, 1, 1, 2)))))
            return value + 0.5 if rng.random() < 0.05 and value + 0.5 <= high else value
        if question.type == FREE_TEXT:
            return None   # written per row (it may name the person): _free_text
        return None

    def _free_text(self, person: SimulatedPerson, style: MappingStyle) -> str:
        draw = self.rng.random()
        if not person.anonymous and draw < 0.25 and style.has("fornamn"):
            return self.rng.choice(FREE_TEXTS_WITH_NAME).format(fornamn=person.fornamn)
        if not person.anonymous and draw < 0.6 and style.has("telefon"):
            return self.rng.choice(FREE_TEXTS_WITH_PHONE).format(telefon=person.telefon)
        return self.rng.choice(FREE_TEXTS)

    # ---- bad rows ---------------------------------------------------------------------------
    def _noisy(self, rows: list[_Occasion], noise: tuple[str, ...], month: str, code: str,
               previous: list[_Occasion]) -> list[_Occasion]:
        rng = self.rng
        plain = [o for o in rows if o.person.index not in self.sim.mapping.enrolled and not o.person.anonymous
                 and o.person.index not in self.protected]
        taken: set[int] = set()

        def pick(condition=lambda o: True) -> _Occasion | None:
            candidates = [o for o in plain if id(o) not in taken and condition(o)]
            if not candidates:
                return None
            chosen = rng.choice(candidates)
            taken.add(id(chosen))
            return chosen

        rows = list(rows)
        for kind in noise:
            if kind == JUNK_PNR and rows:
                rows.insert(rng.randint(1, len(rows)), self._junk(month, code))
            elif kind == BESVARAD_AFTER:
                chosen = pick()
                if chosen:
                    chosen.besvarad_written = month_end(month) + dt.timedelta(days=rng.randint(1, 9))
                    chosen.rejected = REJECTION_CODES[BESVARAD_AFTER]
            elif kind == REQUIRED_BLANK:
                required = [q for q in self.questions if q.required]
                chosen = pick()
                if chosen and required:
                    question = required[-1]
                    chosen.written[question.id] = ""
                    chosen.answers.pop(question.id, None)
                    chosen.rejected = REJECTION_CODES[REQUIRED_BLANK]
            elif kind in WARNING_CODES:
                wanted_type = {UNKNOWN_OPTIONAL_CODE: (MULTIPLE_CHOICE, SINGLE_CHOICE, YES_NO),
                               OPTIONAL_NOT_A_NUMBER: (NUMBER, SCALE), OPTIONAL_OUT_OF_SCALE: (SCALE,)}[kind]
                optional = [q for q in self.questions if not q.required and q.type in wanted_type]
                chosen = pick(lambda o: any(q.id in o.answers for q in optional))
                if chosen:
                    question = next(q for q in optional if q.id in chosen.answers)
                    del chosen.answers[question.id]
                    chosen.written[question.id] = {UNKNOWN_OPTIONAL_CODE: "Motion", OPTIONAL_NOT_A_NUMBER: "varje dag",
                                                   OPTIONAL_OUT_OF_SCALE: int(question.maximum or 0) + 2}[kind]
                    chosen.warnings += ((WARNING_CODES[kind], question.id),)
            elif kind == REPEATED_OCCASION and previous:
                earlier = rng.choice([o for o in previous if o.person.index not in self.sim.mapping.enrolled
                                      and o.person.index not in self.protected
                                      and not o.warnings and not o.person.anonymous] or previous)
                again = _Occasion(earlier.person, earlier.kommunkod, earlier.besvarad, dict(earlier.answers),
                                  earlier.kon_cell, earlier.anonym_id)
                coded = next((q for q in self.questions if q.required and q.type == SINGLE_CHOICE), None)
                if coded is not None:
                    again.answers[coded.id] = next(c for c in coded.code_set if c != earlier.answers.get(coded.id))
                rows.insert(0, again)
        return rows

    def _junk(self, month: str, code: str) -> _Occasion:
        """A row whose personnummer has a wrong check digit (not a simulated person)."""
        rng, project = self.rng, self.project
        day = self._weekday(max(month_start(month), self.first_day) + dt.timedelta(days=rng.randint(0, 20)))
        age = rng.randint(project.age_min, project.age_max)
        birth = _years_before(day, age + 1) + dt.timedelta(days=rng.randint(1, 360))
        kon = rng.choice("KM")
        bad = with_wrong_check_digit(make_personnummer(birth, random_serial(rng, kon, self.position)), rng)
        contact = random_contact(rng, kon, set())
        person = SimulatedPerson(-1, bad, False, kon, birth, contact.fornamn, contact.efternamn, contact.telefon,
                                 contact.epost, contact.adress, project_id=project.id)
        occasion = _Occasion(person, code, day, self._answers(None, optional=False), kon, junk_pnr=bad,
                             rejected=REJECTION_CODES[JUNK_PNR])
        occasion.identifiers = (bad, contact.fornamn, contact.efternamn, contact.telefon)
        return occasion

    # ---- files ------------------------------------------------------------------------------
    def _style(self, month: str) -> MappingStyle:
        return self.plan.styles.get(month) or self.plan.styles[""]

    def _write_month(self, rows: list[_Occasion], month: str, code: str, muni_position: int,
                     resubmission: bool) -> None:
        if not rows:
            return
        style = self._style(month)
        folder = self.inbox / self.project.id / code / style.folder
        name = style.file_name.format(month=month, project=self.project.id, kommunkod=code)
        mtime = _arrival(month, muni_position)
        texts = {id(o): self._free_text(o.person, style) for o in rows}
        free = [q.id for q in self.questions if q.type == FREE_TEXT]
        for occasion in rows:
            for question_id in free:
                if question_id in occasion.written:
                    continue
                wants = occasion.person.index >= 0 and self._wants_free_text(occasion, question_id)
                occasion.answers.pop(question_id, None)
                if wants:
                    occasion.answers[question_id] = texts[id(occasion)]
        if resubmission:
            flawed = self._flawed(rows)
            self._write_file(flawed, folder / name, style, month, code, mtime, superseded=True)
            stem, _, extension = name.rpartition(".")
            self._write_file(rows, folder / f"{stem}{CORRECTED_SUFFIX}.{extension}", style, month, code,
                             mtime + RESUBMISSION_DELAY.total_seconds())
        else:
            self._write_file(rows, folder / name, style, month, code, mtime)

    def _wants_free_text(self, occasion: _Occasion, question_id: str) -> bool:
        """Free text where the occasion carries optional answers: most interviews, a few mappings."""
        optional = [q.id for q in self.questions if not q.required and q.type != FREE_TEXT]
        has_optional = not optional or any(q in occasion.answers for q in optional)
        return has_optional and random.Random(f"{self.seed}:{occasion.person.index}:{occasion.besvarad}:"
                                              f"{question_id}").random() < (
            0.8 if self.plan.follow_up_optional else 0.3)

    def _flawed(self, rows: list[_Occasion]) -> list[_Occasion]:
        """The first, wrong version of a resubmitted month: three rows missing, one answer different."""
        rng = self.rng
        kept = [o for o in rows]
        for occasion in rng.sample([o for o in kept if o.rejected is None], min(3, len(kept) - 1)):
            kept.remove(occasion)
        flawed = []
        changed = False
        coded = next((q for q in self.questions if q.required and q.type in (SINGLE_CHOICE, YES_NO)), None)
        for occasion in kept:
            copy = _Occasion(occasion.person, occasion.kommunkod, occasion.besvarad, dict(occasion.answers),
                             occasion.kon_cell, occasion.anonym_id, dict(occasion.written), occasion.besvarad_written,
                             occasion.rejected, occasion.warnings, occasion.identifiers, occasion.junk_pnr)
            if not changed and coded is not None and occasion.rejected is None and coded.id in copy.answers:
                copy.answers[coded.id] = next(c for c in coded.code_set if c != copy.answers[coded.id])
                changed = True
            flawed.append(copy)
        return flawed

    def _write_file(self, rows: list[_Occasion], path: Path, style: MappingStyle, month: str, code: str,
                    mtime: float, superseded: bool = False) -> None:
        fixed_headers = [h for _, h in style.fixed]
        question_headers = [style.headers.get(q.id, q.id) for q in self.questions]
        table = [self._cells(o, style) for o in rows]
        path.parent.mkdir(parents=True, exist_ok=True)
        if style.fmt == "xlsx":
            path.write_bytes(_xlsx(fixed_headers + question_headers, table, style,
                                   dt.datetime.fromtimestamp(mtime, dt.timezone.utc)))
        else:
            path.write_bytes(_csv(fixed_headers + question_headers, table, style))
        os.utime(path, (mtime, mtime))
        self.sim.mapping.files.append(MappingFile(
            path=path, project_id=self.project.id, kommunkod=code, reporting_month=month, folder=style.folder,
            fmt=style.fmt, separator=style.separator, encoding=style.encoding, n_rows=len(rows), mtime=mtime,
            superseded=superseded, headers=tuple(fixed_headers + question_headers)))
        for number, occasion in enumerate(rows, start=2):
            person = occasion.person
            besvarad = occasion.besvarad_written or occasion.besvarad
            written_kon = occasion.kon_cell if style.has("kon") else None
            kon = written_kon or ("OKAND" if person.anonymous else person.kon)
            self.sim.mapping.rows.append(MappingRow(
                project_id=self.project.id, kommunkod=code, reporting_month=month, file_path=path,
                row_number=number, person_index=None if person.index < 0 else person.index, besvarad=besvarad,
                kon=kon, age_at_answer=None if person.anonymous else age_on(person.birth_date, besvarad),
                answers=_plain_answers(occasion.answers), rejected=occasion.rejected, warnings=occasion.warnings,
                identifiers=occasion.identifiers))

    def _cells(self, occasion: _Occasion, style: MappingStyle) -> list[Any]:
        person, rng = occasion.person, self.rng
        blank: Any = None if style.fmt == "xlsx" else ""
        cells: list[Any] = []
        for column, _ in style.fixed:
            if column == "personnummer":
                cells.append(blank if person.anonymous else _pnr_cell(occasion.junk_pnr or person.personnummer, style))
            elif column == "anonym_id":
                cells.append(occasion.anonym_id or blank)
            elif column == "besvarad":
                day = occasion.besvarad_written or occasion.besvarad
                cells.append(day if style.date_form == "excel" else day.isoformat())
            elif column == "kon":
                cells.append(self._written_kon(occasion, style) or blank)
            elif column in ("fornamn", "efternamn", "telefon"):
                cells.append(getattr(person, column) or blank)
            else:
                cells.append(blank)
        for question in self.questions:
            if question.id in occasion.written:
                value = occasion.written[question.id]
                cells.append(blank if value == "" else value)
                continue
            answer = occasion.answers.get(question.id)
            cells.append(blank if answer is None else self._answer_cell(question, answer, style, rng))
        return cells

    def _written_kon(self, occasion: _Occasion, style: MappingStyle) -> str | None:
        """The kon cell as this municipality writes it; blank now and then (derived from the number)."""
        if occasion.kon_cell is None:
            return None
        if occasion.kon_cell != "X" and not occasion.person.anonymous and self.rng.random() < style.kon_blank_rate:
            occasion.kon_cell = None
            return None
        return _spell(occasion.kon_cell, style.code_case)

    def _answer_cell(self, question: Question, answer: Any, style: MappingStyle, rng: random.Random) -> Any:
        if question.type in (SINGLE_CHOICE, YES_NO):
            return _spell(answer, style.code_case)
        if question.type == MULTIPLE_CHOICE:
            return rng.choice((", ", ",", " / ")).join(_spell(code, style.code_case) for code in answer)
        if question.type == SCALE:
            return answer if style.fmt == "xlsx" else str(answer)
        if question.type == NUMBER:
            if style.fmt == "xlsx":
                return answer
            text = f"{answer:g}"
            return text.replace(".", ",") if style.encoding == "cp1252" else text
        return answer


def _plain_answers(answers: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list) else v for k, v in answers.items()}


def _spell(code: str, case: str) -> str:
    spelled = SPELLING.get(code, code.replace("_", " ").lower())
    if case == "upper":
        return code
    if case == "title":
        return spelled[:1].upper() + spelled[1:]
    return spelled


def _pnr_cell(pnr12: str, style: MappingStyle) -> str:
    return str(format_personnummer(pnr12, style.pnr_form))


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _arrival(month: str, muni_position: int) -> float:
    following = add_months(month, 1)
    moment = dt.datetime(int(following[:4]), int(following[5:7]), ARRIVAL_DAY, ARRIVAL_HOUR, 7 * muni_position)
    return float(calendar.timegm(moment.timetuple()))


def _csv(headers: list[str], table: list[list[Any]], style: MappingStyle) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=style.separator or ",", lineterminator=style.line_ending)
    writer.writerow(headers)
    for row in table:
        writer.writerow(["" if cell is None else str(cell) for cell in row])
    assert style.encoding is not None
    return buffer.getvalue().encode(style.encoding)


def _xlsx(headers: list[str], table: list[list[Any]], style: MappingStyle, saved_at: dt.datetime) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Kartläggning"
    sheet.append(headers)
    for row in table:
        sheet.append(row)
    date_column = 1 + next(i for i, (column, _) in enumerate(style.fixed) if column == "besvarad")
    for (cell,) in sheet.iter_rows(min_row=2, min_col=date_column, max_col=date_column):
        cell.number_format = "yyyy-mm-dd"
    workbook.properties.creator = "Kommunens handläggare"
    workbook.properties.created = saved_at.replace(tzinfo=None)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _deterministic_zip(buffer.getvalue(), saved_at)
