"""The Dagster code location: each stage's assets, the checks, the schedule and the sensor."""

import os
import warnings

import dagster as dg

from orchestration.automation.definitions import followup_job, inbox_sensor, monthly_schedule
from orchestration.ingest.assets import intake, projects_config
from orchestration.lib.telemetry import disable_telemetry
from orchestration.privacy.assets import pseudonymised_rows
from orchestration.projects.config import ConfigError, ProjectsConfig, load_projects
from orchestration.quality.assets import delivery_reports, validate
from orchestration.reporting.assets import kpi_exports
from orchestration.reporting.delivery_assets import (delivery_status, every_municipality_delivered, municipality_month_checks,
                                                     municipality_month_specs)
from orchestration.reporting.checks import days_targets_met, participants_on_pace, share_targets_met
from orchestration.reporting.read_copy import read_copy
from orchestration.resources import resource_from_environment
from orchestration.transform.assets import followup_dbt_models

disable_telemetry()


def _projects_for_partitions() -> ProjectsConfig | None:
    """The projects whose municipality × month grids the UI shows. A broken configuration must
    not hide the whole code location: `projects_config` fails the run with the precise message."""
    try:
        return load_projects(os.environ.get("FOLLOWUP_CONFIG") or None)
    except ConfigError as error:
        warnings.warn(f"No municipality × month partitions: {error}", stacklevel=1)
        return None


_projects = _projects_for_partitions()

defs = dg.Definitions(
    assets=[projects_config, intake, pseudonymised_rows, validate, delivery_reports, followup_dbt_models,
            kpi_exports, delivery_status, read_copy, *(municipality_month_specs(_projects) if _projects else [])],
    asset_checks=[every_municipality_delivered, participants_on_pace, share_targets_met, days_targets_met,
                  *(municipality_month_checks(_projects) if _projects else [])],
    jobs=[followup_job],
    schedules=[monthly_schedule],
    sensors=[inbox_sensor],
    resources={"followup": resource_from_environment()},
    # One process, steps in order, for `followup run`, the UI's Materialize and the daemon's runs
    # alike: DuckDB takes one writer, and a subprocess per step would only add start-up time.
    executor=dg.in_process_executor,
)
