"""Retention of raw files: `followup purge-raw --older-than DAYS`.

The archive keeps every file as received (with personnummer, names, notes) so a delivery can be
processed again after a fix or a key rotation. Past the retention time it must go. Raw copies
live in two places in the data home: `archive/` (ours, named by sha256) and the municipality's
drop folder `inbox/`, where intake leaves them. Both are deleted; the warehouse keeps only what
was derived (pseudonymised rows, verdicts) and a log line per deleted file in
`landing.raw_purges` (sha256, size, dates; no name, no content).

The clock: a file's age counts from `landing.deliveries.received_at` (the latest one when several
deliveries share the same bytes) — the time recorded in the warehouse when intake found it, which
is the file's modification time in the inbox. It is kept in the warehouse, so it survives
copying or restoring the archive (a file's own time would not). A file saved long before it was
dropped counts from that earlier time, so the error is on the side of deleting sooner.
An archived file that never became a delivery (it was reported as not ingested) counts from when
intake saw it; a file nothing refers to, from its own modification time.

A file over the size limit is never copied to the archive (ingest/inbox.py); its only raw copy is
the one in the inbox, found by the marker intake recorded for it in place of a sha256, and it is
deleted from there when its time is up (kind `oversize`).

Never deleted: a file of a delivery not yet through validation (the pipeline still needs it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib.contract import VALIDATED
from orchestration.lib.home import DataHome
from orchestration.lib.warehouse import connect, ensure_schema


class PurgeError(RuntimeError):
    """The purge cannot run (e.g. a pipeline run holds the warehouse); the message is for people."""


@dataclass(frozen=True)
class RawFile:
    path: Path
    sha256: str
    size_bytes: int
    received_at: dt.datetime   # naive UTC
    deliveries: int            # deliveries made of these bytes
    kind: str                  # 'delivery', 'unrouted', 'unreferenced', or 'oversize' (in the inbox only)
    pending: bool              # a delivery of it is not yet validated: keep


@dataclass
class PurgeReport:
    cutoff: dt.datetime
    deleted: list[tuple[RawFile, int]] = field(default_factory=list)   # (file, inbox copies deleted)
    kept_pending: int = 0
    failed: list[tuple[RawFile, str]] = field(default_factory=list)    # (file, error class name)


def due_for_purge(files: list[RawFile], older_than_days: int, now: dt.datetime) -> list[RawFile]:
    """The files past retention: received before now − DAYS and not needed by the pipeline."""
    cutoff = now - dt.timedelta(days=older_than_days)
    return [f for f in files if f.received_at < cutoff and not f.pending]


def raw_files(home: DataHome) -> list[RawFile]:
    """Every raw file the data home keeps: the archive, and files over the size limit in the inbox."""
    with connect(home.warehouse, read_only=True) as db:
        deliveries = {
            sha: (received_at, count, pending)
            for sha, received_at, count, pending in db.execute(
                f"select sha256, max(received_at), count(*), bool_or(status <> '{VALIDATED}') "
                "from landing.deliveries group by sha256").fetchall()
        }
        unrouted = dict(db.execute("select sha256, max(seen_at) from landing.unrouted_files group by sha256").fetchall())
    return archived_files(home, deliveries, unrouted) + oversize_files(home, deliveries, unrouted)


def oversize_files(home: DataHome, deliveries: dict, unrouted: dict) -> list[RawFile]:
    """Files over the size limit in the inbox that intake recorded (a delivery or not ingested)."""
    from orchestration.ingest.inbox import oversize_in_inbox
    from orchestration.ingest.limits import ReadLimits

    files = []
    for entry in oversize_in_inbox(home.inbox, ReadLimits.from_environment().max_file_bytes):
        if entry.sha256 in deliveries:
            received_at, count, pending = deliveries[entry.sha256]
            files.append(RawFile(entry.path, entry.sha256, entry.size_bytes, received_at, count, "oversize", bool(pending)))
        elif entry.sha256 in unrouted:
            files.append(RawFile(entry.path, entry.sha256, entry.size_bytes, unrouted[entry.sha256], 0, "oversize", False))
    return files


def archived_files(home: DataHome, deliveries: dict, unrouted: dict) -> list[RawFile]:
    """Every file in the archive with the time its retention counts from."""
    files = []
    for path in sorted(home.archive.rglob("*")) if home.archive.exists() else []:
        if path.is_symlink() or not path.is_file() or path.name.startswith("."):
            continue
        sha = path.name.split(".")[0]
        size = path.stat().st_size
        if sha in deliveries:
            received_at, count, pending = deliveries[sha]
            files.append(RawFile(path, sha, size, received_at, count, "delivery", bool(pending)))
        elif sha in unrouted:
            files.append(RawFile(path, sha, size, unrouted[sha], 0, "unrouted", False))
        else:
            mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc).replace(tzinfo=None)
            files.append(RawFile(path, sha, size, mtime, 0, "unreferenced", False))
    return files


def purge_raw(home: DataHome, older_than_days: int, now: dt.datetime | None = None,
              dry_run: bool = False) -> PurgeReport:
    """Delete raw files past retention (archive and inbox copies) and log each in landing.raw_purges."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be zero or more")
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    try:
        ensure_schema(home.warehouse)
        files = raw_files(home)
    except duckdb.IOException as error:
        raise PurgeError(_busy_message(home)) from error
    report = PurgeReport(cutoff=now - dt.timedelta(days=older_than_days))
    report.kept_pending = sum(1 for f in files if f.pending and f.received_at < report.cutoff)
    due = due_for_purge(files, older_than_days, now)
    if dry_run or not due:
        report.deleted = [(f, 0) for f in due] if dry_run else []
        return report
    inbox_copies = _inbox_copies(home.inbox, {f.sha256 for f in due if f.kind != "oversize"},
                                 {f.size_bytes for f in due if f.kind != "oversize"})
    try:
        with connect(home.warehouse) as db:
            for file in due:
                removed = 0
                try:
                    file.path.unlink(missing_ok=True)
                    for copy in inbox_copies.get(file.sha256, []):
                        copy.unlink(missing_ok=True)
                        removed += 1
                except OSError as error:
                    report.failed.append((file, type(error).__name__))
                    continue
                # One line per file as soon as it is gone: a crash loses at most one file's line.
                db.execute(
                    "insert into landing.raw_purges (sha256, kind, size_bytes, received_at, purged_at, "
                    "older_than_days, deliveries, inbox_copies_deleted) values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [file.sha256, file.kind, file.size_bytes, file.received_at, now, older_than_days,
                     file.deliveries, removed])
                report.deleted.append((file, removed))
    except duckdb.IOException as error:
        raise PurgeError(_busy_message(home)) from error
    _remove_empty_folders(home.archive)
    return report


