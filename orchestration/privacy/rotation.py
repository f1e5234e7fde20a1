"""Key rotation: a new pseudonymisation key, and every delivery pseudonymised again from the archive.

A new key gives every person a new pseudonym, so the warehouse cannot keep any row made with the
old one. Rotation therefore puts every delivery that holds pseudonymised rows back to waiting
(RECEIVED), drops those rows, and lets the next run read the archived files again with the new
key; verdicts, arrival order and every figure come out as before, only the pseudonyms differ.
It refuses when an archived file is gone (`purge-raw`) or changed: those rows could not be made
again, and a warehouse half in old and half in new pseudonyms would count people twice.

Crash safety, in this order: the new key is written beside the old one (`pseudonym.key.new`),
the warehouse is reset in one transaction, the fingerprint is switched to the new key, and the
new key replaces the old one. Stopped anywhere, `rotate-key` again finishes what was begun.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.ingest.inbox import sha256_of
from orchestration.lib.contract import PSEUDONYMISED, RECEIVED, VALIDATED
from orchestration.lib.home import DataHome
from orchestration.lib.warehouse import connect, ensure_schema
from orchestration.privacy.keys import (
    ENV_VAR,
    MINIMUM_BYTES,
    NEW_ENV_VAR,
    PseudonymKeyError,
    key_matches,
    key_path,
    record_fingerprint,
    write_fingerprint,
)

NEW_KEY_ENV_VAR = NEW_ENV_VAR
# Every landing table with rows of a delivery (pseudonyms, or verdicts made from them): enrolment
# and mapping extracts alike.
ROW_TABLES = ("pseudonymised_rows", "enrolment_rows", "quarantine_rows", "row_warnings",
              "mapping_pseudonymised_rows", "mapping_pseudonymised_answers", "mapping_rows", "mapping_answers")
ROTATIONS_DDL = """
create schema if not exists ops;
create table if not exists ops.key_rotations (
    rotated_at timestamp not null,      -- UTC
    deliveries_reset integer not null   -- deliveries put back to be pseudonymised with the new key
);
"""


class RotationError(PseudonymKeyError):
    """The key cannot be rotated; the message says why and what to do. Nothing was changed."""


@dataclass
class RotationReport:
    deliveries_reset: int = 0
    new_key_file: Path | None = None         # None when the key lives in the environment
    resumed: bool = False                    # an interrupted rotation was finished
    missing: list[str] = field(default_factory=list)


def new_key_path(home: Path) -> Path:
    return key_path(home).with_name("pseudonym.key.new")


def rotate_key(home: DataHome, old_key: bytes) -> RotationReport:
    """Switch the home to a new key and put every pseudonymised delivery back to be read again.

    With the key in a file, the new key is made here and replaces the file. With the key in
    FOLLOWUP_PSEUDONYM_KEY, the new one is read from FOLLOWUP_NEW_PSEUDONYM_KEY; the operator
    then moves it into FOLLOWUP_PSEUDONYM_KEY. The caller runs the pipeline afterwards."""
    from_environment = bool(os.environ.get(ENV_VAR))
    new_key = _new_key(home.root, from_environment)
    if key_matches(home.root, new_key):              # stopped after the fingerprint was switched
        report = RotationReport(resumed=True)
        report.new_key_file = _install(home.root, from_environment)
        return report
    if key_matches(home.root, old_key) is False:
        raise RotationError(
            f"Nyckeln som används nu är inte den som datahemmet {home.root} byggdes med, så den kan inte "
            "bytas härifrån. Kontrollera först att rätt nyckel används (se `followup run`).")
    record_fingerprint(home.root, old_key)           # a home no run has used yet
    ensure_schema(home.warehouse)
    reset = _deliveries_to_reset(home)
    missing = _not_in_archive(home, reset)
    if missing:
        _discard_new_key(home.root, from_environment)
        raise RotationError(
            f"Nyckeln kan inte bytas: {len(missing)} leveranser finns inte längre oförändrade i arkivet "
            f"(t.ex. {missing[0]}), oftast för att de rensats med `followup purge-raw`. Deras rader kan inte "
            "pseudonymiseras med en ny nyckel, och ett lager med både gamla och nya pseudonymer skulle räkna "
            "samma person två gånger. Inget har ändrats. Se PRIVACY.md, avsnittet om nyckelbyte.")
    _reset(home, [delivery_id for delivery_id, _, _ in reset])
    write_fingerprint(home.root, new_key)
    report = RotationReport(deliveries_reset=len(reset))
    report.new_key_file = _install(home.root, from_environment)
    return report


def _new_key(home: Path, from_environment: bool) -> bytes:
    if from_environment:
        value = os.environ.get(NEW_KEY_ENV_VAR, "")
        if len(value.encode("utf-8")) < MINIMUM_BYTES:
            raise RotationError(
                f"Nyckeln kommer från {ENV_VAR}. Lägg den nya nyckeln (minst {MINIMUM_BYTES} slumpmässiga tecken) "
                f"i {NEW_KEY_ENV_VAR} och kör `followup rotate-key` igen; flytta den sedan till {ENV_VAR}.")
        return value.encode("utf-8")
    path = new_key_path(home)
    if not path.exists():                            # kept from an interrupted rotation otherwise
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def _install(home: Path, from_environment: bool) -> Path | None:
    """The new key file takes the old one's place (the old key is gone)."""
    if from_environment:
        return None
    os.replace(new_key_path(home), key_path(home))
    return key_path(home)


def _discard_new_key(home: Path, from_environment: bool) -> None:
    if not from_environment:
        new_key_path(home).unlink(missing_ok=True)


def _deliveries_to_reset(home: DataHome) -> list[tuple[str, str, str]]:
    """(delivery_id, archive_path, sha256) of every delivery whose rows carry pseudonyms: read and
    not rejected whole before its rows were kept."""
    with connect(home.warehouse, read_only=True) as db:
        return db.execute(
            "select delivery_id, archive_path, sha256 from landing.deliveries "
            f"where status = '{PSEUDONYMISED}' or (status = '{VALIDATED}' and coalesce(rows_total, 0) > 0) "
            "or delivery_id in (select delivery_id from landing.pseudonymised_rows) "
            "or delivery_id in (select delivery_id from landing.mapping_pseudonymised_rows) "
            "order by arrival_seq").fetchall()


def _not_in_archive(home: DataHome, deliveries: list[tuple[str, str, str]]) -> list[str]:
    missing = []
    for _, archive_path, sha256 in deliveries:
        path = home.root / archive_path
        try:
            same = sha256_of(path) == sha256
        except OSError:
            same = False
        if not same:
            missing.append(archive_path)
    return missing


def _reset(home: DataHome, delivery_ids: list[str]) -> None:
    with connect(home.warehouse) as db:
        db.execute(ROTATIONS_DDL)
        db.execute("begin transaction")
        for table in ROW_TABLES:
            db.execute(f"delete from landing.{table} where delivery_id in (select unnest(?))", [delivery_ids])
        db.execute(
            f"update landing.deliveries set status = '{RECEIVED}', verdict = null, verdict_reason = null, "
            "verdict_message = null, rows_total = null, rows_accepted = null, rows_rejected = null, "
            "rows_warned = null, unknown_columns = null, process_attempts = null, processing_alone_since = null "
            "where delivery_id in (select unnest(?))", [delivery_ids])
        db.execute("insert into ops.key_rotations values (?, ?)",
                   [dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), len(delivery_ids)])
        db.execute("commit")
