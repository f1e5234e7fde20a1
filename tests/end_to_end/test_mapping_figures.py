"""Every mapping figure (kartläggning) of the demo run against the generator's truth.

Uses the session's one whole-pipeline run (tests/conftest.py `demo_pipeline`: the bundled
configuration, `generate_deliveries` into the home's inbox, which writes the mapping files of
Våga Välja Väg and Härjedalen too, one `run_pipeline`, then `export_all`). Naming the fixture puts
this file in the demo unit of `make test`, so the run is built once per suite.

Compares every row of marts.mapping_values and of exports/<project>/kartlaggning.csv with
tests/truth.py, which computes the same figures from the generator's record of the mapping rows
(Simulation.mapping) without the warehouse, dbt or pseudonyms; and checks that a person mapped and
enrolled is one person, that free text never leaves the warehouse, and the bad rows' verdicts.
"""

from __future__ import annotations

import csv
import hashlib
import math
import zipfile
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from tests.truth import (
    INVENTORY_MAPPED, MAPPING_MEASURES, expected_mapping_inventory, expected_mapping_values, mapping_occasions,
)

pytestmark = pytest.mark.slow

INVENTORY = "inventering"
EXPORT_COLUMNS = ["project_id", "area", "domain", "question_id", "question", "measure", "category",
                  "category_label", "breakdown", "group", "value", "numerator", "denominator", "suppressed"]
MIN_SHARE_DENOMINATOR = 10   # lib/thresholds.MIN_SHARE_DENOMINATOR: no share on a smaller base


def query(run, sql: str, parameters: list | None = None) -> list[tuple]:
    connection = duckdb.connect(str(run.home.warehouse), read_only=True)
    try:
        return connection.execute(sql, parameters or []).fetchall()
    finally:
        connection.close()


def mapped_projects(run) -> list:
    return [p for p in run.config.projects if p.mapping is not None]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mapping_deliveries(demo_pipeline) -> dict[Path, str]:
    """Each generated mapping file → its delivery_id (found by the file's sha256 and kind)."""
    ids = dict(query(demo_pipeline, "select sha256, delivery_id from landing.deliveries "
                                    "where extract_kind = 'KARTLAGGNING'"))
    return {f.path: ids.get(sha256(f.path)) for f in demo_pipeline.simulation.mapping.files}


@pytest.fixture(scope="module")
def mapping_values(demo_pipeline) -> dict[str, dict[tuple, tuple]]:
    """project → (area, breakdown, group, question_id, measure, category) → (numerator, denominator, value, domain)."""
    columns = {name for (name,) in query(demo_pipeline, "select column_name from information_schema.columns "
                                                        "where table_schema = 'marts' and table_name = 'mapping_values'")}
    group = "breakdown_group" if "breakdown_group" in columns else '"group"'    # as kpi_values names it, or the export
    rows = query(demo_pipeline, f"select project_id, area, breakdown, {group}, domain, question_id, measure, "
                                "category, numerator, denominator, value from marts.mapping_values")
    table: dict[str, dict[tuple, tuple]] = defaultdict(dict)
    for project_id, area, breakdown, group, domain, question_id, measure, category, num, den, value in rows:
        key = (area, breakdown, group, question_id, measure, category or "")
        assert key not in table[project_id], ("a figure twice", project_id, key)
        table[project_id][key] = (num, den, value, domain)
    return table


def close(actual, expected) -> bool:
    if expected is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    return actual is not None and math.isclose(float(actual), float(expected), abs_tol=1e-6)


def test_every_answer_figure_equals_the_truth(demo_pipeline, mapping_values):
    """svar, fore, efter for every area, breakdown, group, question and category. A category nobody
    is in may be left out or shown as 0; a group without anyone answering may be left out or show a
    zero base; every other figure is there with the truth's numerator, denominator and share."""
    mismatches, checked = [], 0
    for project in mapped_projects(demo_pipeline):
        truth = expected_mapping_values(demo_pipeline.simulation, project)
        actual = {k: v for k, v in mapping_values[project.id].items() if k[4] in MAPPING_MEASURES}
        assert actual, f"marts.mapping_values has no answer figures for {project.id}"
        for key, (numerator, denominator) in truth.items():
            row = actual.get(key)
            if row is None:
                if numerator:
                    mismatches.append((project.id, *key, "missing", numerator, denominator))
                continue
            checked += 1
            if (row[0], row[1]) != (numerator, denominator) or not close(row[2], numerator / denominator):
                mismatches.append((project.id, *key, row[:3], numerator, denominator))
            question = project.mapping.question(key[3])
            if row[3] != question.domain:
                mismatches.append((project.id, *key, "domain", row[3], question.domain))
        for key, row in actual.items():
            if key not in truth and (row[0] or row[1]):
                mismatches.append((project.id, *key, row[:3], "not in the truth"))
    assert not mismatches, f"{len(mismatches)} of {checked} figures differ, e.g. {mismatches[:10]}"
    assert checked > 1000


