"""Scrubbing the free-text note (`anteckning`): identifiers out, the case worker's meaning in.

Every name, number and address here is synthetic (the generator's lists and check-digit code).
"""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from orchestration.generator.identities import FEMALE_NAMES, MALE_NAMES, STREETS, SURNAMES, random_contact
from orchestration.generator.personnummer import luhn_check_digit, make_personnummer
from orchestration.privacy import scrub
from orchestration.privacy.scrub import UNSCRUBBABLE, NoteScrubber, is_personnummer

SCRUBBER = NoteScrubber()


def pnr(birth: dt.date, serial: str = "123", samordning: bool = False) -> str:
    return make_personnummer(birth, serial, samordning=samordning)


PERSON = pnr(dt.date(2001, 4, 17))          # 12 digits
TEN = PERSON[2:]
SAMORDNING = pnr(dt.date(1998, 11, 3), "456", samordning=True)


# --- Realistic notes, one row each ---------------------------------------------------------------

ROW = {"fornamn": "Alvina", "efternamn": "Granvik", "adress": "Granstigen 12"}

REALISTIC = [
    (f"Alvina ringde från ny telefon 070-412 33 95, pnr {TEN[:6]}-{TEN[6:]} stämmer",
     "[namn] ringde från ny telefon [telefon], pnr [personnummer] stämmer"),
    ("Alvinas mamma kom med till mötet 2018-03-15 kl 13.30-14.15, bokade ny tid",
     "[namn] mamma kom med till mötet 2018-03-15 kl 13.30-14.15, bokade ny tid"),
    ("Hembesök på Granstigen 12 tillsammans med socialsekreterare, familjen Granvik var hemma",
     "Hembesök på [adress] tillsammans med socialsekreterare, familjen [namn] var hemma"),
    ("Vill ha kallelser till alvina.granvik@example.se i stället för brev",
     "Vill ha kallelser till [e-post] i stället för brev"),
    ("Aktivitetsstöd 4 500 kr/mån, fick 3 st busskort. Kursstart vecka 34 i 831 45 Östersund",
     "Aktivitetsstöd 4 500 kr/mån, fick 3 st busskort. Kursstart vecka 34 i 831 45 Östersund"),
    (f"Fel pnr i förra listan, rätt är {PERSON}. Ärende 2018/1234 hos Försäkringskassan",
     "Fel pnr i förra listan, rätt är [personnummer]. Ärende 2018/1234 hos Försäkringskassan"),
    (f"Samordningsnr {SAMORDNING[2:8]}-{SAMORDNING[8:]} tills hen får personnummer",
     "Samordningsnr [personnummer] tills hen får personnummer"),
    ("Nås på +46 73 555 12 34 eller 0735551234, ALVINA GRANVIK svarar sällan före 10",
     "Nås på [telefon] eller [telefon], [namn] [namn] svarar sällan före 10"),
    ("Bokat trepartssamtal med Arbetsförmedlingen och vården den 12/3",
     "Bokat trepartssamtal med Arbetsförmedlingen och vården den 12/3"),
    ("Ringde kommunens växel 063-14 25 00 om tolk", "Ringde kommunens växel [telefon] om tolk"),
]


@pytest.mark.parametrize(("note", "expected"), REALISTIC)
def test_realistic_case_worker_notes_lose_identifiers_and_keep_their_meaning(note, expected):
    assert SCRUBBER.scrub(note, **ROW).text == expected


def test_replacements_are_counted_by_label_only():
    note = f"Alvina Granvik, {TEN}, 0735551234, alvina.granvik@example.se, Granstigen 12"
    result = SCRUBBER.scrub(note, **ROW)
    assert result.replaced == {"[namn]": 2, "[personnummer]": 1, "[telefon]": 1, "[e-post]": 1, "[adress]": 1}
    assert result.text == "[namn] [namn], [personnummer], [telefon], [e-post], [adress]"


def test_labels_carry_nothing_that_links_two_notes():
    first = SCRUBBER.scrub(f"pnr {PERSON}").text
    second = SCRUBBER.scrub(f"pnr {SAMORDNING}").text
    assert first == second == "pnr [personnummer]"


def test_names_of_another_row_are_not_known_and_words_containing_a_name_survive():
    # Only the row's own names are looked for: 'Vilgot' belongs to someone else's row.
    assert SCRUBBER.scrub("Alvina och Vilgot träffades", **ROW).text == "[namn] och Vilgot träffades"
    # A name inside a longer word is not the name.
    assert SCRUBBER.scrub("Granvikens camping, Alvinaskolan", **ROW).text == "Granvikens camping, Alvinaskolan"


def test_hyphenated_and_double_names_are_scrubbed_part_by_part():
    result = SCRUBBER.scrub("Märta-Lovisa kom, Lovisa sa att Tallqvist Ekebjörk är fel efternamn",
                            fornamn="Märta-Lovisa", efternamn="Tallqvist Ekebjörk")
    assert result.text == "[namn] kom, [namn] sa att [namn] [namn] är fel efternamn"


