"""Which columns a delivered file is read with: the enrolment contract's, or a project's mapping
columns (the fixed ones of lib/mapping_contract.py plus one per question of its instrument).

The reader (reader.py) keeps only the columns its schema names and asks the schema which column
a header names, which columns are required and which hold dates (Excel serial numbers turned into
dates). A schema travels to the reading child process (privacy/reading.py) through a pipe, so it
is plain picklable data: the kind, the question ids and which of them are required.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.lib.contract import REQUIRED_COLUMNS, canonical_column, normalise_name
from orchestration.lib.mapping_contract import (
    ENROLMENT, MAPPING, MAPPING_DATE_COLUMNS, MAPPING_REQUIRED_COLUMNS, canonical_mapping_column,
)

ENROLMENT_DATE_COLUMNS = ("startdatum", "slutdatum")
ROW_NUMBER = "row_number"      # the reader's own column in every extract


@dataclass(frozen=True)
class ColumnSchema:
    """The columns one kind of extract is read with. `questions`: a mapping file's question ids in
    the instrument's order; `required_questions`: those whose column must be in the header."""

    kind: str = ENROLMENT
    questions: tuple[str, ...] = ()
    required_questions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in (ENROLMENT, MAPPING):
            raise ValueError(f"unknown extract kind {self.kind!r}")
        if self.kind == ENROLMENT and self.questions:
            raise ValueError("an enrolment extract has no questions")
        if ROW_NUMBER in self.questions or not set(self.required_questions) <= set(self.questions):
            raise ValueError("a question id may not be 'row_number', and a required question must be a question")

    @property
    def required(self) -> tuple[str, ...]:
        return REQUIRED_COLUMNS if self.kind == ENROLMENT else MAPPING_REQUIRED_COLUMNS

    @property
    def dates(self) -> tuple[str, ...]:
        return ENROLMENT_DATE_COLUMNS if self.kind == ENROLMENT else MAPPING_DATE_COLUMNS

    def canonical(self, header: str) -> str | None:
        """The column a header names (a contract column, a fixed mapping column or a question id),
        or None for a column the schema does not know."""
        if self.kind == ENROLMENT:
            return canonical_column(header)
        fixed = canonical_mapping_column(header)
        if fixed is not None:
            return fixed
        name = normalise_name(header)
        return name if name in self.questions else None


ENROLMENT_SCHEMA = ColumnSchema()


def mapping_schema(questions: tuple[str, ...], required_questions: tuple[str, ...]) -> ColumnSchema:
    """The schema of a project's mapping files: its question ids, in order, and the required ones."""
    return ColumnSchema(MAPPING, tuple(questions), tuple(required_questions))
