"""The delivery template (`followup template`): what it offers, and that a filled one is accepted.

The drop-downs and formats are read back from the written workbook with openpyxl. A template
filled in here (synthetic persons, tests/bad_inputs/builders.py) goes through the pipeline's own
stages without dbt (tests/bad_inputs/stages.py): the real reader, pseudonymiser and row rules
accept exactly the rows entered, and never the example rows of the `Exempel` sheet. The same
filled template saved once by LibreOffice Calc is accepted with the same rows, leading zeros
kept (skipped without LibreOffice, failed then when FOLLOWUP_REQUIRE_LIBREOFFICE is set).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import openpyxl
import pytest
from openpyxl.styles.numbers import is_date_format

from orchestration.privacy.extract.reader import ExtractReadError, read_extract
from orchestration.lib.home import DataHome
from orchestration.lib.contract import AVSLUTSORSAK, FAS, KON, OPTIONAL_CODES, REQUIRED_COLUMNS, canonical_column
from orchestration.lib.thresholds import DEADLINE_DAY
from orchestration.privacy.keys import load_key
from orchestration.privacy.pseudonymise import Pseudonymiser
from orchestration.projects.config import load_projects
from orchestration.reporting.template import (
    COLUMNS,
    DATA_ROWS,
    EXAMPLE_SHEET,
    INSTRUCTION_SHEET,
    PARTICIPANT_SHEET,
    example_rows,
    template_for,
    write_template,
)
from tests.bad_inputs.builders import PersonFactory
from tests.bad_inputs.scenario import cli_in_process, query, write_file
from tests.bad_inputs.stages import new_home, process
from tests.libreoffice import SOFFICE, require

CONTRACT_CODES = {"fas": FAS, "kon": KON, "avslutsorsak": AVSLUTSORSAK, **OPTIONAL_CODES}
MONTH = "2016-03"                    # uvas runs 2015-06 .. 2018-06, ages 15–29


@pytest.fixture(scope="module")
def template_files(tmp_path_factory):
    template = template_for(load_projects().project("uvas"), "2303")
    return write_template(template, tmp_path_factory.mktemp("template") / "ut")


@pytest.fixture(scope="module")
def filled(template_files, tmp_path_factory):
    """The template with five synthetic enrolments typed into its participant sheet, as a case
    worker would: personnummer as text (two born in 2000, one without separator: a leading zero),
    dates as dates, codes from the lists. Returns the file and the persons in row order."""
    factory = PersonFactory()
    born_2000, born_1996 = factory.take(2000, 2), factory.take(1996, 3)
    entered = [
        (born_2000[0], born_2000[0].ten.replace("-", ""), dt.date(2016, 1, 4), "MOTA", "K", None, None),
        (born_2000[1], born_2000[1].ten, dt.date(2016, 2, 1), "HITTA", "M", None, None),
        (born_1996[0], born_1996[0].twelve, dt.date(2015, 9, 1), "MATCHA", "M", dt.date(2016, 2, 15), "ARBETE"),
        (born_1996[1], born_1996[1].ten, dt.date(2015, 11, 2), "AKTIVERA", "X", None, None),
        (born_1996[2], born_1996[2].ten, dt.date(2016, 3, 31), "MOTA", "K", None, None),
    ]
    book = openpyxl.load_workbook(template_files[0])
    sheet = book[PARTICIPANT_SHEET]
    index = {canonical_column(cell.value): cell.column for cell in sheet[1]}
    for row, (_, written, start, fas, kon, end, reason) in enumerate(entered, start=2):
        for column, value in (("personnummer", written), ("startdatum", start), ("fas", fas), ("kon", kon),
                              ("slutdatum", end), ("avslutsorsak", reason), ("fodelseregion", "SVERIGE"),
                              ("forsorjningsstod_start", "NEJ")):
            if value is not None:
                sheet.cell(row=row, column=index[column]).value = value
    path = tmp_path_factory.mktemp("filled") / "ifylld.xlsx"
    book.save(path)
    return path, entered


def accepted_rows(tmp_path, workbook, kommunkod: str = "2303") -> tuple[DataHome, dict, list[tuple]]:
    """The delivery and its accepted rows after the pipeline's stages on a fresh home."""
    home = new_home(tmp_path / "home")
    name = f"uvas_{kommunkod}_{MONTH}.xlsx"
    write_file(home.inbox / "uvas" / kommunkod / name, workbook.read_bytes())
    process(home)
    columns = ("delivery_id", "verdict", "rows_total", "rows_accepted", "rows_rejected")
    found = query(home, f"select {', '.join(columns)} from landing.deliveries where file_name = ?", [name])
    assert len(found) == 1
    delivery = dict(zip(columns, found[0]))
    rows = query(home, "select row_number, person_id, startdatum, fas, kon, slutdatum, avslutsorsak "
                       "from landing.enrolment_rows where delivery_id = ? order by row_number",
                 [delivery["delivery_id"]])
    return home, delivery, rows


