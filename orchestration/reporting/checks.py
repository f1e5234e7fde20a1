"""Asset checks a coordinator acts on: projects on pace against their targets.

They read the warehouse, so they take a slot of the `warehouse` pool like every stage: DuckDB
refuses to open a file another process is writing.
"""

import dagster as dg

from orchestration.ingest.assets import WAREHOUSE_POOL
from orchestration.reporting.monitoring import pacing
from orchestration.resources import FollowupResource


@dg.asset_check(asset="kpi_values", name="participants_on_pace", pool=WAREHOUSE_POOL,
                description="Participants so far are at least the target spread evenly over the project period.")
def participants_on_pace(followup: FollowupResource) -> dg.AssetCheckResult:
    home, config = followup.data_home(), followup.projects()
    paces = pacing(home.warehouse, config)
    behind = [p for p in paces if p.behind]
    table = "\n".join(f"| {p.project_id} | {p.period} | {p.participants:.0f} | {p.expected_by_now:.0f} | {p.target:.0f} |"
                      for p in paces)
    return dg.AssetCheckResult(
        passed=not behind,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"behind": len(behind),
                  "pace": dg.MetadataValue.md("| projekt | månad | deltagare | takt hittills | mål |\n|---|---|---|---|---|\n"
                                              + table if table else "Inga deltagarmål.")},
    )
