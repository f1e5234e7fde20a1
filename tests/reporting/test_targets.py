"""Targets on the demo run: which are reached, as the headline, the funder report, the chart and
the asset checks show them. Expected values come from the generator's own record of persons
(tests/truth.py) and straight SQL on marts.kpi_values, not from targets.py.

Reads the shared demo run (conftest.demo_pipeline) and runs no pipeline of its own.
"""

from __future__ import annotations

import io

import dagster as dg
import duckdb
import matplotlib.image
import pytest

from orchestration.reporting.kpi_names import KPI_LABELS
from tests.truth import expected_kpis


def pct(share):
    """As the reports write a share (tests/reporting/test_funder_report.py pins the format itself)."""
    return f"{round(share * 100)} %"


def truth_at_newest(demo, project_id):
    project = demo.config.project(project_id)
    return expected_kpis(demo.simulation, project, "ALL", newest_period(demo.home.warehouse, project_id))


def newest_period(warehouse, project_id):
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute("select max(period) from marts.kpi_values where project_id = ?", [project_id]).fetchone()[0]


def total_row(warehouse, project_id, period, kpi):
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute("select value, target, target_met from marts.kpi_values where project_id = ? and period = ? "
                          "and kpi = ? and area = 'ALL' and breakdown = 'total'", [project_id, period, kpi]).fetchone()


@pytest.fixture(scope="module")
def measures(demo_pipeline):
    from orchestration.reporting.targets import project_measures

    return project_measures(demo_pipeline.home.warehouse, demo_pipeline.config)


def test_ostra_sodertorns_exit_activity_share_is_below_its_target_and_not_reached(demo_pipeline, measures):
    project = demo_pipeline.config.project("ostra_sodertorn")
    period = newest_period(demo_pipeline.home.warehouse, project.id)
    truth = expected_kpis(demo_pipeline.simulation, project, "ALL", period)["exit_activity_share"]
    assert truth < 0.70
    target, = [m for m in measures[project.id] if m.target is not None]
    assert (target.kpi, target.period, target.target) == ("exit_activity_share", period, 0.70)
    assert target.value == pytest.approx(truth)
    assert target.met is False and target.verdict == "inte nått"
    assert target.label == KPI_LABELS["exit_activity_share"]


def test_uvas_reaches_its_participants_and_activity_share_targets(demo_pipeline, measures):
    uvas = demo_pipeline.config.project("uvas")
    period = newest_period(demo_pipeline.home.warehouse, uvas.id)
    truth = expected_kpis(demo_pipeline.simulation, uvas, "ALL", period)
    assert truth["participants"] >= 350 and truth["activity_share"] >= 0.50
    by_kpi = {m.kpi: m for m in measures[uvas.id]}
    assert set(by_kpi) == {"participants", "activity_share"}
    assert by_kpi["participants"].value == truth["participants"] and by_kpi["participants"].verdict == "nått"
    assert by_kpi["activity_share"].value == pytest.approx(truth["activity_share"])
    assert by_kpi["activity_share"].verdict == "nått"
    # the target to date is the warehouse's: all months elapsed at the project's last month
    months = uvas.months()
    pace = by_kpi["participants"].pace
    assert pace.expected_by_now == pytest.approx(350 * (months.index(period) + 1) / len(months))
    assert pace.expected_by_now == total_row(demo_pipeline.home.warehouse, uvas.id, period, "participants_pace_target")[0]


def test_every_configured_target_is_reported_with_the_warehouses_verdict(demo_pipeline):
    from orchestration.reporting.targets import targets

    found = {(t.project_id, t.kpi): t for t in targets(demo_pipeline.home.warehouse, demo_pipeline.config)}
    configured = {(p.id, kpi): target for p in demo_pipeline.config.projects for kpi, target in p.targets.items()}
    assert set(found) == set(configured)
    for (project_id, kpi), target in configured.items():
        value, warehouse_target, met = total_row(demo_pipeline.home.warehouse, project_id, found[project_id, kpi].period, kpi)
        assert (found[project_id, kpi].value, found[project_id, kpi].target, found[project_id, kpi].met) == \
            (value, target, met) and warehouse_target == target


def test_the_headline_shows_each_target_with_nått_or_inte_nått(demo_pipeline):
    from orchestration.reporting.headline import format_headlines, headlines, headlines_markdown

    rows = headlines(demo_pipeline.home.warehouse, demo_pipeline.config)
    text = format_headlines(rows)
    lines = text.splitlines()
    ostra = lines.index(next(line for line in lines if line.startswith("ostra_sodertorn")))
    assert KPI_LABELS["exit_activity_share"] in lines[ostra + 1] and lines[ostra + 1].endswith("70 %  inte nått")
    assert KPI_LABELS["activity_share"] not in lines[ostra + 1]
    markdown = headlines_markdown(rows)
    share = truth_at_newest(demo_pipeline, "ostra_sodertorn")["exit_activity_share"]
    assert f"| {KPI_LABELS['exit_activity_share']} | {pct(share)} | 70 % | inte nått |" in markdown


