"""Upgrades never lose a data home (lib/layout.py): a home written by followup as it was before homes
recorded their layout (commit 7778207, tests/fixtures/home_v1.tar.gz, made by make_home_v1.py) is
upgraded in place by its first run, with the same KPIs and its archive untouched, and takes the next
month; a home a newer release wrote is refused by every command and left as it was; an upgrade
stopped midway is finished by the next one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.cli import main
from orchestration.lib.home import DataHome
from orchestration.lib.layout import (
    LAYOUT_VERSION,
    MIGRATIONS,
    RECORD_NAME,
    HomeLayoutError,
    HomeTooNew,
    home_version,
    read_record,
    upgrade_home,
)
from orchestration.lib.thresholds import PARTITION_NEWEST_MONTHS
from orchestration.projects.config import load_projects
from orchestration.projects.load import write_config_tables
from orchestration.runner import run_pipeline
from tests.bad_inputs.scenario import cli_in_process, kpi_values

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "home_v1.tar.gz"
NEWER = LAYOUT_VERSION + 1


def unpack(target: Path) -> tuple[Path, Path]:
    """The fixture's data home and the month it held back, under `target`."""
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(target, filter="data")
    return target / "home", target / "held-back"


def followup(*args: str) -> subprocess.CompletedProcess:
    """The command as an operator runs it, with the key the fixture home keeps in secrets/."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("FOLLOWUP_PSEUDONYM_KEY", "FOLLOWUP_HOME", "FOLLOWUP_CONFIG", "DAGSTER_HOME")}
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=600)


def files_state(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under `root`: (sha256, size, mtime in ns); every folder: its mtime."""
    state = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat(follow_symlinks=False)
        if path.is_file():
            state[path.relative_to(root).as_posix()] = (hashlib.sha256(path.read_bytes()).hexdigest(),
                                                        stat.st_size, stat.st_mtime_ns)
        else:
            state[path.relative_to(root).as_posix() + "/"] = ("", 0, stat.st_mtime_ns)
    return state


@dataclass
class Upgrade:
    home: Path
    kpis_before: list[tuple]
    archive_before: dict
    first: subprocess.CompletedProcess
    record_after_first: dict | None
    kpis_after_first: list[tuple]
    archive_after_first: dict
    second: subprocess.CompletedProcess
    kpis_after_second: list[tuple]
    archive_after_second: dict


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory) -> Upgrade:
    """The fixture home run by today's code (`followup run`), then given its held-back month and run again."""
    home, held_back = unpack(tmp_path_factory.mktemp("v1"))
    assert not (home / RECORD_NAME).exists() and home_version(home) == 1
    kpis_before, archive_before = kpi_values(home / "warehouse.duckdb"), files_state(home / "archive")
    first = cli_in_process("run", "--home", str(home))        # the command, in this process
    record, kpis_after_first = read_record(home), kpi_values(home / "warehouse.duckdb")
    archive_after_first = files_state(home / "archive")
    shutil.copytree(held_back, home / "inbox", dirs_exist_ok=True)    # copy2: the files keep their times
    second = cli_in_process("run", "--home", str(home))
    return Upgrade(home, kpis_before, archive_before, first, record, kpis_after_first, archive_after_first,
                   second, kpi_values(home / "warehouse.duckdb"), files_state(home / "archive"))


def test_the_first_run_of_a_new_release_upgrades_an_old_home_and_records_its_version(upgrade):
    assert upgrade.first.returncode == 0, upgrade.first.stderr
    assert "Inga nya leveranser." in upgrade.first.stdout
    assert upgrade.record_after_first["layout"] == LAYOUT_VERSION
    assert [(u["from"], u["to"]) for u in upgrade.record_after_first["upgrades"]] == [(1, 2)]


def test_the_upgraded_home_holds_the_same_kpis(upgrade):
    assert upgrade.kpis_before, "the fixture home has KPIs"
    assert upgrade.kpis_after_first == upgrade.kpis_before


def test_the_upgrade_leaves_every_archived_file_as_it_was(upgrade):
    assert upgrade.archive_before
    assert upgrade.archive_after_first == upgrade.archive_before
    after_second = upgrade.archive_after_second
    assert {name: after_second[name] for name in upgrade.archive_before if not name.endswith("/")} == {
        name: state for name, state in upgrade.archive_before.items() if not name.endswith("/")}


def test_the_upgraded_home_takes_the_next_month(upgrade):
    assert upgrade.second.returncode == 0, upgrade.second.stderr
    newest_before = max(row[3] for row in upgrade.kpis_before)             # period
    newest_after = max(row[3] for row in upgrade.kpis_after_second)
    assert newest_before == "2009-11" and newest_after == "2009-12"
    processed = {tuple(line.split()[:3]) for line in upgrade.second.stdout.splitlines()[1:]}
    assert processed == {("vaga_valja_vag", "0482", "2009-12")}, upgrade.second.stdout
    assert len(upgrade.archive_after_second) > len(upgrade.archive_before)      # the new files archived
    assert read_record(upgrade.home)["upgrades"] == upgrade.record_after_first["upgrades"]   # upgraded once


