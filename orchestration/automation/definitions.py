"""The monthly schedule and the inbox sensor.

Deliveries are due by the 10th of the following month (extract contract); the schedule runs on
the 11th so a month's processing and exports complete once they are in. The sensor starts a run
as soon as new or changed files appear, so a coordinator does not wait for the schedule.
"""


import hashlib
import json

import dagster as dg

from orchestration.lib.home import DataHome

MONTHLY_JOB = "followup_monthly"
DEFAULT_CRON = "0 6 11 * *"

followup_job = dg.define_asset_job(
    MONTHLY_JOB,
    selection=dg.AssetSelection.all(),
    description="Intake → pseudonymise → validate → dbt → exports, for every new delivery.",
)

monthly_schedule = dg.ScheduleDefinition(
    name="monthly_after_delivery_deadline",
    job=followup_job,
    cron_schedule=DEFAULT_CRON,
    execution_timezone="Europe/Stockholm",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Den 11:e varje månad kl. 06: leveranstiden (den 10:e) har gått ut.",
)


def inbox_fingerprint(home: DataHome) -> dict[str, list[float]]:
    """Relative path → [size, mtime] for every file in the inbox: cheap, no file is read."""
    found: dict[str, list[float]] = {}
    if home.inbox.exists():
        for path in sorted(home.inbox.rglob("*")):
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                found[path.relative_to(home.inbox).as_posix()] = [stat.st_size, stat.st_mtime]
    return found


@dg.sensor(job=followup_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def inbox_sensor(context: dg.SensorEvaluationContext):
    """Start a run when files in the inbox are new or changed since the last evaluation."""
    fingerprint = inbox_fingerprint(DataHome.resolve())
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(p for p, stat in fingerprint.items() if previous.get(p) != stat)
    context.update_cursor(json.dumps(fingerprint))
    if not changed:
        return dg.SkipReason("Inga nya eller ändrade filer i inkorgen.")
    run_key = hashlib.sha256(json.dumps({p: fingerprint[p] for p in changed}).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=run_key, tags={"followup/changed_files": str(len(changed))})
