"""The Dagster code location: each stage's assets, the checks, the schedule and the sensor."""

from __future__ import annotations

import dagster as dg

from orchestration.automation.definitions import followup_job, inbox_sensor, monthly_schedule
from orchestration.ingest.assets import inbox_deliveries, projects_config
from orchestration.lib.telemetry import disable_telemetry
from orchestration.privacy.assets import pseudonymised_rows
from orchestration.quality.assets import validated_rows
from orchestration.reporting.assets import kpi_exports
from orchestration.resources import resource_from_environment
from orchestration.transform.assets import dbt_resource, followup_dbt_models

disable_telemetry()

defs = dg.Definitions(
    assets=[projects_config, inbox_deliveries, pseudonymised_rows, validated_rows, followup_dbt_models, kpi_exports],
    jobs=[followup_job],
    schedules=[monthly_schedule],
    sensors=[inbox_sensor],
    resources={"followup": resource_from_environment(), "dbt": dbt_resource()},
)
