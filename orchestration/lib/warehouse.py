"""The warehouse: an embedded DuckDB file holding pseudonymised data only.

DuckDB allows one writing process, so every writer opens a short-lived connection through
`connect()` and closes it before dbt (a separate connection) runs. No table here ever holds a
personnummer, a name or a contact detail.

Python writes the `landing` schema; dbt reads it as sources and builds staging → marts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from orchestration.lib.delivery_state import DELIVERY_STATES_VIEW

LANDING_DDL = """
create schema if not exists landing;

-- The projects configuration, written at the start of every run.
create table if not exists landing.projects (
    project_id varchar primary key,
    name varchar not null,
    owner varchar,
    funder varchar,
    period_start date not null,
    period_end date not null,
    age_min integer not null,
    age_max integer not null,
    target_population integer,
    min_count integer not null
);
create table if not exists landing.project_municipalities (
    project_id varchar not null,
    kommunkod varchar not null,
    kommun varchar not null,
    primary key (project_id, kommunkod)
);
create table if not exists landing.project_activity_outcomes (
    project_id varchar not null,
    avslutsorsak varchar not null,
    primary key (project_id, avslutsorsak)
);
create table if not exists landing.project_targets (
    project_id varchar not null,
    kpi varchar not null,
    target double not null,
    primary key (project_id, kpi)
);

-- One row per received file that was routed to a project, municipality and month.
create table if not exists landing.deliveries (
    delivery_id varchar primary key,       -- hash of project, kommunkod, month and sha256
    project_id varchar not null,
    kommunkod varchar not null,
    reporting_month varchar not null,      -- YYYY-MM
    file_name varchar not null,
    archive_path varchar not null,         -- '' for a file over the size limit (never copied)
    sha256 varchar not null,
    size_bytes bigint not null,
    received_at timestamp not null,        -- the file's modification time when found in the inbox
    status varchar not null,               -- RECEIVED, PSEUDONYMISED, VALIDATED
    verdict varchar,                       -- ACCEPTED, ACCEPTED_WITH_WARNINGS, REJECTED
    verdict_reason varchar,                -- reason code for a rejected file
    verdict_message varchar,               -- plain Swedish for the municipality
    rows_total integer,
    rows_accepted integer,
    rows_rejected integer,
    rows_warned integer,
    unknown_columns varchar
);

-- Files that could not be routed (no month in the name, unknown folder): reported, not ingested.
create table if not exists landing.unrouted_files (
    inbox_path varchar not null,
    sha256 varchar not null,
    seen_at timestamp not null,
    reason_code varchar not null,
    message varchar not null,
    primary key (inbox_path, sha256)
);

-- Rows after pseudonymisation, before validation (no personnummer: pnr_status says what was wrong).
create table if not exists landing.pseudonymised_rows (
    delivery_id varchar not null,
    row_number integer not null,           -- the row's line in the file, header = 1
    person_id varchar,                     -- keyed pseudonym; null when the personnummer was invalid
    is_anonymous boolean not null,
    pnr_status varchar not null,           -- OK, OGILTIG, LOPNUMMER_000, SAKNAS, ANONYM
    kon varchar,
    age_at_start integer,
    startdatum date,
    startdatum_raw_ok boolean not null,    -- false when a value was given but is no date
    slutdatum date,
    slutdatum_raw_ok boolean not null,
    avslutsorsak varchar,
    fas varchar,
    fodelseregion varchar,
    funktionsnedsattning varchar,
    utbildningsniva varchar,
    sysselsattning_start varchar,
    forsorjningsstod_start varchar,
    forsorjningsstod_slut varchar,
    uppfoljning_6m varchar,
    kommunkod_in_file varchar,
    rapportmanad_in_file varchar,
    notes varchar,                         -- normalisation findings, e.g. KOD_OKAND:fodelseregion
    primary key (delivery_id, row_number)
);

-- Accepted rows (with or without warnings): the enrolments of each delivery's snapshot.
create table if not exists landing.enrolment_rows (
    delivery_id varchar not null,
    project_id varchar not null,
    kommunkod varchar not null,
    reporting_month varchar not null,
    row_number integer not null,
    person_id varchar not null,
    is_anonymous boolean not null,
    kon varchar,
    age_at_start integer,
    startdatum date not null,
    slutdatum date,
    avslutsorsak varchar,
    fas varchar not null,
    fodelseregion varchar,
    funktionsnedsattning varchar,
    utbildningsniva varchar,
    sysselsattning_start varchar,
    forsorjningsstod_start varchar,
    forsorjningsstod_slut varchar,
    uppfoljning_6m varchar,
    warnings varchar,                      -- comma-separated warning codes, '' when none
    primary key (delivery_id, row_number)
);

