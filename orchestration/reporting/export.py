"""The funder tables per project (shared/spec/kpis.md): `kpi.csv` and the workbook `kpi.xlsx`.

Funder exports pass disclosure control (reporting/suppression.py: small counts hidden, then
further cells so that no hidden figure can be recovered by subtraction); `--unsuppressed` writes
the exact figures as kpi_internal.csv for the region's own coordinators. Every text cell that a
spreadsheet would read as a formula (=, +, -, @ first) is neutralised with a leading quote.

kpi.csv holds the export month; kpi.xlsx (reporting/workbook.py) holds the same month in its
summary sheets plus every month up to it in the trend, each month suppressed on its own exactly as
its kpi.csv would be, and the data version: the deliveries the figures stand on and the run that
built them. A project with a mapping instrument also gets kartlaggning.csv (reporting/mapping.py),
through the same disclosure control, and the workbook's sheet Kartläggning.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.warehouse import connect, last_marts_build
from orchestration.projects.config import Project, ProjectsConfig
from orchestration.reporting import mapping as mapping_figures
from orchestration.reporting import suppression as suppression_module
from orchestration.reporting.suppression import apply_suppression, rows_to_hide
from orchestration.reporting.workbook import neutralise_formula, write_workbook

KPI_COLUMNS = ("project_id", "area", "period", "kpi", "breakdown", "group", "value", "numerator",
               "denominator", "target", "target_met", "suppressed")


@dataclass(frozen=True)
class ExportedFile:
    project_id: str
    period: str
    path: Path
    rows: int
    workbook: Path | None = None
    mapping: Path | None = None     # kartlaggning.csv, for a project with a mapping instrument


@dataclass(frozen=True)
class BuiltBy:
    """The run that built the figures, for the workbook's data version."""
    run_id: str | None
    built_at: dt.datetime | None


def newest_period(warehouse: Path, project_id: str) -> str | None:
    """The newest month with deliveries for the project (the default export period): the marts
    run to the newest accepted month, capped at the project's end."""
    with connect(warehouse, read_only=True) as db:
        row = db.execute("select max(period) from marts.kpi_values where project_id = ?", [project_id]).fetchone()
    return row[0] if row else None


_KPI_SELECT = (
    "select project_id, area, period, kpi, breakdown, breakdown_group as \"group\", value, numerator, "
    "denominator, target, target_met from marts.kpi_values where project_id = ? and period <= ? "
    "order by period, area = 'ALL' desc, area, kpi, breakdown = 'total' desc, breakdown, breakdown_group"
)
_FETCHED_AT_ONCE = 50_000


def kpi_months(warehouse: Path, project_id: str, period: str):
    """(month, exact rows) for every month of the project up to and including `period`, oldest
    first, one month at a time from one query."""
    for month, names, values in _kpi_month_values(warehouse, project_id, period):
        yield month, [dict(zip(names, row)) for row in values]


def _kpi_month_values(warehouse: Path, project_id: str, period: str):
    """(month, column names, rows as tuples): kpi_months without a dict per row."""
    with connect(warehouse, read_only=True) as db:
        cursor = db.execute(_KPI_SELECT, [project_id, period])
        names = tuple(d[0] for d in cursor.description)
        at = names.index("period")
        month, rows = None, []
        while batch := cursor.fetchmany(_FETCHED_AT_ONCE):
            for values in batch:
                if values[at] != month and rows:
                    yield month, names, rows
                    rows = []
                month = values[at]
                rows.append(values)
        if rows:
            yield month, names, rows


def published_months(warehouse: Path, project: Project, period: str, unsuppressed: bool = False,
                     whole: Callable[[str], bool] = lambda month: True):
    """(month, rows) for every month up to and including `period`, oldest first, each month's
    rows exactly as its kpi.csv (suppressed on its own; exact with `unsuppressed`). Of a month for
    which `whole(month)` is false, only its headline rows (is_headline), as they are in the whole
    month: the trend of the workbook and the report need no more of the history.

    One month at a time: a national project has ~100 000 rows a month, and the whole history
    as Python rows would not fit the memory a run may use (BENCHMARKS.md)."""
    cache = suppression_cache(warehouse, project.id)
    remembered = {} if unsuppressed else _read_cache(cache)
    for month, names, values in _kpi_month_values(warehouse, project.id, period):
        kept = range(len(values)) if whole(month) else _headline_positions(names, values)
        if unsuppressed:
            yield month, [dict(zip(names, values[i]), suppressed=False) for i in kept]
        else:
            yield month, _suppress_month(names, values, kept, project.min_count, remembered)
    if not unsuppressed:
        _write_cache(cache, remembered)


