"""The monthly schedule, the inbox sensor and the job they start.

Deliveries are due by the 10th of the following month (extract contract); the schedule runs on
the 11th at 06:00 Stockholm time so a month's processing and exports complete once they are in.
`FOLLOWUP_SCHEDULE_CRON` and `FOLLOWUP_SCHEDULE_TIMEZONE` move it (lib/settings.py, read when the code
location loads). The sensor starts a run as soon as files appear or change, for the projects whose inbox
folders changed only, so a coordinator does not wait for the schedule; it looks every minute
(`FOLLOWUP_SENSOR_INTERVAL_SECONDS`).

At most one writer at the warehouse, whatever starts the run: every stage and check that opens
the warehouse is in the pool `warehouse`, whose limit is 1 in the data home's dagster.yaml
(`concurrency.pools.default_limit`). The slots are kept by the instance, so the limit holds
between `followup run` (in process), *Materialize* in the UI and the runs the daemon starts for
this schedule and sensor under `followup serve` (tried under `dagster dev`: a sensor run and a concurrent `followup run`
took turns, each logging "Step blocked by limit for pool warehouse"). Runs queued through the
instance (UI, daemon) also start one at a time (`concurrency.runs.max_concurrent_runs: 1`).

Transient failures (a warehouse file briefly locked by another program, a full disk freed a
minute later) are retried per step: `step_retry_policy`, two retries after 15 s and 30 s, in
process, without the daemon; `FOLLOWUP_STEP_RETRIES=0` turns them off. A deterministic failure (a
dbt test that fails, a key that does not match the home's) fails at once, without retries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping

import dagster as dg

from orchestration.lib.home import DataHome
from orchestration.lib.settings import DEFAULT_CRON, Settings, SettingsError
from orchestration.lib.thresholds import DEADLINE_DAY
from orchestration.resources import run_config

MONTHLY_JOB = "followup_monthly"
SCHEDULE = "monthly_after_delivery_deadline"
SENSOR = "inbox_sensor"
PROJECTS_TAG = "followup/projects"
MONTH_TAG = "followup/reporting_month"
ALL_PROJECTS = "alla"


def step_retry_policy(settings: Settings) -> dg.RetryPolicy | None:
    if settings.step_retries <= 0:
        return None
    return dg.RetryPolicy(max_retries=settings.step_retries, delay=15, backoff=dg.Backoff.EXPONENTIAL)


def definitions(settings: Settings) -> dg.Definitions:
    """The monthly job, its schedule and the inbox sensor of this deployment."""
    job = dg.define_asset_job(
        MONTHLY_JOB,
        selection=dg.AssetSelection.all(),
        description="Inläsning → pseudonymisering → validering → dbt → exporter, för varje ny leverans.",
        op_retry_policy=step_retry_policy(settings),
    )
    return dg.Definitions(jobs=[job], schedules=[monthly_schedule(settings, job)], sensors=[inbox_sensor(settings, job)])


def completed_month(when: dt.datetime) -> str:
    """The reporting month whose deadline has just passed: the month before `when`."""
    last_of_previous = when.date().replace(day=1) - dt.timedelta(days=1)
    return f"{last_of_previous:%Y-%m}"


def monthly_schedule(settings: Settings, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Every project, every new file: completes last month and writes the funder exports."""

    def every_project(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        when = context.scheduled_execution_time or dt.datetime.now(dt.timezone.utc)
        month = completed_month(when)
        return dg.RunRequest(run_key=f"month-{month}", run_config=run_config(settings, []),
                             tags={MONTH_TAG: month, PROJECTS_TAG: ALL_PROJECTS})

    try:
        return dg.schedule(
            name=SCHEDULE,
            job=job,
            cron_schedule=settings.schedule_cron,
            execution_timezone=settings.schedule_timezone,
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description=f"Den {DEADLINE_DAY + 1}:e varje månad kl. 06 (FOLLOWUP_SCHEDULE_CRON): leveranstiden "
                        f"(den {DEADLINE_DAY}:e) har gått ut; månaden blir klar och exporterna skrivs för alla projekt.",
        )(every_project)
    except dg.DagsterInvalidDefinitionError:
        raise SettingsError(f"FOLLOWUP_SCHEDULE_CRON={settings.schedule_cron!r} är inget giltigt cron-uttryck "
                            f"(t.ex. {DEFAULT_CRON!r}: den {DEADLINE_DAY + 1}:e kl. 06).") from None


def inbox_fingerprint(home: DataHome) -> dict[str, dict[str, list[float]]]:
    """Per top folder of the inbox (a project), relative path → [size, mtime] of every entry intake
    would list (links, hidden files and FIFOs too, so they are reported): cheap, nothing is opened."""
    from orchestration.ingest.inbox import walk_inbox

    found: dict[str, dict[str, list[float]]] = {}
    for _, relative, _, status in walk_inbox(home.inbox):
        folder = relative.split("/", 1)[0] if "/" in relative else ""
        found.setdefault(folder, {})[relative] = [status.st_size, status.st_mtime] if status else [0, 0]
    return found


def folder_digests(fingerprint: Mapping[str, Mapping[str, list[float]]]) -> dict[str, str]:
    """One digest per project folder: the cursor stays a few hundred bytes for 10 000 files."""
    return {folder: hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
            for folder, files in fingerprint.items()}


def key_refusal(home: DataHome) -> str | None:
    """Why no run may start with this deployment's key (none, or not the one that built the home),
    said before anything is read; None when the key is the home's."""
    from orchestration.privacy.keys import PseudonymKeyError, check_key, load_key

    try:
        check_key(home.root, load_key(home.root))
    except PseudonymKeyError as error:
        return str(error)
    return None


def configured_projects(settings: Settings) -> set[str] | None:
    from orchestration.projects.config import ConfigError, load_projects

    try:
        return {p.id for p in load_projects(settings.config_path or None).projects}
    except ConfigError:
        return None


def inbox_sensor(settings: Settings, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """Start a run for the projects whose inbox folders have new or changed files.

    The run's config limits intake to those projects (`project_ids`), so a file for UVAS does
    not make the run read every other project's inbox; dbt and the exports then bring every
    table up to date as usual. A changed file outside a configured project's folder runs every
    project, so intake reports it as not ingested.

    While a `followup run` (or demo, rotate-key, purge-raw) holds the data home the tick is
    skipped before the cursor moves, so the files that run does not take are seen on a later tick."""

    def look(context: dg.SensorEvaluationContext):
        from orchestration.lib.layout import refusal
        from orchestration.lib.runlock import current_holder

        home = DataHome.resolve(settings.home)
        holder = current_holder(home.root)
        if holder is not None:
            return dg.SkipReason(f"En körning pågår redan i {home.root} ({holder.describe()}); inkorgen kontrolleras "
                                 "igen när den är klar.")
        refused = refusal(home) or key_refusal(home)
        if refused:
            return dg.SkipReason(refused)
        digests = folder_digests(inbox_fingerprint(home))
        previous = json.loads(context.cursor) if context.cursor else {}
        changed = sorted(folder for folder, digest in digests.items() if previous.get(folder) != digest)
        context.update_cursor(json.dumps(digests, sort_keys=True))
        if not changed:
            return dg.SkipReason("Inga nya eller ändrade filer i inkorgen.")
        known = configured_projects(settings)
        project_ids = [] if known is None or any(folder not in known for folder in changed) else changed
        run_key = hashlib.sha256(json.dumps({f: digests[f] for f in changed}).encode()).hexdigest()[:16]
        return dg.RunRequest(run_key=run_key, run_config=run_config(settings, project_ids),
                             tags={PROJECTS_TAG: ",".join(project_ids) or ALL_PROJECTS})

    return dg.sensor(name=SENSOR, job=job, minimum_interval_seconds=settings.sensor_interval_seconds,
                     default_status=dg.DefaultSensorStatus.STOPPED,
                     description="Startar en körning när filer i inkorgen är nya eller ändrade, bara för de projekten.")(look)
