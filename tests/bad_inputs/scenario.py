"""One data home, taken through the real pipeline in stages, shared by the slow intake tests.

    first     the corpus (tests/bad_inputs/corpus.py) and the good files (good.py) in one inbox,
              one run of the whole pipeline (intake → pseudonymise → validate → dbt → reports)
    rerun     a second run with no new files (it finds nothing to do)
    crash     corrected and broken resubmissions land; `followup run` is started in a subprocess
              and killed (SIGKILL) inside intake's transaction, just before it commits
    resubmit  the next `followup run` (the command in this process, watched so that a blocked
              run fails instead of hanging), which takes the resubmissions

After each stage the whole data home is copied, so the tests of a stage look at the state that
stage left, whichever order pytest runs them in. A stage runs once per session, on first use:
a plain module-level cache (not a fixture) so that several test modules can share it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib.home import DataHome
from orchestration.privacy.keys import create_key, load_key
from orchestration.privacy.pseudonymise import Pseudonymiser
from orchestration.projects.config import load_projects
from tests.bad_inputs.builders import Person, PersonFactory
from tests.bad_inputs.corpus import Case, build_corpus
from tests.bad_inputs.good import GoodSet, Resubmissions, build_good, build_resubmissions
from tests.pauses import PAUSE_BEFORE_COMMIT_ENV

STAGES = ("first", "rerun", "crash", "resubmit")
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class StageResult:
    home: DataHome                     # a frozen copy of the data home after the stage
    outcome: object | None = None      # runner.RunOutcome of the stage's run
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


@dataclass
class Scenario:
    root: Path
    live: DataHome
    cases: list[Case]
    good: GoodSet
    resubmissions: Resubmissions
    stages: dict[str, StageResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def at(self, stage: str) -> StageResult:
        for name in STAGES[: STAGES.index(stage) + 1]:
            if name in self.failed:        # a stage that failed fails every test that needs it, once
                raise AssertionError(f"stage '{name}' failed: {self.failed[name]}")
            if name not in self.stages:
                started = time.monotonic()
                try:
                    result = getattr(self, f"_{name}")()
                except Exception as error:
                    self.failed[name] = f"{type(error).__name__}: {error}"
                    raise
                result.seconds = time.monotonic() - started
                self.stages[name] = result
        return self.stages[stage]

    def pseudonym(self, person: Person) -> str:
        """The person's pseudonym under this home's key (to look for them in the warehouse)."""
        return Pseudonymiser(load_key(self.live.root)).person(person.twelve)

    # --- stages ----------------------------------------------------------------------------------

    def _first(self) -> StageResult:
        for case in self.cases:
            place_case(self.live, case)
        for good in self.good.files:
            write_file(self.live.inbox / good.relative, good.content, good.received)
        return self._freeze("first", run(self.live))

    def _rerun(self) -> StageResult:
        return self._freeze("rerun", run(self.live))

    def _crash(self) -> StageResult:
        later = dt.datetime.now().replace(microsecond=0)
        resubmissions = self.resubmissions
        write_file(self.live.inbox / resubmissions.corrected.relative, resubmissions.corrected.content, later)
        write_file(self.live.inbox / resubmissions.identical_relative, resubmissions.identical_of.content, later)
        write_file(self.live.inbox / resubmissions.broken_relative, resubmissions.broken, later)
        killed = kill_run_inside_intake(self.live, self.root / "pause-flag")
        return self._freeze("crash", None, killed=killed)

    def _resubmit(self) -> StageResult:
        """The next `followup run`, watched: a run that waits for a pool slot the killed run still
        holds would otherwise never end."""
        before = {r[0] for r in query(self.live, "select delivery_id from landing.deliveries")}
        returncode, output = run_cli_watched(self.live)
        assert returncode == 0, output
        new = query(self.live, "select delivery_id, project_id, kommunkod, reporting_month, file_name, verdict, "
                               "rows_accepted, rows_rejected, verdict_reason, state, needs_action "
                               "from landing.delivery_states")
        from orchestration.runner import DeliveryLine, RunOutcome

        lines = [DeliveryLine(*row[1:]) for row in new if row[0] not in before]
        return self._freeze("resubmit", RunOutcome(True, "", lines), output=output)

    def _freeze(self, name: str, outcome, **extra) -> StageResult:
        copy = self.root / f"after-{name}"
        shutil.copytree(self.live.root, copy, symlinks=True)
        return StageResult(DataHome(copy), outcome, extra=extra)


def write_file(path: Path, content: bytes, modified: dt.datetime | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if modified is not None:
        stamp = modified.replace(tzinfo=dt.timezone.utc).timestamp()
        os.utime(path, (stamp, stamp))


def place_case(home: DataHome, case: Case) -> None:
    path = home.inbox / case.relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if case.content is None:
        target = home.root / case.link_target
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("personnummer;startdatum;fas\n", encoding="utf-8")
        path.symlink_to(target)
    else:
        path.write_bytes(case.content)


def run(home: DataHome):
    """The whole pipeline in this process, as `followup run` does it; it must succeed."""
    outcome = run_in_process(home)
    assert outcome.success, outcome.failure
    return outcome


def run_in_process(home: DataHome):
    """The whole pipeline in this process, as `followup run` does it, with its outcome; the
    environment the runner sets for Dagster is put back afterwards."""
    from orchestration.runner import run_pipeline

    saved = dict(os.environ)
    try:
        return run_pipeline(home)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cli_in_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`followup <args>` in this process: the same `main` the command runs, its output captured,
    with the environment an operator's shell would give it (no FOLLOWUP_ or DAGSTER_ settings but
    `env`), put back afterwards. For tests of what a command does, not of its process (a kill, a
    second process, a memory cap): each saves a new interpreter's imports (~10 s for a run)."""
    from orchestration.cli import main

    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    try:
        for name in [name for name in os.environ if name.startswith(("FOLLOWUP_", "DAGSTER_"))]:
            del os.environ[name]
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["followup", *args], code, out.getvalue(), err.getvalue())


