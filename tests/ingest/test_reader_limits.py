"""Reading within limits: the verdict on a file over each limit, a file at each limit read whole,
and every hostile file of tests/bad_inputs/hostile.py.

Verdicts are checked with small limits passed as ReadLimits, so the files stay small. Where
memory and time are the point, the file is read at the default limits in a child process that
reports its peak memory (VmHWM, over what it held after its imports), the bytes it read and its
seconds, under a hard address-space cap so that a reader that runs away fails the test instead
of the machine.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import asdict
from pathlib import Path

import pytest

from orchestration.ingest.limits import ReadLimits
from orchestration.privacy.extract.reader import Extract, ExtractReadError, read_extract
from tests.bad_inputs import hostile
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, rows_for

MB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
START = hostile.START


def persons(count: int, birth_year: int = 1994):
    return PersonFactory().take(birth_year, count)


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def rejected(path: Path, limits: ReadLimits | None = None) -> ExtractReadError:
    """The reader's verdict on a file it must refuse; its message never shows a personnummer."""
    with pytest.raises(ExtractReadError) as raised:
        read_extract(path, limits)
    assert not re.search(r"\d{6}[-+]?\d{4}", raised.value.message), raised.value.message
    return raised.value


def assert_message(error: ExtractReadError, code: str, *fragments: str) -> None:
    assert error.code == code, (error.code, error.message)
    for fragment in fragments:
        assert fragment in error.message, (fragment, error.message)


def assert_every_person(extract: Extract, people, row_numbers: list[int]) -> None:
    assert extract.rows["personnummer"].tolist() == [p.ten for p in people]
    assert extract.rows["row_number"].tolist() == row_numbers
    assert set(extract.rows["fas"]) == {"MOTA"}


# --- The limits and their settings ---------------------------------------------------------------

ENVIRONMENT = {
    "FOLLOWUP_MAX_FILE_MB": ("max_file_bytes", "7", 7 * MB),
    "FOLLOWUP_MAX_ROWS": ("max_rows", "12345", 12345),
    "FOLLOWUP_MAX_COLUMNS": ("max_columns", "33", 33),
    "FOLLOWUP_MAX_LINE_CHARS": ("max_line_chars", "4321", 4321),
    "FOLLOWUP_MAX_XLSX_MB": ("max_xlsx_uncompressed_bytes", "9", 9 * MB),
    "FOLLOWUP_READ_TIMEOUT_S": ("read_seconds", "2.5", 2.5),
    "FOLLOWUP_READER_MEMORY_MB": ("reader_memory_bytes", "512", 512 * MB),
}


def test_the_defaults_are_the_documented_ones():
    assert ReadLimits.from_environment({}) == ReadLimits(
        max_file_bytes=100 * MB, max_rows=200_000, max_columns=200, max_line_chars=100_000,
        max_xlsx_uncompressed_bytes=256 * MB, read_seconds=600, reader_memory_bytes=1024 * MB)


def test_each_limit_is_taken_from_its_environment_variable_and_a_blank_one_is_ignored():
    limits = ReadLimits.from_environment({variable: text for variable, (_, text, _) in ENVIRONMENT.items()})
    assert {name: getattr(limits, name) for name, _, _ in ENVIRONMENT.values()} == \
        {name: value for name, _, value in ENVIRONMENT.values()}
    assert ReadLimits.from_environment({"FOLLOWUP_MAX_ROWS": "  "}).max_rows == 200_000


@pytest.mark.parametrize("variable", sorted(ENVIRONMENT))
@pytest.mark.parametrize("text", ["abc", "0", "-3", "1e999", "nan"])
def test_a_bad_setting_is_refused_in_swedish_naming_the_variable(variable, text):
    with pytest.raises(ValueError) as raised:
        ReadLimits.from_environment({variable: text})
    assert variable in str(raised.value) and "måste vara ett positivt" in str(raised.value)
    assert repr(text) in str(raised.value)


def test_a_count_is_a_whole_number_but_the_timeout_may_have_a_fraction():
    with pytest.raises(ValueError, match="FOLLOWUP_MAX_ROWS måste vara ett positivt heltal"):
        ReadLimits.from_environment({"FOLLOWUP_MAX_ROWS": "1.5"})
    assert ReadLimits.from_environment({"FOLLOWUP_READ_TIMEOUT_S": "0.5"}).read_seconds == 0.5


