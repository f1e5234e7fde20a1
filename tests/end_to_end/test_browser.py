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
    """The UI on the demo's data home as `make dashboard` starts it (followup serve), on a free port."""
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


def test_the_mapping_summary_asset_shows_each_mapping_projects_domains_and_inventory(page, dashboard, demo_pipeline, tmp_path):
    """Coordinators see the mapping in the UI: per project its domains' most common answers and the
    inventory, the figures as the mart holds them."""
    from orchestration.lib.warehouse import connect

    with connect(demo_pipeline.home.warehouse, read_only=True) as db:
        outside = db.execute("select numerator from marts.mapping_values where project_id = 'harjedalen' and area = 'ALL' "
                             "and question_id = 'utanfor_arbete_studier'").fetchone()[0]
    page.goto(f"{dashboard}/assets/mapping_summary")
    row = page.get_by_role("row").filter(has_text="kartläggning harjedalen").first
    row.wait_for(state="visible")
    if "Show Markdown" in row.inner_text():        # a long value is behind a link, a short one inline
        row.get_by_text("Show Markdown").click()
        row = page.get_by_role("dialog").filter(has_text="kartläggning harjedalen").first
    row.get_by_text("Utanför arbete och studier").first.wait_for(state="visible")
    lines = row.inner_text().splitlines()
    assert any(line.startswith("Utanför arbete och studier") and line.split("\t")[1] == f"{outside:.0f}"
               for line in lines), lines
    for domain in ("Sysselsättning", "Kontakt med myndigheter", "Livssituation", "Inventering"):
        assert domain in lines, (domain, lines)
    save_screenshot(page, tmp_path, "dagster-mapping_summary.png")


def uvas_partitions(demo_pipeline):
    """UVAS's municipality-months that have a partition event, as the status table records them (the
    demo is one run over every month, a backfill: its newest months), and every one of its cells."""
    from orchestration.lib.warehouse import connect
    from orchestration.reporting.monitoring import municipality_months

    with connect(demo_pipeline.home.warehouse, read_only=True) as db:
        logged = set(db.execute("select kommunkod, month from ops.municipality_month_status "
                                "where project_id = 'uvas' and recorded_version = version").fetchall())
    cells = [c for c in municipality_months(demo_pipeline.home.warehouse, demo_pipeline.config) if c.project_id == "uvas"]
    newest = {k: max(c.month for c in cells if c.kommunkod == k) for k in {c.kommunkod for c in cells}}
    assert {(k, m) for k, m in newest.items()} <= logged, "every municipality's newest month is a partition"
    return [c for c in cells if (c.kommunkod, c.month) in logged], cells


def test_the_partition_view_shows_which_municipality_delivered_which_month(page, dashboard, demo_pipeline, tmp_path):
    partitions, _ = uvas_partitions(demo_pipeline)
    counting = [c for c in partitions if c.in_force]
    resubmitted = max((c for c in counting), key=lambda c: (c.deliveries, c.month))
    page.goto(f"{dashboard}/assets/municipality_months/uvas?view=partitions")
    visible(page, f"Materialized ({len(counting)})")
    visible(page, "2380 Östersund")
    visible(page, resubmitted.kommun_label).click()
    visible(page, resubmitted.month).click()
    visible(page, "läge")                                     # the partition's detail, in Swedish
    visible(page, resubmitted.quality.file_name)
    save_screenshot(page, tmp_path, "dagster-municipality_months-uvas.png")


def rejected_then_corrected(demo_pipeline):
    """The demo's one rejected file and the municipality-month it belongs to (a later file corrected it)."""
    from orchestration.reporting.monitoring import municipality_months

    cell, = [c for c in municipality_months(demo_pipeline.home.warehouse, demo_pipeline.config)
             if any(d.verdict == "REJECTED" for d in c.files)]
    rejected = next(d for d in cell.files if d.verdict == "REJECTED")
    return cell, rejected