def cli_subprocess(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`followup <args>` as a process of its own, as an operator's shell starts it (none of the
    developer's FOLLOWUP_ settings, but `env`): for tests of the process itself (exit codes, output
    of the installed module, what is left behind)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=REPOSITORY, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def kill_run_inside_intake(home: DataHome, flag: Path, timeout: float = 300) -> dict:
    """Start `followup run` in a subprocess, wait until intake holds its transaction open (the
    test hook writes `flag`), and kill the process there. Returns what happened."""
    environment = _cli_environment(home)
    environment[PAUSE_BEFORE_COMMIT_ENV] = str(flag)
    log = (home.root.parent / "killed-run.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "tests.pauses", "run", "--home", str(home.root)],
                               cwd=REPOSITORY, env=environment, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not flag.exists():
            if process.poll() is not None:
                raise AssertionError(f"the run ended (exit {process.returncode}) before intake paused; see {log.name}")
            if time.monotonic() > deadline:
                raise AssertionError("intake never reached its commit")
            time.sleep(0.2)
        paused_pid = int(flag.read_text(encoding="utf-8") or 0)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        log.close()
    return {"returncode": process.returncode, "paused_pid": paused_pid, "pid": process.pid}


def _cli_environment(home: DataHome) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("FOLLOWUP_", "DAGSTER_"))}
    environment["PYTHONPATH"] = str(REPOSITORY)
    return environment


def abandoned_slots(home: DataHome, alive_run_ids: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(run id, step) of every warehouse pool slot claimed by a run that is not running."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home.dagster)) as instance:
        info = instance.event_log_storage.get_concurrency_info("warehouse")
        return [(slot.run_id, slot.step_key) for slot in info.claimed_slots if slot.run_id not in alive_run_ids]


def run_cli_watched(home: DataHome, timeout: float = 1800, blocked_after: float = 120) -> tuple[int, str]:
    """`followup run`, the command in this process (on a thread), watched from this one: fails
    when its steps wait for longer than `blocked_after` seconds on a warehouse slot held by a run
    that is no longer running (a blocked run is then left waiting on its daemon thread)."""
    stale = {run_id for run_id, _ in abandoned_slots(home)}
    finished: list[subprocess.CompletedProcess] = []
    failed: list[BaseException] = []

    def command() -> None:
        try:
            finished.append(cli_in_process("run", "--home", str(home.root)))
        except BaseException as error:  # noqa: BLE001 - said by the watching thread
            failed.append(error)

    thread = threading.Thread(target=command, name="next-run", daemon=True)
    started = time.monotonic()
    thread.start()
    while thread.is_alive():
        waited = time.monotonic() - started
        if waited > timeout:
            raise AssertionError(f"the next run did not end within {timeout} s")
        if stale and waited > blocked_after:
            still = [slot for slot in abandoned_slots(home) if slot[0] in stale]
            if still:
                raise AssertionError(
                    f"the next run is blocked: the killed run still holds the warehouse pool slot {still} "
                    "(Dagster frees a slot only when its run ends, and a killed run never ends)")
            stale = set()
        thread.join(2)
    if failed:
        raise failed[0]
    result = finished[0]
    return result.returncode, result.stdout + result.stderr


_SCENARIO: dict[str, Scenario] = {}


def shared_scenario(tmp_path_factory) -> Scenario:
    """The session's scenario, created on first use."""
    if "scenario" not in _SCENARIO:
        root = tmp_path_factory.mktemp("intake-scenario")
        live = DataHome.resolve(root / "home").create()
        create_key(live.root)
        factory = PersonFactory()
        cases = build_corpus(factory)
        good = build_good(factory)
        _SCENARIO["scenario"] = Scenario(root, live, cases, good, build_resubmissions(factory, good))
    return _SCENARIO["scenario"]


# --- reading a warehouse ---------------------------------------------------------------------------

def query(home: DataHome, sql: str, parameters: list | None = None) -> list[tuple]:
    connection = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return connection.execute(sql, parameters or []).fetchall()
    finally:
        connection.close()


def kpi_values(warehouse: Path) -> list[tuple]:
    """Every row of marts.kpi_values, in order: the figures two runs must agree on."""
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute("select * from marts.kpi_values order by all").fetchall()


def warehouse_contents(home: DataHome) -> dict[str, list[tuple]]:
    """Every table of the warehouse (not views) with its rows, sorted: two equal results mean the
    same warehouse contents."""
    connection = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        tables = connection.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
            "order by 1, 2").fetchall()
        return {f"{schema}.{table}": sorted(connection.execute(f'select * from "{schema}"."{table}"').fetchall(),
                                            key=repr)
                for schema, table in tables}
    finally:
        connection.close()


def projects():
    return load_projects()
