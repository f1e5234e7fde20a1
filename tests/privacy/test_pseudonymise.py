"""Keyed pseudonyms: one person, one pseudonym, whatever the municipality, month, project, run or
written form; another key, other pseudonyms; anonymous participants never linked.

Property tests over personnummer built by the generator's own check-digit code (not the parser's).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration.generator.personnummer import PNR_FORMS, format_personnummer, make_personnummer
from orchestration.privacy.pseudonymise import DeliveryContext, Pseudonymiser, pseudonymise_rows

KEY = b"test-key-" + b"p" * 40                 # synthetic, for tests only
OTHER_KEY = b"test-key-" + b"q" * 40

MUNICIPALITIES = [("uvas", "2361", "2018-03"), ("uvas", "2326", "2018-05"), ("fokus_16_25", "2031", "2019-11"),
                  ("harjedalen", "2361", "2017-01"), ("ostra_sodertorn", "0136", "2016-09")]


def delivery(project_id: str, kommunkod: str, month: str) -> DeliveryContext:
    return DeliveryContext(f"{project_id}-{kommunkod}-{month}", project_id, kommunkod, month)


def rows(*cells: dict) -> pd.DataFrame:
    """Reader output: every value as text, '' when blank, with the file's row numbers."""
    base = {"personnummer": "", "anonym_id": "", "startdatum": "2016-01-11", "fas": "MOTA", "kon": ""}
    return pd.DataFrame([{"row_number": n + 2, **base, **c} for n, c in enumerate(cells)])


@st.composite
def persons(draw):
    """A young person's canonical number (samordningsnummer too): born 1986–2004."""
    birth = draw(st.dates(min_value=dt.date(1986, 1, 1), max_value=dt.date(2004, 12, 31)))
    serial = f"{draw(st.integers(min_value=1, max_value=999)):03d}"      # 000 is never issued (rejected)
    return make_personnummer(birth, serial, samordning=draw(st.booleans()))


def written(pnr12: str, form: str) -> str:
    value = format_personnummer(pnr12, form)
    return str(value)  # Excel's number arrives as text without its leading zero ('number' form)


def pseudonym(pnr_written: str, where: tuple[str, str, str], pseudonymiser: Pseudonymiser) -> str:
    frame = pseudonymise_rows(rows({"personnummer": pnr_written}), delivery(*where), pseudonymiser)
    assert frame.loc[0, "pnr_status"] == "OK", frame.loc[0, "notes"]
    return frame.loc[0, "person_id"]


@settings(max_examples=60, deadline=None)
@given(persons(), st.lists(st.sampled_from(PNR_FORMS + ("ten_plus_spaces", "excel_float")), min_size=2, max_size=5),
       st.lists(st.sampled_from(MUNICIPALITIES), min_size=2, max_size=4))
def test_one_person_gets_one_pseudonym_in_every_form_municipality_month_project_and_run(pnr12, forms, places):
    seen = set()
    for index, (form, where) in enumerate(zip(forms, places * 3)):
        if form == "ten_plus_spaces":
            text = f" {pnr12[2:8]} {pnr12[8:]} "
        elif form == "excel_float":
            text = float(int(pnr12[2:]))          # a numeric cell: 0 lost, '.0' gained
        else:
            text = written(pnr12, form)
        run = Pseudonymiser(KEY)                   # a fresh instance: another run
        seen.add(pseudonym(text, where, run))
    assert len(seen) == 1
    (value,) = seen
    assert value.startswith("P") and pnr12[2:8] not in value and pnr12[-4:] not in value


@settings(max_examples=40, deadline=None)
@given(persons(), persons())
def test_two_people_get_two_pseudonyms_and_another_key_gives_other_ones(first, second):
    where = MUNICIPALITIES[0]
    ours, theirs = Pseudonymiser(KEY), Pseudonymiser(OTHER_KEY)
    if first != second:
        assert pseudonym(first, where, ours) != pseudonym(second, where, ours)
    assert pseudonym(first, where, ours) != pseudonym(first, where, theirs)
    assert pseudonym(first, where, Pseudonymiser(OTHER_KEY)) == pseudonym(first, where, theirs)


def test_samordningsnummer_is_its_own_person_and_stable():
    birth = dt.date(1999, 7, 4)
    personal = make_personnummer(birth, "238")
    samordning = make_personnummer(birth, "238", samordning=True)
    assert samordning[6:8] == "64"
    pseudonymiser = Pseudonymiser(KEY)
    frame = pseudonymise_rows(rows({"personnummer": samordning[2:8] + "-" + samordning[8:]}, {"personnummer": samordning},
                                   {"personnummer": personal}), delivery(*MUNICIPALITIES[1]), pseudonymiser)
    assert frame["pnr_status"].tolist() == ["OK"] * 3
    assert frame.loc[0, "person_id"] == frame.loc[1, "person_id"] != frame.loc[2, "person_id"]
    assert frame.loc[0, "age_at_start"] == 16   # birth date from day − 60: 1999-07-04, start 2016-01-11


def test_the_pseudonym_is_the_pseudonymize_packages_keyed_hmac_of_the_canonical_number():
    """Pinned: a change of library, namespace or canonical form would silently split every person
    in the warehouse in two. This value was computed once with the test key."""
    canonical = make_personnummer(dt.date(2001, 4, 17), "123")
    value = Pseudonymiser(KEY).person(canonical)
    assert value == Pseudonymiser(KEY).person(canonical)
    assert value == PINNED_PSEUDONYM, value


