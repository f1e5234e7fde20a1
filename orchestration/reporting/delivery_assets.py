"""Deliveries as their readers see them: the municipality's delivery reports and feedback, and what a
coordinator reads in the Dagster UI, without SQL.

- `delivery_reports`: a report per received file for the municipality that sent it (delivery_report.py)
  and the feedback folder in its inbox folder (feedback.py), written as soon as validation has run;
- `delivery_status`: the municipality × month matrix of `followup status`, a data-quality line
  per delivery processed, and the row count of every warehouse table.
- `municipality_months/<project>`: one partitioned asset per project, partitions `kommun` ×
  `month`, recorded by `delivery_status` (see `municipality_month_specs` for why), which keeps
  every municipality-month in the table `ops.municipality_month_status` (`record_municipality_months`).
- the check `every_municipality_delivered`.
"""

import datetime as dt
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration.lib.asset_keys import WAREHOUSE_POOL, landing_key
from orchestration.lib.dagster_internals import DATA_VERSION_TAG, AssetCheckEvaluationTargetMaterializationData
from orchestration.lib import delivery_state as states
from orchestration.lib.contract import REJECTED
from orchestration.lib.local_time import shown as shown_time
from orchestration.lib.safe_text import code_block, console, markdown_cell
from orchestration.lib.thresholds import PARTITION_FEW_CHANGES_PER_MUNICIPALITY, PARTITION_NEWEST_MONTHS
from orchestration.lib.warehouse import OPS_DDL, connect
from orchestration.projects.config import Project, ProjectsConfig, load_kommuner
from orchestration.reporting.monitoring import (MunicipalityMonth, missing_deliveries, municipality_months,
                                                warehouse_row_counts)
from orchestration.reporting import status
from orchestration.reporting.delivery_report import report_paths, write_delivery_reports
from orchestration.reporting.feedback import write_feedback
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
    logs an `AssetMaterialization` for a municipality-month whose deliveries changed (data
    version = a hash of the month's deliveries and verdicts), with the verdict, file and row
    counts as metadata. A month whose files were all rejected is logged as an `AssetObservation`
    instead, so a green partition always means "a delivery counts in the KPIs" and a grey one
    "nothing counts yet: missing or rejected" (or, for an older month of a backfill, "see the
    status table": an event costs ~15-20 ms, so a backfill logs only its newest months, and
    every month it logged before, as partitions: `partition_cells`).
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
                         "grå = saknas eller avvisad, eller en äldre månad från en stor körning (den står i "
                         "delivery_status och tabellen ops.municipality_month_status). Metadata: utfall, fil, rader, "
                         "skäl."),
        )
        for project in config.projects
    ]


def partition_key(cell: MunicipalityMonth) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"kommun": kommun_partition(cell.kommunkod, cell.kommun), "month": cell.month})


def partition_metadata(cell: MunicipalityMonth, reports_dir: Path) -> dict[str, object]:
    """A cell's detail in the partition view, in Swedish: what stands, what to do, every file of the
    month with its arrival time, verdict and the path of its delivery report."""
    shown = next((d for d in cell.files if d.in_force), cell.files[-1] if cell.files else None)
    action = [p.text for p in cell.problems if p.needs_action]
    metadata: dict[str, object] = {
        "läge": states.STATE_LABELS[shown.state] if shown else "–",
        "räknas i nyckeltalen": "ja" if cell.in_force else "nej",
        "att åtgärda": dg.MetadataValue.md(markdown_cell("; ".join(action)) if action else "Inget."),
        "sen leverans": "ja" if cell.late else "nej",
        "filer": dg.MetadataValue.md(files_table(cell.files, reports_dir)),
    }
    if shown is not None:
        html_report, _ = report_paths(reports_dir, shown.project_id, shown.kommunkod, shown.reporting_month,
                                      shown.sha256, shown.extract_kind)
        metadata["leveransrapport"] = dg.MetadataValue.path(str(html_report))
    if cell.quality:
        q = cell.quality
        metadata.update({"fil som gäller" if cell.in_force else "senaste fil": console(q.file_name, keep_newlines=False),
                         "rader": q.rows_total, "godkända rader": q.rows_accepted, "avvisade rader": q.rows_rejected,
                         "rader med varning": q.rows_warned, "orsaker": q.reasons(),
                         "okända kolumner": q.unknown_columns or "–"})
    return metadata


