"""The data home's layout version: which release's layout a home is in, and the steps that bring an
older home up to this release's. The one owner of that question: every command, run and backup
asks here before it writes in a home or reads it.

A home records its version in `<home>/followup-home.json` (the version, the release that wrote
it, its upgrades), written beside and renamed into place, so it is never half written and can be
read while a run holds the warehouse. A home without the record that has a warehouse was written
before the record existed: version 1. One without a warehouse is new and gets this version.

The version is for what `ensure_schema` (lib/warehouse.py) cannot say with `if not exists`: a
file or folder moved, renamed or removed, a column renamed or retyped, a cache in a new form.
Tables and columns added to the landing schema stay ensure_schema's (idempotent, every run) and
need no version. Each migration takes a home from N to N+1, may run twice (the record is written
after each step, so a home stopped midway runs its unfinished step again) and never touches
`archive/`, the raw files every figure can be rebuilt from.

A home written by a newer release is refused by every command before anything is written: this
release does not know what the newer one changed, and writing in it could leave a home neither
release can read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from orchestration.lib.home import WAREHOUSE_FILE, DataHome

LAYOUT_VERSION = 2
RECORD_NAME = "followup-home.json"
LEGACY_COPY_NAME = "read-copy.duckdb"      # the read copy's place before serving/followup.duckdb


class HomeLayoutError(RuntimeError):
    """A home this release must not write in or read; the message says why and what to do."""


class HomeTooNew(HomeLayoutError):
    """A home, or a backup of one, from a newer release than this one."""

    def __init__(self, subject: str, version: int, release: str | None, advice: str | None = None):
        self.version = version
        super().__init__(
            f"{subject} kommer från en nyare version av followup ({release or 'okänd version'}, datahemsversion "
            f"{version}); den här versionen ({this_release()}) kan läsa och uppgradera datahemsversion "
            f"{LAYOUT_VERSION} och äldre. Inget har ändrats. "
            + (advice or "Installera den nyare versionen igen, eller återställ en säkerhetskopia som den här "
                         "versionen har gjort (`followup restore`) i ett nytt datahem."))


@dataclass(frozen=True)
class Migration:
    to: int
    what: str                            # Swedish, one line: what changes in the home
    apply: Callable[[Path], None]        # the home's root; idempotent, never touches archive/


def _remove_legacy_read_copy(root: Path) -> None:
    """Before serving/followup.duckdb the read copy was read-copy.duckdb at the home's root;
    nothing reads it any more, and a stale copy there would show old figures to whoever opens it."""
    for name in (LEGACY_COPY_NAME, LEGACY_COPY_NAME + ".wal", LEGACY_COPY_NAME + ".part",
                 LEGACY_COPY_NAME + ".part.wal"):
        try:
            (root / name).unlink()
        except FileNotFoundError:
            pass


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "den gamla läskopian read-copy.duckdb tas bort (läsfilen är serving/followup.duckdb), och "
                 "datahemmet får sin versionsfil followup-home.json", _remove_legacy_read_copy),
)
assert [m.to for m in MIGRATIONS] == list(range(2, LAYOUT_VERSION + 1)), "one migration per version, in order"


def this_release() -> str:
    try:
        return metadata.version("followup")
    except metadata.PackageNotFoundError:
        return "okänd version"


def record_path(home: DataHome | Path) -> Path:
    return _root(home) / RECORD_NAME


def read_record(home: DataHome | Path) -> dict | None:
    """The home's record; None when it has none. A damaged record is refused: guessing the
    version could run migrations on a home that does not need them, or refuse one that does."""
    path = record_path(home)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise HomeLayoutError(_unreadable(path, error)) from None
    if not isinstance(record, dict) or not isinstance(record.get("layout"), int) or record["layout"] < 1:
        raise HomeLayoutError(_unreadable(path, "ingen datahemsversion i den"))
    return record


def _unreadable(path: Path, error: object) -> str:
    return (f"datahemmets versionsfil {path} kan inte läsas ({error}). Återställ den från en säkerhetskopia; eller, "
            "om datahemmet skrevs av den här versionen av followup eller en äldre, ta bort filen: nästa "
            "`followup run` skriver den igen.")


def home_version(home: DataHome | Path, record: dict | None = None) -> int:
    """The layout version the home is in: its record's (read here unless given); without one, 1 for
    a home some run has written (it has a warehouse) and this release's for a new one."""
    root = _root(home)
    record = record if record is not None else read_record(root)
    if record is not None:
        return record["layout"]
    if (root / WAREHOUSE_FILE).exists() or (root / LEGACY_COPY_NAME).exists():
        return 1
    return LAYOUT_VERSION


def refuse_newer(home: DataHome | Path) -> dict | None:
    """HomeTooNew when a newer release wrote the home; reads only the record, writes nothing.
    Returns the record (None for a home without one)."""
    record = read_record(home)
    if record is not None and record["layout"] > LAYOUT_VERSION:
        raise HomeTooNew(f"datahemmet {_root(home)}", record["layout"], record.get("release"))
    return record


def refusal(home: DataHome | Path) -> str | None:
    """refuse_newer's message, or None: for callers that say it instead of raising (a sensor tick)."""
    try:
        refuse_newer(home)
    except HomeLayoutError as error:
        return str(error)
    return None


def upgrade_home(home: DataHome | Path) -> list[Migration]:
    """Bring the home to LAYOUT_VERSION in place, one step at a time, recording each; a new home
    only gets its record. Returns the steps taken (none for a home already current)."""
    root = _root(home)
    record = refuse_newer(root)
    version = home_version(root, record)
    taken = [m for m in MIGRATIONS if m.to > version]
    for migration in taken:
        migration.apply(root)
        record = _write_record(root, migration.to, record, upgraded_from=migration.to - 1)
    if record is None:
        _write_record(root, LAYOUT_VERSION, None)
    return taken


def _write_record(root: Path, version: int, previous: dict | None, upgraded_from: int | None = None) -> dict:
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    upgrades = list((previous or {}).get("upgrades", []))
    if upgraded_from is not None:
        upgrades.append({"from": upgraded_from, "to": version, "release": this_release(), "at": now})
    record = {"layout": version, "release": this_release(), "written_at": now, "upgrades": upgrades}
    root.mkdir(parents=True, exist_ok=True)
    part = root / (RECORD_NAME + ".part")
    with part.open("w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(part, root / RECORD_NAME)
    return record


def _root(home: DataHome | Path) -> Path:
    return home.root if isinstance(home, DataHome) else Path(home)
