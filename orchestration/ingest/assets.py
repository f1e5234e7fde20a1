"""Dagster assets of the intake stage.

Each landing table dbt reads is an asset of its own, materialised by the stage that writes it,
so the graph runs unbroken from the inbox to the KPI marts.
"""

import dagster as dg

from orchestration.ingest.intake import run_intake
from orchestration.lib.asset_keys import WAREHOUSE_POOL, landing_key
from orchestration.lib.layout import HomeLayoutError
from orchestration.lib.delivery_state import KIND_LABELS
from orchestration.lib.mapping_contract import MAPPING
from orchestration.lib.safe_text import console, markdown_cell
from orchestration.lib.settings import Settings
from orchestration.privacy.keys import PseudonymKeyError, key_file_warning, verified_key
from orchestration.projects.load import write_config_tables
from orchestration.resources import FollowupResource

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


@dg.multi_asset(
    name="projects_config",
    group_name="ingest",
    pool=WAREHOUSE_POOL,
    specs=[dg.AssetSpec(landing_key(t), kinds={"duckdb"},
                        description=f"landing.{t}: ur projektkonfigurationen")
           for t in CONFIG_TABLES],
)
def projects_config(followup: FollowupResource):
    """Projektkonfigurationen (perioder, kommuner, mål), kontrollerad och inläst."""
    config = followup.projects()
    try:
        counts = write_config_tables(followup.data_home().warehouse, config)
    except HomeLayoutError as error:        # a home from a newer release: retrying cannot help
        raise dg.Failure(description=str(error), allow_retries=False) from None
    for table in CONFIG_TABLES:
        yield dg.MaterializeResult(asset_key=landing_key(table), metadata={
            "fil": str(config.source), "projekt": counts["projects"],
            "kommuner": counts["municipalities"], "mål": counts["targets"],
        })


@dg.multi_asset(
    name="intake",
    group_name="ingest",
    pool=WAREHOUSE_POOL,
    specs=[
        dg.AssetSpec("inbox_deliveries", kinds={"duckdb"}, deps=[landing_key("projects")],
                     description="Nya eller ändrade filer i inkorgen, arkiverade (sha256) och registrerade som leveranser."),
        dg.AssetSpec(landing_key("unrouted_files"), kinds={"duckdb"}, deps=[landing_key("projects")],
                     description="Filer som inte kunde placeras (ingen månad i namnet, okänd mapp, ingen vanlig fil) "
                                 "och därför inte lästes in."),
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
    table = "\n".join(f"| {r.project_id} | {r.kommunkod} | {r.reporting_month}"
                      f"{f' ({KIND_LABELS[MAPPING].lower()})' if r.extract_kind == MAPPING else ''} | "
                      f"{markdown_cell(r.file.name)} |" for r in report.new[:50])
    yield dg.MaterializeResult(asset_key="inbox_deliveries", metadata={
        "nya leveranser": len(report.new),
        "varav kartläggningar": sum(1 for r in report.new if r.extract_kind == MAPPING),
        "oförändrade filer": report.unchanged,
        "inte inlästa": len(report.unrouted),
        "ändrades under kopieringen": len(report.still_arriving),
        "kunde inte arkiveras": len(report.failed),
        "nya filer": dg.MetadataValue.md(
            "| projekt | kommun | månad | fil |\n|---|---|---|---|\n" + table if table else "Inga nya filer."),
    })
    yield dg.MaterializeResult(asset_key=landing_key("unrouted_files"), metadata={"inte inlästa": len(report.unrouted)})


def definitions(settings: Settings) -> dg.Definitions:
    """The intake stage: the projects configuration and the inbox, into landing tables."""
    return dg.Definitions(assets=[projects_config, intake])
