"""Typed Dagster resources: where the data home is and which projects file to use."""

from dagster import ConfigurableResource

from orchestration.lib.home import DataHome
from orchestration.lib.settings import Settings
from orchestration.lib.thresholds import MAX_REJECTED_SHARE
from orchestration.projects.config import ProjectsConfig, load_projects


class FollowupResource(ConfigurableResource):
    """The data home and projects configuration of this deployment (never the key: see privacy/keys)."""

    home: str
    config_path: str = ""
    max_rejected_share: float = MAX_REJECTED_SHARE
    project_ids: list[str] = []       # empty: every project's inbox

    @classmethod
    def from_settings(cls, settings: Settings) -> "FollowupResource":
        return cls(home=settings.home, config_path=settings.config_path)

    def data_home(self) -> DataHome:
        return DataHome.resolve(self.home).create()

    def projects(self) -> ProjectsConfig:
        return load_projects(self.config_path or None)


def run_config(settings: Settings, project_ids: list[str] | None = None) -> dict:
    """Run config for a run of this deployment: its home and projects file, and the projects to
    ingest (empty: every project).

    Run config replaces a resource's configured values rather than adding to them, so a run
    that names projects must name the home and projects file as well."""
    return {"resources": {"followup": {"config": {
        "home": settings.home, "config_path": settings.config_path, "project_ids": sorted(project_ids or []),
    }}}}
