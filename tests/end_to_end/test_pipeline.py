"""The whole pipeline on generated deliveries, checked against the generator's own truth.

One run for the module: generate every example project's deliveries, run intake → pseudonymise →
validate → dbt → export through Dagster, then compare the KPI marts with values computed in
tests/truth.py straight from the simulated persons.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.home import DataHome
from orchestration.projects.config import load_projects
from orchestration.reporting.export import KPI_COLUMNS
from tests.truth import expected_kon_breakdown, expected_kpis, same, sample_periods

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(demo_pipeline):
    """The session's one run over the demo data (tests/conftest.py), as a tuple."""
    run = demo_pipeline
    return run.home, run.config, run.simulation, run.outcome, run.exported, run.internal


def kpi_table(home: DataHome) -> dict[tuple, float | None]:
    connection = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        rows = connection.execute(
            "select project_id, area, period, kpi, breakdown, breakdown_group, value from marts.kpi_values").fetchall()
    finally:
        connection.close()
    return {tuple(row[:6]): row[6] for row in rows}


def test_every_delivery_got_a_verdict_and_only_the_broken_file_was_rejected(pipeline):
    _, _, simulation, outcome, _, _ = pipeline
    verdicts = {(d.project_id, d.kommunkod, d.file_name): d.verdict for d in outcome.deliveries}
    files = [*simulation.files, *simulation.mapping.files]     # enrolment snapshots and mapping files
    assert len(verdicts) == len(files)
    for file in files:
        verdict = verdicts[(file.project_id, file.kommunkod, file.path.name)]
        assert (verdict == "REJECTED") == getattr(file, "expected_rejected", False), file.path.name


def test_the_file_every_view_shows_in_force_is_the_snapshot_the_kpis_are_built_from(pipeline):
    """The views read landing.delivery_states; dbt's marts take the rule from it
    (stg_landing__delivery_states): on the demo, with its resubmission and its corrected rejection,
    they agree."""
    home, _, simulation, *_ = pipeline
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        views = dict(db.execute("select delivery_id, in_force from landing.delivery_states").fetchall())
        marts = dict(db.execute("select delivery_id, is_current from marts.fct_deliveries").fetchall())
        states = db.execute("select state, count(*) from landing.delivery_states group by all").fetchall()
    assert views == marts
    # the generator's record: a superseded file is replaced by its resubmission, a rejected one
    # is followed by its correction; the mapping files have their resubmission too (in force within
    # their kind)
    written = [*simulation.files, *simulation.mapping.files]
    rejected = [f for f in written if getattr(f, "expected_rejected", False)]
    assert dict(states) == {"GALLER": sum(1 for f in written if not f.superseded and f not in rejected),
                            "ERSATT": sum(1 for f in written if f.superseded),
                            "AVVISAD_RATTAD": len(rejected)}


def test_kpis_equal_the_generators_truth_for_every_project_area_and_sampled_month(pipeline):
    home, config, simulation, _, _, _ = pipeline
    table = kpi_table(home)
    mismatches = []
    checked = 0
    for project in config.projects:
        for period in sample_periods(project.months()):
            for area in ("ALL", *project.municipalities):
                truth = expected_kpis(simulation, project, area, period)
                for kpi in ("participants", "moved_to_activity", "activity_share", "new_participants",
                            "active_participants", "exited", "exit_activity_share"):
                    actual = table.get((project.id, area, period, kpi, "total", "T"))
                    checked += 1
                    if not same(actual, truth[kpi]):
                        mismatches.append((project.id, area, period, kpi, actual, truth[kpi]))
    assert checked > 400
    assert mismatches == []


def test_kon_breakdown_matches_truth_and_sums_to_total(pipeline):
    home, config, simulation, _, _, _ = pipeline
    table = kpi_table(home)
    for project in config.projects:
        period = project.months()[-1]
        for area in ("ALL", *project.municipalities):
            for kpi in ("participants", "moved_to_activity"):
                truth = expected_kon_breakdown(simulation, project, area, period, kpi)
                actual = {g: table.get((project.id, area, period, kpi, "kon", g)) for g in truth}
                assert actual == truth, (project.id, area, kpi)
                total = table[(project.id, area, period, kpi, "total", "T")]
                groups = [v for (p, a, per, k, b, g), v in table.items()
                          if (p, a, per, k, b) == (project.id, area, period, kpi, "kon")]
                assert sum(groups) == total


