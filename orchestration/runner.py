"""Run the whole pipeline through Dagster in this process, recording the run in the data home's
Dagster instance so coordinators see it in the UI."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib import last_run
from orchestration.lib.contract import VALIDATED
from orchestration.lib.dagster_instance import quick_sqlite_commits, require_reachable, write_dagster_yaml
from orchestration.lib.delivery_state import WAITING
from orchestration.lib.diskspace import SpaceNeed, space_needed
from orchestration.lib.home import DataHome
from orchestration.lib.layout import refuse_newer, upgrade_home
from orchestration.lib.mapping_contract import ENROLMENT, MAPPING, MAPPING_FOLDER
from orchestration.lib.runlock import WarehouseHolder, when_warehouse_free
from orchestration.lib.settings import Settings
from orchestration.lib.telemetry import disable_telemetry
from orchestration.lib.warehouse import connect, ensure_schema
from orchestration.lib.warehouse_copy import copy_path


@dataclass
class DeliveryLine:
    project_id: str
    kommunkod: str
    reporting_month: str
    file_name: str
    verdict: str
    rows_accepted: int
    rows_rejected: int
    reason: str | None
    state: str                    # lib/delivery_state.py, after the run
    needs_action: bool
    extract_kind: str = ENROLMENT   # lib/mapping_contract.EXTRACT_KINDS


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    deliveries: list[DeliveryLine] = field(default_factory=list)
    not_ingested: list[tuple[str, str]] = field(default_factory=list)
    failure: str | None = None
    log_path: Path | None = None
    nothing_new_since: last_run.LastRun | None = None     # nothing to do: no Dagster run was started


def prepare_environment(home: DataHome, config_path: str | None) -> Settings:
    """The settings of a run on this home, and the environment the tools it starts read (dbt's
    profile, Dagster's instance, a child process): data home, config, DAGSTER_HOME, telemetry off. A
    wrong FOLLOWUP_DAGSTER_POSTGRES_URL raises DagsterStorageError (in Swedish) before anything is done."""
    disable_telemetry()
    require_reachable()
    home.create()
    os.environ["FOLLOWUP_HOME"] = str(home.root)
    if config_path:
        os.environ["FOLLOWUP_CONFIG"] = str(Path(config_path).resolve())
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    os.environ["FOLLOWUP_WAREHOUSE"] = str(home.warehouse)
    write_dagster_yaml(home.dagster)
    quick_sqlite_commits()
    return Settings.from_environment()


PID_TAG = "followup/pid"
HOST_TAG = "followup/host"


def release_abandoned_runs(instance) -> list[str]:
    """Mark failed the runs of a `followup run` that was killed (its process is gone) and free
    the pool slots they held. Without this the next run waits forever for the warehouse pool
    (limit 1), which the killed run claimed and never gave back."""
    from dagster import DagsterRunStatus

    def abandoned(run) -> str | None:
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if not pid or host != socket.gethostname() or _process_alive(int(pid)):
            return None
        return f"Körningen avbröts (process {pid} finns inte längre); platserna frigjordes."

    return release_runs(instance, (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED), abandoned)


def release_runs(instance, statuses, reason_to_release: Callable[[object], str | None]) -> list[str]:
    """Mark failed every run in `statuses` for which `reason_to_release` gives a reason, and free the
    pool slots it holds (a run whose process is gone never gives them back itself)."""
    from dagster import RunsFilter

    released = []
    for run in instance.get_runs(RunsFilter(statuses=list(statuses))):
        reason = reason_to_release(run)
        if reason is None:
            continue
        instance.report_run_failed(run, reason)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# How long a run waits for the warehouse file when another process holds it and the operator
# gave no --wait: long enough for `followup status` or `export` to finish a read, short enough
# that a run started while a Dagster-launched run is in its dbt step says so instead of hanging.
WAREHOUSE_GRACE_SECONDS = 15.0


def run_pipeline(home: DataHome, config_path: str | None = None, project_id: str | None = None,
                 wait_seconds: float = WAREHOUSE_GRACE_SECONDS,
                 on_wait: Callable[[WarehouseHolder], None] | None = None) -> RunOutcome:
    """One run. The deliveries it reports are those it processed: found new, or recorded by an
    earlier run that ended before validating them (killed, or stopped by a full disk). Raises
    `WarehouseBusy` when another process holds the warehouse for longer than `wait_seconds`, and
    `HomeTooNew` (before anything is written) for a home a newer release wrote. When nothing has
    changed since the last clean run (lib/last_run.py) it does nothing and says since when."""
    refuse_newer(home)
    settings = prepare_environment(home, config_path)
    inputs = last_run.inputs_digest(home, settings.config_path or None)
    unchanged = last_run.nothing_new(home, inputs)
    if unchanged is not None:
        return RunOutcome(True, unchanged.run_id, nothing_new_since=unchanged)
    last_run.forget(home)
    from orchestration.quality import gx_process

    gx_process.start()      # GX's import (~2 s) in its own process, while this one imports Dagster and runs the first steps
    when_free = functools.partial(when_warehouse_free, path=home.warehouse, wait_seconds=wait_seconds, on_wait=on_wait)
    when_free(lambda: (upgrade_home(home), ensure_schema(home.warehouse)))   # an older home first migrated in place

    def state_before() -> tuple[set[str], set[tuple]]:
        with connect(home.warehouse, read_only=True) as db:
            validated = {r[0] for r in db.execute(
                "select delivery_id from landing.deliveries where status = ?", [VALIDATED]).fetchall()}
            unrouted = {tuple(r) for r in db.execute("select inbox_path, sha256 from landing.unrouted_files").fetchall()}
        return validated, unrouted

    validated_before, unrouted_before = when_free(state_before)

    from dagster import DagsterInstance

    from orchestration.automation.definitions import ALL_PROJECTS, MONTHLY_JOB, PROJECTS_TAG
    from orchestration.definitions import build_definitions
    from orchestration.resources import run_config as resources_config

    job = build_definitions(settings).resolve_job_def(MONTHLY_JOB)
    run_config = {**resources_config(settings, [project_id] if project_id else []),
                  "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    log_path = home.root / "logs" / f"run-{dt.datetime.now():%Y%m%d-%H%M%S}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # dbt and Dagster narrate every step; the person at the terminal gets the summary, the
    # narration goes to a log file (it holds no personal data: counts, names of models).
    with DagsterInstance.get() as instance, log_path.open("w", encoding="utf-8") as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        release_abandoned_runs(instance)
        result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False,
                                        tags={PROJECTS_TAG: project_id or ALL_PROJECTS,
                                              "followup/started_by": "followup run",
                                              PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})
        failure = None
        if not result.success:
            failed = [event for event in result.all_events if event.is_step_failure]
            failure = "; ".join(
                f"{event.step_key}: {event.step_failure_data.error.message.strip()[:500]}" for event in failed
                if event.step_failure_data and event.step_failure_data.error
            ) or "the run failed"

    def state_after() -> tuple[list[tuple], list[tuple]]:
        with connect(home.warehouse, read_only=True) as db:
            rows = db.execute(
                "select delivery_id, project_id, kommunkod, reporting_month, file_name, coalesce(verdict, status), "
                "coalesce(rows_accepted, 0), coalesce(rows_rejected, 0), verdict_reason, state, needs_action, extract_kind "
                "from landing.delivery_states order by project_id, kommunkod, reporting_month, extract_kind, received_at"
            ).fetchall()
            unrouted = db.execute("select inbox_path, sha256, message from landing.unrouted_files").fetchall()
        return rows, unrouted

    rows, unrouted = when_free(state_after)
    if result.success and project_id is None and not any(row[9] == WAITING for row in rows):
        last_run.record(home, inputs, result.run_id)
    lines = [DeliveryLine(*row[1:]) for row in rows if row[0] not in validated_before]
    not_ingested = [(path, message) for path, sha, message in unrouted if (path, sha) not in unrouted_before]
    return RunOutcome(result.success, result.run_id, lines, not_ingested, failure, log_path)


def space_for_run(home: DataHome) -> SpaceNeed:
    """Free space against what a run would need (lib/diskspace.py has the rule). Which inbox files
    are already received comes from the warehouse, or its read copy while the warehouse is held (a
    mapping file's path as ingest/inbox.received_path gives it)."""
    received: set[tuple[str, int]] = set()
    for source in (home.warehouse, copy_path(home.root)):
        if not source.exists():
            continue
        try:
            with connect(source, read_only=True) as db:
                has_kind = db.execute("select count(*) from information_schema.columns where table_schema = 'landing' "
                                      "and table_name = 'deliveries' and column_name = 'extract_kind'").fetchone()[0]
                folder = "case when extract_kind = ? then ? else '' end || " if has_kind else ""  # before issue 18: none
                received = {(path, size) for path, size in db.execute(
                    f"select project_id || '/' || kommunkod || '/' || {folder}file_name, size_bytes "
                    "from landing.deliveries", [MAPPING, f"{MAPPING_FOLDER}/"] if has_kind else []).fetchall()}
            break
        except duckdb.Error:
            continue            # held by another process, or no deliveries table yet
    from orchestration.ingest.inbox import unreceived_bytes
    from orchestration.ingest.limits import ReadLimits

    new = unreceived_bytes(home.inbox, received, ReadLimits.from_environment().max_file_bytes)
    return space_needed(home.root, new, home.warehouse)
