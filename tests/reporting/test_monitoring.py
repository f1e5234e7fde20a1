"""Missing deliveries and target pace, on a hand-made warehouse."""

from __future__ import annotations

import datetime as dt

import duckdb

from orchestration.lib.warehouse import ensure_schema
from orchestration.projects.config import load_projects
from orchestration.reporting.monitoring import missing_deliveries
from orchestration.reporting.targets import pacing


def warehouse_with(path, deliveries, participants):
    ensure_schema(path)
    db = duckdb.connect(str(path))
    for i, (project, kommun, month, verdict) in enumerate(deliveries):
        db.execute("insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
                   "archive_path, sha256, size_bytes, received_at, status, verdict) values (?, ?, ?, ?, 'f.csv', 'a', 's', 1, ?, "
                   "'VALIDATED', ?)", [f"d{i}", project, kommun, month, dt.datetime(2020, 1, 1), verdict])
    db.execute("create schema marts")
    db.execute("create table marts.kpi_values (project_id varchar, area varchar, period varchar, kpi varchar, "
               "breakdown varchar, breakdown_group varchar, value double, target double, target_met boolean)")
    for project_id, period, value, *pace in participants:
        db.execute("insert into marts.kpi_values values (?, 'ALL', ?, 'participants', 'total', 'T', ?, null, null)",
                   [project_id, period, value])
        if pace:   # the warehouse's participants target to date (marts.kpi_values computes it)
            db.execute("insert into marts.kpi_values values (?, 'ALL', ?, 'participants_pace_target', 'total', 'T', "
                       "?, null, null)", [project_id, period, pace[0]])
    db.close()


def test_a_municipality_without_an_accepted_delivery_for_the_newest_month_is_missing(tmp_path):
    config = load_projects()
    fokus = config.project("fokus_16_25")
    deliveries = [("fokus_16_25", "2029", "2019-02", "ACCEPTED"), ("fokus_16_25", "2031", "2019-02", "REJECTED"),
                  ("fokus_16_25", "2026", "2019-01", "ACCEPTED"), ("fokus_16_25", "2031", "2019-01", "ACCEPTED")]
    warehouse_with(tmp_path / "w.duckdb", deliveries, [])
    missing = missing_deliveries(tmp_path / "w.duckdb", config)
    assert {(m.kommunkod, m.reporting_month) for m in missing} == {("2031", "2019-02"), ("2026", "2019-02")}
    assert set(fokus.municipalities) == {"2029", "2031", "2026"}


def test_a_project_below_the_warehouses_target_to_date_is_behind(tmp_path):
    config = load_projects()
    # UVAS: 350 over 37 months; after 10 months the target to date is 350 * 10 / 37 = 94.6.
    warehouse_with(tmp_path / "w.duckdb", [], [("uvas", "2016-03", 90.0, 350 * 10 / 37)])
    pace, = pacing(tmp_path / "w.duckdb", config)
    assert (pace.project_id, pace.period, pace.participants, pace.target) == ("uvas", "2016-03", 90.0, 350.0)
    assert pace.expected_by_now == 350 * 10 / 37 and pace.behind
    warehouse_with(tmp_path / "v.duckdb", [], [("uvas", "2016-03", 95.0, 350 * 10 / 37)])
    assert not pacing(tmp_path / "v.duckdb", config)[0].behind


def test_a_project_without_a_participants_target_has_no_pace(tmp_path):
    warehouse_with(tmp_path / "w.duckdb", [], [("fokus_16_25", "2019-03", 30.0)])
    assert pacing(tmp_path / "w.duckdb", load_projects()) == []


# --- Per municipality and month, and the partitions they are recorded on ----------------------

def warehouse_with_deliveries(path, deliveries, quarantine=()):
    """deliveries: (project, kommun, month, file, arrival_seq, verdict, rows_accepted, rows_rejected)."""
    ensure_schema(path)
    db = duckdb.connect(str(path))
    db.execute("delete from landing.deliveries")
    for project, kommun, month, file_name, seq, verdict, accepted, rejected in deliveries:
        db.execute(
            "insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, archive_path, "
            "sha256, size_bytes, received_at, status, verdict, verdict_reason, rows_total, rows_accepted, rows_rejected, "
            "rows_warned, arrival_seq) values (?, ?, ?, ?, ?, 'a', 's', 1, ?, 'VALIDATED', ?, ?, ?, ?, ?, 0, ?)",
            [f"d{seq}", project, kommun, month, file_name, dt.datetime(2019, 2, 4 + seq), verdict,
             "KOLUMN_SAKNAS" if verdict == "REJECTED" else None, accepted + rejected, accepted, rejected, seq])
    for seq, row, reason in quarantine:
        db.execute("insert into landing.quarantine_rows values (?, 'fokus_16_25', '2029', '2019-01', ?, ?, 'personnummer', 'fel')",
                   [f"d{seq}", row, reason])
    db.close()


