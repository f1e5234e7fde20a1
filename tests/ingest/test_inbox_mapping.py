"""Mapping files (kartläggning) in the inbox: `inbox/<project>/<kommunkod>/kartlaggning/` (however
the municipality spells the folder) is walked like the municipality folder, its files are routed
as deliveries of the kind KARTLAGGNING, and only for a project with an instrument; every reader of
the inbox (intake, the sensor's fingerprint, the no-op digest, the disk-space estimate) agrees.

Real files in a real data home, taken by the real intake; ids recomputed here with hashlib.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest

from orchestration.automation.definitions import inbox_fingerprint
from orchestration.ingest.inbox import FILE, FOLDER, SYMLINK, delivery_id_for, scan_inbox, walk_inbox
from orchestration.ingest.intake import run_intake
from orchestration.lib import last_run
from orchestration.projects.config import load_projects
from orchestration.runner import space_for_run
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, month_start, rows_for
from tests.bad_inputs.scenario import query, write_file
from tests.bad_inputs.stages import new_home

VVV, FLEN = "vaga_valja_vag", "0482"          # a project with an instrument (example_projects.yaml)
UVAS, KOMMUN = "uvas", "2380"                 # a project without one
TODAY = dt.date(2013, 6, 15)


@pytest.fixture
def home(tmp_path, pseudonym_key):
    return new_home(tmp_path / "home")


def mapping_csv(persons: int = 3) -> bytes:
    people = PersonFactory().take(1991, persons)
    return csv_bytes(["personnummer", "besvarad", "paverka_vardag"],
                     [[p.ten, "2009-10-12", "3"] for p in people])


def enrolment_csv(month: str, persons: int = 3) -> bytes:
    return csv_bytes(HEADER, rows_for(PersonFactory().take(1991, persons), month_start(month)))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_id(project: str, kommunkod: str, month: str, digest: str, kind: str | None = None) -> str:
    """The delivery id, worked out here: an enrolment's exactly as before issue 18."""
    key = f"{project}|{kommunkod}|{month}|{digest}" + (f"|{kind}" if kind else "")
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def deliveries(home) -> dict[str, tuple]:
    return {name: tuple(rest) for name, *rest in query(
        home, "select file_name, delivery_id, extract_kind, project_id, kommunkod, reporting_month, status, "
              "verdict, verdict_reason from landing.deliveries")}


