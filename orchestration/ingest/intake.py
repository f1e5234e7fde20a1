"""Intake stage: register every new file of the inbox as a delivery, archived by sha256.

Crash safety: a file is archived (atomic rename) before its row is written, and all rows of a
run are written in one transaction, so a run killed midway leaves the warehouse as it was and
the next run finds the same files new again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from orchestration.ingest.inbox import RoutedFile, UnroutedFile, archive, route, scan_inbox
from orchestration.lib.home import DataHome
from orchestration.lib.warehouse import connect, ensure_schema
from orchestration.projects.config import ProjectsConfig


@dataclass
class IntakeReport:
    new: list[RoutedFile] = field(default_factory=list)
    unchanged: int = 0
    unrouted: list[UnroutedFile] = field(default_factory=list)


def run_intake(home: DataHome, config: ProjectsConfig, project_ids: set[str] | None = None) -> IntakeReport:
    ensure_schema(home.warehouse)
    report = IntakeReport()
    with connect(home.warehouse, read_only=True) as db:
        known_deliveries = {row[0] for row in db.execute("select delivery_id from landing.deliveries").fetchall()}
        known_unrouted = {tuple(row) for row in db.execute("select inbox_path, sha256 from landing.unrouted_files").fetchall()}
    delivery_rows, unrouted_rows = [], []
    for file in scan_inbox(home.inbox):
        if project_ids and file.relative.split("/")[0] not in project_ids:
            continue
        routed = route(file, config)
        if isinstance(routed, UnroutedFile):
            report.unrouted.append(routed)
            if (file.relative, file.sha256) not in known_unrouted:
                unrouted_rows.append((file.relative, file.sha256, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
                                      routed.reason_code, routed.message))
            continue
        if routed.delivery_id in known_deliveries:
            report.unchanged += 1  # byte-identical to a delivery we already have: nothing to do
            continue
        known_deliveries.add(routed.delivery_id)
        archived = archive(file, home.archive)
        delivery_rows.append((
            routed.delivery_id, routed.project_id, routed.kommunkod, routed.reporting_month, file.path.name,
            str(archived.relative_to(home.root)), file.sha256, file.size_bytes, file.received_at, "RECEIVED",
        ))
        report.new.append(routed)
    if delivery_rows or unrouted_rows:
        with connect(home.warehouse) as db:
            db.execute("begin transaction")
            if delivery_rows:
                db.executemany(
                    "insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
                    "archive_path, sha256, size_bytes, received_at, status) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    delivery_rows,
                )
            if unrouted_rows:
                db.executemany("insert into landing.unrouted_files values (?, ?, ?, ?, ?)", unrouted_rows)
            db.execute("commit")
    return report
