"""Validate stage: run the contract suite on pseudonymised rows; accepted rows go on, the rest
to quarantine; every delivery gets its file verdict.

Enrolment deliveries (extract_kind INSKRIVNING) are validated with expectations/enrolment_rows.json
and the rules across rows and files; mapping deliveries (KARTLAGGNING) with the suite generated
from their project's instrument (quality/mapping_suite.py, mapping_validate.py). Neither path
takes the other's deliveries.
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from orchestration.lib.contract import ACCEPTED, PSEUDONYMISED, REJECTED, VALIDATED
from orchestration.lib.delivery_state import ranked_deliveries_sql
from orchestration.lib.home import DataHome
from orchestration.lib.mapping_contract import ANSWER_OK, ENROLMENT, MAPPING
from orchestration.lib.thresholds import MAX_REJECTED_SHARE, VALIDATE_BATCH_ROWS
from orchestration.lib.warehouse import connect
from orchestration.projects.config import ProjectsConfig
from orchestration.quality.mapping_suite import build_suite
from orchestration.quality.mapping_validate import validate_mapping_rows
from orchestration.quality.validate import (
    Contract,
    DeliveryVerdict,
    ExpectationSummary,
    RowFinding,
    SuiteCheck,
    clear_spool,
    file_verdicts,
    load_contract,
    relation_findings,
    row_message,
)

_ENROLMENT_COLUMNS = (
    "delivery_id", "project_id", "kommunkod", "reporting_month", "row_number", "person_id", "is_anonymous",
    "kon", "age_at_start", "startdatum", "slutdatum", "avslutsorsak", "fas", "fodelseregion",
    "funktionsnedsattning", "utbildningsniva", "sysselsattning_start", "forsorjningsstod_start",
    "forsorjningsstod_slut", "uppfoljning_6m", "warnings", "anteckning",
)


@dataclass
class ValidationReport:
    verdicts: list[DeliveryVerdict] = field(default_factory=list)
    expectations: list[ExpectationSummary] = field(default_factory=list)
    quarantined_rows: int = 0
    mapping_deliveries: int = 0          # of `verdicts`: mapping files
    mapping_rows_accepted: int = 0       # rows written to landing.mapping_rows
    mapping_answers: int = 0             # answers written to landing.mapping_answers


def validate_pending(home: DataHome, config: ProjectsConfig,
                     max_rejected_share: float = MAX_REJECTED_SHARE,
                     batch_rows: int = VALIDATE_BATCH_ROWS) -> ValidationReport:
    """Validate every delivery waiting in landing.pseudonymised_rows, in batches of whole
    reporting months, oldest first, each written before the next is read.

    The rows stay in DuckDB: the rules are SQL over them (quality/suite_sql.py, validate.py), and
    only the findings and a count per delivery pass through Python, besides the frame GX counts
    on, of at most `batch_rows` rows (a month larger than that is taken in parts of whole
    deliveries). The verdicts are those of one pass over everything: the row rules and the file
    rule are per delivery, and the one rule that looks across deliveries (a person enrolled in
    another municipality at the same time) only looks at snapshots of the delivery's own month or
    earlier, which an earlier batch has validated by then or which are in the same batch. A
    stopped run resumes at its batch. Mapping deliveries are validated after them, per project
    (`validate_pending_mappings`)."""
    clear_spool(home.warehouse)
    with connect(home.warehouse, read_only=True) as db:
        deliveries = db.execute(
            "select d.reporting_month, d.delivery_id, d.project_id, count(p.row_number) from landing.deliveries d "
            "left join landing.pseudonymised_rows p using (delivery_id) "
            f"where d.status = ? and {_IS_ENROLMENT} group by 1, 2, 3 order by 1, 2", [PSEUDONYMISED]).fetchall()
    report = ValidationReport()
    if deliveries:
        _validate_enrolments(home, config, deliveries, max_rejected_share, batch_rows, report)
    validate_pending_mappings(home, config, max_rejected_share, batch_rows, report)
    report.expectations = _summed(report.expectations)
    return report


_IS_ENROLMENT = f"coalesce(d.extract_kind, '{ENROLMENT}') = '{ENROLMENT}'"


@dataclass(frozen=True)
class _Pending:
    delivery_id: str
    project_id: str
    rows: int


def _validate_enrolments(home: DataHome, config: ProjectsConfig, deliveries: list[tuple[str, str, str, int]],
                         max_rejected_share: float, batch_rows: int, report: ValidationReport) -> None:
    months: dict[str, list[_Pending]] = {}
    for month, delivery_id, project_id, rows in deliveries:
        months.setdefault(month, []).append(_Pending(delivery_id, project_id, rows))
    contract = load_contract()
    batch: list[_Pending] = []
    size = 0
    # This thread hands each part to GX's process (gx_process.py) and waits for its count, while
    # the stage goes on in DuckDB (validate.SuiteCheck).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="followup-gx") as gx:
        for in_month in months.values():
            rows = sum(p.rows for p in in_month)
            if batch and size + rows > batch_rows:
                _validate_batch(home, config, batch, contract, max_rejected_share, batch_rows, report, gx)
                batch, size = [], 0
            batch += in_month
            size += rows
        _validate_batch(home, config, batch, contract, max_rejected_share, batch_rows, report, gx)


def _summed(summaries: list[ExpectationSummary]) -> list[ExpectationSummary]:
    """One line per rule over all batches and projects: failing rows added, passed only if it
    passed everywhere."""
    merged: dict[tuple[str, str, str], ExpectationSummary] = {}
    for s in summaries:
        key = (s.reason_code, s.expectation_type, s.verdict)
        if key in merged:
            m = merged[key]
            merged[key] = ExpectationSummary(*key, m.success and s.success, m.unexpected_count + s.unexpected_count)
        else:
            merged[key] = ExpectationSummary(*key, s.success, s.unexpected_count)
    return list(merged.values())


_ROWS_SQL = ("select p.*, d.project_id, d.kommunkod, d.reporting_month, "
             "last_day(strptime(d.reporting_month || '-01', '%Y-%m-%d'))::timestamp as month_end "
             "from landing.pseudonymised_rows p join landing.deliveries d using (delivery_id) "
             f"where d.status = '{PSEUDONYMISED}' and d.delivery_id in (select unnest(?)) "
             "order by p.delivery_id, p.row_number")


def _parts(pending: list[_Pending], batch_rows: int) -> list[list[_Pending]]:
    """The batch's deliveries per project, in parts of whole deliveries of about `batch_rows` rows:
    the frame GX counts on holds one part."""
    parts: list[list[_Pending]] = []
    for project_id in sorted({p.project_id for p in pending}):
        size = 0
        parts.append([])
        for one in (p for p in pending if p.project_id == project_id):
            if parts[-1] and size + one.rows > batch_rows:
                parts.append([])
                size = 0
            parts[-1].append(one)
            size += one.rows
    return parts


def _validate_batch(home: DataHome, config: ProjectsConfig, pending: list[_Pending], contract: Contract,
                    max_rejected_share: float, batch_rows: int, report: ValidationReport, gx: Executor) -> None:
    """One batch: each part's rules over its rows in DuckDB, GX counting the part in `gx`
    meanwhile, the rule across deliveries over the batch's counting rows at once (rows of
    deliveries not rejected whole, but their rejected rows), then every verdict written in one
    transaction, committed once GX agrees on every part."""
    if not pending:
        return
    delivery_ids = [p.delivery_id for p in pending]
    findings: list[RowFinding] = []
    totals: dict[str, int] = {}
    checks: list[SuiteCheck] = []
    with connect(home.warehouse, read_only=True) as db:
        for part in _parts(pending, batch_rows):
            if checks:
                checks[-1].summaries()      # one part's frame waits for GX at a time
            project = config.project(part[0].project_id)
            db.execute(f"create or replace temp table part_rows as {_ROWS_SQL}", [[p.delivery_id for p in part]])
            part_findings, check = relation_findings(db, "part_rows", contract,
                                                     {"age_min": project.age_min, "age_max": project.age_max}, gx)
            findings += part_findings
            checks.append(check)
            totals.update(db.execute("select delivery_id, count(*) from part_rows group by 1").fetchall())
            db.execute("drop table part_rows")
        _, _, verdicts = file_verdicts(totals, findings, max_rejected_share)
        counting = [v.delivery_id for v in verdicts if v.verdict != REJECTED]
        rejected = pd.DataFrame({"delivery_id": [f.delivery_id for f in findings if f.verdict == "rejected"],
                                 "row_number": [f.row_number for f in findings if f.verdict == "rejected"]},
                                columns=["delivery_id", "row_number"]).astype({"row_number": "int64"})
        db.register("rejected_keys", rejected)
        db.execute("create or replace temp table counting_deliveries as select unnest(?::varchar[]) as delivery_id",
                   [counting])
        db.execute(_COUNTING_ROWS_SQL)
        concurrent = _concurrent_findings(db)
        db.unregister("rejected_keys")
        where = db.execute("select delivery_id, project_id, kommunkod, reporting_month from landing.deliveries "
                           "where delivery_id in (select unnest(?))", [delivery_ids]).df()
    quarantine, warnings, verdicts = file_verdicts(totals, findings + concurrent, max_rejected_share)
    # A delivery whose rows all vanished (cannot happen: the reader refuses a file without rows)
    # would otherwise stay PSEUDONYMISED forever; give it a verdict.
    verdicts += [DeliveryVerdict(delivery_id, REJECTED, "FIL_TOM",
                                 "Filen har inga deltagarrader. Exportera listan igen med deltagarna under "
                                 "rubrikraden och skicka filen igen.", 0, 0, 0, 0)
                 for delivery_id in delivery_ids if delivery_id not in totals]
    quarantine = quarantine.merge(where, on="delivery_id")
    report.expectations += _write(home, delivery_ids, quarantine, warnings, verdicts, checks)
    report.verdicts += verdicts
    report.quarantined_rows += len(quarantine)


# The rows the rule across deliveries compares: every row of a pending delivery that is not
# rejected whole, but its rejected rows.
# The batch's counting rows, once, with the columns the rule across deliveries reads: a view would
# be expanded for each of its three uses, each over every pending row of a backfill (all of
# landing.pseudonymised_rows: 5 M rows nationally, which took the step to 2.5 GiB).
_COUNTING_ROWS_SQL = ("create or replace temp table counting_rows as "
                       "select p.delivery_id, d.project_id, d.kommunkod, d.reporting_month, p.row_number, p.person_id, "
                       "p.is_anonymous, p.startdatum, p.slutdatum, p.avslutsorsak, "
                       "last_day(strptime(d.reporting_month || '-01', '%Y-%m-%d'))::timestamp as month_end "
                       "from landing.pseudonymised_rows p join landing.deliveries d using (delivery_id) "
                       "semi join counting_deliveries c using (delivery_id) "
                       "anti join rejected_keys k using (delivery_id, row_number)")


CONCURRENT_CODE = "AKTIV_I_ANNAN_KOMMUN"
# Persons first, municipalities second: the rows of a pending delivery are joined on person_id to
# other municipalities' rows, and only for the (delivery, municipality) pairs that share a person
# is the snapshot in force looked up (for every pair, the work would grow with municipalities² ×
# months).
_CONCURRENT_SQL = f"""with pending_deliveries as (select distinct delivery_id from counting_rows),
as_validated as (   -- the deliveries as they will be once this run's verdicts are written: a pending
                    -- delivery with counting rows is not rejected whole, so its verdict will count
    select * replace (
        case when delivery_id in (select delivery_id from pending_deliveries) then '{VALIDATED}' else status end as status,
        case when delivery_id in (select delivery_id from pending_deliveries) then '{ACCEPTED}' else verdict end as verdict)
    from landing.deliveries d
    where {_IS_ENROLMENT}   -- a mapping file is no enrolment snapshot
),
month_in_force as (   -- each project, municipality and month's snapshot in force (lib/delivery_state.py)
    select delivery_id, project_id, kommunkod, reporting_month
    from ({ranked_deliveries_sql("as_validated")})
    where in_force
),
pending_rows as (
    select * from counting_rows
    where not is_anonymous and person_id is not null and coalesce(avslutsorsak, '') <> 'FELREGISTRERING'
),
other_rows as (   -- every row that could be another municipality's snapshot in force
    select delivery_id, project_id, kommunkod, reporting_month, person_id, startdatum::timestamp as startdatum,
           slutdatum::timestamp as slutdatum, avslutsorsak,
           last_day(strptime(reporting_month || '-01', '%Y-%m-%d'))::timestamp as month_end
    from landing.enrolment_rows
    where not is_anonymous and person_id in (select person_id from pending_rows)
    union all
    select delivery_id, project_id, kommunkod, reporting_month, person_id, startdatum, slutdatum, avslutsorsak, month_end
    from counting_rows where not is_anonymous
),
person_pairs as (   -- the same person in another municipality of the project, in a month up to this one
    select p.delivery_id, p.row_number, p.project_id, p.reporting_month, o.kommunkod as other_kommunkod,
           o.delivery_id as other_id
    from pending_rows p join other_rows o
      on o.person_id = p.person_id and o.project_id = p.project_id and o.kommunkod <> p.kommunkod
     and o.reporting_month <= p.reporting_month
    where coalesce(o.avslutsorsak, '') <> 'FELREGISTRERING'
      and p.startdatum < coalesce(o.slutdatum, o.month_end)
      and o.startdatum < coalesce(p.slutdatum, p.month_end)
),
needed as (select distinct delivery_id, project_id, reporting_month, other_kommunkod from person_pairs),
in_force as (   -- each such municipality's snapshot in force at the pending delivery's month
    select n.delivery_id as pending_id, m.delivery_id as other_id
    from needed n join month_in_force m
      on m.project_id = n.project_id and m.kommunkod = n.other_kommunkod and m.reporting_month <= n.reporting_month
    qualify row_number() over (partition by n.delivery_id, m.kommunkod order by m.reporting_month desc) = 1
)
select distinct p.delivery_id, p.row_number
from person_pairs p join in_force f on f.pending_id = p.delivery_id and f.other_id = p.other_id
order by 1, 2
"""


def concurrent_enrolments(db, counting: pd.DataFrame) -> list[RowFinding]:
    """Warn about a person enrolled in another municipality of the project at the same time.

    Compared with each other municipality's snapshot in force at the delivery's month: the
    snapshot in force (lib/delivery_state.py) of its greatest month up to that month, counting the
    deliveries already validated and those of this run that are not rejected whole.
    An open enrolment runs to its snapshot's month end; a handover on the same day is no overlap.
    The message does not say which municipality: that would tell one municipality about a
    person's enrolment in another."""
    if counting.empty:
        return []
    columns = ["delivery_id", "project_id", "kommunkod", "reporting_month", "row_number", "person_id",
               "is_anonymous", "startdatum", "slutdatum", "avslutsorsak", "month_end"]
    db.register("counting_rows", counting[columns])
    try:
        return _concurrent_findings(db)
    finally:
        db.unregister("counting_rows")


