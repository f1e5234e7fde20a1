"""Validate stage: run the contract suite on pseudonymised rows; accepted rows go on, the rest
to quarantine; every delivery gets its file verdict."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from orchestration.lib.home import DataHome
from orchestration.lib.warehouse import connect
from orchestration.projects.config import ProjectsConfig
from orchestration.quality.validate import (
    DEFAULT_MAX_REJECTED_SHARE,
    DeliveryVerdict,
    ExpectationSummary,
    load_suite,
    validate_rows,
)

_ENROLMENT_COLUMNS = (
    "delivery_id", "project_id", "kommunkod", "reporting_month", "row_number", "person_id", "is_anonymous",
    "kon", "age_at_start", "startdatum", "slutdatum", "avslutsorsak", "fas", "fodelseregion",
    "funktionsnedsattning", "utbildningsniva", "sysselsattning_start", "forsorjningsstod_start",
    "forsorjningsstod_slut", "uppfoljning_6m", "warnings",
)


@dataclass
class ValidationReport:
    verdicts: list[DeliveryVerdict] = field(default_factory=list)
    expectations: list[ExpectationSummary] = field(default_factory=list)
    quarantined_rows: int = 0


def validate_pending(home: DataHome, config: ProjectsConfig,
                     max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE) -> ValidationReport:
    with connect(home.warehouse, read_only=True) as db:
        rows = db.execute(
            "select p.*, d.project_id, d.kommunkod, d.reporting_month, "
            "last_day(strptime(d.reporting_month || '-01', '%Y-%m-%d'))::timestamp as month_end "
            "from landing.pseudonymised_rows p join landing.deliveries d using (delivery_id) "
            "where d.status = 'PSEUDONYMISED' order by p.delivery_id, p.row_number"
        ).df()
        pending = [r[0] for r in db.execute(
            "select delivery_id from landing.deliveries where status = 'PSEUDONYMISED'").fetchall()]
    report = ValidationReport()
    if not pending:
        return report
    suite = load_suite()
    accepted_parts, quarantine_parts, warning_parts = [], [], []
    for project_id, frame in rows.groupby("project_id", sort=True):
        project = config.project(str(project_id))
        frame = frame.reset_index(drop=True)
        outcome = validate_rows(frame, {"age_min": project.age_min, "age_max": project.age_max},
                                max_rejected_share, suite=suite)
        rejected_files = {v.delivery_id for v in outcome.verdicts if v.verdict == "REJECTED"}
        accepted_parts.append(outcome.accepted[~outcome.accepted["delivery_id"].isin(rejected_files)])
        quarantine_parts.append(outcome.quarantine.merge(
            frame[["delivery_id", "project_id", "kommunkod", "reporting_month"]].drop_duplicates(), on="delivery_id"))
        warning_parts.append(outcome.warnings)
        report.verdicts += outcome.verdicts
        report.expectations += outcome.expectations
    # A delivery whose rows all vanished (cannot happen: the reader refuses a file without rows)
    # would otherwise stay PSEUDONYMISED forever; give it a verdict.
    seen = {v.delivery_id for v in report.verdicts}
    for delivery_id in pending:
        if delivery_id not in seen:
            report.verdicts.append(DeliveryVerdict(delivery_id, "REJECTED", "FIL_TOM",
                                                   "Filen har inga deltagarrader.", 0, 0, 0, 0))
    accepted = pd.concat(accepted_parts, ignore_index=True) if accepted_parts else pd.DataFrame()
    quarantine = pd.concat(quarantine_parts, ignore_index=True) if quarantine_parts else pd.DataFrame()
    warnings = pd.concat(warning_parts, ignore_index=True) if warning_parts else pd.DataFrame()
    report.quarantined_rows = len(quarantine)
    _write(home, pending, accepted, quarantine, warnings, report.verdicts)
    return report


def _write(home: DataHome, pending: list[str], accepted: pd.DataFrame, quarantine: pd.DataFrame,
           warnings: pd.DataFrame, verdicts: list[DeliveryVerdict]) -> None:
    with connect(home.warehouse) as db:
        db.execute("begin transaction")
        for table in ("enrolment_rows", "quarantine_rows", "row_warnings"):
            db.execute(f"delete from landing.{table} where delivery_id in (select unnest(?))", [pending])
        if len(accepted):
            db.register("accepted_frame", accepted[list(_ENROLMENT_COLUMNS)])
            db.execute("insert into landing.enrolment_rows by name select * from accepted_frame")
            db.unregister("accepted_frame")
        if len(quarantine):
            db.register("quarantine_frame", quarantine)
            db.execute("insert into landing.quarantine_rows by name select * from quarantine_frame")
            db.unregister("quarantine_frame")
        if len(warnings):
            db.register("warnings_frame", warnings)
            db.execute("insert into landing.row_warnings by name select * from warnings_frame")
            db.unregister("warnings_frame")
        db.executemany(
            "update landing.deliveries set status = 'VALIDATED', verdict = ?, verdict_reason = ?, verdict_message = ?, "
            "rows_total = ?, rows_accepted = ?, rows_rejected = ?, rows_warned = ? where delivery_id = ?",
            [(v.verdict, v.reason_code, v.message, v.rows_total, v.rows_accepted, v.rows_rejected, v.rows_warned,
              v.delivery_id) for v in verdicts],
        )
        # The pseudonymised rows were a hand-over between two stages; the validated tables now hold them.
        db.execute("delete from landing.pseudonymised_rows where delivery_id in (select unnest(?))", [pending])
        db.execute("commit")
