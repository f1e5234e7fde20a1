"""Row and file verdicts of mapping files, from real files through the privacy and validate stages
with the real generated GX suite: each row rule of the design gives its reason code (rejected on
a required question, a warning on an optional one), accepted rows and answers reach
landing.mapping_rows and mapping_answers, the 20 % rule, nothing identifying in the warehouse, and
the enrolment and mapping paths never take each other's deliveries."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from orchestration.ingest.intake import run_intake
from orchestration.privacy.keys import load_key
from orchestration.privacy.stage import pseudonymise_pending
from orchestration.projects.config import BUNDLED_CONFIG, load_projects
from orchestration.quality.stage import validate_pending
from tests.bad_inputs.builders import HEADER as ENROLMENT_HEADER
from tests.bad_inputs.builders import Person, PersonFactory, csv_bytes, rows_for, wrong_check_digit, xlsx_bytes
from tests.bad_inputs.mapping import HEADER, KOMMUNKOD, PROJECT, QUESTIONS, deliver_mapping, mapping_row, prepared_home
from tests.bad_inputs.scenario import query, write_file
from tests.bad_inputs.stages import new_home
from tests.identifier_scan import find_identifiers, identifier_tokens, warehouse_text

FULL_HEADER = [*HEADER, "kon", "kommunkod", "rapportmanad", "anonym_id", "fornamn", "telefon"]
PNR_SHAPE = re.compile(r"(?<!\d)(\d{6}|\d{8})[-+ ]?\d{4}(?!\d)")


def full_row(person: Person | None, besvarad: str = "2009-10-12", kon: str = "", kommunkod: str = "",
             rapportmanad: str = "", anonym_id: str = "", pnr: str | None = None, **changed: str) -> list[str]:
    if person is None:          # no personnummer: the answers of anyone
        row = ["", besvarad, *mapping_row(Person(dt.date(1990, 1, 1), 100), **changed)[2:]]
    else:
        row = mapping_row(person, besvarad, **changed)
    if pnr is not None:
        row[0] = pnr
    return [*row, kon, kommunkod, rapportmanad, anonym_id, "Tindra", "070-765 43 21"]


# (what, reason code, column, verdict, row builder(person)): one row per rule of the design
RULES = [
    ("check digit wrong", "PNR_OGILTIG", "personnummer", "rejected", lambda p: full_row(p, pnr=wrong_check_digit(p.ten))),
    ("birth number 000", "PNR_LOPNUMMER_000", "personnummer", "rejected",
     lambda p: full_row(Person(p.birth_date, 0))),
    ("no personnummer, no anonym_id", "PNR_SAKNAS", "personnummer", "rejected", lambda p: full_row(None)),
    ("besvarad blank", "BESVARAD_SAKNAS", "besvarad", "rejected", lambda p: full_row(p, besvarad="")),
    ("besvarad no date", "BESVARAD_OGILTIG", "besvarad", "rejected", lambda p: full_row(p, besvarad="12/10/2009")),
    ("besvarad after the month", "BESVARAD_EFTER_MANADEN", "besvarad", "rejected",
     lambda p: full_row(p, besvarad="2009-11-01")),
    ("kommunkod of another municipality", "KOMMUNKOD_AVVIKER", "kommunkod", "rejected",
     lambda p: full_row(p, kommunkod="0483")),
    ("rapportmanad of another month", "RAPPORTMANAD_AVVIKER", "rapportmanad", "rejected",
     lambda p: full_row(p, rapportmanad="2009-09")),
    ("required question blank", "SVAR_SAKNAS", "gymnasiet", "rejected", lambda p: full_row(p, gymnasiet="")),
    ("required code unknown", "SVAR_KOD_OKAND", "boende", "rejected", lambda p: full_row(p, boende="Egen lägenhet")),
    ("required yes/no unknown", "SVAR_KOD_OKAND", "forening", "rejected", lambda p: full_row(p, forening="Ibland")),
    ("required scale not a number", "SVAR_INTE_TAL", "paverka_vardag", "rejected",
     lambda p: full_row(p, paverka_vardag="ganska mycket")),
    ("required scale half step", "SVAR_INTE_TAL", "delaktig_samhalle", "rejected",
     lambda p: full_row(p, delaktig_samhalle="2,5")),
    ("required scale out of range", "SVAR_UTANFOR_SKALAN", "paverka_vardag", "rejected",
     lambda p: full_row(p, paverka_vardag="6")),
    ("optional code unknown", "SVAR_KOD_OKAND", "paverkar_halsan", "warning",
     lambda p: full_row(p, paverkar_halsan="KOST, snus")),
    ("optional number not a number", "SVAR_INTE_TAL", "fysiskt_aktiv_dagar", "warning",
     lambda p: full_row(p, fysiskt_aktiv_dagar="varje dag")),
    ("optional number out of range", "SVAR_UTANFOR_SKALAN", "fysiskt_aktiv_dagar", "warning",
     lambda p: full_row(p, fysiskt_aktiv_dagar="8")),
    ("age outside the project's", "ALDER_UTANFOR", "besvarad", "warning",
     lambda p: full_row(Person(dt.date(1975, 5, 5), p.serial))),
    ("answered before the project", "BESVARAD_FORE_PROJEKTET", "besvarad", "warning",
     lambda p: full_row(p, besvarad="2009-07-20")),
    ("kon not a code", "KOD_OKAND", "kon", "warning", lambda p: full_row(p, kon="Kvinna")),
]
GOOD_ROWS = 70


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """One file with a row per rule, two rows of one occasion and many good rows, through the stages."""
    home = new_home(tmp_path_factory.mktemp("mapping") / "home")
    config = prepared_home(home)
    factory = PersonFactory()
    people = factory.take(1990, len(RULES) + GOOD_ROWS + 1)
    rows = [build(person) for (_, _, _, _, build), person in zip(RULES, people)]
    twice = people[len(RULES)]
    rows += [full_row(twice), full_row(twice, paverka_vardag="2")]          # one occasion, two sets of answers
    good = people[len(RULES) + 1:]
    rows += [full_row(p, anonym_id="", kon="", kommunkod=KOMMUNKOD if i % 2 else "", rapportmanad="2009-10" if i % 3 else "",
                      ovrigt=f"Tindra vill bli ringd på 070-765 43 21 eller nås via {p.ten}" if i < 3 else "")
             for i, p in enumerate(good)]
    delivery_id = deliver_mapping(home, csv_bytes(FULL_HEADER, rows, encoding="cp1252"), file_name="2009-10 kartläggning.csv")
    pseudonymise_pending(home, load_key(home.root))
    report = validate_pending(home, config)
    return home, delivery_id, report, people, rows


def _lines(home, table: str, code_column: str) -> dict[int, set[tuple[str, str]]]:
    found: dict[int, set[tuple[str, str]]] = {}
    for row, code, column in query(home, f"select row_number, {code_column}, column_name from landing.{table}"):
        found.setdefault(row, set()).add((code, column))
    return found


@pytest.mark.parametrize("index", range(len(RULES)), ids=[rule[0] for rule in RULES])
def test_each_row_rule_gives_its_reason_code(validated, index):
    home, _, _, _, _ = validated
    _, code, column, verdict, _ = RULES[index]
    row = index + 2
    rejected, warned = _lines(home, "quarantine_rows", "reason_code"), _lines(home, "row_warnings", "warning_code")
    if verdict == "rejected":
        assert rejected.get(row) == {(code, column)}, rejected.get(row)
        assert row not in warned
        assert query(home, "select count(*) from landing.mapping_rows where row_number = ?", [row]) == [(0,)]
        assert query(home, "select count(*) from landing.mapping_answers where row_number = ?", [row]) == [(0,)]
    else:
        assert warned.get(row) == {(code, column)}, warned.get(row)
        assert row not in rejected
        ((warnings,),) = query(home, "select warnings from landing.mapping_rows where row_number = ?", [row])
        assert warnings == code
        answered = {q for (q,) in query(home, "select distinct question_id from landing.mapping_answers "
                                              "where row_number = ?", [row])}
        if column in QUESTIONS:            # the optional answer is dropped, the row and its other answers kept
            assert answered == set(QUESTIONS) - {column}
        else:
            assert answered == set(QUESTIONS)
    table, code_column = ("quarantine_rows", "reason_code") if verdict == "rejected" else ("row_warnings", "warning_code")
    ((message,),) = query(home, f"select message from landing.{table} where row_number = ? and {code_column} = ?",
                          [row, code])
    assert message.startswith(f"Rad {row}, kolumn {column}: ")
    assert not PNR_SHAPE.search(message)


def test_the_same_person_twice_with_the_same_besvarad_rejects_both_rows(validated):
    home, *_ = validated
    first, second = len(RULES) + 2, len(RULES) + 3
    found = query(home, "select row_number, reason_code, column_name, message from landing.quarantine_rows "
                        "where reason_code = 'DUBBEL_KARTLAGGNING' order by 1")
    assert [(r, c, col) for r, c, col, _ in found] == [(first, "DUBBEL_KARTLAGGNING", "besvarad"),
                                                       (second, "DUBBEL_KARTLAGGNING", "besvarad")]
    assert f"(rad {second})" in found[0][3] and f"(rad {first})" in found[1][3] and "Båda raderna avvisas" in found[0][3]


def test_the_file_verdict_and_the_accepted_rows_and_answers(validated):
    home, delivery_id, report, people, rows = validated
    rejected_rules = sum(1 for rule in RULES if rule[3] == "rejected") + 2
    warned_rules = sum(1 for rule in RULES if rule[3] == "warning")
    total = len(rows)
    assert query(home, "select status, verdict, verdict_reason, rows_total, rows_accepted, rows_rejected, rows_warned "
                       "from landing.deliveries where delivery_id = ?", [delivery_id]) == [
        ("VALIDATED", "ACCEPTED_WITH_WARNINGS", None, total, total - rejected_rules, rejected_rules, warned_rules)]
    assert [(v.delivery_id, v.verdict) for v in report.verdicts] == [(delivery_id, "ACCEPTED_WITH_WARNINGS")]
    assert (report.mapping_deliveries, report.mapping_rows_accepted) == (1, total - rejected_rules)
    assert query(home, "select count(*) from landing.mapping_answers") == [(report.mapping_answers,)]
    assert query(home, "select count(*), count(distinct person_id) from landing.mapping_rows") == [
        (total - rejected_rules, total - rejected_rules)]
    good = people[len(RULES) + 1:]
    assert query(home, "select project_id, kommunkod, reporting_month, min(besvarad), max(age_at_answer), "
                       "bool_and(not is_anonymous) from landing.mapping_rows where warnings = '' group by all") == [
        (PROJECT, KOMMUNKOD, "2009-10", dt.date(2009, 10, 12), 19, True)]
    # a good row's answers: one line per answered question, per code of the multiple choice, none for a blank
    first_good = len(RULES) + 4
    lines = query(home, "select question_id, answer_code, answer_number, answer_text from landing.mapping_answers "
                        "where row_number = ? order by question_id, answer_code", [first_good])
    assert lines == sorted([
        ("boende", "FORALDRAR", None, None), ("delaktig_samhalle", None, 3.0, None), ("forening", "NEJ", None, None),
        ("fysiskt_aktiv_dagar", None, 5.0, None), ("gymnasiet", "AVBRUTIT", None, None),
        ("nagon_att_prata_med", "JA", None, None),
        ("ovrigt", None, None, "[namn] vill bli ringd på [telefon] eller nås via [personnummer]"),
        ("paverka_vardag", None, 4.0, None), ("paverkar_halsan", "KOST", None, None),
        ("paverkar_halsan", "NAT", None, None)], key=lambda line: (line[0], line[1] or ""))
    assert query(home, "select count(*) from landing.mapping_answers where row_number = ? and question_id = 'ovrigt'",
                 [first_good + 5]) == [(0,)]                 # a blank optional free text: no answer
    # the hand-over tables are emptied
    assert query(home, "select (select count(*) from landing.mapping_pseudonymised_rows), "
                       "(select count(*) from landing.mapping_pseudonymised_answers)") == [(0, 0)]
    assert len(good) == GOOD_ROWS


def test_nothing_identifying_reaches_any_landing_table(validated):
    home, _, _, people, _ = validated
    identifiers = {form for person in people for form in person.written_forms()}
    identifiers |= {form for person in (Person(p.birth_date, 0) for p in people) for form in person.written_forms()}
    identifiers |= {"070-765 43 21", "Tindra"}
    digits, words = identifier_tokens(identifiers)
    texts = warehouse_text(home.warehouse)
    assert "landing.mapping_answers" in texts and "landing.row_warnings" in texts
    for table, text in texts.items():
        assert not find_identifiers(text, digits, words), table
        if table.startswith("landing."):
            assert not PNR_SHAPE.search(text), (table, PNR_SHAPE.search(text))
    for raw in ("Egen lägenhet", "Ibland", "ganska mycket", "varje dag", "snus", "Kvinna"):
        assert raw not in "\n".join(texts.values())


def _validated_file(tmp_path, bad: int, xlsx: bool = False):
    home = new_home(tmp_path / "home")
    config = prepared_home(home)
    people = PersonFactory().take(1991, 10)
    rows = [mapping_row(p, paverka_vardag="7" if i < bad else "3") for i, p in enumerate(people)]
    content = xlsx_bytes(HEADER, rows) if xlsx else csv_bytes(HEADER, rows)
    delivery_id = deliver_mapping(home, content, file_name="2009-11.xlsx" if xlsx else "2009-11.csv")
    pseudonymise_pending(home, load_key(home.root))
    validate_pending(home, config)
    return home, delivery_id


def test_more_than_20_percent_rejected_rows_reject_the_whole_file(tmp_path):
    home, delivery_id = _validated_file(tmp_path, bad=3)
    ((verdict, reason, message, total, accepted, rejected),) = query(
        home, "select verdict, verdict_reason, verdict_message, rows_total, rows_accepted, rows_rejected "
              "from landing.deliveries where delivery_id = ?", [delivery_id])
    assert (verdict, reason, total, accepted, rejected) == ("REJECTED", "FOR_MANGA_FEL", 10, 0, 3)
    assert "3 av 10 rader (30%) avvisades" in message
    assert query(home, "select count(*) from landing.mapping_rows") == [(0,)]
    assert query(home, "select count(*) from landing.mapping_answers") == [(0,)]
    assert query(home, "select count(*) from landing.quarantine_rows where reason_code = 'SVAR_UTANFOR_SKALAN'") == [(3,)]


def test_exactly_20_percent_rejected_rows_keep_the_file(tmp_path):
    home, delivery_id = _validated_file(tmp_path, bad=2, xlsx=True)
    assert query(home, "select verdict, rows_total, rows_accepted from landing.deliveries") == [
        ("ACCEPTED_WITH_WARNINGS", 10, 8)]
    assert query(home, "select count(*) from landing.mapping_rows") == [(8,)]


def _config_with_two_municipalities(tmp_path) -> Path:
    document = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    project = next(p for p in document["projects"] if p["id"] == PROJECT)
    project["municipalities"] = [KOMMUNKOD, "0483"]
    path = tmp_path / "projects.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _run(home, config) -> None:
    run_intake(home, config)
    pseudonymise_pending(home, load_key(home.root))
    validate_pending(home, config)


def test_the_concurrent_enrolment_check_compares_enrolment_snapshots_only(tmp_path, pseudonym_key):
    """A mapping file of Flen for a later month than Flen's enrolment snapshot is in force within its
    kind; Katrineholm's enrolment of the same person must still be compared with Flen's snapshot."""
    config = load_projects(_config_with_two_municipalities(tmp_path))
    home = new_home(tmp_path / "home")
    prepared_home(home, config)
    person, other = PersonFactory().take(1990, 2)
    write_file(home.inbox / PROJECT / KOMMUNKOD / "2009-09.csv",
               csv_bytes(ENROLMENT_HEADER, rows_for([person, other], "2009-09-01")))
    run_intake(home, config)
    mapping_id = deliver_mapping(home, csv_bytes(HEADER, [mapping_row(person)]), file_name="2009-10.csv")
    pseudonymise_pending(home, load_key(home.root))
    validate_pending(home, config)
    assert query(home, "select verdict from landing.deliveries where delivery_id = ?", [mapping_id]) == [("ACCEPTED",)]
    assert query(home, "select count(*) from landing.mapping_rows") == [(1,)]

    write_file(home.inbox / PROJECT / "0483" / "2009-10.csv", csv_bytes(ENROLMENT_HEADER, rows_for([person], "2009-09-15")))
    _run(home, config)
    assert query(home, "select d.kommunkod, w.row_number, w.warning_code from landing.row_warnings w "
                       "join landing.deliveries d using (delivery_id)") == [("0483", 2, "AKTIV_I_ANNAN_KOMMUN")]
    # and each path took only its own deliveries: the enrolments' rows are enrolments, the mapping's mappings
    assert query(home, "select count(*) from landing.enrolment_rows") == [(3,)]
    assert query(home, "select coalesce(extract_kind, 'INSKRIVNING'), verdict, rows_total from landing.deliveries "
                       "order by arrival_seq") == [("INSKRIVNING", "ACCEPTED", 2), ("KARTLAGGNING", "ACCEPTED", 1),
                                                   ("INSKRIVNING", "ACCEPTED_WITH_WARNINGS", 1)]


def test_the_dagster_assets_pseudonymise_and_validate_a_mapping_delivery(tmp_path, pseudonym_key):
    import dagster as dg

    from orchestration.privacy.assets import pseudonymised_rows
    from orchestration.quality.assets import validate
    from orchestration.resources import FollowupResource

    home = new_home(tmp_path / "home")
    prepared_home(home)
    people = PersonFactory().take(1990, 5)
    deliver_mapping(home, xlsx_bytes(HEADER, [mapping_row(p) for p in people[:4]]
                                     + [mapping_row(people[4], fysiskt_aktiv_dagar="99")]), file_name="2009-10.xlsx")
    with dg.instance_for_test() as instance:
        result = dg.materialize([pseudonymised_rows, validate], instance=instance,
                                resources={"followup": FollowupResource(home=str(home.root))})
    assert result.success
    metadata = {m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()}
                for m in result.asset_materializations_for_node("validate")}
    assert metadata["landing/mapping_rows"] == {"kartläggningsfiler validerade": 1, "kartläggningsrader godkända": 5}
    (answers,) = query(home, "select count(*) from landing.mapping_answers")[0]
    assert metadata["landing/mapping_answers"] == {"svar sparade": answers}
    assert metadata["landing/enrolment_rows"] == {"rader godkända": 0}
    (pseudonymised,) = result.asset_materializations_for_node("pseudonymised_rows")
    assert pseudonymised.metadata["kartläggningsrader"].value == 5
    assert query(home, "select verdict, rows_warned from landing.deliveries") == [("ACCEPTED_WITH_WARNINGS", 1)]
