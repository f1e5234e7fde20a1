"""The monthly schedule, the inbox sensor, step retries and one writer at the warehouse."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from orchestration.automation.definitions import (
    MONTH_TAG,
    MONTHLY_JOB,
    PROJECTS_TAG,
    SCHEDULE,
    SENSOR,
    completed_month,
    step_retry_policy,
)
from orchestration.automation.definitions import definitions as automation_definitions
from orchestration.definitions import build_definitions
from orchestration.lib.settings import DEFAULT_CRON, Settings
from tests.warehouse_pool import writes_one_at_a_time

REPO = Path(__file__).resolve().parents[2]


def deployment() -> dg.Definitions:
    """The definitions `followup serve` would load with this test's environment."""
    return build_definitions(Settings.from_environment())


def followup_job():
    return deployment().resolve_job_def(MONTHLY_JOB)


def deliver(home: Path, project: str, kommun: str, name: str, text: str = "personnummer;startdatum;fas\n") -> Path:
    path = home / "inbox" / project / kommun / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def tick(cursor: str | None = None):
    with dg.build_sensor_context(cursor=cursor) as context:
        result = deployment().resolve_sensor_def(SENSOR)(context)
        return result, context.cursor


# --- Schedule -------------------------------------------------------------------------------

def test_schedule_runs_on_the_11th_at_six_stockholm_and_completes_the_previous_month():
    monthly_schedule = deployment().resolve_schedule_def(SCHEDULE)
    assert monthly_schedule.cron_schedule == DEFAULT_CRON == "0 6 11 * *"
    assert monthly_schedule.execution_timezone == "Europe/Stockholm"
    assert monthly_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    when = dt.datetime(2026, 4, 11, 6, tzinfo=ZoneInfo("Europe/Stockholm"))
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        requests = list(monthly_schedule.evaluate_tick(context).run_requests)
    request, = requests
    assert request.run_key == "month-2026-03"
    assert request.tags[MONTH_TAG] == "2026-03" and request.tags[PROJECTS_TAG] == "alla"
    assert request.run_config["resources"]["followup"]["config"]["project_ids"] == []
    assert dg.validate_run_config(followup_job(), request.run_config)


def test_january_run_completes_december_of_the_year_before():
    assert completed_month(dt.datetime(2027, 1, 11, 6)) == "2026-12"


def test_schedule_time_and_zone_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FOLLOWUP_SCHEDULE_CRON", "30 7 12 * *")
    monkeypatch.setenv("FOLLOWUP_SCHEDULE_TIMEZONE", "UTC")
    schedule = automation_definitions(Settings.from_environment()).resolve_schedule_def(SCHEDULE)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 7 12 * *", "UTC")
    monkeypatch.setenv("FOLLOWUP_SCHEDULE_CRON", "den elfte")
    with pytest.raises(ValueError, match="FOLLOWUP_SCHEDULE_CRON='den elfte' är inget giltigt cron-uttryck"):
        automation_definitions(Settings.from_environment())
    monkeypatch.setenv("FOLLOWUP_SENSOR_INTERVAL_SECONDS", "varje minut")
    with pytest.raises(ValueError, match="FOLLOWUP_SENSOR_INTERVAL_SECONDS='varje minut'"):
        Settings.from_environment()