def test_delivery_status_shows_what_needs_action_first_and_the_rejected_file(page, dashboard, demo_pipeline, tmp_path):
    from orchestration.reporting.monitoring import municipality_months

    cells = municipality_months(demo_pipeline.home.warehouse, demo_pipeline.config)
    action = [c for c in cells if c.needs_action]
    assert action, "the demo has municipality-months with rejected rows"
    page.goto(f"{dashboard}/assets/delivery_status")
    # what needs action is the first entry, shown inline (not behind "Show Markdown"), every one listed
    table = page.locator("table").filter(has_text="att åtgärda, antal").first
    table.wait_for(state="visible")
    first_row = table.locator("tbody tr").first
    # the markdown of a value renders after the table itself (seen once, under load: the row's
    # text before it had rendered); wait for the first entry's municipality
    first_row.filter(has_text=f"{action[0].kommun_label}").wait_for(state="visible")
    assert first_row.inner_text().startswith("att åtgärda")
    listed = first_row.inner_text()
    for cell in action:
        assert f"{cell.kommun_label}\t{cell.month}" in listed or f"{cell.kommun_label} {cell.month}" in listed, cell
    counters = {key: table.locator("tr").filter(has=page.get_by_text(key, exact=True)).first.inner_text()
                for key in ("att åtgärda, antal", "filer avvisade", "filer avvisade utan senare godkänd fil")}
    assert counters["att åtgärda, antal"].split()[-1] == str(sum(len([p for p in c.problems if p.needs_action])
                                                                  for c in cells))
    assert counters["filer avvisade"].split()[-1] == "1"          # the demo's one rejected file is counted
    assert "Show Markdown" not in table.locator("tr").filter(has_text="matris uvas").first.inner_text()
    save_screenshot(page, tmp_path, "dagster-delivery_status.png")

    # the run's files: the rejected one is there, with its state in Swedish
    cell, rejected = rejected_then_corrected(demo_pipeline)
    table.locator("tr").filter(has=page.get_by_text("filer i körningen", exact=True)).get_by_text("Show Markdown").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(rejected.file_name, exact=True).first.wait_for(state="visible")
    row = dialog.locator("tr").filter(has_text=rejected.file_name).first.inner_text()
    assert "Avvisad" in row and "en senare rättad leverans gäller" in row and "REJECTED" not in row
    save_screenshot(page, tmp_path, "dagster-delivery_status-files.png")


def test_a_months_detail_lists_its_files_with_arrival_times_and_reports(page, dashboard, demo_pipeline, tmp_path):
    from orchestration.lib.local_time import shown

    partitions, _ = uvas_partitions(demo_pipeline)
    cell = max(partitions, key=lambda c: (c.deliveries, c.month))    # the demo's resubmission, in its newest month
    assert cell.deliveries == 2
    page.goto(f"{dashboard}/assets/municipality_months/uvas?view=partitions")
    visible(page, cell.kommun_label).click()
    visible(page, cell.month).click()
    visible(page, "filer")
    for d in cell.files:                                       # both files, in Swedish local time
        visible(page, d.file_name)
        visible(page, shown(d.received_at), exact=False)
    visible(page, "Ersatt av en senare leverans", exact=False)
    visible(page, "leveransrapport")
    visible(page, str(demo_pipeline.home.reports / "uvas" / cell.kommunkod), exact=False)
    save_screenshot(page, tmp_path, "dagster-municipality_month-detail.png")


def test_months_needing_action_are_red_in_the_checks_partition_grid(page, dashboard, demo_pipeline, tmp_path):
    partitions, _ = uvas_partitions(demo_pipeline)
    failing = [c for c in partitions if c.in_force and c.needs_action]       # Östersund's newest month has a junk row
    page.goto(f"{dashboard}/assets/municipality_months/uvas?view=checks&checkDetail=inget_att_atgarda")
    visible(page, "Execution history")               # the check's own tabs, the last of them its partitions
    page.get_by_role("tab", name="Partitions").last.click()
    visible(page, f"Failed ({len(failing)})")
    visible(page, "Passed (0)")                       # a month with nothing to act on stays grey
    cell = failing[0]
    page.locator(f"[data-tooltip='{cell.kommun_label}']").first.click()
    month = page.locator(f"[data-tooltip='{cell.month}']").first.locator("xpath=..")
    month.scroll_into_view_if_needed()
    assert "--color-accent-red" in month.locator("div[style*='border-radius: 100%']").last.get_attribute("style")
    save_screenshot(page, tmp_path, "dagster-inget_att_atgarda-partitions.png")


def test_a_share_target_not_reached_is_flagged_in_the_headline_and_its_check(page, dashboard, demo_pipeline, tmp_path):
    page.goto(f"{dashboard}/assets/kpi_exports")
    headline = page.locator("table").filter(has_text="nått?").first
    headline.wait_for(state="visible")
    text = headline.inner_text()
    ostra = text[text.index("Samordning av insatser för unga"):]
    assert "Andel till aktivitet av avslutade" in ostra and "70 %" in ostra and "inte nått" in ostra
    page.goto(f"{dashboard}/assets/kpi_values?view=checks")
    visible(page, "share_targets_met")
    save_screenshot(page, tmp_path, "dagster-kpi_values-checks.png")


def test_run_history_checks_schedule_and_sensor_are_there_after_the_demo(page, dashboard, tmp_path):
    page.goto(f"{dashboard}/runs")
    visible(page, "followup_monthly")
    page.goto(f"{dashboard}/assets/landing/enrolment_rows?view=checks")
    visible(page, "extract_contract_suite")
    page.goto(f"{dashboard}/assets/kpi_values?view=checks")
    visible(page, "participants_on_pace")
    visible(page, "rules_kpi_values")                # every rule of the table's dbt tests, one check
    page.goto(f"{dashboard}/automation")
    visible(page, "monthly_after_delivery_deadline")
    visible(page, "inbox_sensor")
    save_screenshot(page, tmp_path, "dagster-automation.png")
