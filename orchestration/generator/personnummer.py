"""Synthetic personnummer and samordningsnummer, built independently of the pipeline's parser.

The generator is the source of truth the pipeline is tested against, so it computes check
digits itself (Luhn over the 10-digit form) instead of borrowing orchestration.privacy.
"""

from __future__ import annotations

import datetime as dt
import random

# The written shapes a municipality may use for the same number.
PNR_FORMS = ("twelve", "twelve_dash", "twelve_space", "ten", "ten_dash", "number")


def luhn_check_digit(nine_digits: str) -> int:
    """The check digit of YYMMDDNNN: weights 2,1,2,1,… with digit sums, as Skatteverket does."""
    total = 0
    for position, char in enumerate(nine_digits):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def make_personnummer(birth: dt.date, serial: str, *, samordning: bool = False) -> str:
    """The canonical 12-digit form YYYYMMDDNNNC; a samordningsnummer has day + 60."""
    day = birth.day + 60 if samordning else birth.day
    body = f"{birth.year:04d}{birth.month:02d}{day:02d}{serial}"
    return body + str(luhn_check_digit(body[2:]))


def kon_from_personnummer(pnr12: str) -> str:
    """'M' for an odd, 'K' for an even sex digit.

    The contract names the 9th digit of the 12-digit form; Skatteverket's rule is the 11th (the
    second last). The generator draws both with the same parity, so either reading agrees.
    """
    return "M" if int(pnr12[8]) % 2 else "K"


def random_serial(rng: random.Random, kon: str, partition_digit: int) -> str:
    """A birth number NNN whose first and last digit both carry the sex parity.

    The middle digit is the project's partition digit, so persons of different projects can
    never share a number even when projects are generated separately. Never 000, which
    Skatteverket never issues.
    """
    parity = 1 if kon == "M" else 0
    while True:
        first = rng.choice([d for d in range(10) if d % 2 == parity])
        last = rng.choice([d for d in range(10) if d % 2 == parity])
        serial = f"{first}{partition_digit % 10}{last}"
        if serial != "000":                 # never issued: the pipeline rejects it (PNR_LOPNUMMER_000)
            return serial


def with_wrong_check_digit(pnr12: str, rng: random.Random) -> str:
    """The same number with a check digit that does not hold: a typical typing error."""
    correct = int(pnr12[-1])
    wrong = (correct + rng.randint(1, 9)) % 10
    return pnr12[:-1] + str(wrong)


def ten_digit(pnr12: str) -> str:
    return pnr12[2:]


def format_personnummer(pnr12: str, form: str) -> str | int:
    """The number as a municipality writes it; 'number' is Excel's numeric cell (zeros lost)."""
    ten = pnr12[2:]
    if form == "twelve":
        return pnr12
    if form == "twelve_dash":
        return f"{pnr12[:8]}-{pnr12[8:]}"
    if form == "twelve_space":
        return f"{pnr12[:8]} {pnr12[8:]}"
    if form == "ten":
        return ten
    if form == "ten_dash":
        return f"{ten[:6]}-{ten[6:]}"
    if form == "number":
        return int(ten)
    raise ValueError(f"unknown personnummer form {form!r}")


def written_forms(pnr12: str) -> set[str]:
    """Every text form a leak scan should look for."""
    ten = pnr12[2:]
    return {
        pnr12,
        ten,
        f"{pnr12[:8]}-{pnr12[8:]}",
        f"{ten[:6]}-{ten[6:]}",
        f"{pnr12[:8]} {pnr12[8:]}",
        str(int(ten)),
    }
