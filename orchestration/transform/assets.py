"""The dbt project as Dagster assets: every model and test shows up in the asset graph.

dbt reads the warehouse's `landing` tables as sources; each source is mapped to the Python
asset that writes it, so lineage runs unbroken from the inbox to the KPI marts. dbt runs in the
run's own process (dbt_build.py); dagster-dbt's translation of its result events makes the
materialisations and the marts' asset checks.
"""


import graphlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster import get_dagster_logger
from dagster_dbt import DagsterDbtTranslator, DbtProject, dbt_assets

from orchestration.lib.asset_keys import WAREHOUSE_POOL, landing_key
from orchestration.lib.dagster_internals import dbt_asset_events, dbt_selection
from orchestration.lib.home import WAREHOUSE_FILE
from orchestration.lib.settings import Settings
from orchestration.lib.last_run import release_digest
from orchestration.lib.warehouse import connect, content_digest, last_build_inputs, record_marts_build
from orchestration.resources import FollowupResource
from orchestration.transform import dbt_build
from orchestration.transform.dbt_build import DBT_PROJECT_DIR, WAREHOUSE_ENV
from orchestration.transform.failed_tests import describe, failed_tests

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

    def get_asset_check_spec(self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str,
                             project: DbtProject | None) -> dg.AssetCheckSpec | None:
        """The data tests of the marts (the tables the KPIs and exports are read from) are asset
        checks in the UI. The tests of staging and intermediate models run in the same
        `dbt build` and fail the step, skipping every model downstream, but are not asset checks:
        each check is three Dagster events for a check a coordinator cannot act on; the step's
        failure names the broken rule (failed_tests.py). Each model has one test of all its rules
        (dbt/tests/generic/rules.sql), so a mart has one check for them."""
        if asset_spec.group_name != CHECKED_GROUP:
            return None
        return super().get_asset_check_spec(asset_spec, manifest, unique_id, project)


CHECKED_GROUP = "marts"


