"""Whether `followup run` has anything to do: a run that finds nothing new changes nothing.

A clean run (every project, successful, no delivery left waiting) records in `<home>/last-run.json`
what its outputs depend on and how it left them:

- inputs: every inbox entry intake would list (size, modification and change time, inode and
  mode: a file replaced, touched or given new permissions differs), the configuration's bytes,
  the FOLLOWUP_* settings, the release (versions and every source file's size and modification
  time) and the calendar phase (reporting/status.py: which months are shown and which deadlines
  have passed);
- outputs: the warehouse, the serving copy, reports/ and exports/ (size and modification time).

A later run whose inputs are the recorded ones and which finds the outputs as they were left has
nothing to do: it starts no Dagster run, runs no dbt and writes no file. Any other write to the
home (the sensor's or the UI's runs, purge-raw, rotate-key, a restore) changes the outputs, so the
next run works. The record is removed as soon as a run starts working, so a run killed midway
leaves none. It holds digests and times only, nothing read from a delivery.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from orchestration.lib.home import DataHome

RECORD_NAME = "last-run.json"
FORMAT = 1
# What decides a run's results besides the data: the project's sources and these packages.
PACKAGES = ("followup", "dbt-core", "dbt-duckdb", "duckdb", "dagster", "dagster-dbt", "great-expectations",
            "pandas", "openpyxl", "pseudonymize")
SOURCE_ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("orchestration", "dbt", "expectations")
NOT_SOURCES = {"target", "logs", "__pycache__", "dbt_packages"}
# Where the home, its configuration (read above) and its Dagster storage are, and the secrets
# (the key is checked before a run): not settings of the results.
NOT_SETTINGS = {"FOLLOWUP_HOME", "FOLLOWUP_WAREHOUSE", "FOLLOWUP_CONFIG", "FOLLOWUP_DAGSTER_POSTGRES_URL",
                "FOLLOWUP_PSEUDONYM_KEY", "FOLLOWUP_NEW_PSEUDONYM_KEY"}


@dataclass(frozen=True)
class LastRun:
    run_id: str
    finished_at: str                 # ISO, local time


def inputs_digest(home: DataHome, config_path: str | None, today: dt.date | None = None) -> str:
    """One digest of everything a run reads besides the warehouse: taken before the run, so a
    file that arrives while it works makes the next run's digest differ."""
    from orchestration.reporting.status import calendar_phase

    parts = {
        "format": FORMAT,
        "inbox": _inbox_entries(home.inbox),
        "config": _config_bytes_digest(config_path),
        "settings": sorted((k, v) for k, v in os.environ.items() if k.startswith("FOLLOWUP_") and k not in NOT_SETTINGS),
        "release": _release(),
        "calendar": calendar_phase(today or dt.date.today()),
    }
    return _digest(parts)


def outputs_digest(home: DataHome) -> str:
    """The home's written state as a run leaves it: any later write by anyone changes it."""
    from orchestration.lib.warehouse_copy import SERVING_DIR

    files = [home.warehouse, home.warehouse.with_name(home.warehouse.name + ".wal")]
    entries = [(str(p.relative_to(home.root)), *_stamp(p)) for p in files]
    for folder in (home.root / SERVING_DIR, home.reports, home.exports):
        entries += _tree(folder, home.root)
    return _digest(entries)


def nothing_new(home: DataHome, inputs: str) -> LastRun | None:
    """The last clean run, when nothing has changed since it: then a run has nothing to do."""
    try:
        record = json.loads((home.root / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("inputs") != inputs or record.get("outputs") != outputs_digest(home):
        return None
    return LastRun(str(record.get("run_id", "")), str(record.get("finished_at", "")))


def forget(home: DataHome) -> None:
    """Before a run works: until it ends cleanly, the next run works too."""
    (home.root / RECORD_NAME).unlink(missing_ok=True)


def record(home: DataHome, inputs: str, run_id: str) -> None:
    """After a clean run: its inputs (taken before it) and the outputs it left."""
    path = home.root / RECORD_NAME
    content = {"format": FORMAT, "run_id": run_id, "finished_at": dt.datetime.now().isoformat(timespec="seconds"),
               "inputs": inputs, "outputs": outputs_digest(home)}
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def _inbox_entries(inbox: Path) -> list:
    from orchestration.ingest.inbox import walk_inbox

    return [(relative, kind, *((s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino, s.st_mode) if s else ()))
            for _, relative, kind, s in walk_inbox(inbox)]


def _config_bytes_digest(config_path: str | None) -> str:
    """The configuration file's bytes (the bundled example is among the release's sources)."""
    if not config_path:
        return ""
    try:
        return hashlib.sha256(Path(config_path).read_bytes()).hexdigest()
    except OSError as error:
        return f"unreadable: {error.errno}"


def release_digest() -> str:
    """The release as one digest (package versions, every source file's size and modification
    time): also what decides whether exports made earlier can stand (reporting/export.py)."""
    return _digest(_release())


def _release() -> list:
    versions = []
    for package in PACKAGES:
        try:
            versions.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            versions.append((package, None))
    sources = []
    for folder in SOURCE_FOLDERS:
        sources += _tree(SOURCE_ROOT / folder, SOURCE_ROOT)
    return [versions, _digest(sources)]


def _tree(folder: Path, root: Path) -> list:
    entries = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if d not in NOT_SOURCES and not d.startswith("."))
        for name in sorted(files):
            path = Path(directory) / name
            entries.append((str(path.relative_to(root)), *_stamp(path)))
    return entries


def _stamp(path: Path) -> tuple:
    try:
        status = path.stat()
    except OSError:
        return ()
    return status.st_size, status.st_mtime_ns


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
