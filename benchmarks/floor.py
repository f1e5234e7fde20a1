"""The floor: the core KPIs in one plain DuckDB query over the same CSV files.

What the hardware can do with no framework at all: read every monthly snapshot, check each
personnummer (shape, check digit, birth number not 000), replace it by a hash (sha256 of key and the 12-digit
form, standing in for the keyed HMAC), take each municipality's newest snapshot and compute
`participants`, `moved_to_activity` and `activity_share` (kpis.md, breakdown total) for every
area (each municipality and ALL) and month. No intake bookkeeping, no validation suite, no
phases, no breakdowns, no reports: the pipeline does far more, and the ratio pipeline/floor
says how much that costs.

The files: <dir>/<project>/<kommunkod>/<file with YYYY-MM in its name>.csv, UTF-8, comma,
the contract's column names (benchmarks/generate.py writes them, or their twins).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import duckdb

FLOOR_SQL = """
create or replace table snapshot_rows as
with raw as (
    select
        regexp_extract(filename, '/([0-9]{{4}})/[^/]*$', 1) as kommunkod,
        regexp_extract(regexp_extract(filename, '[^/]*$'), '(\\d{{4}}-\\d{{2}})', 1) as reporting_month,
        replace(replace(trim(personnummer), '-', ''), '+', '') as pnr,
        try_cast(startdatum as date) as startdatum,
        try_cast(slutdatum as date) as slutdatum,
        nullif(trim(avslutsorsak), '') as avslutsorsak
    from read_csv('{glob}', filename = true, header = true, auto_detect = false, delim = ',', quote = '"',
                  escape = '"', columns = {columns})
),
normalised as (
    select
        *,
        case
            when length(pnr) = 12 then pnr
            when length(pnr) = 10 then
                case when cast(left(pnr, 2) as int) > cast(substr(reporting_month, 3, 2) as int) then '19' else '20' end || pnr
        end as pnr12
    from raw
),
checked as (
    select
        *,
        (10 - list_sum(list_transform(range(0, 9), lambda i:
            (cast(substr(pnr12, i + 3, 1) as int) * (2 - i % 2)) // 10
            + (cast(substr(pnr12, i + 3, 1) as int) * (2 - i % 2)) % 10)) % 10) % 10
            = cast(right(pnr12, 1) as int)
            and substr(pnr12, 9, 3) <> '000' as pnr_ok       -- birth number 000 is never issued
    from normalised
    where regexp_full_match(coalesce(pnr12, ''), '[0-9]{{12}}')
)
select
    kommunkod,
    reporting_month,
    sha256('{key}' || pnr12) as person_id,
    startdatum,
    slutdatum,
    avslutsorsak
from checked
where pnr_ok and startdatum is not null
"""

KPI_SQL = """
with newest as (
    select * from snapshot_rows
    where coalesce(avslutsorsak, '') <> 'FELREGISTRERING'
    qualify reporting_month = max(reporting_month) over (partition by kommunkod)
),
periods as (
    select distinct reporting_month as period, last_day(cast(reporting_month || '-01' as date)) as period_end
    from snapshot_rows
),
person_areas as (
    select area, person_id, min(startdatum) as first_start,
           min(slutdatum) filter (where avslutsorsak in ({activity})) as first_activity_exit
    from (select kommunkod as area, * from newest union all select 'ALL' as area, * from newest)
    group by area, person_id
),
started as (
    select area, strftime(first_start, '%Y-%m') as month, count(*) as n
    from person_areas group by all
),
moved as (
    select area, strftime(first_activity_exit, '%Y-%m') as month, count(*) as n
    from person_areas where first_activity_exit is not null group by all
),
areas as (select distinct area from person_areas),
grid as (select areas.area, periods.period from areas cross join periods),
cumulative as (
    select
        grid.area, grid.period,
        sum(coalesce(started.n, 0)) over w as participants,
        sum(coalesce(moved.n, 0)) over w as moved_to_activity
    from grid
    left join started on started.area = grid.area and started.month = grid.period
    left join moved on moved.area = grid.area and moved.month = grid.period
    window w as (partition by grid.area order by grid.period rows between unbounded preceding and current row)
)
select area, period, participants, moved_to_activity,
       case when participants > 0 then moved_to_activity / participants end as activity_share
from cumulative
order by area, period
"""


# The contract's columns as the benchmark files carry them: no sniffing of 10 000 files.
COLUMNS = ("personnummer", "startdatum", "slutdatum", "avslutsorsak", "fas", "kon", "fodelseregion",
           "funktionsnedsattning", "utbildningsniva", "sysselsattning_start", "forsorjningsstod_start",
           "forsorjningsstod_slut", "uppfoljning_6m")


def compute_floor(csv_dir: Path, *, key: str = "floor-key", activity: tuple[str, ...] = ("ARBETE", "STUDIER", "PRAKTIK"),
                  memory_limit: str | None = None, threads: int | None = None) -> tuple[list[tuple], dict[str, float]]:
    """KPI rows (area, period, participants, moved_to_activity, activity_share) and stage timings."""
    timings: dict[str, float] = {}
    with duckdb.connect() as db:
        if memory_limit:
            db.execute(f"set memory_limit = '{memory_limit}'")
        if threads:
            db.execute(f"set threads = {threads}")
        began = time.perf_counter()
        glob = (csv_dir / "*" / "*" / "*.csv").as_posix()
        columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in COLUMNS) + "}"
        db.execute(FLOOR_SQL.format(glob=glob, key=key.replace("'", "''"), columns=columns))
        timings["read_check_hash"] = time.perf_counter() - began
        began = time.perf_counter()
        rows = db.execute(KPI_SQL.format(activity=", ".join(f"'{a}'" for a in activity))).fetchall()
        timings["kpis"] = time.perf_counter() - began
        timings["snapshot_rows"] = db.execute("select count(*) from snapshot_rows").fetchone()[0]
    return rows, timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Core KPIs in plain DuckDB SQL over snapshot CSV files.")
    parser.add_argument("csv_dir", type=Path, help="folder holding <project>/<kommunkod>/*.csv")
    parser.add_argument("--out", type=Path, help="write the KPI rows here as CSV")
    parser.add_argument("--memory-limit")
    args = parser.parse_args(argv)
    rows, timings = compute_floor(args.csv_dir, memory_limit=args.memory_limit)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["area", "period", "participants", "moved_to_activity", "activity_share"])
            writer.writerows(rows)
    print(f"floor: {int(timings['snapshot_rows'])} rows, {len(rows)} KPI rows; "
          + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items() if k != "snapshot_rows"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