def _concurrent_findings(db) -> list[RowFinding]:
    """The rule across deliveries over the relation `counting_rows` of this connection."""
    hits = db.execute(_CONCURRENT_SQL).fetchall()
    return [
        RowFinding(delivery_id, int(row_number), CONCURRENT_CODE, "startdatum", "warning", row_message(
            int(row_number), "startdatum",
            "Personen är enligt en annan kommuns leverans inskriven i projektet där under samma tid. Raden "
            "räknas. Kontrollera start- och slutdatum; har personen flyttat, sätt slutdatum och avslutsorsak FLYTT."))
        for delivery_id, row_number in hits
    ]


_ACCEPTED_SQL = f"""insert into landing.enrolment_rows by name
select {", ".join("coalesce(w.warnings, '') as warnings" if c == "warnings" else c for c in _ENROLMENT_COLUMNS)}
from landing.pseudonymised_rows p
join landing.deliveries d using (delivery_id)
left join warned_rows w using (delivery_id, row_number)
anti join rejected_rows r using (delivery_id, row_number)
where p.delivery_id in (select unnest(?))
"""


def _write(home: DataHome, pending: list[str], quarantine: pd.DataFrame, warnings: pd.DataFrame,
           verdicts: list[DeliveryVerdict], checks: list[SuiteCheck]) -> list[ExpectationSummary]:
    """The batch's verdicts in one transaction, committed only when GX agrees with the SQL on
    every part (`checks`; SuiteDisagreement otherwise, and nothing is written). Accepted rows go
    from landing.pseudonymised_rows to landing.enrolment_rows inside DuckDB (every row of an
    accepted delivery but its rejected ones, with its warning codes): only the few rejected and
    warned rows pass through Python. Returns GX's summaries."""
    accepted_deliveries = [v.delivery_id for v in verdicts if v.verdict != REJECTED]
    rejected = quarantine[["delivery_id", "row_number"]].drop_duplicates() if len(quarantine) else \
        pd.DataFrame({"delivery_id": pd.Series(dtype=object), "row_number": pd.Series(dtype="int64")})
    warned = (warnings.groupby(["delivery_id", "row_number"])["warning_code"]
              .agg(lambda codes: ",".join(sorted(set(codes)))).rename("warnings").reset_index()) if len(warnings) else \
        pd.DataFrame({"delivery_id": pd.Series(dtype=object), "row_number": pd.Series(dtype="int64"),
                      "warnings": pd.Series(dtype=object)})
    with connect(home.warehouse) as db:
        db.execute("begin transaction")
        for table in ("enrolment_rows", "quarantine_rows", "row_warnings"):
            db.execute(f"delete from landing.{table} where delivery_id in (select unnest(?))", [pending])
        db.register("rejected_rows", rejected)
        db.register("warned_rows", warned)
        db.execute(_ACCEPTED_SQL, [accepted_deliveries])
        db.unregister("rejected_rows")
        db.unregister("warned_rows")
        _write_findings(db, quarantine, warnings, verdicts)
        # The pseudonymised rows were a hand-over between two stages; the validated tables now hold them.
        db.execute("delete from landing.pseudonymised_rows where delivery_id in (select unnest(?))", [pending])
        summaries = [summary for check in checks for summary in check.summaries()]
        db.execute("commit")
    return summaries


