"""Retention of raw files: `followup purge-raw --older-than DAYS` on a real data home.

The data home is a copy of the session's demo run (tests/conftest.py), so the purge meets what a
run leaves behind: archived files named by sha256, the municipalities' copies in the inbox,
deliveries with their received_at, unrouted files. The copy keeps the shared run intact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from orchestration import cli
from orchestration.lib.home import DataHome
from orchestration.privacy.retention import RawFile, due_for_purge
from tests.bad_inputs.scenario import cli_subprocess, query
from tests.identifier_scan import find_identifiers, identifier_tokens, warehouse_text

pytestmark = pytest.mark.slow
DAY = dt.timedelta(days=1)


def followup(*args: str) -> subprocess.CompletedProcess:
    return cli_subprocess(*args, timeout=300)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def copied_home(demo_pipeline, tmp_path) -> DataHome:
    source = demo_pipeline.home
    target = tmp_path / "home"
    shutil.copytree(source.root, target, ignore=shutil.ignore_patterns("dagster"), symlinks=True)
    for path in (source.inbox.rglob("*")):           # keep the inbox's modification times (copytree does)
        if path.is_file() and not path.is_symlink():
            assert (target / path.relative_to(source.root)).stat().st_mtime == path.stat().st_mtime
    return DataHome.resolve(target)


def split_days(home: DataHome, now: dt.datetime) -> tuple[int, dt.datetime, dt.datetime]:
    """A retention in days whose cutoff falls in a gap of several days between receptions near
    the middle: (days, last reception before the cutoff, first one after it)."""
    times = sorted({t for (t,) in query(home, "select received_at from landing.deliveries")})
    middle = len(times) // 2
    for before, after in [(times[i], times[i + 1]) for i in range(middle, len(times) - 1)]:
        if after - before > 3 * DAY:
            days = (now - before).days - 1                     # cutoff = now − days ∈ (before, before + 2 days)
            return days, before, after
    raise AssertionError("the demo deliveries should arrive over many months")


def test_purge_raw_deletes_archive_and_inbox_copies_past_retention_and_logs_them_without_identifiers(
        copied_home, demo_pipeline, capsys):
    home = copied_home
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    days, last_old, first_new = split_days(home, now)
    deliveries = query(home, "select sha256, max(received_at), count(*) from landing.deliveries group by sha256")
    old = {sha for sha, received, _ in deliveries if received <= last_old}
    new = {sha for sha, received, _ in deliveries if received >= first_new}
    assert old and new and not old & new
    # One old delivery not yet through validation: the pipeline still needs its file.
    pending = sorted(old)[0]
    connection = duckdb.connect(str(home.warehouse))
    connection.execute("update landing.deliveries set status = 'RECEIVED' where sha256 = ?", [pending])
    connection.close()
    purged = old - {pending}
    archived = {p.name.split(".")[0]: p for p in home.archive.rglob("*") if p.is_file()}
    inbox = {p: sha256(p) for p in home.inbox.rglob("*") if p.is_file() and not p.is_symlink()}
    assert purged <= set(archived) and any(sha in purged for sha in inbox.values())
    kpis_before = query(home, "select * from marts.kpi_values order by all")

    # A dry run lists what would go and deletes nothing.
    assert cli.main(["purge-raw", "--home", str(home.root), "--older-than", str(days), "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert dry.count("skulle raderas: ") == len(purged) and "inget raderades" in dry
    assert all(p.exists() for p in archived.values()) and all(p.exists() for p in inbox)
    assert query(home, "select count(*) from landing.raw_purges") == [(0,)]

    result = followup("purge-raw", "--home", str(home.root), "--older-than", str(days))
    assert result.returncode == 0, result.stderr
    for sha, path in archived.items():
        assert path.exists() == (sha not in purged), (sha, sha in purged)
    for path, sha in inbox.items():
        assert path.exists() == (sha not in purged), path
    assert archived[pending].exists()
    assert "1 filer behölls" in result.stdout

    # What was deleted is recorded: sha256, size, dates, counts. No name, no path, no content.
    log = query(home, "select sha256, kind, size_bytes, received_at, purged_at, older_than_days, deliveries, "
                      "inbox_copies_deleted from landing.raw_purges")
    assert {row[0] for row in log} == purged
    received = {sha: (when, count) for sha, when, count in deliveries}
    for sha, kind, size, received_at, purged_at, older_than, count, copies in log:
        assert kind == "delivery" and size > 0
        assert (received_at, count) == received[sha]
        assert received_at < purged_at - days * DAY and abs(purged_at - now) < dt.timedelta(minutes=10)
        assert older_than == days
        assert copies == sum(1 for s in inbox.values() if s == sha)
        assert sha in result.stdout
    columns = {c for (c,) in query(home, "select column_name from information_schema.columns "
                                         "where table_name = 'raw_purges'")}
    assert not {"path", "file_name", "inbox_path", "archive_path"} & columns
    digits, words = identifier_tokens(demo_pipeline.simulation.identifiers())
    assert find_identifiers(warehouse_text(home.warehouse)["landing.raw_purges"], digits, words) == set()
    assert find_identifiers(result.stdout + result.stderr, digits, words) == set()
    file_names = {p.name for p in inbox}
    assert not [name for name in file_names if name in result.stdout]

    # The derived, pseudonymised data is untouched; a second purge finds nothing more.
    assert query(home, "select * from marts.kpi_values order by all") == kpis_before
    again = followup("purge-raw", "--home", str(home.root), "--older-than", str(days))
    assert again.returncode == 0 and "Inga arkiverade råfiler" in again.stdout
    assert len(query(home, "select * from landing.raw_purges")) == len(purged)


def test_purge_raw_usage_errors(tmp_path):
    negative = followup("purge-raw", "--home", str(tmp_path), "--older-than", "-1")
    assert negative.returncode == 2 and "--older-than -1" in negative.stderr
    missing = followup("purge-raw", "--home", str(tmp_path), "--older-than", "30")
    assert missing.returncode == 2 and "followup run" in missing.stderr
    assert "Traceback" not in negative.stderr + missing.stderr


def raw(days_old: float, pending: bool = False, now: dt.datetime = dt.datetime(2024, 6, 30, 12)) -> RawFile:
    return RawFile(Path(f"{days_old}"), f"{days_old}", 1, now - dt.timedelta(days=days_old), 1, "delivery", pending)


def test_due_for_purge_counts_from_reception_and_keeps_pending_files():
    now = dt.datetime(2024, 6, 30, 12)
    files = [raw(10), raw(30.5), raw(29.9), raw(400), raw(400, pending=True)]
    assert [f.sha256 for f in due_for_purge(files, 30, now)] == ["30.5", "400"]
    assert [f.sha256 for f in due_for_purge(files, 0, now)] == ["10", "30.5", "29.9", "400"]
