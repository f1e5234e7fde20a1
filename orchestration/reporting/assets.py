"""Funder exports as a Dagster asset, with the headline table as metadata for coordinators."""


import dagster as dg

from orchestration.ingest.assets import WAREHOUSE_POOL
from orchestration.reporting.export import export_all
from orchestration.reporting.headline import format_headlines, headlines
from orchestration.resources import FollowupResource


@dg.asset(group_name="reporting", pool=WAREHOUSE_POOL, deps=[dg.AssetKey("kpi_values")], kinds={"csv"})
def kpi_exports(followup: FollowupResource) -> dg.MaterializeResult:
    """kpi.csv per project for its newest month, with small counts suppressed, in exports/."""
    home = followup.data_home()
    config = followup.projects()
    exported = export_all(home.warehouse, config, home.exports)
    return dg.MaterializeResult(metadata={
        "files": len(exported),
        "periods": ", ".join(f"{e.project_id} {e.period}" for e in exported),
        "headline": dg.MetadataValue.md("```\n" + format_headlines(headlines(home.warehouse, config)) + "\n```"),
    })