def test_a_limit_given_in_code_must_be_positive():
    with pytest.raises(ValueError, match="max_rows"):
        ReadLimits(max_rows=0)


def test_without_limits_the_reader_takes_them_from_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, "2016-03.csv", hostile.csv_with_rows(persons(4)))
    monkeypatch.setenv("FOLLOWUP_MAX_ROWS", "3")
    assert_message(rejected(path), "FOR_MANGA_RADER", "rad 5")
    monkeypatch.setenv("FOLLOWUP_MAX_ROWS", "4")
    assert len(read_extract(path).rows) == 4


# --- File size -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["2016-03.csv", "2016-03.xlsx"])
def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, name):
    # NUL bytes: read, the file would be refused as binary; refused by its size, it was not read.
    path = write(tmp_path, name, b"\x00" * (2 * MB + 1))
    error = rejected(path, ReadLimits(max_file_bytes=2 * MB))
    assert_message(error, "FIL_FOR_STOR", "Filen är 2,0 MB", "över 2,0 MB läses inte", "bara innehåller projektets",
                   "samordnare", "FOLLOWUP_MAX_FILE_MB")


def test_a_file_of_exactly_the_size_limit_is_read(tmp_path):
    people = persons(3)
    content = hostile.csv_with_rows(people)
    path = write(tmp_path, "2016-03.csv", content)
    assert_every_person(read_extract(path, ReadLimits(max_file_bytes=len(content))), people, [2, 3, 4])
    assert_message(rejected(path, ReadLimits(max_file_bytes=len(content) - 1)), "FIL_FOR_STOR")


# --- Rows ----------------------------------------------------------------------------------------

BUILDERS = {"csv": (hostile.csv_with_rows, "2016-03.csv"), "xlsx": (hostile.xlsx_with_rows, "2016-03.xlsx")}


@pytest.mark.parametrize("kind", BUILDERS)
def test_rows_over_the_limit_are_refused_at_the_first_row_too_many(tmp_path, kind):
    build, name = BUILDERS[kind]
    path = write(tmp_path, name, build(persons(51)))
    assert_message(rejected(path, ReadLimits(max_rows=50)), "FOR_MANGA_RADER", "fler än 50 deltagarrader",
                   "rad 52 är deltagarrad nummer 51", "en enda rubrikrad", "FOLLOWUP_MAX_ROWS")


@pytest.mark.parametrize("kind", BUILDERS)
def test_a_file_with_as_many_rows_as_the_limit_is_read_whole(tmp_path, kind):
    build, name = BUILDERS[kind]
    people = persons(50)
    extract = read_extract(write(tmp_path, name, build(people)), ReadLimits(max_rows=50))
    assert_every_person(extract, people, list(range(2, 52)))


def test_title_rows_and_blank_rows_do_not_count_as_rows(tmp_path):
    people = persons(5)
    content = b"Deltagare mars 2016;;\n\n" + hostile.csv_with_blank_lines(people, 30, line=b";;;;\n")
    extract = read_extract(write(tmp_path, "2016-03.csv", content), ReadLimits(max_rows=5))
    assert_every_person(extract, people, [4, 5, 6, 7, 38])


# --- Columns -------------------------------------------------------------------------------------

def test_a_csv_wider_than_the_column_limit_is_refused_at_its_header(tmp_path):
    path = write(tmp_path, "2016-03.csv", hostile.csv_with_columns(persons(3), 21))
    assert_message(rejected(path, ReadLimits(max_columns=20)), "FOR_MANGA_KOLUMNER",
                   "Rad 1 har innehåll i kolumn 21", "högst 20 kolumner", "FOLLOWUP_MAX_COLUMNS")


def test_a_csv_row_with_a_value_beyond_the_column_limit_is_refused_at_that_row(tmp_path):
    people = persons(3)
    rows = rows_for(people, START)
    rows[1] += [""] * 30 + ["x"]                       # column 36 on line 3
    path = write(tmp_path, "2016-03.csv", csv_bytes(HEADER, rows))
    assert_message(rejected(path, ReadLimits(max_columns=20)), "FOR_MANGA_KOLUMNER", "Rad 3 har innehåll i kolumn 36")


def test_a_csv_as_wide_as_the_column_limit_is_read_and_its_extra_columns_listed(tmp_path):
    people = persons(3)
    extract = read_extract(write(tmp_path, "2016-03.csv", hostile.csv_with_columns(people, 20)),
                           ReadLimits(max_columns=20))
    assert_every_person(extract, people, [2, 3, 4])
    assert extract.unknown_columns == [f"extra_{n}" for n in range(6, 21)]


