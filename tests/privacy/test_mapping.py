"""Pseudonymising mapping files (privacy/mapping.py and the privacy stage's mapping deliveries):
the person as in enrolments, answers parsed per question type and never stored as written,
free text scrubbed, and the stage's guarantees for mapping deliveries too."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from orchestration.ingest.intake import run_intake
from orchestration.privacy import stage as pseudonymise_stage
from orchestration.privacy.keys import load_key
from orchestration.privacy.mapping import instruments_in_warehouse, pseudonymise_mapping_deliveries
from orchestration.privacy.pseudonymise import DeliveryContext, Pseudonymiser
from orchestration.privacy.stage import pseudonymise_pending
from orchestration.projects.config import load_projects
from orchestration.quality.stage import validate_pending
from tests.bad_inputs.builders import HEADER as ENROLMENT_HEADER
from tests.bad_inputs.builders import PersonFactory, csv_bytes, rows_for
from tests.bad_inputs.mapping import (
    HEADER, KOMMUNKOD, MONTH, PROJECT, QUESTIONS, deliver_mapping, mapping_row, prepared_home,
)
from tests.bad_inputs.scenario import query, write_file
from tests.bad_inputs.stages import new_home

KEY = b"mapping-test-key-" + b"m" * 32          # synthetic, for tests only
INSTRUMENTS = {PROJECT: load_projects().project(PROJECT).mapping}
CONTEXT = DeliveryContext("d1", PROJECT, KOMMUNKOD, MONTH, "KARTLAGGNING")


def text_rows(header: list[str], *rows: list[str]) -> pd.DataFrame:
    """Reader output: every cell as text, with the file's row numbers."""
    return pd.DataFrame([{"row_number": n + 2, **dict(zip(header, row))} for n, row in enumerate(rows)], dtype=object)


def answer_lines(answers: pd.DataFrame, row_number: int, question_id: str) -> list[tuple]:
    lines = answers[(answers["row_number"] == row_number) & (answers["question_id"] == question_id)]
    return [(status, code, None if number is None or (isinstance(number, float) and math.isnan(number)) else number,
             text) for status, code, number, text in
            zip(lines["answer_status"], lines["answer_code"], lines["answer_number"], lines["answer_text"])]


@pytest.fixture
def home(tmp_path, pseudonym_key):
    home = new_home(tmp_path / "home")
    prepared_home(home)
    return home


