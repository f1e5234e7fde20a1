"""The serving file (the read copy): the marts and the deliveries as they stood at the end of the
last successful run, in a DuckDB file of their own, `<home>/serving/followup.duckdb`. What
`followup status` and `followup export` read while a run holds the warehouse, and what a BI tool,
Excel over ODBC or a notebook opens: a reader never blocks a run and never sees half a run.

DuckDB lets one process write a file and nobody else open it meanwhile, and a run writes the
warehouse in every step (dbt for its whole step: ~20 s at demo size, minutes nationally). So the
last step of every run (`reporting/read_copy.py`, also in runs Dagster starts itself) copies the
tables below into a new file, written under a temporary name and put in place with one rename:
a reader that has the old file open keeps reading the old file (the rename does not touch it),
one that opens it afterwards reads the new one; a run never waits for either.

Tables keep their names, so the same queries run on either file. The row tables before dbt
(pseudonymised, enrolment, quarantine rows) and dbt's staging and intermediate tables are not
copied: the marts are what is read.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib.delivery_state import DELIVERY_STATES_VIEW
from orchestration.lib.warehouse import connect, memory_limit

SERVING_DIR, COPY_NAME = "serving", "followup.duckdb"   # once read-copy.duckdb at the root: lib/layout.py removes it

# table → who reads it
COPIED_TABLES = {
    "landing.deliveries": "status, BI: every delivery of either kind (extract_kind), its status and verdict "
                          "(also landing.delivery_states)",
    "landing.unrouted_files": "status: files that were not ingested",
    "landing.mapping_questions": "BI: the mapping instruments' questions (ids, wording, domain, answer type)",
    "landing.mapping_categories": "BI: the answer categories the mapping figures are counted for, with labels",
    "landing.mapping_inventory_rules": "BI: which latest answers make a person count for an inventory figure",
    "marts.kpi_values": "export, BI: every KPI of every month, exact (the coordinators' figures)",
    "marts.kpi_catalogue": "BI: every KPI's kind, Swedish name and definition (dbt/seeds/kpi_catalogue.csv)",
    "marts.fct_deliveries": "export, BI: the deliveries the figures stand on",
    "marts.fct_enrolments": "BI: the enrolments of the snapshots in force (pseudonymised)",
    "marts.dim_projects": "BI: the projects, their periods and targets",
    "marts.dim_project_areas": "BI: each project's municipalities",
    "marts.fct_project_overlap": "BI: persons in more than one project",
    "marts.mapping_values": "export, BI: every mapping figure, exact (kartlaggning.csv is built from it)",
    "marts.fct_mapping_answers": "BI: the mapping answers in force, in long form (pseudonymised, no free text)",
    "ops.marts_builds": "export: the run that built the figures",
    "ops.municipality_month_status": "BI: every municipality-month's status, also the older months of a backfill "
                                     "that have no Dagster partition event (reporting/delivery_assets.py)",
}


@dataclass(frozen=True)
class WrittenCopy:
    path: Path
    bytes: int
    seconds: float
    rows: dict[str, int]


def copy_path(root: Path) -> Path:
    return Path(root) / SERVING_DIR / COPY_NAME


def write_copy(warehouse: Path, target: Path, run_id: str | None = None) -> WrittenCopy:
    """Copy COPIED_TABLES (those the warehouse has) from `warehouse` to `target`, atomically."""
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    _remove(part)
    rows: dict[str, int] = {}
    try:
        connection = duckdb.connect(str(part), config={"memory_limit": memory_limit()})
        try:
            quoted = str(warehouse).replace("'", "''")
            connection.execute(f"attach '{quoted}' as warehouse (read_only)")
            present = {f"{schema}.{name}" for schema, name in connection.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = 'warehouse'").fetchall()}
            for table in COPIED_TABLES:
                if table not in present:
                    continue
                schema, name = table.split(".")
                connection.execute(f'create schema if not exists "{schema}"')
                connection.execute(f'create table "{schema}"."{name}" as '
                                   f'select * from warehouse."{schema}"."{name}" order by rowid')
                rows[table] = connection.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
            connection.execute("detach warehouse")
            if "landing.deliveries" in rows:
                connection.execute(DELIVERY_STATES_VIEW)      # what status reads, as in the warehouse
            connection.execute("create schema if not exists ops")
            connection.execute("create table ops.read_copy (run_id varchar, written_at timestamp)")
            connection.execute("insert into ops.read_copy values (?, ?)", [run_id, dt.datetime.now()])
        finally:
            connection.close()          # checkpoints: no write-ahead log is left beside the part
        os.chmod(part, 0o640)
        _fsync(part)
        os.replace(part, target)
    except BaseException:
        _remove(part)
        raise
    return WrittenCopy(target, target.stat().st_size, time.monotonic() - started, rows)


def written_at(copy: Path) -> dt.datetime | None:
    """When the copy was written (the end of the run it shows); None when it cannot be read."""
    try:
        with connect(copy, read_only=True) as connection:
            row = connection.execute("select max(written_at) from ops.read_copy").fetchone()
            return row[0] if row else None
    except duckdb.Error:
        return None


def _remove(part: Path) -> None:
    for path in (part, part.with_name(part.name + ".wal")):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
