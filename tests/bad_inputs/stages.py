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


def record_verdict(home: DataHome, delivery_id: str, verdict: str, rows_total: int = 0, rows_rejected: int = 0,
                   rows_warned: int = 0, rejected: list[tuple[int, str, str, str]] = (),
                   warned: list[tuple[int, str, str, str]] = ()) -> None:
    """Write a delivery's verdict and its row reasons as the validate stage leaves them
    (landing.deliveries, quarantine_rows, row_warnings): for tests of what reads verdicts, on a
    delivery whose kind (a mapping file) this branch's stages do not validate. `rejected` and
    `warned`: (row number, column or question id, code, message)."""
    from orchestration.lib.contract import VALIDATED
    from orchestration.lib.warehouse import connect

    with connect(home.warehouse) as db:
        project_id, kommunkod, month = db.execute(
            "select project_id, kommunkod, reporting_month from landing.deliveries where delivery_id = ?",
            [delivery_id]).fetchone()
        db.execute("update landing.deliveries set status = ?, verdict = ?, rows_total = ?, rows_accepted = ?, "
                   "rows_rejected = ?, rows_warned = ? where delivery_id = ?",
                   [VALIDATED, verdict, rows_total, rows_total - rows_rejected, rows_rejected, rows_warned, delivery_id])
        for row, column, code, message in rejected:
            db.execute("insert into landing.quarantine_rows (delivery_id, project_id, kommunkod, reporting_month, "
                       "row_number, reason_code, column_name, message) values (?, ?, ?, ?, ?, ?, ?, ?)",
                       [delivery_id, project_id, kommunkod, month, row, code, column, message])
        for row, column, code, message in warned:
            db.execute("insert into landing.row_warnings (delivery_id, row_number, warning_code, column_name, message) "
                       "values (?, ?, ?, ?, ?)", [delivery_id, row, code, column, message])