def is_headline(row: dict) -> bool:
    """A whole-project total: what the trend shows of every month."""
    return row["area"] == "ALL" and row["breakdown"] == "total"


def _headline_positions(names: tuple[str, ...], values: list[tuple]) -> list[int]:
    area, breakdown = names.index("area"), names.index("breakdown")
    return [i for i, row in enumerate(values) if is_headline({"area": row[area], "breakdown": row[breakdown]})]


def data_version(warehouse: Path, project_id: str, period: str) -> list[dict]:
    """Every delivery for the project's months up to `period`: what the figures stand on (the
    current snapshots, and the mapping files in force) and what was received but does not count
    (replaced, rejected). `extract_kind` tells a mapping file from an enrolment snapshot."""
    return _select(
        warehouse,
        "select kommunkod, reporting_month, file_name, sha256, received_at, verdict, verdict_reason, rows_total, "
        "rows_accepted, rows_rejected, rows_warned, is_current, extract_kind from marts.fct_deliveries "
        "where project_id = ? and reporting_month <= ? order by kommunkod, reporting_month, received_at",
        [project_id, period])


def _select(warehouse: Path, sql: str, parameters: list) -> list[dict]:
    with connect(warehouse, read_only=True) as db:
        cursor = db.execute(sql, parameters)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def _suppress_month(names: tuple[str, ...], values: list[tuple], kept, min_count: int, remembered: dict) -> list[dict]:
    """Disclosure control of one month's rows (as tuples of `names`), so they are exactly its
    kpi.csv; of them, the rows at the positions `kept`.

    `remembered` (the cache file's contents) says which rows each month hid, keyed by a
    fingerprint of the month's exact rows, the minimum count and the suppression code. A month
    whose figures have not changed since the last export (most of the history, month after
    month) is not worked out again; the result is the same either way, as the fingerprint covers
    everything `suppress` reads. Updated for a month that had changed."""
    if not values:
        return []
    period = values[0][names.index("period")]
    key = _fingerprint(names, values, min_count)
    entry = remembered.get(period)
    if isinstance(entry, dict) and entry.get("key") == key:
        hidden = set(entry["hidden"])
    else:
        hidden = rows_to_hide([dict(zip(names, row)) for row in values], min_count)
        remembered[period] = {"key": key, "hidden": sorted(hidden)}
    kept = list(kept)
    rows = [dict(zip(names, values[i])) for i in kept]
    return apply_suppression(rows, {position for position, i in enumerate(kept) if i in hidden})


_SUPPRESSION_CODE = hashlib.sha256(Path(suppression_module.__file__).read_bytes()).hexdigest()


def _fingerprint(names: tuple[str, ...], values: list[tuple], min_count: int) -> str:
    digest = hashlib.sha256(f"{_SUPPRESSION_CODE}|{min_count}".encode())
    columns = [names.index(name) for name in _FINGERPRINTED]
    rows = values if columns == list(range(len(names))) else [tuple(row[c] for c in columns) for row in values]
    digest.update(repr([tuple(row) for row in rows]).encode())
    return digest.hexdigest()


_FINGERPRINTED = ("project_id", "area", "period", "kpi", "breakdown", "group", "value", "numerator", "denominator",
                  "target", "target_met")


def suppression_cache(warehouse: Path, project_id: str) -> Path:
    """Beside the warehouse (it holds the positions of hidden rows, no figures)."""
    return warehouse.parent / "cache" / "suppression" / f"{project_id}.json"


def _read_cache(cache: Path | None) -> dict:
    if cache is None or not cache.exists():
        return {}
    try:
        return json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}                                   # a damaged cache is only a slower export


def _write_cache(cache: Path | None, remembered: dict) -> None:
    if cache is None:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(cache.name + ".part")
        temporary.write_text(json.dumps(remembered, sort_keys=True), encoding="utf-8")
        temporary.replace(cache)
    except OSError:
        pass                                        # read-only data home: export without the cache


