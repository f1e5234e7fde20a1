"""Validation in batches of reporting months gives the same verdicts as one pass over everything.

A national backfill is validated a few months at a time so that memory stays bounded
(quality/stage.py), and a month larger than a batch in parts of whole deliveries. The one rule
that looks across deliveries, a person enrolled in another municipality at the same time, must
find the same rows whether the other municipality's snapshot was validated in an earlier batch,
in the same one, or in another part of the same month. Three data homes get the same files and
the same key; one validates month by month, one delivery at a time, one in one batch.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from benchmarks.generate import generate, month_list
from orchestration.ingest.intake import run_intake
from orchestration.privacy.keys import key_path, load_key
from orchestration.privacy.stage import pseudonymise_pending
from orchestration.projects.config import load_projects
from orchestration.quality.stage import validate_pending
from tests.bad_inputs.scenario import query
from tests.bad_inputs.stages import new_home

MONTHS = month_list("2021-01", 6)

_DELIVERIES = ("select kommunkod, reporting_month, status, verdict, verdict_reason, rows_total, rows_accepted, "
               "rows_rejected, rows_warned from landing.deliveries order by 1, 2")
_ENROLMENTS = ("select d.kommunkod, d.reporting_month, e.row_number, e.person_id, e.startdatum, e.slutdatum, e.fas, "
               "e.warnings from landing.enrolment_rows e join landing.deliveries d using (delivery_id) order by 1, 2, 3")
_QUARANTINE = ("select d.kommunkod, d.reporting_month, q.row_number, q.reason_code, q.message "
               "from landing.quarantine_rows q join landing.deliveries d using (delivery_id) order by 1, 2, 3, 4")
_WARNINGS = ("select d.kommunkod, d.reporting_month, w.row_number, w.warning_code, w.message "
             "from landing.row_warnings w join landing.deliveries d using (delivery_id) order by 1, 2, 3, 4")


def add_concurrent_enrolments(project_dir: Path, kommuner: list[str]) -> None:
    """Three persons open in the first municipality's February snapshot also appear, from the
    same start date, in the second municipality's snapshots from March on (the generator's movers
    always end one enrolment before the next). The first municipality misses April, so the
    second's April rows meet its March snapshot, validated in an earlier batch."""
    with (project_dir / kommuner[0] / f"{MONTHS[1]}.csv").open(encoding="utf-8", newline="") as handle:
        doubled = [row for row in list(csv.reader(handle))[1:] if not row[2]][:3]
    assert len(doubled) == 3
    for month in MONTHS[2:]:
        path = project_dir / kommuner[1] / f"{month}.csv"
        arrived = path.stat().st_mtime
        with path.open("a", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(doubled)
        os.utime(path, (arrived, arrived))
    (project_dir / kommuner[0] / f"{MONTHS[3]}.csv").unlink()


def test_month_batches_give_the_verdicts_of_one_pass(tmp_path: Path) -> None:
    generated = generate(tmp_path / "files", tmp_path / "projects.yaml", project_id="batches", municipalities=3,
                         months=MONTHS, new_per_month=12, presentation="utf8", invalid_share=0.01, seed=7)
    add_concurrent_enrolments(tmp_path / "files" / "batches", generated.kommunkoder)
    config = load_projects(generated.config_path)
    tables = {}
    first_key = None
    for name, batch_rows in (("month_by_month", None), ("delivery_by_delivery", 1), ("one_batch", 10**9)):
        home = new_home(tmp_path / name)
        if first_key is None:
            first_key = key_path(home.root)
        else:                                   # the same key, so the same pseudonyms in both homes
            shutil.copyfile(first_key, key_path(home.root))
        shutil.copytree(tmp_path / "files", home.inbox, dirs_exist_ok=True)
        run_intake(home, config)
        pseudonymise_pending(home, load_key(home.root))
        if batch_rows is None:                  # each month its own batch, no month split
            batch_rows = max(n for _, n in query(home, "select d.reporting_month, count(*) from landing.pseudonymised_rows "
                                                       "join landing.deliveries d using (delivery_id) group by 1"))
        report = validate_pending(home, config, batch_rows=batch_rows)
        assert len(report.verdicts) == len(generated.files) - 1
        tables[name] = {sql: query(home, sql) for sql in (_DELIVERIES, _ENROLMENTS, _QUARANTINE, _WARNINGS)}
        tables[name]["pending"] = query(home, "select count(*) from landing.pseudonymised_rows")

    whole = tables["one_batch"]
    # The scenario exercises what batching could break: people active in two municipalities at
    # once (found across batches) and rows the contract rejects.
    concurrent = [w for w in whole[_WARNINGS] if w[3] == "AKTIV_I_ANNAN_KOMMUN"]
    # Both municipalities' rows are warned, March to June, but the first has no April file.
    kommuner = generated.kommunkoder
    assert sorted((w[0], w[1]) for w in concurrent) == sorted(
        [(kommuner[1], month) for month in MONTHS[2:] for _ in range(3)]
        + [(kommuner[0], month) for month in MONTHS[2:] if month != MONTHS[3] for _ in range(3)])
    assert whole[_QUARANTINE]
    assert all(d[2] == "VALIDATED" for d in whole[_DELIVERIES]) and whole["pending"] == [(0,)]
    for batched in (tables["month_by_month"], tables["delivery_by_delivery"]):
        for sql in (_DELIVERIES, _ENROLMENTS, _QUARANTINE, _WARNINGS, "pending"):
            assert batched[sql] == whole[sql], sql


def test_gx_disagreeing_in_its_thread_stops_the_stage_before_a_batch_is_committed(tmp_path: Path, monkeypatch) -> None:
    """GX counts each part in a thread while the batch is written (validate.SuiteCheck): a count
    that differs from the SQL's must still stop the stage with nothing of the batch committed."""
    import copy
    import json

    from orchestration.quality import stage
    from orchestration.quality.suite_sql import translate
    from orchestration.quality.validate import ENROLMENT_SUITE, GX_SPOOL, Contract, SuiteDisagreement

    generated = generate(tmp_path / "files", tmp_path / "projects.yaml", project_id="batches", municipalities=2,
                         months=MONTHS[:2], new_per_month=12, presentation="utf8", seed=7)
    config = load_projects(generated.config_path)
    home = new_home(tmp_path / "home")
    shutil.copytree(tmp_path / "files", home.inbox, dirs_exist_ok=True)
    run_intake(home, config)
    pseudonymise_pending(home, load_key(home.root))
    document = json.loads(ENROLMENT_SUITE.read_text(encoding="utf-8"))
    wrong = copy.deepcopy(document)      # the SQL finds every row in phase 1 unknown, GX none
    fas = next(e for e in wrong["expectations"] if e["meta"]["reason_code"] == "FAS_OKAND")
    phases = query(home, "select distinct fas from landing.pseudonymised_rows where fas is not null order by 1")
    fas["kwargs"]["value_set"].remove(phases[0][0])
    monkeypatch.setattr(stage, "load_contract", lambda: Contract(document, str(ENROLMENT_SUITE), translate(wrong, "wrong")))
    before = query(home, _DELIVERIES)
    try:
        validate_pending(home, config, batch_rows=10**9)
    except SuiteDisagreement as error:
        assert "FAS_OKAND" in str(error) and "inga utfall skrevs" in str(error)
    else:
        raise AssertionError("the stage wrote verdicts GX disagrees with")
    assert query(home, _DELIVERIES) == before and {d[2] for d in before} == {"PSEUDONYMISED"}
    assert not list((home.warehouse.parent / GX_SPOOL).iterdir())     # every part GX was handed is deleted
    assert query(home, "select count(*) from landing.enrolment_rows") == [(0,)]
    assert query(home, "select count(*) from landing.pseudonymised_rows")[0][0] > 0
