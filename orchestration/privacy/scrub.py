"""Scrub a case worker's free-text note (`anteckning`) before it is stored.

The note is worth keeping ("Bokat trepartssamtal med Arbetsförmedlingen"), but case workers
write names, numbers and addresses into it. We run the `pseudonymize` package with a policy
restricted to what the contract names (extract-contract.md, "Personal data"):

- a Swedish personnummer or samordningsnummer, 10 or 12 digits, with `-`, `+` or spaces, whose
  date part is a real date, whose check digit holds and whose birth number is not 000 (our
  detector, below: the same rule as the row rules');
- a phone number (the package's phone detector, kept only when the digits have the shape of a
  Swedish number, so dates, times and amounts survive; plus unseparated mobile numbers);
- an e-mail address (the package's detector);
- the first name, surname and street of the same row (and their genitive, "Alvinas").

Nothing else is detected: the package's default detectors (places, organisations, gazetteers)
would turn "Arbetsförmedlingen i Östersund" into placeholders and make the note useless.
What is found is replaced by a label in Swedish ("[namn]", "[telefon]"); the label carries no
key and no number, so two notes cannot be linked through it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pseudonymize import Policy, Pseudonymizer
from pseudonymize.detectors.email import EmailDetector
from pseudonymize.detectors.phone import PhoneDetector
from pseudonymize.resolution import ResolvedEntity
from pseudonymize.result import Detection, EntityType
from pseudonymize.transforms.alias import Alias

from orchestration.privacy.personnummer import luhn_check_digit, serial_never_issued

LABELS = {
    EntityType.NATIONAL_ID: "[personnummer]",
    EntityType.PHONE: "[telefon]",
    EntityType.EMAIL: "[e-post]",
    EntityType.PERSON: "[namn]",
    EntityType.LOCATION: "[adress]",
}
UNSCRUBBABLE = "[anteckningen kunde inte rensas och sparades inte]"
POLICY = Policy(entity_types=frozenset(LABELS), minimum_confidence=0.5)

# Letters may touch the number ("pnr050312-1234"); digits, '+' and '-' may not (longer numbers).
_PNR = re.compile(r"(?<![\d+\-])(\d{2})?(\d{6})[ \u00a0]?([-+]?)[ \u00a0]?(\d{4})(?!\d)")
_DATE_LIKE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}[./-]\d{1,2}[./-]\d{1,2}")
_TIME_RANGE = re.compile(r"\d{1,2}[.:]\d{2}\s*-\s*\d{1,2}[.:]\d{2}")
# A Swedish mobile number however it is spaced ("0701234567", "070/123 45 67", "+4670-1234567").
_MOBILE = re.compile(r"(?<![\d+])(?:\+46[ \-]?|0046[ \-]?|0)7[02369](?:[ \-/]?\d){7}(?!\d)")


@dataclass(frozen=True, slots=True)
class PersonnummerDetector:
    """Swedish personnummer and samordningsnummer (day + 60) in running text, check digit verified."""

    name: str = "personnummer"

    def detect(self, text: str) -> list[Detection]:
        return [
            Detection(EntityType.NATIONAL_ID, match.start(), match.end(), 0.99, self.name)
            for match in _PNR.finditer(text)
            if is_personnummer(match.group(1), match.group(2), match.group(4))
        ]


def is_personnummer(century: str | None, date_part: str, tail: str) -> bool:
    """A real date (samordningsnummer: day + 60), a Luhn check digit over the 10-digit form and a
    birth number other than 000: what the row rules accept (personnummer.py), nothing else."""
    ten = date_part + tail
    if luhn_check_digit(ten[:9]) != int(ten[9]) or serial_never_issued(ten):
        return False
    year, month, day = int(date_part[:2]), int(date_part[2:4]), int(date_part[4:6])
    if day > 60:
        day -= 60
    if century is not None:
        if century not in ("18", "19", "20"):
            return False
        years = [int(century) * 100 + year]
    else:
        years = [1900 + year, 2000 + year]
    for full_year in years:
        try:
            dt.date(full_year, month, day)
            return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True, slots=True)
class SwedishPhoneDetector:
    """The package's phone detector, kept to Swedish numbers: 0 + 7–10 digits, or +46/0046.

    Its pattern also matches dates (2019-03-15), times (08.30-09.15) and amounts (1 250 000),
    which a note must keep.
    """

    name: str = "phone"
    inner: PhoneDetector = field(default_factory=PhoneDetector)

    def detect(self, text: str) -> list[Detection]:
        # A valid personnummer is one, even when it could be dialled ("121212-1212", Skatteverket's test number): one label.
        taken = [(d.start, d.end) for d in PersonnummerDetector().detect(text)]
        found = [d for d in self.inner.detect(text) if _swedish_phone(text[d.start:d.end])
                 and not any(start < d.end and d.start < end for start, end in taken)]
        taken += [(d.start, d.end) for d in found]
        for match in _MOBILE.finditer(text):   # what the package skips: 0701234567, 070/1234567
            if not any(start < match.end() and match.start() < end for start, end in taken):
                found.append(Detection(EntityType.PHONE, match.start(), match.end(), 0.86, self.name))
        return found


def _swedish_phone(value: str) -> bool:
    stripped = value.strip()
    if _DATE_LIKE.fullmatch(stripped) or _TIME_RANGE.fullmatch(stripped):
        return False
    digits = "".join(ch for ch in stripped if ch.isdigit())
    if stripped.startswith("+"):
        return digits.startswith("46") and 9 <= len(digits) <= 12
    if digits.startswith("0046"):
        return 11 <= len(digits) <= 14
    return digits.startswith("0") and not digits.startswith("00") and 8 <= len(digits) <= 11


@dataclass(frozen=True, slots=True)
class RowIdentifierDetector:
    """The names and the street given in the same row, case-insensitive, with Swedish genitive."""

    names: tuple[str, ...] = ()
    streets: tuple[str, ...] = ()
    name: str = "row_identifiers"

    def detect(self, text: str) -> list[Detection]:
        found: list[Detection] = []
        for words, entity_type in ((self.streets, EntityType.LOCATION), (self.names, EntityType.PERSON)):
            if not words:
                continue
            alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
            pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?::?s)?(?!\w)", re.IGNORECASE)
            found += [Detection(entity_type, m.start(), m.end(), 0.95, self.name) for m in pattern.finditer(text)]
        return found


@dataclass(frozen=True, slots=True)
class _SwedishLabel:
    """Render every finding as a fixed label: no alias, no counter, nothing to link notes by."""

    def render(self, entity: ResolvedEntity, alias: Alias) -> str:
        return LABELS[entity.detection.entity_type]


@dataclass(frozen=True)
class ScrubbedNote:
    text: str | None
    replaced: dict[str, int]   # label -> how many were replaced (counts only)


def row_words(fornamn: str = "", efternamn: str = "") -> tuple[str, ...]:
    """The name parts of a row: 'Anna-Karin Lind Berg' → Anna-Karin, Anna, Karin, Lind, Berg."""
    words: set[str] = set()
    for value in (fornamn, efternamn):
        for token in value.split():
            token = token.strip(".,;:()\"'")
            if len(token) >= 2:
                words.add(token)
            words.update(part for part in re.split(r"[^\w]+", token) if len(part) >= 2 and not part.isdigit())
    return tuple(sorted(words))


def street_words(adress: str = "") -> tuple[str, ...]:
    """The street of an address ('Granstigen 12 B' → 'Granstigen 12 B', 'Granstigen')."""
    adress = adress.strip()
    if not adress:
        return ()
    street = re.split(r"\d", adress, maxsplit=1)[0].strip(" ,")
    return tuple(w for w in {adress, street} if len(w) >= 4)


class NoteScrubber:
    """One scrubber per run; `scrub` takes the row's own names and street."""

    def __init__(self) -> None:
        self._structured = (PersonnummerDetector(), SwedishPhoneDetector(), EmailDetector())
        self._plain = self._engine(self._structured)

    @staticmethod
    def _engine(detectors: Iterable) -> Pseudonymizer:
        return Pseudonymizer(mode="generic", policy=POLICY, detectors=tuple(detectors),
                             transformer=_SwedishLabel(), enable_coreference=False)

    def scrub(self, note: object, fornamn: str = "", efternamn: str = "", adress: str = "") -> ScrubbedNote:
        text = "" if note is None else str(note).strip()
        if not text or text.lower() == "nan":
            return ScrubbedNote(None, {})
        names, streets = row_words(fornamn, efternamn), street_words(adress)
        try:
            engine = self._engine((*self._structured, RowIdentifierDetector(names, streets))) \
                if names or streets else self._plain
            result = engine.process(text)
        except Exception:  # noqa: BLE001 - fail closed: a note we cannot scrub is not stored
            return ScrubbedNote(UNSCRUBBABLE, {})
        replaced: dict[str, int] = {}
        for replacement in result.replacements:
            label = LABELS[replacement.detection.entity_type]
            replaced[label] = replaced.get(label, 0) + 1
        # The package trims a leading '+' off a match ("+46 70 …" → "+[telefon]"); drop it too.
        return ScrubbedNote(result.text.replace("+" + LABELS[EntityType.PHONE], LABELS[EntityType.PHONE]), replaced)
