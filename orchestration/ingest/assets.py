"""Dagster assets of the intake stage."""

from __future__ import annotations

import dagster as dg

from orchestration.ingest.intake import run_intake
from orchestration.projects.load import write_config_tables
from orchestration.resources import FollowupResource

WAREHOUSE_POOL = "warehouse"


@dg.asset(group_name="ingest", pool=WAREHOUSE_POOL, kinds={"duckdb", "yaml"})
def projects_config(followup: FollowupResource) -> dg.MaterializeResult:
    """The projects configuration (periods, municipalities, targets), checked and loaded."""
    config = followup.projects()
    counts = write_config_tables(followup.data_home().warehouse, config)
    return dg.MaterializeResult(metadata={
        "source": str(config.source),
        "projects": counts["projects"],
        "municipalities": counts["municipalities"],
        "targets": counts["targets"],
    })


@dg.asset(group_name="ingest", pool=WAREHOUSE_POOL, deps=[projects_config], kinds={"duckdb"})
def inbox_deliveries(context: dg.AssetExecutionContext, followup: FollowupResource) -> dg.MaterializeResult:
    """New or changed files in the inbox, archived by sha256 and recorded as deliveries."""
    report = run_intake(followup.data_home(), followup.projects(), set(followup.project_ids) or None)
    for unrouted in report.unrouted:
        context.log.warning(f"Inte inläst: {unrouted.file.relative}: {unrouted.message}")
    table = "\n".join(f"| {r.project_id} | {r.kommunkod} | {r.reporting_month} | {r.file.path.name} |" for r in report.new[:50])
    return dg.MaterializeResult(metadata={
        "new_deliveries": len(report.new),
        "unchanged_files": report.unchanged,
        "not_ingested": len(report.unrouted),
        "new_files": dg.MetadataValue.md(
            "| projekt | kommun | månad | fil |\n|---|---|---|---|\n" + table if table else "Inga nya filer."),
    })
