"""Everything in the inbox is accounted for, whatever its kind or the bytes of its name.

Real files, folders, links and FIFOs in a real data home, taken by the pipeline's own stages
(intake → pseudonymise → validate, no dbt). Intake runs in a subprocess with a time limit where
a FIFO is involved: opening one blocks, and a regression must fail the test, not hang it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.ingest.inbox import scan_inbox
from orchestration.lib.safe_text import display_name
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, month_start, rows_for
from tests.bad_inputs.scenario import query
from tests.bad_inputs.stages import new_home, process

REPO = Path(__file__).resolve().parents[2]
FOLDER = ("uvas", "2380")


@pytest.fixture
def home(tmp_path, pseudonym_key):
    home = new_home(tmp_path / "home")
    (home.inbox / FOLDER[0] / FOLDER[1]).mkdir(parents=True)
    return home


def a_delivery(month: str, persons: int = 4) -> bytes:
    people = PersonFactory().take(1995, persons)
    return csv_bytes(HEADER, rows_for(people, month_start(month)))


def put(home, name: str | bytes, content: bytes) -> Path:
    folder = os.fsencode(home.inbox / FOLDER[0] / FOLDER[1])
    path = os.path.join(folder, os.fsencode(name) if isinstance(name, str) else name)
    with open(path, "wb") as handle:
        handle.write(content)
    return Path(os.fsdecode(path))


def unrouted(home) -> dict[str, tuple[str, str, str | None]]:
    return {path: (code, message, archived) for path, code, message, archived in
            query(home, "select inbox_path, reason_code, message, archive_path from landing.unrouted_files")}


def intake_in_subprocess(home, timeout: float = 120) -> None:
    """run_intake in a child process: a FIFO opened by mistake blocks it, and then this fails."""
    code = ("import sys; from orchestration.ingest.intake import run_intake; from orchestration.lib.home import DataHome; "
            "from orchestration.projects.config import load_projects; "
            "run_intake(DataHome.resolve(sys.argv[1]), load_projects())")
    result = subprocess.run([sys.executable, "-c", code, str(home.root)], cwd=REPO, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr


def test_hidden_files_lock_files_fifos_and_folders_are_listed_with_a_reason_and_never_opened(home):
    put(home, ".2018-03.csv", a_delivery("2018-03"))
    put(home, "~$2018-04.xlsx", b"\x0bA case worker's name\x00")
    os.mkfifo(home.inbox / "uvas" / "2380" / "2018-05.csv")
    folder = home.inbox / "uvas" / "2380" / "2018-06.csv"
    folder.mkdir()
    (folder / "2018-06.csv").write_bytes(a_delivery("2018-06"))
    (home.inbox / "uvas" / "2380" / ".hidden-folder").mkdir()
    ((home.inbox / "uvas" / "2380" / ".hidden-folder") / "2018-07.csv").write_bytes(a_delivery("2018-07"))
    put(home, "2018-08.csv", a_delivery("2018-08"))

    intake_in_subprocess(home)

    listed = unrouted(home)
    assert {path: code for path, (code, _, _) in listed.items()} == {
        "uvas/2380/.2018-03.csv": "DOLD_FIL",
        "uvas/2380/~$2018-04.xlsx": "EXCEL_LASFIL",
        "uvas/2380/2018-05.csv": "INGEN_VANLIG_FIL",
        "uvas/2380/2018-06.csv": "MAPP_I_KOMMUNMAPPEN",
        "uvas/2380/2018-06.csv/2018-06.csv": "FEL_PLATS",
        "uvas/2380/.hidden-folder": "DOLD_FIL",
    }
    assert "döp om den så att namnet inte börjar med en punkt" in listed["uvas/2380/.2018-03.csv"][1]
    assert "öppen i Excel" in listed["uvas/2380/~$2018-04.xlsx"][1]
    assert "ingen vanlig fil" in listed["uvas/2380/2018-05.csv"][1]
    assert "är en mapp, inte en fil" in listed["uvas/2380/2018-06.csv"][1]
    # Only the regular file in the wrong place is kept in the archive: nothing else was opened.
    assert {path for path, (_, _, archived) in listed.items() if archived} == {"uvas/2380/2018-06.csv/2018-06.csv"}
    archived = {p.name for p in home.archive.rglob("*") if p.is_file()}
    assert len(archived) == 2                     # the misplaced file and the one real delivery
    deliveries = query(home, "select file_name, status from landing.deliveries")
    assert deliveries == [("2018-08.csv", "RECEIVED")]


def test_each_entry_is_listed_once_not_on_every_run(home):
    put(home, ".2018-03.csv", a_delivery("2018-03"))
    os.mkfifo(home.inbox / "uvas" / "2380" / "2018-05.csv")
    intake_in_subprocess(home)
    intake_in_subprocess(home)
    assert query(home, "select count(*) from landing.unrouted_files") == [(2,)]


def test_a_file_name_in_windows_1252_bytes_is_ingested_under_its_readable_name(home):
    name = "leverans 2016-03 rättad.csv".encode("cp1252")
    put(home, name, a_delivery("2016-03"))
    put(home, "2016-04.csv", a_delivery("2016-04"))
    run = process(home)
    assert run.intake.failed == []
    rows = query(home, "select file_name, reporting_month, verdict, rows_accepted from landing.deliveries order by 2")
    assert rows == [("leverans 2016-03 rättad.csv", "2016-03", "ACCEPTED", 4), ("2016-04.csv", "2016-04", "ACCEPTED", 4)]


def test_undecodable_and_control_characters_never_reach_the_warehouse_as_raw_bytes(home):
    put(home, b"2016-05 \xff\xfe|x\x1b[31m*red*\x07.csv", a_delivery("2016-05"))
    put(home, b"m\xe5nad utan datum \x1b]0;title\x07.csv", a_delivery("2016-05"))
    process(home)
    (file_name,) = query(home, "select file_name from landing.deliveries")[0]
    (inbox_path,) = query(home, "select inbox_path from landing.unrouted_files")[0]
    for text in (file_name, inbox_path):
        assert "\x1b" not in text and "\x07" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert file_name == "2016-05 ÿþ|x?[31m*red*?.csv"
    assert inbox_path == "uvas/2380/månad utan datum ?]0;title?.csv"


def test_scan_names_every_entry_by_its_display_name_and_reads_it_by_its_real_path(home):
    raw = b"2016-06 \xe4.csv"
    path = put(home, raw, a_delivery("2016-06"))
    (found,) = scan_inbox(home.inbox)
    assert found.relative == "uvas/2380/2016-06 ä.csv" == f"uvas/2380/{display_name(path.name)}"
    assert os.fsencode(found.path.name) == raw and found.size_bytes == path.stat().st_size


def test_a_symbolic_link_to_a_folder_is_listed_and_not_followed(home, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "2016-07.csv").write_bytes(a_delivery("2016-07"))
    (home.inbox / "uvas" / "2303").symlink_to(outside, target_is_directory=True)
    process(home)
    assert {path: code for path, (code, _, _) in unrouted(home).items()} == {"uvas/2303": "SYMBOLISK_LANK"}
    assert query(home, "select count(*) from landing.deliveries") == [(0,)]


def test_a_file_over_the_size_limit_is_rejected_at_intake_without_being_read_or_copied(home, monkeypatch):
    monkeypatch.setenv("FOLLOWUP_MAX_FILE_MB", "1")
    big = a_delivery("2016-03", persons=40_000)                  # ~1.5 MB
    assert len(big) > 1024 * 1024
    put(home, "2016-03.csv", big)
    put(home, "utan månad.csv", big)
    put(home, "2016-04.csv", a_delivery("2016-04"))
    process(home)
    process(home)                                                # seen again: nothing new
    rows = query(home, "select file_name, verdict, verdict_reason, verdict_message, archive_path, sha256 "
                       "from landing.deliveries order by file_name")
    assert [(r[0], r[1], r[2]) for r in rows] == [("2016-03.csv", "REJECTED", "FIL_FOR_STOR"),
                                                  ("2016-04.csv", "ACCEPTED", None)]
    (_, _, _, message, archive_path, sha) = rows[0]
    assert "men filer över 1,0 MB läses inte" in message and "FOLLOWUP_MAX_FILE_MB" in message
    assert archive_path == "" and sha != hashlib.sha256(big).hexdigest()      # neither copied nor hashed
    listed = unrouted(home)
    assert listed["uvas/2380/utan månad.csv"][0] == "MANAD_SAKNAS" and listed["uvas/2380/utan månad.csv"][2] is None
    assert all(p.stat().st_size < 1024 * 1024 for p in home.archive.rglob("*") if p.is_file())
    assert (home.inbox / "uvas" / "2380" / "2016-03.csv").read_bytes() == big      # the municipality's copy stays


def test_a_file_over_the_size_limit_is_purged_from_the_inbox_when_its_time_is_up(home, monkeypatch):
    """It was never archived, so its inbox copy is the raw file retention must delete."""
    from orchestration.privacy.retention import purge_raw

    monkeypatch.setenv("FOLLOWUP_MAX_FILE_MB", "1")
    big = a_delivery("2016-03", persons=40_000)
    put(home, "2016-03.csv", big)
    put(home, "utan månad.csv", big + b"\n")
    put(home, "2016-04.csv", a_delivery("2016-04"))
    process(home)
    (archived,) = [p.name for p in home.archive.rglob("*") if p.is_file()]   # 2016-04.csv's copy
    report = purge_raw(home, 0)
    assert sorted((f.kind, f.path.name) for f, _ in report.deleted) == [
        ("delivery", archived), ("oversize", "2016-03.csv"), ("oversize", "utan månad.csv")]
    assert sorted(p.name for p in (home.inbox / "uvas" / "2380").iterdir()) == []
    logged = query(home, "select kind, size_bytes from landing.raw_purges order by kind")
    assert [kind for kind, _ in logged] == ["delivery", "oversize", "oversize"]
    assert {size for kind, size in logged if kind == "oversize"} == {len(big), len(big) + 1}
