"""The coordinators' dashboard for tests: the Dagster webserver on a data home, and headless Chromium.

Debian's `chromium`, driven by Playwright (no browser download). Where it is missing the tests
skip, except in CI (`CI` or `FOLLOWUP_REQUIRE_BROWSER` set), where a missing browser is a
failure: `.ci/run` installs it. Screenshots go to `test-artifacts/` (or `FOLLOWUP_TEST_ARTIFACTS`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@contextlib.contextmanager
def headless_chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
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


@contextlib.contextmanager
def serve_dashboard(home, log_dir: Path, config_path: str | None = None) -> Iterator[str]:
    """The UI as `make dashboard` starts it (`followup serve`, here only its webserver) on `home`,
    on a free port; stopped afterwards with SIGTERM, as systemd stops it."""
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k not in ("FOLLOWUP_CONFIG", "FOLLOWUP_PSEUDONYM_KEY", "DAGSTER_HOME")}
    if config_path:
        env["FOLLOWUP_CONFIG"] = str(config_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = log_dir / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([str(venv_bin / "followup"), "serve", "--home", str(home.root), "--port", str(port),
                                   "--only", "webserver"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                raise AssertionError(f"followup serve exited:\n{log_path.read_text()[-3000:]}")
            try:
                if location_loaded(base):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                webserver_log = Path(home.root) / "logs" / "dagster-webserver.log"
                raise AssertionError(f"the UI not ready in {STARTUP_SECONDS} s:\n{log_path.read_text()[-3000:]}\n"
                                     f"{webserver_log.read_text()[-3000:] if webserver_log.exists() else ''}")
            time.sleep(1)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)           # followup serve stops the webserver and its code server
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@contextlib.contextmanager
def dashboard_page(browser) -> Iterator[object]:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(60_000)
    # Dagster asks first-time visitors to join its community; a coordinator would click Skip.
    page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                             lambda: page.get_by_role("button", name="Skip").click())
    try:
        yield page
    finally:
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
