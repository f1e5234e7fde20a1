"""The Great Expectations suite of a project's mapping files, generated from its instrument.

A mapping file's columns are the project's questions, so its rules are too: the suite is made
from the instrument in the projects configuration (`kartlaggning:`, projects/instrument.py)
whenever the validate stage runs, never kept as a JSON file beside it (a file would drift from
the configuration). It holds the fixed row rules of every mapping file (the personnummer, the
date answered, the file's municipality and month, the age and the project's start) and, per
question, the rules its type and `required` give: an answer is present, is one of the
question's codes, is a number, lies in the scale or range. A rule on a required question
rejects the row; on an optional one it is a warning and the answer is dropped, the row kept.

The suite runs on one frame per project (quality/mapping_validate.py): a record per row
(`record` = 'rad') and a record per answer (`record` = 'svar', one per code of a multiple
choice), so every rule has a row condition: the row rules on row records, each question's rules
on its own answers (`question_id` = the id). Each expectation's `meta` carries what goes back to
the municipality, as in expectations/enrolment_rows.json: reason code, column (for an answer, the
question id, which is the column's header), verdict and the Swedish message.

`python -m orchestration.quality.mapping_suite <project>` prints a project's suite as JSON
(`--markdown`: its answer rules as the tables in expectations/README.md).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from orchestration.lib.mapping_contract import (
    ANSWER_MISSING, CODED_TYPES, MULTIPLE_CHOICE, NUMBER, SCALE,
)
from orchestration.projects.config import Project
from orchestration.projects.instrument import Question

ROW, ANSWER = "rad", "svar"            # the frame's `record` column: a row or one of its answers
NOT_A_CODE = "?"                       # an answer that is no code of its question, in the frame only
REJECTED, WARNING = "rejected", "warning"

# Reason codes of the fixed row rules (lib/mapping_contract.py names the answers' statuses). A rule
# that is an enrolment file's too has the enrolment's code (expectations/enrolment_rows.json).
PNR_OGILTIG = "PNR_OGILTIG"
PNR_LOPNUMMER_000 = "PNR_LOPNUMMER_000"
PNR_SAKNAS = "PNR_SAKNAS"
BESVARAD_SAKNAS = "BESVARAD_SAKNAS"
BESVARAD_OGILTIG = "BESVARAD_OGILTIG"
BESVARAD_EFTER_MANADEN = "BESVARAD_EFTER_MANADEN"
KOMMUNKOD_AVVIKER = "KOMMUNKOD_AVVIKER"
RAPPORTMANAD_AVVIKER = "RAPPORTMANAD_AVVIKER"
ALDER_UTANFOR = "ALDER_UTANFOR"
BESVARAD_FORE_PROJEKTET = "BESVARAD_FORE_PROJEKTET"
# ... of the answer rules, per question
SVAR_SAKNAS = "SVAR_SAKNAS"
SVAR_KOD_OKAND = "SVAR_KOD_OKAND"
SVAR_INTE_TAL = "SVAR_INTE_TAL"
SVAR_UTANFOR_SKALAN = "SVAR_UTANFOR_SKALAN"
ANSWER_RULES = (SVAR_SAKNAS, SVAR_KOD_OKAND, SVAR_INTE_TAL, SVAR_UTANFOR_SKALAN)

# The fixed row rules: (reason code, message, verdict, column named in the message, expectation
# type, kwargs, row condition besides being a row). `{detail}` in a message: what is wrong with a
# personnummer.
_ROW_RULES: tuple[tuple[str, str, str, str, str, dict[str, Any], dict[str, Any] | None], ...] = (
    (PNR_OGILTIG, "Personnumret är ogiltigt ({detail}). Kontrollera numret mot ärendesystemet och rätta raden.",
     REJECTED, "personnummer",
     "expect_column_values_to_not_be_in_set", {"column": "pnr_status", "value_set": ["OGILTIG"]}, None),
    (PNR_LOPNUMMER_000, "Personnumret har löpnumret 000 (de tre siffrorna före kontrollsiffran), som aldrig delas "
                        "ut. Kontrollera numret mot ärendesystemet och rätta raden.",
     REJECTED, "personnummer",
     "expect_column_values_to_not_match_regex", {"column": "pnr_status", "regex": "^LOPNUMMER_000$"}, None),
    (PNR_SAKNAS, "Personnummer saknas och raden har inget anonym_id. Fyll i personnummer, eller anonym_id för en "
                 "person som inte samtyckt till registrering.",
     REJECTED, "personnummer",
     "expect_column_values_to_not_be_null", {"column": "person_id"},
     {"column": {"name": "pnr_status"}, "operator": "==", "parameter": "SAKNAS", "type": "comparison"}),
    (BESVARAD_OGILTIG, "Datumet då frågorna besvarades är inget giltigt datum. Skriv det som ÅÅÅÅ-MM-DD och rätta "
                       "raden.",
     REJECTED, "besvarad",
     "expect_column_values_to_be_in_set", {"column": "besvarad_raw_ok", "value_set": [True]}, None),
    (BESVARAD_SAKNAS, "Datumet då frågorna besvarades saknas. Fyll i det (ÅÅÅÅ-MM-DD).",
     REJECTED, "besvarad",
     "expect_column_values_to_not_be_null", {"column": "besvarad"},
     {"column": {"name": "besvarad_raw_ok"}, "operator": "==", "parameter": True, "type": "comparison"}),
    (BESVARAD_EFTER_MANADEN, "Datumet då frågorna besvarades ligger efter månaden i filnamnet. Rätta datumet, eller "
                             "skicka raden i filen för den månad då frågorna besvarades.",
     REJECTED, "besvarad",
     "expect_column_pair_values_a_to_be_greater_than_b",
     {"column_A": "month_end", "column_B": "besvarad", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
     None),
    (KOMMUNKOD_AVVIKER, "Kommunkoden på raden stämmer inte med kommunmappen filen ligger i. Kontrollera att filen "
                    "hamnat i rätt mapp.",
     REJECTED, "kommunkod",
     "expect_column_pair_values_to_be_equal",
     {"column_A": "kommunkod_in_file", "column_B": "kommunkod", "ignore_row_if": "either_value_is_missing"}, None),
    (RAPPORTMANAD_AVVIKER, "Rapportmånaden på raden stämmer inte med månaden i filnamnet. Rätta filnamnet eller "
                       "kolumnen.",
     REJECTED, "rapportmanad",
     "expect_column_pair_values_to_be_equal",
     {"column_A": "rapportmanad_in_file", "column_B": "reporting_month", "ignore_row_if": "either_value_is_missing"},
     None),
    (ALDER_UTANFOR, "Åldern när frågorna besvarades ligger utanför projektets målgrupp. Raden räknas, men "
                    "kontrollera personnummer och datum.",
     WARNING, "besvarad",
     "expect_column_values_to_be_between",
     {"column": "age_at_answer", "min_value": {"$PARAMETER": "age_min"}, "max_value": {"$PARAMETER": "age_max"}},
     None),
    (BESVARAD_FORE_PROJEKTET, "Datumet då frågorna besvarades ligger före projektets start. Raden räknas, men "
                              "kontrollera datumet.",
     WARNING, "besvarad",
     "expect_column_pair_values_a_to_be_greater_than_b",
     {"column_A": "besvarad", "column_B": "period_start", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
     None),
)


def _is(column: str, value: Any) -> dict[str, Any]:
    return {"column": {"name": column}, "operator": "==", "parameter": value, "type": "comparison"}


def _both(first: dict[str, Any], second: dict[str, Any] | None) -> dict[str, Any]:
    return first if second is None else {"type": "and", "conditions": [first, second]}


def row_expectations() -> list[dict[str, Any]]:
    """The rules every mapping file's rows follow, whatever the project asks."""
    return [{"type": kind, "kwargs": {**kwargs, "row_condition": _both(_is("record", ROW), condition)},
             "meta": {"reason_code": code, "column": column, "verdict": verdict, "message": message}}
            for code, message, verdict, column, kind, kwargs, condition in _ROW_RULES]


