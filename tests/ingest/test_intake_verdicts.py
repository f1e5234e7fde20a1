"""Row and file verdicts, warnings, resubmissions and the raw archive, on a real data home.

The pipeline's own stages (intake → pseudonymise → validate → delivery reports) on files built
here; dbt is left out (tests/end_to_end/test_intake_pipeline.py runs the whole thing), so this module
stays fast.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest

from orchestration.privacy.keys import load_key
from orchestration.privacy.pseudonymise import Pseudonymiser
from orchestration.reporting.status import delivery_status
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, rows_for, wrong_check_digit
from tests.bad_inputs.good import build_good
from tests.bad_inputs.scenario import query, write_file
from tests.bad_inputs.stages import new_home, process

# Each row rule of the contract: (row as written, reason code, column). Month 2016-03, uvas 2303.
REJECTED_ROWS = {
    "invalid_check_digit": (lambda p: [wrong_check_digit(p.ten), "2016-01-04", "MOTA", "", ""], "PNR_OGILTIG", "personnummer"),
    "invalid_date_part": (lambda p: ["951332-1234", "2016-01-04", "MOTA", "", ""], "PNR_OGILTIG", "personnummer"),
    "missing_personnummer": (lambda p: ["", "2016-01-04", "MOTA", "", ""], "PNR_SAKNAS", "personnummer"),
    "missing_startdatum": (lambda p: [p.ten, "", "MOTA", "", ""], "STARTDATUM_SAKNAS", "startdatum"),
    "startdatum_not_a_date": (lambda p: [p.ten, "4 jan 2016", "MOTA", "", ""], "STARTDATUM_OGILTIGT", "startdatum"),
    "unknown_fas": (lambda p: [p.ten, "2016-01-04", "VILA", "", ""], "FAS_OKAND", "fas"),
    "missing_fas": (lambda p: [p.ten, "2016-01-04", "", "", ""], "FAS_SAKNAS", "fas"),
    "slutdatum_before_startdatum": (lambda p: [p.ten, "2016-02-04", "MATCHA", "2016-01-04", "ARBETE"],
                                    "SLUTDATUM_FORE_START", "slutdatum"),
    "ended_without_avslutsorsak": (lambda p: [p.ten, "2016-01-04", "MATCHA", "2016-02-04", ""],
                                   "AVSLUTSORSAK_SAKNAS", "avslutsorsak"),
    "unknown_avslutsorsak": (lambda p: [p.ten, "2016-01-04", "MATCHA", "2016-02-04", "SEMESTER"],
                             "AVSLUTSORSAK_OKAND", "avslutsorsak"),
    "startdatum_after_the_month": (lambda p: [p.ten, "2016-04-01", "HITTA", "", ""], "STARTDATUM_EFTER_MANAD",
                                   "startdatum"),
}


@pytest.fixture
def home(tmp_path, pseudonym_key):
    return new_home(tmp_path / "home")


def deliver(home, relative: str, content: bytes, received: dt.datetime | None = None):
    write_file(home.inbox / relative, content, received)


def delivery(home, relative: str) -> dict:
    project, kommunkod, name = relative.split("/")
    rows = query(home, "select * from landing.deliveries where project_id = ? and kommunkod = ? and file_name = ?",
                 [project, kommunkod, name])
    assert len(rows) == 1
    columns = [r[0] for r in query(home, "select column_name from information_schema.columns where table_schema = "
                                         "'landing' and table_name = 'deliveries' order by ordinal_position")]
    return dict(zip(columns, rows[0]))


def pseudonym(home, person) -> str:
    return Pseudonymiser(load_key(home.root)).person(person.twelve)


def test_each_row_rule_rejects_its_row_with_code_column_row_number_and_what_to_do(home):
    factory = PersonFactory()
    rows, expected = [], {}
    for index, (name, (build, code, column)) in enumerate(REJECTED_ROWS.items()):
        rows.append(build(factory.take(1995, 1)[0]))
        expected[index + 2] = (code, column)
    good = factory.take(1996, 50)       # enough good rows to keep the file under the 20 % limit
    rows += rows_for(good, "2016-01-04")
    deliver(home, "uvas/2303/2016-03.csv", csv_bytes(HEADER, rows))
    process(home)
    d = delivery(home, "uvas/2303/2016-03.csv")
    quarantined = query(home, "select row_number, reason_code, column_name, message from landing.quarantine_rows "
                              "where delivery_id = ? order by row_number", [d["delivery_id"]])
    assert [(r[0], (r[1], r[2])) for r in quarantined] == sorted(expected.items())
    for row_number, code, column, message in quarantined:
        assert message.startswith(f"Rad {row_number}, kolumn {column}: ")
        assert re.search(r"Rätta|Fyll i|Ange|Använd|Skriv|Kontrollera", message), message
        assert not re.search(r"\d{6}[-+]?\d{4}", message), message
    assert (d["verdict"], d["rows_total"], d["rows_accepted"], d["rows_rejected"]) == (
        "ACCEPTED_WITH_WARNINGS", 61, 50, 11)
    stored = {r[0] for r in query(home, "select row_number from landing.enrolment_rows where delivery_id = ?",
                                  [d["delivery_id"]])}
    assert stored == set(range(13, 63))


def test_the_same_person_with_overlapping_enrolments_in_one_file_has_both_rows_rejected(home):
    factory = PersonFactory()
    twice, = factory.take(1995, 1)
    rows = [[twice.ten, "2016-01-04", "MATCHA", "2016-02-10", "AVBROTT"],      # row 2
            [twice.twelve, "2016-02-01", "MOTA", "", ""]]                      # row 3: overlaps row 2
    again, = factory.take(1995, 1)
    rows += [[again.ten, "2015-10-01", "MATCHA", "2015-12-01", "AVBROTT"],     # row 4: re-enrolment
             [again.ten, "2016-01-04", "MOTA", "", ""]]                        # row 5: after the exit
    rows += rows_for(factory.take(1996, 10), "2016-01-04")
    deliver(home, "uvas/2303/2016-03.csv", csv_bytes(HEADER, rows))
    process(home)
    d = delivery(home, "uvas/2303/2016-03.csv")
    quarantined = query(home, "select row_number, reason_code, message from landing.quarantine_rows where delivery_id = ?",
                        [d["delivery_id"]])
    assert sorted((r[0], r[1]) for r in quarantined) == [(2, "OVERLAPPANDE_INSKRIVNING"), (3, "OVERLAPPANDE_INSKRIVNING")]
    assert "(rad 3)" in dict((r[0], r[2]) for r in quarantined)[2]
    assert d["verdict"] == "ACCEPTED_WITH_WARNINGS" and d["rows_rejected"] == 2


@pytest.mark.parametrize(("bad_rows", "share", "verdict"), [
    (2, 0.20, "ACCEPTED_WITH_WARNINGS"),      # exactly 20 %: not more than the limit
    (3, 0.20, "REJECTED"),                    # 30 %
    (3, 0.50, "ACCEPTED_WITH_WARNINGS"),      # the share is configurable
    (0, 0.20, "ACCEPTED"),
])
def test_file_verdict_follows_the_share_of_rejected_rows(home, bad_rows, share, verdict):
    rows = rows_for(PersonFactory().take(1995, 10), "2016-01-04")
    for row in rows[:bad_rows]:
        row[0] = wrong_check_digit(row[0])
    deliver(home, "uvas/2303/2016-03.csv", csv_bytes(HEADER, rows))
    process(home, max_rejected_share=share)
    d = delivery(home, "uvas/2303/2016-03.csv")
    assert (d["verdict"], d["rows_rejected"]) == (verdict, bad_rows)
    counted = query(home, "select count(*) from landing.enrolment_rows where delivery_id = ?", [d["delivery_id"]])[0][0]
    assert counted == (0 if verdict == "REJECTED" else 10 - bad_rows)
    if verdict == "REJECTED":
        assert d["verdict_reason"] == "FOR_MANGA_FEL"
        assert d["verdict_message"].startswith(f"{bad_rows} av 10 rader ({bad_rows * 10}%) avvisades, mer än 20%")
        assert "Rätta raderna i rapporten och skicka filen igen" in d["verdict_message"]
        # The rejected rows stay inspectable with their reasons, the good ones are not counted.
        assert query(home, "select count(*) from landing.quarantine_rows where delivery_id = ?",
                     [d["delivery_id"]]) == [(bad_rows,)]


def test_contract_warnings_keep_the_row_and_say_why(home):
    good = build_good(PersonFactory())
    for file in good.files[:2]:
        deliver(home, file.relative, file.content, file.received)
    process(home)
    for file in good.files[:2]:
        d = delivery(home, file.relative)
        warned = query(home, "select row_number, warning_code, column_name, message from landing.row_warnings "
                             "where delivery_id = ? order by row_number", [d["delivery_id"]])
        by_row: dict[int, set[str]] = {}
        for row_number, code, column, message in warned:
            by_row.setdefault(row_number, set()).add(code)
            assert message.startswith(f"Rad {row_number}, kolumn {column}: ") and "Raden räknas" in message
            assert not re.search(r"\d{6}[-+]?\d{4}", message)
        assert by_row == file.warnings, file.name
        stored = {r[0]: r[1] for r in query(home, "select row_number, warnings from landing.enrolment_rows "
                                                  "where delivery_id = ?", [d["delivery_id"]])}
        for row_number, codes in file.warnings.items():
            assert set(stored[row_number].split(",")) == codes      # warned rows still count
        assert d["rows_warned"] == len(file.warnings)
    # The unknown optional codes were stored as OKAND.
    row = query(home, "select fodelseregion, funktionsnedsattning from landing.enrolment_rows where person_id = ?",
                [pseudonym(home, good.unknown_codes)])
    assert row == [("OKAND", "OKAND")]
    # The warning about the other municipality does not say which one (it must not tell 2305 about 2303).
    messages = [r[0] for r in query(home, "select message from landing.row_warnings where warning_code = 'AKTIV_I_ANNAN_KOMMUN'")]
    assert len(messages) == 2 and not any(code in m for m in messages for code in ("2303", "2305"))


def test_a_person_active_elsewhere_is_warned_against_the_snapshot_already_in_the_warehouse(home):
    factory = PersonFactory()
    mover, = factory.take(1995, 1)
    others = factory.take(1996, 4)
    deliver(home, "uvas/2303/2016-02.csv", csv_bytes(HEADER, rows_for([mover, *others[:2]], "2016-01-04")))
    process(home)
    # A month later 2305 reports the same person, enrolled since February; 2303 never ended it.
    deliver(home, "uvas/2305/2016-03.csv", csv_bytes(HEADER, rows_for([mover, *others[2:]], "2016-02-15")))
    process(home)
    d = delivery(home, "uvas/2305/2016-03.csv")
    warned = query(home, "select row_number, warning_code from landing.row_warnings where delivery_id = ?", [d["delivery_id"]])
    assert warned == [(2, "AKTIV_I_ANNAN_KOMMUN")]
    first = delivery(home, "uvas/2303/2016-02.csv")
    assert query(home, "select count(*) from landing.row_warnings where delivery_id = ?", [first["delivery_id"]]) == [(0,)]


def test_a_handover_on_the_same_day_is_not_a_concurrent_enrolment(home):
    factory = PersonFactory()
    mover, = factory.take(1995, 1)
    filler = factory.take(1996, 6)
    deliver(home, "uvas/2303/2016-03.csv", csv_bytes(
        HEADER, [[mover.ten, "2016-01-04", "MATCHA", "2016-02-15", "FLYTT"], *rows_for(filler[:3], "2016-01-04")]))
    deliver(home, "uvas/2305/2016-03.csv", csv_bytes(HEADER, [[mover.ten, "2016-02-15", "MOTA", "", ""],
                                                              *rows_for(filler[3:], "2016-01-04")]))
    process(home)
    assert query(home, "select count(*) from landing.row_warnings where warning_code = 'AKTIV_I_ANNAN_KOMMUN'") == [(0,)]


def test_every_file_is_archived_as_received_with_its_sha256_and_arrival_time(home):
    good = build_good(PersonFactory())
    for file in good.files:
        deliver(home, file.relative, file.content, file.received)
    report = process(home).intake
    assert len(report.new) == len(good.files)
    for file in good.files:
        d = delivery(home, file.relative)
        digest = hashlib.sha256(file.content).hexdigest()
        archived = home.root / d["archive_path"]
        assert d["sha256"] == digest and archived.name.startswith(digest)
        assert archived.read_bytes() == file.content
        assert d["size_bytes"] == len(file.content)
        assert d["received_at"] == file.received            # the file's own modification time (UTC)
        assert d["ingested_at"] is not None and d["arrival_seq"] >= 1
        assert (home.inbox / file.relative).read_bytes() == file.content     # the municipality's copy stays


def test_a_byte_identical_file_is_a_no_op_whatever_its_name(home):
    rows = rows_for(PersonFactory().take(1995, 5), "2016-01-04")
    content = csv_bytes(HEADER, rows)
    deliver(home, "uvas/2303/2016-03.csv", content)
    process(home)
    before = {t: query(home, f"select * from landing.{t} order by all") for t in ("deliveries", "enrolment_rows")}
    archived = sorted(p for p in home.archive.rglob("*") if p.is_file())
    deliver(home, "uvas/2303/2016-03 kopia.csv", content)        # the same bytes again, another name
    report = process(home).intake
    assert (len(report.new), report.unchanged) == (0, 2)
    assert {t: query(home, f"select * from landing.{t} order by all") for t in before} == before
    assert sorted(p for p in home.archive.rglob("*") if p.is_file()) == archived


def test_a_later_file_for_the_same_month_replaces_the_earlier_one(home):
    factory = PersonFactory()
    persons = factory.take(1995, 6)
    deliver(home, "uvas/2303/2016-03.csv", csv_bytes(HEADER, rows_for(persons[:5], "2016-01-04")),
            dt.datetime(2016, 4, 4, 8, 0))
    process(home)
    deliver(home, "uvas/2303/2016-03 rättad.csv", csv_bytes(HEADER, rows_for(persons[1:], "2016-01-04")),
            dt.datetime(2016, 4, 6, 8, 0))
    process(home)
    earlier, later = delivery(home, "uvas/2303/2016-03.csv"), delivery(home, "uvas/2303/2016-03 rättad.csv")
    assert later["arrival_seq"] > earlier["arrival_seq"]
    assert earlier["verdict"] == later["verdict"] == "ACCEPTED"
    cell = delivery_status(home.warehouse, _config(), "uvas", today=dt.date(2016, 5, 1))[0].cells[("2303", "2016-03")]
    assert cell.in_force.file_name == "2016-03 rättad.csv"
    # Both stay in the archive with their sha256.
    for d in (earlier, later):
        assert (home.root / d["archive_path"]).exists()


def test_a_rejected_resubmission_leaves_the_earlier_snapshot_in_force(home):
    persons = PersonFactory().take(1995, 5)
    deliver(home, "uvas/2303/2016-03.csv", csv_bytes(HEADER, rows_for(persons, "2016-01-04")))
    process(home)
    deliver(home, "uvas/2303/2016-03 rättad.csv", b"personnummer;startdatum\r\n")
    process(home)
    earlier, broken = delivery(home, "uvas/2303/2016-03.csv"), delivery(home, "uvas/2303/2016-03 rättad.csv")
    assert (broken["verdict"], broken["verdict_reason"]) == ("REJECTED", "KOLUMN_SAKNAS")
    assert broken["arrival_seq"] > earlier["arrival_seq"]
    status = delivery_status(home.warehouse, _config(), "uvas", today=dt.date(2016, 5, 1))[0]
    assert status.cells[("2303", "2016-03")].in_force.file_name == "2016-03.csv"
    assert any(kind == "avvisad" and "en tidigare godkänd leverans gäller fortfarande" in text
               for kind, code, month, text in status.problems if code == "2303")
    page = next(home.reports.glob(f"uvas/2303/2016-03_{broken['sha256'][:8]}.html")).read_text(encoding="utf-8")
    assert "Den tidigare godkända leveransen för 2016-03 gäller fortfarande: 2016-03.csv" in page
    assert query(home, "select count(*) from landing.enrolment_rows where delivery_id = ?",
                 [earlier["delivery_id"]]) == [(5,)]


def _config():
    from orchestration.projects.config import load_projects

    return load_projects()
