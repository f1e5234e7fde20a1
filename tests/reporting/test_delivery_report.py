"""A delivery report per received file: HTML for people, CSV of rejected rows (and warnings) with
reasons, under reports/, rows identified by their row number in the file — never by a
personnummer or a name."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from orchestration.projects.config import load_projects
from orchestration.reporting.delivery_report import CSV_COLUMNS, report_paths, write_delivery_reports
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, rows_for, wrong_check_digit
from tests.bad_inputs.good import build_good
from tests.bad_inputs.scenario import query, shared_scenario, write_file
from tests.bad_inputs.stages import new_home, process


@pytest.fixture
def home(tmp_path, pseudonym_key):
    return new_home(tmp_path / "home")


def report_of(home, relative: str):
    project, kommunkod, name = relative.split("/")
    month, sha256 = query(home, "select reporting_month, sha256 from landing.deliveries where project_id = ? and "
                                "kommunkod = ? and file_name = ?", [project, kommunkod, name])[0]
    page, rows = report_paths(home.reports, project, kommunkod, month, sha256)
    return page.read_text(encoding="utf-8"), rows.read_bytes().decode("utf-8")


def csv_rows(text: str) -> list[dict]:
    assert text.startswith("\ufeff")            # Swedish Excel opens it as UTF-8
    return list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))


def assert_no_personnummer(text: str, persons, *written: str) -> None:
    for person in persons:
        for form in person.written_forms():
            assert form not in text
    for value in written:
        assert value not in text
    text = re.sub(r"\b[0-9a-f]{64}\b", "", text)      # a file's sha256 may hold ten digits in a row
    assert not re.search(r"(?<![0-9a-f])\d{6}[-+]?\d{4}(?![0-9a-f])", text)


def test_accepted_file_with_a_rejected_row_and_warnings(home):
    good = build_good(PersonFactory())
    first = good.file("utf8_semicolon_lf")
    write_file(home.inbox / first.relative, first.content, first.received)
    process(home)
    page, rows_csv = report_of(home, first.relative)
    rows = csv_rows(rows_csv)
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    found = {(int(r["rad"]), r["utfall"], r["orsakskod"]) for r in rows}
    expected = {(n, "AVVISAD", code) for n, code in first.rejected.items()}
    expected |= {(n, "VARNING", code) for n, codes in first.warnings.items() for code in codes
                 if code != "AKTIV_I_ANNAN_KOMMUN"}   # only one municipality delivered here
    assert found == expected
    for row in rows:
        assert row["meddelande"].startswith(f"Rad {row['rad']}, kolumn {row['kolumn']}: ")
    assert "Godkänd med anmärkningar" in page
    assert "<tr><th>Rader i filen</th><td>9</td></tr>" in page and "<tr><th>Avvisade</th><td>1</td></tr>" in page
    assert "<td>10</td><td>personnummer</td><td>PNR_OGILTIG</td>" in page
    assert "Den här leveransen gäller för 2016-03." in page
    assert "De avvisade raderna räknas inte" in page
    assert_no_personnummer(page + rows_csv, first.persons, good.invalid_written)


def test_rejected_file_lists_every_rejected_row_and_what_to_do(home):
    persons = PersonFactory().take(1995, 10)
    rows = rows_for(persons, "2016-01-04")
    invalid = [wrong_check_digit(row[0]) for row in rows[:4]]
    for row, value in zip(rows, invalid):
        row[0] = value
    rows[5][2] = "VILA"
    write_file(home.inbox / "uvas/2303/2016-03.csv", csv_bytes(HEADER + ["Handläggare"], [[*r, "x"] for r in rows]))
    process(home)
    page, rows_csv = report_of(home, "uvas/2303/2016-03.csv")
    listed = [(int(r["rad"]), r["kolumn"], r["orsakskod"]) for r in csv_rows(rows_csv)]
    assert listed == [(2, "personnummer", "PNR_OGILTIG"), (3, "personnummer", "PNR_OGILTIG"),
                      (4, "personnummer", "PNR_OGILTIG"), (5, "personnummer", "PNR_OGILTIG"), (7, "fas", "FAS_OKAND")]
    assert "Avvisad – hela filen räknas inte" in page and "FOR_MANGA_FEL" in page
    assert "5 av 10 rader (50%) avvisades" in page
    assert "Det finns ingen godkänd leverans för 2016-03" in page
    assert "lägg den rättade filen i samma mapp, med samma månad (2016-03) i filnamnet" in page
    assert "<tr><th>Okända kolumner (lästes inte)</th><td>Handläggare</td></tr>" in page
    assert_no_personnummer(page + rows_csv, persons, *invalid)


def test_index_lists_every_delivery_and_every_file_not_ingested(home):
    persons = PersonFactory().take(1995, 6)
    write_file(home.inbox / "uvas/2303/2016-03.csv", csv_bytes(HEADER, rows_for(persons[:3], "2016-01-04")))
    write_file(home.inbox / "uvas/2305/2016-03.csv", b"")
    write_file(home.inbox / "uvas/2305/mars.csv", csv_bytes(HEADER, rows_for(persons[3:], "2016-01-04")))
    process(home)
    index = (home.reports / "index.html").read_text(encoding="utf-8")
    rejected, = query(home, "select sha256 from landing.deliveries where kommunkod = '2305'")
    accepted, = query(home, "select sha256 from landing.deliveries where kommunkod = '2303'")
    rejected_link, accepted_link = (f'href="uvas/{k}/2016-03_{sha[0][:8]}.html"' for k, sha in (("2305", rejected),
                                                                                              ("2303", accepted)))
    # the empty file needs action: listed first under "Att åtgärda", then in its project's table
    action, rest = index.split("<h2>Att åtgärda</h2>", 1)[1].split("<h2>", 1)
    assert rejected_link in action and "Avvisad, ingen leverans gäller för månaden" in action
    assert rest.count(rejected_link) == 1 and rest.count(accepted_link) == 1
    # every other month of the project is missing by now, one row per municipality with its months
    assert "2015-06 – 2016-02, 2016-04 – 2018-06" in action and "Saknas (36 månader" in action
    assert "uvas/2305/mars.csv" in index and "MANAD_SAKNAS" in index
    assert "Avvisad – hela filen räknas inte" in rest
    for column in ("Månad", "Kommun", "Fil", "Mottagen (svensk tid)", "Utfall", "Läge", "Avvisade rader"):
        assert f"<th>{column}</th>" in rest
    assert "<th></th>" not in index


def test_reports_are_not_rewritten_when_nothing_changed(home):
    persons = PersonFactory().take(1995, 3)
    write_file(home.inbox / "uvas/2303/2016-03.csv", csv_bytes(HEADER, rows_for(persons, "2016-01-04")))
    process(home)
    written = sorted(p for p in home.reports.rglob("*") if p.is_file())
    assert sorted(p.name for p in written)[-1] == "index.html" and len(written) == 3
    again = write_delivery_reports(home.warehouse, home.reports, load_projects())
    assert again.written == [] and again.reports == 1


def test_a_replaced_delivery_says_which_file_now_counts(home):
    persons = PersonFactory().take(1995, 4)
    write_file(home.inbox / "uvas/2303/2016-03.csv", csv_bytes(HEADER, rows_for(persons[:3], "2016-01-04")))
    process(home)
    write_file(home.inbox / "uvas/2303/2016-03 rättad.csv", csv_bytes(HEADER, rows_for(persons, "2016-01-04")))
    process(home)
    page, _ = report_of(home, "uvas/2303/2016-03.csv")
    assert "Ersatt: en senare leverans för 2016-03 gäller, 2016-03 rättad.csv" in page


def test_a_rejected_file_then_an_accepted_correction_leaves_nothing_to_do(home):
    """The order of arrival decides what a report says: the correction came after the rejected file."""
    persons = PersonFactory().take(1995, 4)
    write_file(home.inbox / "uvas/2313/2016-12.csv", b"personnummer;startdatum;Fass\n" + csv_bytes(HEADER, rows_for(
        persons, "2016-11-07")).split(b"\n", 1)[1], dt.datetime(2017, 1, 5, 10, 11))
    write_file(home.inbox / "uvas/2313/2016-12 rättad.csv", csv_bytes(HEADER, rows_for(persons, "2016-11-07")),
               dt.datetime(2017, 1, 7, 10, 11))
    process(home)
    page, _ = report_of(home, "uvas/2313/2016-12.csv")
    assert "En senare leverans för 2016-12 är godkänd och gäller: 2016-12 rättad.csv (mottagen 2017-01-07 11:11" in page
    assert "Inget att åtgärda: den rättade filen som kom senare gäller." in page
    assert "Rätta filen" not in page and "gäller fortfarande" not in page
    # the header row it found, and no row counts for rows that were never read
    assert "Rubrikraden som hittades (rad 1): personnummer; startdatum; Fass." in page
    assert "raderna kontrollerades inte" in page
    assert "<tr><th>Mottagen (svensk tid)</th><td>2017-01-05 11:11</td></tr>" in page     # 10:11 UTC in winter
    corrected, _ = report_of(home, "uvas/2313/2016-12 rättad.csv")
    assert "Den här leveransen gäller för 2016-12." in corrected and "Inget att åtgärda." in corrected


def test_an_accepted_file_then_a_rejected_correction_asks_for_a_new_one(home):
    """The reverse order: the earlier accepted file still counts, the failed correction needs action."""
    persons = PersonFactory().take(1995, 4)
    write_file(home.inbox / "uvas/2313/2016-12.csv", csv_bytes(HEADER, rows_for(persons[:3], "2016-11-07")),
               dt.datetime(2017, 1, 5, 10, 11))
    process(home)
    first_before, _ = report_of(home, "uvas/2313/2016-12.csv")
    write_file(home.inbox / "uvas/2313/2016-12 rättad.csv", b"", dt.datetime(2017, 7, 3, 8, 0))
    process(home)
    page, _ = report_of(home, "uvas/2313/2016-12 rättad.csv")
    assert ("Den här filen räknas inte. Den tidigare godkända leveransen för 2016-12 gäller fortfarande: 2016-12.csv "
            "(mottagen 2017-01-05 11:11 (svensk tid)).") in page
    assert "Var filen en rättelse av den godkända leveransen? Rätta den enligt meddelandet ovan" in page
    assert "<tr><th>Mottagen (svensk tid)</th><td>2017-07-03 10:00</td></tr>" in page     # 08:00 UTC in summer
    first, _ = report_of(home, "uvas/2313/2016-12.csv")
    assert first == first_before and "Den här leveransen gäller för 2016-12." in first
    index = (home.reports / "index.html").read_text(encoding="utf-8")
    action = index.split("<h2>Att åtgärda</h2>", 1)[1].split("<h2>", 1)[0]
    assert "2016-12 rättad.csv" in action and "Avvisad, en tidigare godkänd leverans gäller fortfarande" in action


@pytest.mark.slow
def test_every_delivery_of_the_corpus_run_has_its_report_and_none_shows_a_personnummer(tmp_path_factory):
    scenario = shared_scenario(tmp_path_factory)
    home = scenario.at("first").home
    deliveries = query(home, "select project_id, kommunkod, reporting_month, sha256, rows_rejected from landing.deliveries")
    assert len(deliveries) >= 30
    persons = [p for c in scenario.cases for p in c.persons] + [p for f in scenario.good.files for p in f.persons]
    for project, kommunkod, month, sha256, rejected in deliveries:
        page, rows = report_paths(home.reports, project, kommunkod, month, sha256)
        assert page.exists() and rows.exists()
        if rejected and rejected < 1000:
            text = rows.read_text(encoding="utf-8-sig")
            assert len(text.splitlines()) >= rejected + 1
            assert_no_personnummer(page.read_text(encoding="utf-8") + text, persons, scenario.good.invalid_written)
    index = (home.reports / "index.html").read_text(encoding="utf-8")
    for case in scenario.cases:
        if case.outcome == "unrouted":
            assert case.relative in index


def test_rows_are_numbered_as_the_municipality_sees_them_in_excel_and_in_a_text_editor(home):
    from tests.bad_inputs.builders import xlsx_workbook_bytes

    persons = PersonFactory().take(1995, 12)
    bad_xlsx, bad_csv = wrong_check_digit(persons[0].ten), wrong_check_digit(persons[6].ten)

    def fill(sheet):
        sheet.append(["personnummer", "startdatum", "fas"])
        sheet.append([persons[1].ten, "2016-01-04", "MOTA"])
        sheet.append([None, None, None])                        # a blank worksheet row 3
        sheet.append([bad_xlsx, "2016-01-04", "MOTA"])           # worksheet row 4
        for p in persons[2:6]:
            sheet.append([p.ten, "2016-01-04", "MOTA"])

    write_file(home.inbox / "uvas/2303/2016-03.xlsx", xlsx_workbook_bytes(fill))
    lines = ["personnummer;startdatum;fas;anteckning", f'{persons[7].ten};2016-01-04;MOTA;"två\nrader"',
             "", f"{bad_csv};2016-01-04;MOTA;"] + [f"{p.ten};2016-01-04;MOTA;" for p in persons[8:]]
    write_file(home.inbox / "uvas/2305/2016-03.csv", ("\n".join(lines) + "\n").encode("utf-8"))
    process(home)
    _, xlsx_rows = report_of(home, "uvas/2303/2016-03.xlsx")
    _, text_rows = report_of(home, "uvas/2305/2016-03.csv")
    assert [(r["rad"], r["orsakskod"]) for r in csv_rows(xlsx_rows)] == [("4", "PNR_OGILTIG")]
    # The note spans lines 2-3, line 4 is blank: the bad record is on line 5.
    assert [(r["rad"], r["orsakskod"]) for r in csv_rows(text_rows)] == [("5", "PNR_OGILTIG")]
    assert_no_personnummer(xlsx_rows + text_rows, persons, bad_xlsx, bad_csv)
