"""Pseudonymise stage: read each newly received delivery from the archive and pseudonymise it.

The personnummer exists only inside this stage's memory; what it writes (landing.pseudonymised_rows)
holds pseudonyms and derived values. A file that cannot be read is given its verdict here.

No delivery can stop this stage for good (a "poison" delivery). Files are read in a child
process under a time and memory limit (privacy/reading.py), so a file that breaks the reader gets
its verdict and the stage goes on. A delivery whose rows make pseudonymisation fail gets its own
verdict, the rest of its batch is written. And if the stage itself dies (killed, out of memory)
with deliveries still waiting, each start counts in `process_attempts`: from the third start on,
those deliveries are taken one at a time, each marked in `processing_alone_since` before it is
read, so a delivery that kills the stage once more is the one marked, and the next start gives it
its final verdict (LASNING_AVBROTS) instead of reading it again.

Enrolment and mapping deliveries (landing.deliveries.extract_kind) go through the same batches
with the same guarantees: a mapping file is read with its project's question columns (the
instrument as the configuration wrote it into the warehouse, privacy/mapping.py) and written to
landing.mapping_pseudonymised_rows and _answers, in the batch's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration.ingest.limits import ReadLimits
from orchestration.lib.contract import PSEUDONYMISED, RECEIVED, REJECTED, VALIDATED
from orchestration.lib.home import DataHome
from orchestration.lib.mapping_contract import ENROLMENT, MAPPING
from orchestration.lib.thresholds import PSEUDONYMISE_BATCH_ROWS
from orchestration.lib.warehouse import connect
from orchestration.privacy.mapping import instruments_in_warehouse, pseudonymise_mapping_deliveries, schema_of
from orchestration.privacy.pseudonymise import DeliveryContext, Pseudonymiser, pseudonymise_deliveries
from orchestration.privacy.extract.reader import Extract
from orchestration.privacy.extract.schema import ENROLMENT_SCHEMA, ColumnSchema
from orchestration.privacy.reading import IsolatedReader, ReadAhead, ReadFailure
from orchestration.projects.instrument import Instrument


@dataclass
class PseudonymiseReport:
    deliveries: int = 0
    rows: int = 0
    persons: int = 0
    notes: int = 0                                                    # notes stored (scrubbed)
    note_replacements: dict[str, int] = field(default_factory=dict)   # label -> count, e.g. [namn]: 12
    unreadable: list[tuple[str, str]] = field(default_factory=list)   # (delivery_id, reason code)
    taken_alone: int = 0                                              # deliveries of earlier failed starts
    mapping_deliveries: int = 0                                       # of `deliveries`: mapping files
    mapping_rows: int = 0                                             # of `rows`: mapping rows
    mapping_answers: int = 0                                          # their answer lines


# From this start on, deliveries still waiting are taken one at a time (two starts before died).
ALONE_FROM_ATTEMPT = 3

ABANDONED = ReadFailure(
    "LASNING_AVBROTS",
    "Behandlingen av filen avbröts två gånger utan att bli klar, och filen läses därför inte igen. "
    "Filen kan vara skadad eller felaktigt uppbyggd. Öppna den i Excel, spara den som .xlsx eller CSV "
    "och skicka den igen.")

# The landing tables a delivery's pseudonymised rows are written to, by kind.
PSEUDONYMISED_TABLES = ("pseudonymised_rows", "mapping_pseudonymised_rows", "mapping_pseudonymised_answers")


@dataclass(frozen=True)
class Pending:
    context: DeliveryContext
    archive_path: str
    attempts: int
    abandoned: bool     # a previous start died while it was being processed alone


def pseudonymise_pending(home: DataHome, key: bytes, batch_rows: int = PSEUDONYMISE_BATCH_ROWS,
                         limits: ReadLimits | None = None) -> PseudonymiseReport:
    """Read and pseudonymise every RECEIVED delivery, in batches of about `batch_rows` rows.

    Each batch is written in one transaction together with its deliveries' new status, so a run
    stopped midway leaves every delivery either RECEIVED (taken again by the next run) or
    PSEUDONYMISED with all its rows; memory stays bounded by the batch, not the backlog."""
    pending, instruments = _start(home)
    report = PseudonymiseReport()
    pseudonymiser = Pseudonymiser(key)
    persons: set[str] = set()
    failures: list[tuple[str, ReadFailure]] = [(p.context.delivery_id, ABANDONED) for p in pending if p.abandoned]
    failures += [(p.context.delivery_id, _no_instrument(p.context.project_id)) for p in pending
                 if not p.abandoned and p.context.extract_kind == MAPPING and p.context.project_id not in instruments]
    pending = [p for p in pending if p.context.extract_kind != MAPPING or p.context.project_id in instruments]
    alone = [p for p in pending if not p.abandoned and p.attempts >= ALONE_FROM_ATTEMPT]
    together = [p for p in pending if not p.abandoned and p.attempts < ALONE_FROM_ATTEMPT]
    with connect(home.warehouse) as db, IsolatedReader(limits) as reader:
        ids = [p.context.delivery_id for p in pending]
        if ids:   # rows left by a run that stopped before marking its deliveries
            for table in PSEUDONYMISED_TABLES:
                db.execute(f"delete from landing.{table} where delivery_id in (select unnest(?))", [ids])
        _record_failures(db, failures)
        for item in alone:
            _mark_alone(db, item.context.delivery_id)
            batch = _answered(item, reader.read(*_request(home, item, instruments)), failures)
            failures += _write_batch(db, batch, pseudonymiser, instruments, report, persons)
            _record_failures(db, failures)
            report.taken_alone += 1
        batch: list[tuple[pd.DataFrame, DeliveryContext, str]] = []
        batch_size = 0
        # The next files are read while this batch is pseudonymised and written (reading.ReadAhead).
        with ReadAhead(reader, [_request(home, item, instruments) for item in together], batch_rows) as answers:
            for item, answer in zip(together, answers):
                read = _answered(item, answer, failures)
                size = sum(len(frame) for frame, _, _ in read)
                if batch and batch_size + size > batch_rows:
                    failures += _write_batch(db, batch, pseudonymiser, instruments, report, persons)
                    batch, batch_size = [], 0
                batch += read
                batch_size += size
        failures += _write_batch(db, batch, pseudonymiser, instruments, report, persons)
        _record_failures(db, failures)
    report.persons = len(persons)
    report.note_replacements = dict(sorted(pseudonymiser.note_replacements.items()))
    report.unreadable = [(delivery_id, failure.code) for delivery_id, failure in failures]
    return report


def _start(home: DataHome) -> tuple[list[Pending], dict[str, Instrument]]:
    """Count this start for every waiting delivery (one statement) and return them in order, with
    the projects' mapping instruments as the configuration wrote them into the warehouse."""
    with connect(home.warehouse) as db:
        db.execute("update landing.deliveries set process_attempts = coalesce(process_attempts, 0) + 1 "
                   "where status = ?", [RECEIVED])
        rows = db.execute(
            "select delivery_id, project_id, kommunkod, reporting_month, "
            f"coalesce(extract_kind, '{ENROLMENT}'), archive_path, process_attempts, "
            "processing_alone_since is not null from landing.deliveries "
            "where status = ? order by received_at, delivery_id", [RECEIVED]
        ).fetchall()
        instruments = instruments_in_warehouse(db) if any(row[4] == MAPPING for row in rows) else {}
    return [Pending(DeliveryContext(d, p, k, m, kind), path, attempts, abandoned)
            for d, p, k, m, kind, path, attempts, abandoned in rows], instruments


