"""The Dagster code location: each stage's definitions (its assets and checks), the monthly job with
its schedule and sensor, merged, with the resource that tells them where the data home is."""

import functools

import dagster as dg

from orchestration.automation import definitions as automation
from orchestration.ingest import assets as ingest
from orchestration.lib.dagster_instance import quick_sqlite_commits
from orchestration.lib.settings import Settings
from orchestration.lib.telemetry import disable_telemetry
from orchestration.privacy import assets as privacy
from orchestration.quality import assets as quality
from orchestration.reporting import assets as reporting
from orchestration.resources import FollowupResource
from orchestration.transform import assets as transform

STAGES = (ingest, privacy, quality, transform, reporting, automation)

disable_telemetry()
quick_sqlite_commits()       # a run launched by the daemon or the UI loads this module too


@functools.lru_cache(maxsize=4)
def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything Dagster runs for one deployment, built from its settings (the same settings give the
    same definitions, built once per process)."""
    return dg.Definitions.merge(
        *(stage.definitions(settings) for stage in STAGES),
        dg.Definitions(
            resources={"followup": FollowupResource.from_settings(settings)},
            # One process, steps in order, for `followup run`, the UI's Materialize and the daemon's runs
            # alike: DuckDB takes one writer, and a subprocess per step would only add start-up time.
            executor=dg.in_process_executor,
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What `dagster` and `followup serve` load: this deployment's settings, from its environment."""
    return build_definitions(Settings.from_environment())
