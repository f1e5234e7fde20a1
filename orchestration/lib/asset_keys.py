"""What every stage's Dagster definitions share: the key of a landing table's asset, and the pool
every step that opens the warehouse is in (its limit of 1, in the home's dagster.yaml, keeps DuckDB's
one writer)."""

import dagster as dg

WAREHOUSE_POOL = "warehouse"


def landing_key(table: str) -> dg.AssetKey:
    """The asset of `landing.<table>`, written by the stage that fills it and read by dbt's sources."""
    return dg.AssetKey(["landing", table])