FOKUS = [("fokus_16_25", "2029", "2019-01", "2019-01.csv", 1, "ACCEPTED_WITH_WARNINGS", 10, 2),
         ("fokus_16_25", "2031", "2019-01", "2019-01.csv", 2, "ACCEPTED", 8, 0),
         ("fokus_16_25", "2026", "2019-01", "2019-01.csv", 3, "REJECTED", 0, 0)]


def test_each_delivered_municipality_month_carries_its_verdict_rows_and_reasons(tmp_path):
    from orchestration.reporting.monitoring import municipality_months

    warehouse_with_deliveries(tmp_path / "w.duckdb", FOKUS, quarantine=[(1, 4, "PNR_OGILTIG"), (1, 9, "PNR_OGILTIG")])
    cells = {c.kommunkod: c for c in municipality_months(tmp_path / "w.duckdb", load_projects())}
    assert set(cells) == {"2029", "2031", "2026"}
    leksand = cells["2029"]
    assert (leksand.kommun, leksand.month, leksand.verdict, leksand.in_force) == ("Leksand", "2019-01", "ACCEPTED_WITH_WARNINGS", True)
    assert (leksand.quality.rows_accepted, leksand.quality.rows_rejected) == (10, 2)
    assert leksand.quality.reasons() == "PNR_OGILTIG 2"
    assert not cells["2026"].in_force and cells["2026"].verdict == "REJECTED"
    assert cells["2026"].quality.verdict_reason == "KOLUMN_SAKNAS"


def test_a_resubmission_changes_the_months_version_and_the_file_in_force(tmp_path):
    from orchestration.reporting.monitoring import municipality_months

    warehouse_with_deliveries(tmp_path / "w.duckdb", FOKUS)
    before = {c.kommunkod: c for c in municipality_months(tmp_path / "w.duckdb", load_projects())}
    corrected = ("fokus_16_25", "2026", "2019-01", "2019-01 (rättad).csv", 4, "ACCEPTED", 7, 0)
    warehouse_with_deliveries(tmp_path / "w.duckdb", FOKUS + [corrected])
    after = {c.kommunkod: c for c in municipality_months(tmp_path / "w.duckdb", load_projects())}
    assert after["2026"].version != before["2026"].version
    assert after["2026"].in_force and after["2026"].quality.file_name == "2019-01 (rättad).csv"
    assert after["2026"].deliveries == 2
    assert after["2029"].version == before["2029"].version


def test_row_counts_cover_every_landing_and_mart_table(tmp_path):
    from orchestration.reporting.monitoring import warehouse_row_counts

    warehouse_with(tmp_path / "w.duckdb", [("uvas", "2380", "2016-03", "ACCEPTED")], [("uvas", "2016-03", 90.0)])
    counts = warehouse_row_counts(tmp_path / "w.duckdb")
    assert counts["landing.deliveries"] == 1 and counts["marts.kpi_values"] == 1
    assert counts["landing.quarantine_rows"] == 0


def uvas_headline(name="UVAS", participants=395.0, expected_by_now=350.0, met=True):
    from orchestration.reporting.headline import Headline
    from orchestration.reporting.targets import Measure, Pace

    pace = Pace("uvas", "2018-06", participants, expected_by_now, 350.0)
    return Headline("uvas", name, "2018-06", int(participants), (
        Measure("uvas", "2018-06", "participants", participants, 350.0, met, pace),
        Measure("uvas", "2018-06", "activity_share", 0.61, 0.5, True),
        Measure("uvas", "2018-06", "median_days_to_activity", None, 90.0, None)))


def test_the_headline_as_markdown_has_a_row_per_measure_with_its_target_and_verdict():
    from orchestration.reporting.headline import headlines_markdown

    lines = headlines_markdown([uvas_headline()]).splitlines()
    assert lines[2] == "| UVAS | 2018-06 | Deltagare | 395 | 350 | nått |"
    assert lines[3] == "|  |  | Andel till aktivitet av alla deltagare | 61 % | 50 % | nått |"
    assert lines[4] == "|  |  | Mediantid till aktivitet (dagar) | – | 90 dagar | – |"


def test_the_headline_says_whether_participants_not_yet_at_their_target_are_on_pace():
    from orchestration.reporting.headline import format_headlines

    text = format_headlines([uvas_headline(participants=120.0, expected_by_now=140.0, met=False)])
    assert "inte nått, efter takt (hittills 140)" in text.splitlines()[1]
    text = format_headlines([uvas_headline(participants=150.0, expected_by_now=140.0, met=False)])
    assert "inte nått, i takt (hittills 140)" in text.splitlines()[1]


