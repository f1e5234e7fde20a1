"""Dagster assets and asset check of the validate stage.

dagster-ge does not support GX 1.x, so the suite's outcome is reported through a small wrapper:
the stage declares a check and yields its result from the same GX run that decided the rows.
"""

import dagster as dg

from orchestration.ingest.assets import WAREHOUSE_POOL, landing_key
from orchestration.quality.stage import ValidationReport, validate_pending
from orchestration.reporting.delivery_report import write_delivery_reports
from orchestration.resources import FollowupResource

SUITE_CHECK = "extract_contract_suite"
VALIDATED_TABLES = {
    "deliveries": "Every routed delivery with its file verdict and row counts.",
    "enrolment_rows": "Accepted rows (with or without warnings): the enrolments of each snapshot.",
    "quarantine_rows": "Rejected rows with reason code, column and message for the municipality.",
    "row_warnings": "Warnings on accepted rows.",
}


def suite_check_result(report: ValidationReport) -> dg.AssetCheckResult:
    """Passes when every row and file of the run met the contract; a rejected file is an error,
    rejected rows alone a warning."""
    rejected_files = [v for v in report.verdicts if v.verdict == "REJECTED"]
    failing = [e for e in report.expectations if not e.success and e.verdict == "rejected"]
    table = "\n".join(f"| {e.reason_code} | {e.verdict} | {e.unexpected_count} |" for e in report.expectations)
    return dg.AssetCheckResult(
        asset_key=landing_key("enrolment_rows"),
        check_name=SUITE_CHECK,
        passed=not rejected_files and not failing and report.quarantined_rows == 0,
        severity=dg.AssetCheckSeverity.ERROR if rejected_files else dg.AssetCheckSeverity.WARN,
        metadata={
            "deliveries_validated": len(report.verdicts),
            "deliveries_rejected": len(rejected_files),
            "rows_quarantined": report.quarantined_rows,
            "rules": dg.MetadataValue.md("| regel | utfall | rader |\n|---|---|---|\n" + table if table else "Inget att validera."),
        },
    )


@dg.multi_asset(
    name="validate",
    group_name="quality",
    pool=WAREHOUSE_POOL,
    specs=[dg.AssetSpec(landing_key(t), kinds={"duckdb", "great_expectations"}, description=d,
                        deps=["pseudonymised_rows"])
           for t, d in VALIDATED_TABLES.items()],
    check_specs=[dg.AssetCheckSpec(SUITE_CHECK, asset=landing_key("enrolment_rows"),
                                   description="The extract contract's row rules (expectations/enrolment_rows.json)")],
)
def validate(followup: FollowupResource):
    """Run the contract suite on new pseudonymised rows: accepted rows on, the rest to quarantine."""
    report = validate_pending(followup.data_home(), followup.projects(), followup.max_rejected_share)
    verdicts: dict[str, int] = {}
    for v in report.verdicts:
        verdicts[v.verdict] = verdicts.get(v.verdict, 0) + 1
    counts = {
        "deliveries": {"deliveries": len(report.verdicts), **{f"verdict_{k.lower()}": n for k, n in sorted(verdicts.items())}},
        "enrolment_rows": {"rows_accepted": sum(v.rows_accepted for v in report.verdicts)},
        "quarantine_rows": {"rows_quarantined": report.quarantined_rows},
        "row_warnings": {"rows_warned": sum(v.rows_warned for v in report.verdicts)},
    }
    for table in VALIDATED_TABLES:
        yield dg.MaterializeResult(asset_key=landing_key(table), metadata=counts[table])
    yield suite_check_result(report)


@dg.asset(
    group_name="quality",
    pool=WAREHOUSE_POOL,
    deps=[landing_key("deliveries"), landing_key("quarantine_rows"), landing_key("row_warnings"),
          landing_key("unrouted_files")],
    kinds={"html", "csv"},
)
def delivery_reports(followup: FollowupResource) -> dg.MaterializeResult:
    """A report per received file for the municipality that sent it (verdict, counts, unknown
    columns, rejected rows and warnings by row number), as HTML and CSV in reports/, and an index."""
    home = followup.data_home()
    summary = write_delivery_reports(home.warehouse, home.reports, followup.projects())
    return dg.MaterializeResult(metadata={
        "reports": summary.reports,
        "files_written": len(summary.written),
        "index": dg.MetadataValue.path(str(summary.index)),
    })