def test_the_mapping_folder_is_walked_and_not_reported_while_a_folder_inside_it_is(home):
    municipality = home.inbox / VVV / FLEN
    write_file(municipality / "kartlaggning" / "2009-10.csv", mapping_csv())
    write_file(municipality / "Kartläggning" / "2009-11 svar.csv", mapping_csv())
    write_file(municipality / "kartlaggning" / "gamla" / "2009-09.csv", mapping_csv())
    write_file(municipality / "2009-10.csv", enrolment_csv("2009-10"))
    write_file(municipality / "återkoppling" / "status.html", b"<p>ours</p>")
    write_file(home.inbox / VVV / "kartlaggning" / "2009-10.csv", mapping_csv())        # depth 2: no municipality
    (municipality / "annat").mkdir()
    (home.inbox / UVAS / KOMMUN).mkdir(parents=True)
    os.symlink(municipality / "kartlaggning", home.inbox / UVAS / KOMMUN / "kartlaggning")

    entries = {relative: kind for _, relative, kind, _ in walk_inbox(home.inbox)}
    assert entries == {
        f"{VVV}/{FLEN}/kartlaggning/2009-10.csv": FILE,
        f"{VVV}/{FLEN}/Kartläggning/2009-11 svar.csv": FILE,
        f"{VVV}/{FLEN}/kartlaggning/gamla": FOLDER,
        f"{VVV}/{FLEN}/kartlaggning/gamla/2009-09.csv": FILE,
        f"{VVV}/{FLEN}/2009-10.csv": FILE,
        f"{VVV}/{FLEN}/annat": FOLDER,
        f"{VVV}/kartlaggning/2009-10.csv": FILE,
        f"{UVAS}/{KOMMUN}/kartlaggning": SYMLINK,                 # a link is never walked, whatever its name
    }
    fingerprint = inbox_fingerprint(home)
    assert f"{VVV}/{FLEN}/kartlaggning" not in fingerprint[VVV]
    assert f"{VVV}/{FLEN}/Kartläggning/2009-11 svar.csv" in fingerprint[VVV]

    report = run_intake(home, load_projects(), today=TODAY)
    routed = {r.file.relative: r for r in report.new}
    unrouted = {u.file.relative: u.reason_code for u in report.unrouted}
    assert set(routed) == {f"{VVV}/{FLEN}/kartlaggning/2009-10.csv", f"{VVV}/{FLEN}/Kartläggning/2009-11 svar.csv",
                           f"{VVV}/{FLEN}/2009-10.csv"}
    assert unrouted == {
        f"{VVV}/{FLEN}/kartlaggning/gamla": "MAPP_I_KOMMUNMAPPEN",
        f"{VVV}/{FLEN}/kartlaggning/gamla/2009-09.csv": "FEL_PLATS",
        f"{VVV}/{FLEN}/annat": "MAPP_I_KOMMUNMAPPEN",
        f"{VVV}/kartlaggning/2009-10.csv": "OKAND_KOMMUN",            # a municipality folder of that name
        f"{UVAS}/{KOMMUN}/kartlaggning": "SYMBOLISK_LANK",
    }


def test_mapping_files_are_deliveries_of_their_own_kind_and_enrolment_ids_are_unchanged(home):
    municipality = home.inbox / VVV / FLEN
    lower = municipality / "kartlaggning" / "2009-10.csv"
    upper = municipality / "Kartläggning" / "2009-11 svar.csv"
    enrolment = municipality / "2009-10.csv"
    write_file(lower, mapping_csv(3))
    write_file(upper, mapping_csv(4))
    write_file(enrolment, enrolment_csv("2009-10"))
    run_intake(home, load_projects(), today=TODAY)

    by_id = {row[0]: row for row in query(
        home, "select delivery_id, extract_kind, project_id, kommunkod, reporting_month, file_name, status "
              "from landing.deliveries")}
    assert by_id == {
        expected_id(VVV, FLEN, "2009-10", sha(lower), "KARTLAGGNING"):
            (expected_id(VVV, FLEN, "2009-10", sha(lower), "KARTLAGGNING"), "KARTLAGGNING", VVV, FLEN, "2009-10",
             "2009-10.csv", "RECEIVED"),
        expected_id(VVV, FLEN, "2009-11", sha(upper), "KARTLAGGNING"):
            (expected_id(VVV, FLEN, "2009-11", sha(upper), "KARTLAGGNING"), "KARTLAGGNING", VVV, FLEN, "2009-11",
             "2009-11 svar.csv", "RECEIVED"),
        expected_id(VVV, FLEN, "2009-10", sha(enrolment)):
            (expected_id(VVV, FLEN, "2009-10", sha(enrolment)), "INSKRIVNING", VVV, FLEN, "2009-10", "2009-10.csv",
             "RECEIVED"),
    }
    # the function itself: an enrolment's id is the one every existing warehouse holds
    assert delivery_id_for(UVAS, KOMMUN, "2016-03", "ab" * 32) == expected_id(UVAS, KOMMUN, "2016-03", "ab" * 32)

    # the same bytes as an enrolment file and as a mapping file are two deliveries
    same = municipality / "kartlaggning" / "2009-12.csv"
    write_file(same, enrolment.read_bytes())
    write_file(municipality / "2009-12.csv", enrolment.read_bytes())
    report = run_intake(home, load_projects(), today=TODAY)
    assert sorted((r.extract_kind, r.reporting_month) for r in report.new) == [
        ("INSKRIVNING", "2009-12"), ("KARTLAGGNING", "2009-12")]
    assert len({r.delivery_id for r in report.new}) == 2