def files_table(files: Sequence[status.Delivery], reports_dir: Path) -> str:
    """Every file of a month, in arrival order, as a markdown table."""
    lines = ["| fil | mottagen (svensk tid) | utfall | läge | avvisade rader | rapport |", "|---|---|---|---|--:|---|"]
    for d in files:
        html_report, _ = report_paths(reports_dir, d.project_id, d.kommunkod, d.reporting_month, d.sha256,
                                      d.extract_kind)
        lines.append(f"| {markdown_cell(d.file_name)} | {shown_time(d.received_at)} | "
                     f"{states.VERDICT_LABELS.get(d.verdict, d.verdict)} | {states.STATE_LABELS[d.state]} | "
                     f"{d.rows_rejected} | {markdown_cell(html_report.relative_to(reports_dir).as_posix())} |")
    return "\n".join(lines)


ATTENTION_CHECK = "inget_att_atgarda"


def attention_check_result(cell: MunicipalityMonth | None) -> tuple[bool, dict[str, object]]:
    """A municipality-month passes when nothing in it needs action; the metadata says what does."""
    action = [p.text for p in cell.problems if p.needs_action] if cell else []
    return not action, {"att åtgärda": dg.MetadataValue.md(markdown_cell("; ".join(action)) if action else "Inget.")}


def municipality_month_checks(config: ProjectsConfig) -> list[dg.AssetChecksDefinition]:
    """Per project, a check per municipality-month: "nothing to act on". `delivery_status` records
    a failed result for each month it records that needs action (so a run needs no extra step),
    and the check's own partition grid (the asset's Checks tab → inget_att_atgarda → Partitions)
    shows those months red among grey ones. A month that is recorded again (a later file) loses
    its red by itself: a result counts only for the month's materialization it points at. Only
    failures are logged, and only for the months logged as partitions (`partition_cells`): an
    event for every month of a national backfill would cost more than the months themselves.
    Executed by hand, the check works the month out afresh.

    Why a check: the asset's partition view shows only whether a partition is materialized, and a
    month with rejected rows still has a file that counts. A partitioned check can turn back to
    passed when a later file settles the month, which a second asset of problems could not (a
    materialization cannot be undone)."""
    kommuner = load_kommuner()
    with warnings.catch_warnings():      # partitioned checks are a preview in Dagster 1.13 (pinned in the lock)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [_attention_check(project, municipality_months_partitions(project, kommuner))
                for project in config.projects]


def _attention_check(project: Project, partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=municipality_months_key(project.id), name=ATTENTION_CHECK, partitions_def=partitions_def,
                    pool=WAREHOUSE_POOL,
                    description="Inget att åtgärda för kommunen och månaden: ingen avvisad fil utan senare godkänd, "
                                "inga avvisade rader i filen som gäller, inte sen. Röd = något att åtgärda; grå = "
                                "inget att åtgärda (eller ingen fil som gäller: se tillgångens partitioner).")
    def check(context: dg.AssetCheckExecutionContext, followup: FollowupResource) -> dg.AssetCheckResult:
        home, config = followup.data_home(), followup.projects()
        wanted = str(context.partition_key)
        cell = next((c for c in municipality_months(home.warehouse, config)
                     if c.project_id == project.id and str(partition_key(c)) == wanted), None)
        passed, metadata = attention_check_result(cell)
        return dg.AssetCheckResult(passed=passed, metadata=metadata, severity=dg.AssetCheckSeverity.WARN)

    return check


STATUS_TABLE = "ops.municipality_month_status"      # lib/warehouse.OPS_DDL
CellKey = tuple[str, str, str]                       # (project_id, kommunkod, month)


def cell_key(cell: MunicipalityMonth) -> CellKey:
    return cell.project_id, cell.kommunkod, cell.month