# --- mapping deliveries (kartläggning) -------------------------------------------------------------

_MAPPING_ROWS_SQL = ("select p.*, d.project_id, d.kommunkod, d.reporting_month, "
                     "last_day(strptime(d.reporting_month || '-01', '%Y-%m-%d'))::timestamp as month_end "
                     "from landing.mapping_pseudonymised_rows p join landing.deliveries d using (delivery_id) "
                     f"where d.status = '{PSEUDONYMISED}' and d.extract_kind = '{MAPPING}' "
                     "and d.delivery_id in (select unnest(?)) order by p.delivery_id, p.row_number")
_MAPPING_ANSWERS_SQL = ("select a.* from landing.mapping_pseudonymised_answers a "
                        "where a.delivery_id in (select unnest(?)) order by a.delivery_id, a.row_number")


def validate_pending_mappings(home: DataHome, config: ProjectsConfig, max_rejected_share: float,
                              batch_rows: int, report: ValidationReport) -> None:
    """Validate every pseudonymised mapping delivery: per project (its suite is its own), in
    batches of whole deliveries of about `batch_rows` rows, one GX run per batch, each batch's
    verdicts, rows and answers written in one transaction."""
    with connect(home.warehouse, read_only=True) as db:
        deliveries = db.execute(
            "select d.project_id, d.delivery_id, count(p.row_number) from landing.deliveries d "
            "left join landing.mapping_pseudonymised_rows p using (delivery_id) "
            f"where d.status = ? and d.extract_kind = '{MAPPING}' group by 1, 2 order by 1, 2",
            [PSEUDONYMISED]).fetchall()
    by_project: dict[str, list[tuple[str, int]]] = {}
    for project_id, delivery_id, rows in deliveries:
        by_project.setdefault(project_id, []).append((delivery_id, rows))
    for project_id, pending in by_project.items():
        project = config.project(project_id)
        suite = build_suite(project) if project.mapping is not None else None
        batch: list[str] = []
        size = 0
        for delivery_id, rows in pending:
            if batch and size + rows > batch_rows:
                _validate_mapping_batch(home, project, suite, batch, max_rejected_share, report)
                batch, size = [], 0
            batch.append(delivery_id)
            size += rows
        _validate_mapping_batch(home, project, suite, batch, max_rejected_share, report)