def test_each_answer_is_parsed_by_its_question_type():
    people = PersonFactory().take(1990, 4)
    frame = text_rows(
        HEADER,
        mapping_row(people[0]),
        mapping_row(people[1], paverka_vardag="3,0", delaktig_samhalle="3,5", boende="föräldrar",
                    nagon_att_prata_med="ja", fysiskt_aktiv_dagar="2,5", paverkar_halsan="nät; Kost|spel",
                    gymnasiet=" pagar ", forening="NEJ", ovrigt=""),
        mapping_row(people[2], paverka_vardag="fyra", delaktig_samhalle="", boende="Hyresrätt",
                    nagon_att_prata_med="Kanske", fysiskt_aktiv_dagar="12", paverkar_halsan="KOST, Hyresrätt"),
        mapping_row(people[3], paverka_vardag="0", fysiskt_aktiv_dagar="sju", paverkar_halsan=""),
    )
    mapped = pseudonymise_mapping_deliveries([(frame, CONTEXT)], INSTRUMENTS, Pseudonymiser(KEY))
    answers = mapped.answers

    assert answer_lines(answers, 2, "paverka_vardag") == [("OK", None, 4.0, None)]
    assert answer_lines(answers, 2, "paverkar_halsan") == [("OK", "KOST", None, None), ("OK", "NAT", None, None)]
    assert answer_lines(answers, 2, "ovrigt") == [("OK", None, None, "Vill ha hjälp med körkort")]
    assert answer_lines(answers, 3, "paverka_vardag") == [("OK", None, 3.0, None)]       # a whole step, decimal comma
    assert answer_lines(answers, 3, "delaktig_samhalle") == [("INTE_TAL", None, None, None)]  # a scale takes whole steps
    assert answer_lines(answers, 3, "boende") == [("OK", "FORALDRAR", None, None)]        # matched like the contract's codes
    assert answer_lines(answers, 3, "nagon_att_prata_med") == [("OK", "JA", None, None)]
    assert answer_lines(answers, 3, "fysiskt_aktiv_dagar") == [("OK", None, 2.5, None)]
    assert answer_lines(answers, 3, "paverkar_halsan") == [("OK", "KOST", None, None), ("OK", "SPEL", None, None),
                                                            ("OK", "NAT", None, None)]
    assert answer_lines(answers, 3, "gymnasiet") == [("OK", "PAGAR", None, None)]
    assert answer_lines(answers, 3, "ovrigt") == [("SAKNAS", None, None, None)]
    assert answer_lines(answers, 4, "paverka_vardag") == [("INTE_TAL", None, None, None)]
    assert answer_lines(answers, 4, "delaktig_samhalle") == [("SAKNAS", None, None, None)]
    assert answer_lines(answers, 4, "boende") == [("KOD_OKAND", None, None, None)]
    assert answer_lines(answers, 4, "nagon_att_prata_med") == [("KOD_OKAND", None, None, None)]
    assert answer_lines(answers, 4, "fysiskt_aktiv_dagar") == [("OK", None, 12.0, None)]   # out of range: the suite's to judge
    assert answer_lines(answers, 4, "paverkar_halsan") == [("KOD_OKAND", None, None, None)]  # one unknown part: all unknown
    assert answer_lines(answers, 5, "paverka_vardag") == [("OK", None, 0.0, None)]
    assert answer_lines(answers, 5, "fysiskt_aktiv_dagar") == [("INTE_TAL", None, None, None)]
    assert answer_lines(answers, 5, "paverkar_halsan") == [("SAKNAS", None, None, None)]
    # every row answers every question once (a multiple choice once per code), nothing as written
    assert len(answers) == 4 * len(QUESTIONS) + 1 + 2
    assert set(answers["question_id"]) == set(QUESTIONS)
    written = " ".join(str(v) for v in answers.to_numpy().ravel())
    for raw in ("Hyresrätt", "Kanske", "fyra", "sju", "föräldrar"):
        assert raw not in written


def test_the_row_gets_the_person_kon_age_at_besvarad_and_its_date_checks():
    people = PersonFactory().take(1990, 5)         # born 1990-01-01
    header = [*HEADER, "kon", "anonym_id"]
    frame = text_rows(
        header,
        [*mapping_row(people[0], besvarad="2009-10-12"), "", ""],
        [*mapping_row(people[1], besvarad="2009-10-12"), "X", ""],
        [*mapping_row(people[2], besvarad="12/10/2009"), "okänt", ""],
        [*mapping_row(people[3], besvarad=""), "", ""],
        ["", "2009-10-12", *mapping_row(people[4])[2:], "", "Flen-17"],
    )
    pseudonymiser = Pseudonymiser(KEY)
    rows = pseudonymise_mapping_deliveries([(frame, CONTEXT)], INSTRUMENTS, pseudonymiser).rows.set_index("row_number")

    assert rows.loc[2, "person_id"] == pseudonymiser.person(people[0].twelve)
    assert rows.loc[2, "kon"] == ("M" if int(people[0].ten[-2]) % 2 else "K")
    assert rows.loc[3, "kon"] == "X"
    assert rows.loc[4, "kon"] == ("M" if int(people[2].ten[-2]) % 2 else "K") and "KOD_OKAND:kon" in rows.loc[4, "notes"]
    assert rows.loc[2, "age_at_answer"] == 19
    assert (rows.loc[4, "besvarad_raw_ok"], pd.isna(rows.loc[4, "besvarad"]), pd.isna(rows.loc[4, "age_at_answer"])) \
        == (False, True, True)
    assert (rows.loc[5, "besvarad_raw_ok"], pd.isna(rows.loc[5, "besvarad"])) == (True, True)
    assert (rows.loc[6, "pnr_status"], rows.loc[6, "is_anonymous"]) == ("ANONYM", True)
    assert rows.loc[6, "person_id"] == pseudonymiser.anonymous(PROJECT, KOMMUNKOD, "Flen-17")