def assert_exactly_entered(home: DataHome, delivery: dict, rows: list[tuple], entered) -> None:
    pseudonym = Pseudonymiser(load_key(home.root)).person
    assert (delivery["verdict"], delivery["rows_total"], delivery["rows_accepted"], delivery["rows_rejected"]) == (
        "ACCEPTED", len(entered), len(entered), 0)
    expected = [(row, pseudonym(person.twelve), start, fas, kon, end, reason)
                for row, (person, _, start, fas, kon, end, reason) in enumerate(entered, start=2)]
    assert rows == expected
    examples = {pseudonym(e["personnummer"].replace("-", "")) for e in example_rows(load_projects().project("uvas"))
                if e.get("personnummer")}
    assert not examples & {r[1] for r in rows}


# --- what the template offers ------------------------------------------------------------------

def test_every_header_is_read_as_its_contract_column_and_every_code_column_is_there():
    assert [canonical_column(c.header) for c in COLUMNS] == [c.column for c in COLUMNS]
    assert set(REQUIRED_COLUMNS) <= {c.column for c in COLUMNS}
    assert {c.column: c.codes for c in COLUMNS if c.codes} == CONTRACT_CODES


def test_each_code_column_has_a_drop_down_of_exactly_the_contract_codes_over_the_data_rows(template_files):
    book = openpyxl.load_workbook(template_files[0])
    assert book.sheetnames[0] == PARTICIPANT_SHEET
    sheet = book[PARTICIPANT_SHEET]
    letters = {canonical_column(cell.value): cell.column_letter for cell in sheet[1]}
    lists: dict[str, tuple[str, ...]] = {}
    for validation in sheet.data_validations.dataValidation:
        assert validation.type == "list" and validation.showErrorMessage
        codes = tuple(validation.formula1.strip('"').split(","))
        for cell_range in validation.sqref.ranges:
            letter = cell_range.coord.split(":")[0].rstrip("0123456789")
            column = next(name for name, at in letters.items() if at == letter)
            assert cell_range.coord == f"{letter}2:{letter}{DATA_ROWS + 1}"
            assert column not in lists
            lists[column] = codes
    assert lists == CONTRACT_CODES
    assert DATA_ROWS >= 1000


def test_personnummer_cells_are_text_and_date_cells_are_dates(template_files):
    sheet = openpyxl.load_workbook(template_files[0])[PARTICIPANT_SHEET]
    letters = {canonical_column(cell.value): cell.column_letter for cell in sheet[1]}
    for row in (2, 3, DATA_ROWS + 1):
        assert sheet[f"{letters['personnummer']}{row}"].number_format == "@"
        assert sheet[f"{letters['anonym_id']}{row}"].number_format == "@"
        for column in ("startdatum", "slutdatum"):
            assert is_date_format(sheet[f"{letters[column]}{row}"].number_format)


def test_every_sheet_prints_one_page_wide_and_long_instructions_get_their_height(template_files):
    """Printed, a sheet is not split column by column over pages, and a wrapped instruction is
    not drawn over the next one (LibreOffice does not fit row heights when it opens a workbook)."""
    workbook = openpyxl.load_workbook(template_files[0])
    for sheet in workbook.worksheets:
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth == 1, sheet.title
        assert sheet.page_setup.orientation == "landscape"
    instructions = workbook[INSTRUCTION_SHEET]
    width = instructions.column_dimensions["B"].width
    long_rows = [row for row in range(1, instructions.max_row + 1)
                 if len(str(instructions.cell(row, 2).value or "")) > 1.3 * width]
    assert long_rows and all((instructions.row_dimensions[row].height or 0) >= 30 for row in long_rows)


def test_the_instructions_say_in_swedish_what_to_fill_in_the_codes_deadline_folder_and_file_name(template_files):
    book = openpyxl.load_workbook(template_files[0])
    assert book.sheetnames == [PARTICIPANT_SHEET, INSTRUCTION_SHEET, EXAMPLE_SHEET]
    text = "\n".join(str(cell.value) for row in book[INSTRUCTION_SHEET].iter_rows() for cell in row
                     if cell.value is not None)
    for expected in ("2303 Ragunda", "uvas_2303_ÅÅÅÅ-MM.xlsx", "inbox/uvas/2303/", f"den {DEADLINE_DAY}:e i månaden "
                     "efter", "Filnamnet måste innehålla rapportmånaden som ÅÅÅÅ-MM", "Fliken Deltagare",
                     *(c.header for c in COLUMNS)):
        assert expected in text, expected
    for codes in CONTRACT_CODES.values():
        for code in codes:
            assert code in text, code
    assert "shared/" not in text


