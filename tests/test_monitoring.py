"""Missing deliveries and target pace, on a hand-made warehouse."""

from __future__ import annotations

import datetime as dt

import duckdb

from orchestration.lib.warehouse import ensure_schema
from orchestration.projects.config import load_projects
from orchestration.reporting.monitoring import missing_deliveries, pacing


def warehouse_with(path, deliveries, participants):
    ensure_schema(path)
    db = duckdb.connect(str(path))
    for i, (project, kommun, month, verdict) in enumerate(deliveries):
        db.execute("insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
                   "archive_path, sha256, size_bytes, received_at, status, verdict) values (?, ?, ?, ?, 'f.csv', 'a', 's', 1, ?, "
                   "'VALIDATED', ?)", [f"d{i}", project, kommun, month, dt.datetime(2020, 1, 1), verdict])
    db.execute("create schema marts")
    db.execute("create table marts.kpi_values (project_id varchar, area varchar, period varchar, kpi varchar, "
               "breakdown varchar, breakdown_group varchar, value double)")
    if participants:
        db.executemany("insert into marts.kpi_values values (?, 'ALL', ?, 'participants', 'total', 'T', ?)", participants)
    db.close()


def test_a_municipality_without_an_accepted_delivery_for_the_newest_month_is_missing(tmp_path):
    config = load_projects()
    fokus = config.project("fokus_16_25")
    deliveries = [("fokus_16_25", "2029", "2019-02", "ACCEPTED"), ("fokus_16_25", "2031", "2019-02", "REJECTED"),
                  ("fokus_16_25", "2026", "2019-01", "ACCEPTED"), ("fokus_16_25", "2031", "2019-01", "ACCEPTED")]
    warehouse_with(tmp_path / "w.duckdb", deliveries, [])
    missing = missing_deliveries(tmp_path / "w.duckdb", config)
    assert {(m.kommunkod, m.reporting_month) for m in missing} == {("2031", "2019-02"), ("2026", "2019-02")}
    assert set(fokus.municipalities) == {"2029", "2031", "2026"}


def test_a_project_below_its_linear_pace_is_behind(tmp_path):
    config = load_projects()
    # UVAS: 350 over 37 months; after 10 months the pace is 350 * 10 / 37 = 94.6.
    warehouse_with(tmp_path / "w.duckdb", [], [("uvas", "2016-03", 90.0)])
    pace, = pacing(tmp_path / "w.duckdb", config)
    assert round(pace.expected_by_now, 1) == round(350 * 10 / 37, 1) and pace.behind
    warehouse_with(tmp_path / "v.duckdb", [], [("uvas", "2016-03", 95.0)])
    assert not pacing(tmp_path / "v.duckdb", config)[0].behind
