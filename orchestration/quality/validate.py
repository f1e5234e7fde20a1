"""Row and file verdicts: the extract contract's rules, from a Great Expectations suite.

Each expectation in `expectations/enrolment_rows.json` is one row rule; its `meta` carries the
reason code, the column and the Swedish message that go back to the municipality, and whether a
failing row is rejected or only warned. Which rows break which rule is found set-based in DuckDB
from the suite itself (quality/suite_sql.py translates every expectation into SQL); GX still runs
the suite on the same rows, counting only (result format BASIC), and its count per rule must equal
the SQL's or the stage stops (`SuiteDisagreement`). The one rule GX cannot express on a frame (two
overlapping enrolments of one person in one file) is SQL here too.

The mapping extract's generated suites still take their failing rows from GX (`run_suite`,
result format COMPLETE): their frame of rows and answers is built in pandas (mapping_validate.py).
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from orchestration.lib.contract import ACCEPTED, ACCEPTED_WITH_WARNINGS, REJECTED
from orchestration.lib.thresholds import MAX_REJECTED_SHARE
from orchestration.quality import gx_process
from orchestration.quality.suite_sql import Rules, rule_key, translate

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
ENROLMENT_SUITE = EXPECTATIONS_DIR / "enrolment_rows.json"


@dataclass(frozen=True)
class RowFinding:
    delivery_id: str
    row_number: int
    code: str
    column: str | None
    verdict: str            # 'rejected' or 'warning'
    message: str


@dataclass
class ExpectationSummary:
    reason_code: str
    expectation_type: str
    verdict: str
    success: bool
    unexpected_count: int


@dataclass
class DeliveryVerdict:
    delivery_id: str
    verdict: str            # contract.VERDICTS
    reason_code: str | None
    message: str | None
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    rows_warned: int


@dataclass
class ValidationOutcome:
    accepted: pd.DataFrame          # accepted rows, with a 'warnings' column
    quarantine: pd.DataFrame        # delivery_id, row_number, reason_code, column_name, message
    warnings: pd.DataFrame          # delivery_id, row_number, warning_code, column_name, message
    verdicts: list[DeliveryVerdict]
    expectations: list[ExpectationSummary] = field(default_factory=list)


def _quiet_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@lru_cache(maxsize=1)
def _gx_context() -> Any:
    _quiet_gx()
    import great_expectations as gx  # lazily: the import alone takes seconds
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def load_suite(path: Path = ENROLMENT_SUITE) -> Any:
    """Load a suite from its JSON and insist every expectation survived.

    GX silently drops an expectation whose type it does not know; a misspelt rule would then
    let bad rows through unnoticed, so a shortfall is an error here.
    """
    return suite_from_document(json.loads(path.read_text(encoding="utf-8")), str(path))


def suite_from_document(document: dict[str, Any], source: str) -> Any:
    """A GX suite from its document (the form of expectations/*.json), every expectation loaded.
    `source` names the document in the error (a path, or the project of a generated suite)."""
    _gx_context()
    import great_expectations as gx

    suite = gx.ExpectationSuite(**{k: v for k, v in document.items() if k in ("name", "meta", "notes")})
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    for entry in document["expectations"]:
        configuration = ExpectationConfiguration(type=entry["type"], kwargs=entry["kwargs"], meta=entry.get("meta"))
        suite.add_expectation_configuration(configuration)
    if len(suite.expectations) != len(document["expectations"]):
        loaded = {e.expectation_type for e in suite.expectations}
        lost = [e["type"] for e in document["expectations"] if e["type"] not in loaded]
        raise ValueError(f"{source}: {len(document['expectations']) - len(suite.expectations)} expectation(s) "
                         f"did not load: {lost}")
    return suite


@dataclass(frozen=True)
class Contract:
    """One suite twice: its document, which GX runs (in its own process, gx_process.py), and the
    same expectations as SQL (quality/suite_sql.py)."""

    document: dict[str, Any]
    source: str                   # names the suite in errors: its path, or what generated it
    rules: Rules

    @property
    def suite(self) -> Any:
        """GX's suite, built in this process (for callers that run GX here: run_suite)."""
        return suite_from_document(self.document, self.source)


def load_contract(path: Path = ENROLMENT_SUITE) -> Contract:
    """The suite for GX and as SQL. The translation comes first: a type or kwarg it does not know
    stops here, before a row is looked at; GX's own loading of every expectation is checked where
    GX runs, before its first count."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return Contract(document, str(path), translate(document, str(path)))


# The cheapest result format that still counts the failing rows of every rule (measured on a
# national month of 128 000 rows: BASIC 1.1 s, SUMMARY 1.7 s, COMPLETE 1.6 s CPU; BOOLEAN_ONLY
# 0.9 s has no counts). BENCHMARKS.md has the figures.
COUNTING_FORMAT = "BASIC"
COLLECT_AFTER_ROWS = 100_000     # a frame GX validated is freed at once from this size on (_gx_results)


def _gx_results(frame: pd.DataFrame, suite: Any, parameters: Mapping[str, Any], result_format: str) -> list[Any]:
    """GX's result per expectation on a frame; an expectation that raised is an error."""
    context = _gx_context()
    name = f"rows_{id(frame)}"
    source = context.data_sources.add_or_update_pandas(name)
    batch_definition = source.add_dataframe_asset("rows").add_batch_definition_whole_dataframe("all")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    try:
        result = batch.validate(suite, result_format={"result_format": result_format},
                                expectation_parameters=dict(parameters))
    finally:
        context.data_sources.delete(name)
        # GX's batch and validator hold the frame in reference cycles that only a full collection
        # frees: without it a national backfill kept ~90 MiB per part, 3.2 GiB by its end. A
        # collection costs ~0.3 s, so only after a large frame (a small one waits for Python's own).
        del batch, batch_definition, source
        if len(frame) >= COLLECT_AFTER_ROWS:
            gc.collect()
    for item in result.results:
        if "exception_message" in (item.exception_info or {}) and item.exception_info.get("raised_exception"):
            meta = item.expectation_config.meta or {}
            raise RuntimeError(f"GX rule {meta.get('reason_code')} failed to run: {item.exception_info['exception_message']}")
    return result.results


def _summary(expectation_type: str, meta: Mapping[str, Any] | None, success: bool, unexpected: int) -> ExpectationSummary:
    meta = meta or {}
    return ExpectationSummary(meta.get("reason_code", "?"), expectation_type, meta.get("verdict", "rejected"),
                              bool(success), unexpected)


def run_suite(frame: pd.DataFrame, suite: Any, parameters: dict[str, Any]) -> tuple[list[RowFinding], list[ExpectationSummary]]:
    """Validate rows with GX; every unexpected row becomes a finding carrying the rule's meta
    (the mapping suites' path: GX enumerates the failing rows)."""
    if frame.empty:
        return [], []
    frame = frame.reset_index(drop=True)
    # The failing rows by position (the frame's own index), turned into (delivery, row) here: GX
    # looks up named index columns cell by cell, slow for a file of many bad rows.
    results = _gx_results(frame, suite, parameters, "COMPLETE")
    findings: list[RowFinding] = []
    summaries: list[ExpectationSummary] = []
    delivery_ids, row_numbers = frame["delivery_id"].to_numpy(), frame["row_number"].to_numpy()
    details = dict(zip(zip(delivery_ids, row_numbers), frame["notes"]))
    for item in results:
        meta = item.expectation_config.meta or {}
        unexpected = item.result.get("unexpected_index_list") or []
        summaries.append(_summary(item.expectation_config.type, meta, item.success, len(unexpected)))
        for position in unexpected:
            key = (str(delivery_ids[position]), int(row_numbers[position]))
            findings.append(_finding(meta, key[0], key[1], details.get(key, "")))
    return findings, summaries


def _finding(meta: Mapping[str, Any], delivery_id: str, row_number: int, notes: str | None) -> RowFinding:
    message = meta.get("message", "").replace("{detail}", _pnr_detail(notes if isinstance(notes, str) else ""))
    return RowFinding(delivery_id, row_number, meta["reason_code"], meta.get("column"), meta.get("verdict", "rejected"),
                      row_message(row_number, meta.get("column"), message))


class SuiteDisagreement(RuntimeError):
    """GX and the SQL translation of the same suite found a different number of rows for a rule."""


def suite_findings(db: duckdb.DuckDBPyConnection, relation: str, contract: Contract,
                   parameters: Mapping[str, Any]) -> tuple[list[RowFinding], list[ExpectationSummary]]:
    """Which rows of `relation` (a table or view of `db` with delivery_id, row_number, notes and
    the suite's columns) break which rule, in SQL; GX runs the suite on the same rows, counting
    only, and must count as many rows per rule, or this raises SuiteDisagreement."""
    findings, check = suite_check(db, relation, contract, parameters)
    return findings, check.summaries()


def suite_check(db: duckdb.DuckDBPyConnection, relation: str, contract: Contract, parameters: Mapping[str, Any],
                pool: Executor | None = None) -> tuple[list[RowFinding], SuiteCheck]:
    """The SQL's findings now, and GX's count of the same rows as a SuiteCheck: counted in `pool`
    (a thread, while the caller goes on with DuckDB work that lets it run) or here and now."""
    types = dict(db.execute(f"select column_name, column_type from (describe {relation})").fetchall())
    hits = db.execute(contract.rules.findings_sql(relation, types, parameters)).fetchall()
    rules = {rule.position: rule for rule in contract.rules.rules}
    findings = [_finding(rules[position].meta, str(delivery_id), int(row_number), notes)
                for delivery_id, row_number, notes, position in hits]
    counted = Counter(rules[position].key for *_, position in hits)
    rows = db.execute(f"select count(*) from {relation}").fetchone()[0]
    part = None
    if rows:
        # GX's rows go to its process as a Parquet file DuckDB writes: the conversion to pandas is
        # done there, on the other core, and nothing of them passes through this interpreter.
        descriptor, name = tempfile.mkstemp(prefix="gx-part-", suffix=".parquet.tmp", dir=_spool(db))
        os.close(descriptor)
        part = Path(name)
        columns = ", ".join(_quoted(c) for c in contract.rules.columns)
        db.execute(f"copy (select {columns} from {relation}) to '{name.replace(chr(39), chr(39) * 2)}' (format parquet)")
    return findings, SuiteCheck(part, contract, dict(parameters), counted, pool)


def _spool(db: duckdb.DuckDBPyConnection) -> str:
    """Where a part for GX is written: beside the warehouse file (the data home's disk and
    permissions), or the system's temporary folder for a database in memory."""
    path = db.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()[0]
    if not path:
        return tempfile.gettempdir()
    spool = Path(path).parent / GX_SPOOL
    spool.mkdir(mode=0o700, exist_ok=True)
    return str(spool)


GX_SPOOL = ".gx-parts"      # its files end in .tmp: a backup leaves them out; each is deleted once counted


def clear_spool(warehouse: Path) -> None:
    """Delete the parts a stopped run left for GX (the stage starts with this; one writer at a time)."""
    for part in (Path(warehouse).parent / GX_SPOOL).glob("gx-part-*.parquet.tmp"):
        part.unlink(missing_ok=True)


class SuiteCheck:
    """GX's count per rule of one part of rows (a Parquet file, deleted once counted), held to the
    SQL's (`counted`)."""

    def __init__(self, part: Path | None, contract: Contract, parameters: dict[str, Any], counted: Counter,
                 pool: Executor | None = None):
        self._part, self._contract, self._parameters, self._counted = part, contract, parameters, counted
        self._future = pool.submit(self._count) if pool is not None else _done_now(self._count)

    def summaries(self) -> list[ExpectationSummary]:
        """GX's summary per rule, once GX has counted; SuiteDisagreement where a count differs."""
        return self._future.result()

    def _count(self) -> list[ExpectationSummary]:
        if self._part is None:
            return []
        try:
            counts = gx_process.count(self._contract.document, self._contract.source, self._part, self._parameters)
        finally:
            self._part.unlink(missing_ok=True)
        contract, counted = self._contract, self._counted
        keys = {rule.key for rule in contract.rules.rules}
        summaries = []
        seen = set()
        for item in counts:
            key = rule_key(item.expectation_type, item.meta)
            if key not in keys or item.unexpected != counted.get(key, 0):
                raise SuiteDisagreement(
                    f"{contract.rules.source}: regeln {item.meta.get('reason_code', '?')} ({item.expectation_type}): "
                    f"Great Expectations fann {item.unexpected} rader som bryter regeln, SQL-översättningen "
                    f"{counted.get(key, 0)}. Översättningen (orchestration/quality/suite_sql.py) läser inte sviten som GX; "
                    "inga utfall skrevs. Rätta översättningen eller regeln och kör valideringen igen.")
            seen.add(key)
            summaries.append(_summary(item.expectation_type, item.meta, item.success, item.unexpected))
        if seen != keys:
            raise SuiteDisagreement(f"{contract.rules.source}: GX gav inget resultat för "
                                    f"{sorted(keys - seen)}; inga utfall skrevs.")
        return summaries


def _done_now(work: Callable[[], Any]) -> Future:
    """`work` done here, its answer (or its exception) kept as a pool's Future keeps it."""
    future: Future = Future()
    try:
        future.set_result(work())
    except Exception as error:  # noqa: BLE001 - raised to whoever asks for the answer
        future.set_exception(error)
    return future


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def row_message(row_number: int, column: str | None, text: str) -> str:
    """'Rad 12, kolumn startdatum: …' — the municipality finds the cell without any value quoted."""
    where = f"Rad {row_number}, kolumn {column}" if column else f"Rad {row_number}"
    return f"{where}: {text}"


def _pnr_detail(notes: str) -> str:
    for note in (notes or "").split(","):
        if note.startswith("PNR:"):
            return note[4:]
    return "fel format"


_OVERLAPS_SQL = """with spells as (
    select delivery_id, person_id, row_number, startdatum,
           coalesce(slutdatum, date '2200-01-01') as slutdatum          -- an open enrolment runs on
    from {relation} where person_id is not null and startdatum is not null
),
flagged as (   -- every row of a person that overlaps another row of the same person in the same file
    select distinct a.delivery_id, a.person_id, a.row_number
    from spells a join spells b
      on a.delivery_id = b.delivery_id and a.person_id = b.person_id and a.row_number <> b.row_number
    where b.startdatum <= a.slutdatum and a.startdatum <= b.slutdatum
)
select delivery_id, row_number,
       list_sort(list(row_number) over (partition by delivery_id, person_id)) as rows
from flagged order by delivery_id, row_number"""


def overlapping_enrolments(db: duckdb.DuckDBPyConnection, relation: str) -> list[RowFinding]:
    """Every row of one person with two overlapping enrolments in one file is rejected; its
    message names the person's other rows that are rejected for it."""
    findings = []
    for delivery_id, row, rows in db.execute(_OVERLAPS_SQL.format(relation=relation)).fetchall():
        others = ", ".join(str(r) for r in rows if r != row)
        findings.append(RowFinding(
            delivery_id, int(row), "OVERLAPPANDE_INSKRIVNING", "startdatum", "rejected",
            row_message(int(row), "startdatum",
                        f"Samma person har en annan inskrivning i filen som överlappar i tid (rad {others}). "
                        "Båda raderna avvisas. Rätta start- eller slutdatum så att inskrivningarna inte överlappar."),
        ))
    return findings


def normalisation_findings(frame: pd.DataFrame) -> list[RowFinding]:
    """Warnings found while reading: an optional code outside its list was stored as OKAND.
    Only rows with a note are looked at (a handful in millions)."""
    findings = []
    noted = frame[frame["notes"].fillna("").str.contains("KOD_OKAND:", regex=False)]
    for delivery_id, row_number, notes in zip(noted["delivery_id"], noted["row_number"], noted["notes"]):
        for note in notes.split(","):
            if note.startswith("KOD_OKAND:"):
                column = note.split(":", 1)[1]
                stored = ("könet togs från personnumret" if column == "kon"
                          else "sparades som OKAND")
                findings.append(RowFinding(
                    delivery_id, int(row_number), "KOD_OKAND", column, "warning",
                    row_message(int(row_number), column,
                                f"Värdet finns inte i kodlistan och {stored}. Raden räknas. "
                                f"Använd en kod ur leveransavtalet ({_codes_for(column)})."),
                ))
    return findings


def _codes_for(column: str) -> str:
    from orchestration.lib.contract import KON, OPTIONAL_CODES

    return ", ".join(KON if column == "kon" else OPTIONAL_CODES.get(column, ()))


def file_verdicts(totals: Mapping[str, int], findings: list[RowFinding],
                  max_rejected_share: float = MAX_REJECTED_SHARE) -> tuple[pd.DataFrame, pd.DataFrame, list[DeliveryVerdict]]:
    """The quarantine and warning lines of the findings, and each delivery's file verdict from its
    row count (`totals`) and the rows its findings reject or warn: the 20 % rule of
    lib/thresholds.py. Only the findings pass through Python, never the rows."""
    rejected = {(f.delivery_id, f.row_number) for f in findings if f.verdict == "rejected"}
    warned = {(f.delivery_id, f.row_number) for f in findings if f.verdict == "warning"} - rejected
    n_rejected = Counter(d for d, _ in rejected)
    n_warned = Counter(d for d, _ in warned)
    quarantine = pd.DataFrame(
        [(f.delivery_id, f.row_number, f.code, f.column, f.message) for f in findings if f.verdict == "rejected"],
        columns=["delivery_id", "row_number", "reason_code", "column_name", "message"],
    )
    warnings = pd.DataFrame(
        [(f.delivery_id, f.row_number, f.code, f.column, f.message) for f in findings if f.verdict == "warning"],
        columns=["delivery_id", "row_number", "warning_code", "column_name", "message"],
    )
    verdicts = []
    for delivery_id in sorted(totals):
        total, rejected_rows, warned_rows = int(totals[delivery_id]), n_rejected[delivery_id], n_warned[delivery_id]
        if total and rejected_rows / total > max_rejected_share:
            verdict, code = REJECTED, "FOR_MANGA_FEL"
            message = (f"{rejected_rows} av {total} rader ({rejected_rows / total:.0%}) avvisades, mer än "
                       f"{max_rejected_share:.0%}. Hela filen räknas inte; förra godkända leveransen gäller. "
                       "Rätta raderna i rapporten och skicka filen igen.")
        else:
            verdict = ACCEPTED_WITH_WARNINGS if rejected_rows or warned_rows else ACCEPTED
            code, message = None, None
        verdicts.append(DeliveryVerdict(delivery_id, verdict, code, message, total,
                                        total - rejected_rows if verdict != REJECTED else 0, rejected_rows, warned_rows))
    return quarantine, warnings, verdicts


def decide(frame: pd.DataFrame, findings: list[RowFinding], max_rejected_share: float = MAX_REJECTED_SHARE) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[DeliveryVerdict]]:
    """Split rows into accepted and quarantined, and give each delivery its file verdict
    (`file_verdicts`). Rows are matched to findings by a join on (delivery_id, row_number)."""
    rejected = {(f.delivery_id, f.row_number) for f in findings if f.verdict == "rejected"}
    warning_codes: dict[tuple[str, int], set[str]] = {}
    for f in findings:
        if f.verdict == "warning":
            warning_codes.setdefault((f.delivery_id, f.row_number), set()).add(f.code)
    keys = pd.MultiIndex.from_arrays([frame["delivery_id"].to_numpy(), frame["row_number"].astype(int).to_numpy()])
    is_rejected = pd.Series(keys.isin(list(rejected)) if rejected else False, index=frame.index, dtype=bool)
    is_warned = pd.Series(keys.isin(list(warning_codes)) if warning_codes else False, index=frame.index, dtype=bool)
    accepted = frame[~is_rejected].copy()
    accepted["warnings"] = ""
    warned = is_warned & ~is_rejected
    if warned.any():
        accepted.loc[warned[~is_rejected], "warnings"] = [
            ",".join(sorted(warning_codes[(d, int(r))]))
            for d, r in zip(frame.loc[warned, "delivery_id"], frame.loc[warned, "row_number"])]
    totals = frame.groupby("delivery_id", sort=True).size()
    quarantine, warnings, verdicts = file_verdicts(dict(zip(totals.index, totals)), findings, max_rejected_share)
    return accepted, quarantine, warnings, verdicts


def validate_rows(frame: pd.DataFrame, parameters: dict[str, Any], max_rejected_share: float = MAX_REJECTED_SHARE,
                  contract: Contract | None = None) -> ValidationOutcome:
    """The whole row and file verdict for pseudonymised rows of one project, on a frame: the rows
    go into an in-memory DuckDB and through the stage's own path (`relation_findings`).

    `frame` carries the pseudonymised columns plus kommunkod, reporting_month and month_end.
    """
    with duckdb.connect() as db:
        db.register("frame", frame)
        db.execute("create temp table rows_validated as select * from frame")
        db.unregister("frame")
        findings, check = relation_findings(db, "rows_validated", contract or load_contract(), parameters)
        summaries = check.summaries()
    accepted, quarantine, warnings, verdicts = decide(frame, findings, max_rejected_share)
    return ValidationOutcome(accepted, quarantine, warnings, verdicts, summaries)


def relation_findings(db: duckdb.DuckDBPyConnection, relation: str, contract: Contract,
                      parameters: Mapping[str, Any], pool: Executor | None = None) -> tuple[list[RowFinding], SuiteCheck]:
    """Every rule that needs only the rows themselves, over `relation` of `db`: the suite,
    overlaps within a file, codes outside their lists; and GX's count of the suite to hold them to
    (`suite_check`). (Rules that need other deliveries are in quality/stage.py.)"""
    findings, check = suite_check(db, relation, contract, parameters, pool)
    findings += overlapping_enrolments(db, relation)
    noted = db.execute(f"select delivery_id, row_number, notes from {relation} "
                       "where contains(notes, 'KOD_OKAND:') order by delivery_id, row_number").df()
    findings += normalisation_findings(noted)
    return findings, check
