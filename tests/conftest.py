"""Shared fixtures. Every test runs with telemetry off and its own data home."""

from __future__ import annotations

import collections
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestration.lib.telemetry import disable_telemetry
from tests.postgres import postgres_server, postgres_url  # noqa: F401  (a real PostgreSQL server, tests/postgres.py)

disable_telemetry()

TEST_KEY = "test-key-" + "k" * 40   # synthetic, only for tests; at least 32 bytes


@pytest.fixture
def pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("FOLLOWUP_PSEUDONYM_KEY", TEST_KEY)
    return TEST_KEY.encode()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """No test reads the developer's own data home or projects file by accident."""
    for name in ("FOLLOWUP_HOME", "FOLLOWUP_CONFIG", "FOLLOWUP_PSEUDONYM_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    os.makedirs(tmp_path / "dagster-home", exist_ok=True)


@dataclass
class DemoRun:
    """One whole-pipeline run over the generated demo deliveries, shared by the slow tests."""

    home: Any
    config: Any
    simulation: Any
    outcome: Any
    exported: list
    internal: list


@pytest.fixture(scope="session")
def demo_pipeline(tmp_path_factory) -> DemoRun:
    from orchestration.generator import generate_deliveries
    from orchestration.lib.home import DataHome
    from orchestration.privacy.keys import create_key
    from orchestration.projects.config import load_projects
    from orchestration.reporting.export import export_all, figures_built_by
    from orchestration.runner import run_pipeline

    home = DataHome.resolve(tmp_path_factory.mktemp("home")).create()
    create_key(home.root)
    config = load_projects()
    simulation = generate_deliveries(config, home.inbox)
    outcome = run_pipeline(home)
    assert outcome.success, outcome.failure
    exports = tmp_path_factory.mktemp("exports")
    built_by = figures_built_by(home.dagster, home.warehouse)   # recorded in the warehouse by the dbt step
    exported = export_all(home.warehouse, config, exports, built_by=built_by)
    internal = export_all(home.warehouse, config, exports, unsuppressed=True, built_by=built_by)
    return DemoRun(home, config, simulation, outcome, exported, internal)


# `make test` runs the suite on pytest-xdist workers (Makefile) with `--dist loadfile`: each test file
# stays on one worker, so a module's fixture (often a whole pipeline run) runs once. The files
# that read the shared demo run (they name the `demo_pipeline` fixture) are one unit, so the demo
# pipeline runs once per suite, not once per worker. (`--dist loadgroup` with xdist_group marks
# would say the same, but pytest 9.2 ignores the node ids xdist rewrites for it:
# pytest-dev/pytest-xdist#1386.)
# Files are named as in pytest's node ids: tests/<folder>/test_<module>.py (tests/README.md).
TEST_FILES = {path.relative_to(Path(__file__).parent.parent).as_posix(): path.read_text(encoding="utf-8")
              for path in sorted(Path(__file__).parent.rglob("test_*.py"))}
DEMO_FILES = frozenset(name for name, text in TEST_FILES.items() if "demo_pipeline" in text)
# The same for the files that read the corpus scenario's stages (tests/bad_inputs/scenario.py:
# runs of the pipeline that each worker would otherwise build again).
SCENARIO_FILES = frozenset(name for name, text in TEST_FILES.items() if "shared_scenario(" in text) - DEMO_FILES
# And the files that read the mapping scenario's warehouse (tests/mapping_scenario.py: one dbt build).
MAPPING_FILES = frozenset(name for name, text in TEST_FILES.items()
                          if "mapping_scenario import" in text) - DEMO_FILES - SCENARIO_FILES


def work_unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return ("demo_pipeline" if path in DEMO_FILES else "shared_scenario" if path in SCENARIO_FILES
            else "mapping_scenario" if path in MAPPING_FILES else path)


# Seconds each unit took in a recorded run (`make test-durations`). The longest units are handed
# out first, so the workers end together: in collection order, the units that start a
# service or run the pipeline several times came last and one worker went on alone for minutes.
# A unit not in the file (a new test file) comes after them; the figures need not be exact.
DURATIONS_FILE = Path(__file__).parent / "durations.json"
RECORD_DURATIONS_ENV = "FOLLOWUP_RECORD_TEST_DURATIONS"


def recorded_durations() -> dict[str, float]:
    try:
        return json.loads(DURATIONS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@pytest.hookimpl(optionalhook=True)   # a hook of pytest-xdist; without it the suite runs in one process
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    seconds = recorded_durations()

    class LongestUnitsFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node) -> None:
            # The queue in the order of the recorded seconds, longest first, before the first unit
            # is handed out (the workers' collections keep their order: xdist sends indexes into them).
            if not getattr(self, "_ordered", False):
                self.workqueue = collections.OrderedDict(
                    sorted(self.workqueue.items(), key=lambda unit: -seconds.get(unit[0], 0.0)))
                self._ordered = True
            super()._assign_work_unit(node)

    return LongestUnitsFirst(config, log)


_unit_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report) -> None:
    if os.environ.get(RECORD_DURATIONS_ENV):
        unit = work_unit(report.nodeid)
        _unit_seconds[unit] = _unit_seconds.get(unit, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus) -> None:
    """With FOLLOWUP_RECORD_TEST_DURATIONS=1, the controller (not a worker) writes durations.json:
    the units this session ran, the others as they were recorded."""
    if os.environ.get(RECORD_DURATIONS_ENV) and _unit_seconds and not hasattr(session.config, "workerinput"):
        merged = {**recorded_durations(), **_unit_seconds}
        rounded = {unit: round(s, 1) for unit, s in sorted(merged.items(), key=lambda kv: -kv[1])}
        DURATIONS_FILE.write_text(json.dumps(rounded, indent=1) + "\n", encoding="utf-8")
