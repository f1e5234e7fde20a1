"""One municipality's monthly snapshot: which enrolments it holds and what each row says.

The contract makes every file a full snapshot up to the month's last day, so the month decides
what is visible: an end date later than the month is not known yet, and the six-month follow-up
only exists once six months have passed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from orchestration.generator.model import SimulatedEnrolment, SimulatedPerson
from orchestration.generator.months import add_months, month_end
from orchestration.generator.personnummer import format_personnummer
from orchestration.generator.styles import CODE_COLUMNS, DATE_COLUMNS, UNKNOWN, DeliveryStyle, render_code, render_date

Cell = Any  # str, int (an Excel number) or dt.date (an Excel date cell); None/'' is blank
UNITS = ("Ungdomsteamet", "Navigatorcentrum", "Kompetenscentrum")


@dataclass
class Table:
    """A file's content before it is encoded: the writer and the noise both work on this."""

    headers: list[str]
    columns: list[str]
    rows: list[list[Cell]]
    enrolments: list[SimulatedEnrolment | None] = field(default_factory=list)  # None for a junk row


def visible_enrolments(enrolments: list[SimulatedEnrolment], month: str) -> list[SimulatedEnrolment]:
    """Every enrolment started by the month's last day, in start order."""
    last_day = month_end(month)
    return sorted((e for e in enrolments if e.startdatum <= last_day), key=lambda e: (e.startdatum, e.index))


def canonical_row(enrolment: SimulatedEnrolment, person: SimulatedPerson, month: str, kommunkod: str) -> dict[str, Any]:
    """The row's content in contract terms (dates, canonical codes) as of the month's end."""
    last_day = month_end(month)
    ended = enrolment.slutdatum is not None and enrolment.slutdatum <= last_day
    follow_up_due = ended and enrolment.slutdatum <= month_end(add_months(month, -6))  # type: ignore[operator]
    row: dict[str, Any] = {
        "personnummer": person.personnummer,
        "anonym_id": enrolment.anonym_id,
        "startdatum": enrolment.startdatum,
        "slutdatum": enrolment.slutdatum if ended else None,
        "avslutsorsak": enrolment.avslutsorsak if ended else None,
        "fas": enrolment.fas_at(month),
        "kon": enrolment.kon_written,
        "anteckning": enrolment.anteckning,
        "kommunkod": kommunkod,
        "rapportmanad": month,
    }
    for column, code in enrolment.attributes.items():
        if column == "forsorjningsstod_slut" and not ended:
            continue
        if column == "uppfoljning_6m" and not follow_up_due:
            continue
        row[column] = code
    if not person.anonymous:
        row |= {"fornamn": person.fornamn, "efternamn": person.efternamn, "telefon": person.telefon,
                "epost": person.epost, "adress": person.adress}
    return row


def render_row(row: dict[str, Any], style: DeliveryStyle, rng: random.Random) -> list[Cell]:
    """Cells in the style's column order, spelled the municipality's way."""
    cells: list[Cell] = []
    for column, _ in style.columns:
        value = row.get(column)
        if column == UNKNOWN:
            cells.append(rng.choice(UNITS))
        elif value is None or value == "":
            cells.append(None if style.fmt == "xlsx" else "")
        elif column == "personnummer":
            cells.append(format_personnummer(value, style.pnr_form))
        elif column in DATE_COLUMNS:
            cells.append(render_date(value, style.date_form))
        elif column in CODE_COLUMNS:
            cells.append(render_code(value, style.code_case, rng))
        else:
            cells.append(value)
    return cells


def build_table(enrolments: list[SimulatedEnrolment], persons: dict[int, SimulatedPerson], style: DeliveryStyle,
                month: str, kommunkod: str, rng: random.Random) -> Table:
    visible = visible_enrolments(enrolments, month)
    rows = [render_row(canonical_row(e, persons[e.person_index], month, kommunkod), style, rng) for e in visible]
    return Table([h for _, h in style.columns], [c for c, _ in style.columns], rows, list(visible))