def test_a_mapping_file_for_a_project_without_an_instrument_is_not_ingested_and_says_why(home):
    path = home.inbox / UVAS / KOMMUN / "kartlaggning" / "2016-03.csv"
    write_file(path, mapping_csv())
    report = run_intake(home, load_projects(), today=TODAY)
    assert not report.new
    [(relative, code, message, archived)] = query(
        home, "select inbox_path, reason_code, message, archive_path from landing.unrouted_files")
    assert (relative, code) == (f"{UVAS}/{KOMMUN}/kartlaggning/2016-03.csv", "KARTLAGGNING_SAKNAS")
    assert "ingen kartläggning konfigurerad" in message and f"inkorg/{UVAS}/{KOMMUN}/" in message
    assert archived and (home.root / archived).read_bytes() == path.read_bytes()   # nothing delivered is lost
    assert query(home, "select count(*) from landing.deliveries") == [(0,)]


def test_month_rules_apply_to_mapping_files_as_to_enrolment_files(home, monkeypatch):
    folder = home.inbox / VVV / FLEN / "kartlaggning"
    write_file(folder / "svar utan månad.csv", mapping_csv())
    write_file(folder / "2013-07.csv", mapping_csv())                    # after TODAY's month
    write_file(folder / "2009-09 stor.csv", mapping_csv() + b"0" * (1 << 20))
    monkeypatch.setenv("FOLLOWUP_MAX_FILE_MB", "1")
    report = run_intake(home, load_projects(), today=TODAY)
    assert {u.file.name: u.reason_code for u in report.unrouted} == {"svar utan månad.csv": "MANAD_SAKNAS"}
    found = deliveries(home)
    assert found["2013-07.csv"][1:] == ("KARTLAGGNING", VVV, FLEN, "2013-07", "VALIDATED", "REJECTED",
                                        "MANAD_I_FRAMTIDEN")
    assert found["2009-09 stor.csv"][1:] == ("KARTLAGGNING", VVV, FLEN, "2009-09", "VALIDATED", "REJECTED",
                                             "FIL_FOR_STOR")


def test_readers_of_the_inbox_see_a_received_mapping_file_as_received(home):
    folder = home.inbox / VVV / FLEN / "Kartläggning"
    write_file(folder / "2009-10.csv", mapping_csv(20))
    write_file(home.inbox / VVV / FLEN / "2009-10.csv", enrolment_csv("2009-10", 20))
    before = space_for_run(home).new_inbox_bytes
    assert before == sum(p.stat().st_size for p in (folder / "2009-10.csv", home.inbox / VVV / FLEN / "2009-10.csv"))
    run_intake(home, load_projects(), today=TODAY)
    assert space_for_run(home).new_inbox_bytes == 0                     # both kinds counted as received
    write_file(folder / "2009-11.csv", mapping_csv(5))
    assert space_for_run(home).new_inbox_bytes == (folder / "2009-11.csv").stat().st_size

    # writing feedback beside the mapping folder is no change in the inbox, for the sensor and the no-op check
    fingerprint, digest = inbox_fingerprint(home), last_run.inputs_digest(home, None, TODAY)
    write_file(home.inbox / VVV / FLEN / "återkoppling" / "2009-10_kartlaggning_0123abcd.html", b"<p>ours</p>")
    assert (inbox_fingerprint(home), last_run.inputs_digest(home, None, TODAY)) == (fingerprint, digest)
    # a new mapping file is a change for both
    write_file(folder / "2009-12.csv", mapping_csv(2))
    assert inbox_fingerprint(home) != fingerprint and last_run.inputs_digest(home, None, TODAY) != digest
    assert f"{VVV}/{FLEN}/Kartläggning/2009-12.csv" in {f.relative for f in scan_inbox(home.inbox)}