def test_no_free_text_question_has_a_figure(demo_pipeline, mapping_values):
    for project in mapped_projects(demo_pipeline):
        free = {q.id for q in project.mapping.questions if q.type == "free_text"}
        assert free and not any(key[3] in free for key in mapping_values[project.id])


def test_inventory_figures_equal_the_truth(demo_pipeline, mapping_values):
    """kartlagda and each inventory figure per area (breakdown total); at ALL the target
    population is the base and the share is of it."""
    for project in mapped_projects(demo_pipeline):
        rows = {k: v for k, v in mapping_values[project.id].items() if k[4] == INVENTORY}
        if not project.mapping.inventory:
            assert not rows, project.id
            continue
        truth = expected_mapping_inventory(demo_pipeline.simulation, project)
        by_figure = {(k[0], k[3]): v for k, v in rows.items()}
        for (area, figure), (count, base) in truth.items():
            assert (area, figure) in by_figure, (project.id, area, figure)
            numerator, denominator, value, _ = by_figure[(area, figure)]
            assert numerator == count, (project.id, area, figure, numerator, count)
            if base:
                assert denominator == base and close(value, count / base), (project.id, area, figure, value)
            else:
                assert value is None or close(value, count), (project.id, area, figure, value)
        for key in rows:
            assert key[1:3] == ("total", "T"), key
        other = {k for k in by_figure if k not in truth}
        for area, figure in other:       # only the target population itself may stand beside the figures
            numerator, denominator, value, _ = by_figure[(area, figure)]
            assert area == "ALL" and project.target_population in (numerator, value), (area, figure)


def export_file(run, project_id: str) -> Path:
    """exports/<project>/kartlaggning.csv as the demo fixture's export_all wrote it (else the run's)."""
    candidates = [e.path.parent / "kartlaggning.csv" for e in run.exported if e.project_id == project_id]
    candidates.append(run.home.exports / project_id / "kartlaggning.csv")
    found = [path for path in candidates if path.exists()]
    assert found, f"no kartlaggning.csv for {project_id}: looked in {candidates}"
    return found[0]


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def test_kartlaggning_csv_shows_the_truth_where_not_suppressed(demo_pipeline):
    checked = 0
    for project in demo_pipeline.config.projects:
        if project.mapping is None:
            assert not any((e.path.parent / "kartlaggning.csv").exists()
                           for e in demo_pipeline.exported if e.project_id == project.id)
            continue
        path = export_file(demo_pipeline, project.id)
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            assert reader.fieldnames == EXPORT_COLUMNS
            rows = list(reader)
        truth = expected_mapping_values(demo_pipeline.simulation, project)
        inventory = expected_mapping_inventory(demo_pipeline.simulation, project)
        questions = {q.id: q for q in project.mapping.questions}
        labels = {(q.id, c.code): c.label for q in project.mapping.questions for c in q.categories()}
        measures = set()
        for row in rows:
            assert row["project_id"] == project.id
            measures.add(row["measure"])
            suppressed = row["suppressed"] == "true"
            numerator, denominator, value = number(row["numerator"]), number(row["denominator"]), number(row["value"])
            if row["measure"] == INVENTORY:
                assert row["domain"] == "Inventering" and row["category"] == ""
                expected = inventory.get((row["area"], row["question_id"]))
                if expected is None:          # the target population's own row
                    assert row["area"] == "ALL" and project.target_population in (numerator, value), row
                    continue
                if not suppressed:
                    checked += 1
                    assert numerator == expected[0], row
                    if expected[1]:
                        assert denominator == expected[1] and close(value, expected[0] / expected[1]), row
                continue
            question = questions[row["question_id"]]
            assert (row["domain"], row["question"]) == (question.domain, question.text), row
            assert row["category_label"] == labels[(question.id, row["category"])], row
            key = (row["area"], row["breakdown"], row["group"], row["question_id"], row["measure"], row["category"])
            expected = truth.get(key, (0, 0))
            if suppressed:
                assert value is None or numerator is None, ("a suppressed cell shows its count and share", row)
                continue
            checked += 1
            if numerator is not None:
                assert numerator == expected[0], (row, expected)
                assert 0 == numerator or numerator >= project.min_count, ("a small count is shown", row)
            if denominator is not None:
                assert denominator == expected[1], (row, expected)
            if value is not None:
                assert expected[1] >= MIN_SHARE_DENOMINATOR, ("a share on a small base is shown", row)
                assert close(value, expected[0] / expected[1]), (row, expected)
        assert {"svar", "fore", "efter"} <= measures, project.id
        if project.mapping.inventory:
            assert INVENTORY in measures
    assert checked > 300