def test_the_loaded_code_location_uses_the_configured_schedule(tmp_path):
    code = ("from orchestration.definitions import defs; "
            "s = defs().resolve_schedule_def('monthly_after_delivery_deadline'); print(f'{s.cron_schedule}|{s.execution_timezone}')")
    env = {**os.environ, "FOLLOWUP_SCHEDULE_CRON": "0 5 12 * *", "FOLLOWUP_HOME": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert completed.stdout.strip().splitlines()[-1:] == ["0 5 12 * *|Europe/Stockholm"], completed.stderr[-2000:]


# --- Sensor ---------------------------------------------------------------------------------

def test_inbox_sensor_runs_only_the_projects_whose_folders_changed(tmp_path, monkeypatch, pseudonym_key):
    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path))
    (tmp_path / "inbox").mkdir()
    result, cursor = tick()
    assert isinstance(result, dg.SkipReason)

    uvas = deliver(tmp_path, "uvas", "2380", "2016-03.csv")
    deliver(tmp_path, "fokus_16_25", "2029", "2019-01.csv")
    first, cursor = tick(cursor)
    assert isinstance(first, dg.RunRequest)
    assert first.run_config["resources"]["followup"]["config"]["project_ids"] == ["fokus_16_25", "uvas"]
    assert first.tags[PROJECTS_TAG] == "fokus_16_25,uvas"

    unchanged, cursor = tick(cursor)
    assert isinstance(unchanged, dg.SkipReason)

    uvas.write_text("personnummer;startdatum;fas\n990101-1230;2016-01-10;MOTA\n", encoding="utf-8")
    resubmitted, cursor = tick(cursor)
    assert isinstance(resubmitted, dg.RunRequest) and resubmitted.run_key != first.run_key
    assert resubmitted.run_config["resources"]["followup"]["config"]["project_ids"] == ["uvas"]
    assert resubmitted.tags[PROJECTS_TAG] == "uvas"
    assert dg.validate_run_config(followup_job(), resubmitted.run_config)


def test_a_folder_outside_the_configuration_makes_the_sensor_run_every_project(tmp_path, monkeypatch, pseudonym_key):
    """So intake sees the file and reports it as not ingested, instead of it going unnoticed."""
    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path))
    deliver(tmp_path, "okant_projekt", "2380", "2016-03.csv")
    request, _ = tick()
    assert request.run_config["resources"]["followup"]["config"]["project_ids"] == []
    assert request.tags[PROJECTS_TAG] == "alla"


def test_the_sensor_starts_nothing_with_a_key_other_than_the_homes_or_without_one(tmp_path, monkeypatch, pseudonym_key):
    from orchestration.privacy.keys import record_fingerprint

    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path))
    record_fingerprint(tmp_path, pseudonym_key)
    deliver(tmp_path, "uvas", "2380", "2016-03.csv")
    monkeypatch.setenv("FOLLOWUP_PSEUDONYM_KEY", "another-key-" + "w" * 40)
    refused, cursor = tick()
    assert isinstance(refused, dg.SkipReason) and "Fel pseudonymiseringsnyckel" in refused.skip_message
    assert cursor is None                      # the files are still new when the key is put right
    monkeypatch.delenv("FOLLOWUP_PSEUDONYM_KEY")
    missing, cursor = tick()
    assert isinstance(missing, dg.SkipReason) and "create-key" in missing.skip_message and cursor is None
    monkeypatch.setenv("FOLLOWUP_PSEUDONYM_KEY", pseudonym_key.decode())
    started, _ = tick()
    assert isinstance(started, dg.RunRequest)


def test_the_sensor_starts_nothing_in_a_home_written_by_a_newer_release(tmp_path, monkeypatch, pseudonym_key):
    from orchestration.lib.layout import LAYOUT_VERSION, RECORD_NAME

    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path))
    deliver(tmp_path, "uvas", "2380", "2016-03.csv")
    (tmp_path / RECORD_NAME).write_text(json.dumps({"layout": LAYOUT_VERSION + 1, "release": "99.0.0", "upgrades": []}),
                                        encoding="utf-8")
    refused, cursor = tick()
    assert isinstance(refused, dg.SkipReason) and "99.0.0" in refused.skip_message and cursor is None
    (tmp_path / RECORD_NAME).unlink()
    started, _ = tick()
    assert isinstance(started, dg.RunRequest)


def test_the_sensor_cursor_stays_small_for_a_national_inbox(tmp_path, monkeypatch, pseudonym_key):
    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path))
    for kommun in range(290):
        for month in range(1, 13):
            deliver(tmp_path, "uvas", f"{kommun:04d}", f"2016-{month:02d}.csv", "x")
    request, cursor = tick()
    assert isinstance(request, dg.RunRequest)
    assert len(cursor) < 200