def _validate_mapping_batch(home: DataHome, project, suite, delivery_ids: list[str], max_rejected_share: float,
                            report: ValidationReport) -> None:
    if not delivery_ids:
        return
    verdicts_before = len(report.verdicts)
    if suite is None:     # the instrument was taken out of the configuration since the files were read
        report.verdicts += [DeliveryVerdict(
            delivery_id, REJECTED, "KARTLAGGNING_SAKNAS",
            f"Filen är en kartläggning, men projektet {project.id} har inte längre någon kartläggning "
            "(kartlaggning:) i projektkonfigurationen. Be projektets samordnare lägga tillbaka frågorna "
            "och skicka filen igen.", 0, 0, 0, 0) for delivery_id in delivery_ids]
        _write_mappings(home, delivery_ids, _no_rows(), _no_warnings(), _no_dropped(), report.verdicts[verdicts_before:])
        report.mapping_deliveries += len(delivery_ids)
        return
    with connect(home.warehouse, read_only=True) as db:
        rows = db.execute(_MAPPING_ROWS_SQL, [delivery_ids]).df()
        answers = db.execute(_MAPPING_ANSWERS_SQL, [delivery_ids]).df()
    outcome = validate_mapping_rows(rows, answers, project, max_rejected_share, suite)
    report.verdicts += outcome.verdicts
    report.expectations += outcome.expectations
    seen = {v.delivery_id for v in outcome.verdicts}
    report.verdicts += [DeliveryVerdict(delivery_id, REJECTED, "FIL_TOM",
                                        "Filen har inga rader. Exportera kartläggningen igen med en rad per person "
                                        "och tillfälle under rubrikraden och skicka filen igen.", 0, 0, 0, 0)
                        for delivery_id in delivery_ids if delivery_id not in seen]
    quarantine = outcome.quarantine.merge(
        rows[["delivery_id", "project_id", "kommunkod", "reporting_month"]].drop_duplicates(), on="delivery_id")
    report.quarantined_rows += len(quarantine)
    report.mapping_deliveries += len(delivery_ids)
    report.mapping_rows_accepted += sum(v.rows_accepted for v in report.verdicts[verdicts_before:])
    report.mapping_answers += _write_mappings(home, delivery_ids, quarantine, outcome.warnings, outcome.dropped,
                                              report.verdicts[verdicts_before:])


