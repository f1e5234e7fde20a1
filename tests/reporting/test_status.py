"""`followup status`: the municipality × month matrix per project, with verdicts, rejected-row
counts, resubmissions, and missing or late deliveries (late: received after day N of the
following month, default the 10th)."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration.cli import main
from orchestration.projects.config import load_projects
from orchestration.reporting.status import deadline_for, delivery_status, format_status
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, rows_for, wrong_check_digit
from tests.bad_inputs.scenario import write_file
from tests.bad_inputs.stages import new_home, process

TODAY = dt.date(2014, 6, 20)   # ostra_sodertorn runs 2014-02 .. 2014-09; four months have passed


def at(day: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00")


@pytest.fixture
def home(tmp_path, pseudonym_key):
    """Östra Södertörn in June 2014:

    0136 Haninge    02 on time; 03 late (12 April); 04 on time with one rejected row; 05 missing
    0192 Nynäshamn  02 rejected, then a corrected file; 03 delivered twice; 04 rejected only; 05 missing
    0138 Tyresö     nothing at all
    """
    home = new_home(tmp_path / "home")
    factory = PersonFactory()
    haninge, nynashamn = factory.take(1993, 10), factory.take(1992, 10)

    def good(persons, start="2014-02-03"):
        return csv_bytes(HEADER, rows_for(persons, start))

    with_bad_row = rows_for(haninge, "2014-02-03")
    with_bad_row[0][0] = wrong_check_digit(with_bad_row[0][0])
    deliveries = [
        ("0136/2014-02.csv", good(haninge), at("2014-03-05")),
        ("0136/2014-03.csv", good(haninge[1:]), at("2014-04-12")),
        ("0136/2014-04.csv", csv_bytes(HEADER, with_bad_row), at("2014-05-09")),
        ("0192/2014-02.csv", b"personnummer;startdatum\n", at("2014-03-03")),
        ("0192/2014-02 rättad.csv", good(nynashamn), at("2014-03-07")),
        ("0192/2014-03.csv", good(nynashamn[:5]), at("2014-04-02")),
        ("0192/2014-03 v2.csv", good(nynashamn[:6]), at("2014-04-03")),
        ("0192/2014-04.csv", b"", at("2014-05-02")),
    ]
    for relative, content, received in deliveries:
        write_file(home.inbox / "ostra_sodertorn" / relative, content, received)
    process(home, today=TODAY)
    return home


def test_deadline_is_the_configured_day_of_the_following_month():
    assert deadline_for("2014-03") == dt.date(2014, 4, 10)
    assert deadline_for("2014-12", 15) == dt.date(2015, 1, 15)


def test_matrix_shows_each_municipality_and_month_with_its_verdict(home):
    status, = delivery_status(home.warehouse, load_projects(), "ostra_sodertorn", today=TODAY)
    assert status.months == ["2014-02", "2014-03", "2014-04", "2014-05"]
    marks = {code: "".join(status.cells[(code, m)].symbol for m in status.months) for code in ("0136", "0192", "0138")}
    assert marks == {"0136": "✓✓!·", "0192": "✓✓✗·", "0138": "····"}
    assert status.cells[("0136", "2014-04")].in_force.rows_rejected == 1
    assert status.cells[("0192", "2014-03")].in_force.file_name == "2014-03 v2.csv"


def test_attention_list_names_missing_late_rejected_resubmitted_and_rejected_rows(home):
    status, = delivery_status(home.warehouse, load_projects(), "ostra_sodertorn", today=TODAY)
    problems = {(kind, code, month) for kind, code, month, _ in status.problems}
    assert problems == {
        ("sen", "0136", "2014-03"),
        ("avvisade_rader", "0136", "2014-04"),
        ("saknas", "0136", "2014-05"),
        ("avvisad_rättad", "0192", "2014-02"), ("omleverans", "0192", "2014-02"),
        ("omleverans", "0192", "2014-03"),
        ("avvisad", "0192", "2014-04"),
        ("saknas", "0192", "2014-05"),
        *{("saknas", "0138", m) for m in status.months},
    }
    texts = {(kind, code, month): text for kind, code, month, text in status.problems}
    assert "kom 2014-04-12 (frist 2014-04-10)" in texts[("sen", "0136", "2014-03")]
    assert "FIL_TOM; ingen leverans gäller för månaden" in texts[("avvisad", "0192", "2014-04")]
    assert "KOLUMN_SAKNAS; en senare rättad leverans gäller" in texts[("avvisad_rättad", "0192", "2014-02")]
    # the received time in Swedish local time: 10:00 UTC is 11:00 in March (CET)
    assert "2014-02.csv (mottagen 2014-03-03 10:00)" in texts[("avvisad_rättad", "0192", "2014-02")]
    # what needs action comes first; a rejected file a later file corrected is for information only
    kinds = [p.kind for p in status.problems]
    assert kinds.index("avvisad_rättad") > max(kinds.index(k) for k in ("sen", "avvisade_rader", "saknas", "avvisad"))
    assert [p.needs_action for p in status.problems] == sorted((p.needs_action for p in status.problems), reverse=True)
    assert "2 leveranser (omleverans)" in texts[("omleverans", "0192", "2014-03")]
    assert "gäller: 2014-03 v2.csv" in texts[("omleverans", "0192", "2014-03")]


def test_a_month_is_not_missing_before_its_deadline(home):
    status, = delivery_status(home.warehouse, load_projects(), "ostra_sodertorn", today=dt.date(2014, 6, 10))
    assert not [p for p in status.problems if p[2] == "2014-05"]
    later, = delivery_status(home.warehouse, load_projects(), "ostra_sodertorn", today=dt.date(2014, 6, 11))
    assert {p[1] for p in later.problems if p[:1] == ("saknas",) and p[2] == "2014-05"} == {"0136", "0192", "0138"}


def test_the_deadline_day_is_configurable(home):
    status, = delivery_status(home.warehouse, load_projects(), "ostra_sodertorn", today=TODAY, deadline_day=15)
    assert not [p for p in status.problems if p[0] == "sen"]
    strict, = delivery_status(home.warehouse, load_projects(), "ostra_sodertorn", today=TODAY, deadline_day=4)
    assert {(p[1], p[2]) for p in strict.problems if p[0] == "sen"} == {
        ("0136", "2014-02"), ("0136", "2014-03"), ("0136", "2014-04"), ("0192", "2014-02")}


def test_formatted_status_has_the_matrix_counts_and_legend(home):
    text = format_status(home.warehouse, load_projects(), "ostra_sodertorn", today=TODAY)
    lines = text.splitlines()
    assert lines[0].startswith("ostra_sodertorn – Samordning av insatser för unga") and "frist den 10:e" in lines[0]
    row = next(line for line in lines if line.strip().startswith("0136"))
    # marks, then deliveries, late, missing, rejected rows
    assert row.split()[-5:] == ["✓✓!·", "3", "1", "1", "1"]
    row = next(line for line in lines if line.strip().startswith("0192"))
    assert row.split()[-5:] == ["✓✓✗·", "5", "0", "1", "0"]
    assert lines.index("  att åtgärda:") < lines.index("  för kännedom:")
    corrected = next(i for i, line in enumerate(lines) if "KOLUMN_SAKNAS" in line)
    assert corrected > lines.index("  för kännedom:")
    assert any("sen: 0136 Haninge 2014-03 kom 2014-04-12" in line for line in lines)
    assert lines[-1].startswith("✓ godkänd")
    assert "uvas" not in text


def test_followup_status_command_prints_the_matrix(home, capsys):
    assert main(["status", "--home", str(home.root), "--project", "ostra_sodertorn", "--deadline-day", "15"]) == 0
    out = capsys.readouterr().out
    assert "ostra_sodertorn" in out and "frist den 15:e månaden efter" in out
    assert "✓✓!·" in out and "✓✓✗·" in out
    assert "sen:" not in out
    assert f"Leveransrapporter per fil: {home.reports / 'index.html'}" in out


@pytest.mark.parametrize("argv", [["--deadline-day", "0"], ["--deadline-day", "29"], ["--project", "finns_inte"]])
def test_followup_status_refuses_bad_arguments_with_exit_code_2(home, capsys, argv):
    assert main(["status", "--home", str(home.root), *argv]) == 2
    assert "followup:" in capsys.readouterr().err


@pytest.mark.slow
def test_followup_status_after_the_whole_pipeline_shows_resubmissions_rejections_and_lateness(tmp_path_factory, capsys):
    from tests.bad_inputs.scenario import shared_scenario

    scenario = shared_scenario(tmp_path_factory)
    home = scenario.at("resubmit").home
    assert main(["status", "--home", str(home.root), "--project", "uvas"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    row = {code: next(line for line in lines if line.strip().startswith(code)) for code in ("2303", "2305", "2309", "2380")}
    months = load_projects().project("uvas").months()
    march = months.index("2016-03")
    for code in ("2303", "2305", "2309"):
        marks = row[code].split()[2]
        assert len(marks) == len(months) and marks[march] == ("!" if code != "2309" else "✓"), code
        assert set(marks[:march] + marks[march + 1:]) == {"·"}
    # deliveries, late, missing, rejected rows: 2303 delivered twice, 2305 came after the 10th,
    # 2309's rejected resubmission leaves its first file in force.
    assert row["2303"].split()[-4:] == ["2", "0", str(len(months) - 1), "0"]
    assert row["2305"].split()[-4:] == ["1", "1", str(len(months) - 1), "0"]
    assert row["2309"].split()[-4:] == ["2", "0", str(len(months) - 1), "0"]
    assert "sen: 2305 Bräcke 2016-03 kom 2016-04-15 (frist 2016-04-10)" in out
    assert "2 leveranser (omleverans): 2303 Ragunda 2016-03, gäller: 2016-03 rättad.csv" in out
    rejected = next(line for line in lines if "avvisad: 2309 Krokom 2016-03 2016-03 ny.csv (mottagen " in line)
    assert rejected.endswith("KOLUMN_SAKNAS; en tidigare godkänd leverans gäller fortfarande")
    assert lines.index(rejected) < lines.index("  för kännedom:")          # the correction failed: act
    assert "Inte inläst (MANAD_SAKNAS): uvas/2380/leverans mars.csv" in out
    assert "Inte inläst (SYMBOLISK_LANK): uvas/2380/2018-03.csv" in out
    assert "✗" in row["2380"].split()[2]


def test_a_delivery_recorded_but_not_yet_validated_is_waiting_never_rejected(tmp_path, pseudonym_key):
    """What a run killed after intake leaves: the delivery is recorded (RECEIVED), not processed."""
    from orchestration.ingest.intake import run_intake

    home = new_home(tmp_path / "home")
    persons = PersonFactory().take(1993, 3)
    write_file(home.inbox / "ostra_sodertorn" / "0136" / "2014-02.csv", csv_bytes(HEADER, rows_for(persons, "2014-02-03")),
               at("2014-03-05"))
    write_file(home.inbox / "ostra_sodertorn" / "0136" / "2014-03.csv", b"", at("2014-04-05"))   # to be rejected
    run_intake(home, load_projects(), today=TODAY)

    status, = delivery_status(home.warehouse, load_projects(), "ostra_sodertorn", today=TODAY)
    assert "".join(status.cells[("0136", m)].symbol for m in status.months) == "……··"
    texts = {(kind, month): text for kind, code, month, text in status.problems if code == "0136"}
    assert {kind for kind, month in texts if month in ("2014-02", "2014-03")} == {"väntar"}
    assert texts[("väntar", "2014-02")] == ("väntar: 0136 Haninge 2014-02 2014-02.csv: mottagen men inte "
                                           "färdigbehandlad; nästa körning (`followup run`) behandlar den")
    text = format_status(home.warehouse, load_projects(), "ostra_sodertorn", today=TODAY)
    assert "… väntar på nästa körning" in text.splitlines()[-1]