def test_the_sensors_run_config_makes_intake_read_only_those_projects_inboxes(tmp_path, monkeypatch, pseudonym_key):
    from orchestration.lib.asset_keys import landing_key

    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path))
    deliver(tmp_path, "uvas", "2380", "2016-03.csv")
    deliver(tmp_path, "fokus_16_25", "2029", "2019-01.csv")
    _, cursor = tick()
    deliver(tmp_path, "uvas", "2380", "2016-04.csv")
    request, _ = tick(cursor)
    assert request.run_config["resources"]["followup"]["config"]["project_ids"] == ["uvas"]

    run_config = request.run_config
    assert run_config["resources"]["followup"]["config"]["home"] == str(tmp_path.resolve())   # the daemon's FOLLOWUP_HOME
    selection = [landing_key(t) for t in ("projects", "project_municipalities", "project_activity_outcomes",
                                          "project_targets", "unrouted_files")] + [dg.AssetKey("inbox_deliveries")]
    with dg.instance_for_test() as instance:
        result = followup_job().execute_in_process(run_config=run_config, instance=instance, asset_selection=selection)
    assert result.success
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        received = db.execute("select project_id, reporting_month from landing.deliveries order by 2").fetchall()
    assert received == [("uvas", "2016-03"), ("uvas", "2016-04")]


# --- Retries and one writer -------------------------------------------------------------------

def test_every_step_of_the_monthly_job_is_retried_after_a_transient_failure():
    policy = step_retry_policy(Settings.from_environment())
    assert policy is not None and policy.max_retries == 2 and policy.delay == 15
    job = followup_job()
    assert job.executor_def.name == "in_process"
    from dagster._core.definitions.dependency import NodeHandle

    for node in job.graph.node_defs:
        assert job.get_retry_policy_for_handle(NodeHandle(node.name, None)) == policy


def test_retries_need_no_daemon_a_failed_step_is_retried_in_process(tmp_path):
    marker = tmp_path / "failed-once"

    @dg.asset
    def flaky_warehouse_write():
        if not marker.exists():
            marker.touch()
            raise OSError("IO Error: Could not set lock on file warehouse.duckdb")
        return 1

    job = dg.define_asset_job("monthly", op_retry_policy=step_retry_policy(Settings(home=str(tmp_path)))._replace(delay=0),
                              executor_def=dg.in_process_executor)
    defs = dg.Definitions(assets=[flaky_warehouse_write], jobs=[job])
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("monthly").execute_in_process(instance=instance)
    assert result.success
    assert [e.event_type_value for e in result.all_events].count("STEP_RESTARTED") == 1


def test_every_stage_and_check_that_opens_the_warehouse_is_in_the_warehouse_pool():
    from orchestration.lib.asset_keys import WAREHOUSE_POOL

    defs = deployment()
    graph = defs.resolve_asset_graph()
    pools = {}
    for assets_def in graph.assets_defs:
        if assets_def.is_executable:
            pools[assets_def.node_def.name] = assets_def.node_def.pool
    for check in defs.asset_checks or []:
        pools[check.node_def.name] = check.node_def.pool
    assert pools and all(pool == WAREHOUSE_POOL for pool in pools.values()), pools


def test_the_data_homes_instance_queues_runs_one_at_a_time_with_one_warehouse_slot(tmp_path):
    from orchestration.lib.dagster_instance import write_dagster_yaml

    write_dagster_yaml(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == 1
        assert config.pool_config.default_pool_limit == 1
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"   # what dagster dev's daemon uses


@pytest.mark.xfail(strict=False, reason=(
    "Dagster 1.13 on SQLite: claim_concurrency_slot selects a free slot WITH FOR UPDATE, which SQLite "
    "ignores, and updates it without checking it is still free, so two processes that ask in the same "
    "millisecond can both get the one `warehouse` slot (it failed twice under load in session 6). "
    "DuckDB's file lock still keeps the second writer out (its step fails and is retried). On PostgreSQL "
    "followup's storage takes the claims in turn under an advisory lock (lib/postgres_storage.py), and "
    "tests/lib/test_dagster_postgres.py holds it to that; on SQLite this test states the goal, not a guarantee."))
def test_two_runs_in_two_processes_never_write_the_warehouse_at_the_same_time(tmp_path):
    from orchestration.lib.dagster_instance import write_dagster_yaml

    dagster_home = tmp_path / "dagster"
    write_dagster_yaml(dagster_home)
    with dg.DagsterInstance.from_config(str(dagster_home)):
        pass                           # the data home's instance exists before anything runs against it
    writes_one_at_a_time(tmp_path, {**os.environ, "DAGSTER_HOME": str(dagster_home)})
