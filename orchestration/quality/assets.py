"""Dagster asset and asset check of the validate stage.

dagster-ge does not support GX 1.x, so the suite's outcome is reported through a small wrapper:
the asset declares a check and yields its result from the same GX run that decided the rows.
"""

from __future__ import annotations

import dagster as dg

from orchestration.ingest.assets import WAREHOUSE_POOL
from orchestration.privacy.assets import pseudonymised_rows
from orchestration.quality.stage import ValidationReport, validate_pending
from orchestration.resources import FollowupResource

SUITE_CHECK = "extract_contract_suite"


def suite_check_result(report: ValidationReport) -> dg.AssetCheckResult:
    """Passes when no delivery of the run was rejected whole; rejected rows alone only warn."""
    rejected_files = [v for v in report.verdicts if v.verdict == "REJECTED"]
    failing = [e for e in report.expectations if not e.success]
    table = "\n".join(
        f"| {e.reason_code} | {e.verdict} | {e.unexpected_count} |" for e in report.expectations)
    return dg.AssetCheckResult(
        check_name=SUITE_CHECK,
        passed=not rejected_files and not any(e.verdict == "rejected" for e in failing),
        severity=dg.AssetCheckSeverity.ERROR if rejected_files else dg.AssetCheckSeverity.WARN,
        metadata={
            "deliveries_validated": len(report.verdicts),
            "deliveries_rejected": len(rejected_files),
            "rows_quarantined": report.quarantined_rows,
            "rules": dg.MetadataValue.md("| regel | utfall | rader |\n|---|---|---|\n" + table if table else "Inget att validera."),
        },
    )


@dg.asset(
    group_name="quality",
    pool=WAREHOUSE_POOL,
    deps=[pseudonymised_rows],
    kinds={"duckdb", "great_expectations"},
    check_specs=[dg.AssetCheckSpec(SUITE_CHECK, asset="validated_rows",
                                   description="The extract contract's row rules (expectations/enrolment_rows.json)")],
)
def validated_rows(followup: FollowupResource) -> dg.MaterializeResult:
    """Accepted enrolment rows, quarantined rows with reasons, and each delivery's file verdict."""
    report = validate_pending(followup.data_home(), followup.projects(), followup.max_rejected_share)
    verdicts = {}
    for v in report.verdicts:
        verdicts[v.verdict] = verdicts.get(v.verdict, 0) + 1
    return dg.MaterializeResult(
        metadata={
            "deliveries": len(report.verdicts),
            **{f"verdict_{k.lower()}": n for k, n in sorted(verdicts.items())},
            "rows_accepted": sum(v.rows_accepted for v in report.verdicts),
            "rows_quarantined": report.quarantined_rows,
        },
        check_results=[suite_check_result(report)],
    )