def test_free_text_is_scrubbed_of_a_personnummer_a_phone_number_and_the_rows_name():
    person, other = PersonFactory().take(1990, 2)
    header = [*HEADER, "fornamn", "efternamn"]
    note = f"Alvina Bergkvist ({other.ten}) vill bli ringd på 070-123 45 67, Alvinas mamma också."
    frame = text_rows(header, [*mapping_row(person, ovrigt=note), "Alvina", "Bergkvist"])
    pseudonymiser = Pseudonymiser(KEY)
    answers = pseudonymise_mapping_deliveries([(frame, CONTEXT)], INSTRUMENTS, pseudonymiser).answers
    (text,) = answers.loc[answers["question_id"] == "ovrigt", "answer_text"]
    assert text == "[namn] [namn] ([personnummer]) vill bli ringd på [telefon], [namn] mamma också."
    assert pseudonymiser.note_replacements == {"[namn]": 3, "[personnummer]": 1, "[telefon]": 1}


def test_a_person_mapped_and_enrolled_is_one_person(home):
    people = PersonFactory().take(1990, 4)
    config = load_projects()
    write_file(home.inbox / PROJECT / KOMMUNKOD / "2009-09.csv",
               csv_bytes(ENROLMENT_HEADER, rows_for(people[:3], "2009-09-01")))
    run_intake(home, config)
    deliver_mapping(home, csv_bytes(HEADER, [mapping_row(p) for p in people[1:]]))
    report = pseudonymise_pending(home, load_key(home.root))
    assert (report.deliveries, report.mapping_deliveries, report.rows, report.mapping_rows) == (2, 1, 6, 3)
    assert report.persons == 4
    validate_pending(home, config)

    enrolled = dict(query(home, "select row_number, person_id from landing.enrolment_rows"))
    mapped = dict(query(home, "select row_number, person_id from landing.mapping_rows"))
    assert len(enrolled) == 3 and len(mapped) == 3
    assert set(enrolled.values()) & set(mapped.values()) == {enrolled[3], enrolled[4]} == {mapped[2], mapped[3]}
    assert query(home, "select verdict, coalesce(extract_kind, 'INSKRIVNING') as kind from landing.deliveries order by kind") == [
        ("ACCEPTED", "INSKRIVNING"), ("ACCEPTED", "KARTLAGGNING")]


def test_the_instrument_is_read_from_the_warehouse_as_the_configuration_wrote_it(home):
    from orchestration.lib.warehouse import connect

    with connect(home.warehouse, read_only=True) as db:
        stored = instruments_in_warehouse(db)
    assert set(stored) == {"vaga_valja_vag", "harjedalen"}
    configured = load_projects().project(PROJECT).mapping
    for question in configured.questions:
        mine = stored[PROJECT].question(question.id)
        assert (mine.type, mine.required, mine.code_set, mine.minimum, mine.maximum) == \
            (question.type, question.required, question.code_set, question.minimum, question.maximum)


def test_a_mapping_file_for_a_project_without_an_instrument_gets_a_verdict(home):
    people = PersonFactory().take(1990, 2)
    deliver_mapping(home, csv_bytes(HEADER, [mapping_row(p) for p in people]), project_id="uvas", kommunkod="2380",
                    file_name="2016-03.csv")
    report = pseudonymise_pending(home, load_key(home.root))
    assert [code for _, code in report.unreadable] == ["KARTLAGGNING_SAKNAS"]
    ((status, verdict, reason, message),) = query(home, "select status, verdict, verdict_reason, verdict_message "
                                                        "from landing.deliveries")
    assert (status, verdict, reason) == ("VALIDATED", "REJECTED", "KARTLAGGNING_SAKNAS")
    assert "uvas" in message and "kartlaggning" in message and "skicka filen igen" in message


