"""The data home remembers its key: another key is refused before anything is read, and a new
key is taken on only through `followup rotate-key`, which pseudonymises everything again.

Real `followup` commands (in the test's process: `cli_in_process`) on a real data home with the
good deliveries of the bad-input corpus (every format and quirk of the contract, uvas 2016-03). The KPIs after a rotation are
compared with those before it: the same figures, other pseudonyms.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from orchestration.lib.home import DataHome
from orchestration.privacy.keys import fingerprint_path, key_matches, key_path
from orchestration.privacy.rotation import new_key_path
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, month_start, rows_for
from tests.bad_inputs.good import build_good
from tests.bad_inputs.scenario import cli_in_process, kpi_values, query, run_in_process, write_file

OTHER_KEY = "another-key-" + "q" * 40


def followup(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command as an operator's shell runs it, in this process (nothing here needs its own)."""
    return cli_in_process(*args, env=env)


def person_ids(home: DataHome) -> set[str]:
    return {p for (p,) in query(home, "select distinct person_id from landing.enrolment_rows")}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> DataHome:
    """A home after one `followup run` with its own key file."""
    home = DataHome.resolve(tmp_path_factory.mktemp("keyed") / "home")
    assert followup("create-key", "--home", str(home.root)).returncode == 0
    for good in build_good(PersonFactory()).files:
        write_file(home.inbox / good.relative, good.content, good.received)
    result = followup("run", "--home", str(home.root))
    assert result.returncode == 0, result.stderr
    return home


def copy_of(home: DataHome, tmp_path: Path) -> DataHome:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(home.root, target, symlinks=True)
    return DataHome(target)


def new_file(home: DataHome, month: str = "2016-04") -> Path:
    people = PersonFactory().take(1990, 3)
    path = home.inbox / "uvas" / "2303" / f"{month}.csv"
    write_file(path, csv_bytes(HEADER, rows_for(people, month_start(month))))
    return path


def test_the_first_run_records_a_fingerprint_that_holds_nothing_of_the_key(built):
    recorded = json.loads(fingerprint_path(built.root).read_text(encoding="utf-8"))
    key = key_path(built.root).read_text(encoding="utf-8").strip()
    assert set(recorded) == {"fingerprint", "salt", "algorithm", "recorded_at"}
    text = fingerprint_path(built.root).read_text(encoding="utf-8")
    assert key not in text and key[:16] not in text and key[-16:] not in text
    assert len(recorded["fingerprint"]) == 32 and len(recorded["salt"]) == 32


@pytest.mark.slow
def test_a_run_with_another_key_is_refused_before_anything_is_read(built, tmp_path):
    home = copy_of(built, tmp_path)
    before = query(home, "select * from landing.deliveries order by delivery_id")
    archived = sorted(p.name for p in home.archive.rglob("*"))
    new_file(home)
    result = followup("run", "--home", str(home.root), env={"FOLLOWUP_PSEUDONYM_KEY": OTHER_KEY})
    assert result.returncode == 2
    assert "Fel pseudonymiseringsnyckel" in result.stderr and "räknas två gånger" in result.stderr
    assert "followup rotate-key" in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert OTHER_KEY not in result.stderr + result.stdout
    assert query(home, "select * from landing.deliveries order by delivery_id") == before
    assert sorted(p.name for p in home.archive.rglob("*")) == archived      # the new file was not even copied


@pytest.mark.slow
def test_a_dagster_run_with_another_key_fails_at_intake_without_retrying(built, tmp_path, monkeypatch):
    """A run the schedule, sensor or UI starts does not pass the command line's check."""
    home = copy_of(built, tmp_path)
    new_file(home)
    archived = sorted(p.name for p in home.archive.rglob("*"))
    monkeypatch.setenv("FOLLOWUP_PSEUDONYM_KEY", OTHER_KEY)
    outcome = run_in_process(home)
    assert not outcome.success
    assert outcome.failure.startswith("intake:") and "Fel pseudonymiseringsnyckel" in outcome.failure
    assert sorted(p.name for p in home.archive.rglob("*")) == archived
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home.dagster)) as instance:
        events = [e.dagster_event.event_type for e in instance.all_logs(outcome.run_id) if e.dagster_event]
    assert DagsterEventType.STEP_FAILURE in events and DagsterEventType.STEP_UP_FOR_RETRY not in events


