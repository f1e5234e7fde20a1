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
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.warehouse import ROW_DIGEST, connect, last_marts_build
from orchestration.projects.config import Project, ProjectsConfig
from orchestration.reporting import mapping as mapping_figures
from orchestration.reporting import suppression as suppression_module
from orchestration.reporting.suppression import apply_suppression, positions_to_hide
from orchestration.reporting.suppression_workers import hidden_positions
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
    # The files (names) taken unchanged from the exports of the same figures made before (the
    # run's), not worked out again; the rest were written.
    reused: tuple[str, ...] = ()
    key: str | None = None          # export_key: the figures they are of


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
                     whole: Callable[[str], bool] = lambda month: True, months: list[str] | None = None):
    """(month, rows) for every month up to and including `period` (of `months` only, if given),
    oldest first, each month's rows exactly as its kpi.csv (suppressed on its own; exact with
    `unsuppressed`). Of a month for which `whole(month)` is false, only its headline rows
    (is_headline), as they are in the whole month: the trend of the workbook and the report need
    no more of the history.

    One month at a time: a national project has ~100 000 rows a month, and the whole history
    as Python rows would not fit the memory a run may use (BENCHMARKS.md). A month whose
    disclosure control is remembered (the cache, keyed by a digest of the month's rows taken in
    the warehouse) and of which only the headline rows are asked for is not read whole at all.
    The months not remembered are worked out first, by two child processes at once when they are
    many rows (_hidden_in_children), else here as they come."""
    cache = suppression_cache(warehouse, project.id)
    remembered = {} if unsuppressed else _read_cache(cache)
    with connect(warehouse, read_only=True) as db:
        keys, counts = _month_keys(db, project, period, months)
        cached = {month: entry["hidden"] for month, key in keys.items()
                  if isinstance(entry := remembered.get(month), dict) and entry.get("key") == key}
        if not unsuppressed:
            for month, hidden in _hidden_in_children(warehouse, project, [m for m in keys if m not in cached],
                                                     counts).items():
                cached[month] = hidden
                remembered[month] = {"key": keys[month], "hidden": hidden}
        headlines: dict[str, tuple[tuple[str, ...], list[tuple], list[int]]] | None = None
        for month, key in keys.items():
            hidden = set(cached[month]) if month in cached else None
            if not whole(month) and (unsuppressed or hidden is not None):
                if headlines is None:                   # every month's at once, when the first is asked for
                    headlines = _headline_values(db, project.id, period)
                names, values, positions = headlines.get(month, ((), [], []))
            else:
                names, values = _month_values(db, project.id, month)
                positions = range(len(values)) if whole(month) else _headline_positions(names, values)
                if not unsuppressed and hidden is None:
                    hidden = positions_to_hide(names, values, project.min_count)
                    remembered[month] = {"key": key, "hidden": sorted(hidden)}
                values = [values[i] for i in positions] if not whole(month) else values
            if unsuppressed:
                yield month, [dict(zip(names, row), suppressed=False) for row in values]
            else:
                yield month, apply_suppression((dict(zip(names, row)) for row in values),    # one dict at a time
                                               {at for at, i in enumerate(positions) if i in hidden})
    if not unsuppressed:
        _write_cache(cache, remembered)


_MONTH_DIGESTS = (
    f"select period, {ROW_DIGEST} from ("
    "select project_id, area, period, kpi, breakdown, breakdown_group, value, numerator, denominator, target, "
    "target_met from marts.kpi_values where project_id = ? and period <= ?) t group by period order by period"
)


def _month_keys(db, project: Project, period: str, months: list[str] | None) -> tuple[dict[str, str], dict[str, int]]:
    """Every month's cache key, oldest first: the digest of the month's rows (every column
    `suppress` reads; lib/warehouse.ROW_DIGEST), with the minimum count and the suppression code;
    and its number of rows."""
    keys, counts = {}, {}
    for month, count, total, xor in db.execute(_MONTH_DIGESTS, [project.id, period]).fetchall():
        if months is None or month in months:
            keys[month] = hashlib.sha256(
                f"{_SUPPRESSION_CODE}|{project.min_count}|{count}|{total}|{xor}".encode()).hexdigest()
            counts[month] = count
    return keys, counts