-- Rejected rows, one line per reason.
create table if not exists landing.quarantine_rows (
    delivery_id varchar not null,
    project_id varchar not null,
    kommunkod varchar not null,
    reporting_month varchar not null,
    row_number integer not null,
    reason_code varchar not null,
    column_name varchar,
    message varchar not null
);

-- Row warnings, one line per warning.
create table if not exists landing.row_warnings (
    delivery_id varchar not null,
    row_number integer not null,
    warning_code varchar not null,
    column_name varchar,
    message varchar not null
);
"""


def memory_limit() -> str:
    """DuckDB's memory ceiling in this process and in dbt's (profiles.yml reads the same variable).
    Left alone DuckDB takes up to 80 % of RAM; bounded, it spills to disk beside the warehouse.
    A national backfill (5 M rows) fits under it (BENCHMARKS.md)."""
    return os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_LIMIT)


MEMORY_ENV = "FOLLOWUP_DUCKDB_MEMORY"
# With dbt in the run's process, the process holds DuckDB's ceiling beside ~600 MiB of Python
# (Dagster, dbt, GX, pandas): 1 GB took a national run to ~1.6 GiB, over issue 19's 1.5 GiB.
DEFAULT_MEMORY_LIMIT = "768MB"


@contextlib.contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection; closed on exit so dbt or the next writer can open the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": memory_limit()})
    try:
        yield connection
    finally:
        connection.close()


def insert_rows(db: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Rows (tuples in the order of `columns`) into `table` in one statement: DuckDB's
    executemany runs one insert a row, ~1 ms each (13 s of a national intake's 10 440 files)."""
    if rows:
        db.execute(f"insert into {table} ({', '.join(columns)}) "
                   f"select {', '.join(f'unnest(${n})' for n in range(1, len(columns) + 1))}",
                   [list(values) for values in zip(*rows)])


# Columns added after the first release: `create table if not exists` leaves an existing table
# as it is, so they are added here (idempotent) and filled for rows written before they existed.
LANDING_MIGRATIONS = """
-- The order files were found in: increasing across runs; within one run by modification time,
-- then inode change time (when the file landed in its folder), then path. Decides which of two
-- files for the same project, municipality and month is the newer (a resubmission).
alter table landing.deliveries add column if not exists arrival_seq bigint;
-- When intake recorded the file (received_at is the file's own modification time).
alter table landing.deliveries add column if not exists ingested_at timestamp;
alter table landing.unrouted_files add column if not exists received_at timestamp;
-- Where the raw copy is kept; null for a file that is never copied (a symbolic link).
alter table landing.unrouted_files add column if not exists archive_path varchar;
update landing.deliveries set arrival_seq = numbered.seq
from (
    select delivery_id,
           row_number() over (order by received_at, delivery_id)
             + (select coalesce(max(arrival_seq), 0) from landing.deliveries) as seq
    from landing.deliveries where arrival_seq is null
) numbered
where deliveries.delivery_id = numbered.delivery_id;
"""


