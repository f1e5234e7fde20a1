"""Every format and quirk the extract contract accepts, each on a file built here.

tests/ingest/test_reader.py covers the encodings × separators × line endings grid; this adds the rest:
header aliases in every spelling, code values matched the same way, XLSX dates and numbers,
quoting, blank trailing cells, and the month anywhere in the file name. The good deliveries of
tests/bad_inputs/good.py are read here too, and go through the whole pipeline in
tests/end_to_end/test_intake_corpus.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from orchestration.ingest.inbox import month_in_name
from orchestration.privacy.extract.reader import read_extract
from orchestration.lib.contract import COLUMN_ALIASES, REQUIRED_COLUMNS, normalise_code
from orchestration.privacy.pseudonymise import DeliveryContext, Pseudonymiser, pseudonymise_rows
from tests.bad_inputs.builders import PersonFactory, csv_bytes, xlsx_workbook_bytes
from tests.bad_inputs.good import build_good

KEY = b"format-test-key-" + b"f" * 32
CONTEXT = DeliveryContext("d1", "uvas", "2303", "2016-03")

# Every column of the contract as the contract writes it, with the spellings of its aliases table
# (å/ä/ö included), and the canonical name each must map to.
SPELLINGS = sorted({(alias, column) for column, aliases in COLUMN_ALIASES.items() for alias in (column, *aliases)} | {
    ("kön", "kon"), ("födelseregion", "fodelseregion"), ("funktionsnedsättning", "funktionsnedsattning"),
    ("utbildningsnivå", "utbildningsniva"), ("sysselsättning_start", "sysselsattning_start"),
    ("försörjningsstöd_start", "forsorjningsstod_start"), ("försörjningsstöd_slut", "forsorjningsstod_slut"),
    ("uppföljning_6m", "uppfoljning_6m"), ("förnamn", "fornamn"), ("e-post", "epost"),
    ("rapportmånad", "rapportmanad"), ("avslutsanledning", "avslutsorsak"), ("person nr", "personnummer"),
})
VARIANTS = {
    "as_written": lambda s: s,
    "upper_case": str.upper,
    "title_case": str.title,
    "surrounding_spaces": lambda s: f"  {s} ",
    "spaces_for_underscores": lambda s: s.replace("_", " "),
    "hyphens_for_underscores": lambda s: s.replace("_", "-"),
}


def person(n: int = 0):
    return PersonFactory().take(1995, n + 1)[n]


def read(tmp_path: Path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return read_extract(path)


def pseudonymised(extract):
    return pseudonymise_rows(extract.rows, CONTEXT, Pseudonymiser(KEY))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("spelling", "column"), SPELLINGS)
def test_every_header_alias_is_read_in_any_case_with_spaces_and_with_or_without_aao(tmp_path, spelling, column, variant):
    header_name = VARIANTS[variant](spelling)
    header = [name for name in REQUIRED_COLUMNS if name != column] + [header_name]
    values = {"personnummer": person().ten, "startdatum": "2016-01-04", "fas": "MOTA"}
    row = [values.get(name, "x") for name in header[:-1]] + [values.get(column, "1")]
    extract = read(tmp_path, "2016-03.csv", csv_bytes(header, [row], encoding="cp1252"))
    assert column in extract.rows.columns, (header_name, list(extract.rows.columns))
    assert extract.rows[column].tolist() == [row[-1]]
    assert extract.unknown_columns == []


def test_a_column_the_contract_does_not_know_is_listed_not_read(tmp_path):
    extract = read(tmp_path, "2016-03.csv", csv_bytes(["personnummer", "startdatum", "fas", "Handläggare", "fas2"],
                                                      [[person().ten, "2016-01-04", "MOTA", "x", "y"]]))
    assert extract.unknown_columns == ["Handläggare", "fas2"]
    assert list(extract.rows.columns) == ["row_number", "personnummer", "startdatum", "fas"]


@pytest.mark.parametrize(("written", "code"), [
    ("Möta", "MOTA"), ("möta", "MOTA"), ("MOTA", "MOTA"), (" mota ", "MOTA"), ("MÖTA", "MOTA"),
    ("Aktivera", "AKTIVERA"), ("matcha", "MATCHA"), ("hitta ", "HITTA"),
])
def test_fas_values_are_matched_like_headers(tmp_path, written, code):
    content = csv_bytes(["personnummer", "startdatum", "fas"], [[person().ten, "2016-01-04", written]], encoding="cp1252")
    rows = pseudonymised(read(tmp_path, "2016-03.csv", content))
    assert rows["fas"].tolist() == [code] and rows["notes"].tolist() == [""]


@pytest.mark.parametrize(("column", "written", "code"), [
    ("avslutsorsak", "Ohälsa", "OHALSA"), ("avslutsorsak", "annan insats", "ANNAN_INSATS"),
    ("avslutsorsak", "Ej-kontakt", "EJ_KONTAKT"), ("avslutsorsak", "Övrigt", "OVRIGT"),
    ("fodelseregion", "eu ees", "EU_EES"), ("fodelseregion", "Okänd", "OKAND"),
    ("utbildningsniva", "isced 3-4", "ISCED_3_4"), ("sysselsattning_start", "Arbetslös AF", "ARBETSLOS_AF"),
    ("forsorjningsstod_start", "Ja", "JA"), ("uppfoljning_6m", "utan sysselsättning", "UTAN_SYSSELSATTNING"),
    ("uppfoljning_6m", "ej nådd", "EJ_NADD"), ("kon", "k", "K"),
])
def test_code_values_are_matched_like_headers(tmp_path, column, written, code):
    header = ["personnummer", "startdatum", "fas", "slutdatum", column]
    end = "2016-02-01" if column in ("avslutsorsak", "uppfoljning_6m") else ""
    rows = pseudonymised(read(tmp_path, "2016-03.csv", csv_bytes(header, [[person().ten, "2016-01-04", "MOTA", end, written]],
                                                                 encoding="cp1252")))
    assert rows[column].tolist() == [code]
    assert rows["notes"].tolist() == [""]     # no "unknown code" finding


def test_an_unknown_optional_code_is_stored_as_okand_with_a_note(tmp_path):
    rows = pseudonymised(read(tmp_path, "2016-03.csv", csv_bytes(
        ["personnummer", "startdatum", "fas", "fodelseregion", "utbildningsniva"],
        [[person().ten, "2016-01-04", "MOTA", "Atlantis", "gymnasium"]])))
    assert rows[["fodelseregion", "utbildningsniva"]].values.tolist() == [["OKAND", "OKAND"]]
    assert rows["notes"].tolist() == ["KOD_OKAND:fodelseregion,KOD_OKAND:utbildningsniva"]


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_quoted_fields_may_hold_the_separator_quotes_and_line_breaks(tmp_path, separator):
    note = f'ringde{separator} inget svar{separator} "igen"\r\nnästa vecka'
    quoted = '"' + note.replace('"', '""') + '"'
    lines = [separator.join(["personnummer", "startdatum", "fas", "anteckning"]),
             separator.join([person(0).ten, "2016-01-04", "MOTA", quoted]),
             separator.join([person(1).ten, "2016-01-05", "HITTA", ""])]
    extract = read(tmp_path, "2016-03.csv", ("\r\n".join(lines) + "\r\n").encode("utf-8"))
    assert extract.separator == separator
    assert extract.rows["anteckning"].tolist() == [note, ""]
    assert extract.rows["row_number"].tolist() == [2, 4]   # the second record starts on line 4


def test_blank_trailing_columns_and_lines_in_every_encoding(tmp_path):
    for encoding in ("utf-8", "utf-8-sig", "cp1252"):
        content = "personnummer;startdatum;fas;;;\r\n" + f"{person().ten};2016-01-04;Möta;;;\r\n" + ";;;;;\r\n\r\n  \r\n"
        extract = read(tmp_path, f"2016-03-{encoding}.csv", content.encode(encoding))
        assert extract.rows.values.tolist() == [[2, person().ten, "2016-01-04", "Möta"]]
        assert extract.unknown_columns == []


def test_xlsx_with_real_dates_numbers_for_personnummer_and_blank_trailing_cells(tmp_path):
    young, older = PersonFactory().take(2003, 1)[0], person()
    serial_date = (dt.date(2016, 1, 20) - dt.date(1899, 12, 30)).days

    def fill(sheet):
        sheet.append(["PNR", "Inskrivningsdatum", "Steg", "Avslutsdatum", "Avslutsorsak", None, None])
        sheet.append([int(young.ten.replace("-", "")), dt.datetime(2016, 1, 4), "Möta", None, None, None, None])
        sheet.append([int(older.twelve), serial_date, "matcha", dt.datetime(2016, 3, 2, 0, 0), "Arbete", "", None])
        sheet.append([None] * 7)

    content = xlsx_workbook_bytes(fill)
    extract = read(tmp_path, "uvas_2303_2016-03.xlsx", content)
    assert extract.rows["startdatum"].tolist() == ["2016-01-04", "2016-01-20"]
    assert extract.rows["slutdatum"].tolist() == ["", "2016-03-02"]
    assert len(young.ten.replace("-", "").lstrip("0")) < 10      # Excel really dropped zeros
    rows = pseudonymised(extract)
    assert rows["pnr_status"].tolist() == ["OK", "OK"]
    # The number that lost its zeros is the same person as the number written as text.
    text_form = pseudonymised(read(tmp_path, "2016-03.csv", csv_bytes(
        ["personnummer", "startdatum", "fas"], [[young.ten, "2016-01-04", "MOTA"]])))
    assert rows["person_id"].iloc[0] == text_form["person_id"].iloc[0]
    assert rows["age_at_start"].tolist() == [13, 21]
    assert rows["fas"].tolist() == ["MOTA", "MATCHA"] and rows["avslutsorsak"].fillna("").tolist() == ["", "ARBETE"]


@pytest.mark.parametrize(("name", "month"), [
    ("2016-03.csv", "2016-03"), ("uvas_2380_2016-03.xlsx", "2016-03"), ("leverans 2016-03 (rättad).csv", "2016-03"),
    ("Rapport-Åre-2016-03-v2.CSV", "2016-03"), ("2016-03-15 export.xlsx", "2016-03"),
    ("deltagare_2380_2017-12_slutlig.csv", "2017-12"), ("2016-03 ersätter 2016-02.csv", "2016-03"),
    ("leverans 201603.csv", None), ("12016-03.csv", None), ("2016-3.csv", None), ("2016-00.csv", None),
])
def test_the_month_is_found_anywhere_in_the_file_name(name, month):
    assert month_in_name(name) == month


@pytest.mark.parametrize("name", ["utf8_semicolon_lf", "windows1252_semicolon_crlf_aliases", "utf8_bom_tab_crlf",
                                  "xlsx_dates_numeric_personnummer", "comma_quoted_fields_blank_trailing",
                                  "month_inside_file_name"])
def test_each_good_delivery_reads_every_row_with_its_valid_personnummer(tmp_path, name):
    good = build_good(PersonFactory()).file(name)
    extract = read(tmp_path, good.file_name, good.content)
    rows = pseudonymise_rows(extract.rows, DeliveryContext("d1", "uvas", good.kommunkod, month_in_name(good.file_name)),
                             Pseudonymiser(KEY))
    assert len(rows) == good.rows_total
    pseudonymiser = Pseudonymiser(KEY)
    assert set(rows["person_id"].dropna()) == {pseudonymiser.person(p.twelve) for p in good.persons}
    assert set(rows["fas"]) <= {"HITTA", "MOTA", "AKTIVERA", "MATCHA"}
    assert rows["startdatum"].notna().all()
    assert (rows["pnr_status"] == "OK").sum() == good.rows_total - good.rows_rejected


def test_codes_written_in_the_windows_1252_file_are_canonical():
    good = build_good(PersonFactory()).file("windows1252_semicolon_crlf_aliases")
    assert normalise_code("Möta") == normalise_code("möta") == "MOTA"
    assert "Möta".encode("cp1252") in good.content      # really Windows-1252, really with ö


@pytest.mark.parametrize("name", ["2016-03.csv", "2016-03.txt", "2016-03.xlsx"])
def test_an_xlsx_is_read_as_xlsx_whatever_its_name(tmp_path, name):
    content = xlsx_workbook_bytes(lambda sheet: [sheet.append(["personnummer", "startdatum", "fas"]),
                                                 sheet.append([person().ten, dt.datetime(2016, 1, 4), "Möta"])])
    extract = read(tmp_path, name, content)
    assert extract.encoding == "xlsx"
    assert extract.rows.values.tolist() == [[2, person().ten, "2016-01-04", "Möta"]]
