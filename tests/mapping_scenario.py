"""A warehouse with hand-made mapping deliveries (kartläggning) for the bundled example projects
Våga Välja Väg (Flen 0482) and Härjedalen (2361, with an inventory), built by real dbt, and the
figures worked out here from the inserted rows by plain counting, without the warehouse.

Per project the deliveries are (arrival order):

  first     month 1, ACCEPTED                    replaced by `resent` (same month): never counts
  resent    month 1, ACCEPTED                    in force
  second    month 2, ACCEPTED_WITH_WARNINGS      in force: second occasions of some persons, and one
                                                 occasion restated from month 1 with other answers
                                                 (the duplicate occasion: month 2's row counts)
  rejected  month 3, REJECTED                    never counts
  enrolment month 1, an enrolment snapshot (INSKRIVNING) arriving last: it never replaces the
            mapping file of its month (the delivery in force is decided within its kind)

Answers are drawn from a seeded random generator; free-text answers carry FREE_TEXT_MARK, which
must never reach an export.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.projects.config import Project, ProjectsConfig, load_projects
from orchestration.projects.load import write_config_tables

FREE_TEXT_MARK = "FRITEXTHEMLIGHET"
PROJECTS = ("vaga_valja_vag", "harjedalen")
# project -> (kommunkod, month 1, month 2, month 3, persons)
SETUP = {"vaga_valja_vag": ("0482", "2009-09", "2009-10", "2009-11", 34),
         "harjedalen": ("2361", "2012-09", "2012-10", "2012-11", 40)}


@dataclass
class Delivery:
    delivery_id: str
    project_id: str
    kommunkod: str
    month: str
    arrival_seq: int
    verdict: str
    kind: str = "KARTLAGGNING"
    rows: list[dict] = field(default_factory=list)   # person_id, kon, age, besvarad, answers {q: [values]}, text


@dataclass
class Scenario:
    warehouse: Path
    config: ProjectsConfig
    deliveries: list[Delivery]


def _answer(question, rng: random.Random):
    """A list of answer values for one question (a multiple choice may give several codes)."""
    if question.type in ("single_choice", "yes_no"):
        return [rng.choice(question.code_set)]
    if question.type == "multiple_choice":
        return rng.sample(question.code_set, rng.randint(1, 3))
    if question.type == "scale":
        return [float(rng.randint(int(question.minimum), int(question.maximum)))]
    if question.type == "number":
        return [float(rng.randint(int(question.minimum), int(question.maximum)))]
    return None


def _row(project: Project, person: int, besvarad: dt.date, rng: random.Random, skip_optional: bool = True) -> dict:
    answers = {}
    for question in project.mapping.questions:
        if question.type == "free_text":
            continue
        if not question.required and skip_optional and rng.random() < 0.3:
            continue                                     # an optional question left blank
        answers[question.id] = _answer(question, rng)
    kon = [None, "K", "M", "X", "K", "M", "K", "M"][person % 8]
    anonymous = person % 17 == 5
    age = None if anonymous else project.age_min + (person * 3) % (project.age_max - project.age_min + 3) - 1
    return {"person_id": f"{project.id}-anon-{person}" if anonymous else f"person-{person:03d}",
            "is_anonymous": anonymous, "kon": kon, "age": age, "besvarad": besvarad, "answers": answers,
            "text": f"{FREE_TEXT_MARK} rad {person}"}


def make_deliveries(config: ProjectsConfig, seed: int = 18) -> list[Delivery]:
    rng = random.Random(seed)
    deliveries: list[Delivery] = []
    seq = 0
    for project_id in PROJECTS:
        project = config.project(project_id)
        kommunkod, m1, m2, m3, persons = SETUP[project_id]
        day1 = dt.date.fromisoformat(m1 + "-10")
        day2 = dt.date.fromisoformat(m2 + "-12")

        def delivery(name: str, month: str, verdict: str, kind: str = "KARTLAGGNING") -> Delivery:
            nonlocal seq
            seq += 1
            found = Delivery(f"{project_id}_{name}", project_id, kommunkod, month, seq, verdict, kind)
            deliveries.append(found)
            return found

        first = delivery("first", m1, "ACCEPTED")
        resent = delivery("resent", m1, "ACCEPTED")
        second = delivery("second", m2, "ACCEPTED_WITH_WARNINGS")
        rejected = delivery("rejected", m3, "REJECTED")
        delivery("enrolment", m1, "ACCEPTED", kind="INSKRIVNING")
        for person in range(1, persons + 1):
            day = day1 + dt.timedelta(days=person % 15)
            first.rows.append(_row(project, person, day, rng))
            if person % 11 != 0:                         # the resent file leaves a few persons out
                resent.rows.append(_row(project, person, day, rng))
            if person % 3 == 0:                          # a second occasion in month 2
                second.rows.append(_row(project, person, day2 + dt.timedelta(days=person % 7), rng))
        # only in the replaced file: never counts
        first.rows.append(_row(project, 900, day1, rng))
        # the duplicate occasion: person 1's month-1 occasion restated in month 2 with other answers
        restated = _row(project, 1, resent.rows[0]["besvarad"], rng, skip_optional=False)
        second.rows.append(restated)
        rejected.rows.append(_row(project, 901, dt.date.fromisoformat(m3 + "-03"), rng))
    return deliveries


def load_landing(warehouse: Path, config: ProjectsConfig, deliveries: list[Delivery]) -> None:
    write_config_tables(warehouse, config)
    with duckdb.connect(str(warehouse)) as db:
        for d in deliveries:
            db.execute(
                """insert into landing.deliveries
                   (delivery_id, project_id, kommunkod, reporting_month, file_name, archive_path, sha256,
                    size_bytes, received_at, status, verdict, arrival_seq, extract_kind, rows_total, rows_accepted)
                   values (?, ?, ?, ?, ?, ?, ?, 100, ?, 'VALIDATED', ?, ?, ?, ?, ?)""",
                [d.delivery_id, d.project_id, d.kommunkod, d.month, f"{d.month}_kartlaggning.csv",
                 f"archive/{d.delivery_id}", d.delivery_id.ljust(64, "0")[:64],
                 dt.datetime(2020, 1, 1) + dt.timedelta(hours=d.arrival_seq), d.verdict, d.arrival_seq, d.kind,
                 len(d.rows), len(d.rows)])
            if d.kind == "INSKRIVNING":          # a small snapshot, so that the project has KPI months too
                for number in (2, 3, 4):
                    db.execute("insert into landing.enrolment_rows (delivery_id, project_id, kommunkod, reporting_month, "
                               "row_number, person_id, is_anonymous, kon, age_at_start, startdatum, fas, warnings) "
                               "values (?, ?, ?, ?, ?, ?, false, 'K', ?, ?, 'HITTA', '')",
                               [d.delivery_id, d.project_id, d.kommunkod, d.month, number, f"person-{number:03d}",
                                config.project(d.project_id).age_min, dt.date.fromisoformat(d.month + "-02")])
                continue
            project = config.project(d.project_id)
            free_text = [q.id for q in project.mapping.questions if q.type == "free_text"]
            for number, row in enumerate(d.rows, start=2):
                db.execute("insert into landing.mapping_rows values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')",
                           [d.delivery_id, d.project_id, d.kommunkod, d.month, number, row["person_id"],
                            row["is_anonymous"], row["kon"], row["age"], row["besvarad"]])
                for question_id, values in row["answers"].items():
                    question = project.mapping.question(question_id)
                    for value in values:
                        coded = question.type in ("single_choice", "multiple_choice", "yes_no")
                        db.execute("insert into landing.mapping_answers values (?, ?, ?, ?, ?, null)",
                                   [d.delivery_id, number, question_id, value if coded else None,
                                    None if coded else value])
                for question_id in free_text:
                    db.execute("insert into landing.mapping_answers values (?, ?, ?, null, null, ?)",
                               [d.delivery_id, number, question_id, row["text"]])


_built: dict[str, Scenario] = {}


def shared(tmp_path_factory) -> Scenario:
    """The scenario built once per test process, its warehouse at a data home's root: the files
    that read it are one work unit (conftest.MAPPING_FILES), so the suite pays one dbt build."""
    if "scenario" not in _built:
        from orchestration.lib.home import DataHome

        home = DataHome.resolve(tmp_path_factory.mktemp("mapping_scenario")).create()
        _built["scenario"] = build(home.root)
        assert _built["scenario"].warehouse == home.warehouse
    return _built["scenario"]


def build(tmp_path: Path) -> Scenario:
    """The warehouse, built by `dbt build` from the parse saved at install."""
    from tests.transform.test_dbt_models import run_dbt

    config = load_projects()
    deliveries = make_deliveries(config)
    warehouse = tmp_path / "warehouse.duckdb"
    load_landing(warehouse, config, deliveries)
    result = run_dbt("build", warehouse, tmp_path, reuse_parse=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return Scenario(warehouse, config, deliveries)


# ---- the figures, counted here ------------------------------------------------------------------

def counted_occasions(scenario: Scenario, project_id: str) -> list[tuple[str, dict]]:
    """(kommunkod, row) of every occasion that counts: the rows of the file in force for each
    municipality and month (the latest arrival among accepted mapping files); one occasion
    (person, besvarad) in several of them from the latest month, then the latest arrival."""
    in_force = {}
    for d in scenario.deliveries:
        if d.project_id == project_id and d.kind == "KARTLAGGNING" and d.verdict != "REJECTED":
            key = (d.kommunkod, d.month)
            if key not in in_force or in_force[key].arrival_seq < d.arrival_seq:
                in_force[key] = d
    chosen: dict[tuple, tuple] = {}
    for d in in_force.values():
        for row in d.rows:
            key = (row["person_id"], row["besvarad"])
            rank = (d.month, d.arrival_seq)
            if key not in chosen or chosen[key][0] < rank:
                chosen[key] = (rank, d.kommunkod, row)
    return [(kommunkod, row) for _, kommunkod, row in chosen.values()]


def category(question, value) -> str:
    if question.type in ("single_choice", "multiple_choice", "yes_no"):
        return value
    if question.type == "scale":
        return str(int(value))
    bands = list(question.bands)
    if not bands:
        return "BESVARAD"
    lower = max(b for b in bands if b <= value)
    index = bands.index(lower)
    upper = bands[index + 1] if index + 1 < len(bands) else None
    return f"{lower:g}-" if upper is None else f"{lower:g}-{upper:g}"


def age_group(age, low: int, high: int) -> str:
    if age is None:
        return "OKAND"
    if age < low or age > high:
        return "UTANFOR"
    start = age - age % 5
    return f"{max(low, start)}-{min(high, start + 4)}"


def expected_figures(scenario: Scenario, project_id: str):
    """(numerators, denominators, groups, inventory):
    numerators[(area, breakdown, group, question, measure, category)] = persons (non-zero only),
    denominators[(area, breakdown, group, question, measure)] = persons (non-zero only),
    groups = {area: {(breakdown, group)}} the groups reported, inventory[(area, figure)] = persons."""
    project = scenario.config.project(project_id)
    occasions = counted_occasions(scenario, project_id)
    by_area: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for kommunkod, row in occasions:
        for area in (kommunkod, "ALL"):
            by_area[area][row["person_id"]].append(row)
    numerators: dict[tuple, int] = defaultdict(int)
    denominators: dict[tuple, int] = defaultdict(int)
    groups: dict[str, set] = {}
    inventory: dict[tuple, int] = defaultdict(int)
    bands = set()
    for start in range(project.age_min - project.age_min % 5, project.age_max + 1, 5):
        bands.add(("alder", f"{max(project.age_min, start)}-{min(project.age_max, start + 4)}"))
    for area, persons in by_area.items():
        groups[area] = {("total", "T"), ("kon", "K"), ("kon", "M"), ("kon", "X")} | bands
        for rows in persons.values():
            rows.sort(key=lambda r: r["besvarad"])
            kon = rows[-1]["kon"] if rows[-1]["kon"] in ("K", "M", "X") else "OKAND"
            person_groups = [("total", "T"), ("kon", kon),
                             ("alder", age_group(rows[0]["age"], project.age_min, project.age_max))]
            groups[area] |= set(person_groups)
            latest: dict[str, set] = {}
            for question in project.mapping.questions:
                answering = [r for r in rows if question.id in r["answers"]]
                if not answering or question.type == "free_text":
                    continue
                cats = {m: {category(question, v) for v in r["answers"][question.id]}
                        for m, r in (("svar", answering[-1]), ("fore", answering[0]), ("efter", answering[-1]))}
                latest[question.id] = cats["svar"]
                measures = ("svar", "fore", "efter") if len(answering) >= 2 else ("svar",)
                for breakdown, group in person_groups:
                    for measure in measures:
                        denominators[(area, breakdown, group, question.id, measure)] += 1
                        for cat in cats[measure]:
                            numerators[(area, breakdown, group, question.id, measure, cat)] += 1
            if project.mapping.inventory:
                inventory[(area, "kartlagda")] += 1
                for figure, conditions in project.mapping.inventory:
                    if all(latest.get(q, set()) & set(codes) for q, codes in conditions):
                        inventory[(area, figure)] += 1
    return numerators, denominators, groups, inventory


def query(warehouse: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute(sql, parameters or []).fetchall()
