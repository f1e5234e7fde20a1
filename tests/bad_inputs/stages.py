"""The pipeline's Python stages without dbt: intake → pseudonymise → validate → delivery reports.

The same functions the Dagster assets call, on a real data home and real files; only the dbt
models (and what is built from them) are left out, so a test of verdicts, archive or status
runs in seconds instead of minutes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from orchestration.ingest.intake import IntakeReport, run_intake
from orchestration.lib.home import DataHome
from orchestration.lib.thresholds import MAX_REJECTED_SHARE
from orchestration.privacy.keys import create_key, load_key
from orchestration.privacy.stage import pseudonymise_pending
from orchestration.projects.config import ProjectsConfig, load_projects
from orchestration.quality.stage import ValidationReport, validate_pending
from orchestration.reporting.delivery_report import write_delivery_reports


@dataclass
class StagesRun:
    intake: IntakeReport
    validation: ValidationReport


def new_home(root) -> DataHome:
    home = DataHome.resolve(root).create()
    create_key(home.root)
    return home


def process(home: DataHome, config: ProjectsConfig | None = None, today: dt.date | None = None,
            max_rejected_share: float = MAX_REJECTED_SHARE) -> StagesRun:
    config = config or load_projects()
    intake = run_intake(home, config, today=today)
    pseudonymise_pending(home, load_key(home.root))
    validation = validate_pending(home, config, max_rejected_share)
    write_delivery_reports(home.warehouse, home.reports, config)
    return StagesRun(intake, validation)