class _UncheckedTestNotices(logging.Filter):
    """dagster-dbt announces each test that is not an asset check as a warning; they are meant."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "instead of an `AssetCheckResult`" not in record.getMessage()


DBT_SOURCE_FOLDERS = ("models", "macros", "tests", "seeds")


def ensure_manifest() -> Path:
    """dbt parse when the manifest is missing (fresh clone, CI) or older than the dbt project's
    files (an edited model): the asset graph is read from it, so a stale one would silently
    drop or misorder models."""
    manifest = dbt_project.manifest_path
    sources = [p for folder in DBT_SOURCE_FOLDERS for p in (DBT_PROJECT_DIR / folder).rglob("*")
               if p.suffix in (".sql", ".yml", ".yaml", ".csv")] + list(DBT_PROJECT_DIR.glob("*.yml"))
    if not manifest.exists() or any(p.stat().st_mtime > manifest.stat().st_mtime for p in sources):
        completed = subprocess.run(
            [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
             "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(manifest.parent)],
            capture_output=True, text=True,
            # The warehouse as the pipeline's dbt names it, so that this parse fits every data home.
            env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", WAREHOUSE_ENV: WAREHOUSE_FILE},
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
def followup_dbt_models(context: dg.AssetExecutionContext, followup: FollowupResource):
    """Staging-, mellan- och nyckeltalstabellerna (marts), byggda och testade med `dbt build`. Byggs inte
    om när inget som dbt läser har ändrats sedan förra hela bygget."""
    home = followup.data_home()
    target = run_target_path(home.root, context.run_id)
    # The selected models (all of them in the monthly job; a subset from the UI), as dagster-dbt
    # would select them for its dbt command.
    selection = dbt_selection(context, FollowupDbtTranslator(), [UNIT_TESTS])
    args = ["build", "--threads", str(DBT_THREADS), *selection.selection_args]
    if selection.indirect_selection:
        args += ["--indirect-selection", selection.indirect_selection]
    whole = set(context.selected_asset_keys) == set(context.assets_def.keys)
    inputs = dbt_inputs_digest(home.warehouse) if whole else None
    unchanged = unchanged_since(home.warehouse, inputs)
    if unchanged is not None:
        # Nothing dbt reads changed since a whole build (a file only touched, a configuration
        # saved again, a file that went to no project): its tables are what dbt would build.
        selected = set(context.selected_asset_keys)
        deps = context.assets_def.asset_deps         # Dagster takes a multi-asset's outputs in dependency order
        order = graphlib.TopologicalSorter({key: deps.get(key, set()) & selected for key in selected}).static_order()
        for key in order:
            yield dg.MaterializeResult(asset_key=key, metadata={
                "oförändrad": f"Inte byggd igen: inget som dbt läser har ändrats sedan körningen {unchanged}, "
                              "som byggde tabellen."})
        return
    try:
        built = dbt_build.build(args, home.warehouse, target)
        quiet = _UncheckedTestNotices()
        dbt_logger = get_dagster_logger()              # the logger dagster-dbt announces them on
        dbt_logger.addFilter(quiet)
        try:
            for raw in built.events:
                for event in dbt_asset_events(raw, context, selection, target, dbt_project):
                    # A test that is not an asset check comes back as an observation of its model;
                    # the test still ran, and a failing one fails the step below.
                    if not isinstance(event, dg.AssetObservation):
                        yield event
        finally:
            dbt_logger.removeFilter(quiet)
        if not built.success:
            failed = failed_tests(built.nodes, home.warehouse)
            if not failed:   # dbt itself failed (a locked file, a full disk, a model's SQL): retried
                raise DbtFailed(dbt_failure(built, target)) from built.error
            raise dg.Failure(description=describe(failed, target), allow_retries=False)
        if KPI_MART in context.selected_asset_keys:
            record_marts_build(home.warehouse, context.run_id, inputs)
    finally:
        forget_old_targets(target)


def dbt_sources() -> list[str]:
    """The tables and views dbt reads (its sources, as schema.table), from the parsed project."""
    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    return sorted(f"{source['schema']}.{source.get('identifier') or source['name']}"
                  for source in manifest["sources"].values())


def dbt_inputs_digest(warehouse: Path) -> str | None:
    """Everything a whole `dbt build` reads: the rows of its sources and the release (the dbt
    project's files, its seed and the code are part of it). None when the warehouse cannot be
    read: dbt then builds, and says what is wrong as it always does."""
    try:
        with connect(warehouse, read_only=True) as db:
            rows = content_digest(db, dbt_sources())
    except (duckdb.Error, OSError):
        return None
    return f"{rows}:{release_digest()}"


def unchanged_since(warehouse: Path, inputs: str | None) -> str | None:
    """The run whose whole build read exactly `inputs`, when it is the newest build and its KPI
    mart is still there; None when dbt must build."""
    last = last_build_inputs(warehouse) if inputs else None
    if last is None or last[1] != inputs:
        return None
    with connect(warehouse, read_only=True) as db:
        present = db.execute("select count(*) from information_schema.tables "
                             "where table_schema = 'marts' and table_name = ?", [KPI_MART.path[-1]]).fetchone()[0]
    return last[0] if present else None


class DbtFailed(Exception):
    """dbt could not build, and no data test failed: the job's retry policy tries again."""


def dbt_failure(built: dbt_build.DbtBuild, target: Path) -> str:
    errors = [f"{node.unique_id}: {node.message}" for node in built.nodes if node.status == "error"]
    said = "; ".join(errors) if errors else (str(built.error) if built.error else "dbt avslutades med ett fel")
    return f"dbt kunde inte bygga tabellerna: {said[:2000]} (dbt:s logg: {target / 'dbt.log'})"


KEPT_TARGETS = 3
KPI_MART = dg.AssetKey("kpi_values")


def run_target_path(home_root: Path, run_id: str) -> Path:
    """dbt's artifacts of this run (compiled SQL, dbt.log) in the data home, not in the source tree."""
    return home_root / "dbt-target" / run_id


def forget_old_targets(current: Path) -> None:
    """Keep the artifacts of the newest runs only."""
    if not current.parent.is_dir():
        return                                      # dbt never started
    runs = sorted((p for p in current.parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in runs[:-KEPT_TARGETS]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)


# Unit tests check the SQL against hand-made inputs, not the data, so they cannot fail on a
# delivery; dbt's own advice is to run them in development and CI (tests/transform/test_dbt_models.py runs
# the full `dbt build`), not on every production run, where their per-node overhead was a fifth
# of dbt's time (BENCHMARKS.md).
UNIT_TESTS = "resource_type:unit_test"

# Four threads although the machine may have two cores: most of a node's time is dbt's own
# bookkeeping and waiting on DuckDB, which overlap (BENCHMARKS.md). DuckDB takes one connection
# per thread in the same process.
DBT_THREADS = 4


def definitions(settings: Settings) -> dg.Definitions:
    """The dbt models and their tests, as assets and asset checks."""
    return dg.Definitions(assets=[followup_dbt_models])