def test_a_mover_counts_once_in_all_and_once_in_each_municipality(pipeline):
    home, config, simulation, _, _, _ = pipeline
    table = kpi_table(home)
    uvas = config.project("uvas")
    areas_of = defaultdict(set)
    for e in simulation.enrolments:
        if e.project_id == "uvas" and e.counts:
            areas_of[e.person_index].add(e.kommunkod)
    movers = [p for p, areas in areas_of.items() if len(areas) > 1]
    assert movers, "the generator should simulate movers"
    period = uvas.months()[-1]
    by_area = sum(table[("uvas", a, period, "participants", "total", "T")] for a in uvas.municipalities)
    overall = table[("uvas", "ALL", period, "participants", "total", "T")]
    # Everyone counts once in ALL; each mover once more for every further municipality.
    assert by_area - overall == sum(len(areas_of[p]) - 1 for p in movers) > 0


def test_felregistrering_never_counts(pipeline):
    home, config, simulation, _, _, _ = pipeline
    table = kpi_table(home)
    mistaken = [e for e in simulation.enrolments if not e.counts]
    assert mistaken, "the generator should simulate FELREGISTRERING"
    # Areas where counting the mistaken enrolments would change participants at the last month.
    sensitive = 0
    for e in mistaken:
        project = config.project(e.project_id)
        period = project.months()[-1]
        others = [o for o in simulation.enrolments if o.person_index == e.person_index and o.counts
                  and o.project_id == e.project_id and o.kommunkod == e.kommunkod]
        if not others:
            sensitive += 1
            truth = expected_kpis(simulation, project, e.kommunkod, period)["participants"]
            assert table[(e.project_id, e.kommunkod, period, "participants", "total", "T")] == truth
    assert sensitive > 0


def test_invalid_personnummer_is_quarantined_while_the_rest_of_its_file_counts(pipeline):
    home, _, simulation, _, _, _ = pipeline
    assert simulation.invalid_rows
    connection = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        for invalid in simulation.invalid_rows:
            delivery = connection.execute(
                "select delivery_id, verdict, rows_total, rows_accepted, rows_rejected from landing.deliveries "
                "where project_id = ? and kommunkod = ? and file_name = ?",
                [invalid.project_id, invalid.kommunkod, Path(invalid.file_path).name]).fetchone()
            assert delivery is not None
            delivery_id, verdict, total, accepted, rejected = delivery
            assert verdict == "ACCEPTED_WITH_WARNINGS"
            assert (accepted, rejected) == (total - 1, 1)
            reasons = connection.execute(
                "select reason_code, column_name, message from landing.quarantine_rows "
                "where delivery_id = ? and row_number = ?", [delivery_id, invalid.row_number]).fetchall()
            assert [r[:2] for r in reasons] == [("PNR_OGILTIG", "personnummer")]
            assert invalid.written_value not in reasons[0][2]
            counted = connection.execute(
                "select count(*) from landing.enrolment_rows where delivery_id = ?", [delivery_id]).fetchone()[0]
            assert counted == total - 1
    finally:
        connection.close()


def test_funder_table_has_exactly_the_spec_columns_and_the_newest_period(pipeline):
    _, config, _, _, exported, internal = pipeline
    assert {e.project_id for e in exported} == {p.id for p in config.projects}
    for file in exported:
        with file.path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        assert tuple(reader.fieldnames) == KPI_COLUMNS
        assert {r["period"] for r in rows} == {config.project(file.project_id).months()[-1]}
        for row in rows:
            if row["suppressed"] == "true":
                assert row["value"] == row["numerator"] == row["denominator"] == ""
    for file in internal:
        assert file.path.name == "kpi_internal.csv"
        with file.path.open(encoding="utf-8", newline="") as handle:
            assert {r["suppressed"] for r in csv.DictReader(handle)} == {"false"}


def test_uvas_headline_targets_are_carried_into_the_funder_table(pipeline):
    _, _, simulation, _, exported, _ = pipeline
    uvas = next(e for e in exported if e.project_id == "uvas")
    with uvas.path.open(encoding="utf-8", newline="") as handle:
        rows = {(r["area"], r["kpi"], r["breakdown"], r["group"]): r for r in csv.DictReader(handle)}
    participants = rows[("ALL", "participants", "total", "T")]
    share = rows[("ALL", "activity_share", "total", "T")]
    truth = expected_kpis(simulation, load_projects().project("uvas"), "ALL", "2018-06")
    assert int(participants["value"]) == truth["participants"]
    assert participants["target"] == "350"
    assert participants["target_met"] == ("true" if truth["participants"] >= 350 else "false")
    assert math.isclose(float(share["value"]), truth["activity_share"], abs_tol=1e-6)
    assert share["target"] == "0.5"
