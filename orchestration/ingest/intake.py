"""Intake stage: register every new file of the inbox as a delivery, archived by sha256.

Crash safety: a file is archived (atomic rename) before its row is written, and all rows of a
run are written in one transaction, so a run killed midway leaves the warehouse as it was and
the next run finds the same files new again (their archive copies already in place). One file's
trouble (changed while copied, a permission, an odd name) never stops the others: it is listed
and taken again by the next run; only a full disk stops the stage.

Arrival order: every delivery gets an `arrival_seq`, increasing across runs, and within one run
in the order scan_inbox returns (modification time, then the time the file landed in its folder).
Of two files for the same project, municipality and month the one with the greater arrival_seq
is the newer; lib/delivery_state.py makes it the snapshot in force.

Each delivery records its `extract_kind` (route(): INSKRIVNING, or KARTLAGGNING for a file of the
municipality's mapping folder); a file is in force only among deliveries of its own kind.
"""

from __future__ import annotations

import datetime as dt
import errno
from dataclasses import dataclass, field

from orchestration.ingest.inbox import (
    FILE,
    FileChangedError,
    NotRegularFileError,
    RoutedFile,
    UnroutedFile,
    archive,
    route,
    scan_inbox,
)
from orchestration.ingest.limits import ReadLimits
from orchestration.lib.contract import RECEIVED, REJECTED, VALIDATED
from orchestration.lib.home import DataHome
from orchestration.lib.warehouse import connect, ensure_schema, insert_rows
from orchestration.projects.config import ProjectsConfig

# A full disk or a read-only file system is no fault of one file: the run stops (and says so)
# rather than blaming every file in turn.
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


@dataclass
class IntakeReport:
    new: list[RoutedFile] = field(default_factory=list)
    unchanged: int = 0
    unrouted: list[UnroutedFile] = field(default_factory=list)
    still_arriving: list[str] = field(default_factory=list)   # changed while being copied
    failed: list[tuple[str, str]] = field(default_factory=list)   # (path, error): could not be archived; retried next run


def run_intake(home: DataHome, config: ProjectsConfig, project_ids: set[str] | None = None,
               today: dt.date | None = None) -> IntakeReport:
    ensure_schema(home.warehouse)
    report = IntakeReport()
    with connect(home.warehouse, read_only=True) as db:
        known_deliveries = {row[0] for row in db.execute("select delivery_id from landing.deliveries").fetchall()}
        known_unrouted = {tuple(row) for row in db.execute("select inbox_path, sha256 from landing.unrouted_files").fetchall()}
        next_seq = db.execute("select coalesce(max(arrival_seq), 0) + 1 from landing.deliveries").fetchone()[0]
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    delivery_rows, unrouted_rows = [], []
    max_file_bytes = ReadLimits.from_environment().max_file_bytes
    for file in scan_inbox(home.inbox, max_file_bytes):
        if project_ids and file.relative.split("/")[0] not in project_ids:
            continue
        try:
            routed = route(file, config, today)
            if isinstance(routed, UnroutedFile):
                report.unrouted.append(routed)
                if (file.relative, file.sha256) in known_unrouted:
                    continue
                archived = None
                if file.kind == FILE and not file.oversize:
                    archived = str(archive(file, home.archive).relative_to(home.root))
                known_unrouted.add((file.relative, file.sha256))
                unrouted_rows.append((file.relative, file.sha256, now, routed.reason_code, routed.message,
                                      file.received_at, archived))
                continue
            if routed.delivery_id in known_deliveries:
                report.unchanged += 1  # byte-identical to a delivery we already have: nothing to do
                continue
            archived_path = None if file.oversize else archive(file, home.archive)
        except (FileChangedError, FileNotFoundError, NotRegularFileError):
            report.still_arriving.append(file.relative)  # being written or replaced: the next run takes it
            continue
        except OSError as error:
            if error.errno in DISK_ERRORS:
                raise   # the disk, not the file: the run stops and says so (nothing is recorded)
            report.failed.append((file.relative, f"{type(error).__name__}: {error.strerror or ''}".strip(": ")))
            continue
        known_deliveries.add(routed.delivery_id)
        status, verdict, reason, message = RECEIVED, None, None, None
        if routed.rejection:
            status, verdict = VALIDATED, REJECTED
            reason, message = routed.rejection
        archive_path = str(archived_path.relative_to(home.root)) if archived_path else ""   # "": over the size limit
        delivery_rows.append((
            routed.delivery_id, routed.project_id, routed.kommunkod, routed.reporting_month, file.name, archive_path,
            file.sha256, file.size_bytes, file.received_at, status, verdict, reason, message, next_seq, now,
            routed.extract_kind,
        ))
        next_seq += 1
        report.new.append(routed)
    if delivery_rows or unrouted_rows:
        _record(home, delivery_rows, unrouted_rows)
    return report


def _record(home: DataHome, delivery_rows: list[tuple], unrouted_rows: list[tuple]) -> None:
    with connect(home.warehouse) as db:
        db.execute("begin transaction")
        if delivery_rows:
            insert_rows(db, "landing.deliveries", _DELIVERY_COLUMNS, delivery_rows)
            db.execute(
                "update landing.deliveries set rows_total = 0, rows_accepted = 0, rows_rejected = 0, rows_warned = 0 "
                "where verdict = ? and rows_total is null", [REJECTED])
        insert_rows(db, "landing.unrouted_files", _UNROUTED_COLUMNS, unrouted_rows)
        db.execute("commit")


_DELIVERY_COLUMNS = ("delivery_id", "project_id", "kommunkod", "reporting_month", "file_name", "archive_path", "sha256",
                     "size_bytes", "received_at", "status", "verdict", "verdict_reason", "verdict_message",
                     "arrival_seq", "ingested_at", "extract_kind")
_UNROUTED_COLUMNS = ("inbox_path", "sha256", "seen_at", "reason_code", "message", "received_at", "archive_path")
