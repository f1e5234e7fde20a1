"""Replace personnummer by keyed pseudonyms, drop direct identifiers, scrub the free-text note.

This is the only code that sees a personnummer. It derives what the KPIs need (birth date → age
at start, kön) and hands on rows that identify no one without the key. Pseudonyms come from the
`pseudonymize` package's deterministic keyed mode (HMAC-SHA256), applied to the canonical
12-digit form so `19121212-1212` and `121212-1212` are one person. Names, phone, e-mail and
address are dropped; the note (`anteckning`) is kept only as scrubbed by privacy/scrub.py.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd
from pseudonymize.resolution import ResolvedEntity
from pseudonymize.result import Detection, EntityType
from pseudonymize.transforms.alias import AliasContext, DeterministicAliasAssigner

from orchestration.ingest.normalise import month_end, parse_code, parse_date
from orchestration.lib.contract import AVSLUTSORSAK, FAS, KON, OPTIONAL_CODES
from orchestration.privacy import personnummer
from orchestration.privacy.scrub import NoteScrubber

PERSON_NAMESPACE = "followup/person/v1"
ANONYMOUS_NAMESPACE = "followup/anonym/v1"

PSEUDONYMISED_COLUMNS = (
    "delivery_id", "row_number", "person_id", "is_anonymous", "pnr_status", "kon", "age_at_start",
    "startdatum", "startdatum_raw_ok", "slutdatum", "slutdatum_raw_ok", "avslutsorsak", "fas",
    *OPTIONAL_CODES.keys(), "kommunkod_in_file", "rapportmanad_in_file", "notes", "anteckning",
)


class Pseudonymiser:
    """Keyed pseudonyms; each distinct value is hashed once per instance (one run)."""

    def __init__(self, key: bytes):
        self._person = DeterministicAliasAssigner(key, PERSON_NAMESPACE)
        self._anonymous = DeterministicAliasAssigner(key, ANONYMOUS_NAMESPACE)
        self._context = AliasContext()
        self._anonymous_context = AliasContext()
        self.note_scrubber = NoteScrubber()
        self.note_replacements: dict[str, int] = {}

    def person(self, canonical_personnummer: str) -> str:
        return "P" + self._assign(self._person, self._context, canonical_personnummer)

    def anonymous(self, project_id: str, kommunkod: str, anonym_id: str) -> str:
        """Unique within the municipality and project only: never linkable across them."""
        value = f"{project_id}|{kommunkod}|{anonym_id.strip().upper()}"
        return "A" + self._assign(self._anonymous, self._anonymous_context, value)

    @staticmethod
    def _assign(assigner: DeterministicAliasAssigner, context: AliasContext, value: str) -> str:
        detection = Detection(EntityType.NATIONAL_ID, 0, max(len(value), 1), 1.0, "followup")
        return assigner.assign(ResolvedEntity(detection, value), context).identifier or ""


@dataclass(frozen=True)
class DeliveryContext:
    delivery_id: str
    project_id: str
    kommunkod: str
    reporting_month: str


def pseudonymise_rows(rows: pd.DataFrame, delivery: DeliveryContext, pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    """Rows of text (reader output) → pseudonymised, typed rows; no identifier leaves this function."""
    reference = month_end(delivery.reporting_month)
    records = [
        _pseudonymise_row(row, delivery, reference, pseudonymiser)
        for row in rows.to_dict(orient="records")
    ]
    frame = pd.DataFrame.from_records(records, columns=list(PSEUDONYMISED_COLUMNS))
    for column in ("startdatum", "slutdatum"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    frame["age_at_start"] = frame["age_at_start"].astype("Int64")
    frame["row_number"] = frame["row_number"].astype("int64")
    return frame


def _pseudonymise_row(row: dict, delivery: DeliveryContext, reference: dt.date, pseudonymiser: Pseudonymiser) -> dict:
    notes: list[str] = []
    text = lambda column: str(row.get(column, "") or "").strip()  # noqa: E731
    startdatum, startdatum_ok = parse_date(text("startdatum"))
    slutdatum, slutdatum_ok = parse_date(text("slutdatum"))

    person_id, is_anonymous, pnr_status, birth_date, derived_kon = None, False, "OK", None, None
    raw_pnr = row.get("personnummer", "")
    if personnummer.clean(raw_pnr) == "":
        if text("anonym_id"):
            person_id = pseudonymiser.anonymous(delivery.project_id, delivery.kommunkod, text("anonym_id"))
            is_anonymous, pnr_status = True, "ANONYM"
        else:
            pnr_status = "SAKNAS"
    else:
        try:
            parsed = personnummer.parse(raw_pnr, reference)
        except personnummer.InvalidPersonnummer as invalid:
            pnr_status = "OGILTIG"
            notes.append(f"PNR:{invalid.reason}")
        else:
            person_id = pseudonymiser.person(parsed.canonical)
            birth_date, derived_kon = parsed.birth_date, parsed.kon

    kon = parse_code(text("kon"))
    if kon is not None and kon not in KON:
        notes.append("KOD_OKAND:kon")
        kon = None
    kon = kon or derived_kon

    optional: dict[str, str | None] = {}
    for column, codes in OPTIONAL_CODES.items():
        value = parse_code(text(column))
        if value is not None and value not in codes:
            notes.append(f"KOD_OKAND:{column}")
            value = "OKAND"
        optional[column] = value

    note = pseudonymiser.note_scrubber.scrub(row.get("anteckning"), text("fornamn"), text("efternamn"), text("adress"))
    for label, count in note.replaced.items():
        pseudonymiser.note_replacements[label] = pseudonymiser.note_replacements.get(label, 0) + count

    return {
        "delivery_id": delivery.delivery_id,
        "row_number": int(row["row_number"]),
        "person_id": person_id,
        "is_anonymous": is_anonymous,
        "pnr_status": pnr_status,
        "kon": kon,
        "age_at_start": personnummer.age_on(birth_date, startdatum) if birth_date and startdatum else None,
        "startdatum": startdatum,
        "startdatum_raw_ok": startdatum_ok,
        "slutdatum": slutdatum,
        "slutdatum_raw_ok": slutdatum_ok,
        "avslutsorsak": _known_or_raw(parse_code(text("avslutsorsak")), AVSLUTSORSAK),
        "fas": _known_or_raw(parse_code(text("fas")), FAS),
        **optional,
        "kommunkod_in_file": text("kommunkod") or None,
        "rapportmanad_in_file": text("rapportmanad") or None,
        "notes": ",".join(notes),
        "anteckning": note.text,
    }


def _known_or_raw(code: str | None, known: tuple[str, ...]) -> str | None:
    """A known code as is; an unknown one kept (validation rejects it) but cut short, since a
    free-typed cell could hold anything."""
    if code is None or code in known:
        return code
    return code[:40] if re.fullmatch(r"[A-Z_]{1,40}", code[:40]) else "OGILTIGT_VARDE"
