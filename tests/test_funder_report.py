"""The funder one-pager and its trend chart, from a hand-made kpi_values table."""

from __future__ import annotations

import base64
import io
import re

import duckdb
import matplotlib.image

from orchestration.projects.config import load_projects
from orchestration.reporting.charts import linear_pace, project_trend, trend_png
from orchestration.reporting.funder_report import Figure, published_figures, render_funder_report, write_funder_report
from orchestration.reporting.headline import Headline


def hand_made_warehouse(path):
    """Three months of uvas: 10, 20, 30 participants (ALL) with 0, 2, 6 of them moved to activity,
    half of them in each of two municipalities."""
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
                  0.5, False),
                 ("uvas", "2380", period, "participants", "total", "T", participants / 2, participants / 2, None,
                  None, None),
                 ("uvas", "2361", period, "participants", "total", "T", participants / 2, participants / 2, None,
                  None, None)]
    db.executemany("insert into marts.kpi_values values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()


def test_trend_reads_all_area_totals_in_month_order(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    trend = project_trend(tmp_path / "w.duckdb", "uvas")
    assert trend.periods == ["2015-06", "2015-07", "2015-08"]
    assert trend.participants == [10.0, 20.0, 30.0]
    assert trend.activity_share == [0.0, 0.1, 0.2]


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


def test_report_shows_figures_against_targets(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    uvas = load_projects().project("uvas")
    headline = Headline("uvas", uvas.name, "2015-08", 30, 350.0, 0.2, 0.5, None, None)
    page = write_funder_report(tmp_path / "w.duckdb", uvas, headline, tmp_path / "out").read_text(encoding="utf-8")
    assert "<td>30</td><td>350</td>" in page
    assert "<td>20 %</td><td>50 %</td>" in page
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded)[:4] == b"\x89PNG"
    assert (tmp_path / "out" / "uvas" / "trend.png").read_bytes() == base64.b64decode(embedded)


def test_report_hides_what_the_funder_table_hides(tmp_path):
    hand_made_warehouse(tmp_path / "w.duckdb")
    uvas = load_projects().project("uvas")
    figures, trend = published_figures(tmp_path / "w.duckdb", uvas, "2015-07")
    # 2015-07: 20 participants, 2 moved: a share over a count of 2 (below min_count 5) is hidden
    assert figures["participants"] == Figure(20.0, False)
    assert figures["activity_share"] == Figure(None, True)
    # the chart leaves out the hidden share, keeps the shares over 0 persons and the shown counts
    assert trend.periods == ["2015-06", "2015-07"]
    assert trend.participants == [10.0, 20.0] and trend.activity_share == [0.0, None]
    headline = Headline("uvas", uvas.name, "2015-07", 20, 350.0, 0.1, 0.5, None, None)
    page = write_funder_report(tmp_path / "w.duckdb", uvas, headline, tmp_path / "out").read_text(encoding="utf-8")
    assert "<td>visas inte</td><td>50 %</td>" in page and "10 %" not in page


def test_a_small_count_is_never_shown(tmp_path):
    uvas = load_projects().project("uvas")
    page = render_funder_report(uvas, "2015-06", {"participants": Figure(None, True)}, b"")
    assert "<td>visas inte</td><td>350</td>" in page
