"""What a coordinator reads in the Dagster UI about deliveries, without SQL.

- `delivery_status`: the municipality × month matrix of `followup status`, a data-quality line
  per delivery processed, and the row count of every warehouse table.
- `municipality_months/<project>`: one partitioned asset per project, partitions `kommun` ×
  `month`, recorded by `delivery_status` (see `municipality_month_specs` for why).
- the check `every_municipality_delivered`.
"""

import datetime as dt
from collections.abc import Iterable, Sequence

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG
from dagster._core.events import DagsterEventType

from orchestration.ingest.assets import WAREHOUSE_POOL, landing_key
from orchestration.lib.safe_text import code_block, console, markdown_cell
from orchestration.projects.config import Project, ProjectsConfig, load_kommuner
from orchestration.reporting.monitoring import (MunicipalityMonth, missing_deliveries, municipality_months,
                                                warehouse_row_counts)
from orchestration.reporting.status import format_status
from orchestration.resources import FollowupResource

MUNICIPALITY_MONTHS = "municipality_months"
LISTED_AT_MOST = 200          # rows of a markdown table in metadata; the rest is counted


# --- Deliveries per municipality and month --------------------------------------------------

def municipality_months_key(project_id: str) -> dg.AssetKey:
    return dg.AssetKey([MUNICIPALITY_MONTHS, project_id])


def kommun_partition(kommunkod: str, kommun: str) -> str:
    """`2380 Östersund`: the code sorts, the name is what a coordinator reads."""
    return f"{kommunkod} {kommun}".strip()


def municipality_months_partitions(project: Project, kommuner: dict[str, str]) -> dg.MultiPartitionsDefinition:
    """The project's months (to the last month that has ended) × its municipalities."""
    start = dt.datetime(project.period_start.year, project.period_start.month, 1)
    after = project.period_end.replace(day=28) + dt.timedelta(days=4)          # some day of the next month
    return dg.MultiPartitionsDefinition({
        "month": dg.MonthlyPartitionsDefinition(start_date=start, end_date=dt.datetime(after.year, after.month, 1),
                                                fmt="%Y-%m"),
        "kommun": dg.StaticPartitionsDefinition(
            [kommun_partition(code, kommuner.get(code, "")) for code in project.municipalities]),
    })


def municipality_month_specs(config: ProjectsConfig) -> list[dg.AssetSpec]:
    """One asset per project whose partitions are its municipalities × its months.

    Why this shape: a coordinator owns a project and thinks "has Östersund delivered March?".
    A per-project grid has exactly the project's municipalities and months, so an empty cell is
    a delivery that is missing, not a month outside the project; the partitions follow from the
    projects configuration, so there is no dynamic-partition bookkeeping to drift from it. It
    scales: a national project of 290 municipalities × 36 months is 10 440 partitions of one
    asset, which the partition view handles.

    Why not partitioned processing: a run per municipality-month would mean 10 440 runs for a
    national backfill, each paying Dagster's and dbt's start-up, and dbt's marts are whole-table
    models anyway. Processing stays in batch assets (many deliveries per run); these assets are
    not executable (`AssetSpec`) and only record what a batch run processed: `delivery_status`
    logs an `AssetMaterialization` for each municipality-month whose deliveries changed (data
    version = a hash of the month's deliveries and verdicts), with the verdict, file and row
    counts as metadata. A month whose files were all rejected is logged as an `AssetObservation`
    instead, so a green partition always means "a delivery counts in the KPIs" and a grey one
    "nothing counts yet: missing or rejected".
    """
    kommuner = load_kommuner()
    return [
        dg.AssetSpec(
            municipality_months_key(project.id),
            partitions_def=municipality_months_partitions(project, kommuner),
            deps=["delivery_status"],
            group_name="deliveries",
            kinds={"duckdb"},
            description=(f"{project.name}: leveranser per kommun och månad. Grön = en godkänd leverans gäller; "
                         "grå = saknas eller avvisad. Metadata: utfall, fil, rader, skäl."),
        )
        for project in config.projects
    ]


def partition_key(cell: MunicipalityMonth) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"kommun": kommun_partition(cell.kommunkod, cell.kommun), "month": cell.month})


def partition_metadata(cell: MunicipalityMonth) -> dict[str, object]:
    metadata: dict[str, object] = {
        "verdict": cell.verdict, "counts_in_kpis": cell.in_force, "deliveries": cell.deliveries, "late": cell.late,
    }
    if cell.quality:
        q = cell.quality
        metadata.update({"file": console(q.file_name, keep_newlines=False), "rows_total": q.rows_total, "rows_accepted": q.rows_accepted,
                         "rows_rejected": q.rows_rejected, "rows_warned": q.rows_warned, "reasons": q.reasons(),
                         "verdict_reason": q.verdict_reason or "–", "unknown_columns": q.unknown_columns or "–"})
    return metadata


