"""Personnummer validation and normalisation, including property tests over generated numbers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration.privacy.personnummer import InvalidPersonnummer, luhn_check_digit, parse


def luhn_ok(ten: str) -> bool:
    """Textbook Luhn, written independently of the code under test."""
    digits = [int(c) for c in ten]
    total = 0
    for i, d in enumerate(digits):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@st.composite
def personnummer_parts(draw):
    birth = draw(st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2010, 12, 31)))
    serial = draw(st.integers(min_value=1, max_value=999))
    samordning = draw(st.booleans())
    day = birth.day + (60 if samordning else 0)
    nine = f"{birth:%y%m}{day:02d}{serial:03d}"
    ten = nine + str(luhn_check_digit(nine))
    return birth, ten, samordning


REFERENCE = dt.date(2016, 3, 31)


@given(personnummer_parts())
def test_every_written_form_gives_the_same_canonical_number(parts):
    birth, ten, samordning = parts
    if birth > REFERENCE:
        return
    century = f"{birth.year // 100:02d}"
    forms = [ten, f"{ten[:6]}-{ten[6:]}", f"{century}{ten}", f"{century}{ten[:6]}-{ten[6:]}",
             f" {ten[:6]} {ten[6:]} ", int(ten)]
    results = {parse(form, REFERENCE).canonical for form in forms}
    assert results == {f"{century}{ten}"}
    parsed = parse(ten, REFERENCE)
    assert parsed.birth_date == birth
    assert parsed.is_samordningsnummer == samordning
    assert parsed.kon == ("M" if int(ten[8]) % 2 else "K")


@given(personnummer_parts(), st.integers(min_value=1, max_value=9))
def test_a_wrong_check_digit_is_refused(parts, delta):
    _, ten, _ = parts
    wrong = ten[:9] + str((int(ten[9]) + delta) % 10)
    assert not luhn_ok(wrong)
    with pytest.raises(InvalidPersonnummer) as raised:
        parse(wrong, dt.date(2020, 1, 31))
    assert wrong not in str(raised.value) and wrong[:6] not in str(raised.value)


@given(personnummer_parts())
def test_check_digit_agrees_with_textbook_luhn(parts):
    assert luhn_ok(parts[1])


def test_ten_digits_are_placed_relative_to_the_reporting_month_not_today():
    nine = "150101123"
    ten = nine + str(luhn_check_digit(nine))
    # In a 2016 delivery '15' is 2015 (a baby); in a 2010 delivery it can only be 1915.
    assert parse(ten, dt.date(2016, 3, 31)).canonical.startswith("2015")
    assert parse(ten, dt.date(2010, 3, 31)).canonical.startswith("1915")


def test_plus_separator_means_a_hundred_years_or_older():
    nine = "100101123"
    ten = nine + str(luhn_check_digit(nine))
    assert parse(f"{ten[:6]}-{ten[6:]}", dt.date(2016, 3, 31)).birth_date.year == 2010
    assert parse(f"{ten[:6]}+{ten[6:]}", dt.date(2016, 3, 31)).birth_date.year == 1910


def test_excel_number_without_leading_zero_is_padded():
    nine = "030512123"
    ten = nine + str(luhn_check_digit(nine))
    assert parse(float(int(ten)), dt.date(2019, 6, 30)).canonical == "20" + ten


@pytest.mark.parametrize("value", ["", "abc", "19990230-1234", "991301-1234", "12345678901234"])
def test_malformed_values_are_refused(value):
    with pytest.raises(InvalidPersonnummer):
        parse(value, REFERENCE)


def test_impossible_date_is_refused_even_with_right_check_digit():
    nine = "990230123"  # 30 February
    with pytest.raises(InvalidPersonnummer, match="datum"):
        parse(nine + str(luhn_check_digit(nine)), REFERENCE)


@given(st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2010, 12, 31)), st.booleans())
def test_a_birth_number_000_is_refused_though_its_check_digit_holds(birth, samordning):
    day = birth.day + (60 if samordning else 0)
    nine = f"{birth:%y%m}{day:02d}000"
    ten = nine + str(luhn_check_digit(nine))
    assert luhn_ok(ten)
    with pytest.raises(InvalidPersonnummer, match="000"):
        parse(ten, REFERENCE)