_MONTH_SELECT = _KPI_SELECT.replace("period <= ?", "period = ?")


def _month_values(db, project_id: str, month: str) -> tuple[tuple[str, ...], list[tuple]]:
    """One month's rows as tuples (kpi.csv's order) and their column names."""
    cursor = db.execute(_MONTH_SELECT, [project_id, month])
    return tuple(d[0] for d in cursor.description), cursor.fetchall()


# Below this many rows to suppress, the months are worked out in the step's own process: starting
# the children and their queries cost more than two cores save (UVAS size, 118 000 rows: the
# step's export 1.2 s in process, 2.5 s in children; a national month, 106 000 rows, ~1.1 s).
_ROWS_FOR_CHILDREN = 300_000


def _hidden_in_children(warehouse: Path, project: Project, months: list[str], counts: dict[str, int]) -> dict[str, list[int]]:
    """The positions of the rows to hide of each month, worked out by child processes
    (suppression_workers.py) when they are many rows; else nothing (published_months works
    them out itself, one month at a time)."""
    if sum(counts[month] for month in months) < _ROWS_FOR_CHILDREN or (os.cpu_count() or 1) < 2:
        return {}
    return hidden_positions([(month, str(warehouse), _MONTH_SELECT, (project.id, month), project.min_count)
                             for month in months])


def _headline_values(db, project_id: str, period: str) -> dict[str, tuple[tuple[str, ...], list[tuple], list[int]]]:
    """Every month's (up to `period`) headline rows and their positions among all of its rows,
    without reading the rest, in one query (one per month cost a national report ~1.5 s): a
    month's order puts the rows of ALL first (_KPI_SELECT), so a headline row's position among the
    month's rows of ALL is its position in the month."""
    order = _KPI_SELECT[_KPI_SELECT.index(" order by ") + len(" order by "):]
    columns = _KPI_SELECT[len("select "):_KPI_SELECT.index(" from ")]
    cursor = db.execute(
        f"select * exclude (position), position from (select {columns}, "
        f"row_number() over (partition by period order by {order}) - 1 as position from marts.kpi_values "
        f"where project_id = ? and period <= ? and area = 'ALL') where breakdown = 'total' order by period, position",
        [project_id, period])
    names = tuple(d[0] for d in cursor.description)[:-1]
    at = names.index("period")
    by_month: dict[str, tuple[tuple[str, ...], list[tuple], list[int]]] = {}
    for row in cursor.fetchall():
        _, values, positions = by_month.setdefault(row[at], (names, [], []))
        values.append(row[:-1])
        positions.append(row[-1])
    return by_month


def is_headline(row: dict) -> bool:
    """A whole-project total: what the trend shows of every month."""
    return _headline(row["area"], row["breakdown"])


def _headline(area: str, breakdown: str) -> bool:
    return area == "ALL" and breakdown == "total"


def _headline_positions(names: tuple[str, ...], values: list[tuple]) -> list[int]:
    area, breakdown = names.index("area"), names.index("breakdown")
    return [i for i, row in enumerate(values) if _headline(row[area], row[breakdown])]


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


