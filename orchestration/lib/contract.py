"""The vocabulary of the monthly extract contract (shared/spec/extract-contract.md v1).

Kept in one place so the reader, the validator, the generator and the dbt tests agree.
"""

from __future__ import annotations

import functools
import re
import unicodedata

FAS = ("HITTA", "MOTA", "AKTIVERA", "MATCHA")

AVSLUTSORSAK = (
    "ARBETE",
    "STUDIER",
    "PRAKTIK",
    "ARBETSMARKNADSPROGRAM",
    "ANNAN_INSATS",
    "OHALSA",
    "FLYTT",
    "AVBROTT",
    "EJ_KONTAKT",
    "OVRIGT",
    "FELREGISTRERING",
)

KON = ("K", "M", "X")

OPTIONAL_CODES: dict[str, tuple[str, ...]] = {
    "fodelseregion": ("SVERIGE", "EU_EES", "TREDJELAND", "OKAND"),
    "funktionsnedsattning": ("JA", "NEJ", "OKAND"),
    "utbildningsniva": ("ISCED_0_2", "ISCED_3_4", "ISCED_5_8", "OKAND"),
    "sysselsattning_start": ("ARBETSLOS_AF", "INAKTIV", "STUDERAR", "ARBETAR", "OKAND"),
    "forsorjningsstod_start": ("JA", "NEJ", "OKAND"),
    "forsorjningsstod_slut": ("JA", "NEJ", "OKAND"),
    "uppfoljning_6m": ("ARBETE", "STUDIER", "PRAKTIK", "ARBETSMARKNADSPROGRAM",
                       "ANNAN_INSATS", "UTAN_SYSSELSATTNING", "EJ_NADD"),
}

REQUIRED_COLUMNS = ("personnummer", "startdatum", "fas")

# Canonical column -> accepted aliases (already in normalised form, see normalise_name).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "personnummer": ("pnr", "personnr", "person_nr"),
    "startdatum": ("inskrivningsdatum", "inskrivningsdag"),
    "fas": ("steg",),
    "kon": (),
    "slutdatum": ("avslutsdatum", "utskrivningsdatum"),
    "avslutsorsak": ("avslutsanledning",),
    "fodelseregion": ("fodelseland",),
    "funktionsnedsattning": (),
    "utbildningsniva": (),
    "sysselsattning_start": (),
    "forsorjningsstod_start": ("forsorjningsstod",),
    "forsorjningsstod_slut": (),
    "uppfoljning_6m": (),
    "anonym_id": (),
    "anteckning": ("kommentar", "notering"),
    "fornamn": ("namn",),
    "efternamn": (),
    "telefon": ("mobil",),
    "epost": ("e_post",),
    "adress": ("gatuadress",),
    "kommunkod": (),
    "rapportmanad": (),
}

_ALIAS_TO_COLUMN = {
    alias: column for column, aliases in COLUMN_ALIASES.items() for alias in (column, *aliases)
}


def normalise_name(value: str) -> str:
    """Fold a header or code the way the contract matches them.

    Case-insensitive, surrounding spaces ignored, å/ä→a, ö→o, spaces and hyphens→`_`.
    Other diacritics (é in "Möta" typed as "Méta" does not happen; ü does) fold to ASCII too.
    """
    text = value.strip().lower()
    text = text.replace("å", "a").replace("ä", "a").replace("ö", "o")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[\s\-]+", "_", text)
    return text


@functools.lru_cache(maxsize=8192)
def canonical_column(header: str) -> str | None:
    """The contract column a header names, or None for an unknown column."""
    return _ALIAS_TO_COLUMN.get(normalise_name(header))


def normalise_code(value: str) -> str:
    """A code value in canonical form (`Möta` → `MOTA`)."""
    return normalise_name(value).upper()


# A delivery's processing status (landing.deliveries.status): recorded by intake, pseudonymised
# by the privacy stage, validated by the quality stage.
RECEIVED = "RECEIVED"
PSEUDONYMISED = "PSEUDONYMISED"
VALIDATED = "VALIDATED"
STATUSES = (RECEIVED, PSEUDONYMISED, VALIDATED)

# A file's verdict (landing.deliveries.verdict), given when it is validated.
ACCEPTED = "ACCEPTED"
ACCEPTED_WITH_WARNINGS = "ACCEPTED_WITH_WARNINGS"     # rows rejected or warned, not too many
REJECTED = "REJECTED"                                 # the whole file does not count
VERDICTS = (ACCEPTED, ACCEPTED_WITH_WARNINGS, REJECTED)
# A validated delivery with one of these verdicts counts: it can be the snapshot in force.
COUNTING_VERDICTS = (ACCEPTED, ACCEPTED_WITH_WARNINGS)