def _request(home: DataHome, item: Pending, instruments: dict[str, Instrument]) -> tuple[Path, ColumnSchema]:
    """The file and the columns to read from it: a mapping file's are its project's questions."""
    if item.context.extract_kind == MAPPING:
        return home.root / item.archive_path, schema_of(instruments[item.context.project_id])
    return home.root / item.archive_path, ENROLMENT_SCHEMA


def _answered(item: Pending, answer: Extract | ReadFailure,
              failures: list[tuple[str, ReadFailure]]) -> list[tuple[pd.DataFrame, DeliveryContext, str]]:
    if isinstance(answer, ReadFailure):
        failures.append((item.context.delivery_id, answer))
        return []
    return [(answer.rows, item.context, ", ".join(answer.unknown_columns))]


def _mark_alone(db, delivery_id: str) -> None:
    """Committed before the delivery is read: if the stage dies now, the next start knows which one."""
    db.execute("update landing.deliveries set processing_alone_since = ? where delivery_id = ?",
               [dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), delivery_id])


def _record_failures(db, failures: list[tuple[str, ReadFailure]]) -> None:
    """Final verdicts: these deliveries are never read again. Idempotent (only RECEIVED ones change)."""
    if not failures:
        return
    db.executemany(
        f"update landing.deliveries set status = '{VALIDATED}', verdict = '{REJECTED}', verdict_reason = ?, "
        "verdict_message = ?, rows_total = 0, rows_accepted = 0, rows_rejected = 0, rows_warned = 0 "
        f"where delivery_id = ? and status = '{RECEIVED}'",
        [(failure.code, failure.message, delivery_id) for delivery_id, failure in failures],
    )


