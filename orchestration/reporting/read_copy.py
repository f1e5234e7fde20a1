"""The serving file (serving/followup.duckdb) as the last step of every run: `followup status` and
`followup export` read it while another run holds the warehouse, and BI tools and notebooks read
it instead of the warehouse (lib/warehouse_copy.py says what it holds and why).

An asset in the monthly job rather than a step of `followup run`, so that runs Dagster starts
itself (schedule, sensor, Materialize in the UI) leave a copy too. It comes after the exports
and the delivery status, so a run whose dbt build or exports failed leaves the previous copy,
which shows the last run that succeeded.
"""

import dagster as dg

from orchestration.lib.asset_keys import WAREHOUSE_POOL
from orchestration.lib.warehouse_copy import COPIED_TABLES, copy_path, write_copy
from orchestration.resources import FollowupResource


@dg.asset(
    group_name="reporting",
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey("kpi_exports"), dg.AssetKey("delivery_status"), dg.AssetKey("delivery_reports")],
    kinds={"duckdb"},
    description="Läsfilen serving/followup.duckdb: nyckeltalen, leveranserna och inskrivningarna som den "
                "senaste lyckade körningen lämnade dem. `followup status` och `followup export` läser den medan "
                "en körning arbetar i lagret, och BI-verktyg och notebooks läser den i stället för lagret: en "
                "läsare stoppar aldrig en körning och ser aldrig en halv.",
)
def read_copy(context: dg.AssetExecutionContext, followup: FollowupResource) -> dg.MaterializeResult:
    """The marts and deliveries as this run left them, in serving/followup.duckdb, written anew and
    renamed into place."""
    home = followup.data_home()
    written = write_copy(home.warehouse, copy_path(home.root), context.run_id)
    return dg.MaterializeResult(metadata={
        "fil": str(written.path),
        "byte": written.bytes,
        "sekunder": round(written.seconds, 2),
        "tabeller": dg.MetadataValue.md("| tabell | rader | läses av |\n|---|--:|---|\n" + "\n".join(
            f"| {table} | {rows} | {COPIED_TABLES[table]} |" for table, rows in written.rows.items())),
    })