def test_the_funder_report_of_ostra_sodertorn_says_its_target_is_not_reached(demo_pipeline, tmp_path):
    from orchestration.reporting.funder_report import write_funder_report
    from orchestration.reporting.headline import headlines

    headline = next(h for h in headlines(demo_pipeline.home.warehouse, demo_pipeline.config)
                    if h.project_id == "ostra_sodertorn")
    project = demo_pipeline.config.project("ostra_sodertorn")
    page = write_funder_report(demo_pipeline.home.warehouse, project, headline, tmp_path).read_text(encoding="utf-8")
    assert "<th>Målet nått</th>" in page
    share = truth_at_newest(demo_pipeline, "ostra_sodertorn")["exit_activity_share"]
    assert f"<th>{KPI_LABELS['exit_activity_share']}</th><td>{pct(share)}</td><td>70 %</td><td>nej</td>" in page
    assert KPI_LABELS["activity_share"] not in page


def test_ostra_sodertorns_chart_plots_the_measure_its_target_is_set_on(demo_pipeline, tmp_path):
    from orchestration.reporting.charts import chart_plan, trend_png
    from orchestration.reporting.funder_report import published_figures

    warehouse = demo_pipeline.home.warehouse
    project = demo_pipeline.config.project("ostra_sodertorn")
    _, trend = published_figures(warehouse, project, newest_period(warehouse, project.id))
    plan = chart_plan(project, trend)
    assert [(s.kpi, s.label) for s in plan.series] == [
        ("participants", KPI_LABELS["participants"]), ("exit_activity_share", KPI_LABELS["exit_activity_share"])]
    assert [(t.kpi, t.value, t.axis) for t in plan.target_lines] == [("exit_activity_share", 0.70, "share")]
    # each month's share exactly as the warehouse has it, or left out where the funder table
    # hides it: a share over fewer than 10 persons or with 1-4 moved
    with duckdb.connect(str(warehouse), read_only=True) as db:
        exact = dict((p, (v, n, d)) for p, v, n, d in db.execute(
            "select period, value, numerator, denominator from marts.kpi_values where project_id = ? "
            "and kpi = 'exit_activity_share' and area = 'ALL' and breakdown = 'total'", [project.id]).fetchall())
    shares = plan.series[1].values
    assert plan.periods == sorted(exact)
    for period, plotted in zip(plan.periods, shares):
        value, numerator, denominator = exact[period]
        if denominator is not None and (denominator < 10 or 0 < numerator < project.min_count):
            assert plotted is None, period
        elif plotted is not None:
            assert plotted == pytest.approx(value), period
    assert shares[-1] == pytest.approx(exact[plan.periods[-1]][0])
    png = trend_png(project, trend)
    (tmp_path / "ostra_sodertorn.png").write_bytes(png)
    assert matplotlib.image.imread(io.BytesIO(png), format="png").shape[1] >= 700


def run_target_checks(home):
    """The target checks in a job of their own, with the real resource, as the daemon runs them."""
    from orchestration.reporting.checks import days_targets_met, participants_on_pace, share_targets_met
    from orchestration.resources import FollowupResource

    checks = [participants_on_pace, share_targets_met, days_targets_met]
    defs = dg.Definitions(assets=[dg.AssetSpec("kpi_values")], asset_checks=checks,
                          jobs=[dg.define_asset_job("targets", selection=dg.AssetSelection.checks(*checks))],
                          resources={"followup": FollowupResource(home=str(home.root))})
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("targets").execute_in_process(instance=instance)
    assert result.success
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_the_share_target_check_warns_naming_ostra_sodertorn(demo_pipeline):
    evaluations = run_target_checks(demo_pipeline.home)
    shares = evaluations["share_targets_met"]
    assert not shares.passed and shares.severity == dg.AssetCheckSeverity.WARN
    assert shares.metadata["mål_ej_nådda"].value == 1
    ostra = demo_pipeline.config.project("ostra_sodertorn").name
    assert shares.metadata["projekt_med_mål_ej_nådda"].value == ostra
    table = shares.metadata["mål"].value
    ostra_share = truth_at_newest(demo_pipeline, "ostra_sodertorn")["exit_activity_share"]
    uvas_share = truth_at_newest(demo_pipeline, "uvas")["activity_share"]
    assert f"| {ostra} | " in table
    assert f"| {KPI_LABELS['exit_activity_share']} | {pct(ostra_share)} | 70 % | inte nått |" in table
    assert f"| {KPI_LABELS['activity_share']} | {pct(uvas_share)} | 50 % | nått |" in table
    # UVAS has reached its participants target; no project has a target in days
    assert evaluations["participants_on_pace"].passed and evaluations["participants_on_pace"].metadata["efter_takt"].value == 0
    assert evaluations["days_targets_met"].passed and evaluations["days_targets_met"].metadata["mål_ej_nådda"].value == 0


def test_the_kpi_exports_metadata_of_the_demo_run_is_in_swedish(demo_pipeline):
    with dg.DagsterInstance.from_config(str(demo_pipeline.home.dagster)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("kpi_exports"))
    metadata = event.asset_materialization.metadata
    assert {"mål och utfall", "filer", "månader", "trend ostra_sodertorn"} <= set(metadata)
    assert "inte nått" in metadata["trend ostra_sodertorn"].value
