"""dbt in the run's process (orchestration/transform/dbt_build.py), from a saved parse."""

from __future__ import annotations

import contextlib

import duckdb
import pytest

from orchestration.transform import dbt_build
from orchestration.transform.dbt_build import DBT_PROJECT_DIR, WAREHOUSE_ENV


def test_a_parse_saved_inside_dbt_still_finds_the_kpi_catalogue_from_another_working_directory(tmp_path, monkeypatch):
    """A parse made by hand (`cd dbt && dbt parse --project-dir .`) roots every node at "."; the
    seed's CSV is still read from the project, not from the run's working directory."""
    from dbt.cli.main import dbtRunner

    earlier = tmp_path / "dbt-target" / "earlier-run"
    with dbt_build._environment(**{WAREHOUSE_ENV: "warehouse.duckdb"}), contextlib.chdir(DBT_PROJECT_DIR):
        parsed = dbtRunner().invoke(["parse", "--quiet", "--no-partial-parse", "--project-dir", ".", "--profiles-dir", ".",
                                     "--target-path", str(earlier), "--log-path", str(earlier)])
    assert parsed.success
    assert parsed.result.nodes["seed.followup.kpi_catalogue"].root_path == "."
    monkeypatch.setattr(dbt_build, "_parsed", {})          # as in a new process: parse from the saved one
    monkeypatch.chdir(tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"

    built = dbt_build.build(["seed"], warehouse, tmp_path / "dbt-target" / "this-run")

    assert built.success, [(n.unique_id, n.message) for n in built.nodes]
    with duckdb.connect(str(warehouse), read_only=True) as db:
        kpis = {kpi for kpi, in db.execute("select kpi from marts.kpi_catalogue").fetchall()}
    assert {"participants", "activity_share", "participants_pace_target"} <= kpis


@pytest.fixture(autouse=True)
def _forget_the_parse_afterwards():
    yield
    dbt_build._parsed.clear()              # the next test's process-wide parse is its own


def test_no_model_is_ephemeral(tmp_path):
    """A run keeps one parsed manifest for every build in its process, and dbt injects an ephemeral
    model's CTE only on the first build of a manifest: the second (a retry, the marts after the
    staging gate, the next run in a test's process) failed with "__dbt__cte__… does not exist"."""
    manifest = dbt_build.parsed_project(tmp_path / "dbt-target" / "run")
    models = [node for node in manifest.nodes.values() if node.resource_type == "model"]
    assert len(models) > 30
    assert [node.unique_id for node in models if node.config.materialized == "ephemeral"] == []


def test_dbt_run_by_hand_has_the_pipelines_memory_ceiling():
    """The run hands dbt lib/warehouse's ceiling; profiles.yml's default (dbt run by hand) is the same."""
    from orchestration.lib.warehouse import DEFAULT_MEMORY_LIMIT, MEMORY_ENV

    profiles = (DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    assert f"env_var('{MEMORY_ENV}', '{DEFAULT_MEMORY_LIMIT}')" in profiles
