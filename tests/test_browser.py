"""The coordinators' dashboard in a real browser: the Dagster webserver on the demo's data home,
opened in headless Chromium (Debian's `chromium`, driven by Playwright; no browser download).

Skips on a machine without /usr/bin/chromium, except in CI (`CI` or `FOLLOWUP_REQUIRE_BROWSER`
set), where a missing browser is a failure: `.ci/run` installs it. Screenshots go to
`test-artifacts/` (or `FOLLOWUP_TEST_ARTIFACTS`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("FOLLOWUP_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("FOLLOWUP_TEST_ARTIFACTS", REPO / "test-artifacts"))
LOCATION = "orchestration.definitions"
STARTUP_SECONDS = 240
LOCATION_QUERY = json.dumps({"query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                                      "locationOrLoadError { __typename } } } } }"}).encode()


def browser_required() -> bool:
    return (os.environ.get("CI", "").lower() in ("1", "true", "yes")
            or os.environ.get("FOLLOWUP_REQUIRE_BROWSER", "") not in ("", "0"))


def unavailable(reason: str):
    if browser_required():
        pytest.fail(f"{reason}: CI must run the browser test (.ci/run installs Debian's chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def location_loaded(base: str) -> bool:
    request = urllib.request.Request(f"{base}/graphql", data=LOCATION_QUERY, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
    entry = next((e for e in entries if e["name"] == LOCATION), None)
    if entry and entry["locationOrLoadError"] and entry["locationOrLoadError"]["__typename"] == "PythonError":
        raise AssertionError(f"the code location failed to load: {entries}")
    return bool(entry and entry["loadStatus"] == "LOADED" and entry["locationOrLoadError"])


@pytest.fixture(scope="module")
def dashboard(demo_pipeline, tmp_path_factory):
    """`dagster-webserver -w workspace.yaml` from the repository root on the demo's data home,
    as `make dashboard` starts it, on a free port; stopped with its code server afterwards."""
    home = demo_pipeline.home
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k not in ("FOLLOWUP_CONFIG", "FOLLOWUP_PSEUDONYM_KEY")}
    env.update(DAGSTER_HOME=str(home.dagster), FOLLOWUP_HOME=str(home.root), PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("webserver") / "webserver.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([str(venv_bin / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
                                   "-p", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                raise AssertionError(f"dagster-webserver exited:\n{log_path.read_text()[-3000:]}")
            try:
                if location_loaded(base):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"dagster-webserver not ready in {STARTUP_SECONDS} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(1)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)        # the webserver and its code server
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture
def page(chromium, dashboard):
    page = chromium.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(60_000)
    # Dagster asks first-time visitors to join its community; a coordinator would click Skip.
    page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                             lambda: page.get_by_role("button", name="Skip").click())
    yield page
    page.close()


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / name)
    return shot


def visible(page, text: str, exact: bool = True):
    locator = page.get_by_text(text, exact=exact).first
    locator.wait_for(state="visible")
    return locator


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