def test_example_rows_are_made_up_marked_and_never_read_as_participants(template_files):
    book = openpyxl.load_workbook(template_files[0])
    examples = book[EXAMPLE_SHEET]
    assert "EXEMPEL" in examples["A1"].value and "läses aldrig in" in examples["A1"].value
    numbers = [e["personnummer"] for e in example_rows(load_projects().project("uvas")) if e.get("personnummer")]
    assert numbers and all(n[9:12] == "000" for n in numbers)          # a birth number never issued
    assert [c.value for c in examples[2]] == [c.header for c in COLUMNS]
    # the template as written: formats and drop-downs but no participant; the reader sees none
    with pytest.raises(ExtractReadError) as raised:
        read_extract(template_files[0])
    assert raised.value.code == "FIL_TOM"


def test_the_csv_template_is_the_header_the_reader_accepts(template_files, tmp_path):
    header = template_files[1].read_bytes()
    assert header.startswith(b"\xef\xbb\xbf") and header.endswith(b"\r\n") and header.count(b"\r\n") == 1
    person, = PersonFactory().take(1996, 1)
    delivery = tmp_path / f"uvas_2303_{MONTH}.csv"
    delivery.write_bytes(header + f"{person.ten};2016-01-04;Möta;;;;;;;;;;;\r\n".encode())
    extract = read_extract(delivery)
    assert extract.unknown_columns == [] and extract.separator == ";"
    assert list(extract.rows.columns) == ["row_number", *(c.column for c in COLUMNS)]
    assert extract.rows.loc[0, "personnummer"] == person.ten


# --- a filled template through the pipeline ----------------------------------------------------

def test_a_filled_template_is_accepted_with_exactly_the_rows_entered(filled, tmp_path, pseudonym_key):
    workbook, entered = filled
    assert list(read_extract(workbook).rows["row_number"]) == list(range(2, len(entered) + 2))
    assert_exactly_entered(*accepted_rows(tmp_path, workbook), entered)


def test_the_filled_template_saved_by_libreoffice_calc_is_accepted_with_the_same_rows(filled, tmp_path, pseudonym_key):
    require()
    workbook, entered = filled
    source = tmp_path / "calc" / "ifylld.xlsx"
    source.parent.mkdir()
    shutil.copyfile(workbook, source)
    result = subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{tmp_path / 'profile'}", "--headless",
         "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(tmp_path / "saved"), str(source)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    saved = tmp_path / "saved" / "ifylld.xlsx"
    sheet = openpyxl.load_workbook(saved)[PARTICIPANT_SHEET]
    assert sheet["A2"].value == entered[0][1] and sheet["A2"].value.startswith("00")    # the zeros kept
    kept = {tuple(v.formula1.strip('"').split(",")) for v in sheet.data_validations.dataValidation}
    assert kept == set(CONTRACT_CODES.values())                 # the drop-downs survive the save
    assert_exactly_entered(*accepted_rows(tmp_path, saved, kommunkod="2305"), entered)


# --- the command ---------------------------------------------------------------------------------

def test_the_command_writes_both_files_and_names_the_file_to_deliver(tmp_path):
    result = cli_in_process("template", "--project", "uvas", "--kommun", "2380", "--out", str(tmp_path / "mall"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mall" / "leveransmall.xlsx").exists() and (tmp_path / "mall" / "leveransmall.csv").exists()
    assert "uvas_2380_ÅÅÅÅ-MM.xlsx" in result.stdout


@pytest.mark.parametrize(("arguments", "said"), [
    (("--project", "okant"), "okänt projekt 'okant'. Konfigurerade: uvas"),
    (("--project", "uvas", "--kommun", "0136"), "kommunkoden '0136' hör inte till projektet 'uvas'"),
    (("--project", "uvas", "--kommun", "23"), "En kommunkod är fyra siffror"),
])
def test_an_unknown_project_or_municipality_is_a_usage_error_in_swedish(tmp_path, arguments, said):
    result = cli_in_process("template", *arguments, "--out", str(tmp_path / "mall"))
    assert result.returncode == 2
    assert said in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "mall").exists()
