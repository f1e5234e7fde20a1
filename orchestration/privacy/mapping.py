"""Pseudonymise mapping extracts (kartläggning): one row per person and occasion, one answer per
question of the project's instrument.

The person is identified exactly as in an enrolment extract (pseudonymise.identify: the same key,
the same person namespace), so a person mapped and later enrolled is one `person_id`. What is
derived: `kon` as for enrolments, `age_at_answer` (age on `besvarad`). Each answer is parsed by
its question's type into a status (mapping_contract.ANSWER_STATUSES) and a code, a number or a
scrubbed text; the value the municipality wrote is never stored (an unknown code is stored as its
status only). Whether an answer is acceptable (required, in range) is the validate stage's to say,
with the suite generated from the same instrument (quality/mapping_suite.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestration.ingest.normalise import parse_code
from orchestration.lib.mapping_contract import (
    ANSWER_MISSING, ANSWER_NOT_A_NUMBER, ANSWER_OK, ANSWER_UNKNOWN_CODE, CODED_TYPES, FREE_TEXT,
    MULTIPLE_CHOICE, MULTIPLE_SEPARATORS, NUMBER, SCALE,
)
from orchestration.privacy.extract.schema import ColumnSchema, mapping_schema
from orchestration.privacy.pseudonymise import (
    DeliveryContext, Pseudonymiser, _date_of, _per_value, _text, age_on, identify, scrubbed, stack,
)
from orchestration.projects.instrument import Instrument, Question

MAPPING_ROW_COLUMNS = (
    "delivery_id", "row_number", "person_id", "is_anonymous", "pnr_status", "kon", "age_at_answer",
    "besvarad", "besvarad_raw_ok", "kommunkod_in_file", "rapportmanad_in_file", "notes",
)
MAPPING_ANSWER_COLUMNS = (
    "delivery_id", "row_number", "question_id", "answer_status", "answer_code", "answer_number", "answer_text",
)
_SEPARATORS = re.compile("|".join(re.escape(s) for s in MULTIPLE_SEPARATORS))
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")


@dataclass
class MappingRows:
    rows: pd.DataFrame        # MAPPING_ROW_COLUMNS: landing.mapping_pseudonymised_rows
    answers: pd.DataFrame     # MAPPING_ANSWER_COLUMNS: landing.mapping_pseudonymised_answers


def schema_of(instrument: Instrument) -> ColumnSchema:
    """The columns a mapping file of this instrument is read with (privacy/extract/schema.py)."""
    return mapping_schema(instrument.question_ids, tuple(q.id for q in instrument.questions if q.required))


def instruments_in_warehouse(db) -> dict[str, Instrument]:
    """Each project's instrument as the configuration wrote it into the warehouse
    (landing.mapping_questions and mapping_categories, projects/load.py): what parsing needs, the
    ids, types, codes and ranges of the questions. Projects without questions are absent."""
    questions = db.execute(
        "select project_id, question_id, domain, question_text, answer_type, required, min_value, max_value "
        "from landing.mapping_questions order by project_id, display_order").fetchall()
    codes: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for project_id, question_id, category, label in db.execute(
            "select c.project_id, c.question_id, c.category, c.label from landing.mapping_categories c "
            "join landing.mapping_questions q using (project_id, question_id) "
            f"where q.answer_type in ({', '.join(repr(t) for t in CODED_TYPES)}) "
            "order by c.project_id, c.question_id, c.display_order").fetchall():
        codes.setdefault((project_id, question_id), []).append((category, label))
    by_project: dict[str, list[Question]] = {}
    for project_id, question_id, domain, text, answer_type, required, low, high in questions:
        by_project.setdefault(project_id, []).append(Question(
            id=question_id, text=text, domain=domain, type=answer_type, required=bool(required),
            codes=tuple(codes.get((project_id, question_id), ())), minimum=low, maximum=high))
    return {project_id: Instrument(tuple(qs)) for project_id, qs in by_project.items()}


def pseudonymise_mapping_deliveries(extracts: list[tuple[pd.DataFrame, DeliveryContext]],
                                    instruments: dict[str, Instrument],
                                    pseudonymiser: Pseudonymiser) -> MappingRows:
    """The rows and answers of many mapping deliveries at once; no identifier leaves this function.
    Every row gets one answer line per question of its project's instrument (a multiple choice
    one per code chosen), SAKNAS where the cell is blank or the file has no column for it."""
    stacked = stack(extracts)
    if stacked is None:
        return MappingRows(_typed_rows(pd.DataFrame({c: [] for c in MAPPING_ROW_COLUMNS})),
                           _typed_answers(pd.DataFrame({c: [] for c in MAPPING_ANSWER_COLUMNS})))
    frame = stacked.frame
    out: dict[str, object] = {"delivery_id": stacked.delivery_ids, "row_number": stacked.row_numbers}
    person = identify(stacked, pseudonymiser)
    out.update(person_id=person.person_id, is_anonymous=person.is_anonymous, pnr_status=person.status,
               kon=person.kon_of_row)
    answered, out["besvarad_raw_ok"] = _per_value(frame, "besvarad", _date_of)
    answered = answered.astype("datetime64[D]")
    out["besvarad"] = answered
    out["age_at_answer"] = age_on(person.birth, answered)
    out["kommunkod_in_file"], _ = _per_value(frame, "kommunkod", lambda text: (text or None, False))
    out["rapportmanad_in_file"], _ = _per_value(frame, "rapportmanad", lambda text: (text or None, False))
    out["notes"] = stacked.notes.joined()
    rows = _typed_rows(pd.DataFrame(out, columns=list(MAPPING_ROW_COLUMNS)))

    projects = np.array([d.project_id for d in stacked.contexts], dtype=object)[stacked.position]
    answers = []
    for project_id in sorted(set(projects)):
        in_project = np.flatnonzero(projects == project_id)
        part = frame.iloc[in_project].reset_index(drop=True)
        keys = (out["delivery_id"][in_project], out["row_number"][in_project])
        for question in instruments[project_id].questions:
            answers.append(_answers(part, keys, question, pseudonymiser))
    return MappingRows(rows, _typed_answers(pd.concat(answers, ignore_index=True)))


def _answers(frame: pd.DataFrame, keys: tuple[np.ndarray, np.ndarray], question: Question,
             pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    """One question's answer lines for the rows of `frame` (its column, or none: all SAKNAS)."""
    delivery_ids, row_numbers = keys
    n = len(frame)
    status = np.full(n, ANSWER_MISSING, dtype=object)
    code = np.full(n, None, dtype=object)
    number = np.full(n, np.nan)
    text = np.full(n, None, dtype=object)
    if question.type == FREE_TEXT:
        text = scrubbed(frame, question.id, pseudonymiser)
        status[np.not_equal(text, None)] = ANSWER_OK
    elif question.type == MULTIPLE_CHOICE:
        status, chosen = _parsed(frame, question.id, lambda cell: _multiple(cell, question))
        counts = np.array([max(len(c), 1) for c in chosen])
        index = np.repeat(np.arange(n), counts)
        codes = np.array([c for row in chosen for c in (row or (None,))], dtype=object)
        return pd.DataFrame({"delivery_id": delivery_ids[index], "row_number": row_numbers[index],
                             "question_id": question.id, "answer_status": status[index], "answer_code": codes,
                             "answer_number": np.full(len(index), np.nan), "answer_text": None})
    elif question.type in CODED_TYPES:
        status, code = _parsed(frame, question.id, lambda cell: _coded(cell, question))
    elif question.type in (SCALE, NUMBER):
        status, number = _parsed(frame, question.id, lambda cell: _number(cell, question.type == SCALE))
        number = number.astype(float)
    return pd.DataFrame({"delivery_id": delivery_ids, "row_number": row_numbers, "question_id": question.id,
                         "answer_status": status, "answer_code": code, "answer_number": number,
                         "answer_text": text})


