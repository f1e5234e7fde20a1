"""The Dagster code location loads whole: assets, checks, schedule and sensor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_dagster_definitions_validate_passes_on_the_workspace(tmp_path):
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "FOLLOWUP_HOME": str(tmp_path / "home")}
    completed = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "Validation successful" in completed.stdout + completed.stderr


def test_every_stage_and_the_kpi_marts_are_assets_with_lineage():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    for expected in ("landing/projects", "inbox_deliveries", "pseudonymised_rows", "landing/enrolment_rows",
                     "landing/quarantine_rows", "landing/deliveries", "stg_landing__enrolment_rows", "kpi_values",
                     "kpi_exports"):
        assert expected in keys
    # Lineage runs unbroken from the inbox to the export.
    chain = ["inbox_deliveries", "pseudonymised_rows", "landing/enrolment_rows", "stg_landing__enrolment_rows"]
    for upstream, downstream in zip(chain, chain[1:]):
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey.from_user_string(downstream)).parent_keys}
        assert upstream in parents, (upstream, downstream)
    ancestors = {k.to_user_string() for k in graph.upstream_key_iterator(dg.AssetKey("kpi_exports"))}
    assert "kpi_values" in ancestors
    checks = {check.name for check in graph.asset_check_keys}
    assert {"extract_contract_suite", "every_municipality_delivered", "participants_on_pace"} <= checks
    assert any(name.startswith(("unique_", "not_null_")) for name in checks)  # dbt tests as checks


def test_schedule_runs_monthly_after_the_delivery_deadline():
    from orchestration.definitions import defs

    schedule = defs.resolve_schedule_def("monthly_after_delivery_deadline")
    assert schedule.cron_schedule == "0 6 11 * *"
    assert schedule.execution_timezone == "Europe/Stockholm"
    with dg.build_schedule_context() as context:
        requests = list(schedule.evaluate_tick(context).run_requests)
    assert len(requests) == 1


def test_inbox_sensor_requests_a_run_only_for_new_or_changed_files(tmp_path, monkeypatch):
    from orchestration.automation.definitions import inbox_sensor

    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path))
    (tmp_path / "inbox" / "uvas" / "2380").mkdir(parents=True)
    with dg.build_sensor_context() as context:
        assert isinstance(inbox_sensor(context), dg.SkipReason)
    delivery = tmp_path / "inbox" / "uvas" / "2380" / "2016-03.csv"
    delivery.write_text("personnummer;startdatum;fas\n", encoding="utf-8")
    with dg.build_sensor_context(cursor=json.dumps({})) as context:
        request = inbox_sensor(context)
        assert isinstance(request, dg.RunRequest)
        cursor = context.cursor
    with dg.build_sensor_context(cursor=cursor) as context:
        assert isinstance(inbox_sensor(context), dg.SkipReason)
    delivery.write_text("personnummer;startdatum;fas\n990101-1230;2016-01-10;MOTA\n", encoding="utf-8")
    with dg.build_sensor_context(cursor=cursor) as context:
        again = inbox_sensor(context)
    assert isinstance(again, dg.RunRequest) and again.run_key != request.run_key


@pytest.mark.parametrize("module", ["orchestration.ingest.reader", "orchestration.privacy.personnummer",
                                    "orchestration.quality.validate", "orchestration.reporting.export"])
def test_pure_modules_do_not_import_dagster(module):
    """Logic lives in plain functions; only the asset modules touch Dagster."""
    code = f"import sys, {module}; sys.exit(1 if 'dagster' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