PINNED_PSEUDONYM = "PJQBTPIH6GVZA"


def test_invalid_numbers_get_no_pseudonym_and_their_digits_are_not_kept():
    valid = make_personnummer(dt.date(2000, 2, 29), "421")
    wrong = valid[:-1] + str((int(valid[-1]) + 3) % 10)
    frame = pseudonymise_rows(rows({"personnummer": wrong}, {"personnummer": "20000230-4211"}),
                              delivery(*MUNICIPALITIES[0]), Pseudonymiser(KEY))
    assert frame["pnr_status"].tolist() == ["OGILTIG", "OGILTIG"]
    assert frame["person_id"].isna().all()
    text = frame.astype(str).to_csv()
    assert wrong[2:8] not in text and "000230" not in text


def test_no_identifier_column_leaves_the_pseudonymiser():
    valid = make_personnummer(dt.date(2002, 5, 6), "111")
    frame = pseudonymise_rows(
        rows({"personnummer": valid, "fornamn": "Alvina", "efternamn": "Granvik", "telefon": "070-412 33 95",
              "epost": "alvina.granvik@example.se", "adress": "Granstigen 12",
              "anteckning": f"Alvina Granvik {valid} 070-412 33 95 alvina.granvik@example.se Granstigen 12"}),
        delivery(*MUNICIPALITIES[0]), Pseudonymiser(KEY))
    assert not {"personnummer", "fornamn", "efternamn", "telefon", "epost", "adress"} & set(frame.columns)
    text = frame.astype(str).to_csv().lower()
    for identifier in (valid, valid[2:], "alvina", "granvik", "4123395", "example.se", "granstigen"):
        assert identifier not in text
    assert frame.loc[0, "anteckning"] == "[namn] [namn] [personnummer] [telefon] [e-post] [adress]"


# --- Anonymous participants ----------------------------------------------------------------------

def anonymous_ids(pseudonymiser: Pseudonymiser, *places: tuple[str, str, str], anonym_id: str = "A-17") -> list:
    return [pseudonymise_rows(rows({"anonym_id": anonym_id}), delivery(*where), pseudonymiser).loc[0, "person_id"]
            for where in places]


def test_an_anonymous_participant_is_one_person_within_the_municipality_across_months_and_runs():
    first = anonymous_ids(Pseudonymiser(KEY), ("uvas", "2361", "2018-03"), ("uvas", "2361", "2018-09"))
    again = anonymous_ids(Pseudonymiser(KEY), ("uvas", "2361", "2019-01"), anonym_id=" a-17 ")
    assert len(set(first + again)) == 1
    assert first[0].startswith("A")


def test_the_same_anonym_id_in_another_municipality_or_project_is_another_person():
    pseudonymiser = Pseudonymiser(KEY)
    ids = anonymous_ids(pseudonymiser, ("uvas", "2361", "2018-03"), ("uvas", "2326", "2018-03"),
                        ("harjedalen", "2361", "2018-03"))
    assert len(set(ids)) == 3


def test_an_anonymous_participant_is_never_linked_to_a_personnummer():
    pseudonymiser = Pseudonymiser(KEY)
    canonical = make_personnummer(dt.date(2001, 4, 17), "123")
    frame = pseudonymise_rows(rows({"anonym_id": canonical}, {"personnummer": canonical}),
                              delivery(*MUNICIPALITIES[0]), pseudonymiser)
    assert frame["is_anonymous"].tolist() == [True, False]
    assert frame.loc[0, "person_id"] != frame.loc[1, "person_id"]
    assert frame.loc[0, "age_at_start"] is pd.NA or pd.isna(frame.loc[0, "age_at_start"])


def test_a_row_with_both_a_personnummer_and_an_anonym_id_is_the_person():
    canonical = make_personnummer(dt.date(2001, 4, 17), "123")
    frame = pseudonymise_rows(rows({"anonym_id": "A-17", "personnummer": canonical}),
                              delivery(*MUNICIPALITIES[0]), Pseudonymiser(KEY))
    assert frame.loc[0, "person_id"] == Pseudonymiser(KEY).person(canonical)
    assert not frame.loc[0, "is_anonymous"]


@settings(max_examples=40, deadline=None)
@given(st.lists(persons(), min_size=1, max_size=4), st.lists(st.sampled_from(PNR_FORMS), min_size=1, max_size=3),
       st.lists(st.sampled_from(MUNICIPALITIES), min_size=2, max_size=4))
def test_one_instance_over_many_deliveries_reads_each_row_as_a_fresh_one_would(people, forms, places):
    """The instance remembers how each written number reads (its spelling) for the whole run; what
    depends on the delivery's month (the century of a 10-digit number, born after the month) must
    still be decided per delivery."""
    cells = [{"personnummer": written(pnr12, form)} for pnr12 in people for form in forms]
    cells.append({"personnummer": "19" + people[0][2:]})               # a century earlier than the person
    run = Pseudonymiser(KEY)
    for where in places:
        kept = pseudonymise_rows(rows(*cells), delivery(*where), run)
        fresh = pseudonymise_rows(rows(*cells), delivery(*where), Pseudonymiser(KEY))
        pd.testing.assert_frame_equal(kept, fresh)
