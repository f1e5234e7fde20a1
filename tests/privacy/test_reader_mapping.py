"""Reading a mapping file (kartläggning) with its project's column schema: the fixed mapping
columns and their aliases, one column per question id, real files in UTF-8 and Windows-1252 with
`;` and XLSX written with openpyxl, in the reading child process as the stage reads them."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest

from orchestration.privacy.extract.reader import ExtractReadError, read_extract
from orchestration.privacy.extract.schema import ENROLMENT_SCHEMA, ColumnSchema, mapping_schema
from orchestration.privacy.mapping import schema_of
from orchestration.privacy.reading import IsolatedReader, ReadFailure
from orchestration.projects.config import load_projects
from tests.bad_inputs.builders import HEADER as ENROLMENT_HEADER
from tests.bad_inputs.builders import PersonFactory, csv_bytes, rows_for, xlsx_bytes
from tests.bad_inputs.mapping import GOOD_ANSWERS, HEADER, PROJECT, QUESTIONS, mapping_row

SCHEMA = schema_of(load_projects().project(PROJECT).mapping)


def test_the_schema_of_the_example_names_its_questions_and_the_required_ones():
    assert SCHEMA.questions == QUESTIONS
    assert set(SCHEMA.required_questions) == {"paverka_vardag", "delaktig_samhalle", "boende", "nagon_att_prata_med",
                                              "gymnasiet", "forening"}
    assert SCHEMA.required == ("personnummer", "besvarad") and SCHEMA.dates == ("besvarad",)
    assert pickle.loads(pickle.dumps(SCHEMA)) == SCHEMA          # it travels to the reading child


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_a_csv_mapping_file_keeps_the_fixed_columns_and_the_questions_under_aliases_and_any_spelling(tmp_path, encoding):
    people = PersonFactory().take(1990, 3)
    header = ["Personnr", "Svarsdatum", "Kön", "Förnamn", "Påverka vardag", *[q.upper() for q in QUESTIONS[1:]],
              "Handläggare"]
    rows = [[p.ten, "2009-10-12", "", "Åsa", *GOOD_ANSWERS, "Kim"] for p in people]
    path = tmp_path / "2009-10.csv"
    path.write_bytes(csv_bytes(header, rows, encoding=encoding, newline="\r\n"))

    extract = read_extract(path, schema=SCHEMA)

    assert list(extract.rows.columns) == ["row_number", "personnummer", "besvarad", "kon", "fornamn", *QUESTIONS]
    assert extract.rows["row_number"].tolist() == [2, 3, 4]
    assert extract.rows["paverka_vardag"].tolist() == ["4"] * 3
    assert extract.rows["fornamn"].tolist() == ["Åsa"] * 3                # decoded in either encoding
    assert extract.rows["ovrigt"].tolist() == ["Vill ha hjälp med körkort"] * 3
    assert extract.unknown_columns == ["Handläggare"]
    assert extract.separator == ";"


def test_an_xlsx_mapping_file_turns_excel_dates_in_besvarad_into_dates(tmp_path):
    people = PersonFactory().take(1991, 2)
    path = tmp_path / "2009-10.xlsx"
    path.write_bytes(xlsx_bytes(HEADER, [[people[0].ten, dt.date(2009, 10, 12), *GOOD_ANSWERS[:4], 5,
                                          *GOOD_ANSWERS[5:]],
                                         [people[1].ten, 40098, *GOOD_ANSWERS]]))   # a date cell formatted as a number

    extract = read_extract(path, schema=SCHEMA)

    assert extract.rows["besvarad"].tolist() == ["2009-10-12", "2009-10-12"]
    assert extract.rows["fysiskt_aktiv_dagar"].tolist() == ["5", "5"]
    assert extract.encoding == "xlsx"


def test_a_missing_required_question_column_rejects_the_file_naming_the_question(tmp_path):
    people = PersonFactory().take(1990, 2)
    header = [h for h in HEADER if h != "boende"]
    path = tmp_path / "2009-10.csv"
    path.write_bytes(csv_bytes(header, [[c for h, c in zip(HEADER, mapping_row(p)) if h != "boende"] for p in people]))

    with pytest.raises(ExtractReadError) as raised:
        read_extract(path, schema=SCHEMA)

    assert raised.value.code == "FRAGA_SAKNAS"
    assert "boende" in raised.value.message and "obligatoriska frågan" in raised.value.message
    assert "Lägg till kolumnen" in raised.value.message and "skicka filen igen" in raised.value.message
    for person in people:
        assert person.ten not in raised.value.message


def test_an_optional_question_column_may_be_missing_and_two_required_ones_are_both_named(tmp_path):
    people = PersonFactory().take(1990, 2)
    optional_gone = [h for h in HEADER if h not in ("paverkar_halsan", "ovrigt", "fysiskt_aktiv_dagar")]
    path = tmp_path / "2009-10.csv"
    path.write_bytes(csv_bytes(optional_gone, [[p.ten, "2009-10-12", "4", "3", "EGET", "JA", "PAGAR", "NEJ"]
                                               for p in people]))
    assert "paverkar_halsan" not in read_extract(path, schema=SCHEMA).rows.columns

    path.write_bytes(csv_bytes(["personnummer", "besvarad", "boende"], [[p.ten, "2009-10-12", "EGET"] for p in people]))
    with pytest.raises(ExtractReadError) as raised:
        read_extract(path, schema=SCHEMA)
    assert raised.value.code == "FRAGA_SAKNAS"
    assert "paverka_vardag, delaktig_samhalle, nagon_att_prata_med, gymnasiet, forening" in raised.value.message


def test_the_mapping_required_columns_are_its_own(tmp_path):
    people = PersonFactory().take(1990, 2)
    path = tmp_path / "2009-10.csv"
    path.write_bytes(csv_bytes([h for h in HEADER if h != "besvarad"],
                               [[c for h, c in zip(HEADER, mapping_row(p)) if h != "besvarad"] for p in people]))
    with pytest.raises(ExtractReadError) as raised:
        read_extract(path, schema=SCHEMA)
    assert raised.value.code == "KOLUMN_SAKNAS"
    assert "Obligatorisk kolumn saknas: besvarad" in raised.value.message
    assert "personnummer, besvarad" in raised.value.message

    # an enrolment file sent as a mapping file lacks besvarad; and a mapping file read as an enrolment lacks fas
    path.write_bytes(csv_bytes(ENROLMENT_HEADER, rows_for(people, "2009-10-01")))
    with pytest.raises(ExtractReadError, match="besvarad"):
        read_extract(path, schema=SCHEMA)
    path.write_bytes(csv_bytes(HEADER, [mapping_row(p) for p in people]))
    with pytest.raises(ExtractReadError, match="startdatum, fas"):
        read_extract(path)


def test_a_title_row_above_a_mapping_header_is_passed_over(tmp_path):
    people = PersonFactory().take(1990, 2)
    path = tmp_path / "2009-10.csv"
    path.write_bytes(b"Kartl\xe4ggning Flen h\xf6sten 2009;;\r\n" + csv_bytes(HEADER, [mapping_row(p) for p in people],
                                                                            encoding="cp1252", newline="\r\n"))
    extract = read_extract(path, schema=SCHEMA)
    assert extract.rows["row_number"].tolist() == [3, 4]


def test_the_reading_child_reads_with_the_schema_it_is_sent(tmp_path):
    people = PersonFactory().take(1990, 2)
    mapping = tmp_path / "2009-10.csv"
    mapping.write_bytes(csv_bytes(HEADER, [mapping_row(p) for p in people]))
    enrolment = tmp_path / "2009-11.csv"
    enrolment.write_bytes(csv_bytes(ENROLMENT_HEADER, rows_for(people, "2009-11-01")))
    missing = tmp_path / "2009-12.csv"
    missing.write_bytes(csv_bytes(["personnummer", "besvarad"], [[p.ten, "2009-12-01"] for p in people]))
    with IsolatedReader() as reader:
        read_mapping = reader.read(mapping, SCHEMA)
        read_enrolment = reader.read(enrolment)
        refused = reader.read(missing, SCHEMA)
    assert list(read_mapping.rows.columns) == ["row_number", "personnummer", "besvarad", *QUESTIONS]
    assert list(read_enrolment.rows.columns) == ["row_number", *ENROLMENT_HEADER]
    assert isinstance(refused, ReadFailure) and refused.code == "FRAGA_SAKNAS"


def test_a_schema_refuses_what_it_cannot_read():
    with pytest.raises(ValueError):
        ColumnSchema("OKAND")
    with pytest.raises(ValueError):
        mapping_schema(("row_number",), ())
    with pytest.raises(ValueError):
        mapping_schema(("a",), ("b",))
    assert ENROLMENT_SCHEMA.canonical("Personnr") == "personnummer" and ENROLMENT_SCHEMA.canonical("boende") is None
    assert SCHEMA.canonical(" Nagon att prata med ") == "nagon_att_prata_med"
