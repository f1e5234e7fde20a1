"""Operational faults as an operator meets them: another run holding the data home or the
warehouse, a full disk, a crash, a closed pipe, escape sequences in file names, a killed run.

Real `followup` subprocesses on real data homes (the runs after a fault, whose process is not
what is tested, in the test's own: `cli_in_process`); the other run is a real process holding the
run lock or a DuckDB write connection (as dbt's step does), the full disk a real tmpfs. Every
output is checked for the absence of a trace.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.generator import generate_deliveries
from orchestration.ingest.inbox import FEEDBACK_FOLDER, unreceived_bytes
from orchestration.lib import crashlog
from orchestration.lib.crashlog import append_crash
from orchestration.lib.diskspace import FIXED_NEED, format_bytes, is_disk_full, needed_bytes
from orchestration.lib.home import DataHome
from orchestration.lib.runlock import acquire, current_holder
from orchestration.lib.warehouse import connect, ensure_schema
from orchestration.lib.warehouse_copy import COPIED_TABLES, copy_path, write_copy
from orchestration.privacy.keys import create_key
from orchestration.projects.config import load_projects
from tests.bad_inputs.scenario import cli_in_process
from tests.pauses import PAUSE_BEFORE_READING_ENV

REPO = Path(__file__).resolve().parents[2]
PROJECT = "vaga_valja_vag"
KOMMUN = "0482"
# What a municipality's system might put in a file name: retitle the terminal, clear it, ring.
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31m"


# --- helpers ------------------------------------------------------------------------------------

def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOLLOWUP_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def followup(*args: str, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=REPO, env=environment(**extra),
                          capture_output=True, text=True, timeout=timeout)


def start_followup(*args: str, log: Path, **extra: str) -> subprocess.Popen:
    handle = log.open("w")
    process = subprocess.Popen([sys.executable, "-m", "tests.pauses", *args], cwd=REPO,
                               env=environment(**extra), stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)
    handle.close()
    return process


def assert_no_trace(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output and "oväntat fel" not in output, output


def assert_no_control_characters(*outputs: str) -> None:
    for output in outputs:
        assert not [c for c in output if ord(c) < 32 and c != "\n"], repr(output)


HOLD_RUN_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from orchestration.lib.runlock import acquire
    with acquire(Path(sys.argv[1]), "run"):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")

# A writer that keeps the warehouse open, as dbt does for its whole step.
HOLD_WAREHOUSE = textwrap.dedent("""
    import sys, time, duckdb
    connection = duckdb.connect(sys.argv[1])
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    connection.close()
""")


@contextlib.contextmanager
def holding(script: str, target: Path, seconds: float = 120):
    """Another process holding `target` (the home's run lock or the warehouse) for `seconds`."""
    process = subprocess.Popen([sys.executable, "-c", script, str(target), str(seconds)], cwd=REPO,
                               env=environment(), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stdout.close()


def small_home(root: Path) -> DataHome:
    home = DataHome.resolve(root).create()
    create_key(home.root)
    generate_deliveries(load_projects(), home.inbox, project_ids=[PROJECT])
    return home


def landing_home(root: Path) -> DataHome:
    """A data home with an empty warehouse (the landing schema), enough for purge-raw and status."""
    home = DataHome.resolve(root).create()
    create_key(home.root)
    ensure_schema(home.warehouse)
    return home


def copy_home(source: DataHome, target: Path, with_dbt_target: bool = False) -> DataHome:
    ignored = shutil.ignore_patterns("followup.lock") if with_dbt_target else shutil.ignore_patterns(
        "dbt-target", "followup.lock")
    shutil.copytree(source.root, target, symlinks=True, ignore=ignored)
    return DataHome(target.resolve())


def kpi_figures(home: DataHome) -> list[tuple]:
    with connect(home.warehouse, read_only=True) as db:
        return db.execute("select project_id, area, period, kpi, breakdown, breakdown_group, value, numerator, "
                          "denominator from marts.kpi_values order by all").fetchall()


def verdicts(home: DataHome) -> list[tuple]:
    with connect(home.warehouse, read_only=True) as db:
        return db.execute("select project_id, kommunkod, reporting_month, sha256, status, verdict, verdict_reason, "
                          "rows_accepted, rows_rejected from landing.deliveries order by all").fetchall()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- One data home through a killed run and its recovery, shared by the slow tests ---------------

@dataclass
class Scenario:
    home: DataHome
    killed_status: subprocess.CompletedProcess      # `followup status` right after the kill
    recovery: subprocess.CompletedProcess           # the next `followup run`
    status: subprocess.CompletedProcess             # `followup status` after it
    delivered: int                                   # files in the project's inbox folder


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    """Våga Välja Väg's deliveries. The first `followup run` is killed (SIGKILL) while pseudonymise
    reads the files intake has recorded; `status` follows. Then two files arrive whose names
    carry escape sequences (one empty, so rejected; one without a month, so not ingested), and
    the recovering `run` and `status` again."""
    root = tmp_path_factory.mktemp("faults")
    home = small_home(root / "home")
    folder = home.inbox / PROJECT / KOMMUN
    first = min((p for p in folder.iterdir() if p.name.startswith("2009-08")), key=lambda p: p.name)
    flag = root / "paused"
    run = start_followup("run", "--home", str(home.root), log=root / "killed.log",
                         **{PAUSE_BEFORE_READING_ENV: f"{flag}:{sha256_of(first)[:16]}"})
    try:
        wait_for(flag.exists, 300, "pseudonymise reached its first file", run)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    killed_status = followup("status", "--home", str(home.root), "--project", PROJECT)
    (folder / f"2009-12 {ESCAPES}tom.csv").write_bytes(b"")
    (folder / f"leverans {ESCAPES}utan månad.csv").write_bytes(b"personnummer;startdatum;fas\n")
    recovery = cli_in_process("run", "--home", str(home.root))          # the next run: the command, in this process
    status = followup("status", "--home", str(home.root), "--project", PROJECT)
    delivered = sum(1 for path in folder.iterdir() if path.name != FEEDBACK_FOLDER)   # not the run's feedback
    return Scenario(home, killed_status, recovery, status, delivered)


@pytest.mark.slow
def test_after_a_kill_status_shows_the_recorded_deliveries_as_waiting_never_rejected(scenario):
    result = scenario.killed_status
    assert result.returncode == 0, result.stderr
    assert_no_trace(result.stdout, result.stderr)
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith(f"{KOMMUN} Flen"))
    assert row.split()[2] == "…" * 5          # five months, each received and waiting
    assert "✗" not in row
    waiting = [line for line in result.stdout.splitlines() if line.strip().startswith("väntar:")]
    assert len(waiting) >= 5 and all("nästa körning (`followup run`) behandlar den" in line for line in waiting)
    assert "… väntar på nästa körning" in result.stdout          # the legend


@pytest.mark.slow
def test_the_recovering_run_lists_the_deliveries_it_processed(scenario):
    result = scenario.recovery
    assert result.returncode == 0, result.stdout + result.stderr
    assert_no_trace(result.stdout, result.stderr)
    assert "Inga nya leveranser." not in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith(PROJECT)]
    assert len(lines) == scenario.delivered - 1        # every delivery; the file without a month is not one
    assert all(line.split()[-1] != "RECEIVED" for line in lines)
    assert "pågår" not in result.stderr                # the killed run's lock went with its process
    assert copy_path(scenario.home.root).exists()      # the run's last step wrote the read copy


