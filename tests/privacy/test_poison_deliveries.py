"""A delivery that breaks reading or pseudonymising gets a final verdict and never stops the others.

Real files in a real data home through the pipeline's own stages. The reader runs in a child
process under a time and a memory limit; the tests set those limits low and give it files that
need more, kill the child in the middle of a file, and kill the whole stage (a `process` in a
subprocess, stopped with SIGKILL at a test hook) until the delivery that was being read when it
died is given up on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orchestration.ingest.limits import ReadLimits
from orchestration.privacy import stage as pseudonymise_stage
from orchestration.privacy.keys import load_key
from orchestration.privacy.reading import IsolatedReader
from orchestration.privacy.stage import pseudonymise_pending
from orchestration.projects.config import load_projects
from orchestration.quality.stage import validate_pending
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, month_start, rows_for
from tests.bad_inputs.scenario import query, write_file
from tests.bad_inputs.stages import new_home
from tests.pauses import PAUSE_BEFORE_READING_ENV

REPO = Path(__file__).resolve().parents[2]
BIG_ROWS = 150_000


@pytest.fixture
def home(tmp_path, pseudonym_key):
    return new_home(tmp_path / "home")


def deliver(home, relative: str, rows: int = 4, birth_year: int = 1995, factory: PersonFactory | None = None) -> None:
    people = (factory or PersonFactory()).take(birth_year, rows)
    write_file(home.inbox / relative, csv_bytes(HEADER, rows_for(people, month_start(relative.rsplit("/", 1)[1][:7]))))


def verdicts(home) -> dict[str, tuple]:
    return {f"{k}/{n}": (status, verdict, reason) for k, n, status, verdict, reason in query(
        home, "select kommunkod, file_name, status, verdict, verdict_reason from landing.deliveries")}


def pseudonymise_and_validate(home, limits: ReadLimits) -> None:
    from orchestration.ingest.intake import run_intake

    config = load_projects()
    run_intake(home, config)
    pseudonymise_pending(home, load_key(home.root), limits=limits)
    validate_pending(home, config, 0.2)


def reader_baseline_bytes(folder: Path) -> int:
    """Resident memory of a reading child that has read a small file (its imports)."""
    from orchestration.privacy.reading import _resident_bytes

    small = folder / "2016-01.csv"
    small.write_bytes(csv_bytes(HEADER, rows_for(PersonFactory().take(1980, 3), "2016-01-01")))
    with IsolatedReader(ReadLimits()) as reader:
        reader.read(small)
        return _resident_bytes(reader.pid)


def test_a_file_that_needs_more_memory_than_the_reader_may_use_is_rejected_and_the_rest_read(home):
    factory = PersonFactory()
    deliver(home, "uvas/2380/2016-03.csv", factory=factory)
    deliver(home, "uvas/2303/2016-03.csv", rows=BIG_ROWS, factory=factory)
    deliver(home, "uvas/2313/2016-03.csv", factory=factory)
    limit = reader_baseline_bytes(home.root.parent) + 15 * 2**20     # the big file needs ~50 MB more
    pseudonymise_and_validate(home, ReadLimits(reader_memory_bytes=limit))
    assert verdicts(home) == {
        "2380/2016-03.csv": ("VALIDATED", "ACCEPTED", None),
        "2303/2016-03.csv": ("VALIDATED", "REJECTED", "LASNING_FOR_MYCKET_MINNE"),
        "2313/2016-03.csv": ("VALIDATED", "ACCEPTED", None),
    }
    (message,) = query(home, "select verdict_message from landing.deliveries where kommunkod = '2303'")[0]
    assert f"för mycket minne (mer än {limit // 2**20} MB)" in message and "skicka den igen" in message
    assert query(home, "select count(*) from landing.enrolment_rows where kommunkod = '2303'") == [(0,)]


def test_a_file_that_takes_longer_than_the_time_limit_is_stopped_and_rejected(home):
    factory = PersonFactory()
    deliver(home, "uvas/2303/2016-03.csv", rows=BIG_ROWS, factory=factory)
    deliver(home, "uvas/2313/2016-03.csv", factory=factory)
    started = time.monotonic()
    pseudonymise_and_validate(home, ReadLimits(read_seconds=0.3))
    assert time.monotonic() - started < 60
    assert verdicts(home)["2303/2016-03.csv"] == ("VALIDATED", "REJECTED", "LASNING_FOR_LANGSAM")
    assert verdicts(home)["2313/2016-03.csv"] == ("VALIDATED", "ACCEPTED", None)


def test_a_reader_that_dies_in_the_middle_of_a_file_gives_that_file_a_verdict_and_reads_on(tmp_path):
    factory = PersonFactory()
    big, small = tmp_path / "2016-03.csv", tmp_path / "2016-04.csv"
    big.write_bytes(csv_bytes(HEADER, rows_for(factory.take(1995, BIG_ROWS), "2016-01-01")))
    small.write_bytes(csv_bytes(HEADER, rows_for(factory.take(1995, 3), "2016-01-01")))
    with IsolatedReader(ReadLimits()) as reader:
        reader.read(small)                           # the child is up
        child = reader.pid
        killer = threading.Timer(0.2, os.kill, (child, signal.SIGKILL))
        killer.start()
        failure = reader.read(big)
        killer.join()
        assert failure.code == "LASNING_AVBROTS" and "skicka den igen" in failure.message
        after = reader.read(small)
        assert reader.pid != child and len(after.rows) == 3


def test_the_child_that_reads_files_never_has_the_key_in_its_environment(tmp_path, pseudonym_key):
    with IsolatedReader(ReadLimits()) as reader:
        small = tmp_path / "2016-04.csv"
        small.write_bytes(csv_bytes(HEADER, rows_for(PersonFactory().take(1995, 1), "2016-01-01")))
        reader.read(small)
        environment = Path(f"/proc/{reader.pid}/environ").read_bytes().split(b"\0")
        assert not [entry for entry in environment if entry.startswith(b"FOLLOWUP_PSEUDONYM_KEY=")]
        assert pseudonym_key not in Path(f"/proc/{reader.pid}/environ").read_bytes()


def test_a_delivery_whose_rows_break_pseudonymisation_gets_a_verdict_and_its_batch_is_written(home, monkeypatch):
    """Fault injection into our own pure function (no real input is known to break it): the
    delivery of municipality 2303 makes it raise."""
    factory = PersonFactory()
    for kommunkod in ("2380", "2303", "2313"):
        deliver(home, f"uvas/{kommunkod}/2016-03.csv", factory=factory)
    real = pseudonymise_stage.pseudonymise_deliveries

    def breaks_on_2303(extracts, pseudonymiser):
        if any(context.kommunkod == "2303" for _, context in extracts):
            raise ValueError("a bug this delivery's rows trigger")
        return real(extracts, pseudonymiser)

    monkeypatch.setattr(pseudonymise_stage, "pseudonymise_deliveries", breaks_on_2303)
    pseudonymise_and_validate(home, ReadLimits())
    found = verdicts(home)
    assert found["2303/2016-03.csv"] == ("VALIDATED", "REJECTED", "FIL_KUNDE_INTE_BEHANDLAS")
    assert found["2380/2016-03.csv"] == found["2313/2016-03.csv"] == ("VALIDATED", "ACCEPTED", None)
    assert query(home, "select count(*) from landing.enrolment_rows") == [(8,)]


# --- the stage itself dies -------------------------------------------------------------------------

STAGES = ("import sys, tests.pauses; tests.pauses.install(); from orchestration.lib.home import DataHome; "
          "from tests.bad_inputs.stages import process; process(DataHome.resolve(sys.argv[1]))")


def start_stages(home, pause_on: str | None, flag: Path) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_TEST_")}
    if pause_on:
        environment[PAUSE_BEFORE_READING_ENV] = f"{flag}:{pause_on}"
    return subprocess.Popen([sys.executable, "-c", STAGES, str(home.root)], cwd=REPO, env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def kill_when_paused(process: subprocess.Popen, flag: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not flag.exists():
        assert process.poll() is None, f"the stages ended before the pause: {process.stderr.read().decode()}"
        assert time.monotonic() < deadline, "the stage never reached the delivery"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    flag.unlink()


def test_a_delivery_that_kills_the_stage_again_when_taken_alone_gets_a_final_verdict(home, tmp_path):
    factory = PersonFactory()
    for kommunkod in ("2380", "2303", "2313"):
        deliver(home, f"uvas/{kommunkod}/2016-03.csv", factory=factory)
    from orchestration.ingest.intake import run_intake

    run_intake(home, load_projects())
    (poison_sha,) = query(home, "select sha256 from landing.deliveries where kommunkod = '2303'")[0]
    flag = tmp_path / "paused"

    for start in (1, 2, 3):       # two starts die in a batch, the third takes each delivery alone and dies too
        kill_when_paused(start_stages(home, poison_sha[:16], flag), flag)
        attempts = dict(query(home, "select kommunkod, process_attempts from landing.deliveries"))
        assert attempts["2303"] == start and verdicts(home)["2303/2016-03.csv"][0] == "RECEIVED"

    alone = query(home, "select kommunkod from landing.deliveries where processing_alone_since is not null")
    assert alone == [("2303",)]

    finished = start_stages(home, None, flag)
    assert finished.wait(timeout=300) == 0, finished.stderr.read().decode()
    found = verdicts(home)
    assert found["2303/2016-03.csv"] == ("VALIDATED", "REJECTED", "LASNING_AVBROTS")
    assert found["2380/2016-03.csv"] == found["2313/2016-03.csv"] == ("VALIDATED", "ACCEPTED", None)
    (message,) = query(home, "select verdict_message from landing.deliveries where kommunkod = '2303'")[0]
    assert "avbröts två gånger" in message and "läses därför inte igen" in message

    # and it is never read again, not even when the next run starts with it in the archive
    again = start_stages(home, poison_sha[:16], flag)
    assert again.wait(timeout=300) == 0 and not flag.exists()
    assert verdicts(home) == found


def test_an_interrupted_start_does_not_reject_anything_by_itself(home, tmp_path):
    factory = PersonFactory()
    for kommunkod in ("2380", "2303"):
        deliver(home, f"uvas/{kommunkod}/2016-03.csv", factory=factory)
    from orchestration.ingest.intake import run_intake

    run_intake(home, load_projects())
    (sha,) = query(home, "select sha256 from landing.deliveries where kommunkod = '2303'")[0]
    flag = tmp_path / "paused"
    kill_when_paused(start_stages(home, sha[:16], flag), flag)
    finished = start_stages(home, None, flag)
    assert finished.wait(timeout=300) == 0
    assert {v for _, v, _ in verdicts(home).values()} == {"ACCEPTED"}
