"""The coordinators' dashboard in a real browser: the Dagster webserver on the demo's data home,
opened in headless Chromium (Debian's `chromium`, driven by Playwright; no browser download).

Skips on a machine without /usr/bin/chromium, except in CI (`CI` or `FOLLOWUP_REQUIRE_BROWSER`
set), where a missing browser is a failure: `.ci/run` installs it. Screenshots go to
`test-artifacts/` (or `FOLLOWUP_TEST_ARTIFACTS`).
"""

from __future__ import annotations

import pytest

from tests.dashboard import LOCATION, dashboard_page, headless_chromium, save_screenshot, serve_dashboard, visible

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium():
    with headless_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def dashboard(demo_pipeline, tmp_path_factory):
    """`dagster-webserver -w workspace.yaml` from the repository root on the demo's data home,
    as `make dashboard` starts it, on a free port; stopped with its code server afterwards."""
    with serve_dashboard(demo_pipeline.home, tmp_path_factory.mktemp("webserver")) as base:
        yield base


@pytest.fixture
def page(chromium, dashboard):
    with dashboard_page(chromium) as page:
        yield page


def test_the_asset_graph_runs_from_the_inbox_to_the_exports(page, dashboard, tmp_path):
    page.goto(f"{dashboard}/asset-groups")
    for group in ("ingest", "privacy", "quality", "staging", "intermediate", "marts", "reporting", "deliveries"):
        visible(page, group)
    page.goto(f"{dashboard}/locations/{LOCATION}/asset-groups/reporting")
    for asset in ("kpi_exports", "delivery_status", "kpi_values", "uvas"):
        visible(page, asset)
    save_screenshot(page, tmp_path, "dagster-asset-graph.png")


def test_the_kpi_asset_shows_the_headline_table_and_each_projects_trend_chart(page, dashboard, demo_pipeline, tmp_path):
    from orchestration.reporting.headline import headlines

    uvas = next(h for h in headlines(demo_pipeline.home.warehouse, demo_pipeline.config) if h.project_id == "uvas")
    page.goto(f"{dashboard}/assets/kpi_exports")
    headline = page.locator("table").filter(has_text="deltagare").filter(has_text=uvas.name).first
    headline.wait_for(state="visible")
    row = headline.locator("tr").filter(has_text=uvas.name).first
    assert uvas.period in row.inner_text() and str(uvas.participants) in row.inner_text()
    save_screenshot(page, tmp_path, "dagster-kpi_exports.png")

    page.get_by_role("row").filter(has_text="trend uvas").get_by_text("Show Markdown").click()
    chart = page.get_by_role("img", name=f"Trend {uvas.name}")
    chart.wait_for(state="visible")
    page.wait_for_function("img => img.complete && img.naturalWidth > 300", arg=chart.element_handle())
    assert chart.bounding_box()["width"] > 300
    save_screenshot(page, tmp_path, "dagster-kpi_exports-trend.png")


def test_the_partition_view_shows_which_municipality_delivered_which_month(page, dashboard, demo_pipeline, tmp_path):
    from orchestration.reporting.monitoring import municipality_months

    counting = [c for c in municipality_months(demo_pipeline.home.warehouse, demo_pipeline.config)
                if c.project_id == "uvas" and c.in_force]
    resubmitted = max((c for c in counting), key=lambda c: (c.deliveries, c.month))
    page.goto(f"{dashboard}/assets/municipality_months/uvas?view=partitions")
    visible(page, f"Materialized ({len(counting)})")
    visible(page, "2380 Östersund")
    visible(page, resubmitted.kommun_label).click()
    visible(page, resubmitted.month).click()
    visible(page, "verdict")                                  # the partition's metadata: verdict, file, rows
    visible(page, resubmitted.quality.file_name)
    save_screenshot(page, tmp_path, "dagster-municipality_months-uvas.png")


def test_run_history_checks_schedule_and_sensor_are_there_after_the_demo(page, dashboard, tmp_path):
    page.goto(f"{dashboard}/runs")
    visible(page, "followup_monthly")
    page.goto(f"{dashboard}/assets/landing/enrolment_rows?view=checks")
    visible(page, "extract_contract_suite")
    page.goto(f"{dashboard}/assets/kpi_values?view=checks")
    visible(page, "participants_on_pace")
    page.goto(f"{dashboard}/automation")
    visible(page, "monthly_after_delivery_deadline")
    visible(page, "inbox_sensor")
    save_screenshot(page, tmp_path, "dagster-automation.png")
