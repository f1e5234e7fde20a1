"""Which municipality-months `delivery_status` logs as Dagster partition events, and the status table
that holds them all (reporting/delivery_assets.py), with real materialisations on a hand-made warehouse:
a backfill logs only its newest months and a summary; a small run logs all it changes; a month
logged before is logged again whenever it changes; the table says every cell's status."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from orchestration.lib.thresholds import PARTITION_NEWEST_MONTHS
from orchestration.lib.warehouse import ensure_schema
from orchestration.reporting.delivery_assets import delivery_status
from orchestration.resources import FollowupResource

PROJECT = "fokus_16_25"                         # 3 municipalities, 2018-12 .. 2019-11
KOMMUNER = {"2029": "2029 Leksand", "2031": "2031 Rättvik", "2026": "2026 Gagnef"}
BACKFILL = ["2018-12", "2019-01", "2019-02", "2019-03", "2019-04", "2019-05"]
KEY = dg.AssetKey(["municipality_months", PROJECT])


def month_after(month: str) -> dt.datetime:
    year, number = map(int, month.split("-"))
    return dt.datetime(year + number // 12, number % 12 + 1, 5, 9)       # the 5th: before the deadline


def deliver(warehouse, files):
    """files: (kommunkod, month, file name, verdict, rows rejected). Each is a new delivery, after
    those already there (so a second file for a month is a resubmission)."""
    ensure_schema(warehouse)
    with duckdb.connect(str(warehouse)) as db:
        seq = db.execute("select coalesce(max(arrival_seq), 0) from landing.deliveries").fetchone()[0]
        for kommun, month, name, verdict, rejected in files:
            seq += 1
            db.execute(
                "insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
                "archive_path, sha256, size_bytes, received_at, status, verdict, verdict_reason, rows_total, "
                "rows_accepted, rows_rejected, rows_warned, arrival_seq) values (?, ?, ?, ?, ?, 'a', ?, 1, ?, "
                "'VALIDATED', ?, ?, 10, ?, ?, 0, ?)",
                [f"d{seq}", PROJECT, kommun, month, name, f"s{seq}", month_after(month) + dt.timedelta(minutes=seq),
                 verdict, "KOLUMN_SAKNAS" if verdict == "REJECTED" else None, 10 - rejected, rejected, seq])


def partition(kommun: str, month: str) -> str:
    return f"{KOMMUNER[kommun]}|{month}"


def run(tmp_path, instance):
    result = dg.materialize([delivery_status], resources={"followup": FollowupResource(home=str(tmp_path))},
                            instance=instance)
    status, = [m for m in result.asset_materializations_for_node("delivery_status")
               if m.asset_key == dg.AssetKey("delivery_status")]
    logged = {e.partition for e in result.all_events
              if e.event_type_value in ("ASSET_MATERIALIZATION", "ASSET_OBSERVATION") and e.asset_key == KEY}
    return status.metadata, logged


def status_table(warehouse) -> dict[tuple[str, str], tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as db:
        rows = db.execute("select kommunkod, month, in_force, needs_action, verdict, files, file_name, rows_rejected, "
                          "recorded_version is not null, recorded_version = version, changed_run_id, recorded_run_id "
                          "from ops.municipality_month_status where project_id = ?", [PROJECT]).fetchall()
    return {(k, m): tuple(rest) for k, m, *rest in rows}


def backfill_files():
    """Every municipality's six months; Gagnef's oldest month rejected, Leksand's 2019-02 with rejected rows."""
    return [(kommun, month, f"{month}.csv",
             "REJECTED" if (kommun, month) == ("2026", "2018-12") else "ACCEPTED",
             2 if (kommun, month) == ("2029", "2019-02") else 0)
            for kommun in KOMMUNER for month in BACKFILL]


def red(instance) -> set[str]:
    check = dg.AssetCheckKey(KEY, "inget_att_atgarda")
    return {i.partition_key for i in instance.event_log_storage.get_asset_check_partition_info([check])
            if i.latest_execution_status.value == "FAILED" and i.is_current}