def answer_expectations(question: Question) -> list[dict[str, Any]]:
    """One question's rules, from its type and whether it is required. A required question's
    bad answer rejects the row; an optional one's is a warning and the answer is dropped."""
    verdict = REJECTED if question.required else WARNING
    outcome = ("Raden avvisas." if question.required
               else "Svaret räknas inte, men raden räknas.")
    condition = _is("question_id", question.id)
    given = _both(condition, {"column": {"name": "answer_status"}, "operator": "!=", "parameter": ANSWER_MISSING,
                              "type": "comparison"})
    # (code, message, expectation type, kwargs, row condition); no two with the same type, column and
    # condition (GX would keep only the last of them)
    rules: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = []
    if question.required:
        rules.append((SVAR_SAKNAS, f"Svar saknas på den obligatoriska frågan. {_what_to_write(question)}",
                      "expect_column_values_to_not_be_in_set",
                      {"column": "answer_status", "value_set": [ANSWER_MISSING]}, condition))
    if question.type in CODED_TYPES:
        rules.append((SVAR_KOD_OKAND, f"Svaret är ingen av frågans koder. {outcome} {_what_to_write(question)}",
                      "expect_column_values_to_be_in_set",
                      {"column": "answer_code", "value_set": list(question.code_set)}, condition))
    if question.type in (SCALE, NUMBER):
        whole = "heltal" if question.type == SCALE else "tal"
        span = "skala" if question.type == SCALE else "tillåtna intervall"
        rules.append((SVAR_INTE_TAL, f"Svaret är inget {whole}. {outcome} {_what_to_write(question)}",
                      "expect_column_values_to_not_be_null", {"column": "answer_number"}, given))
        rules.append((SVAR_UTANFOR_SKALAN, f"Svaret ligger utanför frågans {span}. {outcome} {_what_to_write(question)}",
                      "expect_column_values_to_be_between",
                      {"column": "answer_number", "min_value": question.minimum, "max_value": question.maximum},
                      condition))
    return [{"type": kind, "kwargs": {**kwargs, "row_condition": row_condition},
             "meta": {"reason_code": code, "column": question.id, "verdict": verdict, "message": message}}
            for code, message, kind, kwargs, row_condition in rules]