@dataclass(frozen=True)
class StatusRow:
    """What the status table knew of a cell before this run: its version, and the version last
    logged as a partition event (None: never), with when and by which run."""

    version: str | None
    changed_at: dt.datetime | None = None
    changed_run_id: str | None = None
    recorded_version: str | None = None
    recorded_at: dt.datetime | None = None
    recorded_run_id: str | None = None

    @property
    def recorded(self) -> bool:
        return self.recorded_version is not None


UNKNOWN = StatusRow(None)


def read_status_table(warehouse: Path) -> dict[CellKey, StatusRow]:
    """The table as the last run left it; empty where no run of this release has created it yet
    (ensure_schema does, before every run; a step started alone from the UI may come first)."""
    with connect(warehouse, read_only=True) as db:
        if not db.execute("select count(*) from duckdb_tables() where schema_name = 'ops' "
                          "and table_name = 'municipality_month_status'").fetchone()[0]:
            return {}
        rows = db.execute(f"select project_id, kommunkod, month, version, changed_at, changed_run_id, recorded_version, "
                          f"recorded_at, recorded_run_id from {STATUS_TABLE}").fetchall()
    return {(p, k, m): StatusRow(*rest) for p, k, m, *rest in rows}


def event_log_status(instance: dg.DagsterInstance, key: dg.AssetKey,
                     cells: Sequence[MunicipalityMonth]) -> dict[CellKey, StatusRow]:
    """The cells as the event log has them (one query per event type for the whole asset): the
    version of each cell's latest event of its kind, and whether it has an event of either kind.
    For a home whose partitions were logged before the status table existed."""
    storage = instance.event_log_storage
    recorded = {
        True: storage.get_latest_tags_by_partition(key, dg.DagsterEventType.ASSET_MATERIALIZATION, [DATA_VERSION_TAG]),
        False: storage.get_latest_tags_by_partition(key, dg.DagsterEventType.ASSET_OBSERVATION, [DATA_VERSION_TAG]),
    }
    result = {}
    for cell in cells:
        partition = str(partition_key(cell))
        same_kind = recorded[cell.in_force].get(partition, {}).get(DATA_VERSION_TAG)
        other_kind = recorded[not cell.in_force].get(partition, {}).get(DATA_VERSION_TAG)
        if same_kind or other_kind:
            result[cell_key(cell)] = StatusRow(version=same_kind, recorded_version=same_kind or other_kind)
    return result