def _parsed(frame: pd.DataFrame, column: str, parse) -> tuple[np.ndarray, np.ndarray]:
    """parse(text) -> (status, value) once per distinct cell of the column, spread over the rows
    (a column the file lacks is blank on every row)."""
    if column in frame.columns:
        codes, uniques = pd.factorize(frame[column].to_numpy(dtype=object), use_na_sentinel=False)
    else:
        codes, uniques = np.zeros(len(frame), dtype=np.int64), np.array([""], dtype=object)
    parsed = [parse(_text(u)) for u in uniques]
    status = np.array([p[0] for p in parsed] or [None], dtype=object)
    values = np.empty(max(len(parsed), 1), dtype=object)
    for index, p in enumerate(parsed):
        values[index] = p[1]
    return status[codes], values[codes]


def _coded(cell: str, question: Question) -> tuple[str, str | None]:
    """(status, code): a code of the question matched like the contract's codes (`Ja` is JA)."""
    value = parse_code(cell)
    if value is None:
        return ANSWER_MISSING, None
    return (ANSWER_OK, value) if value in question.code_set else (ANSWER_UNKNOWN_CODE, None)


def _multiple(cell: str, question: Question) -> tuple[str, tuple[str, ...]]:
    """(status, codes chosen, in the question's order). Any part that is not a code makes the
    whole answer unknown: which of the parts were meant cannot be told."""
    parts = [parse_code(part) for part in _SEPARATORS.split(cell)]
    chosen = {part for part in parts if part is not None}
    if not chosen:
        return ANSWER_MISSING, ()
    known = question.code_set
    if not chosen <= set(known):
        return ANSWER_UNKNOWN_CODE, ()
    return ANSWER_OK, tuple(code for code in known if code in chosen)


def _number(cell: str, integer: bool) -> tuple[str, float]:
    """(status, number): a decimal comma or point, spaces between digit groups; a scale takes
    whole steps only. Out of range is still a number (the suite's range rule judges it)."""
    text = _SPACES.sub("", _text(cell))
    if not text:
        return ANSWER_MISSING, np.nan
    if not _NUMBER.match(text):
        return ANSWER_NOT_A_NUMBER, np.nan
    value = float(text.replace(",", "."))
    if not np.isfinite(value) or (integer and not value.is_integer()):
        return ANSWER_NOT_A_NUMBER, np.nan
    return ANSWER_OK, value


def _typed_rows(frame: pd.DataFrame) -> pd.DataFrame:
    frame["besvarad"] = pd.to_datetime(frame["besvarad"]).astype("datetime64[us]")
    frame["age_at_answer"] = frame["age_at_answer"].astype("Int64")
    frame["row_number"] = frame["row_number"].astype("int64")
    frame["is_anonymous"] = frame["is_anonymous"].astype(bool)
    frame["besvarad_raw_ok"] = frame["besvarad_raw_ok"].astype(bool)
    return frame


def _typed_answers(frame: pd.DataFrame) -> pd.DataFrame:
    frame["row_number"] = frame["row_number"].astype("int64")
    frame["answer_number"] = frame["answer_number"].astype("float64")
    for column in ("delivery_id", "question_id", "answer_status", "answer_code", "answer_text"):
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), None)     # None, not NaN: a NULL in the warehouse
    return frame[list(MAPPING_ANSWER_COLUMNS)]
