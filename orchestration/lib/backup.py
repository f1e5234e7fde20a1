"""`followup backup` and `followup restore`: a data home copied whole, except its key, with a
manifest of sha256 sums that restore checks before it writes anything.

Consistent while the home is in use: the command holds the home's run lock (no `followup` writer
runs), keeps a read-only connection to the warehouse open while it copies (DuckDB lets no writer
in meanwhile, so a run Dagster's daemon starts waits for its slot or fails its step and retries),
and copies Dagster's SQLite files with SQLite's own backup, which is consistent even while a
sensor writes to them. The key is never in a backup: keep it apart (PRIVACY.md); the restored
home checks the key put back against the fingerprint the backup carries.

Dagster's storage on PostgreSQL (FOLLOWUP_DAGSTER_POSTGRES_URL) is no file to copy: the backup
says so, in its output and its manifest, with the `pg_dump` command that saves it beside the
backup; a restore says how to load that dump, or that the new home starts with an empty run
history (no figure depends on it: they are in the warehouse).

The manifest carries the home's layout version (lib/layout.py): a backup of a home a newer release
wrote is refused, like the home itself, and so is restoring a backup a newer release made. A
backup of an older home restores as it is; its next run upgrades it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib.dagster_instance import (
    DUMP_FILE,
    URL_VARIABLE,
    Storage,
    describe_url,
    pg_dump_command,
    storage_of,
)
from orchestration.lib.home import DataHome
from orchestration.lib.layout import LAYOUT_VERSION, HomeTooNew, home_version, refuse_newer, this_release

MANIFEST = "manifest.json"
FORMAT = 1
# Paths relative to the home: the key, the home's run lock, and the lock of the daemon that serves it.
LEFT_OUT = frozenset({"secrets", "followup.lock", "dagster/daemon.lock"})
LEFT_OUT_SUFFIXES = (".part", ".tmp", "-wal", "-shm", "-journal")   # half-written files; SQLite's side files
                                                                  # (its databases are copied by its backup)


class BackupError(RuntimeError):
    """Said to the user as it is: names the file and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    target: Path
    files: int
    bytes: int
    dagster_note: str | None = None     # Dagster's storage is not in the backup: what to do instead


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(root: Path) -> list[Path]:
    found = []
    for folder, folders, names in os.walk(root):
        relative = Path(folder).relative_to(root)
        folders[:] = [f for f in folders if (relative / f).as_posix() not in LEFT_OUT]
        for name in names:
            path = Path(folder) / name
            if (relative / name).as_posix() in LEFT_OUT or name.endswith(LEFT_OUT_SUFFIXES) or not path.is_file():
                continue
            found.append(path)
    return sorted(found)


def backup(home: DataHome, target: Path, say: Callable[[str], None] | None = print) -> BackupSummary:
    """Copy `home` (all but the key) into the new folder `target`, the manifest written last. When
    Dagster's storage is on PostgreSQL, `say` is told how to dump it (and the summary carries it)."""
    target = Path(target)
    layout = home_version(home, refuse_newer(home))
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} finns redan och är inte tom: välj en ny mapp för säkerhetskopian.")
    target.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict] = {}
    storage = storage_of(home.dagster)
    warehouse = duckdb.connect(str(home.warehouse), read_only=True) if home.warehouse.exists() else None
    try:
        for path in _files(home.root):
            relative = path.relative_to(home.root)
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".db" and path.is_relative_to(home.dagster):
                _copy_sqlite(path, destination)
            else:
                shutil.copy2(path, destination)
            entries[relative.as_posix()] = {"sha256": _sha256(destination), "bytes": destination.stat().st_size}
    finally:
        if warehouse is not None:
            warehouse.close()
    manifest = {"format": FORMAT, "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "source": str(home.root), "layout": layout, "release": this_release(),
                "dagster_storage": _dagster_storage_entry(storage, target), "files": entries}
    part = target / (MANIFEST + ".part")
    part.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(part, target / MANIFEST)
    note = _dump_note(storage, target) if storage.kind == "postgres" else None
    if note and say:
        say(note)
    return BackupSummary(target, len(entries), sum(e["bytes"] for e in entries.values()), note)


