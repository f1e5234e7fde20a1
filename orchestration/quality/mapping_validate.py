"""Row and file verdicts of mapping files (kartläggning): the project's generated suite
(quality/mapping_suite.py) run with Great Expectations, plus the one rule GX cannot express on a
frame (the same person twice with the same date answered in one file), in pandas as for
overlapping enrolments.

All pending mapping rows of a project and their answers are validated in one GX run, on one
frame: a record per row and a record per answer (mapping_suite.py says why). The file verdict is
that of enrolments (validate.decide: the 20 % rule of lib/thresholds.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from orchestration.lib.mapping_contract import ANSWER_UNKNOWN_CODE
from orchestration.lib.thresholds import MAX_REJECTED_SHARE
from orchestration.projects.config import Project
from orchestration.quality.mapping_suite import ANSWER, ANSWER_RULES, NOT_A_CODE, ROW, build_suite, parameters
from orchestration.quality.validate import (
    DeliveryVerdict, ExpectationSummary, RowFinding, decide, normalisation_findings, row_message, run_suite,
)

DUBBEL_KARTLAGGNING = "DUBBEL_KARTLAGGNING"
# The row columns the suite's row rules read (besides delivery_id, row_number and notes).
_ROW_COLUMNS = ("person_id", "pnr_status", "besvarad", "besvarad_raw_ok", "age_at_answer", "kommunkod",
                "kommunkod_in_file", "reporting_month", "rapportmanad_in_file", "month_end")


@dataclass
class MappingOutcome:
    accepted: pd.DataFrame          # accepted rows, with a 'warnings' column
    quarantine: pd.DataFrame        # delivery_id, row_number, reason_code, column_name, message
    warnings: pd.DataFrame          # delivery_id, row_number, warning_code, column_name, message
    dropped: pd.DataFrame           # delivery_id, row_number, question_id: answers a warning drops
    verdicts: list[DeliveryVerdict]
    expectations: list[ExpectationSummary]


def validation_frame(rows: pd.DataFrame, answers: pd.DataFrame, project: Project) -> pd.DataFrame:
    """The one frame the suite runs on: the rows (record 'rad') and their answers (record 'svar',
    carrying their row's notes). An answer that is no code of its question shows as NOT_A_CODE,
    here only: the stored answer has no value, only its status."""
    row_part = rows[["delivery_id", "row_number", "notes", *_ROW_COLUMNS]].copy()
    row_part["period_start"] = pd.Timestamp(project.period_start)
    row_part.insert(0, "record", ROW)
    answer_part = answers[["delivery_id", "row_number", "question_id", "answer_status", "answer_code",
                           "answer_number"]].copy()
    answer_part["answer_code"] = answer_part["answer_code"].where(
        answer_part["answer_status"] != ANSWER_UNKNOWN_CODE, NOT_A_CODE)
    answer_part = answer_part.merge(rows[["delivery_id", "row_number", "notes"]], on=["delivery_id", "row_number"],
                                    how="left")
    answer_part.insert(0, "record", ANSWER)
    frame = pd.concat([row_part, answer_part], ignore_index=True)
    # the row rules' columns keep their types where an answer record has none (GX compares them)
    frame["age_at_answer"] = frame["age_at_answer"].astype("Float64")
    frame["besvarad_raw_ok"] = frame["besvarad_raw_ok"].astype("boolean")
    frame["answer_number"] = frame["answer_number"].astype("float64")
    for column in ("besvarad", "month_end", "period_start"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def mapping_findings(rows: pd.DataFrame, answers: pd.DataFrame, project: Project,
                     suite=None) -> tuple[list[RowFinding], list[ExpectationSummary]]:
    """Every rule that needs only the rows of the files themselves: the suite, one occasion
    twice in a file, kön outside its codes. One finding per row, rule and column."""
    frame = validation_frame(rows, answers, project)
    findings, summaries = run_suite(frame, suite if suite is not None else build_suite(project), parameters(project))
    findings += repeated_occasions(rows)
    findings += normalisation_findings(rows)
    unique: dict[tuple, RowFinding] = {}
    for finding in findings:
        unique.setdefault((finding.delivery_id, finding.row_number, finding.code, finding.column), finding)
    return list(unique.values()), summaries


def repeated_occasions(rows: pd.DataFrame) -> list[RowFinding]:
    """Both (all) rows of one person with the same date answered in one file are rejected: one
    occasion cannot have two sets of answers."""
    known = rows[rows["person_id"].notna() & rows["besvarad"].notna()]
    doubled = known[known.duplicated(["delivery_id", "person_id", "besvarad"], keep=False)]
    findings = []
    for _, group in doubled.groupby(["delivery_id", "person_id", "besvarad"], sort=True):
        numbers = sorted(int(r) for r in group["row_number"])
        delivery_id = str(group["delivery_id"].iloc[0])
        for row in numbers:
            others = ", ".join(str(r) for r in numbers if r != row)
            findings.append(RowFinding(
                delivery_id, row, DUBBEL_KARTLAGGNING, "besvarad", "rejected",
                row_message(row, "besvarad",
                            f"Samma person har en annan rad i filen med samma datum för när frågorna besvarades "
                            f"(rad {others}). Båda raderna avvisas. Ta bort den rad som är fel, eller rätta datumet, "
                            "och skicka filen igen."),
            ))
    return findings


def dropped_answers(warnings: pd.DataFrame) -> pd.DataFrame:
    """The answers a warning on an optional question drops (the row is kept, the answer not)."""
    answer_warnings = warnings[warnings["warning_code"].isin(ANSWER_RULES)]
    return (answer_warnings[["delivery_id", "row_number", "column_name"]]
            .rename(columns={"column_name": "question_id"}).drop_duplicates().reset_index(drop=True))


def validate_mapping_rows(rows: pd.DataFrame, answers: pd.DataFrame, project: Project,
                          max_rejected_share: float = MAX_REJECTED_SHARE, suite=None) -> MappingOutcome:
    """Row and file verdicts for one project's pending mapping rows and their answers.

    `rows` carries the pseudonymised row columns plus kommunkod, reporting_month and month_end of
    its delivery; `answers` the answer lines of those rows."""
    findings, summaries = mapping_findings(rows, answers, project, suite)
    accepted, quarantine, warnings, verdicts = decide(rows, findings, max_rejected_share)
    return MappingOutcome(accepted, quarantine, warnings, dropped_answers(warnings), verdicts, summaries)
