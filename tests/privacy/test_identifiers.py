"""Nothing identifying downstream of the pseudonymise stage, on the session's one demo run.

The generated deliveries carry names, phone numbers, e-mail addresses, street addresses and
notes that name the person, give their number and phone (orchestration/generator/presentation.py).
After the run every warehouse table, report, export, log, the Dagster event log (SQLite, read
both as bytes and table by table) and the compute logs are scanned for every generated identifier
in every written form: 12 and 10 digits, with and without separator, the Excel number, the phone
in its written, digit-only and +46 forms, names, e-mail and street. The raw files (inbox/,
archive/) are the control: the same scan must find identifiers there.
"""

from __future__ import annotations

import re
from collections import defaultdict

import dagster as dg
import duckdb
import pytest

from orchestration.generator.personnummer import written_forms
from orchestration.generator.presentation import HARMLESS_KEPT
from orchestration.privacy.keys import key_path
from orchestration.privacy.scrub import LABELS, UNSCRUBBABLE
from tests.identifier_scan import (
    compute_log_files,
    dagster_text,
    data_home_text,
    files_text,
    find_identifiers,
    identifier_tokens,
    sqlite_text,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(demo_pipeline):
    return demo_pipeline


@pytest.fixture(scope="module")
def tokens(run):
    return identifier_tokens(run.simulation.identifiers())


@pytest.fixture(scope="module")
def downstream(run) -> dict[str, str]:
    texts = data_home_text(run.home)
    for file in [*run.exported, *run.internal]:           # the funder exports written outside the home
        texts.update(files_text(file.path.parent))
    return texts


def select(run, sql: str) -> list[tuple]:
    connection = duckdb.connect(str(run.home.warehouse), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def run_metadata(run) -> list[tuple[str, str, object]]:
    """(asset or check, metadata key, value) of every materialisation and check in the run."""
    with dg.DagsterInstance.from_config(str(run.home.dagster)) as instance:
        entries = instance.all_logs(run.outcome.run_id)
    found = []
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        if event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            found += [(materialization.asset_key.to_user_string(), k, v) for k, v in materialization.metadata.items()]
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            found += [(f"check {data.check_name}", k, v) for k, v in data.metadata.items()]
    return found


# --- The input really carries identifiers, in the notes too ------------------------------------

def test_generated_notes_name_the_person_and_give_their_number_phone_e_mail_and_street(run):
    persons = {p.index: p for p in run.simulation.persons}
    kinds = defaultdict(int)
    for enrolment in run.simulation.enrolments:
        note, person = enrolment.anteckning, persons[enrolment.person_index]
        if not note or person.anonymous:
            continue
        digits = re.sub(r"\D", "", note)
        kinds["personnummer"] += any(form in note for form in written_forms(person.personnummer))
        kinds["telefon"] += person.telefon.replace(" ", "").replace("-", "")[1:] in digits
        kinds["e-post"] += person.epost in note
        kinds["fornamn"] += person.fornamn in note
        kinds["efternamn"] += person.efternamn in note
        kinds["adress"] += person.adress in note
    # Counted per enrolment; each note is repeated in every monthly snapshot of the enrolment.
    assert all(kinds[k] >= 3 for k in ("personnummer", "telefon", "e-post", "fornamn", "efternamn", "adress")), kinds
    assert sum(kinds.values()) > 100, kinds


def test_the_scan_finds_the_identifiers_in_the_raw_files(run, tokens):
    """The control: the same scan over what municipalities sent finds every kind of identifier."""
    digits, words = tokens
    found = set()
    for text in files_text(run.home.archive).values():
        found |= find_identifiers(text, digits, words)
    assert len({f for f in found if f.isdigit()}) > 500
    assert len({f for f in found if not f.isdigit()}) > 100


# --- Nothing downstream ------------------------------------------------------------------------

def test_no_identifier_in_any_table_report_export_log_event_log_or_compute_log(run, tokens, downstream):
    digits, words = tokens
    assert len(digits) > 1000 and len(words) > 300
    home = run.home
    # Every kind of output is really in the scan (an empty scan finds nothing too).
    names = set(downstream)
    assert any(name.endswith("marts.kpi_values") for name in names)
    assert any(name.endswith("landing.enrolment_rows") for name in names)
    assert any(name.startswith(str(home.reports)) and name.endswith(".html") for name in names)
    assert any(name.startswith(str(home.reports)) and name.endswith(".csv") for name in names)
    assert any(name.startswith(str(home.exports)) and name.endswith("kpi.csv") for name in names)
    assert any("kpi.xlsx!xl/worksheets/" in name for name in names)          # the workbook, unzipped
    assert any("kpi_internal.xlsx!xl/worksheets/" in name for name in names)
    assert any(name.startswith(str(home.root / "logs")) for name in names)
    compute_logs = compute_log_files(home.dagster)
    assert compute_logs and all(str(p) in names for p in compute_logs)
    event_log = [name for name in names if name.endswith(":event_logs")]
    # (a backfill logs only its newest months as partitions: the demo's run writes ~500 events)
    assert event_log and sum(downstream[name].count("\n") for name in event_log) > 200
    leaks = {name: sorted(found)[:5] for name, text in downstream.items()
             if (found := find_identifiers(text, digits, words))}
    assert leaks == {}


def test_notes_reach_the_warehouse_scrubbed_with_their_harmless_numbers_kept(run):
    notes = [n for (n,) in select(run, "select distinct anteckning from landing.enrolment_rows "
                                       "where anteckning is not null")]
    text = "\n".join(notes)
    for label in LABELS.values():
        assert label in text, label
    for kept in HARMLESS_KEPT:
        assert kept in text, kept
    assert UNSCRUBBABLE not in text
    counts = dict(select(run, "select anteckning is not null, count(*) from landing.enrolment_rows group by 1"))
    assert counts[True] > 500


def test_the_warehouse_has_no_identifier_column(run):
    columns = {c for (c,) in select(run, "select distinct column_name from information_schema.columns")}
    assert not {"personnummer", "fornamn", "efternamn", "telefon", "epost", "adress", "namn"} & columns


def test_asset_metadata_holds_counts_and_summaries_never_rows(run):
    metadata = run_metadata(run)
    assert len(metadata) > 100
    pseudonymise = {k: v.value for asset, k, v in metadata if asset == "pseudonymised_rows"}
    assert set(pseudonymise) == {"leveranser", "rader", "unika personer", "filer som inte kunde läsas",
                                 "anteckningar sparade", "ersättningar i anteckningar",
                                 "tagna ensamma efter avbrutna körningar", "varav kartläggningsfiler",
                                 "kartläggningsrader", "kartläggningssvar"}
    assert pseudonymise["varav kartläggningsfiler"] > 0 and pseudonymise["kartläggningssvar"] > 0
    assert all(isinstance(v, int) for k, v in pseudonymise.items() if k != "ersättningar i anteckningar")
    assert re.fullmatch(r"(\[[a-z-]+\] \d+)(, \[[a-z-]+\] \d+)*", pseudonymise["ersättningar i anteckningar"])
    for label in LABELS.values():
        assert label in pseudonymise["ersättningar i anteckningar"]
    # No table of rows anywhere, and no pseudonym or note text in any value.
    assert not [(a, k) for a, k, v in metadata if isinstance(v, dg.TableMetadataValue)]
    person_ids = {p for (p,) in select(run, "select distinct person_id from landing.enrolment_rows where person_id is not null "
                                          "union select distinct person_id from landing.mapping_rows")}
    notes = {n for (n,) in select(run, "select distinct anteckning from landing.enrolment_rows where anteckning is not null "
                                       "union select distinct answer_text from landing.mapping_answers "
                                       "where answer_text is not null")}
    assert len(person_ids) > 500 and notes
    for asset, key, value in metadata:
        text = str(value.value)
        tokens = set(re.findall(r"[A-Z0-9]{8,}", text))
        assert not tokens & person_ids, (asset, key)
        assert not [n for n in notes if n in text], (asset, key)


def test_the_pseudonym_key_is_nowhere_in_the_warehouse_reports_exports_logs_or_dagster(run, downstream):
    key = key_path(run.home.root).read_text(encoding="utf-8").strip()
    assert len(key) >= 32
    assert [name for name, text in downstream.items() if key in text] == []
    # Neither in the run's own log nor in anything that names a failure.
    assert key not in run.outcome.log_path.read_text(encoding="utf-8")
    assert key not in repr(run.outcome)
    # The control: the same search finds it where it lives.
    assert any(key in text for text in files_text(run.home.secrets).values())


def test_event_log_is_read_table_by_table_as_well_as_byte_by_byte(run):
    databases = sorted(run.home.dagster.rglob("*.db"))
    assert databases
    tables = {}
    for database in databases:
        tables.update(sqlite_text(database))
    assert any(name.endswith(":event_logs") and "ASSET_MATERIALIZATION" in text for name, text in tables.items())
    assert set(tables) <= set(dagster_text(run.home.dagster))


# --- Anonymous participants --------------------------------------------------------------------

def test_anonymous_participants_count_once_in_their_municipality_and_are_never_linked(run):
    persons = {p.index: p for p in run.simulation.persons}
    truth = defaultdict(set)        # (project, kommun) -> simulated anonymous persons
    places_of_id = defaultdict(set)  # anonym_id as written -> (project, kommun)
    for e in run.simulation.enrolments:
        if persons[e.person_index].anonymous:
            truth[(e.project_id, e.kommunkod)].add(e.person_index)
            places_of_id[e.anonym_id].add((e.project_id, e.kommunkod))
    # The generator numbers each municipality's anonymous participants from A-0001, so the same
    # anonym_id is written in several municipalities and projects, the same kommun included.
    shared = [places for places in places_of_id.values() if len(places) > 1]
    assert shared and any(len({p for p, _ in places}) > 1 for places in shared)
    assert any(len({k for _, k in places}) < len(places) for places in shared)

    rows = select(run, "select d.project_id, d.kommunkod, e.person_id from landing.enrolment_rows e "
                       "join landing.deliveries d using (delivery_id) where e.is_anonymous")
    warehouse = defaultdict(set)
    places_of_pseudonym = defaultdict(set)
    for project_id, kommunkod, person_id in rows:
        warehouse[(project_id, kommunkod)].add(person_id)
        places_of_pseudonym[person_id].add((project_id, kommunkod))
    assert {place: len(ids) for place, ids in warehouse.items()} == {place: len(ids) for place, ids in truth.items()}
    assert all(len(places) == 1 for places in places_of_pseudonym.values())
    assert all(p.startswith("A") for p in places_of_pseudonym)
    named = {p for (p,) in select(run, "select distinct person_id from landing.enrolment_rows where not is_anonymous")}
    assert not named & set(places_of_pseudonym)
