"""The Dagster code location loads whole: assets, checks, schedule and sensor (their behaviour:
tests/automation/test_automation.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]


def loaded_definitions() -> dg.Definitions:
    """What the code location loads (`defs`, lazy: built from the environment when called)."""
    from orchestration.definitions import defs

    return defs()


MARTS = sorted(path.stem for path in (REPO / "dbt" / "models" / "marts").glob("*.sql"))


def test_dagster_definitions_validate_passes_on_the_workspace(tmp_path):
    dagster = Path(sys.executable).parent / "dagster"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "FOLLOWUP_HOME": str(tmp_path / "home")}
    completed = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "Validation successful" in completed.stdout + completed.stderr


def test_every_stage_and_the_kpi_marts_are_assets_with_lineage():
    defs = loaded_definitions()
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
    assert "rules_kpi_values" in checks  # dbt tests as checks


def test_the_dashboard_assets_show_deliveries_per_municipality_and_month_for_every_project():
    defs = loaded_definitions()
    from orchestration.projects.config import load_projects

    graph = defs.resolve_asset_graph()
    parents = {k.to_user_string() for k in graph.get(dg.AssetKey("delivery_status")).parent_keys}
    assert {"landing/deliveries", "landing/quarantine_rows", "landing/row_warnings"} <= parents
    for project in load_projects().projects:
        node = graph.get(dg.AssetKey(["municipality_months", project.id]))
        assert not node.is_executable and node.group_name == "deliveries"
        dimensions = {d.name: d.partitions_def for d in node.partitions_def.partitions_defs}
        assert [k.split(" ")[0] for k in dimensions["kommun"].get_partition_keys()] == list(project.municipalities)
        assert dimensions["month"].get_partition_keys() == project.months()


def test_the_monthly_job_has_the_schedule_and_the_sensor_and_covers_every_executable_asset():
    defs = loaded_definitions()
    job = defs.resolve_job_def("followup_monthly")
    graph = defs.resolve_asset_graph()
    executable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_executable}
    assert executable == set(job.asset_layer.executable_asset_keys)
    assert defs.resolve_schedule_def("monthly_after_delivery_deadline").job_name == "followup_monthly"
    assert defs.resolve_sensor_def("inbox_sensor").job_name == "followup_monthly"


@pytest.mark.parametrize("module", ["orchestration.privacy.extract.reader", "orchestration.privacy.personnummer",
                                    "orchestration.quality.validate", "orchestration.reporting.export"])
def test_pure_modules_do_not_import_dagster(module):
    """Logic lives in plain functions; only the asset modules touch Dagster."""
    code = f"import sys, {module}; sys.exit(1 if 'dagster' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_only_the_marts_carry_dbt_tests_as_asset_checks():
    defs = loaded_definitions()
    graph = defs.resolve_asset_graph()
    dbt_checks = {key for key in graph.asset_check_keys if key.name.startswith(("rules_", "assert_"))}
    on = {key.asset_key.to_user_string() for key in dbt_checks}
    # every mart's rules (one check each) and the singular tests of the KPI table
    assert {(f"rules_{mart}", mart) for mart in MARTS} <= {(k.name, k.asset_key.to_user_string()) for k in dbt_checks}
    assert {k.name for k in dbt_checks if k.asset_key == dg.AssetKey("kpi_values")} >= {
        "assert_kpi_values_are_consistent", "assert_cumulative_counts_never_decrease"}
    assert not any(name.startswith(("stg_", "int_")) for name in on)