def _no_rows() -> pd.DataFrame:
    return pd.DataFrame({"delivery_id": pd.Series(dtype=object), "row_number": pd.Series(dtype="int64")})


def _no_warnings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ("delivery_id", "warning_code", "column_name", "message")}
                        | {"row_number": pd.Series(dtype="int64")})


def _no_dropped() -> pd.DataFrame:
    return pd.DataFrame({"delivery_id": pd.Series(dtype=object), "row_number": pd.Series(dtype="int64"),
                         "question_id": pd.Series(dtype=object)})


_MAPPING_ACCEPTED_SQL = """insert into landing.mapping_rows by name
select p.delivery_id, d.project_id, d.kommunkod, d.reporting_month, p.row_number, p.person_id, p.is_anonymous,
       p.kon, p.age_at_answer, p.besvarad, coalesce(w.warnings, '') as warnings
from landing.mapping_pseudonymised_rows p
join landing.deliveries d using (delivery_id)
left join warned_rows w using (delivery_id, row_number)
anti join rejected_rows r using (delivery_id, row_number)
where p.delivery_id in (select unnest(?))
"""
_MAPPING_ANSWERS_ACCEPTED_SQL = f"""insert into landing.mapping_answers by name
select a.delivery_id, a.row_number, a.question_id, a.answer_code, a.answer_number, a.answer_text
from landing.mapping_pseudonymised_answers a
semi join landing.mapping_rows m using (delivery_id, row_number)
anti join dropped_answers x using (delivery_id, row_number, question_id)
where a.delivery_id in (select unnest(?)) and a.answer_status = '{ANSWER_OK}'
"""


