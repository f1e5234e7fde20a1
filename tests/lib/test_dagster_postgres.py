"""Dagster's storage on a real PostgreSQL server (tests/postgres.py), chosen by
FOLLOWUP_DAGSTER_POSTGRES_URL: the whole pipeline records its run there and builds the true KPIs,
two processes never hold the warehouse slot at once, a wrong URL stops a command with a Swedish
message that never shows the password, and a backup says how to dump what it cannot copy."""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import threading
import uuid
from dataclasses import dataclass

import dagster as dg
import duckdb
import psycopg2
import pytest

from orchestration.cli import main
from orchestration.generator import generate_deliveries
from orchestration.lib.dagster_instance import URL_VARIABLE, DagsterStorageError, dagster_yaml, write_dagster_yaml
from orchestration.lib.home import DataHome
from orchestration.privacy.keys import create_key
from orchestration.projects.config import load_projects
from tests.postgres import PASSWORD, PASSWORD_ROLE, PostgresServer
from tests.truth import expected_kpis
from tests.warehouse_pool import writes_one_at_a_time

pytestmark = pytest.mark.slow

PROJECT = "vaga_valja_vag"
SECRET = "pg-hemlis-4711"      # the socket trusts the role, so any password connects: it must appear nowhere


@dataclass
class PostgresRun:
    server: PostgresServer
    url: str                   # with SECRET as its password
    home: DataHome
    simulation: object
    outcome: object


@pytest.fixture(scope="module")
def pipeline_run(postgres_server: PostgresServer, tmp_path_factory) -> PostgresRun:
    """One run of the small project on a data home whose Dagster storage is a fresh database."""
    from orchestration.runner import run_pipeline

    url = postgres_server.create_database(password=SECRET)
    home = DataHome.resolve(tmp_path_factory.mktemp("pg-home")).create()
    create_key(home.root)
    simulation = generate_deliveries(load_projects(), home.inbox, project_ids=[PROJECT])
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv(URL_VARIABLE, url)
        outcome = run_pipeline(home, project_id=PROJECT)
    assert outcome.success, outcome.failure
    return PostgresRun(postgres_server, url, home, simulation, outcome)


def query(url: str, sql: str) -> list[tuple]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    connection.close()
    return rows