def test_blank_trailing_columns_never_count_against_the_column_limit(tmp_path):
    people = persons(3)
    extract = read_extract(write(tmp_path, "2016-03.csv", hostile.csv_with_columns(people, 5000, blank_extra=True)),
                           ReadLimits(max_columns=20))
    assert_every_person(extract, people, [2, 3, 4])
    assert extract.unknown_columns == []


def test_an_xlsx_cell_beyond_the_column_limit_is_refused_with_its_row_and_column(tmp_path):
    path = write(tmp_path, "2016-03.xlsx", hostile.xlsx_with_cell_in_column(persons(3), 21))
    assert_message(rejected(path, ReadLimits(max_columns=20)), "FOR_MANGA_KOLUMNER",
                   "Rad 3 har innehåll i kolumn 21 (U)", "högst 20 kolumner")


@pytest.mark.parametrize(("column", "value"), [(20, "x"), (16384, None)])
def test_an_xlsx_cell_at_the_limit_or_an_empty_one_anywhere_is_read(tmp_path, column, value):
    people = persons(3)
    extract = read_extract(write(tmp_path, "2016-03.xlsx", hostile.xlsx_with_cell_in_column(people, column, value)),
                           ReadLimits(max_columns=20))
    assert_every_person(extract, people, [2, 3, 4])


# --- Lines ---------------------------------------------------------------------------------------

def note_rows(people, note_chars: int) -> bytes:
    """The persons' rows with a note; the line of the second person is exactly
    len(person.ten) + 32 + note_chars characters (HEADER's five cells, a note, five separators)."""
    rows = [[*row, "kort"] for row in rows_for(people, START)]
    rows[1][-1] = "y" * note_chars
    return csv_bytes(HEADER + ["anteckning"], rows)


def test_a_csv_line_over_the_line_limit_is_refused_at_that_line(tmp_path):
    people = persons(3)
    fixed = len(people[1].ten) + len(START) + len("MOTA") + 5      # the other cells and the separators
    path = write(tmp_path, "2016-03.csv", note_rows(people, 1000 - fixed + 1))
    assert_message(rejected(path, ReadLimits(max_line_chars=1000)), "RAD_FOR_LANG", "Rad 3 är för lång",
                   "över 1 000 tecken", "Rätta raden", "FOLLOWUP_MAX_LINE_CHARS")
    path = write(tmp_path, "2016-03.csv", note_rows(people, 1000 - fixed))
    extract = read_extract(path, ReadLimits(max_line_chars=1000))
    assert_every_person(extract, people, [2, 3, 4])
    assert extract.rows["anteckning"].str.len().tolist() == [4, 1000 - fixed, 4]


@pytest.mark.parametrize(("build", "name"), [(hostile.csv_one_long_line, "2016-03.csv"),
                                             (hostile.csv_utf16_one_long_line, "2016-03.txt")])
def test_a_file_that_is_one_long_line_is_refused_at_line_1(tmp_path, build, name):
    path = write(tmp_path, name, build(5000))
    assert_message(rejected(path, ReadLimits(max_line_chars=1000)), "RAD_FOR_LANG", "Rad 1 är för lång")


def test_a_quote_that_never_closes_is_named_whether_or_not_it_swallows_more_than_the_line_limit(tmp_path):
    big = write(tmp_path, "2016-03.csv", hostile.csv_with_unclosed_quote(persons(40)))
    assert_message(rejected(big, ReadLimits(max_line_chars=1000)), "RAD_FOR_LANG", "Rad 2 är för lång",
                   "ett enda fält på över 1 000 tecken", "citattecken (\") som aldrig stängs")
    small = write(tmp_path, "2016-04.csv", hostile.csv_with_unclosed_quote(persons(5)))
    assert_message(rejected(small, ReadLimits(max_line_chars=1000)), "CITATTECKEN_EJ_STANGT", "rad 2")


def test_a_quoted_note_over_several_lines_within_the_limit_is_read(tmp_path):
    people = persons(3)
    note = "rad ett\nrad två\n" + "z" * 900
    rows = [[*row, ""] for row in rows_for(people, START)]
    content = csv_bytes(HEADER + ["anteckning"], rows).replace(b";\n", f';"{note}"\n'.encode(), 1)
    extract = read_extract(write(tmp_path, "2016-03.csv", content), ReadLimits(max_line_chars=1000))
    assert_every_person(extract, people, [2, 5, 6])
    assert extract.rows["anteckning"].tolist() == [note, "", ""]


