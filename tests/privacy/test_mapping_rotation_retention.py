"""Key rotation and retention treat mapping deliveries like enrolment deliveries: a new key
re-pseudonymises the mapping rows and answers from the archive (the person still one across
enrolment and mapping), and `purge-raw` deletes a mapping file's archive and inbox copies past
retention, never one still waiting."""

from __future__ import annotations

import datetime as dt

from orchestration.ingest.intake import run_intake
from orchestration.privacy.keys import load_key
from orchestration.privacy.retention import purge_raw
from orchestration.privacy.rotation import rotate_key
from orchestration.privacy.stage import pseudonymise_pending
from orchestration.projects.config import load_projects
from orchestration.quality.stage import validate_pending
from tests.bad_inputs.builders import HEADER as ENROLMENT_HEADER
from tests.bad_inputs.builders import PersonFactory, csv_bytes, rows_for
from tests.bad_inputs.mapping import HEADER, KOMMUNKOD, PROJECT, deliver_mapping, mapping_row, prepared_home
from tests.bad_inputs.scenario import query, write_file
from tests.bad_inputs.stages import new_home

STATE = ("select coalesce(extract_kind, 'INSKRIVNING') as kind, status, verdict, rows_total, rows_accepted, "
         "rows_warned from landing.deliveries order by kind")


def _stages(home, config) -> None:
    run_intake(home, config)
    pseudonymise_pending(home, load_key(home.root))
    validate_pending(home, config)


def test_rotation_re_pseudonymises_mapping_rows_and_answers(tmp_path):
    home = new_home(tmp_path / "home")
    config = prepared_home(home)
    people = PersonFactory().take(1990, 3)
    write_file(home.inbox / PROJECT / KOMMUNKOD / "2009-09.csv", csv_bytes(ENROLMENT_HEADER, rows_for(people, "2009-09-01")))
    run_intake(home, config)
    deliver_mapping(home, csv_bytes(HEADER, [mapping_row(p) for p in people[1:]]
                                    + [mapping_row(people[0], fysiskt_aktiv_dagar="9")]))   # a warning, answer dropped
    _stages(home, config)
    before = query(home, STATE)
    assert [(kind, verdict) for kind, _, verdict, *_ in before] == [("INSKRIVNING", "ACCEPTED"),
                                                                    ("KARTLAGGNING", "ACCEPTED_WITH_WARNINGS")]
    old_ids = {p for (p,) in query(home, "select person_id from landing.mapping_rows")}
    answers = query(home, "select count(*) from landing.mapping_answers")
    assert len(old_ids) == 3 and answers[0][0] > 0

    report = rotate_key(home, load_key(home.root))
    assert report.deliveries_reset == 2
    for table in ("mapping_pseudonymised_rows", "mapping_pseudonymised_answers", "mapping_rows", "mapping_answers",
                  "enrolment_rows", "quarantine_rows"):
        assert query(home, f"select count(*) from landing.{table}") == [(0,)], table
    assert {status for _, status, *_ in query(home, STATE)} == {"RECEIVED"}

    _stages(home, config)
    assert query(home, STATE) == before
    assert query(home, "select count(*) from landing.mapping_answers") == answers
    new_ids = {p for (p,) in query(home, "select person_id from landing.mapping_rows")}
    assert len(new_ids) == 3 and not new_ids & old_ids
    assert new_ids <= {p for (p,) in query(home, "select person_id from landing.enrolment_rows")}


def test_purge_raw_deletes_a_mapping_files_copies_past_retention_and_keeps_a_waiting_one(tmp_path):
    home = new_home(tmp_path / "home")
    prepared_home(home, load_projects())
    people = PersonFactory().take(1990, 4)
    old = csv_bytes(HEADER, [mapping_row(p) for p in people[:2]])
    waiting = csv_bytes(HEADER, [mapping_row(p, "2009-11-10") for p in people[2:]])
    inbox_copy = home.inbox / PROJECT / KOMMUNKOD / "kartlaggning" / "2009-10.csv"
    write_file(inbox_copy, old)
    old_id = deliver_mapping(home, old, received_at=dt.datetime(2009, 11, 2, 8, 0))
    pseudonymise_pending(home, load_key(home.root))
    validate_pending(home, load_projects())
    waiting_id = deliver_mapping(home, waiting, file_name="2009-11.csv", received_at=dt.datetime(2009, 12, 2, 8, 0))
    (old_path,), (waiting_path,) = (query(home, "select archive_path from landing.deliveries where delivery_id = ?", [d])[0]
                                    for d in (old_id, waiting_id))

    report = purge_raw(home, older_than_days=30, now=dt.datetime(2010, 6, 1))

    assert [(f.kind, f.sha256) for f, _ in report.deleted] == [
        ("delivery", query(home, "select sha256 from landing.deliveries where delivery_id = ?", [old_id])[0][0])]
    assert report.kept_pending == 1
    assert not (home.root / old_path).exists() and not inbox_copy.exists()
    assert (home.root / waiting_path).exists()
    assert query(home, "select kind, deliveries, inbox_copies_deleted from landing.raw_purges") == [("delivery", 1, 1)]
    assert query(home, "select count(*) from landing.mapping_rows where delivery_id = ?", [old_id]) == [(2,)]