def test_the_pipeline_records_its_run_in_postgresql_and_builds_the_true_kpis(pipeline_run, monkeypatch):
    run, home = pipeline_run, pipeline_run.home
    assert query(run.url, f"select status from runs where run_id = '{run.outcome.run_id}'") == [("SUCCESS",)]
    assert query(run.url, f"select count(*) from event_logs where run_id = '{run.outcome.run_id}'")[0][0] > 20
    assert list(home.dagster.rglob("*.db")) == []                      # no SQLite storage beside it
    text = (home.dagster / "dagster.yaml").read_text(encoding="utf-8")
    assert f"env: {URL_VARIABLE}" in text and "postgresql://" not in text
    leaked = [p for p in home.root.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []

    monkeypatch.setenv(URL_VARIABLE, run.url)
    with dg.DagsterInstance.from_config(str(home.dagster)) as instance:
        config = instance.get_concurrency_config()
        assert (config.run_queue_config.max_concurrent_runs, config.pool_config.default_pool_limit) == (1, 1)
        assert instance.run_monitoring_enabled
        assert instance.get_run_by_id(run.outcome.run_id).is_success

    project = load_projects().project(PROJECT)
    months = project.months()
    with duckdb.connect(str(home.warehouse), read_only=True) as db:
        table = {tuple(r[:4]): r[4] for r in db.execute(
            "select area, period, kpi, breakdown, value from marts.kpi_values "
            f"where project_id = '{PROJECT}' and breakdown_group = 'T'").fetchall()}
    checked = 0
    for period in sorted({months[0], months[len(months) // 2], months[-1]}):
        for area in ("ALL", *project.municipalities):
            for kpi, expected in expected_kpis(run.simulation, project, area, period).items():
                actual = table.get((area, period, kpi, "total"))
                same = (actual is None or math.isnan(actual)) if expected is None else \
                    actual is not None and math.isclose(actual, expected, abs_tol=1e-9)
                assert same, (area, period, kpi, actual, expected)
                checked += 1
    assert checked > 30


def test_followup_writes_its_dagster_yaml_again_when_the_storage_changes_but_never_the_users_own(tmp_path,
                                                                                                monkeypatch):
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    path = tmp_path / "dagster.yaml"
    assert write_dagster_yaml(tmp_path) and path.read_text(encoding="utf-8") == dagster_yaml(postgres=False)
    assert not write_dagster_yaml(tmp_path)                            # unchanged: not written again
    monkeypatch.setenv(URL_VARIABLE, "postgresql://followup:hemligt@/followup?host=/run/postgresql")
    assert write_dagster_yaml(tmp_path) and path.read_text(encoding="utf-8") == dagster_yaml(postgres=True)
    assert "hemligt" not in path.read_text(encoding="utf-8")
    # Without the variable a home on PostgreSQL is refused, not moved back to SQLite under a running
    # daemon; going back is a choice, made by removing the file.
    monkeypatch.delenv(URL_VARIABLE)
    with pytest.raises(DagsterStorageError, match=f"{URL_VARIABLE} är inte satt här.*ta bort"):
        write_dagster_yaml(tmp_path)
    assert path.read_text(encoding="utf-8") == dagster_yaml(postgres=True)
    path.unlink()
    assert write_dagster_yaml(tmp_path) and "postgres" not in path.read_text(encoding="utf-8")

    own = "telemetry:\n  enabled: false\n"
    path.write_text(own, encoding="utf-8")
    monkeypatch.setenv(URL_VARIABLE, "postgresql://followup@/followup")
    assert not write_dagster_yaml(tmp_path) and path.read_text(encoding="utf-8") == own
    path.write_text("", encoding="utf-8")                            # left empty by a full disk: no one's
    assert write_dagster_yaml(tmp_path) and path.read_text(encoding="utf-8") == dagster_yaml(postgres=True)


def test_two_runs_in_two_processes_never_write_the_warehouse_at_the_same_time_on_postgresql(postgres_url, tmp_path):
    """The test of tests/automation/test_automation.py that SQLite cannot pass reliably, here whole runs in two
    processes on a pool neither has used yet (lib/postgres_storage.py keeps the slot one at a time)."""
    dagster_home = tmp_path / "dagster"
    write_dagster_yaml(dagster_home, postgres=True)
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), URL_VARIABLE: postgres_url}
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv(URL_VARIABLE, postgres_url)
        with dg.DagsterInstance.from_config(str(dagster_home)):
            pass                       # the tables exist before anything runs against them
    writes_one_at_a_time(tmp_path, env)
    assert query(postgres_url, "select status from runs") == [("SUCCESS",), ("SUCCESS",)]
    assert list(dagster_home.rglob("*.db")) == []


def test_processes_asking_for_a_pool_slot_at_the_same_moment_get_it_one_at_a_time(postgres_url, tmp_path,
                                                                                  monkeypatch):
    """Eight storages (as eight processes have) set up a new pool with one slot and claim it at the
    same moment, five times over: exactly one claims it each time and nothing fails. Dagster
    1.13.27's own PostgreSQL storage gave the slot to two of eight in 7 rounds of 10 here, and failed
    on the pool's concurrent first insert (lib/postgres_storage.py)."""
    monkeypatch.setenv(URL_VARIABLE, postgres_url)
    write_dagster_yaml(tmp_path, postgres=True)
    instances = [dg.DagsterInstance.from_config(str(tmp_path)) for _ in range(8)]
    try:
        for round_number in range(5):
            pool, barrier, claimed, errors = f"warehouse_{round_number}", threading.Barrier(8), [], []

            def claim(instance: dg.DagsterInstance) -> None:
                barrier.wait()
                try:
                    instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
                    run_id = uuid.uuid4().hex
                    if instance.event_log_storage.claim_concurrency_slot(pool, run_id, "write").is_claimed:
                        claimed.append(run_id)
                except Exception as error:  # noqa: BLE001 - collected, to be asserted on
                    errors.append(error)

            threads = [threading.Thread(target=claim, args=(instance,)) for instance in instances]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert errors == [] and len(claimed) == 1, (round_number, errors, claimed)
            info = instances[0].event_log_storage.get_concurrency_info(pool)
            assert (info.slot_count, info.claimed_slots[0].run_id) == (1, claimed[0])
    finally:
        for instance in instances:
            instance.dispose()


def wrong_urls(server: PostgresServer) -> dict[str, tuple[str, str]]:
    """Each wrong URL, and the words its message must say."""
    wrong_password = "fel-Lösen-123"
    return {
        "wrong password": (server.url("postgres", PASSWORD_ROLE, wrong_password), "släppte inte in"),
        "no such database": (server.url("finns_inte", password=SECRET), "databasen finns_inte finns inte"),
        "no server": (f"postgresql://followup:{SECRET}@/followup?host={server.root / 'ingen-server'}",
                      "når ingen PostgreSQL-server"),
        "not a PostgreSQL URL": (f"mysql://followup:{SECRET}@localhost/followup", "är ingen PostgreSQL-adress"),
    }


def test_a_wrong_url_stops_run_before_anything_runs_with_a_swedish_message_and_no_password(postgres_server, tmp_path,
                                                                                           monkeypatch, capsys):
    home = tmp_path / "home"
    create_key(home)
    for case, (url, said) in wrong_urls(postgres_server).items():
        monkeypatch.setenv(URL_VARIABLE, url)
        assert main(["run", "--home", str(home), "--project", PROJECT]) == 2, case
        out, err = capsys.readouterr()
        assert said in err and err.startswith("followup: ") and "Inget har körts" in err, (case, err)
        assert "Traceback" not in out + err and SECRET not in out + err and "fel-Lösen-123" not in out + err, case
        assert not (home / "warehouse.duckdb").exists() and not (home / "dagster").exists(), case


def test_doctor_names_the_postgresql_storage_and_a_wrong_url_without_its_password(pipeline_run, monkeypatch, capsys):
    home = str(pipeline_run.home.root)
    monkeypatch.setenv(URL_VARIABLE, pipeline_run.url)
    main(["doctor", "--home", home])
    line = next(line for line in capsys.readouterr().out.splitlines() if line[5:].startswith("Dagster:"))
    database = psycopg2.extensions.parse_dsn(pipeline_run.url)["dbname"]
    assert line.startswith("OK   Dagster: PostgreSQL (databasen " + database), line
    assert f"senaste körningen {pipeline_run.outcome.run_id[:8]} (SUCCESS)" in line and SECRET not in line

    for case, (url, said) in wrong_urls(pipeline_run.server).items():
        monkeypatch.setenv(URL_VARIABLE, url)
        assert main(["doctor", "--home", home]) == 1, case
        out, err = capsys.readouterr()
        line = next(line for line in out.splitlines() if line[5:].startswith("Dagster:"))
        assert line.startswith("FEL  Dagster: ") and said in line, (case, line)
        assert "INFO Dagster-demonen: okänt" in out and "Retrying" not in err, case   # no retries, no noise
        assert SECRET not in out + err and "fel-Lösen-123" not in out + err and PASSWORD not in out + err, case

    monkeypatch.delenv(URL_VARIABLE)
    main(["doctor", "--home", home])
    line = next(line for line in capsys.readouterr().out.splitlines() if line[5:].startswith("Dagster:"))
    assert line.startswith("FEL  Dagster: ") and f"{URL_VARIABLE} är inte satt här" in line, line
    assert main(["run", "--home", home]) == 2                                     # said, and nothing moved
    assert "PostgreSQL" in capsys.readouterr().err and "postgres" in (pipeline_run.home.dagster / "dagster.yaml").read_text()


def test_a_backup_says_how_to_dump_the_postgresql_storage_and_the_dump_restores_the_run_history(pipeline_run, tmp_path,
                                                                                               monkeypatch, capsys):
    run = pipeline_run
    monkeypatch.setenv(URL_VARIABLE, run.url)
    target = tmp_path / "backup"
    assert main(["backup", "--home", str(run.home.root), "--to", str(target)]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    storage = manifest["dagster_storage"]
    assert storage["kind"] == "postgres" and storage["in_backup"] is False
    command = storage["dump_with"]
    assert command in out and "kan inte kopieras som filer" in out
    assert SECRET not in out and SECRET not in (target / "manifest.json").read_text(encoding="utf-8")

    # The command as given works: pg_dump (the server's own, PATH may lack one) reads the password
    # from PGPASSWORD, and the dump loads into a new database with the run in it.
    argv = shlex.split(command)
    argv[0] = str(run.server.bin_dir / "pg_dump")
    dumped = subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**os.environ, "PGPASSWORD": SECRET})
    assert dumped.returncode == 0, dumped.stderr
    assert (target / "dagster-postgres.dump").stat().st_size > 0

    restored_home = tmp_path / "restored"
    assert main(["restore", "--from", str(target), "--home", str(restored_home)]) == 0
    said = capsys.readouterr().out
    assert "pg_restore" in said and str(target / "dagster-postgres.dump") in said and "tom körhistorik" in said
    fresh = run.server.create_database()
    loaded = subprocess.run([str(run.server.bin_dir / "pg_restore"), "--no-owner", f"--dbname={fresh}",
                             str(target / "dagster-postgres.dump")], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert query(fresh, f"select status from runs where run_id = '{run.outcome.run_id}'") == [("SUCCESS",)]