def test_an_xlsx_row_whose_cells_hold_more_than_the_line_limit_is_refused(tmp_path):
    people = persons(3)
    fixed = len(people[0].ten) + len(START) + len("MOTA")
    path = write(tmp_path, "2016-03.xlsx", hostile.xlsx_with_long_row(people, 1000 - fixed + 1))
    assert_message(rejected(path, ReadLimits(max_line_chars=1000)), "RAD_FOR_LANG", "Rad 2 är för lång",
                   "dess celler har tillsammans över 1 000 tecken")
    path = write(tmp_path, "2016-04.xlsx", hostile.xlsx_with_long_row(people, 1000 - fixed))
    assert_every_person(read_extract(path, ReadLimits(max_line_chars=1000)), people, [2, 3, 4])
    path = write(tmp_path, "2016-05.xlsx", hostile.xlsx_with_long_row(people, 100_001))    # four cells
    assert_message(rejected(path), "RAD_FOR_LANG", "Rad 2 är för lång", "över 100 000 tecken")


def test_a_million_blank_lines_are_read_past(tmp_path):
    people = persons(4)
    extract = read_extract(write(tmp_path, "2016-03.csv", hostile.csv_with_blank_lines(people, 1_000_000)))
    assert_every_person(extract, people, [2, 3, 4, 1_000_005])


# --- Reading a line at a time --------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "reported"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                                    ("cp1252", "cp1252"), ("utf-16", "utf-16")])
def test_the_encoding_of_a_file_read_in_blocks_is_reported(tmp_path, encoding, reported):
    people = persons(3000)
    rows = [[*row, "Möte"] for row in rows_for(people, START)]
    content = csv_bytes(HEADER + ["anteckning"], rows, separator="\t", encoding=encoding, newline="\r\n")
    assert len(content) > 65536                          # more than one block
    extract = read_extract(write(tmp_path, "2016-03.csv", content))
    assert extract.encoding == reported and extract.separator == "\t"
    assert_every_person(extract, people, list(range(2, 3002)))
    assert set(extract.rows["anteckning"]) == {"Möte"}


def test_each_line_is_decoded_on_its_own_however_far_into_the_file(tmp_path):
    people = persons(3000)
    utf8 = csv_bytes(HEADER + ["anteckning"], [[*row, "Möte"] for row in rows_for(people[:-1], START)])
    last = ";".join([people[-1].ten, START, "MOTA", "", "", "Möte"]).encode("cp1252") + b"\n"
    extract = read_extract(write(tmp_path, "2016-03.csv", utf8 + last))
    assert extract.encoding == "utf-8/cp1252"
    assert_every_person(extract, people, list(range(2, 3002)))
    assert set(extract.rows["anteckning"]) == {"Möte"}


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_line_numbers_hold_across_blocks_with_any_line_end(tmp_path, newline):
    people = persons(3000)
    lines = [";".join(HEADER).encode()] + [";".join(row).encode() for row in rows_for(people, START)]
    start = index = 0
    while start + len(lines[index]) + len(newline) < 65536 - 100:
        start += len(lines[index]) + len(newline)
        index += 1
    lines[index] += b" " * (65535 - start - len(lines[index]))     # its line end starts on the 64 KB boundary
    content = newline.join(lines) + newline
    assert content[65535:65535 + len(newline)] == newline
    assert_every_person(read_extract(write(tmp_path, "2016-03.csv", content)), people, list(range(2, 3002)))


def test_a_closed_note_over_several_lines_in_the_last_row_is_no_unclosed_quote_when_blank_lines_follow(tmp_path):
    people = persons(2)
    note = "ringde 1;2;3\nsvar 4;5;6"                    # later lines with separators: like an unclosed quote
    content = csv_bytes(HEADER + ["anteckning"], [[*row, ""] for row in rows_for(people, START)])
    content = content[:-1] + f'"{note}"\n'.encode()
    assert_message(rejected(write(tmp_path, "2016-03.csv", content)), "CITATTECKEN_EJ_STANGT", "rad 3")
    extract = read_extract(write(tmp_path, "2016-04.csv", content + b";;;;;\n\n"))
    assert extract.rows["anteckning"].tolist() == ["", note]


# --- XLSX: what the zip declares, and XML Excel does not write ----------------------------------------

