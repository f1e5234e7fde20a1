"""Feedback in the municipality's own folder: inbox/<project>/<kommunkod>/återkoppling/.

Fast tests on a small home taken through the pipeline's Python stages (tests/bad_inputs/stages.py)
and write_feedback, as the delivery_reports asset calls it; the end-to-end ones look at the
shared intake scenario (tests/bad_inputs/scenario.py), whose runs write feedback as every run does.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import unicodedata
from pathlib import Path

import pytest

from orchestration.automation.definitions import inbox_fingerprint
from orchestration.ingest.inbox import FEEDBACK_FOLDER, scan_inbox, unreceived_bytes, walk_inbox
from orchestration.lib import last_run
from orchestration.privacy.retention import purge_raw
from orchestration.projects.config import load_projects
from orchestration.reporting.delivery_report import report_paths
from orchestration.reporting.feedback import STATUS_CSV, STATUS_HTML, replace_if_changed, write_feedback
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, month_start, rows_for
from tests.bad_inputs.scenario import query, shared_scenario
from tests.bad_inputs.stages import new_home, process

TODAY = dt.date(2026, 12, 1)


def a_delivery(month: str, persons: int = 4) -> bytes:
    return csv_bytes(HEADER, rows_for(PersonFactory().take(1995, persons), month_start(month)))


def put(home, relative: str, content: bytes) -> Path:
    path = home.inbox / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def folder_files(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture
def home(tmp_path, pseudonym_key):
    home = new_home(tmp_path / "home")
    put(home, "uvas/2380/2016-03.csv", a_delivery("2016-03"))
    put(home, "uvas/2303/2016-03.csv", a_delivery("2016-03", persons=3))
    (home.inbox / "uvas" / "2305").mkdir()                         # a folder, nothing delivered yet
    put(home, "uvas/2380/leverans utan månad.csv", b"personnummer;startdatum;fas\n")   # not ingested
    process(home, today=TODAY)
    return home


def feedback(home, kommunkod: str) -> Path:
    return home.inbox / "uvas" / kommunkod / FEEDBACK_FOLDER


# --- the single ignore rule ------------------------------------------------------------------------

def test_walk_inbox_never_lists_a_feedback_folder_but_a_file_or_link_of_that_name_is_reported(tmp_path):
    inbox = tmp_path / "inbox"

    def put_plain(relative: str) -> None:
        (inbox / relative).parent.mkdir(parents=True, exist_ok=True)
        (inbox / relative).write_bytes(b"personnummer;startdatum;fas\n")

    put_plain("uvas/2380/återkoppling/2016-03_abcdef12.csv")
    put_plain("uvas/2380/återkoppling/deeper/2016-04.csv")
    put_plain("uvas/2380/.återkoppling.ny.123/2016-05.csv")         # one being written
    put_plain("uvas/2305/återkoppling")                             # a file of that name: the municipality's
    (inbox / "uvas" / "2309").mkdir()
    (inbox / "uvas" / "2309" / FEEDBACK_FOLDER).symlink_to(inbox / "uvas" / "2380" / FEEDBACK_FOLDER)
    put_plain("uvas/återkoppling/2016-06.csv")                      # not in a municipality folder
    put_plain("uvas/2380/x/återkoppling/2016-07.csv")               # deeper: not ours
    listed = sorted((relative, kind) for _, relative, kind, _ in walk_inbox(inbox))
    assert listed == [("uvas/2305/återkoppling", "file"), ("uvas/2309/återkoppling", "symlink"),
                      ("uvas/2380/x", "folder"), ("uvas/2380/x/återkoppling", "folder"),
                      ("uvas/2380/x/återkoppling/2016-07.csv", "file"), ("uvas/återkoppling/2016-06.csv", "file")]
    assert not any("2016-03" in f.relative or "2016-05" in f.relative for f in scan_inbox(inbox))


def test_writing_feedback_changes_neither_the_sensor_fingerprint_nor_the_no_op_digest_nor_the_disk_estimate(home):
    config = os.environ.get("FOLLOWUP_CONFIG")
    before = (inbox_fingerprint(home), last_run.inputs_digest(home, config, TODAY), unreceived_bytes(home.inbox, set()))
    summary = write_feedback(home, load_projects(), today=TODAY)
    assert summary.written, "the feedback was written"
    # and replaced with other content, and a leftover of a killed write lying beside it
    replace_if_changed(home.inbox / "uvas" / "2380", {"status.html": b"<p>annat</p>", "2016-03_00000000.csv": b"x"})
    (home.inbox / "uvas" / "2380" / ".återkoppling.ny.999").mkdir()
    (home.inbox / "uvas" / "2380" / ".återkoppling.ny.999" / "2016-04.csv").write_bytes(b"half")
    after = (inbox_fingerprint(home), last_run.inputs_digest(home, config, TODAY), unreceived_bytes(home.inbox, set()))
    assert after == before
    # The rule can fail: the same bytes in an ordinary subfolder change all three.
    shutil.copytree(feedback(home, "2380"), home.inbox / "uvas" / "2380" / "kopia")
    assert inbox_fingerprint(home) != before[0]
    assert last_run.inputs_digest(home, config, TODAY) != before[1]
    assert unreceived_bytes(home.inbox, set()) > before[2]


def test_purge_raw_neither_deletes_nor_counts_feedback_even_with_the_bytes_of_a_purged_file(home):
    write_feedback(home, load_projects(), today=TODAY)
    raw = (home.inbox / "uvas" / "2380" / "2016-03.csv").read_bytes()
    decoy = feedback(home, "2380") / "2016-03.csv"                # the raw file's bytes inside feedback
    decoy.write_bytes(raw)
    kept = {p: p.read_bytes() for p in feedback(home, "2380").iterdir()}
    report = purge_raw(home, 0)
    assert report.deleted and not (home.inbox / "uvas" / "2380" / "2016-03.csv").exists()
    assert {p: p.read_bytes() for p in feedback(home, "2380").iterdir()} == kept
    assert sum(copies for _, copies in report.deleted) == 3        # the drop copies only (two deliveries, one not)


# --- what a folder holds ---------------------------------------------------------------------------

def test_every_municipality_folder_gets_its_own_reports_and_months_and_nothing_else(home):
    summary = write_feedback(home, load_projects(), today=TODAY)
    assert summary.folders == 3 and len(summary.written) == 3
    deliveries = query(home, "select kommunkod, reporting_month, sha256 from landing.deliveries")
    for kommunkod in ("2380", "2303", "2305"):
        own = [(m, sha) for code, m, sha in deliveries if code == kommunkod]
        expected = {p.name for m, sha in own for p in report_paths(home.reports, "uvas", kommunkod, m, sha)}
        folder = feedback(home, kommunkod)
        assert {p.name for p in folder.iterdir()} == expected | {STATUS_HTML, STATUS_CSV}
        for name in expected:                                         # the delivery reports, as they are
            assert (folder / name).read_bytes() == (home.reports / "uvas" / kommunkod / name).read_bytes()
        page = (folder / STATUS_HTML).read_text(encoding="utf-8")
        assert f"({kommunkod})</h1>" in page
        others = {code for code in ("2380", "2303", "2305") if code != kommunkod}
        assert not any(re.search(rf"(?<![0-9a-f]){code}(?![0-9a-f])", page) for code in others)
        table = (folder / STATUS_CSV).read_text(encoding="utf-8-sig").splitlines()
        assert table[0].startswith("manad;frist;leveranser;lage")
        march = next(line for line in table if line.startswith("2016-03;"))
        assert ("Godkänd" in march) == bool(own) and ("Saknas" in march) == (not own)
    assert "Saknas" in (feedback(home, "2305") / STATUS_HTML).read_text(encoding="utf-8")
    assert "leverans utan månad.csv" in (feedback(home, "2380") / STATUS_HTML).read_text(encoding="utf-8")
    assert "utan månad" not in (feedback(home, "2303") / STATUS_HTML).read_text(encoding="utf-8")
    assert not (home.inbox / "uvas" / "2309").exists()              # no folder is created for a municipality


def test_feedback_is_rewritten_only_when_its_content_changed(home):
    write_feedback(home, load_projects(), today=TODAY)
    before = {code: folder_files(feedback(home, code)) for code in ("2380", "2303")}
    again = write_feedback(home, load_projects(), today=TODAY)
    assert again.written == [] and {code: folder_files(feedback(home, code)) for code in before} == before
    put(home, "uvas/2380/2016-04.csv", a_delivery("2016-04"))
    process(home, today=TODAY)
    third = write_feedback(home, load_projects(), today=TODAY)
    assert third.written == [feedback(home, "2380")]
    assert folder_files(feedback(home, "2303")) == before["2303"]
    assert any(name.startswith("2016-04_") for name in os.listdir(feedback(home, "2380")))
    assert not [n for n in os.listdir(home.inbox / "uvas" / "2380") if n.startswith(".")]   # no temporary left


def test_a_file_the_municipality_puts_in_its_feedback_folder_is_kept_and_never_read(home):
    write_feedback(home, load_projects(), today=TODAY)
    dropped = feedback(home, "2380") / "2016-05.csv"
    dropped.write_bytes(b"kommunens fil")
    put(home, "uvas/2380/2016-04.csv", a_delivery("2016-04"))      # new content: the folder is replaced
    run = process(home, today=TODAY)
    assert [r.file.relative for r in run.intake.new] == ["uvas/2380/2016-04.csv"]
    assert [u.file.relative for u in run.intake.unrouted] == ["uvas/2380/leverans utan månad.csv"]
    assert write_feedback(home, load_projects(), today=TODAY).written == [feedback(home, "2380")]
    assert dropped.read_bytes() == b"kommunens fil"
    assert not query(home, "select * from landing.deliveries where file_name = '2016-05.csv'")
    assert not query(home, "select * from landing.unrouted_files where inbox_path like '%2016-05%'")


def test_the_feedback_folder_name_is_nfc_on_disk(home):
    write_feedback(home, load_projects(), today=TODAY)
    names = os.listdir(os.fsencode(home.inbox / "uvas" / "2380"))
    assert FEEDBACK_FOLDER == "\u00e5terkoppling" and unicodedata.is_normalized("NFC", FEEDBACK_FOLDER)
    assert FEEDBACK_FOLDER.encode("utf-8") in names
    assert all(unicodedata.is_normalized("NFC", name) for name in os.listdir(feedback(home, "2380")))


def test_a_file_named_like_the_feedback_folder_is_left_alone(home):
    mine = put(home, "uvas/2380/återkoppling", b"kommunens egen fil")
    summary = write_feedback(home, load_projects(), today=TODAY)
    assert [entry.split(":")[0] for entry in summary.skipped] == ["uvas/2380"]
    assert mine.read_bytes() == b"kommunens egen fil" and feedback(home, "2303").is_dir()


# --- in the shared intake scenario (real runs) -----------------------------------------------------

@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return shared_scenario(tmp_path_factory)


def delivering_folders(home) -> set[tuple[str, str]]:
    return {(p, k) for p, k in query(home, "select distinct project_id, kommunkod from landing.deliveries")}


@pytest.mark.slow
def test_after_a_run_every_municipality_that_delivered_has_feedback_of_its_own_files_only(scenario):
    home = scenario.at("first").home
    rows = query(home, "select project_id, kommunkod, reporting_month, sha256 from landing.deliveries")
    assert delivering_folders(home)
    for project_id, kommunkod in delivering_folders(home):
        folder = home.inbox / project_id / kommunkod / FEEDBACK_FOLDER
        assert (folder / STATUS_HTML).is_file() and (folder / STATUS_CSV).is_file(), folder
        own = {f"{m}_{sha[:8]}" for p, k, m, sha in rows if (p, k) == (project_id, kommunkod)}
        reports = {p.stem for p in folder.iterdir() if p.name not in (STATUS_HTML, STATUS_CSV)}
        assert reports and reports <= own, folder
        for page in folder.glob("*.html"):
            heading = re.search(r"<h1>[^<]*\((\d{4})\)", page.read_text(encoding="utf-8"))
            assert heading and heading.group(1) == kommunkod, page


@pytest.mark.slow
def test_feedback_holds_no_personnummer_of_any_delivered_person(scenario):
    home = scenario.at("resubmit").home
    text = "\n".join(p.read_text(encoding="utf-8-sig") for p in home.inbox.glob(f"*/*/{FEEDBACK_FOLDER}/*"))
    persons = [p for f in scenario.good.files for p in f.persons] + [scenario.resubmissions.added]
    assert "<h1>" in text and persons
    assert not [form for person in persons for form in person.written_forms() if form in text]


@pytest.mark.slow
def test_feedback_is_never_ingested_by_the_next_run(scenario):
    first, resubmit = scenario.at("first"), scenario.at("resubmit")
    assert any((first.home.inbox / p / k / FEEDBACK_FOLDER).is_dir() for p, k in delivering_folders(first.home))
    paths = [path for (path,) in query(resubmit.home, "select inbox_path from landing.unrouted_files")]
    names = [name for (name,) in query(resubmit.home, "select file_name from landing.deliveries")]
    assert paths and names and not [p for p in paths + names if FEEDBACK_FOLDER in p or p == STATUS_HTML]
    assert FEEDBACK_FOLDER not in resubmit.extra["output"]
    assert not any(FEEDBACK_FOLDER in relative for _, relative, _, _ in walk_inbox(resubmit.home.inbox))


@pytest.mark.slow
def test_a_resubmission_replaces_the_old_report_in_the_feedback(scenario):
    first, resubmit = scenario.at("first"), scenario.at("resubmit")
    corrected = scenario.resubmissions.corrected                     # uvas/2303: accepted, replaces the first file
    project_id, kommunkod, name = corrected.relative.split("/")
    rows = query(resubmit.home, "select file_name, sha256, reporting_month, state from landing.delivery_states "
                                "where project_id = ? and kommunkod = ?", [project_id, kommunkod])
    new = next(r for r in rows if r[0] == name)
    old = [r for r in rows if r[2] == new[2] and r[0] != name]
    assert new[3] == "GALLER" and old and all(r[3] == "ERSATT" for r in old)
    before = first.home.inbox / project_id / kommunkod / FEEDBACK_FOLDER
    after = resubmit.home.inbox / project_id / kommunkod / FEEDBACK_FOLDER
    stem = lambda row: f"{row[2]}_{row[1][:8]}"
    assert all((before / f"{stem(r)}.html").is_file() for r in old)
    assert (after / f"{stem(new)}.html").is_file() and (after / f"{stem(new)}.csv").is_file()
    assert not [r for r in old if (after / f"{stem(r)}.html").exists() or (after / f"{stem(r)}.csv").exists()]
    status = (after / STATUS_HTML).read_text(encoding="utf-8")
    assert f"{stem(new)}.html" in status and not any(stem(r) in status for r in old)