# Added after v1: `alter ... if not exists` so an existing warehouse gains them on the next run.
LANDING_DDL_ADDITIONS = """
-- The case worker's note, scrubbed of personnummer, phone, e-mail and the row's own names and
-- street before it is stored (orchestration/privacy/scrub.py); null when the row had none.
alter table landing.pseudonymised_rows add column if not exists anteckning varchar;
alter table landing.enrolment_rows add column if not exists anteckning varchar;

-- How many starts of the pseudonymise stage found the delivery still waiting, and since when a
-- start took it alone after earlier starts died (privacy/stage.py): a delivery that kills the
-- stage is given its verdict instead of being read again and again.
alter table landing.deliveries add column if not exists process_attempts integer;
alter table landing.deliveries add column if not exists processing_alone_since timestamp;

-- Archived raw files deleted by `followup purge-raw`, one row per file: what and when, no identifier.
create table if not exists landing.raw_purges (
    sha256 varchar not null,               -- the deleted archive file (also landing.deliveries.sha256)
    kind varchar not null,                 -- delivery, unrouted (reported, not ingested), unreferenced,
                                           -- oversize (over the size limit: only in the inbox)
    size_bytes bigint not null,
    received_at timestamp not null,        -- latest received_at of the deliveries of this file
    purged_at timestamp not null,          -- UTC
    older_than_days integer not null,      -- the retention time the purge was run with
    deliveries integer not null,           -- how many deliveries referred to the file
    inbox_copies_deleted integer not null  -- copies with the same sha256 removed from the inbox
);

-- Which contract a delivery follows (lib/mapping_contract.py): INSKRIVNING (the monthly
-- enrolment snapshot) or KARTLAGGNING (a mapping file from inbox/<project>/<kommunkod>/kartlaggning/).
-- A delivery is in force within its kind: a mapping file never replaces an enrolment snapshot.
alter table landing.deliveries add column if not exists extract_kind varchar default 'INSKRIVNING';
update landing.deliveries set extract_kind = 'INSKRIVNING' where extract_kind is null;

-- The projects' mapping instruments (projects/instrument.py), written with the configuration.
create table if not exists landing.mapping_questions (
    project_id varchar not null,
    question_id varchar not null,
    display_order integer not null,
    domain varchar not null,
    question_text varchar not null,
    answer_type varchar not null,          -- mapping_contract.ANSWER_TYPES
    required boolean not null,
    min_value double,                      -- scale or number
    max_value double,
    fingerprint varchar not null,          -- Question.fingerprint: what the person answering saw
    primary key (project_id, question_id)
);
-- The categories each question's figures are counted for: codes, scale steps, bands of numbers.
create table if not exists landing.mapping_categories (
    project_id varchar not null,
    question_id varchar not null,
    category varchar not null,
    label varchar not null,
    display_order integer not null,
    lower_bound double,                    -- scale step, or band's lower bound (inclusive)
    upper_bound double,                    -- band's upper bound (exclusive), null = open
    primary key (project_id, question_id, category)
);
-- Inventory figures: a person counts for a figure when their latest answer to every question
-- listed for it is one of its codes there (one row per figure, question and code).
create table if not exists landing.mapping_inventory_rules (
    project_id varchar not null,
    figure varchar not null,               -- mapping_contract.INVENTORY_FIGURES
    question_id varchar not null,
    code varchar not null
);

-- Mapping rows after pseudonymisation, before validation: one per person and occasion (no
-- personnummer; pnr_status as in pseudonymised_rows).
create table if not exists landing.mapping_pseudonymised_rows (
    delivery_id varchar not null,
    row_number integer not null,
    person_id varchar,
    is_anonymous boolean not null,
    pnr_status varchar not null,
    kon varchar,
    age_at_answer integer,
    besvarad date,
    besvarad_raw_ok boolean not null,      -- false when a value was given but is no date
    kommunkod_in_file varchar,
    rapportmanad_in_file varchar,
    notes varchar,
    primary key (delivery_id, row_number)
);
-- Their answers, one per question (a multiple choice: one per code chosen). The value a
-- municipality wrote is never stored as such: a code of the question, a number, or scrubbed text.
create table if not exists landing.mapping_pseudonymised_answers (
    delivery_id varchar not null,
    row_number integer not null,
    question_id varchar not null,
    answer_status varchar not null,        -- mapping_contract.ANSWER_STATUSES
    answer_code varchar,                   -- coded question: the code
    answer_number double,                  -- scale or number question
    answer_text varchar                    -- free text, scrubbed (privacy/scrub.py)
);

-- Accepted mapping rows (with or without warnings) and their answers (status OK only).
create table if not exists landing.mapping_rows (
    delivery_id varchar not null,
    project_id varchar not null,
    kommunkod varchar not null,
    reporting_month varchar not null,
    row_number integer not null,
    person_id varchar not null,
    is_anonymous boolean not null,
    kon varchar,
    age_at_answer integer,
    besvarad date not null,
    warnings varchar,                      -- comma-separated warning codes, '' when none
    primary key (delivery_id, row_number)
);
create table if not exists landing.mapping_answers (
    delivery_id varchar not null,
    row_number integer not null,
    question_id varchar not null,
    answer_code varchar,
    answer_number double,
    answer_text varchar
);
"""