def test_a_mapping_file_without_a_required_question_is_rejected_in_the_stage(home):
    people = PersonFactory().take(1990, 2)
    header = [h for h in HEADER if h != "gymnasiet"]
    deliver_mapping(home, csv_bytes(header, [[c for h, c in zip(HEADER, mapping_row(p)) if h != "gymnasiet"]
                                             for p in people]))
    pseudonymise_pending(home, load_key(home.root))
    ((verdict, reason, message),) = query(home, "select verdict, verdict_reason, verdict_message from landing.deliveries")
    assert (verdict, reason) == ("REJECTED", "FRAGA_SAKNAS") and "gymnasiet" in message
    assert query(home, "select count(*) from landing.mapping_pseudonymised_rows") == [(0,)]


def test_a_mapping_delivery_whose_rows_break_pseudonymisation_gets_a_verdict_and_the_batch_is_written(home, monkeypatch):
    """Fault injection into our own pure function: the mapping delivery of the second file raises;
    the enrolment and the other mapping delivery of the same batch are written."""
    factory = PersonFactory()
    write_file(home.inbox / PROJECT / KOMMUNKOD / "2009-09.csv",
               csv_bytes(ENROLMENT_HEADER, rows_for(factory.take(1990, 3), "2009-09-01")))
    run_intake(home, load_projects())
    good = deliver_mapping(home, csv_bytes(HEADER, [mapping_row(p) for p in factory.take(1990, 3)]))
    bad = deliver_mapping(home, csv_bytes(HEADER, [mapping_row(p, besvarad="2009-11-05") for p in factory.take(1990, 3)]),
                          file_name="2009-11.csv")
    real = pseudonymise_stage.pseudonymise_mapping_deliveries

    def breaks_on_bad(extracts, instruments, pseudonymiser):
        if any(context.delivery_id == bad for _, context in extracts):
            raise ValueError("a bug this delivery's rows trigger")
        return real(extracts, instruments, pseudonymiser)

    monkeypatch.setattr(pseudonymise_stage, "pseudonymise_mapping_deliveries", breaks_on_bad)
    pseudonymise_pending(home, load_key(home.root))
    states = dict((d, (s, r)) for d, s, r in query(home, "select delivery_id, status, verdict_reason from landing.deliveries"))
    assert states[bad] == ("VALIDATED", "FIL_KUNDE_INTE_BEHANDLAS")
    assert states[good] == ("PSEUDONYMISED", None)
    assert [s for d, s in states.items() if d not in (good, bad)] == [("PSEUDONYMISED", None)]
    assert query(home, "select delivery_id, count(*) from landing.mapping_pseudonymised_rows group by 1") == [(good, 3)]
    assert query(home, "select count(*) from landing.mapping_pseudonymised_answers") == [(3 * len(QUESTIONS) + 3,)]
    assert query(home, "select count(*) from landing.pseudonymised_rows") == [(3,)]


def test_rows_left_by_a_stopped_run_are_replaced_not_doubled(home):
    people = PersonFactory().take(1990, 2)
    delivery_id = deliver_mapping(home, csv_bytes(HEADER, [mapping_row(p) for p in people]))
    from orchestration.lib.warehouse import connect

    with connect(home.warehouse) as db:     # a run that wrote rows, then died before marking the delivery
        db.execute("insert into landing.mapping_pseudonymised_rows (delivery_id, row_number, is_anonymous, "
                   "pnr_status, besvarad_raw_ok) values (?, 2, false, 'OK', true)", [delivery_id])
        db.execute("insert into landing.mapping_pseudonymised_answers (delivery_id, row_number, question_id, "
                   "answer_status) values (?, 2, 'boende', 'OK')", [delivery_id])
    pseudonymise_pending(home, load_key(home.root))
    assert query(home, "select count(*) from landing.mapping_pseudonymised_rows") == [(2,)]
    assert query(home, "select count(*) from landing.mapping_pseudonymised_answers") == [(2 * len(QUESTIONS) + 2,)]