def _what_to_write(question: Question) -> str:
    if question.type == MULTIPLE_CHOICE:
        return (f"Skriv en eller flera av koderna {', '.join(question.code_set)}, åtskilda med komma (,) "
                "eller semikolon (;).")
    if question.type in CODED_TYPES:
        return f"Skriv en av koderna {', '.join(question.code_set)}."
    if question.type == SCALE:
        return f"Skriv ett heltal från {question.minimum:g} till {question.maximum:g}."
    if question.type == NUMBER:
        return f"Skriv ett tal från {question.minimum:g} till {question.maximum:g} (decimalkomma går bra)."
    return "Fyll i svaret."


def suite_document(project: Project) -> dict[str, Any]:
    """The project's mapping suite as a GX suite document (the form of expectations/*.json)."""
    if project.mapping is None:
        raise ValueError(f"project {project.id} has no mapping instrument")
    expectations = row_expectations()
    for question in project.mapping.questions:
        expectations += answer_expectations(question)
    return {"name": f"mapping_rows_{project.id}", "id": None, "expectations": expectations,
            "meta": {"generated_from": f"kartlaggning: i projektet {project.id}",
                     "questions": list(project.mapping.question_ids)}}


def build_suite(project: Project) -> Any:
    """The project's mapping suite as a GX ExpectationSuite, every expectation checked loaded."""
    from orchestration.quality.validate import suite_from_document

    return suite_from_document(suite_document(project), f"mapping suite of {project.id}")


def parameters(project: Project) -> dict[str, Any]:
    """The suite's parameters: the project's age range."""
    return {"age_min": project.age_min, "age_max": project.age_max}


def _check(expectation: dict[str, Any]) -> str:
    """What an expectation checks, in a few words (for the table in expectations/README.md)."""
    kwargs = expectation["kwargs"]
    kind = expectation["type"]
    if kind == "expect_column_values_to_be_in_set":
        return f"`{kwargs['column']}` in {{{', '.join(str(v) for v in kwargs['value_set'])}}}"
    if kind == "expect_column_values_to_not_be_in_set":
        return f"`{kwargs['column']}` not in {{{', '.join(str(v) for v in kwargs['value_set'])}}}"
    if kind == "expect_column_values_to_be_between":
        low, high = (kwargs[k]["$PARAMETER"] if isinstance(kwargs[k], dict) else f"{kwargs[k]:g}"
                     for k in ("min_value", "max_value"))
        return f"`{kwargs['column']}` between {low} and {high}"
    if kind == "expect_column_values_to_not_be_null":
        return f"`{kwargs['column']}` not null"
    if kind == "expect_column_values_to_not_match_regex":
        return f"`{kwargs['column']}` not matching `{kwargs['regex']}`"
    if kind == "expect_column_pair_values_to_be_equal":
        return f"`{kwargs['column_A']}` = `{kwargs['column_B']}`"
    return f"`{kwargs['column_A']}` ≥ `{kwargs['column_B']}`"


def markdown_table(project: Project) -> str:
    """The project's answer rules as a markdown table: question, reason code, verdict, check."""
    lines = [f"| `{project.id}`: question | reason code | verdict | check (row condition `question_id` = the question) |",
             "|---|---|---|---|"]
    for question in project.mapping.questions if project.mapping else ():
        for expectation in answer_expectations(question):
            meta = expectation["meta"]
            lines.append(f"| `{question.id}` ({question.type}{', required' if question.required else ''}) | "
                         f"{meta['reason_code']} | {meta['verdict']} | {_check(expectation)}"
                         f"{' (an answer given)' if expectation['kwargs']['row_condition']['type'] == 'and' else ''} |")
        if not answer_expectations(question):
            lines.append(f"| `{question.id}` ({question.type}) | – | – | none: an optional free text |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Print the mapping suite of a project of the configuration as JSON (or, with --markdown,
    its answer rules as the table in expectations/README.md)."""
    from orchestration.projects.config import load_projects

    markdown = "--markdown" in argv
    argv = [a for a in argv if a != "--markdown"]
    if len(argv) != 1:
        print("användning: python -m orchestration.quality.mapping_suite [--markdown] <projekt-id>", file=sys.stderr)
        return 2
    project = load_projects().project(argv[0])
    print(markdown_table(project) if markdown else json.dumps(suite_document(project), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