def test_a_person_mapped_and_enrolled_is_one_person(demo_pipeline, mapping_deliveries):
    sim = demo_pipeline.simulation
    person_ids = {(delivery_id, row_number): person_id for delivery_id, row_number, person_id in query(
        demo_pipeline, "select delivery_id, row_number, person_id from landing.mapping_rows")}
    for project in mapped_projects(demo_pipeline):
        enrolled_ids = {row[0] for row in query(
            demo_pipeline, "select distinct e.person_id from landing.enrolment_rows e "
                           "join landing.deliveries d using (delivery_id) where d.project_id = ?", [project.id])}
        ids_of: dict[int, set[str]] = defaultdict(set)
        for rows in mapping_occasions(sim, project, "ALL").values():
            for row in rows:
                delivery_id = mapping_deliveries[row.file_path]
                assert (delivery_id, row.row_number) in person_ids, (row.file_path.name, row.row_number)
                ids_of[row.person_index].add(person_ids[(delivery_id, row.row_number)])
        assert all(len(ids) == 1 for ids in ids_of.values()), "one simulated person, several person_id"
        one_id = {index: next(iter(ids)) for index, ids in ids_of.items()}
        assert len(set(one_id.values())) == len(one_id), "two simulated persons, one person_id"
        both = {index for index in one_id if index in sim.mapping.enrolled}
        assert both, project.id
        for index, person_id in one_id.items():
            assert (person_id in enrolled_ids) == (index in both), (project.id, index)


def exported_texts(run) -> list[tuple[Path, str]]:
    """The text of every file the exports hold (CSV, HTML, the workbook's cells)."""
    roots = {e.path.parent.parent for e in run.exported} | {run.home.exports}
    texts = []
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if not path.is_file():
                continue
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(path) as archive:
                    texts.append((path, " ".join(archive.read(n).decode("utf-8", "replace")
                                                 for n in archive.namelist() if n.endswith(".xml"))))
            elif path.suffix in (".csv", ".html", ".txt", ".json", ".md"):
                texts.append((path, path.read_text(encoding="utf-8", errors="replace")))
    return texts


def test_free_text_never_appears_in_the_exports(demo_pipeline):
    sim = demo_pipeline.simulation
    free = {(p.id, q.id) for p in mapped_projects(demo_pipeline) for q in p.mapping.questions if q.type == "free_text"}
    answers = {row.answers[q] for row in sim.mapping.rows for (project_id, q) in free
               if row.project_id == project_id and q in row.answers}
    assert answers
    persons = {p.index: p for p in [*sim.persons, *sim.mapping.persons]}
    pieces = set()                     # the text around a name or number, which scrubbing leaves as it was
    for row in sim.mapping.rows:
        for (project_id, question_id) in free:
            text = row.answers.get(question_id) if row.project_id == project_id else None
            if not text:
                continue
            person = persons[row.person_index]
            for identifier in (person.fornamn, person.telefon):
                if identifier:
                    text = text.replace(identifier, "\n")
            pieces |= {piece.strip() for piece in text.split("\n") if len(piece.strip()) >= 12}
    texts = exported_texts(demo_pipeline)
    assert texts
    for path, text in texts:
        for piece in pieces | answers:
            assert piece not in text, (path, piece)


