"""Replace personnummer by keyed pseudonyms, drop direct identifiers, scrub the free-text note.

This is the only code that sees a personnummer. It derives what the KPIs need (birth date → age
at start, kön) and hands on rows that identify no one without the key. Pseudonyms come from the
`pseudonymize` package's deterministic keyed mode (HMAC-SHA256), applied to the canonical
12-digit form so `19121212-1212` and `121212-1212` are one person. Names, phone, e-mail and
address are dropped; the note (`anteckning`) is kept only as scrubbed by privacy/scrub.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pseudonymize.resolution import ResolvedEntity
from pseudonymize.result import Detection, EntityType
from pseudonymize.transforms.alias import AliasContext, DeterministicAliasAssigner

from orchestration.ingest.normalise import month_end, parse_code, parse_date
from orchestration.lib.contract import AVSLUTSORSAK, FAS, KON, OPTIONAL_CODES
from orchestration.lib.mapping_contract import ENROLMENT
from orchestration.privacy import personnummer
from orchestration.privacy.scrub import NoteScrubber

PERSON_NAMESPACE = "followup/person/v1"
ANONYMOUS_NAMESPACE = "followup/anonym/v1"
# pnr_status of a row whose personnummer has the birth number 000 (personnummer.serial_never_issued):
# invalid like OGILTIG, with its own reason code in the row rules.
SERIAL_NEVER_ISSUED = "LOPNUMMER_000"

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
        self._people: dict[str, str] = {}      # canonical personnummer -> pseudonym, this run
        self._spellings: dict[object, tuple] = {}    # a personnummer as written -> _spelling's reading, this run
        self.note_scrubber = NoteScrubber()
        self.note_replacements: dict[str, int] = {}

    def person(self, canonical_personnummer: str) -> str:
        pseudonym = self._people.get(canonical_personnummer)
        if pseudonym is None:
            pseudonym = "P" + self._assign(self._person, self._context, canonical_personnummer)
            self._people[canonical_personnummer] = pseudonym
        return pseudonym

    def spellings(self, raw: np.ndarray) -> list[tuple]:
        """_spelling of each value, each spelling read once per run: a person is in every
        month's snapshot, so in every batch."""
        known = self._spellings
        return [known[value] if value in known else known.setdefault(value, _spelling(value)) for value in raw]

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
    extract_kind: str = ENROLMENT       # lib/mapping_contract.EXTRACT_KINDS: which contract the file follows


