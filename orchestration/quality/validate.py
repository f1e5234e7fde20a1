"""Row and file verdicts: the extract contract's rules, run as a Great Expectations suite.

Each expectation in `expectations/enrolment_rows.json` is one row rule; its `meta` carries the
reason code, the column and the Swedish message that go back to the municipality, and whether a
failing row is rejected or only warned. GX finds the failing rows (unexpected_index_list);
this module turns them into quarantine lines and file verdicts. The one rule GX cannot express
on a dataframe (two overlapping enrolments of one person in one file) is plain pandas below.

All pending rows of a project are validated in one GX run: GX's fixed cost per run, paid once per
delivery, would dominate a national backfill of 10 000 files. Results are still reported per
delivery.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from orchestration.lib.contract import ACCEPTED, ACCEPTED_WITH_WARNINGS, REJECTED
from orchestration.lib.thresholds import MAX_REJECTED_SHARE

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


def run_suite(frame: pd.DataFrame, suite: Any, parameters: dict[str, Any]) -> tuple[list[RowFinding], list[ExpectationSummary]]:
    """Validate rows with GX; every unexpected row becomes a finding carrying the rule's meta."""
    if frame.empty:
        return [], []
    context = _gx_context()
    frame = frame.reset_index(drop=True)
    name = f"rows_{id(frame)}"
    source = context.data_sources.add_or_update_pandas(name)
    batch_definition = source.add_dataframe_asset("rows").add_batch_definition_whole_dataframe("all")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    # The failing rows by position (the frame's own index), turned into (delivery, row) here: GX
    # looks up named index columns cell by cell, slow for a file of many bad rows.
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"}, expectation_parameters=parameters)
    context.data_sources.delete(name)
    findings: list[RowFinding] = []
    summaries: list[ExpectationSummary] = []
    delivery_ids, row_numbers = frame["delivery_id"].to_numpy(), frame["row_number"].to_numpy()
    details = dict(zip(zip(delivery_ids, row_numbers), frame["notes"]))
    for item in result.results:
        meta = item.expectation_config.meta or {}
        if "exception_message" in (item.exception_info or {}) and item.exception_info.get("raised_exception"):
            raise RuntimeError(f"GX rule {meta.get('reason_code')} failed to run: {item.exception_info['exception_message']}")
        unexpected = item.result.get("unexpected_index_list") or []
        summaries.append(
            ExpectationSummary(meta.get("reason_code", "?"), item.expectation_config.type, meta.get("verdict", "rejected"),
                               bool(item.success), len(unexpected))
        )
        for position in unexpected:
            key = (str(delivery_ids[position]), int(row_numbers[position]))
            message = meta.get("message", "").replace("{detail}", _pnr_detail(details.get(key, "")))
            findings.append(RowFinding(key[0], key[1], meta["reason_code"], meta.get("column"), meta.get("verdict", "rejected"),
                                       row_message(key[1], meta.get("column"), message)))
    return findings, summaries


def row_message(row_number: int, column: str | None, text: str) -> str:
    """'Rad 12, kolumn startdatum: …' — the municipality finds the cell without any value quoted."""
    where = f"Rad {row_number}, kolumn {column}" if column else f"Rad {row_number}"
    return f"{where}: {text}"


def _pnr_detail(notes: str) -> str:
    for note in (notes or "").split(","):
        if note.startswith("PNR:"):
            return note[4:]
    return "fel format"


