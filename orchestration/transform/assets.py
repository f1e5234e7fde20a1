"""The dbt project as Dagster assets: every model and test shows up in the asset graph.

dbt reads the warehouse's `landing` tables as sources; each source is mapped to the Python
asset that writes it, so lineage runs unbroken from the inbox to the KPI marts.
"""


import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.ingest.assets import WAREHOUSE_POOL, landing_key
from orchestration.resources import FollowupResource

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Not dbt_project.prepare_if_dev(): it calls whatever `dbt` is on PATH, which under
# `.venv/bin/dagster dev` is none; ensure_manifest() below parses with this venv's dbt.

class FollowupDbtTranslator(DagsterDbtTranslator):
    """Sources are the landing tables the Python stages materialise (keys landing/<table>)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return landing_key(dbt_resource_props["name"])
        return dg.AssetKey(dbt_resource_props["name"])  # model names are unique: kpi_values, stg_…

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # staging / intermediate / marts, from the model's folder
        path = dbt_resource_props.get("path") or ""
        return path.split("/")[0] if "/" in path else "transform"


def ensure_manifest() -> Path:
    """dbt parse when the manifest is missing (fresh clone, CI) or older than the dbt project's
    files (an edited model): the asset graph is read from it, so a stale one would silently
    drop or misorder models."""
    manifest = dbt_project.manifest_path
    sources = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in (".sql", ".yml", ".yaml")
               and "target" not in p.parts and "logs" not in p.parts]
    if not manifest.exists() or any(p.stat().st_mtime > manifest.stat().st_mtime for p in sources):
        completed = subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(manifest.parent)],
            capture_output=True, text=True, env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        )
        if completed.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{completed.stdout[-3000:]}{completed.stderr[-2000:]}")
    return manifest


@dbt_assets(
    manifest=ensure_manifest(),
    project=dbt_project,
    dagster_dbt_translator=FollowupDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def followup_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, followup: FollowupResource):
    """Staging, intermediate and KPI marts, built and tested with `dbt build`."""
    os.environ["FOLLOWUP_WAREHOUSE"] = str(followup.data_home().warehouse)
    yield from dbt.cli(build_args(), context=context).stream()


def build_args() -> list[str]:
    """`dbt build` with every model and data test, without the unit tests.

    Unit tests check the SQL against hand-made inputs, not the data, so they cannot fail on a
    delivery; dbt's own advice is to run them in development and CI (tests/test_dbt_models.py
    runs the full `dbt build`), not on every production run, where their per-node overhead was
    a fifth of dbt's time (BENCHMARKS.md).

    Four threads although the machine may have two cores: most of a node's time is dbt's own
    bookkeeping and waiting on DuckDB, which overlap; measured 24–37 s instead of 49–52 s for the
    UVAS-size build. DuckDB takes one connection per thread in the same process."""
    return ["build", "--exclude", "resource_type:unit_test", "--threads", str(DBT_THREADS)]


DBT_THREADS = 4


def dbt_resource() -> DbtCliResource:
    """dbt from this environment (the venv's), whatever PATH says."""
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=DBT_EXECUTABLE)
