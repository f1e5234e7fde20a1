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
from orchestration.privacy.pseudonymise import DeliveryContext, Pseudonymiser, pseudonymise_rows


@dataclass
class PseudonymiseReport:
    deliveries: int = 0
    rows: int = 0
    persons: int = 0
    notes: int = 0                                                    # notes stored (scrubbed)
    note_replacements: dict[str, int] = field(default_factory=dict)   # label -> count, e.g. [namn]: 12
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (delivery_id, reason code)


def pseudonymise_pending(home: DataHome, key: bytes) -> PseudonymiseReport:
    with connect(home.warehouse, read_only=True) as db:
        pending = db.execute(
            "select delivery_id, project_id, kommunkod, reporting_month, archive_path from landing.deliveries "
            "where status = 'RECEIVED' order by received_at, delivery_id"
        ).fetchall()
    report = PseudonymiseReport()
    pseudonymiser = Pseudonymiser(key)
    frames: list[pd.DataFrame] = []
    read_ok: list[tuple[str, str]] = []
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
        context = DeliveryContext(delivery_id, project_id, kommunkod, month)
        frames.append(pseudonymise_rows(extract.rows, context, pseudonymiser))
        read_ok.append((", ".join(extract.unknown_columns), delivery_id))
    rows = pd.concat(frames, ignore_index=True) if frames else None
    with connect(home.warehouse) as db:
        db.execute("begin transaction")
        ids = [p[0] for p in pending]
        if ids:
            db.execute("delete from landing.pseudonymised_rows where delivery_id in (select unnest(?))", [ids])
        if rows is not None and len(rows):
            db.register("pseudonymised_frame", rows)
            db.execute("insert into landing.pseudonymised_rows by name select * from pseudonymised_frame")
            db.unregister("pseudonymised_frame")
        if read_ok:
            db.executemany("update landing.deliveries set status = 'PSEUDONYMISED', unknown_columns = ? where delivery_id = ?", read_ok)
        if unreadable:
            db.executemany(
                "update landing.deliveries set status = 'VALIDATED', verdict = 'REJECTED', verdict_reason = ?, "
                "verdict_message = ?, rows_total = 0, rows_accepted = 0, rows_rejected = 0, rows_warned = 0 "
                "where delivery_id = ?",
                [(code, message, delivery_id) for delivery_id, code, message in unreadable],
            )
        db.execute("commit")
    report.deliveries = len(read_ok)
    report.rows = 0 if rows is None else len(rows)
    report.persons = 0 if rows is None else int(rows["person_id"].nunique())
    report.notes = 0 if rows is None else int(rows["anteckning"].notna().sum())
    report.note_replacements = dict(sorted(pseudonymiser.note_replacements.items()))
    report.unreadable = [(d, c) for d, c, _ in unreadable]
    return report