# The pipeline's own bookkeeping, beside the landing schema (added after v1, so `if not exists`).
OPS_DDL = """
create schema if not exists ops;

-- Every municipality-month that has a delivery, as the last `delivery_status` step saw it
-- (reporting/monitoring.municipality_months), and whether it shows as a Dagster partition of
-- municipality_months/<project> (reporting/delivery_assets.py decides against this table which
-- months changed, and logs partition events for some of them; the rest are read here).
create table if not exists ops.municipality_month_status (
    project_id varchar not null,
    kommunkod varchar not null,
    month varchar not null,                -- YYYY-MM
    version varchar not null,              -- changes whenever a file of the month arrives or gets its verdict
    in_force boolean not null,             -- a delivery of the month counts in the KPIs
    needs_action boolean not null,
    verdict varchar not null,              -- of the file in force, else of the latest file
    files integer not null,
    late boolean not null,
    file_name varchar,                     -- the file in force, else the latest
    rows_total integer,
    rows_rejected integer,
    action varchar,                        -- what to act on (Swedish); null when nothing
    changed_at timestamp,                  -- when this version was first seen (UTC); null: before the table
    changed_run_id varchar,
    recorded_version varchar,              -- the version last logged as a partition event; null: never
    recorded_at timestamp,                 -- UTC; null when never, or logged before the table existed
    recorded_run_id varchar,
    primary key (project_id, kommunkod, month)
);
"""


def ensure_schema(path: Path) -> None:
    with connect(path) as connection:
        connection.execute(LANDING_DDL)
        connection.execute(LANDING_DDL_ADDITIONS)
        connection.execute(LANDING_MIGRATIONS)
        connection.execute(DELIVERY_STATES_VIEW)
        connection.execute(OPS_DDL)


MARTS_BUILDS_DDL = """
create schema if not exists ops;
create table if not exists ops.marts_builds (run_id varchar not null, built_at timestamp not null);
"""


def record_marts_build(path: Path, run_id: str, inputs_digest: str | None = None) -> None:
    """The run that just built the KPI marts, for the data version of exports made later from
    the command line (read without starting Dagster: reporting/export.figures_built_by), and for a
    whole build the digest of everything it read (transform/assets.py: a later run whose dbt
    would read the same builds nothing)."""
    with connect(path) as connection:
        connection.execute(MARTS_BUILDS_DDL)
        connection.execute("alter table ops.marts_builds add column if not exists inputs_digest varchar")
        connection.execute("insert into ops.marts_builds (run_id, built_at, inputs_digest) values (?, now()::timestamp, ?)",
                           [run_id, inputs_digest])


# The newest build of the marts (two builds in one second: the later row).
_NEWEST_BUILD = "from ops.marts_builds order by built_at desc, rowid desc limit 1"


def last_build_inputs(path: Path) -> tuple[str, str] | None:
    """(run_id, inputs digest) of the newest build of the marts, when it was a whole build."""
    with connect(path, read_only=True) as connection:
        has_digest = connection.execute("select count(*) from information_schema.columns where table_schema = 'ops' "
                                        "and table_name = 'marts_builds' and column_name = 'inputs_digest'").fetchone()[0]
        if not has_digest:
            return None
        row = connection.execute(f"select run_id, inputs_digest {_NEWEST_BUILD}").fetchone()
    return (row[0], row[1]) if row and row[1] else None


# A digest of a relation's rows whatever their order, taken in DuckDB without reading the rows into
# Python (`select ROW_DIGEST from <relation> t`): their count, and the sum and xor of DuckDB's 64-bit
# hash of each row. Two different sets of rows agree by chance only (about once in 2^64 changes).
ROW_DIGEST = "count(*), sum(hash(t)::hugeint)::varchar, bit_xor(hash(t))"


def content_digest(connection: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> str:
    """One digest of the rows of `tables` (schema.name, tables or views): each one's columns and
    ROW_DIGEST."""
    parts = []
    for table in sorted(tables):
        schema, name = table.split(".", 1)
        columns = connection.execute("select string_agg(column_name || ' ' || data_type, ',' order by ordinal_position) "
                                     "from information_schema.columns where table_schema = ? and table_name = ?",
                                     [schema, name]).fetchone()[0]
        rows = connection.execute(f"select {ROW_DIGEST} from {table} t").fetchone()
        parts.append(f"{table}({columns}):{rows}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def last_marts_build(path: Path) -> tuple[str, object] | None:
    with connect(path, read_only=True) as connection:
        exists = connection.execute("select count(*) from information_schema.tables "
                                    "where table_schema = 'ops' and table_name = 'marts_builds'").fetchone()[0]
        if not exists:
            return None
        return connection.execute(f"select run_id, built_at {_NEWEST_BUILD}").fetchone()
