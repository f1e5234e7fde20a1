"""The corpus of bad inputs (tests/bad_inputs/corpus.py), all in one inbox with good files, through
one run of the real pipeline. For each bad input: its verdict and message, nothing of it in the
marts, the file archived as received; and every other delivery of the run processed."""

from __future__ import annotations

import hashlib
import html
import re

import pytest

from orchestration.reporting.delivery_report import report_paths
from tests.bad_inputs.builders import PersonFactory
from tests.bad_inputs.corpus import build_corpus
from tests.bad_inputs.scenario import query, shared_scenario

pytestmark = pytest.mark.slow

CORPUS = build_corpus(PersonFactory())          # for the test ids; the scenario builds its own
BAD = [c for c in CORPUS if c.outcome != "accepted"]
TOLERATED = [c for c in CORPUS if c.outcome == "accepted"]
PERSON_TABLES = ("landing.enrolment_rows", "intermediate.int_enrolments_current", "marts.fct_enrolments")


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    scenario = shared_scenario(tmp_path_factory)
    return scenario, scenario.at("first")


def _case(scenario, name):
    return next(c for c in scenario.cases if c.name == name)


def _delivery(home, case):
    project, kommunkod, _ = case.relative.split("/", 2)
    rows = query(home, "select delivery_id, status, verdict, verdict_reason, verdict_message, rows_total, "
                       "rows_accepted, archive_path, sha256, received_at, reporting_month from landing.deliveries "
                       "where project_id = ? and kommunkod = ? and file_name = ?",
                 [project, kommunkod, case.file_name])
    assert len(rows) == 1, (case.name, rows)
    return dict(zip(("delivery_id", "status", "verdict", "reason", "message", "rows_total", "rows_accepted",
                     "archive_path", "sha256", "received_at", "month"), rows[0]))


