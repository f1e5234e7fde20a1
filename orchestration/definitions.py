"""The Dagster code location: each stage's assets, the checks, the schedule and the sensor."""


import dagster as dg

from orchestration.automation.definitions import followup_job, inbox_sensor, monthly_schedule
from orchestration.ingest.assets import intake, projects_config
from orchestration.lib.telemetry import disable_telemetry
from orchestration.privacy.assets import pseudonymised_rows
from orchestration.quality.assets import delivery_reports, validate
from orchestration.reporting.assets import kpi_exports
from orchestration.reporting.checks import every_municipality_delivered, participants_on_pace
from orchestration.resources import resource_from_environment
from orchestration.transform.assets import dbt_resource, followup_dbt_models

disable_telemetry()

defs = dg.Definitions(
    assets=[projects_config, intake, pseudonymised_rows, validate, delivery_reports, followup_dbt_models, kpi_exports],
    asset_checks=[every_municipality_delivered, participants_on_pace],
    jobs=[followup_job],
    schedules=[monthly_schedule],
    sensors=[inbox_sensor],
    resources={"followup": resource_from_environment(), "dbt": dbt_resource()},
)