_SUPPRESSION_CODE = hashlib.sha256(Path(suppression_module.__file__).read_bytes()).hexdigest()


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
                   unsuppressed: bool = False, built_by: BuiltBy | None = None,
                   reuse: Path | None = None) -> ExportedFile | None:
    """kpi.csv and kpi.xlsx for one project (kpi_internal.* with --unsuppressed) in out_dir/<project>/,
    and for a project with a mapping instrument kartlaggning.csv (kartlaggning_internal.csv) with
    the mapping figures, also shown in the workbook's sheet Kartläggning. The mapping has no
    months: it is every occasion that counts, whatever the period. Without KPI figures yet only
    kartlaggning.csv is written (and None returned).

    reuse: the folder of the exports the run wrote (the data home's exports/). Where its record
    says they are of the same figures (`export_key`), each of its files whose bytes are still
    the recorded ones is copied (kept, when out_dir is that folder) instead of worked out again,
    and a missing one is written as the run wrote it (same build, same bytes). Exports written
    into that folder leave their record there."""
    stem = "kpi_internal" if unsuppressed else "kpi"
    folder = out_dir / project.id
    names = {"csv": f"{stem}.csv", "xlsx": f"{stem}.xlsx",
             "mapping": "kartlaggning_internal.csv" if unsuppressed else "kartlaggning.csv"}
    period = period or newest_period(warehouse, project.id)
    if period is None:
        mapping_rows = mapping_figures.published_rows(warehouse, project, unsuppressed)
        if mapping_rows:
            folder.mkdir(parents=True, exist_ok=True)
            write_mapping_csv(mapping_rows, folder / names["mapping"])
        return None
    key = export_key(warehouse, project, period, stem)
    record = read_record(reuse / project.id, key) if reuse is not None else None
    if record is not None:                          # the figures the earlier exports were made of
        built_by = BuiltBy(record["run_id"], _moment(record["built_at"]))
    built_by = built_by or BuiltBy(None, None)
    folder.mkdir(parents=True, exist_ok=True)
    reused = {name for name in names.values()
              if record is not None and reuse_file(reuse / project.id / name, folder / name, record["files"].get(name))}

    mapping_rows: list[dict] | None = None
    if names["mapping"] not in reused:
        mapping_rows = mapping_figures.published_rows(warehouse, project, unsuppressed)
        if mapping_rows:
            write_mapping_csv(mapping_rows, folder / names["mapping"])
    rows_written = record["rows"] if record is not None else None
    if names["csv"] not in reused or names["xlsx"] not in reused:
        # The workbook's summary sheets show the export month in full, its trend only the
        # project's totals of the earlier months; kpi.csv the export month.
        whole_history = names["xlsx"] not in reused
        history, rows = [], []
        for month, month_rows in published_months(warehouse, project, period, unsuppressed,
                                                  whole=lambda m: m == period,
                                                  months=None if whole_history else [period]):
            history += month_rows
            if month == period:
                rows = month_rows
        rows_written = len(rows)
        if names["csv"] not in reused:
            write_kpi_csv(rows, folder / names["csv"])
        if names["xlsx"] not in reused:
            if mapping_rows is None:
                mapping_rows = mapping_figures.published_rows(warehouse, project, unsuppressed)
            write_workbook(
                history, project, folder / names["xlsx"], data_version(warehouse, project.id, period),
                run_id=built_by.run_id,
                built_at=built_by.built_at.isoformat(sep=" ", timespec="minutes") if built_by.built_at else None,
                exact=unsuppressed, mapping=mapping_rows, stamped=built_by.built_at,
            )
    mapping_path = folder / names["mapping"]
    if not mapping_path.exists() or (names["mapping"] not in reused and not mapping_rows):
        mapping_path = None
    if reuse is not None and folder == reuse / project.id:
        write_record(folder, key, built_by, period, rows_written,
                     [names["csv"], names["xlsx"], *([names["mapping"]] if mapping_path else [])],
                     keep=record["files"] if record is not None else {})
    return ExportedFile(project.id, period, folder / names["csv"], rows_written, folder / names["xlsx"],
                        mapping_path, tuple(sorted(reused)), key)


# ---- the exports' record: which figures they are of -------------------------------------------

RECORD_NAME = ".export-record.json"
RECORD_FORMAT = 1


