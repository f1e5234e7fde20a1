"""The funder one-pager and its trend chart, from a hand-made kpi_values table."""

from __future__ import annotations

import base64
import dataclasses
import io
import re

import duckdb
import matplotlib.image

from orchestration.projects.config import load_projects
from orchestration.reporting.charts import Trend, chart_plan, trend_png
from orchestration.reporting.funder_report import Figure, published_figures, render_funder_report, write_funder_report
from orchestration.reporting.headline import Headline
from orchestration.reporting.kpi_names import KPI_LABELS


def hand_made_warehouse(path):
    """Three months of uvas: 10, 20, 30 participants (ALL) with 0, 2, 6 of them moved to activity,
    half of them in each of two municipalities, and the warehouse's participants target to date."""
    db = duckdb.connect(str(path))
    db.execute("create schema marts")
    db.execute("create table marts.kpi_values (project_id varchar, area varchar, period varchar, kpi varchar, "
               "breakdown varchar, breakdown_group varchar, value double, numerator double, denominator double, "
               "target double, target_met boolean)")
    rows = []
    for i, period in enumerate(["2015-06", "2015-07", "2015-08"]):
        participants, moved = 10.0 * (i + 1), [0.0, 2.0, 6.0][i]
        rows += [("uvas", "ALL", period, "participants", "total", "T", participants, participants, None, 350.0, False),
                 ("uvas", "ALL", period, "activity_share", "total", "T", moved / participants, moved, participants,
                  0.5, moved / participants >= 0.5),
                 ("uvas", "ALL", period, "participants_pace_target", "total", "T", 350 * (i + 1) / 37, None, None,
                  None, None),
                 ("uvas", "2380", period, "participants", "total", "T", participants / 2, participants / 2, None,
                  None, None),
                 ("uvas", "2361", period, "participants", "total", "T", participants / 2, participants / 2, None,
                  None, None)]
    db.executemany("insert into marts.kpi_values values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()


def test_the_chart_plots_participants_with_the_pace_and_each_targeted_share_with_its_target(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    uvas = load_projects().project("uvas")
    _, trend = published_figures(tmp_path / "w.duckdb", uvas, "2015-08")
    plan = chart_plan(uvas, trend)
    assert [(s.kpi, s.style, s.axis) for s in plan.series] == [
        ("participants", "bars", "count"), ("participants_pace_target", "pace", "count"),
        ("activity_share", "line", "share")]
    assert plan.series[1].values == [350 / 37, 700 / 37, 1050 / 37]
    assert [(t.kpi, t.value) for t in plan.target_lines] == [("activity_share", 0.5)]
    assert plan.series[0].label == KPI_LABELS["participants"] and plan.series[2].label == KPI_LABELS["activity_share"]


def test_a_project_without_targets_charts_participants_and_activity_share_without_target_lines():
    fokus = load_projects().project("fokus_16_25")
    plan = chart_plan(fokus, Trend(["2019-01"], {"participants": [12.0], "activity_share": [0.25]}))
    assert [(s.kpi, s.values) for s in plan.series] == [("participants", [12.0]), ("activity_share", [0.25])]
    assert plan.target_lines == []


def test_chart_is_a_real_png_image(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    uvas = load_projects().project("uvas")
    png = trend_png(uvas, published_figures(tmp_path / "w.duckdb", uvas, "2015-08")[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape[0] >= 300 and image.shape[1] >= 700


def test_a_chart_with_a_share_a_count_and_a_days_target_draws_a_second_panel():
    uvas = load_projects().project("uvas")
    project = dataclasses.replace(uvas, targets={**uvas.targets, "median_days_to_activity": 90.0})
    trend = Trend(["2015-06", "2015-07"], {"participants": [10.0, 20.0], "activity_share": [0.1, None],
                                           "median_days_to_activity": [None, 120.0]})
    plan = chart_plan(project, trend)
    assert plan.axes() == ["count", "share", "days"]
    assert ("median_days_to_activity", 90.0) in [(t.kpi, t.value) for t in plan.target_lines]
    image = matplotlib.image.imread(io.BytesIO(trend_png(project, trend)), format="png")
    assert image.shape[0] >= 600


def test_an_empty_trend_still_renders():
    uvas = load_projects().project("uvas")
    assert trend_png(uvas, Trend([]))[:4] == b"\x89PNG"


def test_report_shows_figures_against_targets(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    uvas = load_projects().project("uvas")
    headline = Headline("uvas", uvas.name, "2015-08", 30)
    page = write_funder_report(tmp_path / "w.duckdb", uvas, headline, tmp_path / "out").read_text(encoding="utf-8")
    assert "<th>Deltagare</th><td>30</td><td>350</td><td>nej</td>" in page
    # 30 participants after 3 of 37 months is ahead of the target to date, 350 * 3 / 37 = 28.4
    assert "<th>Deltagare mot målet hittills (jämn takt)</th><td>30</td><td>28</td><td>ja</td>" in page
    assert "<th>Andel till aktivitet av alla deltagare</th><td>20 %</td><td>50 %</td><td>nej</td>" in page
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded)[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "uvas" / "trend.png").read_bytes() == base64.b64decode(embedded)


def test_report_hides_what_the_funder_table_hides(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    uvas = load_projects().project("uvas")
    figures, trend = published_figures(tmp_path / "w.duckdb", uvas, "2015-07")
    # 2015-07: 20 participants, 2 moved: a share over a count of 2 (below min_count 5) is hidden
    assert figures["participants"] == Figure(20.0, False, 350.0, False)
    assert figures["activity_share"] == Figure(None, True, 0.5, None)
    # the chart leaves out the hidden share, keeps the shares over 0 persons and the shown counts
    assert trend.periods == ["2015-06", "2015-07"]
    plan = chart_plan(uvas, trend)
    assert [s.values for s in plan.series if s.kpi in ("participants", "activity_share")] == [[10.0, 20.0], [0.0, None]]
    headline = Headline("uvas", uvas.name, "2015-07", 20)
    page = write_funder_report(tmp_path / "w.duckdb", uvas, headline, tmp_path / "out").read_text(encoding="utf-8")
    # a hidden figure has no verdict either
    assert "<td>visas inte</td><td>50 %</td><td>–</td>" in page and "10 %" not in page


def test_a_small_count_is_never_shown(tmp_path):
    uvas = load_projects().project("uvas")
    page = render_funder_report(uvas, "2015-06", {"participants": Figure(None, True, 350.0),
                                                   "participants_pace_target": Figure(350 / 37)}, b"")
    assert "<td>visas inte</td><td>350</td><td>–</td>" in page
    assert "<td>visas inte</td><td>9</td><td>–</td>" in page