def test_street_is_scrubbed_with_or_without_its_number_but_postal_town_kept():
    assert SCRUBBER.scrub("Flyttar från Tallbacken 3 B, 831 45 Östersund", adress="Tallbacken 3 B").text \
        == "Flyttar från [adress], 831 45 Östersund"
    assert SCRUBBER.scrub("Bor kvar på Tallbacken", adress="Tallbacken 3 B").text == "Bor kvar på [adress]"


@pytest.mark.parametrize("note", [None, "", "   ", float("nan"), "nan"])
def test_an_empty_note_is_stored_as_nothing(note):
    assert SCRUBBER.scrub(note).text is None


def test_a_note_that_cannot_be_scrubbed_is_not_stored(monkeypatch):
    scrubber = NoteScrubber()

    class Broken:
        def process(self, text):
            raise RuntimeError(text)   # would carry the note if anyone printed it

    monkeypatch.setattr(scrubber, "_plain", Broken())
    monkeypatch.setattr(NoteScrubber, "_engine", staticmethod(lambda detectors: Broken()))
    result = scrubber.scrub(f"pnr {PERSON}", fornamn="Alvina")
    assert result.text == UNSCRUBBABLE and PERSON not in result.text
    assert scrubber.scrub(f"pnr {PERSON}").text == UNSCRUBBABLE


# --- Personnummer: property tests over generated numbers ------------------------------------------

@st.composite
def personnummer(draw):
    birth = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2015, 12, 31)))
    serial = f"{draw(st.integers(min_value=1, max_value=999)):03d}"      # 000 is never issued
    return pnr(birth, serial, samordning=draw(st.booleans()))


def written(pnr12: str, form: int) -> str:
    ten = pnr12[2:]
    plus = "+" if int(pnr12[:4]) <= 1915 else "-"
    return (pnr12, f"{pnr12[:8]}-{pnr12[8:]}", f"{pnr12[:8]} {pnr12[8:]}", ten, f"{ten[:6]}{plus}{ten[6:]}",
            f"{ten[:6]} {ten[6:]}", f"{ten[:6]} - {ten[6:]}")[form]


PROSE = st.sampled_from(["pnr ", "Rätt nummer: ", "(", "Personnr:", "Enl. SKV ", "pnr", ""])
AFTER = st.sampled_from(["", ".", ")", ", stämmer", " enligt listan", "st"])


@given(personnummer(), st.integers(min_value=0, max_value=6), PROSE, AFTER)
def test_a_personnummer_in_any_written_form_is_replaced(pnr12, form, before, after):
    note = f"{before}{written(pnr12, form)}{after}"
    result = SCRUBBER.scrub(note)
    assert result.text == f"{before}[personnummer]{after}"
    assert pnr12[2:8] not in result.text


@given(personnummer(), st.integers(min_value=1, max_value=9))
def test_ten_digits_failing_the_check_digit_are_kept(pnr12, delta):
    ten = pnr12[2:]
    wrong = ten[:9] + str((int(ten[9]) + delta) % 10)
    # 070xxxxxxx is a mobile number whatever its check digit: the phone detector rightly takes it.
    assume(not re.fullmatch(r"07[02369]\d{7}", wrong))
    for form in (wrong, f"{wrong[:6]}-{wrong[6:]}"):
        note = f"Fakturanummer {form} till ekonomi"
        assert SCRUBBER.scrub(note).text == note


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_the_detector_agrees_with_an_independent_check(ten):
    date_ok = False
    day = int(ten[4:6])
    for century in (1900, 2000):
        try:
            dt.date(century + int(ten[:2]), int(ten[2:4]), day - 60 if day > 60 else day)
            date_ok = True
        except ValueError:
            pass
    expected = date_ok and luhn_check_digit(ten[:9]) == int(ten[9]) and ten[6:9] != "000"
    assert is_personnummer(None, ten[:6], ten[6:]) == expected
    assert (SCRUBBER.scrub(f"nr {ten}").text == "nr [personnummer]") == expected


def test_a_birth_number_000_is_no_personnummer_in_a_note_either():
    """The row rules reject 000 (never issued); the scrubber reads the same rule and keeps it."""
    nine = "850612000"
    ten = nine + str(luhn_check_digit(nine))
    note = f"Ärendenummer {ten[:6]}-{ten[6:]} hos ekonomi"
    assert SCRUBBER.scrub(note).text == note
    issued = "850612001" + str(luhn_check_digit("850612001"))
    assert SCRUBBER.scrub(f"pnr {issued}").text == "pnr [personnummer]"


def test_a_mobile_shaped_number_is_a_phone_number_even_when_its_check_digit_fails():
    assert SCRUBBER.scrub("Faktura 0701010002").text == "Faktura [telefon]"


