"""A mapping file (kartläggning) gets its delivery report like an enrolment file: verdict, state,
rejected rows and warnings by row number (the column a question id where an answer was wrong),
headed and named as a mapping so a case worker tells the two apart; it is listed in the reports'
index and in the municipality's feedback folder, never as a late or missing month.

Real files in a real data home: the enrolment file through intake, pseudonymise and validate; the
mapping files through intake, their verdicts written as the validate stage writes them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from orchestration.ingest.intake import run_intake
from orchestration.projects.config import load_projects
from orchestration.reporting.delivery_report import report_paths, write_delivery_reports
from orchestration.reporting.feedback import write_feedback
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, rows_for
from tests.bad_inputs.scenario import write_file
from tests.bad_inputs.stages import new_home, process, record_verdict

VVV, FLEN = "vaga_valja_vag", "0482"
TODAY = dt.date(2010, 1, 20)
REJECTED_ROW = (3, "paverka_vardag", "SVAR_KOD_OKAND",
                "Rad 3, kolumn paverka_vardag: svaret är ingen av frågans koder. Rätta svaret och skicka filen igen.")
WARNED_ROW = (5, "fritid", "SVAR_UTANFOR_SKALAN",
              "Rad 5, kolumn fritid: svaret ligger utanför skalan och räknas inte. Kontrollera svaret.")


@pytest.fixture
def setup(tmp_path, pseudonym_key):
    home = new_home(tmp_path / "home")
    config = load_projects()
    persons = PersonFactory().take(1990, 8)
    enrolment = home.inbox / VVV / FLEN / "2009-10.csv"
    write_file(enrolment, csv_bytes(HEADER, rows_for(persons, "2009-08-17")), dt.datetime(2009, 11, 5, 9))
    process(home, config, today=TODAY)
    answers = csv_bytes(["personnummer", "besvarad", "paverka_vardag"], [[p.ten, "2009-10-12", "3"] for p in persons])
    october = home.inbox / VVV / FLEN / "Kartläggning" / "2009-10 svar.csv"
    november = home.inbox / VVV / FLEN / "kartlaggning" / "2009-11.csv"
    write_file(october, answers, dt.datetime(2009, 11, 20, 9))
    write_file(november, answers + b"\n", dt.datetime(2009, 12, 20, 9))
    ids = {r.file.path: r.delivery_id for r in run_intake(home, config, today=TODAY).new}
    record_verdict(home, ids[october], "ACCEPTED_WITH_WARNINGS", rows_total=8, rows_rejected=1, rows_warned=1,
                   rejected=[REJECTED_ROW], warned=[WARNED_ROW])
    record_verdict(home, ids[november], "REJECTED")
    summary = write_delivery_reports(home.warehouse, home.reports, config, today=TODAY)
    return home, config, summary, {"enrolment": enrolment, "october": october, "november": november}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_mapping_report_is_named_and_headed_as_a_mapping(setup):
    home, _, _, files = setup
    page, rows = report_paths(home.reports, VVV, FLEN, "2009-10", sha(files["october"]), "KARTLAGGNING")
    assert page == home.reports / VVV / FLEN / f"2009-10_kartlaggning_{sha(files['october'])[:8]}.html"
    enrolment_page, _ = report_paths(home.reports, VVV, FLEN, "2009-10", sha(files["enrolment"]))
    assert enrolment_page.name == f"2009-10_{sha(files['enrolment'])[:8]}.html"

    text = page.read_text(encoding="utf-8")
    assert "<h1>Leveransrapport, kartläggning: Flen (0482), 2009-10</h1>" in text
    assert "<tr><th>Slag</th><td>Kartläggning: svar på projektets kartläggningsfrågor" in text
    assert "Godkänd med anmärkningar" in text and "Den här kartläggningsfilen gäller för 2009-10." in text
    assert "<th>Kolumn (fråga)</th>" in text
    assert "<td>3</td><td>paverka_vardag</td><td>SVAR_KOD_OKAND</td>" in text
    assert "<td>5</td><td>fritid</td><td>SVAR_UTANFOR_SKALAN</td>" in text
    assert "kartlaggning/" in text                       # where a corrected file goes
    lines = rows.read_bytes().decode("utf-8").splitlines()
    assert lines[1:] == ["3;paverka_vardag;AVVISAD;SVAR_KOD_OKAND;" + REJECTED_ROW[3],
                         "5;fritid;VARNING;SVAR_UTANFOR_SKALAN;" + WARNED_ROW[3]]

    # the enrolment report of the same month is untouched by the mapping file
    enrolment = enrolment_page.read_text(encoding="utf-8")
    assert "<h1>Leveransrapport: Flen (0482), 2009-10</h1>" in enrolment
    assert "Den här leveransen gäller för 2009-10." in enrolment and "artläggning" not in enrolment

    rejected = report_paths(home.reports, VVV, FLEN, "2009-11", sha(files["november"]), "KARTLAGGNING")[0]
    text = rejected.read_text(encoding="utf-8")
    assert "Det finns ingen godkänd kartläggningsfil för 2009-11" in text
    assert "lägg den rättade filen i samma mapp (kartlaggning/)" in text


def test_the_index_lists_mapping_files_apart_and_no_mapping_month_as_missing(setup):
    home, *_ = setup
    index = (home.reports / "index.html").read_text(encoding="utf-8")
    assert "<h3>Våga Välja Väg (VVV): Kartläggning (ingen månadsfrist)</h3>" in index
    mappings = index.split("<h3>Våga Välja Väg (VVV): Kartläggning")[1].split("</table>")[0]
    assert "2009-10 svar.csv" in mappings and "2009-11.csv" in mappings and ">2009-10.csv<" not in mappings
    enrolments = index.split("<h2>Våga Välja Väg (VVV)</h2>")[1].split("<h3>")[0]
    assert ">2009-10.csv<" in enrolments and "svar.csv" not in enrolments
    action = index.split("<h2>Att åtgärda</h2>")[1].split("<h2>")[0]
    assert "Kartläggning: Avvisad, ingen leverans gäller för månaden" in action      # the rejected mapping file
    assert "Kartläggning: 1 avvisade rader" in action
    # Flen's missing months are the enrolment months without a snapshot, 2009-11 (a mapping file) among them
    assert "<td>2009-08 – 2009-09, 2009-11 – 2009-12</td><td>0482 Flen</td>" in action and "Saknas (4 månader" in action


def test_the_feedback_folder_holds_the_mapping_reports_and_lists_them(setup):
    home, config, _, files = setup
    write_feedback(home, config, today=TODAY)
    folder = home.inbox / VVV / FLEN / "återkoppling"
    for name in ("october", "november"):
        page, rows = report_paths(home.reports, VVV, FLEN, "2009-1" + ("0" if name == "october" else "1"),
                                  sha(files[name]), "KARTLAGGNING")
        assert (folder / page.name).read_bytes() == page.read_bytes()
        assert (folder / rows.name).read_bytes() == rows.read_bytes()
    status = (folder / "status.html").read_text(encoding="utf-8")
    section = status.split("<h2>Kartläggning</h2>")[1].split("<h2>")[0]
    assert "2009-10 svar.csv" in section and "2009-11.csv" in section and ">2009-10.csv<" not in section
    assert "avvisad: kartläggning 0482 Flen 2009-11 2009-11.csv" in status.split("<h2>Att åtgärda</h2>")[1].split("<h2>")[0]
    months = status.split("<h2>Månader</h2>")[1].split("</table>")[0]
    assert "svar.csv" not in months and "kartlaggning" not in months

    # a second run with nothing new rewrites nothing: the mapping reports are recognised as ours
    assert not write_feedback(home, config, today=TODAY).written
    assert sorted(p.name for p in folder.iterdir() if "kartlaggning" in p.name) == sorted(
        report_paths(Path("."), VVV, FLEN, month, sha(files[name]), "KARTLAGGNING")[i].name
        for month, name in (("2009-10", "october"), ("2009-11", "november")) for i in (0, 1))