def unrecorded(instance: dg.DagsterInstance, key: dg.AssetKey, cells: Sequence[MunicipalityMonth]) -> list[MunicipalityMonth]:
    """The cells whose version differs from the one last recorded for their partition: one query
    per event type for the whole asset, however many partitions it has."""
    storage = instance.event_log_storage
    recorded = {
        True: storage.get_latest_tags_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION, [DATA_VERSION_TAG]),
        False: storage.get_latest_tags_by_partition(key, DagsterEventType.ASSET_OBSERVATION, [DATA_VERSION_TAG]),
    }
    return [c for c in cells
            if recorded[c.in_force].get(str(partition_key(c)), {}).get(DATA_VERSION_TAG) != c.version]


def record_municipality_months(context: dg.AssetExecutionContext, config: ProjectsConfig,
                               cells: Iterable[MunicipalityMonth]) -> list[MunicipalityMonth]:
    """Log an event for every municipality-month that changed since it was last recorded.

    The partitions come from the same configuration as the run's (`municipality_month_specs`
    builds the assets from it when the code location loads)."""
    kommuner = load_kommuner()
    by_project: dict[str, list[MunicipalityMonth]] = {}
    for cell in cells:
        by_project.setdefault(cell.project_id, []).append(cell)
    recorded = []
    for project_id, project_cells in by_project.items():
        key = municipality_months_key(project_id)
        partitions_def = municipality_months_partitions(config.project(project_id), kommuner)
        valid = [c for c in project_cells if partitions_def.has_partition_key(str(partition_key(c)))]
        for cell in unrecorded(context.instance, key, valid):
            event = dg.AssetMaterialization if cell.in_force else dg.AssetObservation
            context.log_event(event(asset_key=key, partition=partition_key(cell), metadata=partition_metadata(cell),
                                    tags={DATA_VERSION_TAG: cell.version}))
            recorded.append(cell)
    return recorded


def quality_table(cells: Sequence[MunicipalityMonth]) -> str:
    if not cells:
        return "Inga nya eller ändrade leveranser i denna körning."
    lines = ["| projekt | kommun | månad | fil | utfall | rader | godkända | avvisade | varningar | skäl |",
             "|---|---|---|---|---|--:|--:|--:|--:|---|"]
    for c in cells[:LISTED_AT_MOST]:
        q = c.quality
        counts = f"{q.rows_total} | {q.rows_accepted} | {q.rows_rejected} | {q.rows_warned}" if q else "– | – | – | –"
        reason = (q.verdict_reason + " " if q and q.verdict_reason else "") + (q.reasons() if q else "")
        lines.append(f"| {c.project_id} | {c.kommun_label} | {c.month} | {markdown_cell(q.file_name) if q else '–'} | "
                     f"{c.verdict} | {counts} | {markdown_cell(reason)} |")
    if len(cells) > LISTED_AT_MOST:
        lines.append(f"\n… och {len(cells) - LISTED_AT_MOST} till: se `followup status` eller partitionerna.")
    return "\n".join(lines)


@dg.asset(
    group_name="reporting",
    pool=WAREHOUSE_POOL,
    deps=[landing_key("deliveries"), landing_key("quarantine_rows"), landing_key("row_warnings")],
    kinds={"duckdb"},
)
def delivery_status(context: dg.AssetExecutionContext, followup: FollowupResource) -> dg.MaterializeResult:
    """Who delivered which month: per project the matrix of `followup status` (✓ godkänd,
    ! godkänd med avvisade rader eller varningar, ✗ avvisad, · ingen leverans) and what needs
    attention; the data quality of every delivery this run processed; rows per warehouse table.
    Records each changed municipality-month on `municipality_months/<project>`."""
    home, config = followup.data_home(), followup.projects()
    cells = municipality_months(home.warehouse, config)
    recorded = record_municipality_months(context, config, cells)
    counts = warehouse_row_counts(home.warehouse)
    matrices = {
        f"matrix {project.id}": dg.MetadataValue.md(
            f"### {project.name}\n\n{code_block(format_status(home.warehouse, config, project.id, inbox=home.inbox))}")
        for project in config.projects
    }
    return dg.MaterializeResult(metadata={
        "processed": dg.MetadataValue.md(quality_table(recorded)),
        **matrices,
        "municipality_months_recorded": len(recorded),
        "deliveries_rejected_whole": sum(1 for c in recorded if not c.in_force),
        "tables": dg.MetadataValue.md("| tabell | rader |\n|---|--:|\n"
                                      + "\n".join(f"| {t} | {n} |" for t, n in counts.items())),
        "dagster/row_count": counts.get("landing.deliveries", 0),
    })


@dg.asset_check(asset="inbox_deliveries", name="every_municipality_delivered", pool=WAREHOUSE_POOL,
                description="Every municipality has an accepted delivery for its project's newest month.")
def every_municipality_delivered(followup: FollowupResource) -> dg.AssetCheckResult:
    home, config = followup.data_home(), followup.projects()
    missing = missing_deliveries(home.warehouse, config)
    table = "\n".join(f"| {m.project_id} | {m.kommunkod} | {m.reporting_month} |" for m in missing)
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing": len(missing),
                  "details": dg.MetadataValue.md("| projekt | kommun | månad |\n|---|---|---|\n" + table
                                                 if table else "Alla kommuner har levererat.")},
    )