def test_a_project_name_cannot_break_the_markdown_table_or_the_terminal():
    from orchestration.reporting.headline import format_headlines, headlines_markdown

    table = headlines_markdown([uvas_headline(name="A | B\n<img src=x> [l](http://x)")])
    row = table.splitlines()[2]
    assert row.startswith("| A \\| B \\<img src=x\\> \\[l\\](http://x) | 2018-06 |")
    assert len(table.splitlines()) == 5
    assert "\x1b" not in format_headlines([uvas_headline()])


def status_metadata(result):
    import dagster as dg

    status, = [m for m in result.asset_materializations_for_node("delivery_status")
               if m.asset_key == dg.AssetKey("delivery_status")]
    return status.metadata


def test_delivery_status_records_changed_municipality_months_once_as_partitions(tmp_path):
    import dagster as dg

    from orchestration.reporting.delivery_assets import delivery_status
    from orchestration.resources import FollowupResource

    warehouse_with_deliveries(tmp_path / "warehouse.duckdb", FOKUS)
    resources = {"followup": FollowupResource(home=str(tmp_path))}
    key = dg.AssetKey(["municipality_months", "fokus_16_25"])
    with dg.instance_for_test() as instance:
        first = dg.materialize([delivery_status], resources=resources, instance=instance)
        assert instance.get_materialized_partitions(key) == {"2029 Leksand|2019-01", "2031 Rättvik|2019-01"}
        observed = [e for e in first.all_events if e.event_type_value == "ASSET_OBSERVATION"]
        assert [e.partition for e in observed] == ["2026 Gagnef|2019-01"]      # rejected: nothing counts
        metadata = status_metadata(first)
        assert metadata["filer avvisade"].value == 1 and metadata["filer avvisade utan senare godkänd fil"].value == 1
        # the rejected file is listed first, in the run's files and under what needs action
        processed = metadata["filer i körningen"].value.splitlines()
        assert "2026 Gagnef" in processed[2] and "**Avvisad, ingen leverans gäller för månaden**" in processed[2]
        assert "| 2026 Gagnef | 2019-01 | avvisad |" in metadata["att åtgärda"].value
        assert metadata["att åtgärda, antal"].value >= 1

        again = dg.materialize([delivery_status], resources=resources, instance=instance)
        metadata = status_metadata(again)
        assert metadata["kommun-månader uppdaterade"].value == 0

        corrected = ("fokus_16_25", "2026", "2019-01", "2019-01 (rättad).csv", 4, "ACCEPTED", 7, 0)
        warehouse_with_deliveries(tmp_path / "warehouse.duckdb", FOKUS + [corrected])
        third = dg.materialize([delivery_status], resources=resources, instance=instance)
        assert "2026 Gagnef|2019-01" in instance.get_materialized_partitions(key)
        metadata = status_metadata(third)
        assert metadata["kommun-månader uppdaterade"].value == 1
        assert "2019-01 (rättad).csv" in metadata["filer i körningen"].value
        assert metadata["filer avvisade"].value == 1 and metadata["filer avvisade utan senare godkänd fil"].value == 0
        assert "2026 Gagnef" in metadata["matris fokus_16_25"].value
        event = instance.get_latest_materialization_event(key)
        assert event.asset_materialization.partition == "2026 Gagnef|2019-01"
        detail = event.asset_materialization.metadata
        assert detail["fil som gäller"].value == "2019-01 (rättad).csv" and detail["läge"].value == "Gäller"
        files = detail["filer"].value.splitlines()[2:]           # both files of the month, in arrival order
        assert len(files) == 2 and "Avvisad, en senare rättad leverans gäller" in files[0]
        assert "2019-01 (rättad).csv" in files[1] and "| Godkänd | Gäller |" in files[1]
        assert detail["leveransrapport"].value.startswith(str(tmp_path / "reports" / "fokus_16_25" / "2026" / "2019-01_"))
        assert detail["räknas i nyckeltalen"].value == "ja" and detail["sen leverans"].value == "nej"
        assert detail["att åtgärda"].value == "Inget."
        # the months' check, in its partition grid: Leksand's file in force has rejected rows (red);
        # nothing else needs action (grey: no result is logged for a month without a problem)
        check = dg.AssetCheckKey(key, "inget_att_atgarda")

        def red() -> set[str]:
            return {i.partition_key for i in instance.event_log_storage.get_asset_check_partition_info([check])
                    if i.latest_execution_status.value == "FAILED" and i.is_current}

        assert red() == {"2029 Leksand|2019-01"}
        # a correction without rejected rows takes Leksand's red away
        leksand = ("fokus_16_25", "2029", "2019-01", "2019-01 rättad.csv", 5, "ACCEPTED", 12, 0)
        warehouse_with_deliveries(tmp_path / "warehouse.duckdb", FOKUS + [corrected, leksand])
        dg.materialize([delivery_status], resources=resources, instance=instance)
        assert red() == set()
