"""The funder one-pager and its trend chart, from a hand-made kpi_values table."""

from __future__ import annotations

import base64
import io
import re

import duckdb
import matplotlib.image

from orchestration.projects.config import load_projects
from orchestration.reporting.charts import linear_pace, project_trend, trend_png
from orchestration.reporting.funder_report import render_funder_report, write_funder_report
from orchestration.reporting.headline import Headline


def hand_made_warehouse(path):
    db = duckdb.connect(str(path))
    db.execute("create schema marts")
    db.execute("create table marts.kpi_values (project_id varchar, area varchar, period varchar, kpi varchar, "
               "breakdown varchar, breakdown_group varchar, value double)")
    rows = []
    for i, period in enumerate(["2015-06", "2015-07", "2015-08"]):
        rows += [("uvas", "ALL", period, "participants", "total", "T", 10.0 * (i + 1)),
                 ("uvas", "ALL", period, "activity_share", "total", "T", None if i == 0 else 0.1 * i),
                 ("uvas", "2380", period, "participants", "total", "T", 3.0)]
    db.executemany("insert into marts.kpi_values values (?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()


def test_trend_reads_all_area_totals_in_month_order(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    trend = project_trend(tmp_path / "w.duckdb", "uvas")
    assert trend.periods == ["2015-06", "2015-07", "2015-08"]
    assert trend.participants == [10.0, 20.0, 30.0]
    assert trend.activity_share == [None, 0.1, 0.2]


def test_linear_pace_reaches_the_target_in_the_last_month():
    uvas = load_projects().project("uvas")
    months = uvas.months()
    pace = linear_pace(uvas, [months[0], months[-1]], 350)
    assert pace == [350 / 37, 350]


def test_chart_is_a_real_png_image(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    uvas = load_projects().project("uvas")
    png = trend_png(uvas, project_trend(tmp_path / "w.duckdb", "uvas"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape[0] >= 300 and image.shape[1] >= 700


def test_report_shows_figures_against_targets_and_hides_small_counts(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    uvas = load_projects().project("uvas")
    headline = Headline("uvas", uvas.name, "2018-06", 399, 350.0, 0.62, 0.5, None, None)
    page = write_funder_report(tmp_path / "w.duckdb", uvas, headline, tmp_path / "out").read_text(encoding="utf-8")
    assert "<td>399</td><td>350</td>" in page
    assert "<td>62 %</td><td>50 %</td>" in page
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded)[:4] == b"\x89PNG"
    small = render_funder_report(uvas, Headline("uvas", uvas.name, "2015-06", 3, 350.0, None, 0.5, None, None), b"")
    assert "<td>&lt; 5</td>" in small and "<td>3</td>" not in small
