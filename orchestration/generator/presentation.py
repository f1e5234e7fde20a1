"""What a municipality's list shows about each enrolment beyond the facts: kon blanks, notes.

Decided once per enrolment (not per month) so that every snapshot of a municipality tells
the same story, and recorded on the enrolment so the truth matches what was written.
"""

from __future__ import annotations

import random

from orchestration.generator.model import SimulatedEnrolment, SimulatedPerson
from orchestration.generator.styles import DeliveryStyle

NOTES_WITH_NAME = (
    "{fornamn} kom på första mötet, vi pratade om CV och körkort",
    "Ringde {fornamn}; inget svar, skickade sms",
    "{fornamn} vill läsa in gymnasiet på Komvux",
    "Hembesök hos {fornamn} tillsammans med socialsekreterare",
    "{fornamn} har fått praktikplats på ett lager",
)
NOTES_WITH_CONTACT = (
    "Nås bäst på {telefon} efter kl 10",
    "Vill ha kallelser till {epost}",
)
NOTES_GENERIC = (
    "Behöver stöd med CV och personligt brev",
    "Bokat trepartssamtal med Arbetsförmedlingen",
    "Väntar på utredning från vården",
    "Motiverad, vill arbeta inom vården",
    "Uteblev från två möten; ny tid bokad",
)


def choose_written_values(enrolments: list[SimulatedEnrolment], persons: dict[int, SimulatedPerson],
                          styles: dict[tuple[str, str], DeliveryStyle], rng: random.Random) -> None:
    """Fill kon_written, anteckning and the attributes the municipality's columns carry."""
    for enrolment in enrolments:
        style = styles[(enrolment.project_id, enrolment.kommunkod)]
        person = persons[enrolment.person_index]
        enrolment.kon_written = _kon_cell(person, style, rng)
        enrolment.attributes = {k: v for k, v in enrolment.attributes.items() if style.has(k)}
        enrolment.anteckning = _note(person, style, rng) if style.has("anteckning") else None


def _kon_cell(person: SimulatedPerson, style: DeliveryStyle, rng: random.Random) -> str | None:
    """Blank sometimes (then derived from the personnummer); someone reporting X is never blank."""
    if not style.has("kon"):
        return None
    if person.kon_reported == "X":
        return "X"
    return None if rng.random() < style.kon_blank_rate else person.kon_reported


def _note(person: SimulatedPerson, style: DeliveryStyle, rng: random.Random) -> str | None:
    draw = rng.random()
    if draw < 0.5:
        return None
    if person.anonymous:
        return rng.choice(NOTES_GENERIC)
    if draw < 0.78 and style.has("fornamn"):
        return rng.choice(NOTES_WITH_NAME).format(fornamn=person.fornamn)
    if draw < 0.88:
        return rng.choice(NOTES_WITH_CONTACT).format(telefon=person.telefon, epost=person.epost)
    return rng.choice(NOTES_GENERIC)