def export_project(warehouse: Path, project: Project, out_dir: Path, period: str | None = None,
                   unsuppressed: bool = False, built_by: BuiltBy | None = None) -> ExportedFile | None:
    """kpi.csv and kpi.xlsx for one project (kpi_internal.* with --unsuppressed) in out_dir/<project>/,
    and for a project with a mapping instrument kartlaggning.csv (kartlaggning_internal.csv) with
    the mapping figures, also shown in the workbook's sheet Kartläggning. The mapping has no
    months: it is every occasion that counts, whatever the period. Without KPI figures yet only
    kartlaggning.csv is written (and None returned)."""
    stem = "kpi_internal" if unsuppressed else "kpi"
    folder = out_dir / project.id
    mapping_rows = mapping_figures.published_rows(warehouse, project, unsuppressed)
    mapping_path = None
    if mapping_rows:
        folder.mkdir(parents=True, exist_ok=True)
        mapping_path = folder / ("kartlaggning_internal.csv" if unsuppressed else "kartlaggning.csv")
        write_mapping_csv(mapping_rows, mapping_path)
    period = period or newest_period(warehouse, project.id)
    if period is None:
        return None
    # The workbook's summary sheets show the export month in full, its trend only the project's
    # totals of the earlier months.
    history, rows = [], []
    for month, month_rows in published_months(warehouse, project, period, unsuppressed, whole=lambda m: m == period):
        history += month_rows
        if month == period:
            rows = month_rows
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stem}.csv"
    write_kpi_csv(rows, target)
    built_by = built_by or BuiltBy(None, None)
    workbook = write_workbook(
        history, project, folder / f"{stem}.xlsx", data_version(warehouse, project.id, period),
        run_id=built_by.run_id,
        built_at=built_by.built_at.isoformat(sep=" ", timespec="minutes") if built_by.built_at else None,
        exact=unsuppressed, mapping=mapping_rows,
    )
    return ExportedFile(project.id, period, target, len(rows), workbook, mapping_path)


def figures_built_by(dagster_home: Path, warehouse: Path | None = None) -> BuiltBy:
    """The run that last built marts.kpi_values, for an export made after the run, from the
    command line: recorded in the warehouse by the dbt step (no Dagster start-up), else the
    newest materialisation in the Dagster instance of the data home. Unknown when neither has one."""
    if warehouse is not None and warehouse.exists():
        recorded = last_marts_build(warehouse)
        if recorded is not None:
            return BuiltBy(recorded[0], recorded[1])
    if not (dagster_home / "dagster.yaml").exists():
        return BuiltBy(None, None)
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("kpi_values"))
    if event is None:
        return BuiltBy(None, None)
    return BuiltBy(event.run_id, dt.datetime.fromtimestamp(event.timestamp))


def write_kpi_csv(rows: list[dict], target: Path) -> None:
    """The rows as kpi.csv (UTF-8, comma, header), written atomically."""
    _write_csv(rows, target, KPI_COLUMNS)


def write_mapping_csv(rows: list[dict], target: Path) -> None:
    """The mapping rows as kartlaggning.csv (reporting/mapping.py's MAPPING_COLUMNS), as kpi.csv is written."""
    _write_csv(rows, target, mapping_figures.MAPPING_COLUMNS)


def _write_csv(rows: list[dict], target: Path, columns: tuple[str, ...]) -> None:
    temporary = target.with_name(target.name + ".part")
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(column)) for column in columns])
    temporary.replace(target)


def export_all(warehouse: Path, config: ProjectsConfig, out_dir: Path, project_id: str | None = None,
               period: str | None = None, unsuppressed: bool = False,
               built_by: BuiltBy | None = None) -> list[ExportedFile]:
    projects = [config.project(project_id)] if project_id else list(config.projects)
    exported = [export_project(warehouse, p, out_dir, period, unsuppressed, built_by) for p in projects]
    return [e for e in exported if e is not None]


def _isnan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _cell(value: object) -> str:
    """CSV text: blank for missing, true/false for booleans, integers without '.0'; a text that
    a spreadsheet would run as a formula gets a leading quote (numbers are never text here)."""
    if value is None or _isnan(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(round(value, 6))
        return str(value)
    return neutralise_formula(" ".join(str(value).splitlines()))   # a line break would split the CSV row