def _inbox_copies(inbox: Path, wanted: set[str], sizes: set[int]) -> dict[str, list[Path]]:
    """Files in the inbox whose bytes are one of the purged files (the municipality's drop copies).
    Only a file of one of their sizes is read: a copy has the size of its original. The feedback
    folders (ingest/inbox.is_feedback) are ours, not raw files: never read, never deleted."""
    from orchestration.ingest.inbox import in_feedback

    found: dict[str, list[Path]] = {}
    if not inbox.exists():
        return found
    for path in inbox.rglob("*"):
        if path.is_symlink() or not path.is_file() or in_feedback(inbox, path):
            continue
        try:
            if path.stat().st_size not in sizes:
                continue
        except OSError:
            continue
        try:
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            continue
        if digest.hexdigest() in wanted:
            found.setdefault(digest.hexdigest(), []).append(path)
    return found


def _remove_empty_folders(archive: Path) -> None:
    for folder in sorted((p for p in archive.glob("*") if p.is_dir()), reverse=True):
        try:
            os.rmdir(folder)   # only succeeds when empty
        except OSError:
            pass


def _busy_message(home: DataHome) -> str:
    return (f"Lagret {home.warehouse} används av en annan körning. Vänta tills den är klar "
            "och kör `followup purge-raw` igen.")