@pytest.mark.slow
def test_escape_sequences_in_file_names_never_reach_the_terminal(scenario):
    for result in (scenario.killed_status, scenario.recovery, scenario.status):
        assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout + result.stderr
        assert_no_control_characters(result.stdout, result.stderr)
    assert f"Inte inläst: {PROJECT}/{KOMMUN}/leverans ?]0;pwned??[2J?[31mutan månad.csv" in scenario.recovery.stdout
    assert "Avvisad (FIL_TOM)" in scenario.recovery.stdout
    assert "avvisad: 0482 Flen 2009-12 2009-12 ?]0;pwned??[2J?[31mtom.csv (mottagen " in scenario.status.stdout
    assert "): FIL_TOM; " in scenario.status.stdout
    assert "Inte inläst (MANAD_SAKNAS)" in scenario.status.stdout


def test_names_stored_raw_by_an_older_version_are_shown_harmless(tmp_path):
    """A warehouse written before names were stored as display text holds the raw bytes."""
    home = landing_home(tmp_path / "home")
    with connect(home.warehouse) as db:
        for status, verdict, reason, month in (("VALIDATED", "REJECTED", "FIL_TOM", "2009-09"),
                                                ("RECEIVED", None, None, "2009-10")):
            db.execute("insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
                       "archive_path, sha256, size_bytes, received_at, status, verdict, verdict_reason) "
                       "values (?, ?, ?, ?, ?, 'archive/x', 'x', 0, '2009-11-05', ?, ?, ?)",
                       [f"id-{month}", PROJECT, KOMMUN, month, f"{month} {ESCAPES}.csv", status, verdict, reason])
        db.execute("insert into landing.unrouted_files (inbox_path, sha256, seen_at, reason_code, message) "
                   "values (?, 'x', now(), 'MANAD_SAKNAS', ?)",
                   [f"{PROJECT}/{KOMMUN}/{ESCAPES}.csv", f"ingen månad i {ESCAPES}"])
        (home.inbox / PROJECT / KOMMUN).mkdir(parents=True)
        (home.inbox / PROJECT / KOMMUN / f"{ESCAPES}.csv").write_text("x")
    result = followup("status", "--home", str(home.root), "--project", PROJECT)
    assert result.returncode == 0, result.stderr
    assert_no_control_characters(result.stdout, result.stderr)
    assert "avvisad: 0482 Flen 2009-09 2009-09 ?]0;pwned??[2J?[31m.csv (mottagen " in result.stdout
    assert "): FIL_TOM; ingen leverans gäller för månaden" in result.stdout
    assert "väntar: 0482 Flen 2009-10" in result.stdout
    assert "Inte inläst (MANAD_SAKNAS)" in result.stdout


