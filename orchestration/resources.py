"""Typed Dagster resources: where the data home is and which projects file to use."""


import os

from dagster import ConfigurableResource

from orchestration.lib.home import DataHome
from orchestration.lib.thresholds import MAX_REJECTED_SHARE
from orchestration.projects.config import ProjectsConfig, load_projects


class FollowupResource(ConfigurableResource):
    """The data home and projects configuration of this deployment (never the key: see privacy/keys)."""

    home: str
    config_path: str = ""
    max_rejected_share: float = MAX_REJECTED_SHARE
    project_ids: list[str] = []       # empty: every project's inbox

    def data_home(self) -> DataHome:
        return DataHome.resolve(self.home).create()

    def projects(self) -> ProjectsConfig:
        return load_projects(self.config_path or None)


def resource_from_environment() -> FollowupResource:
    """FOLLOWUP_HOME / FOLLOWUP_CONFIG as cli.md describes them."""
    return FollowupResource(
        home=str(DataHome.resolve().root),
        config_path=os.environ.get("FOLLOWUP_CONFIG", ""),
    )


def run_config_from_environment(project_ids: list[str] | None = None) -> dict:
    """Run config for a run the daemon starts (schedule, sensor): this deployment's home and
    projects file, and the projects to ingest (empty: every project).

    Run config replaces a resource's configured values rather than adding to them, so a run
    that names projects must name the home and projects file as well."""
    resource = resource_from_environment()
    return {"resources": {"followup": {"config": {
        "home": resource.home, "config_path": resource.config_path, "project_ids": sorted(project_ids or []),
    }}}}