def _write_mappings(home: DataHome, pending: list[str], quarantine: pd.DataFrame, warnings: pd.DataFrame,
                    dropped: pd.DataFrame, verdicts: list[DeliveryVerdict]) -> int:
    """A batch of mapping verdicts in one transaction: accepted rows (every row of a delivery not
    rejected whole, but its rejected rows) to landing.mapping_rows inside DuckDB, their answers
    with status OK that no warning dropped to landing.mapping_answers, the quarantine and warning
    lines, the verdicts; the hand-over tables emptied of the batch. Returns the answers written."""
    accepted_deliveries = [v.delivery_id for v in verdicts if v.verdict != REJECTED]
    rejected = quarantine[["delivery_id", "row_number"]].drop_duplicates() if len(quarantine) else _no_rows()
    warned = (warnings.groupby(["delivery_id", "row_number"])["warning_code"]
              .agg(lambda codes: ",".join(sorted(set(codes)))).rename("warnings").reset_index()) if len(warnings) else \
        _no_rows().assign(warnings=pd.Series(dtype=object))
    with connect(home.warehouse) as db:
        db.execute("begin transaction")
        for table in ("mapping_rows", "mapping_answers", "quarantine_rows", "row_warnings"):
            db.execute(f"delete from landing.{table} where delivery_id in (select unnest(?))", [pending])
        db.register("rejected_rows", rejected)
        db.register("warned_rows", warned)
        db.register("dropped_answers", dropped if len(dropped) else _no_dropped())
        db.execute(_MAPPING_ACCEPTED_SQL, [accepted_deliveries])
        (answers,) = db.execute(_MAPPING_ANSWERS_ACCEPTED_SQL, [accepted_deliveries]).fetchone()
        for name in ("rejected_rows", "warned_rows", "dropped_answers"):
            db.unregister(name)
        _write_findings(db, quarantine, warnings, verdicts)
        for table in ("mapping_pseudonymised_rows", "mapping_pseudonymised_answers"):
            db.execute(f"delete from landing.{table} where delivery_id in (select unnest(?))", [pending])
        db.execute("commit")
    return int(answers)