# --- Another run holds the data home ---------------------------------------------------------------

def test_a_second_run_says_who_holds_the_home_and_exits_3(tmp_path):
    home = landing_home(tmp_path / "home")
    with holding(HOLD_RUN_LOCK, home.root) as other:
        results = {command: followup(command, "--home", str(home.root), *extra) for command, extra in
                   (("run", []), ("purge-raw", ["--older-than", "30"]), ("demo", []))}
    for command, result in results.items():
        assert result.returncode == 3, (command, result.stdout, result.stderr)
        assert f"en annan körning pågår redan i {home.root} (PID {other.pid} på " in result.stderr, result.stderr
        assert f"sedan {dt.date.today():%Y-%m-%d}" in result.stderr and ": followup run)" in result.stderr
        assert "--wait MINUTER" in result.stderr
        assert_no_trace(result.stdout, result.stderr)
    assert not list(home.inbox.rglob("*.csv"))          # demo generated nothing while another run held the home


def test_with_wait_the_command_says_once_that_it_waits_then_runs(tmp_path):
    home = landing_home(tmp_path / "home")
    with holding(HOLD_RUN_LOCK, home.root, seconds=3):
        started = time.monotonic()
        result = followup("purge-raw", "--home", str(home.root), "--older-than", "30", "--wait", "1")
    assert result.returncode == 0, result.stderr
    assert 1.5 < time.monotonic() - started < 30
    assert result.stderr.count("väntar upp till 1 minut på att den blir klar") == 1
    assert "Inga arkiverade råfiler" in result.stdout
    assert current_holder(home.root) is None


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    home = landing_home(tmp_path / "home")
    with holding(HOLD_RUN_LOCK, home.root) as other:
        assert current_holder(home.root).pid == other.pid
        other.send_signal(signal.SIGKILL)
        other.wait(timeout=30)
        assert current_holder(home.root) is None
        with acquire(home.root, "run"):
            assert current_holder(home.root).pid == os.getpid()