def has_partition_events(instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
    """Whether this Dagster instance has logged any partition of the asset (a query or two; the
    asset's record does not keep observations, a project of rejected months has only those)."""
    return bool(instance.fetch_materializations(key, limit=1).records
                or instance.fetch_observations(key, limit=1).records)


def newest_months(cells: Sequence[MunicipalityMonth], months: int = PARTITION_NEWEST_MONTHS) -> set[CellKey]:
    """The cells of each project's newest `months` months with a delivery, and each municipality's
    newest month: those get a partition event whenever they change, so the partition view shows
    every municipality's newest month."""
    delivered: dict[str, set[str]] = {}
    newest_of: dict[tuple[str, str], str] = {}
    for cell in cells:
        delivered.setdefault(cell.project_id, set()).add(cell.month)
        municipality = (cell.project_id, cell.kommunkod)
        newest_of[municipality] = max(newest_of.get(municipality, cell.month), cell.month)
    newest = {project: set(sorted(found)[-months:]) for project, found in delivered.items()}
    return {cell_key(c) for c in cells
            if c.month in newest[c.project_id] or c.month == newest_of[(c.project_id, c.kommunkod)]}


def partition_cells(changed: Sequence[MunicipalityMonth], previous: dict[CellKey, StatusRow],
                    newest: set[CellKey], municipalities: int) -> list[MunicipalityMonth]:
    """Which of one project's changed cells get a partition event: every one when the run changes
    few (at most PARTITION_FEW_CHANGES_PER_MUNICIPALITY per municipality of the project);
    otherwise those logged before (a partition never keeps showing an old status) and the newest
    months. The rest of a backfill is in the status table and the asset's summary."""
    if len(changed) <= PARTITION_FEW_CHANGES_PER_MUNICIPALITY * max(municipalities, 1):
        return list(changed)
    return [c for c in changed if cell_key(c) in newest or previous.get(cell_key(c), UNKNOWN).recorded]


@dataclass(frozen=True)
class Recorded:
    """What one run of `delivery_status` did with the municipality-months: those whose version
    changed, and those of them it logged as partition events (the rest only in the status table)."""

    changed: list[MunicipalityMonth]
    as_partitions: list[MunicipalityMonth]


def record_municipality_months(context: dg.AssetExecutionContext, config: ProjectsConfig,
                               cells: Sequence[MunicipalityMonth], warehouse: Path, reports_dir: Path) -> Recorded:
    """Log a partition event for the changed municipality-months `partition_cells` picks, then
    write every cell to the status table.

    Which cells changed is decided against the status table; its "recorded" columns describe the
    event log of the Dagster instance that runs this step. A project this instance has no
    partition event of (a new or another Dagster storage) starts over; a project the table has
    no row of while the instance has its partitions (a home from before the table) takes its
    rows from the event log. The events are logged before the table is written: a step that
    dies in between logs the same months again next time and never leaves a partition stale.

    The partitions come from the same configuration as the run's (`municipality_month_specs`
    builds the assets from it when the code location loads)."""
    kommuner = load_kommuner()
    table = read_status_table(warehouse)
    newest = newest_months(cells)
    by_project: dict[str, list[MunicipalityMonth]] = {}
    for cell in cells:
        by_project.setdefault(cell.project_id, []).append(cell)
    previous: dict[CellKey, StatusRow] = {}
    changed: list[MunicipalityMonth] = []
    logged: list[MunicipalityMonth] = []
    for project_id, project_cells in by_project.items():
        key = municipality_months_key(project_id)
        project = config.project(project_id)
        known = {k: row for k, row in table.items() if k[0] == project_id}
        if not known:
            if has_partition_events(context.instance, key):
                known = event_log_status(context.instance, key, project_cells)
        elif any(row.recorded for row in known.values()) and not has_partition_events(context.instance, key):
            known = {}
        previous.update(known)
        project_changed = [c for c in project_cells if known.get(cell_key(c), UNKNOWN).version != c.version]
        partitions = {str(k) for k in municipality_months_partitions(project, kommuner).get_partition_keys()}
        valid = [c for c in project_changed if str(partition_key(c)) in partitions]   # has_partition_key: ~0.5 ms each
        chosen = partition_cells(valid, known, newest, len(project.municipalities))
        for cell in chosen:
            event = dg.AssetMaterialization if cell.in_force else dg.AssetObservation
            context.log_event(event(asset_key=key, partition=partition_key(cell),
                                    metadata=partition_metadata(cell, reports_dir), tags={DATA_VERSION_TAG: cell.version}))
        _record_attention(context, key, [c for c in chosen if c.in_force and c.needs_action])
        changed += project_changed
        logged += chosen
    if changed or set(table) != {cell_key(c) for c in cells} or any(table[k] != row for k, row in previous.items()):
        write_status_table(warehouse, cells, previous, {cell_key(c) for c in changed}, {cell_key(c) for c in logged},
                           context.run_id)             # else the warehouse is left as it was: a run with nothing new
    return Recorded(changed, logged)


def write_status_table(warehouse: Path, cells: Sequence[MunicipalityMonth], previous: dict[CellKey, StatusRow],
                       changed: set[CellKey], logged: set[CellKey], run_id: str) -> None:
    """Replace the status table by the cells as they are now: a changed cell gets this run as its
    change, a logged one this run as its partition event; the others keep what they had."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = []
    for cell in cells:
        key = cell_key(cell)
        before = previous.get(key, UNKNOWN)
        change = (now, run_id) if key in changed else (before.changed_at, before.changed_run_id)
        record = ((cell.version, now, run_id) if key in logged
                  else (before.recorded_version, before.recorded_at, before.recorded_run_id))
        action = "; ".join(p.text for p in cell.problems if p.needs_action) or None
        quality = cell.quality
        rows.append((*key, cell.version, cell.in_force, cell.needs_action, cell.verdict, cell.deliveries, cell.late,
                     quality.file_name if quality else None, quality.rows_total if quality else None,
                     quality.rows_rejected if quality else None, action, *change, *record))
    with connect(warehouse) as db:
        db.execute(OPS_DDL)
        columns = [name for name, *_ in db.execute(f"describe {STATUS_TABLE}").fetchall()]
        db.register("status_rows", pd.DataFrame(rows, columns=columns, dtype=object))   # executemany: ~2 ms a row
        db.execute("begin")
        db.execute(f"delete from {STATUS_TABLE}")
        db.execute(f"insert into {STATUS_TABLE} select * from status_rows")
        db.execute("commit")


def _record_attention(context: dg.AssetExecutionContext, key: dg.AssetKey, cells: Sequence[MunicipalityMonth]) -> None:
    """A failed check result for each month that needs action, pointing at the month's
    materialization just logged (the check's partition grid shows a result only for the
    partition's latest materialization). One query for them all, whatever the number of months."""
    if not cells:
        return
    storage_ids = context.instance.event_log_storage.get_latest_storage_id_by_partition(
        key, dg.DagsterEventType.ASSET_MATERIALIZATION, {str(partition_key(c)) for c in cells})
    now = time.time()
    for cell in cells:
        passed, metadata = attention_check_result(cell)
        storage_id = storage_ids.get(str(partition_key(cell)))
        context.log_event(dg.AssetCheckEvaluation(
            asset_key=key, check_name=ATTENTION_CHECK, passed=passed, partition=str(partition_key(cell)),
            metadata=metadata, severity=dg.AssetCheckSeverity.WARN,
            target_materialization_data=None if storage_id is None else AssetCheckEvaluationTargetMaterializationData(
                storage_id=storage_id, run_id=context.run_id, timestamp=now)))


def recorded_summary(recorded: Recorded) -> str:
    """In Swedish: how many municipality-months changed, how many became partition events, and
    where the others are read (a backfill logs only its newest months as partitions)."""
    changed, logged = len(recorded.changed), len(recorded.as_partitions)
    if not changed:
        return "Inga kommun-månader ändrades i denna körning."
    text = (f"{changed} kommun-månader ändrades i denna körning; {logged} av dem visas som partitioner i "
            "`municipality_months/<projekt>` (de som behöver åtgärdas också i kontrollen `inget_att_atgarda`).")
    if changed > logged:
        text += (f" De övriga {changed - logged} är äldre månader i en stor körning eller utanför projektets period "
                 f"(partitioner skrivs för {_newest_months_text()}, för varje kommuns senaste, för månader som visats "
                 f"förut och för allt när en körning ändrar högst {PARTITION_FEW_CHANGES_PER_MUNICIPALITY} månader "
                 "per kommun): deras läge står i matrisen ovan, i `followup status`, i reports/index.html och i "
                 f"tabellen `{STATUS_TABLE}` (i lagret och i läsfilen serving/followup.duckdb).")
    return text


def _newest_months_text() -> str:
    if PARTITION_NEWEST_MONTHS == 1:
        return "projektets senaste månad"
    return f"projektets {PARTITION_NEWEST_MONTHS} senaste månader"


MARKDOWN_INLINE = 1000        # Dagster's UI shows shorter markdown metadata inline, longer behind a button


def files_processed(cells: Sequence[MunicipalityMonth], reports_dir: Path) -> str:
    """Every file of the municipality-months this run changed, those needing action first. Only
    files that need nothing are cut off after LISTED_AT_MOST (a national backfill has thousands)."""
    if not cells:
        return "Inga nya eller ändrade leveranser i denna körning."
    files = sorted(((c, d) for c in cells for d in c.files), key=lambda cd: (not cd[1].needs_action, cd[0].month))
    action = sum(1 for _, d in files if d.needs_action)
    shown = files[:max(action, LISTED_AT_MOST)]
    lines = ["| projekt | kommun | månad | fil | mottagen | utfall | läge | rader | avvisade | orsak |",
             "|---|---|---|---|---|---|---|--:|--:|---|"]
    for c, d in shown:
        q = c.quality if c.quality and c.quality.arrival_seq == d.arrival_seq else None
        reason = (d.verdict_reason or "") + (" " + q.reasons() if q else "")
        lines.append(f"| {c.project_id} | {c.kommun_label} | {c.month} | {markdown_cell(d.file_name)} | "
                     f"{shown_time(d.received_at)} | {states.VERDICT_LABELS.get(d.verdict, d.verdict)} | "
                     f"{'**' if d.needs_action else ''}{states.STATE_LABELS[d.state]}{'**' if d.needs_action else ''} | "
                     f"{q.rows_total if q else '–'} | {d.rows_rejected} | {markdown_cell(reason.strip() or '–')} |")
    if len(files) > len(shown):
        lines.append(f"\n… och {len(files) - len(shown)} filer till utan något att åtgärda: se `followup status`, "
                     "reports/index.html eller partitionerna.")
    return "\n".join(lines)


def mapping_files(statuses: Sequence[status.ProjectStatus], reports_dir: Path) -> str:
    """Every mapping file (kartlaggning/) per project, outside the month grids: a mapping has no
    monthly deadline, so it is never a missing or late month there."""
    kommuner = load_kommuner()
    lines = ["| projekt | kommun | månad | fil | mottagen | utfall | läge | avvisade | rapport |",
             "|---|---|---|---|---|---|---|--:|---|"]
    files = [(s.project.id, d) for s in statuses for d in s.mappings]
    for project_id, d in files[:LISTED_AT_MOST]:
        html_report, _ = report_paths(reports_dir, d.project_id, d.kommunkod, d.reporting_month, d.sha256,
                                      d.extract_kind)
        lines.append(f"| {project_id} | {kommun_partition(d.kommunkod, kommuner.get(d.kommunkod, ''))} | "
                     f"{d.reporting_month} | {markdown_cell(d.file_name)} | {shown_time(d.received_at)} | "
                     f"{states.VERDICT_LABELS.get(d.verdict, d.verdict)} | "
                     f"{'**' if d.needs_action else ''}{states.STATE_LABELS[d.state]}{'**' if d.needs_action else ''} | "
                     f"{d.rows_rejected} | {markdown_cell(html_report.relative_to(reports_dir).as_posix())} |")
    if not files:
        return "Inga kartläggningar."
    if len(files) > LISTED_AT_MOST:
        lines.append(f"\n… och {len(files) - LISTED_AT_MOST} filer till: se `followup status` eller reports/index.html.")
    return "\n".join(lines)


def attention_entries(cells: Sequence[MunicipalityMonth]) -> dict[str, dg.MetadataValue]:
    """Everything that needs action, none left out, in markdown entries short enough for the UI to
    show inline (one long entry would hide behind "Show Markdown")."""
    rows = [f"| {c.project_id} | {c.kommun_label} | {c.month} | "
            f"{markdown_cell(p.text.split(': ', 1)[0])} |"
            for c in cells for p in c.problems if p.needs_action]
    head = "| projekt | kommun | månad | vad |\n|---|---|---|---|\n"
    if not rows:
        return {"att åtgärda": dg.MetadataValue.md("Inget att åtgärda.")}
    entries: list[list[str]] = [[]]
    for row in rows:
        if entries[-1] and len(head) + sum(len(r) + 1 for r in entries[-1]) + len(row) >= MARKDOWN_INLINE:
            entries.append([])
        entries[-1].append(row)
    names = ["att åtgärda"] + [f"att åtgärda, del {n}" for n in range(2, len(entries) + 1)]
    return {name: dg.MetadataValue.md(head + "\n".join(part)) for name, part in zip(names, entries)}


@dg.asset(
    group_name="reporting",
    pool=WAREHOUSE_POOL,
    deps=[landing_key("deliveries"), landing_key("quarantine_rows"), landing_key("row_warnings"),
          landing_key("unrouted_files")],
    kinds={"html", "csv"},
)
def delivery_reports(followup: FollowupResource) -> dg.MaterializeResult:
    """En leveransrapport per mottagen fil till kommunen som skickade den (utfall, läge, antal rader,
    okända kolumner, avvisade rader och varningar per radnummer), som HTML och CSV i reports/, och en
    översikt (index.html) som börjar med det som behöver åtgärdas. Varje kommunmapp i inkorgen får
    sina egna rapporter och sina månader i återkoppling/."""
    home = followup.data_home()
    config = followup.projects()
    summary = write_delivery_reports(home.warehouse, home.reports, config)
    feedback = write_feedback(home, config)
    return dg.MaterializeResult(metadata={
        "rapporter": summary.reports,
        "filer skrivna": len(summary.written),
        "översikt": dg.MetadataValue.path(str(summary.index)),
        "återkopplingsmappar": feedback.folders,
        "återkopplingsmappar skrivna": len(feedback.written),
        "återkoppling ej skriven": dg.MetadataValue.text("; ".join(feedback.skipped) or "–"),
    })


@dg.asset(
    group_name="reporting",
    pool=WAREHOUSE_POOL,
    deps=[landing_key("deliveries"), landing_key("quarantine_rows"), landing_key("row_warnings")],
    kinds={"duckdb"},
)
def delivery_status(context: dg.AssetExecutionContext, followup: FollowupResource) -> dg.MaterializeResult:
    """Vem har levererat vilken månad: först det som behöver åtgärdas (avvisad fil utan senare godkänd,
    avvisade rader, sen eller saknad leverans), sedan varje projekts matris (✓ godkänd, ! godkänd med
    avvisade rader eller varningar, ✗ avvisad, · ingen leverans), alla filer som körningen behandlade
    och antal rader per tabell. Varje kommun-månad står i tabellen ops.municipality_month_status; de ändrade
    förs in som partitioner i `municipality_months/<projekt>`, i en stor körning bara de senaste månaderna."""
    home, config = followup.data_home(), followup.projects()
    cells = municipality_months(home.warehouse, config)
    recorded = record_municipality_months(context, config, cells, home.warehouse, home.reports)
    counts = warehouse_row_counts(home.warehouse)
    statuses = status.delivery_status(home.warehouse, config)
    matrices = {
        f"matris {project.id}": dg.MetadataValue.md(
            code_block(format_status(home.warehouse, config, project.id, lists=False, statuses=statuses)))
        for project in config.projects
    }
    files = [d for c in cells for d in c.files]
    return dg.MaterializeResult(metadata={
        **attention_entries(cells),
        "att åtgärda, antal": sum(1 for c in cells for p in c.problems if p.needs_action),
        **matrices,
        "teckenförklaring": status.LEGEND,
        "filer i körningen": dg.MetadataValue.md(files_processed(recorded.changed, home.reports)),
        "kommun-månader uppdaterade": len(recorded.changed),
        "kommun-månader som partitioner": len(recorded.as_partitions),
        "kommun-månader": dg.MetadataValue.md(recorded_summary(recorded)),
        "kartläggningar": dg.MetadataValue.md(mapping_files(statuses, home.reports)),
        "kartläggningar att åtgärda": sum(1 for s in statuses for p in s.mapping_problems if p.needs_action),
        "filer avvisade": sum(1 for d in files if d.verdict == REJECTED),
        "filer avvisade utan senare godkänd fil": sum(1 for d in files if d.state in states.NEEDS_ACTION_STATES),
        "tabeller": dg.MetadataValue.md("| tabell | rader |\n|---|--:|\n"
                                        + "\n".join(f"| {t} | {n} |" for t, n in counts.items())),
        "dagster/row_count": counts.get("landing.deliveries", 0),
    })


@dg.asset_check(asset="inbox_deliveries", name="every_municipality_delivered", pool=WAREHOUSE_POOL,
                description="Varje kommun har en godkänd leverans som gäller för projektets senaste månad.")
def every_municipality_delivered(followup: FollowupResource) -> dg.AssetCheckResult:
    home, config = followup.data_home(), followup.projects()
    missing = missing_deliveries(home.warehouse, config)
    kommuner = load_kommuner()
    table = "\n".join(f"| {m.project_id} | {m.kommunkod} {kommuner.get(m.kommunkod, '')} | {m.reporting_month} |"
                      for m in missing)
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"saknas": len(missing),
                  "kommuner utan leverans": dg.MetadataValue.md("| projekt | kommun | månad |\n|---|---|---|\n" + table
                                                                if table else "Alla kommuner har levererat.")},
    )