def uncompressed(content: bytes) -> int:
    return sum(item.file_size for item in zipfile.ZipFile(io.BytesIO(content)).infolist())


@pytest.mark.parametrize("part", [hostile.SHEET, hostile.SHARED_STRINGS])
def test_a_zip_bomb_is_refused_from_its_declared_sizes(tmp_path, part):
    content = hostile.xlsx_zip_bomb(persons(3), 3 * MB, part=part)
    assert len(content) < 100_000 and 3 * MB < uncompressed(content) < 3.1 * MB
    path = write(tmp_path, "2016-03.xlsx", content)
    assert_message(rejected(path, ReadLimits(max_xlsx_uncompressed_bytes=2 * MB)), "XLSX_FOR_STOR",
                   "innehållet är 3,0 MB", "högst 2,0 MB", "spara listan som CSV", "FOLLOWUP_MAX_XLSX_MB")


def test_an_xlsx_of_exactly_the_uncompressed_limit_is_read(tmp_path):
    people = persons(3)
    content = hostile.xlsx_as_excel_writes(people)
    path = write(tmp_path, "2016-03.xlsx", content)
    assert_every_person(read_extract(path, ReadLimits(max_xlsx_uncompressed_bytes=uncompressed(content))),
                        people, [2, 3, 4])
    assert_message(rejected(path, ReadLimits(max_xlsx_uncompressed_bytes=uncompressed(content) - 1)), "XLSX_FOR_STOR")


def test_shared_strings_larger_than_the_readers_memory_allows_are_refused(tmp_path):
    path = write(tmp_path, "2016-03.xlsx", hostile.xlsx_zip_bomb(persons(3), 3 * MB, part=hostile.SHARED_STRINGS))
    limits = ReadLimits(reader_memory_bytes=100 * MB)           # half of it at 25 bytes a byte: 2 MB
    assert limits.max_xlsx_held_bytes == 2 * MB
    assert_message(rejected(path, limits), "XLSX_FOR_STOR", "textlistan och formatmallarna är 3,0 MB",
                   "högst 2,0 MB", "FOLLOWUP_READER_MEMORY_MB")


def test_more_formats_than_openpyxl_can_hold_are_refused_before_it_parses_them(tmp_path):
    people = persons(3)
    path = write(tmp_path, "2016-03.xlsx", hostile.xlsx_with_many_formats(people, 200_000))
    assert_message(rejected(path), "XLSX_FOR_STOR", "formatmallar och arbetsbok har 200 ", "högst 200 000",
                   "ny arbetsbok utan format")
    fewer = write(tmp_path, "2016-04.xlsx", hostile.xlsx_with_many_formats(people, 5_000))
    assert_every_person(read_extract(fewer), people, [2, 3, 4])


def test_a_zip_of_more_parts_than_a_workbook_has_is_refused_before_its_directory_is_read(tmp_path):
    people = persons(3)
    content = hostile.xlsx_with_many_parts(people, 10_001)
    parts = len(zipfile.ZipFile(io.BytesIO(content)).namelist())
    assert_message(rejected(write(tmp_path, "2016-03.xlsx", content)), "XLSX_FOR_STOR",
                   f"består av {parts // 1000} {parts % 1000:03d} delar", "högst 10 000")
    fewer = write(tmp_path, "2016-04.xlsx", hostile.xlsx_with_many_parts(people, 9_000))
    assert_every_person(read_extract(fewer), people, [2, 3, 4])


def test_a_sheet_larger_than_its_declared_size_is_read_only_as_far_as_declared(tmp_path):
    path = write(tmp_path, "2016-03.xlsx", hostile.xlsx_understating_its_size(persons(3), real_bytes=8 * MB))
    assert_message(rejected(path), "FIL_OLASBAR", "Första kalkylbladet kan inte läsas")


@pytest.mark.parametrize(("build", "fragment"), [
    (lambda p: hostile.xlsx_nested_deep(p, part=hostile.STYLES), "nästlade i över 64 nivåer"),
    (lambda p: hostile.xlsx_nested_deep(p, part=hostile.SHEET), "nästlade i över 64 nivåer"),
    (hostile.xlsx_with_entity_expansion, "DOCTYPE"),
    (lambda p: hostile.xlsx_with_huge_tag(p, 4 * MB), "en tagg eller text på över 1,0 MB"),
])
def test_xml_excel_never_writes_that_would_swell_in_the_parser_is_refused(tmp_path, build, fragment):
    path = write(tmp_path, "2016-03.xlsx", build(persons(3)))
    assert_message(rejected(path), "FIL_OLASBAR", "XML som Excel inte skriver", fragment, "spara den som .xlsx")