def test_the_inbox_sensor_skips_its_tick_while_a_run_holds_the_home(tmp_path):
    import dagster as dg

    from orchestration.automation.definitions import SENSOR
    from orchestration.definitions import build_definitions
    from orchestration.lib.settings import Settings

    home = landing_home(tmp_path / "home")
    (home.inbox / PROJECT / KOMMUN).mkdir(parents=True)
    (home.inbox / PROJECT / KOMMUN / "2009-08.csv").write_text("personnummer;startdatum;fas\n")
    inbox_sensor = build_definitions(Settings(home=str(home.root))).resolve_sensor_def(SENSOR)
    with holding(HOLD_RUN_LOCK, home.root) as other:
        with dg.build_sensor_context(cursor=None) as context:
            skipped = inbox_sensor(context)
            assert isinstance(skipped, dg.SkipReason)
            assert f"En körning pågår redan i {home.root} (PID {other.pid}" in skipped.skip_message
            assert context.cursor is None              # the new file is still new on the next tick
    with dg.build_sensor_context(cursor=None) as context:
        assert isinstance(inbox_sensor(context), dg.RunRequest)


@pytest.mark.slow
def test_a_run_finds_the_warehouse_held_by_another_process_and_exits_3(tmp_path):
    """A run Dagster started (schedule, sensor, UI) holds the warehouse in its dbt step without
    the CLI's lock; a `followup run` waits its grace and then says so."""
    home = landing_home(tmp_path / "home")
    with holding(HOLD_WAREHOUSE, home.warehouse) as other:
        result = followup("run", "--home", str(home.root))
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"lagret {home.warehouse} används av en annan process (PID {other.pid}" in result.stderr
    assert "väntar upp till 15 sekunder" in result.stderr
    assert "Materialize i UI:t" in result.stderr
    assert_no_trace(result.stdout, result.stderr)


# --- status and export while a run holds the warehouse -----------------------------------------------

@pytest.mark.slow
def test_status_and_export_read_the_copy_while_the_warehouse_is_held(scenario, tmp_path):
    home = copy_home(scenario.home, tmp_path / "home")
    free = followup("status", "--home", str(home.root), "--project", PROJECT)
    with holding(HOLD_WAREHOUSE, home.warehouse):
        status = followup("status", "--home", str(home.root), "--project", PROJECT)
        exported = followup("export", "--home", str(home.root), "--out", str(tmp_path / "out"), "--project", PROJECT)
    for result in (status, exported):
        assert result.returncode == 0, result.stderr
        assert_no_trace(result.stdout, result.stderr)
        assert result.stderr.startswith("followup: en körning pågår; visar läget efter körningen som slutade "
                                        f"{dt.date.today():%Y-%m-%d} ")
        assert len(result.stderr.splitlines()) == 1
    assert status.stdout == free.stdout
    assert (tmp_path / "out" / PROJECT / "kpi.csv").exists() and "2009-12: " in exported.stdout


