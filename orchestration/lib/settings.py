"""The deployment's settings, read from the environment in one place (cli.md, docs/konfiguration.md):
the data home, the projects file, when the monthly schedule runs, how often the inbox sensor looks and
how many times a failed step is retried. The Dagster definitions are built from a `Settings`, so
nothing reads the environment when a module is imported."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from orchestration.lib.home import DEFAULT_HOME, DataHome
from orchestration.lib.thresholds import DEADLINE_DAY

DEFAULT_CRON = f"0 6 {DEADLINE_DAY + 1} * *"   # the morning after the deliveries' deadline
DEFAULT_TIMEZONE = "Europe/Stockholm"
DEFAULT_SENSOR_INTERVAL_SECONDS = 60
DEFAULT_STEP_RETRIES = 2


class SettingsError(ValueError):
    """A setting in the environment is not one the product can use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    home: str
    config_path: str = ""                   # "": the bundled example projects
    schedule_cron: str = DEFAULT_CRON
    schedule_timezone: str = DEFAULT_TIMEZONE
    sensor_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS
    step_retries: int = DEFAULT_STEP_RETRIES

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """FOLLOWUP_HOME, FOLLOWUP_CONFIG, FOLLOWUP_SCHEDULE_CRON, FOLLOWUP_SCHEDULE_TIMEZONE,
        FOLLOWUP_SENSOR_INTERVAL_SECONDS and FOLLOWUP_STEP_RETRIES; unset or empty means the default."""
        environ = os.environ if environ is None else environ

        def value(name: str) -> str:
            return environ.get(name, "").strip()

        interval = value("FOLLOWUP_SENSOR_INTERVAL_SECONDS") or str(DEFAULT_SENSOR_INTERVAL_SECONDS)
        if not interval.isdigit() or not 1 <= int(interval) <= 86_400:
            raise SettingsError(f"FOLLOWUP_SENSOR_INTERVAL_SECONDS={interval!r} ska vara ett antal sekunder "
                                "mellan 1 och 86400.")
        retries = value("FOLLOWUP_STEP_RETRIES") or str(DEFAULT_STEP_RETRIES)
        if not retries.isdigit():
            raise SettingsError(f"FOLLOWUP_STEP_RETRIES={retries!r} ska vara ett heltal ≥ 0 (0: inga omförsök).")
        return cls(
            home=str(DataHome.resolve(value("FOLLOWUP_HOME") or DEFAULT_HOME).root),
            config_path=value("FOLLOWUP_CONFIG"),
            schedule_cron=value("FOLLOWUP_SCHEDULE_CRON") or DEFAULT_CRON,
            schedule_timezone=value("FOLLOWUP_SCHEDULE_TIMEZONE") or DEFAULT_TIMEZONE,
            sensor_interval_seconds=int(interval),
            step_retries=int(retries),
        )