def pseudonymise_rows(rows: pd.DataFrame, delivery: DeliveryContext, pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    """Rows of text (reader output) → pseudonymised, typed rows; no identifier leaves this function."""
    return pseudonymise_deliveries([(rows, delivery)], pseudonymiser)


def pseudonymise_deliveries(extracts: list[tuple[pd.DataFrame, DeliveryContext]],
                            pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    """The rows of many deliveries at once, column by column.

    A national backfill is millions of rows in thousands of small files, so nothing here runs
    per row in Python except what is rare (anonymous participants, notes): every text cell goes
    through its parser once per distinct value (a code column has a handful, a date column a
    few thousand), each personnummer is checked once per distinct spelling with the
    reference-month arithmetic done on arrays, and each distinct person is hashed once per run.
    The rules are those of personnummer.parse and ingest/normalise, value for value."""
    stacked = stack(extracts)
    if stacked is None:
        return _typed(pd.DataFrame({column: [] for column in PSEUDONYMISED_COLUMNS}))
    frame, notes = stacked.frame, stacked.notes
    out: dict[str, object] = {"delivery_id": stacked.delivery_ids, "row_number": stacked.row_numbers}

    start, out["startdatum_raw_ok"] = _per_value(frame, "startdatum", _date_of)
    end, out["slutdatum_raw_ok"] = _per_value(frame, "slutdatum", _date_of)
    start, end = start.astype("datetime64[D]"), end.astype("datetime64[D]")
    out["startdatum"], out["slutdatum"] = start, end

    person = identify(stacked, pseudonymiser)
    out.update(person_id=person.person_id, is_anonymous=person.is_anonymous, pnr_status=person.status,
               kon=person.kon_of_row)

    optional: dict[str, np.ndarray] = {}
    for column, codes in OPTIONAL_CODES.items():
        optional[column], unknown = _per_value(frame, column, lambda text, codes=codes: _optional_code(text, codes))
        notes.add(unknown, f"KOD_OKAND:{column}")

    out["age_at_start"] = age_on(person.birth, start)
    out["avslutsorsak"], _ = _per_value(frame, "avslutsorsak", lambda text: (_known_or_raw(parse_code(text), AVSLUTSORSAK), False))
    out["fas"], _ = _per_value(frame, "fas", lambda text: (_known_or_raw(parse_code(text), FAS), False))
    out.update(optional)
    out["kommunkod_in_file"], _ = _per_value(frame, "kommunkod", lambda text: (text or None, False))
    out["rapportmanad_in_file"], _ = _per_value(frame, "rapportmanad", lambda text: (text or None, False))
    out["notes"] = notes.joined()
    out["anteckning"] = scrubbed(frame, "anteckning", pseudonymiser)
    return _typed(pd.DataFrame(out, columns=list(PSEUDONYMISED_COLUMNS)))


@dataclass
class Stacked:
    """The rows of many deliveries as one frame of text, with each row's delivery (`position`
    into `contexts`), the delivery's month end (the reference date of a personnummer) and the
    notes found while reading them. Shared by enrolment and mapping extracts."""

    frame: pd.DataFrame
    contexts: list[DeliveryContext]
    position: np.ndarray
    reference: np.ndarray
    notes: "_Notes"

    @property
    def delivery_ids(self) -> np.ndarray:
        return np.array([d.delivery_id for d in self.contexts], dtype=object)[self.position]

    @property
    def row_numbers(self) -> np.ndarray:
        return self.frame["row_number"].astype("int64").to_numpy()


def stack(extracts: list[tuple[pd.DataFrame, DeliveryContext]]) -> Stacked | None:
    """The deliveries' rows in one frame (None when there are none). A column one file lacks is
    blank in its rows, as a missing column is for one file alone."""
    parts = [rows for rows, _ in extracts if len(rows)]
    if not parts:
        return None
    columns = list(dict.fromkeys(column for part in parts for column in part.columns))
    frame = pd.concat([part.reindex(columns=columns, fill_value="") for part in parts], ignore_index=True)
    lengths = [len(rows) for rows, _ in extracts if len(rows)]
    contexts = [delivery for rows, delivery in extracts if len(rows)]
    position = np.repeat(np.arange(len(contexts)), lengths)
    reference = np.array([np.datetime64(month_end(d.reporting_month), "D") for d in contexts])[position]
    return Stacked(frame, contexts, position, reference, _Notes(len(frame)))


def identify(stacked: Stacked, pseudonymiser: Pseudonymiser) -> "_Persons":
    """Every row's person: the personnummer checked and replaced by its pseudonym (or an
    anonym_id's), birth date and kön derived; a `kon` column overrides the derived kön, and a
    code outside the contract's list is noted (KOD_OKAND:kon) and falls back to it."""
    person = _persons(stacked.frame, stacked.reference, pseudonymiser, stacked.notes)
    person = _anonymous(stacked.frame, stacked.contexts, stacked.position, person, pseudonymiser)
    kon, unknown_kon = _per_value(stacked.frame, "kon", _kon_code)
    stacked.notes.add(unknown_kon, "KOD_OKAND:kon")
    person.kon_of_row = np.where(np.equal(kon, None), person.kon, kon)
    return person


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("startdatum", "slutdatum"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
    frame["age_at_start"] = frame["age_at_start"].astype("Int64")
    frame["row_number"] = frame["row_number"].astype("int64")
    frame["is_anonymous"] = frame["is_anonymous"].astype(bool)
    for column in ("startdatum_raw_ok", "slutdatum_raw_ok"):
        frame[column] = frame[column].astype(bool)
    return frame


def _text(value: object) -> str:
    """A cell as the contract reads it: text, surrounding spaces ignored, blank for a missing value."""
    return str(value or "").strip()


def _per_value(frame: pd.DataFrame, column: str, parse) -> tuple[np.ndarray, np.ndarray]:
    """parse(text) → (value, flag) once per distinct cell value, spread back over the rows."""
    if column not in frame.columns:
        value, flag = parse("")
        return np.full(len(frame), value, dtype=object), np.full(len(frame), flag, dtype=bool)
    codes, uniques = pd.factorize(frame[column].to_numpy(dtype=object), use_na_sentinel=False)
    parsed = [parse(_text(u)) for u in uniques]
    values = np.empty(len(parsed), dtype=object)
    values[:] = [p[0] for p in parsed]
    flags = np.array([bool(p[1]) for p in parsed], dtype=bool)
    return values[codes], flags[codes]


def _date_of(text: str) -> tuple[object, bool]:
    """(numpy day or NaT, the cell was blank or a valid date)."""
    day, ok = parse_date(text)
    return (np.datetime64(day, "D") if day else np.datetime64("NaT", "D")), ok


def _kon_code(text: str) -> tuple[str | None, bool]:
    kon = parse_code(text)
    if kon is not None and kon not in KON:
        return None, True
    return kon, False


def _optional_code(text: str, codes: tuple[str, ...]) -> tuple[str | None, bool]:
    value = parse_code(text)
    if value is not None and value not in codes:
        return "OKAND", True
    return value, False


class _Notes:
    """Normalisation findings per row, in the order the contract's checks run."""

    def __init__(self, n: int):
        self._n = n
        self._marks: list[tuple[np.ndarray, object]] = []

    def add(self, mask: np.ndarray, note: object) -> None:
        """`note` is a string, or an object array of per-row strings (None where no note)."""
        if mask.any():
            self._marks.append((mask, note))

    def joined(self) -> np.ndarray:
        result = np.full(self._n, "", dtype=object)
        for mask, note in self._marks:
            for index in np.flatnonzero(mask):
                text = note if isinstance(note, str) else note[index]
                result[index] = f"{result[index]},{text}" if result[index] else text
        return result


class _Persons:
    def __init__(self, n: int):
        self.person_id = np.full(n, None, dtype=object)
        self.is_anonymous = np.zeros(n, dtype=bool)
        self.status = np.full(n, "OK", dtype=object)
        self.birth = np.full(n, np.datetime64("NaT", "D"))
        self.kon = np.full(n, None, dtype=object)         # from the personnummer
        self.kon_of_row = np.full(n, None, dtype=object)  # the row's kon column, else the above
        self.blank = np.zeros(n, dtype=bool)


def _spelling(raw: object) -> tuple:
    """What personnummer.parse reads from one spelling, before the reference month is known:
    (blank, shape ok, 8-digit date part, '+', year or two-digit year, month, day, check digit ok,
    the rest of the canonical form after the year, birth number never issued)."""
    text = personnummer.clean(raw)
    if text == "":
        return True, False, False, False, 0, 0, 0, False, "", False
    match = personnummer._SHAPE.match(text)
    if not match:
        return False, False, False, False, 0, 0, 0, False, "", False
    date_part, separator, tail = match.groups()
    long_form = len(date_part) == 8
    short = date_part[2:] if long_form else date_part
    year = int(date_part[:4]) if long_form else int(short[:2])
    ten = short + tail
    luhn_ok = personnummer.luhn_check_digit(ten[:9]) == int(ten[9])
    return (False, True, long_form, separator == "+", year, int(short[2:4]), int(short[4:6]), luhn_ok, short[2:] + tail,
            personnummer.serial_never_issued(ten))


def _valid_day(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether (year, month, day) is a date datetime.date accepts."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)] + (leap & (month == 2))
    return (year >= 1) & (year <= 9999) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Valid (year, month, day) as numpy days (proleptic Gregorian, as datetime.date)."""
    y = np.where(month <= 2, year - 1, year).astype(np.int64)
    era = np.floor_divide(y, 400)
    year_of_era = y - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return (era * 146097 + day_of_era - 719468).astype("datetime64[D]")


def _year_month_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    months = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _persons(frame: pd.DataFrame, reference: np.ndarray, pseudonymiser: Pseudonymiser, notes: _Notes) -> _Persons:
    """Validate every personnummer against its delivery's month, derive birth date and kön, and
    replace it by the pseudonym of its canonical 12-digit form (personnummer.parse, on arrays)."""
    n = len(frame)
    persons = _Persons(n)
    raw = frame["personnummer"].to_numpy(dtype=object) if "personnummer" in frame.columns else np.full(n, "", dtype=object)
    codes, uniques = pd.factorize(raw, use_na_sentinel=False)
    spelled = list(zip(*pseudonymiser.spellings(uniques))) if len(uniques) else [[]] * 10
    blank, shape_ok, long_form, plus, year_digits, month, day, luhn_ok = (
        np.asarray(column)[codes] for column in spelled[:8])
    rest = np.asarray(spelled[8], dtype=object)
    never_issued = np.asarray(spelled[9], dtype=bool)[codes]
    persons.blank = blank.astype(bool)
    shape_ok = shape_ok.astype(bool)
    long_form = long_form.astype(bool)
    month = month.astype(np.int64)
    birth_day = np.where(day > 60, day - 60, day).astype(np.int64)
    ref_year, ref_month, ref_day = _year_month_day(reference)
    century = ref_year - ((ref_year - year_digits) % 100) - np.where(plus.astype(bool), 100, 0)
    year = np.where(long_form, year_digits, century).astype(np.int64)
    valid_date = _valid_day(year, month, birth_day)
    birth = np.full(n, np.datetime64("NaT", "D"))
    birth[valid_date] = _days(year[valid_date], month[valid_date], birth_day[valid_date])
    # a 10-digit number whose birthday falls after the reference date is a century older
    later = valid_date & ~long_form & (birth > reference)
    year = np.where(later, year - 100, year)
    still_valid = _valid_day(year, month, birth_day)
    valid_date = valid_date & (~later | still_valid)
    birth = np.where(valid_date, birth, np.datetime64("NaT", "D"))
    birth[later & valid_date] = _days(year[later & valid_date], month[later & valid_date], birth_day[later & valid_date])
    after_reference = valid_date & (birth > reference)

    checked = shape_ok & ~persons.blank
    reason = np.full(n, None, dtype=object)
    wrong_shape = ~shape_ok & ~persons.blank
    wrong_date = checked & ~valid_date
    wrong_check_digit = checked & valid_date & ~luhn_ok.astype(bool)
    born_later = checked & valid_date & luhn_ok.astype(bool) & after_reference
    serial_zero = checked & valid_date & luhn_ok.astype(bool) & ~after_reference & never_issued
    reason[wrong_shape] = "PNR:har inte formen ÅÅMMDD-NNNN eller ÅÅÅÅMMDDNNNN"
    reason[wrong_date] = "PNR:datumdelen är inget giltigt datum"
    reason[wrong_check_digit] = "PNR:kontrollsiffran stämmer inte"
    reason[born_later] = "PNR:födelsedatumet ligger efter rapportmånaden"
    reason[serial_zero] = f"PNR:{personnummer.SERIAL_NEVER_ISSUED_REASON}"
    invalid = wrong_shape | wrong_date | wrong_check_digit | born_later | serial_zero
    notes.add(invalid, reason)
    persons.status[invalid] = "OGILTIG"
    persons.status[serial_zero] = SERIAL_NEVER_ISSUED       # its own reason code (expectations/)
    valid = checked & ~invalid
    persons.birth = np.where(valid, birth, np.datetime64("NaT", "D"))

    # one pseudonym per distinct canonical form (year + the rest), hashed once per run
    spellings = max(len(uniques), 1)
    keys, canonical_index = np.unique(year[valid] * spellings + codes[valid], return_inverse=True)
    canonical = [f"{int(key // spellings):04d}{rest[int(key % spellings)]}" for key in keys]
    pseudonyms = np.array([pseudonymiser.person(value) for value in canonical] or [None], dtype=object)
    kon = np.array(["M" if int(value[10]) % 2 == 1 else "K" for value in canonical] or [None], dtype=object)
    persons.person_id[valid] = pseudonyms[canonical_index.ravel()]
    persons.kon[valid] = kon[canonical_index.ravel()]
    persons.status[persons.blank] = "SAKNAS"
    return persons


def _anonymous(frame: pd.DataFrame, contexts: list[DeliveryContext], position: np.ndarray, persons: _Persons,
               pseudonymiser: Pseudonymiser) -> _Persons:
    """A blank personnummer with an anonym_id: unique within its project and municipality."""
    if "anonym_id" not in frame.columns or not persons.blank.any():
        return persons
    anonym = frame["anonym_id"].to_numpy(dtype=object)
    for index in np.flatnonzero(persons.blank):
        text = _text(anonym[index])
        if text:
            delivery = contexts[position[index]]
            persons.person_id[index] = pseudonymiser.anonymous(delivery.project_id, delivery.kommunkod, text)
            persons.is_anonymous[index] = True
            persons.status[index] = "ANONYM"
    return persons


def age_on(birth: np.ndarray, start: np.ndarray) -> pd.array:
    """personnummer.age_on(birth, start) where both are known."""
    known = ~np.isnat(birth) & ~np.isnat(start)
    age = pd.array(np.full(len(birth), pd.NA), dtype="Int64")
    if known.any():
        by, bm, bd = _year_month_day(birth[known])
        sy, sm, sd = _year_month_day(start[known])
        earlier_in_year = (sm < bm) | ((sm == bm) & (sd < bd))
        age[known] = sy - by - earlier_in_year.astype(np.int64)
    return age


def scrubbed(frame: pd.DataFrame, column: str, pseudonymiser: Pseudonymiser) -> np.ndarray:
    """Each non-blank cell of a free-text column (the note `anteckning`, a mapping's free-text
    answer) scrubbed with its row's own names and street (privacy/scrub.py); None where blank."""
    result = np.full(len(frame), None, dtype=object)
    if column not in frame.columns:
        return result
    notes = frame[column].to_numpy(dtype=object)
    present = [i for i, note in enumerate(notes)
               if note is not None and str(note).strip() and str(note).strip().lower() != "nan"]
    columns = {c: frame[c].to_numpy(dtype=object) if c in frame.columns else None for c in ("fornamn", "efternamn", "adress")}
    for index in present:
        words = [_text(columns[c][index]) if columns[c] is not None else "" for c in ("fornamn", "efternamn", "adress")]
        note = pseudonymiser.note_scrubber.scrub(notes[index], *words)
        for label, count in note.replaced.items():
            pseudonymiser.note_replacements[label] = pseudonymiser.note_replacements.get(label, 0) + count
        result[index] = note.text
    return result


def _known_or_raw(code: str | None, known: tuple[str, ...]) -> str | None:
    """A known code as is; an unknown one kept (validation rejects it) but cut short, since a
    free-typed cell could hold anything."""
    if code is None or code in known:
        return code
    return code[:40] if re.fullmatch(r"[A-Z_]{1,40}", code[:40]) else "OGILTIGT_VARDE"
