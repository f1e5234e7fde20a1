"""The synthetic delivery generator: files as the contract describes them, truth that adds up.

The generator is the independent source of truth for the pipeline's end-to-end tests, so these
tests read its files with nothing but the csv module and openpyxl, and check them against the
Simulation it returns.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import io
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from orchestration.generator import Simulation, WrittenFile, generate_deliveries
from orchestration.generator.styles import CATALOGUE, render_code
from orchestration.lib.contract import AVSLUTSORSAK, FAS, OPTIONAL_CODES, canonical_column, normalise_code
from orchestration.projects.config import ProjectsConfig, load_projects
from tests.truth import expected_kon_breakdown, expected_kpis, expected_phase_counts

GENERATOR_DIR = Path(__file__).resolve().parents[2] / "orchestration" / "generator"


# ---- fixtures and helpers --------------------------------------------------------------------

@pytest.fixture(scope="session")
def config() -> ProjectsConfig:
    return load_projects()


@pytest.fixture(scope="session")
def generated(config: ProjectsConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[Simulation, Path, float]:
    inbox = tmp_path_factory.mktemp("home") / "inbox"
    started = time.perf_counter()
    sim = generate_deliveries(config, inbox)
    return sim, inbox, time.perf_counter() - started


@pytest.fixture(scope="session")
def sim(generated: tuple[Simulation, Path, float]) -> Simulation:
    return generated[0]


@pytest.fixture(scope="session")
def contents(sim: Simulation) -> dict[Path, list[tuple[int, dict[str, Any]]]]:
    """Every file read back: (row number, canonical column -> cell) per data row."""
    return {f.path: read_rows(f) for f in sim.files}


def read_rows(written: WrittenFile) -> list[tuple[int, dict[str, Any]]]:
    """Read a file with the csv module or openpyxl in its declared format, header in row 1."""
    if written.fmt == "xlsx":
        workbook = openpyxl.load_workbook(written.path, read_only=True, data_only=True)
        table = [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
        workbook.close()
    else:
        text = written.path.read_bytes().decode(written.encoding or "utf-8")
        table = list(csv.reader(io.StringIO(text, newline=""), delimiter=written.separator or ","))
    header = [canonical_column(str(h)) if h not in (None, "") else None for h in table[0]]
    rows = []
    for number, row in enumerate(table[1:], start=2):
        if all(cell in (None, "") for cell in row):
            continue
        rows.append((number, {c: row[i] for i, c in enumerate(header) if c and i < len(row)}))
    return rows


def blank(cell: Any) -> bool:
    return cell is None or str(cell).strip() == ""


def pnr_digits(cell: Any) -> str:
    """Digits of a personnummer cell; an Excel number gets its lost leading zeros back."""
    if isinstance(cell, (int, float)):
        return str(int(cell)).zfill(10)
    digits = "".join(ch for ch in str(cell) if ch.isdigit())
    return digits.zfill(10) if len(digits) < 10 else digits


def luhn_ok(digits: str) -> bool:
    ten = digits[-10:]
    total = 0
    for position, char in enumerate(ten):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return total % 10 == 0


def as_date(cell: Any) -> dt.date | None:
    if blank(cell):
        return None
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    text = str(cell).strip()[:10]
    return dt.date.fromisoformat(text) if "-" in text else dt.datetime.strptime(text, "%Y%m%d").date()


def code(cell: Any) -> str | None:
    return None if blank(cell) else normalise_code(str(cell))


def month_end(month: str) -> dt.date:
    following = dt.date(int(month[:4]) + int(month[5:7]) // 12, int(month[5:7]) % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def newest_files(sim: Simulation) -> list[WrittenFile]:
    return [f for f in sim.files if not f.superseded and not f.expected_rejected]


def uvas_files(sim: Simulation, kommunkod: str) -> list[WrittenFile]:
    return [f for f in sim.files if f.project_id == "uvas" and f.kommunkod == kommunkod]


# ---- files and formats -----------------------------------------------------------------------

def test_generating_all_projects_at_scale_one_takes_well_under_ten_seconds(generated):
    assert generated[2] < 10


def test_every_project_municipality_and_month_has_a_file(sim, config, generated):
    inbox = generated[1]
    for project in config.projects:
        for kommunkod in project.municipalities:
            delivered = {f.reporting_month for f in sim.files
                         if f.project_id == project.id and f.kommunkod == kommunkod and not f.superseded
                         and not f.expected_rejected}
            assert delivered == set(project.months()), (project.id, kommunkod)
    for written in sim.files:
        assert written.path.exists()
        assert written.path.parent == inbox / written.project_id / written.kommunkod
        assert written.reporting_month in written.path.name


def test_files_open_in_their_declared_format(sim, contents):
    for written in sim.files:
        raw = written.path.read_bytes()
        if written.fmt == "xlsx":
            assert raw[:2] == b"PK"
        else:
            assert raw.startswith(b"\xef\xbb\xbf") == (written.fmt == "csv-utf8-bom")
            first_line = raw.decode(written.encoding).splitlines()[0]
            assert written.separator in first_line
        assert len(contents[written.path]) == written.n_rows, written.path
    cp1252 = [f for f in sim.files if f.fmt == "csv-cp1252"]
    assert cp1252
    with pytest.raises(UnicodeDecodeError):  # Windows-1252 really is not UTF-8 (åäö in the headers)
        cp1252[0].path.read_bytes().decode("utf-8")
    assert {f.fmt for f in sim.files} == {"csv-utf8", "csv-utf8-bom", "csv-cp1252", "csv-tab", "xlsx"}


def test_every_header_is_a_contract_column_except_one_unknown(sim):
    for written in sim.files:
        unknown = [h for h in written.headers if canonical_column(h) is None]
        assert unknown in ([], ["Enhet"]), written.path
        assert [canonical_column(h) or "" for h in written.headers] == list(written.columns)
        required = {"personnummer", "startdatum"} | (set() if written.expected_rejected else {"fas"})
        assert required <= set(written.columns)


def test_every_valid_row_has_a_real_date_and_valid_check_digit(sim, contents):
    invalid = {(r.file_path, r.row_number) for r in sim.invalid_rows}
    checked = 0
    for path, rows in contents.items():
        for number, row in rows:
            if (path, number) in invalid or blank(row["personnummer"]):
                continue
            digits = pnr_digits(row["personnummer"])
            assert len(digits) in (10, 12) and luhn_ok(digits), (path, number, row["personnummer"])
            month, day = int(digits[-8:-6]), int(digits[-6:-4])
            dt.date(2000 + int(digits[-10:-8]), month, day - 60 if day > 60 else day)  # raises if not a date
            checked += 1
    assert checked > 5000


def test_every_code_spelling_maps_back_to_its_code():
    import random
    rng = random.Random(0)
    for codes in (FAS, AVSLUTSORSAK, *OPTIONAL_CODES.values(), ("K", "M", "X")):
        for value in codes:
            for case in ("upper", "title_sv", "lower_sv", "upper_sv", "title_ascii", "mixed"):
                assert normalise_code(render_code(value, case, rng)) == value


# ---- snapshot semantics ----------------------------------------------------------------------

def test_newest_snapshots_hold_exactly_the_truth_as_of_their_month(sim, contents):
    persons = {p.index: p for p in sim.persons}
    by_muni = defaultdict(list)
    for e in sim.enrolments:
        by_muni[(e.project_id, e.kommunkod)].append(e)
    invalid = {(r.file_path, r.row_number) for r in sim.invalid_rows}
    for written in newest_files(sim):
        last_day = month_end(written.reporting_month)
        follow_up_day = month_end(f"{last_day.year - (last_day.month <= 6)}-{(last_day.month - 7) % 12 + 1:02d}")
        expected = {}
        for e in by_muni[(written.project_id, written.kommunkod)]:
            if e.startdatum <= last_day:
                person = persons[e.person_index]
                who = e.anonym_id if person.anonymous else person.personnummer[2:]
                expected[(who, e.startdatum)] = e
        seen = set()
        for number, row in contents[written.path]:
            if (written.path, number) in invalid:
                continue
            who = row["anonym_id"] if blank(row["personnummer"]) else pnr_digits(row["personnummer"])[-10:]
            key = (who, as_date(row["startdatum"]))
            assert key in expected and key not in seen, (written.path, number)
            seen.add(key)
            e = expected[key]
            ended = e.slutdatum is not None and e.slutdatum <= last_day
            assert as_date(row.get("slutdatum")) == (e.slutdatum if ended else None)
            assert code(row.get("avslutsorsak")) == (e.avslutsorsak if ended else None)
            assert code(row["fas"]) == e.fas_at(written.reporting_month)
            assert code(row.get("kon")) == e.kon_written
            if "uppfoljning_6m" in row:
                due = ended and e.slutdatum <= follow_up_day
                assert code(row["uppfoljning_6m"]) == (e.attributes.get("uppfoljning_6m") if due else None)
            if "forsorjningsstod_slut" in row:
                support_at_end = e.attributes.get("forsorjningsstod_slut")
                assert code(row["forsorjningsstod_slut"]) == (support_at_end if ended else None)
        assert seen == set(expected), written.path


def test_kon_matches_the_sex_digit_of_the_personnummer(sim):
    for person in sim.persons:
        if not person.anonymous:
            assert person.kon == ("M" if int(person.personnummer[8]) % 2 else "K")
            assert person.kon == ("M" if int(person.personnummer[10]) % 2 else "K")
            assert person.kon_reported in (person.kon, "X")


def test_no_person_has_overlapping_enrolments_anywhere_in_a_project(sim):
    spells = defaultdict(list)
    for e in sim.enrolments:
        spells[(e.project_id, e.person_index)].append(e)
    for enrolments in spells.values():
        enrolments.sort(key=lambda e: e.startdatum)
        for earlier, later in zip(enrolments, enrolments[1:]):
            assert earlier.slutdatum is not None and earlier.slutdatum < later.startdatum


def test_enrolments_lie_in_the_project_period_and_age_range(sim, config):
    persons = {p.index: p for p in sim.persons}
    for e in sim.enrolments:
        project = config.project(e.project_id)
        assert project.period_start <= e.startdatum <= project.period_end
        assert e.slutdatum is None or e.startdatum <= e.slutdatum <= project.period_end
        assert (e.slutdatum is None) == (e.avslutsorsak is None)
        birth = persons[e.person_index].birth_date
        age = e.startdatum.year - birth.year - ((e.startdatum.month, e.startdatum.day) < (birth.month, birth.day))
        assert project.age_min <= age <= project.age_max


def test_project_sizes_resemble_the_real_projects(sim):
    sizes = Counter(p.project_id for p in sim.persons)
    assert 360 <= sizes["uvas"] <= 440
    assert 30 <= sizes["fokus_16_25"] <= 50 and 50 <= sizes["ostra_sodertorn"] <= 70
    assert 20 <= sizes["vaga_valja_vag"] <= 30 and 15 <= sizes["harjedalen"] <= 25
    by_muni = Counter(e.kommunkod for e in sim.enrolments if e.project_id == "uvas")
    assert by_muni.most_common(1)[0][0] == "2380"


def test_scale_multiplies_the_number_of_persons(config, tmp_path):
    small = generate_deliveries(config, tmp_path, scale=2.0, project_ids=["harjedalen"])
    assert 36 <= len(small.persons) <= 44


# ---- realism ---------------------------------------------------------------------------------

def _spells(sim: Simulation) -> dict[int, list]:
    spells = defaultdict(list)
    for e in sorted(sim.enrolments, key=lambda e: e.startdatum):
        spells[e.person_index].append(e)
    return spells


def test_persons_reenrol_after_dropping_out_and_some_then_leave_for_activity(sim, config):
    reenrolled = []
    for spells in _spells(sim).values():
        for earlier, later in zip(spells, spells[1:]):
            if earlier.avslutsorsak in ("AVBROTT", "EJ_KONTAKT") and earlier.kommunkod == later.kommunkod:
                reenrolled.append(later)
    assert len(reenrolled) >= 3
    assert any(e.avslutsorsak in config.project(e.project_id).activity_outcomes for e in reenrolled)


def test_persons_move_between_municipalities_of_a_project(sim):
    movers = [later for spells in _spells(sim).values() for earlier, later in zip(spells, spells[1:])
              if earlier.avslutsorsak == "FLYTT" and earlier.kommunkod != later.kommunkod]
    assert len(movers) >= 2


def test_felregistrering_ends_within_days_and_does_not_count(sim):
    mistakes = [e for e in sim.enrolments if e.avslutsorsak == "FELREGISTRERING"]
    assert len(mistakes) >= 3
    assert all(not e.counts and 1 <= (e.slutdatum - e.startdatum).days <= 6 for e in mistakes)
    assert all(e.slutdatum.month == e.startdatum.month for e in mistakes)  # never open at a month's end
    assert all(e.counts for e in sim.enrolments if e.avslutsorsak != "FELREGISTRERING")


def test_samordningsnummer_have_day_plus_sixty(sim):
    numbers = [p for p in sim.persons if p.is_samordningsnummer]
    assert len(numbers) >= 3
    for person in numbers:
        assert int(person.personnummer[6:8]) == person.birth_date.day + 60 and luhn_ok(person.personnummer)


def test_anonymous_participants_have_only_an_anonym_id(sim, contents):
    anonymous = {p.index for p in sim.persons if p.anonymous}
    assert len(anonymous) >= 3
    ids = [e.anonym_id for e in sim.enrolments if e.person_index in anonymous]
    assert all(i and i.startswith("A-") and len(i) == 6 for i in ids)
    rows = [row for rows in contents.values() for _, row in rows if not blank(row.get("anonym_id"))]
    assert rows and all(blank(row["personnummer"]) for row in rows)


def test_personnummer_of_persons_born_in_the_2000s_arrive_as_numbers_without_leading_zero(sim, contents):
    numbers = [row["personnummer"] for f in sim.files if f.fmt == "xlsx" for _, row in contents[f.path]
               if isinstance(row["personnummer"], int)]
    assert numbers
    assert any(len(str(n)) < 10 for n in numbers)


def test_personnummer_forms_vary_between_municipalities(sim, contents):
    shapes = set()
    for written in sim.files:
        for _, row in contents[written.path][:5]:
            value = row["personnummer"]
            if isinstance(value, int):
                shapes.add("number")
            elif not blank(value):
                shapes.add("".join("9" if ch.isdigit() else ch for ch in value))
    assert {"999999-9999", "999999999999", "99999999-9999", "99999999 9999", "number"} <= shapes


def test_headers_and_code_spellings_vary(sim, contents):
    headers = {h for f in sim.files for h in f.headers}
    for variant in ("Personnummer", "Kön", "Inskrivningsdatum", "Steg", "Avslutsanledning", "Födelseregion",
                    "Försörjningsstöd_start", "pnr", "personnummer"):
        assert variant in headers
    fas_cells = {row["fas"] for f in newest_files(sim) for _, row in contents[f.path] if "fas" in row}
    assert {"Möta", "möta", "MOTA", "MÖTA", "Mota"} <= fas_cells


def test_identifier_columns_and_notes_naming_the_person_occur(sim, contents):
    persons = {p.personnummer[2:]: p for p in sim.persons if not p.anonymous}
    columns = {c for f in sim.files for c in f.columns}
    assert {"fornamn", "efternamn", "telefon", "epost", "adress", "anteckning"} <= columns
    named_notes = 0
    for rows in contents.values():
        for _, row in rows:
            note, value = row.get("anteckning"), row["personnummer"]
            if not blank(note) and not blank(value) and pnr_digits(value)[-10:] in persons:
                named_notes += persons[pnr_digits(value)[-10:]].fornamn in note
    assert named_notes > 0


def test_file_names_carry_the_month_in_varied_places(sim):
    names = {f.path.name for f in sim.files}
    assert "2016-03.csv" in names and "uvas_2309_2016-03.xlsx" in names and "leverans 2016-03.csv" in names


def test_arrival_order_follows_month_order_per_municipality(sim):
    files = defaultdict(list)
    for f in sim.files:
        files[(f.project_id, f.kommunkod)].append(f)
    for delivered in files.values():
        by_time = sorted(delivered, key=lambda f: f.mtime)
        assert [f.reporting_month for f in by_time] == sorted(f.reporting_month for f in delivered)
        for f in delivered:
            assert abs(f.path.stat().st_mtime - f.mtime) < 1
            arrival = dt.datetime.fromtimestamp(f.mtime, dt.timezone.utc)
            assert 4 <= arrival.day <= 13 and arrival.strftime("%Y-%m") > f.reporting_month


# ---- noise -----------------------------------------------------------------------------------

def test_invalid_rows_are_extra_rows_with_wrong_check_digits(sim, contents, config):
    assert 3 <= len(sim.invalid_rows) <= 6
    last = config.project("uvas").months()[-1]
    assert any(r.kommunkod == "2380" and r.reporting_month == last for r in sim.invalid_rows)
    assert sum(r.reporting_month < last for r in sim.invalid_rows) >= 2
    real = {p.personnummer[2:] for p in sim.persons if not p.anonymous}
    for invalid in sim.invalid_rows:
        assert invalid.reason_code == "PNR_OGILTIG"
        written = next(f for f in sim.files if f.path == invalid.file_path)
        assert not written.superseded and not written.expected_rejected
        rows = dict(contents[invalid.file_path])
        value = rows[invalid.row_number]["personnummer"]
        assert str(value) == invalid.written_value and not luhn_ok(pnr_digits(value))
        assert pnr_digits(value)[-10:] not in real
        assert written.n_rows - 1 >= 15


def test_resubmission_replaces_a_flawed_last_month_file(sim, contents, config):
    superseded = [f for f in sim.files if f.superseded]
    assert len(superseded) == 1
    flawed = superseded[0]
    assert flawed.project_id == "uvas" and flawed.reporting_month == config.project("uvas").months()[-1]
    corrected = [f for f in sim.files if (f.project_id, f.kommunkod, f.reporting_month)
                 == (flawed.project_id, flawed.kommunkod, flawed.reporting_month) and f is not flawed]
    assert len(corrected) == 1
    assert corrected[0].path.name == f"leverans {flawed.reporting_month} (rättad).csv"
    assert corrected[0].mtime > flawed.mtime and not corrected[0].superseded
    assert flawed.n_rows == corrected[0].n_rows - 2
    assert flawed.path.read_bytes() != corrected[0].path.read_bytes()


def test_file_missing_fas_is_rejected_and_then_corrected(sim, config):
    rejected = [f for f in sim.files if f.expected_rejected]
    assert len(rejected) == 1
    bad = rejected[0]
    assert "fas" not in bad.columns and bad.reporting_month < config.project(bad.project_id).months()[-1]
    fixes = [f for f in sim.files if (f.project_id, f.kommunkod, f.reporting_month)
             == (bad.project_id, bad.kommunkod, bad.reporting_month) and f is not bad]
    assert len(fixes) == 1 and fixes[0].mtime > bad.mtime and "fas" in fixes[0].columns
    assert "(rättad)" in fixes[0].path.name


def test_same_seed_gives_byte_identical_files_whatever_else_is_generated(sim, config, tmp_path):
    subset = ["fokus_16_25", "ostra_sodertorn"]  # noise lives in UVAS, so these match without it
    again = generate_deliveries(config, tmp_path / "a", project_ids=subset, noise=False)
    first = {(f.project_id, f.path.name): f.path.read_bytes() for f in sim.files if f.project_id in subset}
    second = {(f.project_id, f.path.name): f.path.read_bytes() for f in again.files}
    assert first == second
    noisy = [generate_deliveries(config, tmp_path / run, project_ids=["uvas"], until_month="2015-09")
             for run in ("b", "c")]
    assert [(f.path.name, f.mtime, f.path.read_bytes()) for f in noisy[0].files] == [
        (f.path.name, f.mtime, f.path.read_bytes()) for f in noisy[1].files]


def test_other_seed_gives_other_persons(config, tmp_path):
    other = generate_deliveries(config, tmp_path, seed=7, project_ids=["vaga_valja_vag"], noise=False)
    assert not other.invalid_rows and not any(f.superseded or f.expected_rejected for f in other.files)
    first = generate_deliveries(config, tmp_path / "b", project_ids=["vaga_valja_vag"], noise=False)
    assert {p.personnummer for p in other.persons} != {p.personnummer for p in first.persons}


def test_until_month_stops_the_deliveries_and_the_truth(config, tmp_path):
    cut = generate_deliveries(config, tmp_path, project_ids=["uvas"], until_month="2016-01")
    assert max(f.reporting_month for f in cut.files) == "2016-01"
    assert all(e.startdatum <= dt.date(2016, 1, 31) for e in cut.enrolments)
    assert all(e.slutdatum is None or e.slutdatum <= dt.date(2016, 1, 31) for e in cut.enrolments)
    assert any(f.superseded for f in cut.files) and any(f.expected_rejected for f in cut.files)


# ---- truth and identifiers -------------------------------------------------------------------

def test_expected_kpis_are_sane_for_uvas(sim, config):
    uvas = config.project("uvas")
    last = uvas.months()[-1]
    everything = expected_kpis(sim, uvas, "ALL", last)
    assert 300 <= everything["participants"] <= 500
    assert 0.5 <= everything["activity_share"] <= 0.75
    assert everything["exited"] + everything["active_participants"] == everything["participants"]
    areas = [expected_kpis(sim, uvas, code, last) for code in uvas.municipalities]
    assert sum(a["participants"] for a in areas) > everything["participants"]  # movers count in each
    first = expected_kpis(sim, uvas, "ALL", uvas.months()[0])
    assert first["participants"] == first["new_participants"] >= len(uvas.municipalities)
    assert expected_kpis(sim, uvas, "2380", "2015-05")["activity_share"] is None
    news = sum(expected_kpis(sim, uvas, "ALL", m)["new_participants"] for m in uvas.months())
    assert news == everything["participants"]


def test_kon_and_phase_breakdowns_sum_to_their_totals(sim, config):
    uvas = config.project("uvas")
    for period in ("2016-06", uvas.months()[-1]):
        totals = expected_kpis(sim, uvas, "ALL", period)
        for kpi in ("participants", "active_participants", "exited", "moved_to_activity"):
            groups = expected_kon_breakdown(sim, uvas, "ALL", period, kpi)
            assert sum(groups.values()) == totals[kpi] and {"K", "M", "X"} <= set(groups)
        assert sum(expected_phase_counts(sim, uvas, "ALL", period).values()) == totals["active_participants"]


def test_identifiers_cover_every_written_direct_identifier(sim, contents):
    identifiers = sim.identifiers()
    for rows in contents.values():
        for _, row in rows:
            for column in ("personnummer", "fornamn", "efternamn", "telefon", "epost", "adress"):
                if column in row and not blank(row[column]):
                    assert str(row[column]) in identifiers, (column, row[column])
    person = next(p for p in sim.persons if not p.anonymous)
    pnr = person.personnummer
    assert {pnr, pnr[2:], f"{pnr[:8]}-{pnr[8:]}", f"{pnr[2:8]}-{pnr[8:]}", person.fornamn, person.efternamn,
            person.telefon, person.epost, person.adress} <= identifiers


def test_simulation_round_trips_through_json(sim, tmp_path):
    sim.to_json(tmp_path / "truth.json")
    again = Simulation.from_json(tmp_path / "truth.json")
    assert again == sim


def test_generator_does_not_import_the_pipeline_it_checks():
    forbidden = ("orchestration.privacy", "orchestration.ingest", "orchestration.quality")
    for source in GENERATOR_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith(forbidden) for n in names), source


def test_catalogue_styles_declare_known_formats():
    assert {s.fmt for s in CATALOGUE} == {"csv-utf8", "csv-utf8-bom", "csv-cp1252", "csv-tab", "xlsx"}