def test_export_with_another_key_is_refused_and_without_any_key_it_works(built, tmp_path):
    refused = followup("export", "--home", str(built.root), "--out", str(tmp_path / "a"),
                       env={"FOLLOWUP_PSEUDONYM_KEY": OTHER_KEY})
    assert refused.returncode == 2 and "Fel pseudonymiseringsnyckel" in refused.stderr
    assert not (tmp_path / "a").exists()
    home = copy_of(built, tmp_path)
    key_path(home.root).unlink()            # the funder export needs no key at all
    done = followup("export", "--home", str(home.root), "--out", str(tmp_path / "b"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "b" / "uvas" / "kpi.csv").exists()


def test_a_key_file_others_can_read_is_warned_about(built, tmp_path):
    home = copy_of(built, tmp_path)
    os.chmod(key_path(home.root), 0o644)
    result = followup("status", "--home", str(home.root))
    export = followup("export", "--home", str(home.root), "--out", str(tmp_path / "out"))
    assert export.returncode == 0
    assert "kan läsas av andra än ägaren (rättigheter 0644" in export.stderr
    assert f"chmod 600 {key_path(home.root)}" in export.stderr
    assert result.returncode == 0


@pytest.mark.slow
def test_rotation_from_the_key_file_then_from_the_environment_gives_new_pseudonyms_and_the_same_figures(built, tmp_path):
    home = copy_of(built, tmp_path)
    old_key = key_path(home.root).read_text(encoding="utf-8").strip()
    old_fingerprint = fingerprint_path(home.root).read_text(encoding="utf-8")
    figures, pseudonyms = kpi_values(home.warehouse), person_ids(home)
    verdicts = query(home, "select delivery_id, verdict, verdict_reason, rows_accepted, rows_rejected, rows_warned "
                           "from landing.deliveries order by delivery_id")
    assert len(figures) > 100 and len(pseudonyms) > 20

    result = followup("rotate-key", "--home", str(home.root))
    assert result.returncode == 0, result.stderr
    assert "pseudonymiseras om från arkivet" in result.stdout and "den gamla är raderad" in result.stdout

    new_key = key_path(home.root).read_text(encoding="utf-8").strip()
    assert new_key != old_key and len(new_key) == 64 and not new_key_path(home.root).exists()
    assert oct(key_path(home.root).stat().st_mode & 0o777) == "0o600"
    assert fingerprint_path(home.root).read_text(encoding="utf-8") != old_fingerprint
    assert kpi_values(home.warehouse) == figures
    assert person_ids(home).isdisjoint(pseudonyms) and len(person_ids(home)) == len(pseudonyms)
    assert query(home, "select delivery_id, verdict, verdict_reason, rows_accepted, rows_rejected, rows_warned "
                       "from landing.deliveries order by delivery_id") == verdicts
    assert query(home, "select deliveries_reset from ops.key_rotations") == [(len(verdicts) - sum(
        1 for v in verdicts if v[1] == "REJECTED" and not v[3] and not v[4]),)]

    refused = followup("run", "--home", str(home.root), env={"FOLLOWUP_PSEUDONYM_KEY": old_key})
    assert refused.returncode == 2 and "Fel pseudonymiseringsnyckel" in refused.stderr

    # The same home rotated again, the keys this time in the environment (the server's secret
    # store), so both ways a key is kept are rotated on one home.
    rotated_key_in_the_environment(home, figures, pseudonyms | person_ids(home))


def test_rotation_is_refused_when_a_delivery_is_no_longer_in_the_archive(built, tmp_path):
    home = copy_of(built, tmp_path)
    key_before = key_path(home.root).read_bytes()
    fingerprint_before = fingerprint_path(home.root).read_bytes()
    deliveries_before = query(home, "select * from landing.deliveries order by delivery_id")
    (archived,) = query(home, "select archive_path from landing.deliveries where verdict = 'ACCEPTED' limit 1")[0]
    (home.root / archived).unlink()                 # as purge-raw would
    result = followup("rotate-key", "--home", str(home.root))
    assert result.returncode == 2
    assert "Nyckeln kan inte bytas: 1 leveranser finns inte längre oförändrade i arkivet" in result.stderr
    assert "purge-raw" in result.stderr and "Inget har ändrats" in result.stderr
    assert key_path(home.root).read_bytes() == key_before and not new_key_path(home.root).exists()
    assert fingerprint_path(home.root).read_bytes() == fingerprint_before
    assert query(home, "select * from landing.deliveries order by delivery_id") == deliveries_before


@pytest.mark.slow
def test_a_rotation_stopped_after_the_fingerprint_switched_is_finished_by_the_next_rotate_key(built, tmp_path):
    """The state a crash between the fingerprint and the key file leaves: the warehouse reset,
    the fingerprint of the new key, the new key still beside the old one."""
    from orchestration.privacy import rotation
    from orchestration.privacy.keys import load_key, write_fingerprint

    home = copy_of(built, tmp_path)
    figures = kpi_values(home.warehouse)
    old_key = load_key(home.root)
    new_key = rotation._new_key(home.root, from_environment=False)
    rotation._reset(home, [d for d, _, _ in rotation._deliveries_to_reset(home)])
    write_fingerprint(home.root, new_key)

    stuck = followup("run", "--home", str(home.root))
    assert stuck.returncode == 2 and "Fel pseudonymiseringsnyckel" in stuck.stderr
    result = followup("rotate-key", "--home", str(home.root))
    assert result.returncode == 0, result.stderr
    assert "Ett avbrutet nyckelbyte slutfördes" in result.stdout
    assert load_key(home.root) == new_key != old_key
    assert kpi_values(home.warehouse) == figures


def rotated_key_in_the_environment(home: DataHome, figures: list[tuple], earlier_pseudonyms: set[str]) -> None:
    """Rotation with the key in the environment takes the new key from the environment: asked for
    it, then given it; the key never printed, no key file left, every figure the same."""
    old_key = key_path(home.root).read_text(encoding="utf-8").strip()
    key_path(home.root).unlink()                   # the key lives in the server's secret store
    new_key = "the-new-key-from-the-vault-" + "n" * 40

    asked = followup("rotate-key", "--home", str(home.root), env={"FOLLOWUP_PSEUDONYM_KEY": old_key})
    assert asked.returncode == 2 and "FOLLOWUP_NEW_PSEUDONYM_KEY" in asked.stderr
    assert old_key not in asked.stderr + asked.stdout

    rotated = followup("rotate-key", "--home", str(home.root),
                       env={"FOLLOWUP_PSEUDONYM_KEY": old_key, "FOLLOWUP_NEW_PSEUDONYM_KEY": new_key})
    assert rotated.returncode == 0, rotated.stderr
    assert "Flytta nu den nya nyckeln" in rotated.stdout and new_key not in rotated.stdout + rotated.stderr
    assert not key_path(home.root).exists() and not new_key_path(home.root).exists()
    assert kpi_values(home.warehouse) == figures
    assert person_ids(home).isdisjoint(earlier_pseudonyms)
    assert key_matches(home.root, new_key.encode()) and not key_matches(home.root, old_key.encode())
    assert followup("run", "--home", str(home.root), env={"FOLLOWUP_PSEUDONYM_KEY": old_key}).returncode == 2