def test_a_sheet_that_claims_the_whole_grid_is_read_as_the_rows_it_holds(tmp_path):
    people = persons(4)
    extract = read_extract(write(tmp_path, "2016-03.xlsx", hostile.xlsx_claiming_the_whole_sheet(people)))
    assert_every_person(extract, people, [2, 3, 4, hostile.EXCEL_LAST_ROW])


@pytest.mark.parametrize("build", [lambda p: hostile.xlsx_with_blank_cells(p, 2 * MB),
                                   lambda p: hostile.xlsx_with_long_comment(p, 2 * MB),
                                   hostile.xlsx_as_excel_writes])
def test_blank_cells_comments_and_shared_strings_within_the_limits_are_read(tmp_path, build):
    people = persons(4)
    assert_every_person(read_extract(write(tmp_path, "2016-03.xlsx", build(people))), people, [2, 3, 4, 5])


# --- Memory and time, at the default limits, in a child process -----------------------------------

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from orchestration.ingest.limits import ReadLimits
from orchestration.privacy.extract.reader import ExtractReadError, read_extract
import openpyxl.reader.excel, openpyxl.styles.stylesheet, openpyxl.utils.datetime   # as a reader has them

def status(field):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field + ":"))

def bytes_read():
    return next(int(line.split()[1]) for line in open("/proc/self/io") if line.startswith("rchar:"))

limits = ReadLimits(**json.loads(sys.argv[2]))
before, size = status("VmHWM"), status("VmSize")
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[4]), resource.RLIM_INFINITY))
started, read_before = time.perf_counter(), bytes_read()
try:
    extract = read_extract(Path(sys.argv[1]), limits)
    answer = {"rows": len(extract.rows), "last_row": int(extract.rows["row_number"].iloc[-1])}
except ExtractReadError as error:
    answer = {"code": error.code, "message": error.message}
except MemoryError:
    answer = {"code": "MemoryError"}
answer.update(seconds=time.perf_counter() - started, read=bytes_read() - read_before,
              memory=status("VmHWM") - before)
print(json.dumps(answer))
"""


def read_in_child(path: Path, limits: ReadLimits | None = None, cap: int = 1024 * MB, timeout: float = 120) -> dict:
    """read_extract(path) in a fresh process whose address space may grow by `cap` after its imports:
    its verdict, `memory` (peak resident bytes over what it held before reading), `read` (bytes
    read from files) and `seconds`."""
    limits = limits or ReadLimits()
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), json.dumps(asdict(limits)), str(ROOT), str(cap)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_sheet_that_claims_the_whole_grid_is_read_in_milliseconds_and_a_few_mb(tmp_path):
    people = persons(4)
    answer = read_in_child(write(tmp_path, "2016-03.xlsx", hostile.xlsx_claiming_the_whole_sheet(people)),
                           cap=512 * MB, timeout=60)
    assert (answer.get("rows"), answer.get("last_row")) == (4, hostile.EXCEL_LAST_ROW), answer
    assert answer["seconds"] < 5 and answer["memory"] < 20 * MB, answer


def test_a_zip_bomb_is_refused_without_being_inflated(tmp_path):
    path = write(tmp_path, "2016-03.xlsx", hostile.xlsx_zip_bomb(persons(3), 300 * MB))
    answer = read_in_child(path, cap=512 * MB, timeout=60)
    assert answer.get("code") == "XLSX_FOR_STOR", answer
    assert answer["seconds"] < 5 and answer["memory"] < 20 * MB and answer["read"] < 2 * path.stat().st_size, answer


def test_a_99_mb_file_without_line_breaks_is_refused_after_reading_four_times_the_line_limit(tmp_path):
    path = write(tmp_path, "2016-03.csv", hostile.csv_one_long_line(99 * MB))
    answer = read_in_child(path, cap=512 * MB, timeout=60)
    assert answer.get("code") == "RAD_FOR_LANG" and "Rad 1 är för lång" in answer["message"], answer
    assert answer["read"] < 4 * 100_000 + 2 * 65536, answer       # the line limit in UTF-8, a block on top
    assert answer["seconds"] < 5 and answer["memory"] < 20 * MB, answer