@pytest.mark.slow
def test_while_a_run_goes_another_exits_3_or_waits_and_status_export_and_the_sensor_step_aside(scenario, tmp_path):
    import dagster as dg

    from orchestration.automation.definitions import SENSOR
    from orchestration.definitions import build_definitions
    from orchestration.lib.settings import Settings

    home = copy_home(scenario.home, tmp_path / "home", with_dbt_target=True)
    last = home.inbox / PROJECT / KOMMUN / "2009-12 vaga_valja_vag (rättad).csv"
    last.with_name("2009-12 vaga_valja_vag (rättad igen).csv").write_bytes(last.read_bytes() + b"\n")
    first = start_followup("run", "--home", str(home.root), log=tmp_path / "first.log")
    try:
        wait_for(lambda: getattr(current_holder(home.root), "pid", None) == first.pid, 120, "the run took the home",
                 first)
        second = followup("run", "--home", str(home.root))
        status = followup("status", "--home", str(home.root), "--project", PROJECT)
        exported = followup("export", "--home", str(home.root), "--out", str(tmp_path / "out"))
        inbox_sensor = build_definitions(Settings(home=str(home.root))).resolve_sensor_def(SENSOR)
        with dg.build_sensor_context(cursor=None) as context:
            skipped = inbox_sensor(context)
        waiting = start_followup("run", "--home", str(home.root), "--wait", "5", log=tmp_path / "waiting.log")
        assert first.poll() is None, "the first run ended before the others had started"
        assert first.wait(timeout=600) == 0, (tmp_path / "first.log").read_text()
        assert waiting.wait(timeout=600) == 0, (tmp_path / "waiting.log").read_text()
    finally:
        for process in (first, locals().get("waiting")):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)

    assert second.returncode == 3
    assert f"en annan körning pågår redan i {home.root} (PID {first.pid} på " in second.stderr
    for result in (status, exported):
        assert result.returncode == 0, result.stderr
        assert result.stderr.startswith("followup: en körning pågår; visar läget efter körningen som slutade ")
    assert "✓✓✓!!" in status.stdout and "2009-12: " in exported.stdout
    assert isinstance(skipped, dg.SkipReason) and f"(PID {first.pid} på " in skipped.skip_message
    first_output, waiting_output = (tmp_path / "first.log").read_text(), (tmp_path / "waiting.log").read_text()
    assert "2009-12" in first_output and "Inga nya leveranser." not in first_output
    assert waiting_output.count(f"followup: en annan körning pågår i {home.root} (PID {first.pid} på ") == 1
    assert "väntar upp till 5 minuter på att den blir klar" in waiting_output
    # It ran after the first, which had taken the new file: nothing left to do, and it says so.
    assert "Inga nya leveranser. Inget har ändrats sedan körningen " in waiting_output
    assert_no_trace(second.stdout, second.stderr, status.stderr, exported.stderr, first_output, waiting_output)


def test_status_without_a_copy_waits_for_the_warehouse_then_reads_it(tmp_path):
    home = landing_home(tmp_path / "home")
    with holding(HOLD_WAREHOUSE, home.warehouse, seconds=3):
        result = followup("status", "--home", str(home.root), "--project", PROJECT, "--wait", "1")
    assert result.returncode == 0, result.stderr
    assert "det finns ingen läskopia ännu" in result.stderr and result.stderr.count("väntar upp till 1 minut") == 1
    assert f"{KOMMUN} Flen" in result.stdout
    assert_no_trace(result.stdout, result.stderr)


def test_status_without_a_copy_gives_up_after_its_wait_with_exit_3(tmp_path):
    home = landing_home(tmp_path / "home")
    with holding(HOLD_WAREHOUSE, home.warehouse) as other:
        result = followup("status", "--home", str(home.root), "--wait", "0.05")
    assert result.returncode == 3
    assert f"var fortfarande upptaget efter 3 sekunder (PID {other.pid}" in result.stderr
    assert result.stdout == ""
    assert_no_trace(result.stdout, result.stderr)


def test_the_read_copy_holds_only_what_status_and_export_read_and_replaces_the_old_one(tmp_path):
    home = landing_home(tmp_path / "home")
    target = copy_path(home.root)
    target.parent.mkdir()
    target.write_bytes(b"an older copy")
    written = write_copy(home.warehouse, target, "run-1")
    with connect(target, read_only=True) as db:
        tables = {f"{s}.{t}" for s, t in db.execute("select schema_name, table_name from duckdb_tables()").fetchall()}
    assert tables == {"landing.deliveries", "landing.unrouted_files", "ops.read_copy",   # no marts yet
                      "ops.municipality_month_status",     # every municipality-month's status (no personal data)
                      # the mapping instruments' questions, categories and inventory rules: the labels a BI
                      # reader of marts.mapping_values needs (configuration, no personal data)
                      "landing.mapping_questions", "landing.mapping_categories", "landing.mapping_inventory_rules"}
    assert target == home.root / "serving" / "followup.duckdb"
    assert set(COPIED_TABLES) >= tables - {"ops.read_copy"}
    assert "landing.enrolment_rows" not in COPIED_TABLES and "landing.pseudonymised_rows" not in COPIED_TABLES
    assert not {"landing.mapping_rows", "landing.mapping_answers", "landing.mapping_pseudonymised_rows",
                "landing.mapping_pseudonymised_answers"} & set(COPIED_TABLES)     # free text stays in the warehouse
    assert written.bytes == target.stat().st_size and not list(home.root.glob("*.part*"))


