"""Dagster assets and asset check of the validate stage.

dagster-ge does not support GX 1.x, so the suite's outcome is reported through a small wrapper:
the stage declares a check and yields its result from the same GX run that decided the rows.
"""

import datetime as dt

import dagster as dg

from orchestration.lib.asset_keys import WAREHOUSE_POOL, landing_key
from orchestration.lib.contract import REJECTED
from orchestration.lib.delivery_state import VERDICT_LABELS
from orchestration.lib.settings import Settings
from orchestration.lib.warehouse import connect
from orchestration.quality.stage import ValidationReport, validate_pending
from orchestration.resources import FollowupResource

SUITE_CHECK = "extract_contract_suite"
VALIDATED_TABLES = {
    "deliveries": "Varje inläst leverans med filens utfall och antal rader.",
    "enrolment_rows": "Godkända rader (med eller utan varning): inskrivningarna i varje leverans.",
    "quarantine_rows": "Avvisade rader med orsakskod, kolumn och meddelande till kommunen.",
    "row_warnings": "Varningar på godkända rader.",
    "mapping_rows": "Godkända kartläggningsrader (med eller utan varning): en rad per person och tillfälle.",
    "mapping_answers": "Svaren på godkända kartläggningsrader (ett per fråga, ett per kod vid flerval); fritext rensad.",
}
RULE_OUTCOMES = {"rejected": "raden avvisas", "warning": "varning"}


def suite_check_result(report: ValidationReport, rejected_before: int = 0) -> dg.AssetCheckResult:
    """Passes when every row and file of the run met the contract; a rejected file is an error,
    rejected rows alone a warning. `rejected_before`: files of the run rejected as a whole before
    their rows reached the suite (unreadable, a required column missing, over a limit)."""
    rejected_files = [v for v in report.verdicts if v.verdict == REJECTED]
    failing = [e for e in report.expectations if not e.success and e.verdict == "rejected"]
    table = "\n".join(f"| {e.reason_code} | {RULE_OUTCOMES.get(e.verdict, e.verdict)} | {e.unexpected_count} |"
                      for e in report.expectations)
    rejected = len(rejected_files) + rejected_before
    return dg.AssetCheckResult(
        asset_key=landing_key("enrolment_rows"),
        check_name=SUITE_CHECK,
        passed=not rejected and not failing and report.quarantined_rows == 0,
        severity=dg.AssetCheckSeverity.ERROR if rejected else dg.AssetCheckSeverity.WARN,
        metadata={
            "filer validerade": len(report.verdicts),
            "filer avvisade": rejected,
            "varav avvisade redan vid inläsningen": rejected_before,
            "rader avvisade": report.quarantined_rows,
            "regler": dg.MetadataValue.md("| regel | utfall | rader |\n|---|---|--:|\n" + table
                                          if table else "Inget att validera."),
        },
    )


def rejected_before_validation(warehouse, since: float | None, validated: list[str]) -> int:
    """Files recorded since `since` (the run's start, a Unix time) that were rejected whole before
    validation (at intake or when read), i.e. not among the `validated` deliveries."""
    if since is None:
        return 0
    started = dt.datetime.fromtimestamp(since, tz=dt.timezone.utc).replace(tzinfo=None)
    with connect(warehouse, read_only=True) as db:
        return db.execute("select count(*) from landing.deliveries where verdict = ? and ingested_at >= ? "
                          "and not list_contains(?, delivery_id)", [REJECTED, started, validated]).fetchone()[0]


@dg.multi_asset(
    name="validate",
    group_name="quality",
    pool=WAREHOUSE_POOL,
    specs=[dg.AssetSpec(landing_key(t), kinds={"duckdb", "great_expectations"}, description=d,
                        deps=["pseudonymised_rows"])
           for t, d in VALIDATED_TABLES.items()],
    check_specs=[dg.AssetCheckSpec(SUITE_CHECK, asset=landing_key("enrolment_rows"),
                                   description="Leveransavtalets regler för rader och filer "
                                               "(expectations/enrolment_rows.json, och för kartläggningar "
                                               "sviten som byggs från projektets frågor) på körningens nya filer")],
)
def validate(context: dg.AssetExecutionContext, followup: FollowupResource):
    """Kör avtalets regler (Great Expectations) på nya pseudonymiserade rader: godkända rader går
    vidare, övriga till karantän med orsak."""
    home = followup.data_home()
    report = validate_pending(home, followup.projects(), followup.max_rejected_share)
    verdicts: dict[str, int] = {}
    for v in report.verdicts:
        verdicts[v.verdict] = verdicts.get(v.verdict, 0) + 1
    counts = {
        "deliveries": {"filer validerade": len(report.verdicts),
                       **{f"utfall: {VERDICT_LABELS.get(k, k).lower()}": n for k, n in sorted(verdicts.items())}},
        "enrolment_rows": {"rader godkända": sum(v.rows_accepted for v in report.verdicts) - report.mapping_rows_accepted},
        "quarantine_rows": {"rader avvisade": report.quarantined_rows},
        "row_warnings": {"rader med varning": sum(v.rows_warned for v in report.verdicts)},
        "mapping_rows": {"kartläggningsfiler validerade": report.mapping_deliveries,
                         "kartläggningsrader godkända": report.mapping_rows_accepted},
        "mapping_answers": {"svar sparade": report.mapping_answers},
    }
    for table in VALIDATED_TABLES:
        yield dg.MaterializeResult(asset_key=landing_key(table), metadata=counts[table])
    record = context.instance.get_run_record_by_id(context.run_id)
    rejected_before = rejected_before_validation(home.warehouse, record.start_time if record else None,
                                                 [v.delivery_id for v in report.verdicts])
    yield suite_check_result(report, rejected_before)


def definitions(settings: Settings) -> dg.Definitions:
    """The validate stage: the contract suite's verdicts on every row and file."""
    return dg.Definitions(assets=[validate])
