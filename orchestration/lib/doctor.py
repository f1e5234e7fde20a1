"""`followup doctor`: is this data home fit to run and to be read? One finding per check, in
Swedish, each saying what to do when it fails; the command exits 0 only when every check holds.

Nothing is written and no run is started: the checks read the key, the configuration, the
warehouse (read-only; a run holding it is not a fault), the serving file, the free space and
Dagster's storage, and report the daemon's heartbeat for information.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import duckdb

from orchestration.lib.home import DataHome

HEARTBEAT_FRESH_SECONDS = 300


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool | None          # None: for information, never a fault
    text: str

    def line(self) -> str:
        mark = {True: "OK  ", False: "FEL ", None: "INFO"}[self.ok]
        return f"{mark} {self.check}: {self.text}"


def examine(home: DataHome, config_path: str | None = None) -> list[Finding]:
    return [check(home, config_path) for check in (_key, _config, _warehouse, _serving, _space, _dagster, _daemon)]


def _key(home: DataHome, _: str | None) -> Finding:
    from orchestration.privacy.keys import PseudonymKeyError, key_file_warning, key_matches, load_key

    try:
        key = load_key(home.root)
    except PseudonymKeyError as error:
        return Finding("nyckel", False, str(error))
    if key_matches(home.root, key) is False:
        return Finding("nyckel", False, "nyckeln är inte den som byggde datahemmet; varje person skulle räknas två "
                                        "gånger. Använd rätt nyckel (se PRIVACY.md om `followup rotate-key`).")
    warning = key_file_warning(home.root)
    if warning:
        return Finding("nyckel", False, warning)
    return Finding("nyckel", True, "finns, är datahemmets och kan bara läsas av sin ägare")


def _config(_: DataHome, config_path: str | None) -> Finding:
    import os

    from orchestration.projects.config import ConfigError, load_projects

    try:
        config = load_projects(config_path or os.environ.get("FOLLOWUP_CONFIG") or None)
    except ConfigError as error:
        return Finding("konfiguration", False, str(error))
    return Finding("konfiguration", True, f"{len(config.projects)} projekt i {config.source}")


def _warehouse(home: DataHome, _: str | None) -> Finding:
    from orchestration.lib.runlock import warehouse_lock_holder

    if not home.warehouse.exists():
        return Finding("lager", False, f"{home.warehouse} finns inte ännu: kör `followup run --home {home.root}`")
    try:
        with duckdb.connect(str(home.warehouse), read_only=True) as db:
            deliveries = db.execute("select count(*) from landing.deliveries").fetchone()[0]
    except duckdb.Error as error:
        holder = warehouse_lock_holder(error)
        if holder is not None:
            return Finding("lager", True, f"används just nu av en körning ({holder.describe()})")
        return Finding("lager", False, f"{home.warehouse} kan inte läsas: {error}")
    return Finding("lager", True, f"{home.warehouse} öppnas, {deliveries} leveranser")


def _serving(home: DataHome, _: str | None) -> Finding:
    from orchestration.lib.warehouse import last_marts_build
    from orchestration.lib.warehouse_copy import copy_path

    path = copy_path(home.root)
    if not path.exists():
        return Finding("läsfil", False, f"{path} finns inte: den skrivs i slutet av varje lyckad körning")
    try:
        with duckdb.connect(str(path), read_only=True) as db:
            run_id, written = db.execute("select run_id, written_at from ops.read_copy").fetchone()
    except duckdb.Error as error:
        return Finding("läsfil", False, f"{path} kan inte läsas: {error}. Nästa lyckade körning skriver en ny.")
    try:
        built = last_marts_build(home.warehouse)
    except duckdb.Error:
        built = None                     # the warehouse is held by a run: nothing to compare with now
    if built is not None and built[0] != run_id:
        return Finding("läsfil", False, f"{path} är från körning {run_id}, men nyckeltalen byggdes senast av "
                                        f"{built[0]}: den körningen blev inte klar. Kör `followup run` igen.")
    return Finding("läsfil", True, f"{path}, skriven {written:%Y-%m-%d %H:%M} av den senaste körningen")


def _space(home: DataHome, _: str | None) -> Finding:
    from orchestration.lib.diskspace import format_bytes
    from orchestration.runner import space_for_run

    need = space_for_run(home)
    text = f"{format_bytes(need.free)} ledigt på {need.filesystem}, en körning behöver {format_bytes(need.needed)}"
    return Finding("diskutrymme", need.enough, text if need.enough else text + ": frigör utrymme före nästa körning")


def _storage(home: DataHome):
    """The storage the next run uses, and what is wrong with reaching it (None when nothing is).
    followup writes its own dagster.yaml again for each run, as the environment says."""
    from orchestration.lib.dagster_instance import (
        URL_VARIABLE,
        Storage,
        check_postgres,
        configured_url,
        is_own,
        storage_of,
    )

    storage = storage_of(home.dagster)
    if is_own(home.dagster / "dagster.yaml"):
        url = configured_url()
        storage = Storage("postgres", url, URL_VARIABLE) if url else Storage("sqlite")
    if storage.kind != "postgres":
        return storage, None
    if storage.url is None:
        return storage, (f"{home.dagster}/dagster.yaml lägger körningarna i PostgreSQL, men "
                         f"{storage.variable or 'adressen'} är inte satt i den här miljön")
    return storage, check_postgres(storage.url)


def _dagster(home: DataHome, _: str | None) -> Finding:
    """Which storage Dagster keeps the runs in (the one the next run uses) and whether it is read."""
    import dagster as dg

    from orchestration.lib.dagster_instance import URL_VARIABLE, forgotten_url, storage_of, without_password

    if not (home.dagster / "dagster.yaml").exists():
        return Finding("Dagster", False, f"{home.dagster}/dagster.yaml finns inte: kör `followup run` en gång")
    storage, problem = _storage(home)
    if problem:
        return Finding("Dagster", False, problem)
    written = storage_of(home.dagster)
    where = storage.describe() if storage.kind == "postgres" else f"SQLite i {home.dagster}"
    if storage.kind != written.kind:    # the history so far stays where it is
        if storage.kind == "postgres":
            return Finding("Dagster", True, f"{where} nås; nästa körning byter dit från SQLite ({URL_VARIABLE} är "
                                            "satt), den tidigare körhistoriken stannar i SQLite-filerna")
        return Finding("Dagster", False, forgotten_url(home.dagster) or
                       f"{where}; nästa körning byter hit från {written.describe()} ({URL_VARIABLE} är inte satt)")
    try:
        with dg.DagsterInstance.from_config(str(home.dagster)) as instance:
            runs = instance.get_runs(limit=1)
    except Exception as error:          # any storage fault is this check's finding, not a crash
        reason = without_password(f"{type(error).__name__}: {error}", storage.url)
        return Finding("Dagster", False, f"lagringen ({where}) kan inte läsas: {reason}")
    if not runs:
        return Finding("Dagster", True, f"{where} läses; inga körningar ännu")
    last = runs[0]
    return Finding("Dagster", True, f"{where} läses; senaste körningen {last.run_id[:8]} ({last.status.value})")


def _daemon(home: DataHome, _: str | None) -> Finding:
    import dagster as dg

    beats = {}
    if (home.dagster / "dagster.yaml").exists():
        if _storage(home)[1] is not None:
            return Finding("Dagster-demonen", None, "okänt: Dagsters lagring nås inte (se raden Dagster)")
        try:
            with dg.DagsterInstance.from_config(str(home.dagster)) as instance:
                beats = instance.get_daemon_heartbeats()
        except Exception:               # _dagster says what is wrong with the storage
            beats = {}
    newest = max((beat.timestamp for beat in beats.values()), default=None)
    if newest is not None and time.time() - newest < HEARTBEAT_FRESH_SECONDS:
        when = dt.datetime.fromtimestamp(newest).strftime("%H:%M:%S")
        return Finding("Dagster-demonen", None, f"igång (senaste livstecken {when}): schemat och sensorn körs")
    return Finding("Dagster-demonen", None, "inte igång: schemat och inkorgssensorn körs bara när demonen går "
                                            "(`followup serve` startar den med användargränssnittet)")


def report(findings: list[Finding]) -> tuple[str, bool]:
    healthy = all(f.ok is not False for f in findings)
    failing = sum(1 for f in findings if f.ok is False)
    summary = "Allt håller." if healthy else f"{failing} {'kontroll' if failing == 1 else 'kontroller'} håller inte."
    return "\n".join([*(f.line() for f in findings), summary]), healthy