def _write_batch(db, batch: list[tuple[pd.DataFrame, DeliveryContext, str]], pseudonymiser: Pseudonymiser,
                 instruments: dict[str, Instrument], report: PseudonymiseReport,
                 persons: set[str]) -> list[tuple[str, ReadFailure]]:
    """Pseudonymise and write a batch; when that fails, each delivery on its own, so one whose
    rows break pseudonymisation gets a verdict and the others are written. Returns the failures."""
    if not batch:
        return []
    enrolments = [(frame, context) for frame, context, _ in batch if context.extract_kind != MAPPING]
    mappings = [(frame, context) for frame, context, _ in batch if context.extract_kind == MAPPING]
    try:
        rows = pseudonymise_deliveries(enrolments, pseudonymiser) if enrolments else None
        mapped = pseudonymise_mapping_deliveries(mappings, instruments, pseudonymiser) if mappings else None
    except Exception as error:  # noqa: BLE001 - a pure function of the rows: what fails is the data
        if len(batch) == 1:
            return [(batch[0][1].delivery_id, _cannot_process(error))]
        failures = []
        for one in batch:
            failures += _write_batch(db, [one], pseudonymiser, instruments, report, persons)
        return failures
    written = [("pseudonymised_rows", rows)]
    if mapped is not None:
        written += [("mapping_pseudonymised_rows", mapped.rows), ("mapping_pseudonymised_answers", mapped.answers)]
    db.execute("begin transaction")
    for table, frame in written:
        if frame is not None and len(frame):
            db.register("pseudonymised_frame", frame)
            db.execute(f"insert into landing.{table} by name select * from pseudonymised_frame")
            db.unregister("pseudonymised_frame")
    db.execute(f"update landing.deliveries set status = '{PSEUDONYMISED}', unknown_columns = read.unknown_columns, "
               "processing_alone_since = null "
               "from (select unnest(?) as delivery_id, unnest(?) as unknown_columns) as read "
               "where deliveries.delivery_id = read.delivery_id",
               [[context.delivery_id for _, context, _ in batch], [unknown for _, _, unknown in batch]])
    db.execute("commit")
    report.deliveries += len(batch)
    if rows is not None:
        report.rows += len(rows)
        report.notes += int(rows["anteckning"].notna().sum())
        persons.update(rows["person_id"].dropna().unique())
    if mapped is not None:
        report.mapping_deliveries += len(mappings)
        report.rows += len(mapped.rows)
        report.mapping_rows += len(mapped.rows)
        report.mapping_answers += len(mapped.answers)
        persons.update(mapped.rows["person_id"].dropna().unique())
    return []


def _no_instrument(project_id: str) -> ReadFailure:
    """A mapping delivery whose project has no instrument (any more) in the configuration."""
    return ReadFailure(
        "KARTLAGGNING_SAKNAS",
        f"Filen är en kartläggning, men projektet {project_id} har ingen kartläggning (kartlaggning:) i "
        "projektkonfigurationen och filen kan därför inte läsas. Lägg filen i kommunmappen om den är en "
        "deltagarlista, eller be projektets samordnare lägga till kartläggningens frågor, och skicka filen igen.")


def _cannot_process(error: BaseException) -> ReadFailure:
    return ReadFailure(
        "FIL_KUNDE_INTE_BEHANDLAS",
        f"Filen lästes men raderna kunde inte behandlas ({type(error).__name__}). Kontrollera att varje "
        "kolumn innehåller det kontraktet anger, spara filen som .xlsx eller CSV och skicka den igen.")