def export_key(warehouse: Path, project: Project, period: str, stem: str) -> str:
    """What a project's exports of `period` are made of, as one digest: every row of its figures up
    to the period (marts.kpi_values), of the deliveries they stand on (marts.fct_deliveries) and
    of its mapping figures (marts.mapping_values), each table digested in the warehouse without
    reading its rows into Python; the project's configuration; the release (code and packages,
    lib/last_run.py). Equal keys give equal files, whichever build made them."""
    from orchestration.lib.last_run import release_digest

    with connect(warehouse, read_only=True) as db:
        tables = {name for (name,) in db.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema = 'marts'").fetchall()}
        digests = []
        for table, month in (("marts.kpi_values", "period"), ("marts.fct_deliveries", "reporting_month"),
                             ("marts.mapping_values", None)):
            if table not in tables:
                digests.append(None)
                continue
            where = "project_id = ?" + (f" and {month} <= ?" if month else "")
            digests.append(db.execute(
                f"select {ROW_DIGEST} from {table} t where {where}",
                [project.id, *([period] if month else [])]).fetchone())
    parts = [RECORD_FORMAT, stem, period, repr(project), release_digest(), [list(d) if d else None for d in digests]]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def read_record(folder: Path, key: str) -> dict | None:
    """The record of the exports in `folder` when they are of the figures `key` names, else None."""
    try:
        record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT or record.get("key") != key:
        return None
    return record


def write_record(folder: Path, key: str, built_by: BuiltBy, period: str, rows: int | None, names: list[str],
                 keep: dict[str, str] | None = None) -> None:
    """Record, beside the exports in `folder`, which figures they are of (the key), the build that
    made them and the digest of each named file (and of those in `keep` still as recorded there)."""
    files = {name: digest for name, digest in (keep or {}).items() if file_digest(folder / name) == digest}
    files.update({name: file_digest(folder / name) for name in names if (folder / name).exists()})
    record = {"format": RECORD_FORMAT, "key": key, "period": period, "rows": rows, "run_id": built_by.run_id,
              "built_at": built_by.built_at.isoformat() if built_by.built_at else None, "files": files}
    temporary = folder / (RECORD_NAME + ".part")
    temporary.write_text(json.dumps(record, sort_keys=True, indent=1), encoding="utf-8")
    temporary.replace(folder / RECORD_NAME)


def record_files(folder: Path, names: list[str]) -> None:
    """Add files written beside recorded exports (the run's report) to their record."""
    try:
        record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    record["files"].update({name: file_digest(folder / name) for name in names if (folder / name).exists()})
    temporary = folder / (RECORD_NAME + ".part")
    temporary.write_text(json.dumps(record, sort_keys=True, indent=1), encoding="utf-8")
    temporary.replace(folder / RECORD_NAME)


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def reuse_file(source: Path, target: Path, digest: str | None) -> bool:
    """Copy `source` to `target` (nothing to do when they are one file) if its bytes are the
    recorded ones: a file changed or being rewritten since is not reused."""
    if digest is None:
        return False
    try:
        content = source.read_bytes()
    except OSError:
        return False
    if hashlib.sha256(content).hexdigest() != digest:
        return False
    if source.resolve() != target.resolve():
        temporary = target.with_name(target.name + ".part")
        temporary.write_bytes(content)
        temporary.replace(target)
    return True


def intact(folder: Path, key: str, names: list[str]) -> bool:
    """Whether the files `names` in `folder` are recorded as of the figures `key` names and unchanged."""
    record = read_record(folder, key)
    return record is not None and all(
        (digest := record["files"].get(name)) is not None and file_digest(folder / name) == digest for name in names)


def _moment(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


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
    """Each cell through _cell, once per distinct value and type of its column (a national
    kpi.csv has 1.2 M cells of a few thousand values)."""
    temporary = target.with_name(target.name + ".part")
    written: list[dict] = [{} for _ in columns]
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            cells = []
            for column, seen in zip(columns, written):
                value = row.get(column)
                key = (value.__class__, value)
                text = seen.get(key)
                if text is None:
                    text = _cell(value)
                    if len(seen) < 100_000:
                        seen[key] = text
                cells.append(text)
            writer.writerow(cells)
    temporary.replace(target)


def export_all(warehouse: Path, config: ProjectsConfig, out_dir: Path, project_id: str | None = None,
               period: str | None = None, unsuppressed: bool = False,
               built_by: BuiltBy | None = None, reuse: Path | None = None) -> list[ExportedFile]:
    """export_project for every project (or the one named)."""
    projects = [config.project(project_id)] if project_id else list(config.projects)
    exported = [export_project(warehouse, p, out_dir, period, unsuppressed, built_by, reuse) for p in projects]
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