def test_a_backfill_logs_its_newest_months_as_partitions_and_every_month_in_the_status_table(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    deliver(warehouse, backfill_files())
    newest = BACKFILL[-PARTITION_NEWEST_MONTHS:]
    with dg.instance_for_test() as instance:
        metadata, logged = run(tmp_path, instance)
        assert logged == {partition(k, m) for k in KOMMUNER for m in newest}
        assert instance.get_materialized_partitions(KEY) == logged
        assert metadata["kommun-månader uppdaterade"].value == 18
        shown = len(KOMMUNER) * PARTITION_NEWEST_MONTHS
        assert metadata["kommun-månader som partitioner"].value == shown
        summary = metadata["kommun-månader"].value
        assert "18 kommun-månader ändrades" in summary and f"{shown} av dem" in summary and f"De övriga {18 - shown}" in summary
        assert "partitioner skrivs för projektets senaste månad, för varje kommuns senaste" in summary
        assert "ops.municipality_month_status" in summary and "reports/index.html" in summary
        # the matrix and what needs action still cover every month, also the ones without a partition
        assert "| 2026 Gagnef | 2018-12 | avvisad |" in metadata["att åtgärda"].value
        assert "| 2029 Leksand | 2019-02 |" in metadata["att åtgärda"].value
        assert red(instance) == set()                # neither month needing action is a partition

        table = status_table(warehouse)
        assert set(table) == {(k, m) for k in KOMMUNER for m in BACKFILL}
        for (kommun, month), (in_force, action, verdict, files, file_name, rejected, recorded, current,
                              changed_by, recorded_by) in table.items():
            rejected_file = (kommun, month) == ("2026", "2018-12")
            assert (in_force, verdict) == (not rejected_file, "REJECTED" if rejected_file else "ACCEPTED")
            assert action == (rejected_file or (kommun, month) == ("2029", "2019-02"))
            assert (files, file_name) == (1, f"{month}.csv")
            assert rejected == (2 if (kommun, month) == ("2029", "2019-02") else 0)
            assert recorded == (month in newest) and (not recorded or current)
            assert changed_by is not None and recorded_by == (changed_by if recorded else None)

        # nothing new: nothing logged, the warehouse not written
        written = warehouse.stat().st_mtime_ns
        metadata, logged = run(tmp_path, instance)
        assert logged == set() and metadata["kommun-månader uppdaterade"].value == 0
        assert metadata["kommun-månader"].value == "Inga kommun-månader ändrades i denna körning."
        assert status_table(warehouse) == table and warehouse.stat().st_mtime_ns == written

        # a correction of an old month that was never a partition: few changes, so it is logged
        deliver(warehouse, [("2026", "2018-12", "2018-12 rättad.csv", "ACCEPTED", 0)])
        metadata, logged = run(tmp_path, instance)
        assert logged == {partition("2026", "2018-12")}
        assert metadata["kommun-månader uppdaterade"].value == metadata["kommun-månader som partitioner"].value == 1
        event = instance.get_latest_materialization_event(KEY)
        assert event.asset_materialization.partition == partition("2026", "2018-12")
        assert event.asset_materialization.metadata["fil som gäller"].value == "2018-12 rättad.csv"
        row = status_table(warehouse)[("2026", "2018-12")]
        assert row[:6] == (True, False, "ACCEPTED", 2, "2018-12 rättad.csv", 0) and row[6:8] == (True, True)
        assert status_table(warehouse)[("2029", "2018-12")] == table[("2029", "2018-12")]

        # a big run (three new months everywhere) that also changes two old months: the one logged
        # before is logged again, the one never logged stays in the table
        deliver(warehouse, [(k, m, f"{m}.csv", "ACCEPTED", 0) for k in KOMMUNER for m in ("2019-06", "2019-07", "2019-08")]
                + [("2026", "2018-12", "2018-12 rättad igen.csv", "ACCEPTED", 1),
                   ("2031", "2019-01", "2019-01 rättad.csv", "ACCEPTED", 3)])
        metadata, logged = run(tmp_path, instance)
        new_months = ("2019-06", "2019-07", "2019-08")
        assert logged == ({partition(k, m) for k in KOMMUNER for m in new_months[-PARTITION_NEWEST_MONTHS:]}
                          | {partition("2026", "2018-12")})
        assert metadata["kommun-månader uppdaterade"].value == 11
        assert red(instance) == {partition("2026", "2018-12")}          # logged again, with its rejected row
        table = status_table(warehouse)
        assert table[("2026", "2018-12")][6:8] == (True, True)
        assert table[("2031", "2019-01")][:6] == (True, True, "ACCEPTED", 2, "2019-01 rättad.csv", 3)
        assert table[("2031", "2019-01")][6] is False                   # never a partition: the table says so
        assert len(table) == 27


def test_the_newest_month_of_every_municipality_is_a_partition_even_when_it_lags_behind(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    deliver(warehouse, [(k, m, f"{m}.csv", "ACCEPTED", 0) for k in KOMMUNER for m in BACKFILL
                        if k != "2031" or m <= "2019-01"])              # Rättvik stopped after 2019-01
    with dg.instance_for_test() as instance:
        _, logged = run(tmp_path, instance)
    assert logged == ({partition(k, m) for k in ("2029", "2026") for m in BACKFILL[-PARTITION_NEWEST_MONTHS:]}
                      | {partition("2031", "2019-01")})


def test_a_home_from_before_the_table_and_a_new_dagster_storage_are_each_brought_in_line(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    deliver(warehouse, backfill_files())
    with dg.instance_for_test() as instance:
        run(tmp_path, instance)
        before = status_table(warehouse)
        # a home whose partitions were logged before the table existed: the table is taken from the
        # event log, and nothing is logged again
        with duckdb.connect(str(warehouse)) as db:
            db.execute("drop table ops.municipality_month_status")
        metadata, logged = run(tmp_path, instance)
        assert logged == set()
        after = status_table(warehouse)
        assert {k: v[:8] for k, v in after.items()} == {k: v[:8] for k, v in before.items()}
        assert metadata["kommun-månader som partitioner"].value == 0
    # the same warehouse under another Dagster storage (nothing logged there yet): the newest months
    # are logged there, not left grey because the table says they were logged elsewhere
    with dg.instance_for_test() as other:
        _, logged = run(tmp_path, other)
        assert logged == {partition(k, m) for k in KOMMUNER for m in BACKFILL[-PARTITION_NEWEST_MONTHS:]}


def test_a_project_whose_months_were_all_rejected_logs_them_once(tmp_path):
    """Rejected months are observations (no materialization): they too count as logged."""
    warehouse = tmp_path / "warehouse.duckdb"
    deliver(warehouse, [(k, "2019-01", "2019-01.csv", "REJECTED", 0) for k in KOMMUNER])
    with dg.instance_for_test() as instance:
        _, logged = run(tmp_path, instance)
        assert logged == {partition(k, "2019-01") for k in KOMMUNER}
        assert instance.get_materialized_partitions(KEY) == set()
        metadata, logged = run(tmp_path, instance)
        assert logged == set() and metadata["kommun-månader uppdaterade"].value == 0
