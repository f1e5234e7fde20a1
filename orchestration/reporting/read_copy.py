"""The read copy as the last step of every run: `followup status` and `followup export` read it
while another run holds the warehouse (lib/warehouse_copy.py says what it holds and why).

An asset in the monthly job rather than a step of `followup run`, so that runs Dagster starts
itself (schedule, sensor, Materialize in the UI) leave a copy too. It comes after the exports
and the delivery status, so a run whose dbt build or exports failed leaves the previous copy,
which shows the last run that succeeded.
"""

import dagster as dg

from orchestration.ingest.assets import WAREHOUSE_POOL
from orchestration.lib.warehouse_copy import COPIED_TABLES, copy_path, write_copy
from orchestration.resources import FollowupResource


@dg.asset(
    group_name="reporting",
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey("kpi_exports"), dg.AssetKey("delivery_status"), dg.AssetKey("delivery_reports")],
    kinds={"duckdb"},
    description="Läskopian (read-copy.duckdb) som `followup status` och `followup export` läser medan en "
                "senare körning arbetar i lagret: leveranserna, filerna som inte lästes in och nyckeltalen.",
)
def read_copy(context: dg.AssetExecutionContext, followup: FollowupResource) -> dg.MaterializeResult:
    """What `followup status` and `followup export` read (the deliveries, the files not ingested,
    the KPI figures and the data version), as this run left them, in read-copy.duckdb: the
    commands read it while a later run holds the warehouse."""
    home = followup.data_home()
    written = write_copy(home.warehouse, copy_path(home.root), context.run_id)
    return dg.MaterializeResult(metadata={
        "fil": str(written.path),
        "byte": written.bytes,
        "sekunder": round(written.seconds, 2),
        "tables": dg.MetadataValue.md("| tabell | rader | läses av |\n|---|--:|---|\n" + "\n".join(
            f"| {table} | {rows} | {COPIED_TABLES[table]} |" for table, rows in written.rows.items())),
    })
