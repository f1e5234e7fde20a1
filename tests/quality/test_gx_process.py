"""GX in its own process (quality/gx_process.py): the same counts as GX run here, errors raised
in the caller, a dead child a clear failure and replaced, and no pseudonym key in its environment."""

from __future__ import annotations

import copy
import json
import os
import signal

import duckdb
import pytest

from orchestration.quality.gx_process import GxProcess, GxUnavailable
from orchestration.quality.validate import COUNTING_FORMAT, ENROLMENT_SUITE, _gx_results, suite_from_document

DOCUMENT = json.loads(ENROLMENT_SUITE.read_text(encoding="utf-8"))
PARAMETERS = {"age_min": 16, "age_max": 29}


def _part(folder) -> tuple:
    """Rows breaking three rules, as the stage hands them to GX: a Parquet file DuckDB wrote."""
    db = duckdb.connect()
    db.execute("""create table part (delivery_id varchar, row_number integer, person_id varchar, is_anonymous boolean,
                  pnr_status varchar, age_at_start integer, startdatum date, startdatum_raw_ok boolean, slutdatum date,
                  slutdatum_raw_ok boolean, avslutsorsak varchar, fas varchar, kommunkod_in_file varchar,
                  rapportmanad_in_file varchar, notes varchar)""")
    db.execute("""insert into part values
        ('d1', 2, 'p1', false, 'OK', 20, '2021-01-05', true, null, true, null, 'KARTLAGGNING', null, null, null),
        ('d1', 3, null, false, 'OGILTIG', 20, '2021-01-05', true, null, true, null, 'KARTLAGGNING', null, null, null),
        ('d1', 4, 'p3', false, 'OK', 40, '2021-01-05', true, null, true, null, 'SOVA', null, null, null),
        ('d1', 5, 'p4', false, 'OK', 20, null, false, null, true, null, 'KARTLAGGNING', null, null, null)""")
    path = folder / "part.parquet"
    db.execute(f"copy part to '{path}' (format parquet)")
    return path, db.execute("select * from part").df()


@pytest.fixture
def gx():
    process = GxProcess()
    yield process
    process.close()
    assert process.pid is None


def test_the_child_counts_as_gx_in_this_process(gx, tmp_path) -> None:
    part, frame = _part(tmp_path)
    here = {(item.expectation_config.type, json.dumps(item.expectation_config.meta, sort_keys=True)):
            (bool(item.success), int(item.result.get("unexpected_count") or 0))
            for item in _gx_results(frame.copy(), suite_from_document(DOCUMENT, "here"), PARAMETERS, COUNTING_FORMAT)}
    there = {(item.expectation_type, json.dumps(item.meta, sort_keys=True)): (item.success, item.unexpected)
             for item in gx.count(DOCUMENT, "there", part, PARAMETERS)}
    assert there == here and len(here) == len(DOCUMENT["expectations"])
    assert sum(unexpected for _, unexpected in there.values()) >= 3     # the three broken rows are counted


def test_an_expectation_gx_does_not_know_is_raised_in_the_caller_and_the_child_goes_on(gx, tmp_path) -> None:
    """Raised as a built-in exception: the caller never imports GX."""
    wrong = copy.deepcopy(DOCUMENT)
    wrong["expectations"][0]["type"] = "expect_column_values_to_be_sovande"
    part, _ = _part(tmp_path)
    with pytest.raises(RuntimeError, match="expect_column_values_to_be_sovande"):
        gx.count(wrong, "wrong", part, PARAMETERS)
    assert len(gx.count(DOCUMENT, "right", part, PARAMETERS)) == len(DOCUMENT["expectations"])


def test_a_child_that_dies_is_a_clear_failure_and_the_next_count_starts_a_new_one(gx, tmp_path) -> None:
    part, _ = _part(tmp_path)
    gx.count(DOCUMENT, "first", part, PARAMETERS)
    first = gx.pid
    os.kill(first, signal.SIGKILL)
    with pytest.raises(GxUnavailable, match="avslutades oväntat.*inga utfall skrevs"):
        gx.count(DOCUMENT, "after the kill", part, PARAMETERS)
    assert gx.pid is None
    assert len(gx.count(DOCUMENT, "again", part, PARAMETERS)) == len(DOCUMENT["expectations"])
    assert gx.pid not in (None, first)


def test_the_child_has_no_pseudonym_key_and_no_analytics(gx, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FOLLOWUP_PSEUDONYM_KEY", "nyckel-som-inte-ska-följa-med")
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "true")
    part, _ = _part(tmp_path)
    gx.count(DOCUMENT, "started", part, PARAMETERS)        # the child is up (read before, /proc may still be empty)
    environment = open(f"/proc/{gx.pid}/environ", "rb").read().split(b"\0")
    assert not any(entry.startswith(b"FOLLOWUP_PSEUDONYM_KEY=") for entry in environment)
    assert b"GX_ANALYTICS_ENABLED=false" in environment and any(entry.startswith(b"PATH=") for entry in environment)


def test_parts_a_stopped_run_left_are_cleared_and_nothing_else(tmp_path) -> None:
    from orchestration.quality.validate import GX_SPOOL, clear_spool

    spool = tmp_path / GX_SPOOL
    spool.mkdir()
    (spool / "gx-part-abc.parquet.tmp").write_bytes(b"PAR1")
    (spool / "anteckning.txt").write_text("inte vår", encoding="utf-8")
    clear_spool(tmp_path / "warehouse.duckdb")
    assert sorted(p.name for p in spool.iterdir()) == ["anteckning.txt"]
    clear_spool(tmp_path / "elsewhere" / "warehouse.duckdb")      # no spool yet: nothing to do