def test_free_text_is_stored_scrubbed(demo_pipeline, mapping_deliveries):
    sim = demo_pipeline.simulation
    stored = {(d, r): text for d, r, text in query(
        demo_pipeline, "select delivery_id, row_number, answer_text from landing.mapping_answers "
                       "where answer_text is not null")}
    persons = {p.index: p for p in [*sim.persons, *sim.mapping.persons]}
    named = 0
    for row in sim.mapping.counted_rows():
        person = persons[row.person_index]
        for answer in row.answers.values():
            if not isinstance(answer, str) or " " not in answer:
                continue
            text = stored.get((mapping_deliveries[row.file_path], row.row_number))
            assert text is not None, (row.file_path.name, row.row_number)
            for identifier in (person.fornamn, person.telefon, person.efternamn):
                if identifier and identifier in answer:
                    named += 1
                    assert identifier not in text, (row.file_path.name, row.row_number)
    assert named


def test_delivery_verdicts_of_the_bad_rows(demo_pipeline, mapping_deliveries):
    sim, config = demo_pipeline.simulation, demo_pipeline.config
    assert all(mapping_deliveries.values()), [p.name for p, d in mapping_deliveries.items() if d is None]
    quarantined = defaultdict(set)
    for delivery_id, row_number, code in query(demo_pipeline, "select delivery_id, row_number, reason_code "
                                                              "from landing.quarantine_rows"):
        quarantined[(delivery_id, row_number)].add(code)
    warned = defaultdict(set)
    for delivery_id, row_number, code, column in query(
            demo_pipeline, "select delivery_id, row_number, warning_code, column_name from landing.row_warnings"):
        warned[(delivery_id, row_number)].add((code, column))
    accepted = {(d, r) for d, r in query(demo_pipeline, "select delivery_id, row_number from landing.mapping_rows")}
    for row in sim.mapping.rows:
        key = (mapping_deliveries[row.file_path], row.row_number)
        where = (row.file_path.name, row.row_number)
        if row.rejected:
            assert row.rejected in quarantined[key], (where, row.rejected, quarantined[key])
            assert key not in accepted, where
            continue
        assert key in accepted and not quarantined[key], (where, quarantined[key])
        for warning in row.warnings:
            assert warning in warned[key], (where, warning, warned[key])
        project = config.project(row.project_id)
        if row.age_at_answer is not None and not project.age_min <= row.age_at_answer <= project.age_max:
            assert "ALDER_UTANFOR" in {code for code, _ in warned[key]}, where
    states = {d: (verdict, in_force, rejected) for d, verdict, in_force, rejected in query(
        demo_pipeline, "select delivery_id, verdict, in_force, rows_rejected from landing.delivery_states "
                       "where extract_kind = 'KARTLAGGNING'")}
    for written in sim.mapping.files:
        verdict, in_force, rejected = states[mapping_deliveries[written.path]]
        expected_rejected = sum(1 for r in sim.mapping.rows if r.file_path == written.path and r.rejected)
        assert verdict in ("ACCEPTED", "ACCEPTED_WITH_WARNINGS"), (written.path.name, verdict)
        assert rejected == expected_rejected, (written.path.name, rejected, expected_rejected)
        assert bool(in_force) == (not written.superseded), written.path.name


def test_accepted_rows_keep_exactly_the_answers_that_count(demo_pipeline, mapping_deliveries):
    """landing.mapping_answers: the questions answered on each accepted row, a dropped answer gone."""
    answered = defaultdict(set)
    for delivery_id, row_number, question_id in query(
            demo_pipeline, "select delivery_id, row_number, question_id from landing.mapping_answers"):
        answered[(delivery_id, row_number)].add(question_id)
    for row in demo_pipeline.simulation.mapping.rows:
        if row.rejected:
            continue
        key = (mapping_deliveries[row.file_path], row.row_number)
        assert answered[key] == set(row.answers), (row.file_path.name, row.row_number, answered[key], set(row.answers))


def test_mapped_counts_match_between_truth_and_warehouse(demo_pipeline):
    """kartlagda in the warehouse's own rows in force equals the truth's persons (a cross-check
    that does not go through the marts)."""
    for project in mapped_projects(demo_pipeline):
        (persons,) = query(demo_pipeline, "select count(distinct r.person_id) from landing.mapping_rows r "
                                          "join landing.delivery_states s using (delivery_id) "
                                          "where s.in_force and r.project_id = ?", [project.id])[0]
        assert persons == expected_mapping_inventory(demo_pipeline.simulation, project)[("ALL", INVENTORY_MAPPED)][0]