# --- A full disk --------------------------------------------------------------------------------------

@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small file system of its own, mounted at `path` (root only)."""
    path.mkdir(parents=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                 capture_output=True, text=True)
        reason = mounted.stderr.strip() if mounted.returncode else None
    except FileNotFoundError:
        reason = "no mount command"
    if reason:
        if os.environ.get("FOLLOWUP_REQUIRE_MOUNT") == "1":
            pytest.fail(f"FOLLOWUP_REQUIRE_MOUNT=1 but a tmpfs cannot be mounted: {reason}")
        pytest.skip(f"a full disk needs a tmpfs of its own and mount is not permitted here ({reason}); "
                    "run as root, or set FOLLOWUP_REQUIRE_MOUNT=1 to make this a failure")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True)


def fill(path: Path) -> Path:
    """Write zeros into `path` until the file system is full."""
    filler = path / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError:
            pass
    return filler


def test_a_run_without_room_for_its_work_is_refused_before_it_starts(tmp_path):
    with tmpfs(tmp_path / "disk", "16m") as disk:
        home = small_home(disk / "home")
        result = followup("run", "--home", str(home.root))
        assert result.returncode == 1
        assert_no_trace(result.stdout, result.stderr)
        assert f"för lite ledigt utrymme för en körning: datahemmet {home.root} ligger på filsystemet {disk}" \
            in result.stderr
        assert "MB ledigt; körningen behöver ungefär 64 MB" in result.stderr
        assert "Inget har ändrats" in result.stderr and "kör igen" in result.stderr
        assert not home.warehouse.exists() and not list(home.archive.iterdir())


@pytest.mark.slow
def test_a_disk_that_fills_during_a_run_is_said_plainly_and_the_next_run_loses_nothing(scenario, tmp_path):
    with tmpfs(tmp_path / "disk", "160m") as disk:
        home = DataHome((disk / "home").resolve()).create()
        shutil.copytree(scenario.home.inbox, home.inbox, dirs_exist_ok=True)
        shutil.copytree(scenario.home.secrets, home.secrets, dirs_exist_ok=True)
        run = start_followup("run", "--home", str(home.root), log=tmp_path / "full.log", FOLLOWUP_STEP_RETRIES="0")
        # Past the check of free space: the run has opened its log; then another program fills the disk.
        wait_for(lambda: list((home.root / "logs").glob("run-*.log")), 120, "the run started", run)
        filler = fill(disk)
        assert run.wait(timeout=300) == 1
        output = (tmp_path / "full.log").read_text(encoding="utf-8")
        assert_no_trace(output)
        assert f"followup: disken är full: {home.root}" in output or f"followup: disken är full: {disk}" in output
        assert f"ligger på filsystemet {disk}, som har " in output
        assert "Inget har gått förlorat" in output and "kör `followup run` igen" in output
        assert not (home.root / "logs" / "followup-error.log").exists() or \
            not (home.root / "logs" / "followup-error.log").read_text()

        filler.unlink()
        again = cli_in_process("run", "--home", str(home.root))
        assert again.returncode == 0, again.stdout + again.stderr
        assert_no_trace(again.stdout, again.stderr)
        assert kpi_figures(home) == kpi_figures(scenario.home)
        assert [row[:3] + row[4:] for row in verdicts(home)] == [row[:3] + row[4:] for row in verdicts(scenario.home)]


def test_what_counts_as_a_full_disk():
    error = OSError(28, "No space left on device")
    assert is_disk_full(error)
    try:
        try:
            raise error
        except OSError as inner:
            raise RuntimeError("step failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert is_disk_full("validate: IOException: Could not write file: No space left on device")
    assert is_disk_full("(sqlite3.OperationalError) database or disk is full")
    assert not is_disk_full("KOLUMN_SAKNAS")
    assert not is_disk_full("disk I/O error")          # without a nearly full file system to go with it


def test_the_space_rule():
    assert needed_bytes(0, 0) == FIXED_NEED
    assert needed_bytes(10_000_000, 100_000_000) == FIXED_NEED + 30_000_000 + 50_000_000
    assert format_bytes(1_500_000_000) == "1,5 GB" and format_bytes(64_000_000) == "64 MB"


def test_only_inbox_files_not_yet_received_count_as_new(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "p" / "0482").mkdir(parents=True)
    (inbox / "p" / "0482" / "2009-08.csv").write_bytes(b"x" * 100)
    (inbox / "p" / "0482" / "2009-09.csv").write_bytes(b"x" * 40)
    assert unreceived_bytes(inbox, {("p/0482/2009-08.csv", 100)}) == 40
    assert unreceived_bytes(inbox, {("p/0482/2009-08.csv", 99)}) == 140      # changed since
    (inbox / "p" / "0482" / "2009-10.csv").write_bytes(b"x" * 1000)
    assert unreceived_bytes(inbox, {("p/0482/2009-08.csv", 100)}, max_file_bytes=999) == 40   # never copied


# --- Crashes and closed pipes --------------------------------------------------------------------------

def test_every_crash_is_appended_to_the_error_log(tmp_path):
    home = landing_home(tmp_path / "home")
    home.warehouse.write_bytes(b"not a DuckDB file" * 1000)
    first = followup("status", "--home", str(home.root))
    second = followup("export", "--home", str(home.root), "--out", str(tmp_path / "out"))
    log = home.root / "logs" / "followup-error.log"
    for result in (first, second):
        assert result.returncode == 1 and "oväntat fel" in result.stderr and f"Detaljer i {log}." in result.stderr
        assert "Traceback" not in result.stderr
    text = log.read_text(encoding="utf-8")
    assert text.count("=== ") == 2 and text.count("Traceback (most recent call last)") == 2
    assert f"followup status --home {home.root}" in text and f"followup export --home {home.root} --out" in text
    assert "FOLLOWUP_PSEUDONYM_KEY" not in text


def test_the_error_log_is_kept_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(crashlog, "MAX_BYTES", 2000)
    log = tmp_path / "logs" / "followup-error.log"
    for n in range(12):
        append_crash(log, ["status", "--home", str(tmp_path)], f"Traceback {n}\n" + "x" * 300)
    rotated = log.with_name("followup-error.log.1")
    assert rotated.exists() and log.stat().st_size <= 2000 and rotated.stat().st_size <= 2000
    assert "Traceback 11" in log.read_text() and "Traceback 0" not in log.read_text() + rotated.read_text()


def test_a_closed_stdout_ends_status_quietly(tmp_path):
    home = landing_home(tmp_path / "home")
    process = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "status", "--home", str(home.root)],
                               cwd=REPO, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()                       # `| head` that has read all it wanted
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert stderr == ""                          # no message, no "Exception ignored … BrokenPipeError"
    assert not (home.root / "logs" / "followup-error.log").exists()


def test_a_lock_error_is_recognised_in_an_exception_chain_and_in_a_step_failure_message():
    from orchestration.lib.runlock import warehouse_lock_holder

    text = ('IO Error: Could not set lock on file "/h/warehouse.duckdb": Conflicting lock is held in '
            '/usr/bin/python3.11 (PID 4242). See also https://duckdb.org/docs/current/connect/concurrency')
    assert warehouse_lock_holder(f"followup_dbt_models: {text}").pid == 4242
    try:
        try:
            raise duckdb.IOException(text)
        except duckdb.IOException as inner:
            raise RuntimeError("step failed") from inner
    except RuntimeError as outer:
        assert warehouse_lock_holder(outer).describe() == "PID 4242, python3.11"
    assert warehouse_lock_holder("KOLUMN_SAKNAS") is None