def _dagster_storage_entry(storage: Storage, target: Path) -> dict:
    """What the manifest says of Dagster's storage: in the backup (SQLite), or where it is and how to
    dump it (PostgreSQL; no password)."""
    if storage.kind != "postgres":
        return {"kind": "sqlite", "in_backup": True}
    return {"kind": "postgres", "in_backup": False, "where": describe_url(storage.url) if storage.url else None,
            "dump_with": pg_dump_command(storage.url, target), "dump_file": DUMP_FILE}


def _dump_note(storage: Storage, target: Path) -> str:
    where = describe_url(storage.url) if storage.url else f"adressen i {storage.variable or URL_VARIABLE}"
    return (f"Dagsters körhistorik ligger i PostgreSQL ({where}) och kan inte kopieras som filer: den är inte "
            f"med i säkerhetskopian. Spara den bredvid, med\n    {pg_dump_command(storage.url, target)}\n"
            "(lösenordet läser pg_dump ur ~/.pgpass eller PGPASSWORD). Inga nyckeltal finns där: de ligger i "
            "lagret, som är med.")


def _copy_sqlite(source: Path, destination: Path) -> None:
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as reading, sqlite3.connect(destination) as writing:
        reading.backup(writing)
    reading.close()
    writing.close()


def verify(source: Path) -> dict[str, dict]:
    """The manifest's files, each checked against its sha256; BackupError names every one that is
    missing or differs, HomeTooNew refuses a backup of a newer release's home."""
    manifest_path = Path(source) / MANIFEST
    if not manifest_path.exists():
        raise BackupError(f"{manifest_path} saknas: {source} är ingen hel säkerhetskopia (den skrivs sist).")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as error:
        raise BackupError(f"{manifest_path} kan inte läsas ({error}).") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{manifest_path} har format {manifest.get('format')}; den här versionen läser {FORMAT}.")
    layout = manifest.get("layout", 1)              # backups made before the manifest said it: version 1
    if not isinstance(layout, int):
        raise BackupError(f"{manifest_path} kan inte läsas (datahemsversionen {layout!r} är inget heltal).")
    if layout > LAYOUT_VERSION:
        raise HomeTooNew(f"säkerhetskopian i {source}", layout, manifest.get("release"),
                         "Återställ den med den nyare versionen, eller välj en säkerhetskopia som den här versionen "
                         "har gjort.")
    wrong = []
    for relative, entry in files.items():
        path = Path(source) / relative
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            wrong.append(f"{relative} (ogiltig sökväg)")
        elif not path.is_file():
            wrong.append(f"{relative} (saknas)")
        elif _sha256(path) != entry.get("sha256"):
            wrong.append(f"{relative} (kontrollsumman stämmer inte)")
    if wrong:
        shown = "; ".join(wrong[:10]) + (f"; och {len(wrong) - 10} till" if len(wrong) > 10 else "")
        raise BackupError(f"säkerhetskopian i {source} är inte hel: {shown}. Inget återställdes.")
    return files


def restore(source: Path, home: DataHome, say: Callable[[str], None] | None = print) -> BackupSummary:
    """Check the backup whole, then copy it into the new, empty home. When the backup's Dagster
    storage was on PostgreSQL, `say` is told how to load its dump (and the summary carries it)."""
    if home.root.exists() and any(home.root.iterdir()):
        raise BackupError(f"{home.root} finns redan och är inte tomt: återställ till ett nytt datahem.")
    files = verify(source)
    for relative in files:
        destination = home.root / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(source) / relative, destination)
    note = _restore_note(Path(source))
    if note and say:
        say(note)
    return BackupSummary(home.root, len(files), sum(e["bytes"] for e in files.values()), note)


def _restore_note(source: Path) -> str | None:
    manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    storage = manifest.get("dagster_storage")
    if not isinstance(storage, dict) or storage.get("kind") != "postgres":
        return None
    dump = source.absolute() / str(storage.get("dump_file") or DUMP_FILE)
    where = storage.get("where") or "utanför datahemmet"
    return (f"Dagsters körhistorik låg i PostgreSQL ({where}) och är inte med i säkerhetskopian. Läs in dumpen "
            f"från `pg_dump` i en ny, tom databas med\n    pg_restore --no-owner "
            f"--dbname=postgresql://ANVÄNDARE@VÄRD/DATABAS {shlex.quote(str(dump))}\n(`psql -f` för en dump i "
            f"textform) och sätt {URL_VARIABLE} till den databasen. Annars börjar det återställda datahemmet med "
            "en tom körhistorik; inga nyckeltal ändras av det: de ligger i lagret.")
