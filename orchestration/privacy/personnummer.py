"""Personnummer and samordningsnummer: validate, place in a century, derive birth date and kön.

Our own code rather than the `personnummer` package: that package places a 10-digit number
relative to *today*, while the contract places it relative to the end of the *reporting month*
(a delivery from 2016 must not age its participants by the years since). The check itself is
the standard one: Luhn over the 10-digit form, and a real date (day + 60 for samordningsnummer);
and the birth number (the three digits before the check digit) is never 000, which Skatteverket
never issues (`serial_never_issued`, read by the row rules and by the free-text scrubber).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_SHAPE = re.compile(r"^(\d{6}|\d{8})([-+]?)(\d{4})$")


@dataclass(frozen=True)
class Personnummer:
    canonical: str            # 12 digits, YYYYMMDDNNNC, no separator
    birth_date: dt.date
    kon: str                  # 'M' when the 9th digit of the 12-digit form is odd, else 'K'
    is_samordningsnummer: bool


SERIAL_NEVER_ISSUED_REASON = "löpnumret (de tre siffrorna före kontrollsiffran) är 000, som aldrig delas ut"


class InvalidPersonnummer(ValueError):
    """A value that is not a valid personnummer; `reason` is a short Swedish phrase, no digits."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


NEVER_ISSUED_SERIAL = "000"


def serial_never_issued(ten_digits: str) -> bool:
    """Whether the birth number of a 10-digit form YYMMDDNNNC is 000: a valid check digit, but no
    person has it (a typing error or a made-up number)."""
    return ten_digits[6:9] == NEVER_ISSUED_SERIAL


def luhn_check_digit(nine_digits: str) -> int:
    total = 0
    for index, char in enumerate(nine_digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def clean(value: object) -> str:
    """The text of a cell with spaces removed; numbers from Excel regain their leading zeros."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        value = int(value) if value.is_integer() else value
    text = str(value).strip().replace(" ", "").replace("\u00a0", "")
    if text.isdigit() and len(text) < 10:
        text = text.zfill(10)  # Excel dropped the zeros of a person born 2000–2009
    return text


def parse(value: object, reference: dt.date) -> Personnummer:
    """Validate and normalise; `reference` is the last day of the reporting month.

    Raises InvalidPersonnummer with a reason that never repeats the number itself.
    """
    text = clean(value)
    match = _SHAPE.match(text)
    if not match:
        raise InvalidPersonnummer("har inte formen ÅÅMMDD-NNNN eller ÅÅÅÅMMDDNNNN")
    date_part, separator, tail = match.groups()
    if len(date_part) == 8:
        century_year, short = int(date_part[:4]), date_part[2:]
    else:
        short = date_part
        century_year = _place_in_century(int(short[:2]), reference, older_than_100=separator == "+")
    month, day = int(short[2:4]), int(short[4:6])
    is_samordningsnummer = day > 60
    birth_day = day - 60 if is_samordningsnummer else day
    try:
        birth_date = dt.date(century_year, month, birth_day)
        if len(date_part) == 6 and birth_date > reference:
            century_year -= 100  # born later in the year than the reference: a century earlier
            birth_date = dt.date(century_year, month, birth_day)
    except ValueError:
        raise InvalidPersonnummer("datumdelen är inget giltigt datum")
    ten = short + tail
    if luhn_check_digit(ten[:9]) != int(ten[9]):
        raise InvalidPersonnummer("kontrollsiffran stämmer inte")
    if serial_never_issued(ten):
        raise InvalidPersonnummer(SERIAL_NEVER_ISSUED_REASON)
    if birth_date > reference:
        raise InvalidPersonnummer("födelsedatumet ligger efter rapportmånaden")
    canonical = f"{century_year:04d}{short[2:]}{tail}"
    return Personnummer(
        canonical=canonical,
        birth_date=birth_date,
        kon="M" if int(canonical[10]) % 2 == 1 else "K",
        is_samordningsnummer=is_samordningsnummer,
    )


def _place_in_century(two_digit_year: int, reference: dt.date, older_than_100: bool) -> int:
    """The latest year ending in these two digits not after the reference year (a century
    earlier with '+', which marks a person aged 100 or more); `parse` steps back one more
    century when the birthday would fall after the reference date."""
    year = reference.year - ((reference.year - two_digit_year) % 100)
    if older_than_100:
        year -= 100
    return year


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
