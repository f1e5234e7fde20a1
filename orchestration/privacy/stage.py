"""Pseudonymise stage: read each newly received delivery from the archive and pseudonymise it.

The personnummer exists only inside this stage's memory; what it writes (landing.pseudonymised_rows)
holds pseudonyms and derived values. A file that cannot be read is given its verdict here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from orchestration.ingest.reader import ExtractReadError, read_extract
from orchestration.lib.home import DataHome
from orchestration.lib.warehouse import connect
from orchestration.privacy.pseudonymise import DeliveryContext, Pseudonymiser, pseudonymise_deliveries


@dataclass
class PseudonymiseReport:
    deliveries: int = 0
    rows: int = 0
    persons: int = 0
    notes: int = 0                                                    # notes stored (scrubbed)
    note_replacements: dict[str, int] = field(default_factory=dict)   # label -> count, e.g. [namn]: 12
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (delivery_id, reason code)


# Rows per write: large enough that per-batch costs vanish, small enough that a national
# backfill (millions of rows) never sits in memory at once.
BATCH_ROWS = 200_000


def pseudonymise_pending(home: DataHome, key: bytes, batch_rows: int = BATCH_ROWS) -> PseudonymiseReport:
    """Read and pseudonymise every RECEIVED delivery, in batches of about `batch_rows` rows.

    Each batch is written in one transaction together with its deliveries' new status, so a run
    stopped midway leaves every delivery either RECEIVED (taken again by the next run) or
    PSEUDONYMISED with all its rows; memory stays bounded by the batch, not the backlog."""
    with connect(home.warehouse, read_only=True) as db:
        pending = db.execute(
            "select delivery_id, project_id, kommunkod, reporting_month, archive_path from landing.deliveries "
            "where status = 'RECEIVED' order by received_at, delivery_id"
        ).fetchall()
    report = PseudonymiseReport()
    pseudonymiser = Pseudonymiser(key)
    persons: set[str] = set()
    with connect(home.warehouse) as db:
        ids = [p[0] for p in pending]
        if ids:   # rows left by a run that stopped before marking its deliveries
            db.execute("delete from landing.pseudonymised_rows where delivery_id in (select unnest(?))", [ids])
        batch: list[tuple[pd.DataFrame, DeliveryContext, str]] = []
        batch_size = 0
        unreadable: list[tuple[str, str, str]] = []
        for delivery_id, project_id, kommunkod, month, archive_path in pending:
            try:
                extract = read_extract(home.root / archive_path)
            except ExtractReadError as error:
                unreadable.append((delivery_id, error.code, error.message))
                continue
            except Exception as error:  # noqa: BLE001 - one broken file must not stop the others
                unreadable.append((delivery_id, "FIL_OLASBAR",
                                   f"Filen kunde inte läsas ({type(error).__name__}). Spara om den som CSV eller .xlsx och skicka igen."))
                continue
            batch.append((extract.rows, DeliveryContext(delivery_id, project_id, kommunkod, month),
                          ", ".join(extract.unknown_columns)))
            batch_size += len(extract.rows)
            if batch_size >= batch_rows:
                _write_batch(db, batch, pseudonymiser, report, persons)
                batch, batch_size = [], 0
        _write_batch(db, batch, pseudonymiser, report, persons)
        if unreadable:
            db.executemany(
                "update landing.deliveries set status = 'VALIDATED', verdict = 'REJECTED', verdict_reason = ?, "
                "verdict_message = ?, rows_total = 0, rows_accepted = 0, rows_rejected = 0, rows_warned = 0 "
                "where delivery_id = ?",
                [(code, message, delivery_id) for delivery_id, code, message in unreadable],
            )
    report.persons = len(persons)
    report.note_replacements = dict(sorted(pseudonymiser.note_replacements.items()))
    report.unreadable = [(d, c) for d, c, _ in unreadable]
    return report


def _write_batch(db, batch: list[tuple[pd.DataFrame, DeliveryContext, str]], pseudonymiser: Pseudonymiser,
                 report: PseudonymiseReport, persons: set[str]) -> None:
    if not batch:
        return
    rows = pseudonymise_deliveries([(frame, context) for frame, context, _ in batch], pseudonymiser)
    db.execute("begin transaction")
    if len(rows):
        db.register("pseudonymised_frame", rows)
        db.execute("insert into landing.pseudonymised_rows by name select * from pseudonymised_frame")
        db.unregister("pseudonymised_frame")
    db.execute("update landing.deliveries set status = 'PSEUDONYMISED', unknown_columns = read.unknown_columns "
               "from (select unnest(?) as delivery_id, unnest(?) as unknown_columns) as read "
               "where deliveries.delivery_id = read.delivery_id",
               [[context.delivery_id for _, context, _ in batch], [unknown for _, _, unknown in batch]])
    db.execute("commit")
    report.deliveries += len(batch)
    report.rows += len(rows)
    report.notes += int(rows["anteckning"].notna().sum())
    persons.update(rows["person_id"].dropna().unique())
