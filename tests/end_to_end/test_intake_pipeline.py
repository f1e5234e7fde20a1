"""Idempotency, crash safety and resubmissions through the whole pipeline (dbt and marts included).

The stages of tests/bad_inputs/scenario.py: after the corpus run, a run with nothing new; then
resubmissions land and a `followup run` subprocess is killed inside intake's transaction; then
the next run takes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import sqlite3

import pytest

from tests.bad_inputs.scenario import query, shared_scenario, warehouse_contents

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return shared_scenario(tmp_path_factory)


def files_with_content(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def files_with_mtime(folder) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_run_with_no_new_files_does_nothing_and_says_so(scenario):
    first, rerun = scenario.at("first"), scenario.at("rerun")
    assert rerun.outcome.success and rerun.outcome.deliveries == [] and rerun.outcome.not_ingested == []
    assert rerun.outcome.nothing_new_since is not None and rerun.outcome.run_id == first.outcome.run_id
    # No Dagster run, no dbt, not a byte written: the warehouse, the serving copy, the reports and
    # the exports are the files the first run left (contents and modification times).
    assert dagster_runs(rerun.home) == dagster_runs(first.home) == [first.outcome.run_id]
    assert sorted(p.name for p in (rerun.home.root / "dbt-target").iterdir()) == [first.outcome.run_id]
    for folder in (rerun.home.reports, rerun.home.exports, rerun.home.root / "serving", rerun.home.archive):
        assert files_with_content(folder) == files_with_content(first.home.root / folder.name), folder.name
        assert files_with_mtime(folder) == files_with_mtime(first.home.root / folder.name), folder.name
    for name in ("warehouse.duckdb", "last-run.json"):
        assert (rerun.home.root / name).read_bytes() == (first.home.root / name).read_bytes(), name
    assert "marts.kpi_values" in warehouse_contents(rerun.home)


def dagster_runs(home) -> list[str]:
    with contextlib.closing(sqlite3.connect(home.dagster / "history" / "runs.db")) as db:
        return [row[0] for row in db.execute("select run_id from runs order by create_timestamp")]


@pytest.mark.parametrize("stage", ["first", "resubmit"])
def test_dbt_writes_its_log_and_compiled_sql_under_the_run_in_the_data_home(scenario, stage):
    home = scenario.at(stage).home
    newest = max((home.root / "dbt-target").iterdir(), key=lambda p: p.stat().st_mtime)
    logs = "".join(p.read_text(encoding="utf-8", errors="replace") for p in newest.glob("dbt.log*"))
    assert "Running with dbt=" in logs and "Completed successfully" in logs
    assert "Unable to do partial parsing" not in logs
    assert any((newest / "compiled").rglob("kpi_values.sql"))
    assert not (home.root / "dbt").exists() and not (home.root / "logs" / "dbt.log").exists()


def test_no_duplicate_rows_in_the_marts_after_two_runs(scenario):
    home = scenario.at("rerun").home
    keys = {
        "marts.fct_enrolments": "enrolment_row_id",
        "marts.fct_deliveries": "delivery_id",
        "marts.kpi_values": "project_id, area, period, kpi, breakdown, breakdown_group",
        "landing.deliveries": "delivery_id",
        "landing.enrolment_rows": "delivery_id, row_number",
        "landing.quarantine_rows": "delivery_id, row_number, reason_code",
        "landing.unrouted_files": "inbox_path, sha256",
    }
    for table, key in keys.items():
        total, distinct = query(home, f"select count(*), count(distinct ({key})) from {table}")[0]
        assert total == distinct > 0, table


def test_a_run_killed_inside_intake_leaves_the_warehouse_as_it_was(scenario):
    rerun, crash = scenario.at("rerun"), scenario.at("crash")
    killed = crash.extra["killed"]
    assert killed["returncode"] == -signal.SIGKILL           # really killed, not finished
    assert killed["paused_pid"] == killed["pid"]               # ... inside intake's open transaction
    assert warehouse_contents(crash.home) == warehouse_contents(rerun.home)
    # The files it was taking in are still in the inbox, and nothing of them is recorded.
    resubmissions = scenario.resubmissions
    for relative in (resubmissions.corrected.relative, resubmissions.broken_relative):
        assert (crash.home.inbox / relative).exists()
        name = relative.rsplit("/", 1)[-1]
        assert query(crash.home, "select count(*) from landing.deliveries where file_name = ?", [name]) == [(0,)]


def test_the_run_after_the_crash_completes_and_takes_the_resubmissions(scenario):
    resubmit = scenario.at("resubmit")
    lines = {(d.kommunkod, d.file_name): (d.verdict, d.reason) for d in resubmit.outcome.deliveries}
    r = scenario.resubmissions
    assert lines == {
        ("2303", r.corrected.file_name): ("ACCEPTED_WITH_WARNINGS", None),
        ("2309", r.broken_relative.rsplit("/", 1)[-1]): ("REJECTED", "KOLUMN_SAKNAS"),
    }
    assert query(resubmit.home, "select count(*) from landing.deliveries where status <> 'VALIDATED'") == [(0,)]
    printed = resubmit.extra["output"]
    assert "Avvisad (KOLUMN_SAKNAS)" in printed and "Godkänd med anmärkningar" in printed
    assert "avvisad, en tidigare godkänd leverans gäller fortfarande" in printed     # the failed correction


def test_a_corrected_resubmission_replaces_the_earlier_snapshot_in_the_marts(scenario):
    first, resubmit = scenario.at("first"), scenario.at("resubmit")
    r = scenario.resubmissions
    in_marts_before = {row[0] for row in query(first.home, "select person_id from marts.fct_enrolments where kommunkod = '2303'")}
    in_marts = {row[0] for row in query(resubmit.home, "select person_id from marts.fct_enrolments where kommunkod = '2303'")}
    assert scenario.pseudonym(r.dropped) in in_marts_before and scenario.pseudonym(r.dropped) not in in_marts
    assert scenario.pseudonym(r.added) not in in_marts_before and scenario.pseudonym(r.added) in in_marts
    assert in_marts == {scenario.pseudonym(p) for p in r.corrected.persons}
    current = query(resubmit.home, "select file_name from intermediate.int_snapshots_ranked "
                                   "where kommunkod = '2303' and reporting_month = '2016-03' and is_current_snapshot")
    assert current == [(r.corrected.file_name,)]
    participants = query(resubmit.home, "select value from marts.kpi_values where project_id = 'uvas' and area = '2303' "
                                        "and period = '2016-03' and kpi = 'participants' and breakdown = 'total'")
    assert participants == [(len(r.corrected.persons),)]


def test_a_byte_identical_resubmission_is_a_no_op(scenario):
    resubmit = scenario.at("resubmit")
    r = scenario.resubmissions
    name = r.identical_relative.rsplit("/", 1)[-1]
    assert query(resubmit.home, "select count(*) from landing.deliveries where file_name = ?", [name]) == [(0,)]
    digest = hashlib.sha256(r.identical_of.content).hexdigest()
    assert query(resubmit.home, "select file_name from landing.deliveries where sha256 = ?", [digest]) == [
        (r.identical_of.file_name,)]


def test_a_rejected_resubmission_keeps_the_previous_snapshot_in_force_in_the_marts(scenario):
    first, resubmit = scenario.at("first"), scenario.at("resubmit")
    r = scenario.resubmissions
    before = query(first.home, "select delivery_id, person_id from marts.fct_enrolments where kommunkod = '2309' order by all")
    after = query(resubmit.home, "select delivery_id, person_id from marts.fct_enrolments where kommunkod = '2309' order by all")
    assert after == before and {p for _, p in after} == {scenario.pseudonym(p) for p in r.broken_of.persons}


def test_every_file_ever_received_is_in_the_archive_with_its_sha256(scenario):
    home = scenario.at("resubmit").home
    rows = query(home, "select archive_path, sha256 from landing.deliveries union all "
                       "select archive_path, sha256 from landing.unrouted_files where archive_path is not null")
    assert len(rows) >= len(scenario.cases) + len(scenario.good.files) + 1
    for archive_path, digest in rows:
        assert hashlib.sha256((home.root / archive_path).read_bytes()).hexdigest() == digest
    for content in (scenario.resubmissions.corrected.content, scenario.resubmissions.broken):
        digest = hashlib.sha256(content).hexdigest()
        assert query(home, "select count(*) from landing.deliveries where sha256 = ?", [digest]) == [(1,)]
