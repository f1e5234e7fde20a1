"""Dagster assets of the intake stage.

Each landing table dbt reads is an asset of its own, materialised by the stage that writes it,
so the graph runs unbroken from the inbox to the KPI marts.
"""

import dagster as dg

from orchestration.ingest.intake import run_intake
from orchestration.lib.safe_text import console, markdown_cell
from orchestration.privacy.keys import PseudonymKeyError, key_file_warning, verified_key
from orchestration.projects.load import write_config_tables
from orchestration.resources import FollowupResource

WAREHOUSE_POOL = "warehouse"
CONFIG_TABLES = ("projects", "project_municipalities", "project_activity_outcomes", "project_targets")


def _check_key(context: dg.AssetExecutionContext, home) -> None:
    """Nothing is read with a key other than the one that built the home (privacy/keys.py)."""
    try:
        verified_key(home.root)
    except PseudonymKeyError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    warning = key_file_warning(home.root)
    if warning:
        context.log.warning(warning)


def landing_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", table])


@dg.multi_asset(
    name="projects_config",
    group_name="ingest",
    pool=WAREHOUSE_POOL,
    specs=[dg.AssetSpec(landing_key(t), kinds={"duckdb"},
                        description=f"landing.{t}: from the projects configuration (projects-config.md)")
           for t in CONFIG_TABLES],
)
def projects_config(followup: FollowupResource):
    """The projects configuration (periods, municipalities, targets), checked and loaded."""
    config = followup.projects()
    counts = write_config_tables(followup.data_home().warehouse, config)
    for table in CONFIG_TABLES:
        yield dg.MaterializeResult(asset_key=landing_key(table), metadata={
            "source": str(config.source), "projects": counts["projects"],
            "municipalities": counts["municipalities"], "targets": counts["targets"],
        })


@dg.multi_asset(
    name="intake",
    group_name="ingest",
    pool=WAREHOUSE_POOL,
    specs=[
        dg.AssetSpec("inbox_deliveries", kinds={"duckdb"}, deps=[landing_key("projects")],
                     description="New or changed files in the inbox, archived by sha256 and recorded as deliveries."),
        dg.AssetSpec(landing_key("unrouted_files"), kinds={"duckdb"}, deps=[landing_key("projects")],
                     description="Files that could not be placed (no month in the name, unknown folder)."),
    ],
)
def intake(context: dg.AssetExecutionContext, followup: FollowupResource):
    home = followup.data_home()
    _check_key(context, home)
    report = run_intake(home, followup.projects(), set(followup.project_ids) or None)
    for unrouted in report.unrouted:
        context.log.warning(console(f"Inte inläst: {unrouted.file.relative}: {unrouted.message}"))
    for relative in report.still_arriving:
        context.log.warning(console(f"Ändrades medan den kopierades, tas nästa körning: {relative}"))
    for relative, error in report.failed:
        context.log.warning(console(f"Kunde inte arkiveras ({error}), tas nästa körning: {relative}"))
    table = "\n".join(f"| {r.project_id} | {r.kommunkod} | {r.reporting_month} | {markdown_cell(r.file.name)} |"
                      for r in report.new[:50])
    yield dg.MaterializeResult(asset_key="inbox_deliveries", metadata={
        "new_deliveries": len(report.new),
        "unchanged_files": report.unchanged,
        "not_ingested": len(report.unrouted),
        "still_arriving": len(report.still_arriving),
        "not_archived": len(report.failed),
        "new_files": dg.MetadataValue.md(
            "| projekt | kommun | månad | fil |\n|---|---|---|---|\n" + table if table else "Inga nya filer."),
    })
    yield dg.MaterializeResult(asset_key=landing_key("unrouted_files"), metadata={"not_ingested": len(report.unrouted)})