def test_the_upgraded_home_keeps_every_municipality_month_in_the_status_table(upgrade):
    """The table added after v1 (ops.municipality_month_status, by ensure_schema) holds the home's
    months from its first run on: that run was a backfill of four months (its newest months got a
    Dagster partition event, lib/thresholds.PARTITION_NEWEST_MONTHS), the next one's single new
    month got one too."""
    backfill = ["2009-08", "2009-09", "2009-10", "2009-11"]
    with duckdb.connect(str(upgrade.home / "warehouse.duckdb"), read_only=True) as db:
        rows = db.execute("select kommunkod, month, in_force, recorded_version is not null "
                          "from ops.municipality_month_status order by month").fetchall()
    assert rows == [("0482", month, True, month in backfill[-PARTITION_NEWEST_MONTHS:]) for month in backfill] + [
        ("0482", "2009-12", True, True)]


@pytest.fixture
def newer_home(tmp_path) -> Path:
    """The fixture home as a newer release would leave it: its record says a version this one does not know."""
    home, _ = unpack(tmp_path / "newer")
    (home / RECORD_NAME).write_text(json.dumps({"layout": NEWER, "release": "99.0.0", "upgrades": []}),
                                    encoding="utf-8")
    return home


@pytest.mark.parametrize("command", [["run"], ["status"], ["export", "--out", "{out}"], ["doctor"],
                                     ["backup", "--to", "{out}"]])
def test_a_home_from_a_newer_release_is_refused_by_every_command_and_left_as_it_was(newer_home, tmp_path, command):
    before = files_state(newer_home)
    out = tmp_path / "out"
    done = followup(*[part.format(out=out) for part in command], "--home", str(newer_home))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith(f"followup: datahemmet {newer_home} kommer från en nyare version av followup "
                                  f"(99.0.0, datahemsversion {NEWER})"), done.stderr
    assert "Inget har ändrats" in done.stderr and "Installera den nyare versionen igen" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert files_state(newer_home) == before
    assert not out.exists()


def test_a_newer_home_is_refused_by_a_run_and_by_the_first_step_of_a_dagster_run(newer_home):
    before = files_state(newer_home)
    with pytest.raises(HomeTooNew):
        run_pipeline(DataHome.resolve(newer_home))
    with pytest.raises(HomeTooNew):
        write_config_tables(newer_home / "warehouse.duckdb", load_projects())
    assert files_state(newer_home) == before


def test_a_backup_says_its_layout_version_and_one_from_a_newer_release_is_not_restored(tmp_path, capsys):
    home, _ = unpack(tmp_path / "old")
    backup = tmp_path / "backup"
    assert main(["backup", "--home", str(home), "--to", str(backup)]) == 0
    manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["layout"] == 1 and not (home / RECORD_NAME).exists()     # backed up as it is, not upgraded

    manifest["layout"] = NEWER
    (backup / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    capsys.readouterr()
    restored = tmp_path / "restored"
    assert main(["restore", "--from", str(backup), "--home", str(restored)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"followup: säkerhetskopian i {backup} kommer från en nyare version av followup"), error
    assert "välj en säkerhetskopia som den här versionen har gjort" in error
    assert not restored.exists() or not any(restored.iterdir())


def test_an_upgrade_stopped_midway_is_finished_by_the_next_and_an_upgraded_home_is_left_alone(tmp_path):
    home, _ = unpack(tmp_path / "old")
    legacy = [home / "read-copy.duckdb", home / "read-copy.duckdb.wal"]      # the read copy's place before serving/
    shutil.copy2(home / "serving" / "followup.duckdb", legacy[0])
    legacy[1].write_bytes(b"")
    archive = files_state(home / "archive")

    legacy[0].unlink()              # the step had begun when the process died: its record never written
    assert home_version(home) == 1 and not (home / RECORD_NAME).exists()
    assert [m.to for m in upgrade_home(home)] == [2]
    assert not any(path.exists() for path in legacy)
    record = home / RECORD_NAME
    assert json.loads(record.read_text(encoding="utf-8"))["layout"] == LAYOUT_VERSION
    written = (record.read_bytes(), record.stat().st_mtime_ns)

    assert upgrade_home(home) == []                       # current: nothing done, the record not rewritten
    MIGRATIONS[0].apply(home)                             # every step may run twice
    assert (record.read_bytes(), record.stat().st_mtime_ns) == written
    assert files_state(home / "archive") == archive


def test_a_new_home_gets_the_current_version_and_a_damaged_record_is_refused(tmp_path, capsys):
    new = tmp_path / "new"
    assert upgrade_home(new) == [] and read_record(new)["layout"] == LAYOUT_VERSION

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / RECORD_NAME).write_text("{", encoding="utf-8")
    with pytest.raises(HomeLayoutError):
        upgrade_home(damaged)
    assert main(["status", "--home", str(damaged)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"followup: datahemmets versionsfil {damaged / RECORD_NAME} kan inte läsas"), error