def _write_findings(db, quarantine: pd.DataFrame, warnings: pd.DataFrame, verdicts) -> None:
    """The rejected rows' reasons, the warnings and each delivery's verdict, for either kind of
    delivery, inside the caller's transaction."""
    if len(quarantine):
        db.register("quarantine_frame", quarantine)
        db.execute("insert into landing.quarantine_rows by name select * from quarantine_frame")
        db.unregister("quarantine_frame")
    if len(warnings):
        db.register("warnings_frame", warnings)
        db.execute("insert into landing.row_warnings by name select * from warnings_frame")
        db.unregister("warnings_frame")
    if not verdicts:
        return
    # one statement for the batch (one per delivery took ~2 ms each: ~20 s of a national backfill)
    db.register("verdict_frame", pd.DataFrame(
        [(v.delivery_id, v.verdict, v.reason_code, v.message, v.rows_total, v.rows_accepted, v.rows_rejected,
          v.rows_warned) for v in verdicts],
        columns=["delivery_id", "verdict", "verdict_reason", "verdict_message", "rows_total", "rows_accepted",
                 "rows_rejected", "rows_warned"]).astype(
        {"verdict": object, "verdict_reason": object, "verdict_message": object}))
    db.execute(
        f"update landing.deliveries set status = '{VALIDATED}', verdict = v.verdict, "
        "verdict_reason = v.verdict_reason, verdict_message = v.verdict_message, rows_total = v.rows_total, "
        "rows_accepted = v.rows_accepted, rows_rejected = v.rows_rejected, rows_warned = v.rows_warned "
        "from verdict_frame v where deliveries.delivery_id = v.delivery_id")
    db.unregister("verdict_frame")