def test_a_twelve_digit_number_outside_the_centuries_is_not_a_personnummer():
    assert SCRUBBER.scrub(f"Referens 31{TEN}").text == f"Referens 31{TEN}"
    assert SCRUBBER.scrub(f"Längre tal 9{TEN}7").text == f"Längre tal 9{TEN}7"


# --- What must survive -------------------------------------------------------------------------

@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)),
       st.integers(min_value=0, max_value=23), st.integers(min_value=0, max_value=59),
       st.integers(min_value=1, max_value=9_999_999), st.integers(min_value=1, max_value=99))
def test_dates_times_amounts_and_counts_survive(day, hour, minute, amount, count):
    amount_text = f"{amount:,}".replace(",", " ")
    note = (f"Möte {day.isoformat()} kl {hour:02d}.{minute:02d}-{(hour + 1) % 24:02d}.{minute:02d}, "
            f"{day:%d/%m-%Y}, {day:%Y%m%d}, stöd {amount_text} kr, {count} st, ärende {day.year}/{count:04d}")
    assert SCRUBBER.scrub(note).text == note


@given(st.integers(min_value=100, max_value=999), st.integers(min_value=10, max_value=99))
def test_postal_numbers_in_prose_survive(first, second):
    note = f"Praktik hos lagret, Box 17, {first} {second} Östersund och {first}{second} Sveg"
    assert SCRUBBER.scrub(note).text == note


# --- Phone numbers and e-mail ------------------------------------------------------------------

def phone_variants(telefon: str) -> list[str]:
    digits = "".join(ch for ch in telefon if ch.isdigit())
    return [telefon, digits, f"+46{digits[1:]}", f"+46 {digits[1:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}",
            f"0046 {digits[1:3]}-{digits[3:]}", f"{digits[:3]}-{digits[3:]}", f"{digits[:3]}/{digits[3:]}",
            f"{digits[:3]} {digits[3:6]} {digits[6:]}"]


@settings(max_examples=60)
@given(st.randoms(use_true_random=False), st.sampled_from(["K", "M", "X"]))
def test_the_generators_mobile_numbers_and_e_mail_are_replaced_in_every_form(rng, kon):
    contact = random_contact(rng, kon, set())
    for phone in phone_variants(contact.telefon):
        result = SCRUBBER.scrub(f"Nytt nummer {phone}, ring efter 10")
        assert result.text == "Nytt nummer [telefon], ring efter 10", phone
    assert SCRUBBER.scrub(f"Mejl: {contact.epost}.").text == "Mejl: [e-post]."
    assert SCRUBBER.scrub(f"Mejl: {contact.epost.upper()}").text == "Mejl: [e-post]"


@settings(max_examples=60)
@given(st.sampled_from(FEMALE_NAMES + MALE_NAMES), st.sampled_from(SURNAMES), st.sampled_from(STREETS),
       st.integers(min_value=1, max_value=64))
def test_the_rows_own_names_and_street_are_replaced_in_any_case_and_genitive(fornamn, efternamn, street, number):
    adress = f"{street} {number}"
    note = (f"{fornamn.upper()} kom. {fornamn}s bror ringde, {efternamn.lower()} har flyttat "
            f"till {adress}. Familjen {efternamn}s hund")
    result = SCRUBBER.scrub(note, fornamn=fornamn, efternamn=efternamn, adress=adress)
    assert result.text == ("[namn] kom. [namn] bror ringde, [namn] har flyttat till [adress]. "
                           "Familjen [namn] hund")
    for identifier in (fornamn, efternamn, street):
        assert identifier.lower() not in result.text.lower()


def test_the_scrubber_uses_the_pseudonymize_package_with_only_the_contracts_detectors():
    names = {type(d).__name__ for d in SCRUBBER._structured}
    assert names == {"PersonnummerDetector", "SwedishPhoneDetector", "EmailDetector"}
    assert set(scrub.POLICY.entity_types) == set(scrub.LABELS)
    # Places and organisations are not detected: the note must stay useful.
    note = "Bokat möte med Arbetsförmedlingen i Östersund och Region Jämtland Härjedalen"
    assert SCRUBBER.scrub(note).text == note


def test_a_random_sample_of_generated_rows_leaves_no_identifier(tmp_path):
    rng = random.Random(7)
    for _ in range(200):
        kon = rng.choice("KM")
        contact = random_contact(rng, kon, set())
        number = pnr(dt.date(rng.randint(1990, 2008), rng.randint(1, 12), rng.randint(1, 28)),
                     f"{rng.randint(0, 999):03d}", samordning=rng.random() < 0.1)
        note = (f"{contact.fornamn} {contact.efternamn} ({number[2:8]}-{number[8:]}) nås på {contact.telefon} "
                f"eller {contact.epost}, bor på {contact.adress}. Möte 2019-02-11 kl 10.00")
        text = SCRUBBER.scrub(note, contact.fornamn, contact.efternamn, contact.adress).text
        assert text == "[namn] [namn] ([personnummer]) nås på [telefon] eller [e-post], bor på [adress]. " \
                       "Möte 2019-02-11 kl 10.00"
