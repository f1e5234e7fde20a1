"""The generator's mapping deliveries (orchestration/generator/mapping.py): files as the mapping
extract describes them, read back with nothing but the csv module and openpyxl, and a truth
(Simulation.mapping) that says what every row holds and what the pipeline must make of it."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from orchestration.generator import Simulation, generate_deliveries
from orchestration.generator.model import MappingFile
from orchestration.generator.months import month_end
from orchestration.lib.contract import normalise_code, normalise_name
from orchestration.lib.mapping_contract import canonical_mapping_column, is_mapping_folder
from orchestration.projects.config import ProjectsConfig, load_projects
from tests.truth import age_band, expected_mapping_inventory, expected_mapping_values, mapping_occasions

MAPPED = ("vaga_valja_vag", "harjedalen")


@pytest.fixture(scope="module")
def config() -> ProjectsConfig:
    return load_projects()


@pytest.fixture(scope="module")
def generated(config: ProjectsConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[Simulation, Path]:
    inbox = tmp_path_factory.mktemp("mapping") / "inbox"
    return generate_deliveries(config, inbox, project_ids=list(MAPPED), mapping=True), inbox


@pytest.fixture(scope="module")
def sim(generated) -> Simulation:
    return generated[0]


def read_table(written: MappingFile) -> list[list[Any]]:
    if written.fmt == "xlsx":
        workbook = openpyxl.load_workbook(written.path, read_only=True, data_only=True)
        table = [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
        workbook.close()
        return table
    text = written.path.read_bytes().decode(written.encoding or "utf-8")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=written.separator or ","))


def read_rows(written: MappingFile) -> dict[int, dict[str, Any]]:
    """row number → header (fixed column or question id, as normalised) → cell."""
    table = read_table(written)
    names = [canonical_mapping_column(str(h)) or normalise_name(str(h)) for h in table[0]]
    return {number: {names[i]: cell for i, cell in enumerate(row)} for number, row in enumerate(table[1:], start=2)}


def blank(cell: Any) -> bool:
    return cell is None or str(cell).strip() == ""


def digits(cell: Any) -> str:
    return "".join(ch for ch in str(cell) if ch.isdigit())


def test_mapping_files_lie_in_the_mapping_folder_named_with_their_month(sim, config, generated):
    inbox = generated[1]
    assert {f.project_id for f in sim.mapping.files} == set(MAPPED)
    for written in sim.mapping.files:
        assert written.path.exists()
        assert written.path.parent == inbox / written.project_id / written.kommunkod / written.folder
        assert is_mapping_folder(written.folder)
        assert written.reporting_month in written.path.name
        assert written.reporting_month in config.project(written.project_id).months()
    for project_id in MAPPED:
        months = {f.reporting_month for f in sim.mapping.files if f.project_id == project_id and not f.superseded}
        assert months == set(config.project(project_id).months())
    assert {f.folder for f in sim.mapping.files} == {"Kartläggning", "kartlaggning"}


def test_formats_are_mixed_and_open_as_declared(sim):
    assert {f.fmt for f in sim.mapping.files} == {"csv-cp1252", "csv-utf8", "xlsx"}
    cp1252 = next(f for f in sim.mapping.files if f.fmt == "csv-cp1252")
    assert cp1252.folder == "Kartläggning" and cp1252.separator == ";"
    with pytest.raises(UnicodeDecodeError):
        cp1252.path.read_bytes().decode("utf-8")
    for written in sim.mapping.files:
        assert len(read_table(written)) - 1 == written.n_rows
    workbook = next(f for f in sim.mapping.files if f.fmt == "xlsx")
    sheet = openpyxl.load_workbook(workbook.path).worksheets[0]
    header = [c.value for c in sheet[1]]
    column = 1 + [canonical_mapping_column(str(h)) for h in header].index("besvarad")
    assert all(isinstance(sheet.cell(row, column).value, dt.datetime) for row in range(2, sheet.max_row + 1))


def test_every_header_is_a_fixed_column_or_a_question_of_the_instrument(sim, config):
    for written in sim.mapping.files:
        questions = set(config.project(written.project_id).mapping.question_ids)
        for header in written.headers:
            assert canonical_mapping_column(header) is not None or normalise_name(header) in questions, header
        assert {"personnummer", "besvarad"} <= {canonical_mapping_column(h) for h in written.headers}


def test_every_row_holds_what_the_truth_says(sim, config):
    by_file = {f.path: read_rows(f) for f in sim.mapping.files}
    persons = {p.index: p for p in [*sim.persons, *sim.mapping.persons]}
    for row in sim.mapping.rows:
        cells = by_file[row.file_path][row.row_number]
        instrument = config.project(row.project_id).mapping
        written_day = cells["besvarad"]
        day = written_day.date() if isinstance(written_day, dt.datetime) else dt.date.fromisoformat(str(written_day))
        assert day == row.besvarad
        if row.person_index is None:
            assert digits(cells["personnummer"]) in {d[2:] for d in row.identifiers if d.isdigit()} | set(row.identifiers)
            continue
        person = persons[row.person_index]
        if person.anonymous:
            assert blank(cells["personnummer"]) and not blank(cells["anonym_id"])
        else:
            assert digits(cells["personnummer"]) in (person.personnummer, person.personnummer[2:])
        if "kon" in cells and not blank(cells["kon"]):
            assert normalise_code(str(cells["kon"])) == row.kon
        for question in instrument.questions:
            cell = cells.get(question.id)
            if question.id not in row.answers:
                dropped = any(column == question.id for _, column in row.warnings)
                assert blank(cell) or dropped or row.rejected, (row.file_path.name, row.row_number, question.id)
                continue
            answer = row.answers[question.id]
            if question.type in ("single_choice", "yes_no"):
                assert normalise_code(str(cell)) == answer
            elif question.type == "multiple_choice":
                parts = str(cell).replace("/", ",").split(",")
                assert [normalise_code(p) for p in parts] == answer
            elif question.type in ("scale", "number"):
                assert float(str(cell).replace(",", ".")) == answer
            else:
                assert cell == answer


def test_sizes_and_repeated_mappings(sim, config):
    vvv = mapping_occasions(sim, config.project("vaga_valja_vag"), "ALL")
    assert 110 <= len(vvv) <= 125
    assert 35 <= sum(1 for rows in vvv.values() if len(rows) >= 2) <= 45
    harjedalen = config.project("harjedalen")
    inventoried = mapping_occasions(sim, harjedalen, "ALL")
    assert 170 <= len(inventoried) <= 185
    optional = [q.id for q in harjedalen.mapping.questions if not q.required]
    interviewed = {p for p, rows in inventoried.items() if any(q in r.answers for r in rows for q in optional)}
    assert 15 <= len(interviewed) <= 25
    for person, rows in inventoried.items():   # the interview is a later occasion; the inventory has no optional answers
        assert not any(q in rows[0].answers for q in optional) or len(rows) == 1 and person not in interviewed


def test_groups_at_the_first_and_the_latest_occasion_differ_for_someone(sim, config):
    """So the figures tell the rules apart: kön from the latest occasion, age from the first."""
    for project_id in MAPPED:
        project = config.project(project_id)
        twice = [rows for rows in mapping_occasions(sim, project, "ALL").values() if len(rows) >= 2]
        assert any(rows[0].kon != rows[-1].kon for rows in twice), project_id
        assert any(age_band(rows[0].age_at_answer, project) != age_band(rows[-1].age_at_answer, project)
                   for rows in twice), project_id
    harjedalen = mapping_occasions(sim, config.project("harjedalen"), "ALL")
    assert any(rows[0].kon == "OKAND" and rows[-1].kon != "OKAND" and rows[0].age_at_answer is None
               for rows in harjedalen.values())
    assert any(rows[0].kon in "KM" and rows[-1].kon == "X" for rows in harjedalen.values())


def test_some_mapped_persons_are_enrolled_in_the_same_project_with_the_same_personnummer(sim):
    assert len(sim.mapping.enrolled) >= 10
    enrolled = {(e.project_id, e.person_index) for e in sim.enrolments if e.counts}
    mapped = {(r.project_id, r.person_index) for r in sim.mapping.counted_rows()}
    for project_id in MAPPED:
        both = {p for (project, p) in mapped if project == project_id and (project, p) in enrolled}
        assert len(both) >= 4, project_id
        assert both <= set(sim.mapping.enrolled)
    assert not {p.personnummer for p in sim.mapping.persons if p.personnummer} & {
        p.personnummer for p in sim.persons if p.personnummer}


def test_bad_rows_carry_their_intended_verdict_and_no_file_comes_near_the_threshold(sim):
    reasons = Counter(r.rejected for r in sim.mapping.rows if r.rejected)
    assert {"PNR_OGILTIG", "SVAR_SAKNAS", "BESVARAD_EFTER_MANADEN"} <= set(reasons)
    warned = Counter(code for r in sim.mapping.rows for code, _ in r.warnings)
    assert {"SVAR_KOD_OKAND", "SVAR_INTE_TAL", "SVAR_UTANFOR_SKALAN"} <= set(warned)
    for written in sim.mapping.files:
        rows = [r for r in sim.mapping.rows if r.file_path == written.path]
        assert len(rows) == written.n_rows
        assert sum(1 for r in rows if r.rejected) / len(rows) < 0.1
    late = next(r for r in sim.mapping.rows if r.rejected == "BESVARAD_EFTER_MANADEN")
    assert late.besvarad > month_end(late.reporting_month)
    for row in sim.mapping.rows:
        for _, question_id in row.warnings:
            assert question_id not in row.answers      # the answer is dropped, the row kept
            assert row.rejected is None


def test_a_resubmission_replaces_the_first_file_and_its_truth_is_the_corrected_file(sim):
    superseded = [f for f in sim.mapping.files if f.superseded]
    assert len(superseded) == 1
    first = superseded[0]
    fix = next(f for f in sim.mapping.files if f is not first and (f.project_id, f.kommunkod, f.reporting_month)
               == (first.project_id, first.kommunkod, first.reporting_month))
    assert fix.mtime > first.mtime and "(rättad)" in fix.path.name
    counted = sim.mapping.counted_rows()
    assert not any(r.file_path == first.path for r in counted)
    assert sum(1 for r in counted if r.file_path == fix.path) > first.n_rows - 3


def test_an_occasion_delivered_again_the_next_month_counts_from_the_later_file(sim):
    occasions = Counter((r.project_id, r.person_index, r.besvarad) for r in sim.mapping.rows
                        if r.person_index is not None and not r.rejected
                        and not any(f.superseded and f.path == r.file_path for f in sim.mapping.files))
    again = [key for key, n in occasions.items() if n > 1]
    assert len(again) == 1
    rows = sorted((r for r in sim.mapping.rows if (r.project_id, r.person_index, r.besvarad) == again[0]),
                  key=lambda r: r.reporting_month)
    counted = [r for r in sim.mapping.counted_rows() if (r.project_id, r.person_index, r.besvarad) == again[0]]
    assert counted == [rows[-1]] and rows[0].answers != rows[-1].answers


def test_free_text_sometimes_names_the_person_or_a_phone_number(sim):
    persons = {p.index: p for p in [*sim.persons, *sim.mapping.persons]}
    texts = [(persons[r.person_index], answer) for r in sim.mapping.rows if r.person_index is not None
             for answer in r.answers.values() if isinstance(answer, str) and " " in answer]
    assert any(p.fornamn and p.fornamn in text for p, text in texts)
    assert any(p.telefon and p.telefon in text for p, text in texts)


def test_figures_of_the_truth_are_large_enough_to_publish(sim, config):
    vvv = expected_mapping_values(sim, config.project("vaga_valja_vag"))
    assert vvv[("ALL", "total", "T", "paverka_vardag", "fore", "3")][1] >= 35
    inventory = expected_mapping_inventory(sim, config.project("harjedalen"))
    mapped, population = inventory[("ALL", "kartlagda")]
    assert population == 1300 and 170 <= mapped <= 185
    assert 0 < inventory[("ALL", "varken_af_eller_fs")][0] < inventory[("ALL", "utanfor_arbete_studier")][0] < mapped


def test_enrolment_files_and_truth_are_the_same_with_and_without_mappings(config, generated, tmp_path):
    sim, inbox = generated
    without = generate_deliveries(config, tmp_path / "inbox", project_ids=list(MAPPED), mapping=False)
    assert not without.mapping.files and not list((tmp_path / "inbox").rglob("*artl*"))
    digest = lambda files: {f.path.name: hashlib.sha256(f.path.read_bytes()).hexdigest() for f in files}  # noqa: E731
    assert digest(without.files) == digest(sim.files)
    assert (without.persons, without.enrolments) == (sim.persons, sim.enrolments)
    relative = lambda rows, root: [{**r.__dict__, "file_path": r.file_path.relative_to(root)} for r in rows]  # noqa: E731
    assert relative(without.invalid_rows, tmp_path / "inbox") == relative(sim.invalid_rows, inbox)


def test_same_seed_gives_byte_identical_mapping_files(config, generated, tmp_path):
    sim, inbox = generated
    again = generate_deliveries(config, tmp_path / "inbox", project_ids=list(MAPPED), mapping=True)
    first = {(f.path.relative_to(inbox), f.mtime): f.path.read_bytes() for f in sim.mapping.files}
    assert {(f.path.relative_to(tmp_path / "inbox"), f.mtime): f.path.read_bytes() for f in again.mapping.files} == first

    def plain(row, root):
        return {**row.__dict__, "file_path": row.file_path.relative_to(root)}

    assert [plain(r, tmp_path / "inbox") for r in again.mapping.rows] == [plain(r, inbox) for r in sim.mapping.rows]


def test_mapping_identifiers_are_in_the_leak_scan_set(sim):
    identifiers = sim.identifiers()
    for person in sim.mapping.persons:
        if not person.anonymous:
            assert {person.personnummer, person.fornamn, person.telefon} <= identifiers
    junk = [r for r in sim.mapping.rows if r.person_index is None]
    assert junk and all(set(r.identifiers) <= identifiers for r in junk)


def test_the_demo_gets_mapping_files_and_a_subset_of_projects_only_when_asked(config, tmp_path):
    """The demo (every project) writes the mapping files; a test's small inbox of one project
    stays enrolment-only unless it asks."""
    subset = generate_deliveries(config, tmp_path / "a", project_ids=["vaga_valja_vag"], noise=False)
    assert not subset.mapping.files and not subset.mapping.rows
    asked = generate_deliveries(config, tmp_path / "b", project_ids=["vaga_valja_vag"], noise=False, mapping=True)
    assert {f.project_id for f in asked.mapping.files} == {"vaga_valja_vag"}


def test_mapping_truth_round_trips_through_json(sim, tmp_path):
    sim.to_json(tmp_path / "truth.json")
    assert Simulation.from_json(tmp_path / "truth.json") == sim