def test_the_corpus_holds_at_least_30_bad_inputs():
    assert len(BAD) >= 30
    assert len({c.name for c in CORPUS}) == len(CORPUS)
    assert len({c.relative for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("name", [c.name for c in BAD])
def test_bad_input_gets_its_verdict_and_a_message_saying_what_to_do(first, name):
    scenario, stage = first
    case = _case(scenario, name)
    if case.outcome == "rejected":
        d = _delivery(stage.home, case)
        assert (d["status"], d["verdict"], d["reason"]) == ("VALIDATED", "REJECTED", case.reason)
        message = d["message"]
        if case.rows_total is not None:
            assert (d["rows_total"], d["rows_accepted"]) == (case.rows_total, 0)
        reported = [line for line in stage.outcome.deliveries if line.file_name == case.file_name
                    and line.kommunkod == case.relative.split("/")[1]]
        assert [(line.verdict, line.reason) for line in reported] == [("REJECTED", case.reason)]
    else:
        rows = query(stage.home, "select reason_code, message from landing.unrouted_files where inbox_path = ?",
                     [case.relative])
        assert len(rows) == 1 and rows[0][0] == case.reason
        message = rows[0][1]
        assert (case.relative, message) in stage.outcome.not_ingested
        assert query(stage.home, "select count(*) from landing.deliveries where file_name = ? and project_id = ?",
                     [case.file_name, case.project_id])[0][0] == 0
    for fragment in case.message:
        assert fragment in message, (fragment, message)
    # Plain Swedish that says what to do, and never a personnummer.
    assert re.search(r"[Ss]kicka|[Ll]ägg|[Ff]lytta|[Dd]öp om|[Rr]ätta|[Ss]para|[Tt]a bort", message), message
    assert not re.search(r"\d{6}[-+]?\d{4}", message), message
    for person in case.persons:
        assert not any(form in message for form in person.written_forms())


@pytest.mark.parametrize("name", [c.name for c in BAD])
def test_nothing_of_a_bad_input_reaches_the_warehouse_tables_or_the_marts(first, name):
    scenario, stage = first
    case = _case(scenario, name)
    pseudonyms = [scenario.pseudonym(p) for p in case.persons]
    for table in PERSON_TABLES:
        found = query(stage.home, f"select count(*) from {table} where person_id in (select unnest(?))", [pseudonyms])
        assert found == [(0,)], (table, case.name)
    if case.outcome == "rejected":
        delivery_id = _delivery(stage.home, case)["delivery_id"]
        for table in (*PERSON_TABLES, "landing.pseudonymised_rows"):
            assert query(stage.home, f"select count(*) from {table} where delivery_id = ?", [delivery_id]) == [(0,)]
        in_force = query(stage.home, "select count(*) from intermediate.int_snapshots_ranked "
                                     "where delivery_id = ? and is_current_snapshot", [delivery_id])
        assert in_force == [(0,)]


@pytest.mark.parametrize("name", [c.name for c in BAD])
def test_bad_input_is_archived_as_received_and_left_in_the_inbox(first, name):
    scenario, stage = first
    case = _case(scenario, name)
    inbox_copy = stage.home.inbox / case.relative
    if case.content is None:     # a symbolic link is never followed, read or copied
        assert inbox_copy.is_symlink()
        rows = query(stage.home, "select archive_path, sha256 from landing.unrouted_files where inbox_path = ?",
                     [case.relative])
        assert rows[0][0] is None
        target = (stage.home.root / case.link_target).read_bytes()
        digest = hashlib.sha256(target).hexdigest()
        assert not list(stage.home.archive.rglob(f"{digest}*"))
        return
    assert inbox_copy.read_bytes() == case.content
    digest = hashlib.sha256(case.content).hexdigest()
    if case.outcome == "rejected":
        d = _delivery(stage.home, case)
        archive_path, recorded, received = d["archive_path"], d["sha256"], d["received_at"]
    else:
        archive_path, recorded, received = query(
            stage.home, "select archive_path, sha256, received_at from landing.unrouted_files where inbox_path = ?",
            [case.relative])[0]
    assert recorded == digest and received is not None
    archived = stage.home.root / archive_path
    assert digest in archived.name and archived.read_bytes() == case.content


@pytest.mark.parametrize("name", [c.name for c in BAD if c.outcome == "rejected"])
def test_a_rejected_file_has_a_delivery_report_with_its_reason(first, name):
    scenario, stage = first
    case = _case(scenario, name)
    d = _delivery(stage.home, case)
    page, rows_csv = report_paths(stage.home.reports, case.project_id, case.relative.split("/")[1], d["month"], d["sha256"])
    text = page.read_text(encoding="utf-8")
    assert "Avvisad – hela filen räknas inte" in text
    assert case.reason in text and html.escape(d["message"]) in text
    assert "Vad ni gör nu" in text and "ersätter då den här filen" in text
    assert rows_csv.exists()


def test_every_good_delivery_of_the_same_run_was_processed_and_counts(first):
    scenario, stage = first
    assert query(stage.home, "select count(*) from landing.deliveries where status <> 'VALIDATED'") == [(0,)]
    for good in scenario.good.files:
        rows = query(stage.home, "select delivery_id, verdict, rows_total, rows_accepted, rows_rejected "
                                 "from landing.deliveries where kommunkod = ? and file_name = ?",
                     [good.kommunkod, good.file_name])
        assert len(rows) == 1, good.name
        delivery_id, verdict, total, accepted, rejected = rows[0]
        expected = "ACCEPTED_WITH_WARNINGS" if good.rows_rejected or good.warnings else "ACCEPTED"
        assert (verdict, total, accepted, rejected) == (expected, good.rows_total, good.rows_total - good.rows_rejected,
                                                        good.rows_rejected), good.name
        in_marts = {r[0] for r in query(stage.home, "select person_id from marts.fct_enrolments where delivery_id = ?",
                                        [delivery_id])}
        assert in_marts == {scenario.pseudonym(p) for p in good.persons}, good.name


@pytest.mark.parametrize("name", [c.name for c in TOLERATED])
def test_odd_but_readable_file_is_accepted_and_counts(first, name):
    scenario, stage = first
    case = _case(scenario, name)
    d = _delivery(stage.home, case)
    assert d["verdict"] in ("ACCEPTED", "ACCEPTED_WITH_WARNINGS")
    assert (d["rows_total"], d["rows_accepted"]) == (case.rows_total, case.rows_accepted)
    in_marts = {r[0] for r in query(stage.home, "select person_id from marts.fct_enrolments where delivery_id = ?",
                                    [d["delivery_id"]])}
    expected = {scenario.pseudonym(p) for p in case.persons}
    assert len(in_marts) == case.rows_accepted and in_marts <= expected


def test_the_hundred_thousand_row_file_is_quarantined_row_by_row(first):
    scenario, stage = first
    case = _case(scenario, "hundred_thousand_rows_all_invalid")
    d = _delivery(stage.home, case)
    counts = query(stage.home, "select count(*), count(distinct row_number), min(row_number), max(row_number), "
                               "count(distinct reason_code) from landing.quarantine_rows where delivery_id = ?",
                   [d["delivery_id"]])
    assert counts == [(100_000, 100_000, 2, 100_001, 1)]
    _, rows_csv = report_paths(stage.home.reports, "uvas", "2380", d["month"], d["sha256"])
    lines = rows_csv.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 100_001 and lines[1].startswith("2;personnummer;AVVISAD;PNR_OGILTIG;Rad 2, kolumn personnummer")
