"""What a municipality's list shows about each enrolment beyond the facts: kon blanks, notes.

Notes are written the way case workers write them: with the person's name, number, phone,
e-mail or street in them (so the pipeline's scrubbing has something to find), and with dates,
amounts and counts that must survive it.

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
# What case workers add to a note. Each needs the row's columns named after it (a name the row
# does not carry cannot be recognised as the row's, so the generator does not write one).
DETAILS_IDENTIFYING = (
    ((), "Rätt personnummer är {pnr}, listan hade fel"),
    ((), "Samma person som pnr {pnr} i förra listan"),
    ((), "Nytt nummer {telefon_form}"),
    ((), "Mejlade {epost} om nästa tid"),
    (("fornamn", "efternamn"), "Pratade med {fornamn} {efternamn} om boende"),
    (("efternamn",), "Familjen {efternamn} har flyttat inom kommunen"),
    (("fornamn",), "{fornamn}s mamma ringde och lämnade besked"),
    (("adress",), "Hembesök på {adress} den {datum}"),
)
# Numbers and words a scrubber must leave alone: dates, times, amounts, counts, postal numbers,
# a case number, and a ten-digit invoice number with a real date whose check digit does not hold.
DETAILS_HARMLESS = (
    "Möte {datum} kl 13.30-14.15",
    "Aktivitetsstöd 4 500 kr/mån från {datum}",
    "Fick 3 st busskort",
    "Kursstart vecka 34 i 831 45 Östersund",
    "Ärende 2018/1234 hos Försäkringskassan",
    "Faktura 1512311234 till ekonomi",
)
HARMLESS_KEPT = ("13.30-14.15", "4 500 kr", "3 st", "831 45", "2018/1234", "1512311234")


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
        base = rng.choice(NOTES_GENERIC)
    elif draw < 0.78 and style.has("fornamn"):
        base = rng.choice(NOTES_WITH_NAME).format(fornamn=person.fornamn)
    elif draw < 0.88:
        base = rng.choice(NOTES_WITH_CONTACT).format(telefon=person.telefon, epost=person.epost)
    else:
        base = rng.choice(NOTES_GENERIC)
    # The details come from a stream of their own (seeded by this note's draw), so the
    # simulation's stream, and with it every other written value, is the same as without them.
    return ". ".join([base, *_details(person, style, random.Random(int(draw * 2**53)))])


def _details(person: SimulatedPerson, style: DeliveryStyle, detail_rng: random.Random) -> list[str]:
    """Up to two further sentences: the person's own identifiers in some written form, or
    harmless numbers; never an identifier the row itself does not carry in a column."""
    values = {
        "datum": f"{detail_rng.randint(2015, 2019)}-{detail_rng.randint(1, 12):02d}-{detail_rng.randint(1, 28):02d}",
        "fornamn": person.fornamn, "efternamn": person.efternamn, "adress": person.adress,
        "epost": person.epost, "telefon_form": _phone_form(person.telefon, detail_rng),
        "pnr": _pnr_form(person.personnummer, detail_rng) if person.personnummer else "",
    }
    sentences = []
    if not person.anonymous and detail_rng.random() < 0.45:
        usable = [t for needs, t in DETAILS_IDENTIFYING if all(style.has(c) for c in needs)]
        sentences.append(detail_rng.choice(usable).format(**values))
    if detail_rng.random() < 0.35:
        sentences.append(detail_rng.choice(DETAILS_HARMLESS).format(**values))
    return sentences


def _pnr_form(pnr12: str, detail_rng: random.Random) -> str:
    ten = pnr12[2:]
    return detail_rng.choice((f"{ten[:6]}-{ten[6:]}", ten, pnr12, f"{pnr12[:8]}-{pnr12[8:]}", f"{ten[:6]} {ten[6:]}"))


def _phone_form(telefon: str, detail_rng: random.Random) -> str:
    """The mobile number written another way: digits only, +46, or with other spacing."""
    digits = "".join(ch for ch in telefon if ch.isdigit())
    return detail_rng.choice((digits, f"+46 {digits[1:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}",
                              f"{digits[:3]}-{digits[3:]}", f"+46{digits[1:]}", telefon))