def overlapping_enrolments(frame: pd.DataFrame) -> list[RowFinding]:
    """Both rows of one person with two overlapping enrolments in one file are rejected."""
    findings: list[RowFinding] = []
    known = frame[frame["person_id"].notna() & frame["startdatum"].notna()]
    known = known[known.duplicated(["delivery_id", "person_id"], keep=False)]  # only persons with 2+ rows
    far_future = pd.Timestamp("2200-01-01")
    for (delivery_id, _), group in known.groupby(["delivery_id", "person_id"]):
        spells = sorted(zip(group["startdatum"], group["slutdatum"].fillna(far_future), group["row_number"]))
        flagged: set[int] = set()
        for i, (start_i, end_i, row_i) in enumerate(spells):
            for start_j, end_j, row_j in spells[i + 1:]:
                if start_j <= end_i and start_i <= end_j:
                    flagged.update((int(row_i), int(row_j)))
        for row in sorted(flagged):
            others = ", ".join(str(r) for r in sorted(flagged - {row}))
            findings.append(RowFinding(
                delivery_id, row, "OVERLAPPANDE_INSKRIVNING", "startdatum", "rejected",
                row_message(row, "startdatum",
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


def decide(frame: pd.DataFrame, findings: list[RowFinding], max_rejected_share: float = MAX_REJECTED_SHARE) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[DeliveryVerdict]]:
    """Split rows into accepted and quarantined, and give each delivery its file verdict.

    Set-based: findings are few, rows may be millions, so rows are matched to findings by a
    join on (delivery_id, row_number) and counted per delivery with one groupby."""
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
    quarantine = pd.DataFrame(
        [(f.delivery_id, f.row_number, f.code, f.column, f.message) for f in findings if f.verdict == "rejected"],
        columns=["delivery_id", "row_number", "reason_code", "column_name", "message"],
    )
    warnings = pd.DataFrame(
        [(f.delivery_id, f.row_number, f.code, f.column, f.message) for f in findings if f.verdict == "warning"],
        columns=["delivery_id", "row_number", "warning_code", "column_name", "message"],
    )
    counts = pd.DataFrame({"delivery_id": frame["delivery_id"], "rejected": is_rejected, "warned": warned}) \
        .groupby("delivery_id", sort=True).agg(total=("rejected", "size"), rejected=("rejected", "sum"),
                                                 warned=("warned", "sum"))
    verdicts = []
    for delivery_id, total, n_rejected, n_warned in zip(counts.index, counts["total"], counts["rejected"],
                                                        counts["warned"]):
        total, n_rejected, n_warned = int(total), int(n_rejected), int(n_warned)
        if total and n_rejected / total > max_rejected_share:
            verdict, code = REJECTED, "FOR_MANGA_FEL"
            message = (f"{n_rejected} av {total} rader ({n_rejected / total:.0%}) avvisades, mer än "
                       f"{max_rejected_share:.0%}. Hela filen räknas inte; förra godkända leveransen gäller. "
                       "Rätta raderna i rapporten och skicka filen igen.")
        else:
            verdict = ACCEPTED_WITH_WARNINGS if n_rejected or n_warned else ACCEPTED
            code, message = None, None
        verdicts.append(DeliveryVerdict(delivery_id, verdict, code, message, total,
                                        total - n_rejected if verdict != REJECTED else 0, n_rejected, n_warned))
    return accepted, quarantine, warnings, verdicts


def validate_rows(frame: pd.DataFrame, parameters: dict[str, Any], max_rejected_share: float = MAX_REJECTED_SHARE,
                  suite: Any | None = None) -> ValidationOutcome:
    """The whole row and file verdict for pseudonymised rows of one project.

    `frame` carries the pseudonymised columns plus kommunkod, reporting_month and month_end.
    """
    findings, summaries = row_findings(frame, parameters, suite)
    accepted, quarantine, warnings, verdicts = decide(frame, findings, max_rejected_share)
    return ValidationOutcome(accepted, quarantine, warnings, verdicts, summaries)


def row_findings(frame: pd.DataFrame, parameters: dict[str, Any], suite: Any | None = None) -> tuple[list[RowFinding], list[ExpectationSummary]]:
    """Every rule that needs only the rows themselves: the GX suite, overlaps within a file,
    codes outside their lists. (Rules that need other deliveries are in quality/stage.py.)"""
    findings, summaries = run_suite(frame, suite or load_suite(), parameters)
    findings += overlapping_enrolments(frame)
    findings += normalisation_findings(frame)
    return findings, summaries
