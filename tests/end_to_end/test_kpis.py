"""Every KPI and breakdown of kpis.md on the demo data, against the generator's truth.

Uses the session's one whole-pipeline run (tests/conftest.py `demo_pipeline`) and compares
marts.kpi_values for every project, the whole project (ALL) and each municipality, at the last
month and two earlier ones, with tests/truth.py, which computes the same figures straight from
the simulated persons without the warehouse, dbt or pseudonyms.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pytest

from tests.truth import BREAKDOWNS, expected_cells, expected_overlap, same, sample_periods

pytestmark = pytest.mark.slow

EVERY_KPI = {
    "participants", "new_participants", "active_participants", "exited", "moved_to_activity",
    "activity_share", "exit_activity_share", "not_known_share", "income_support_start_share",
    "income_support_end_share", "outcome_6m_activity_share", "from_other_project_share",
    "median_days_to_activity", "phase_hitta", "phase_mota", "phase_aktivera", "phase_matcha",
}
PROJECT_WIDE = {"participants_target_share", "reach", "participants_pace_target"}


@pytest.fixture(scope="module")
def kpi_table(demo_pipeline) -> dict[tuple[str, str, str], dict[tuple[str, str, str], tuple]]:
    """(project, area, period) → (kpi, breakdown, group) → (value, kpi_type)."""
    connection = duckdb.connect(str(demo_pipeline.home.warehouse), read_only=True)
    try:
        rows = connection.execute(
            "select project_id, area, period, kpi, breakdown, breakdown_group, value, kpi_type "
            "from marts.kpi_values").fetchall()
    finally:
        connection.close()
    table: dict[tuple[str, str, str], dict[tuple[str, str, str], tuple]] = defaultdict(dict)
    for project_id, area, period, kpi, breakdown, group, value, kpi_type in rows:
        table[(project_id, area, period)][(kpi, breakdown, group)] = (value, kpi_type)
    return table


def test_every_kpi_and_breakdown_equals_the_truth_for_every_area_and_sampled_month(demo_pipeline, kpi_table):
    config, simulation = demo_pipeline.config, demo_pipeline.simulation
    mismatches, checked = [], 0
    for project in config.projects:
        for period in sample_periods(project.months()):
            for area in ("ALL", *project.municipalities):
                truth = expected_cells(simulation, project, area, period)
                actual = kpi_table[(project.id, area, period)]
                for cell, expected in truth.items():
                    checked += 1
                    value = actual.get(cell, ("missing",))[0]
                    if value == "missing" or not same(value, expected):
                        mismatches.append((project.id, area, period, *cell, value, expected))
                # a group nobody of the area is in: zero counts, no shares, no median
                for cell, (value, kpi_type) in actual.items():
                    if cell not in truth and cell[0] not in PROJECT_WIDE:
                        checked += 1
                        if not same(value, 0 if kpi_type == "count" else None):
                            mismatches.append((project.id, area, period, *cell, value, "empty group"))
    assert mismatches[:20] == []
    assert checked > 20_000


def test_every_area_and_month_has_every_kpi_in_every_breakdown(demo_pipeline, kpi_table):
    config = demo_pipeline.config
    for project in config.projects:
        for period in project.months():
            for area in ("ALL", *project.municipalities):
                cells = kpi_table[(project.id, area, period)]
                for breakdown in ("total", *BREAKDOWNS):
                    kpis = {kpi for kpi, b, _ in cells if b == breakdown} - PROJECT_WIDE
                    assert kpis == EVERY_KPI, (project.id, area, period, breakdown, kpis ^ EVERY_KPI)
                project_wide = {kpi for kpi, b, g in cells if kpi in PROJECT_WIDE}
                expected = set()
                if area == "ALL":
                    expected |= {"reach"} if project.target_population else set()
                    if project.targets.get("participants"):
                        expected |= {"participants_target_share", "participants_pace_target"}
                assert project_wide == expected, (project.id, area, period)


def test_age_bands_fit_each_projects_age_range(demo_pipeline, kpi_table):
    bands = {
        "uvas": {"15-19", "20-24", "25-29"},
        "fokus_16_25": {"16-19", "20-24", "25-25"},
        "ostra_sodertorn": {"16-19", "20-24", "25-25"},
        "vaga_valja_vag": {"16-19", "20-24", "25-29"},
        "harjedalen": {"20-24", "25-29"},
    }
    for project in demo_pipeline.config.projects:
        cells = kpi_table[(project.id, "ALL", project.months()[-1])]
        groups = {g for kpi, b, g in cells if kpi == "participants" and b == "alder"}
        assert groups - {"OKAND"} == bands[project.id], project.id


def test_harjedalen_participants_who_return_in_uvas_are_recognised(demo_pipeline):
    config, simulation = demo_pipeline.config, demo_pipeline.simulation
    connection = duckdb.connect(str(demo_pipeline.home.warehouse), read_only=True)
    try:
        rows = connection.execute(
            "select project_id, area, other_project_id, persons from marts.fct_project_overlap").fetchall()
    finally:
        connection.close()
    actual = {(p, a, o): n for p, a, o, n in rows}
    expected = {(project.id, area, other): n
                for project in config.projects for area in ("ALL", *project.municipalities)
                for other, n in expected_overlap(simulation, project, area).items()}
    assert actual == expected
    assert expected.get(("uvas", "ALL", "harjedalen"), 0) >= 2
    assert expected.get(("uvas", "2361", "harjedalen"), 0) == expected[("uvas", "ALL", "harjedalen")]


def test_returning_persons_fit_both_projects_age_ranges_and_keep_their_pseudonym(demo_pipeline):
    config, simulation = demo_pipeline.config, demo_pipeline.simulation
    persons = {p.index: p for p in simulation.persons}
    returning = [e for e in simulation.enrolments if persons[e.person_index].project_id != e.project_id]
    assert len({e.person_index for e in returning}) >= 2
    for e in returning:
        person, project = persons[e.person_index], config.project(e.project_id)
        earlier = config.project(person.project_id)
        assert not person.anonymous and earlier.period_end < project.period_start
        age = e.startdatum.year - person.birth_date.year - (
            (e.startdatum.month, e.startdatum.day) < (person.birth_date.month, person.birth_date.day))
        assert project.age_min <= age <= project.age_max
    connection = duckdb.connect(str(demo_pipeline.home.warehouse), read_only=True)
    try:
        shared = connection.execute(
            "select count(distinct person_id) from marts.fct_enrolments u join marts.fct_enrolments h using (person_id) "
            "where u.project_id = 'uvas' and h.project_id = 'harjedalen' and u.is_counting and h.is_counting").fetchone()[0]
    finally:
        connection.close()
    assert shared == len({e.person_index for e in returning if e.project_id == "uvas"})
