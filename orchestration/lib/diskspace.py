"""Room on the data home's file system: checked before a run, and a full disk recognised when
it still happens during one.

The rule, rough and on the generous side (a run refused for want of space costs a minute; a
run that fills the disk halfway costs a rerun and an operator's evening):

    needed = 3 × the inbox files not yet received    the archive copy, their rows in the
                                                      warehouse with DuckDB's write-ahead log,
                                                      the delivery reports
           + ½ × the warehouse                       dbt writes the rebuilt tables before the
                                                      old blocks are freed; DuckDB spills beside
                                                      the warehouse past its memory ceiling
           + 64 MB                                    what every run writes whatever it receives:
                                                      dbt's artifacts (~12 MB, three runs kept),
                                                      Dagster's event log, the run log, the read copy

Measured: a first run of the demo (368 files, 3.0 MB) grew the data home by ~44 MB; a run with
nothing new by ~18 MB (dbt's artifacts 12, the warehouse 4, Dagster 2.5). "Not yet received"
is judged without reading the files (ingest/inbox.unreceived_bytes): a file whose path and size
match a recorded delivery is taken as received, anything else counts, but a file over the size
limit, which is never copied.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

FIXED_NEED = 64 * 1000 * 1000
PER_NEW_BYTE = 3
WAREHOUSE_SHARE = 0.5

DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Unmistakable whatever the free space says now (a failed run may have freed its temporary files).
_FULL = re.compile(r"No space left on device|database or disk is full|Disk quota exceeded|"
                   r"not enough space on the disk|out of disk space", re.IGNORECASE)
# Also said for other write failures: taken as a full disk only when the disk is nearly full.
_MAYBE_FULL = re.compile(r"could not write|disk I/O error|could not truncate|could not extend", re.IGNORECASE)


@dataclass(frozen=True)
class SpaceNeed:
    path: Path                 # the data home
    filesystem: Path           # its mount point
    free: int
    needed: int
    new_inbox_bytes: int
    warehouse_bytes: int

    @property
    def enough(self) -> bool:
        return self.free >= self.needed


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(_existing(path)).free


def filesystem_of(path: Path) -> Path:
    """The mount point of the file system `path` is on."""
    current = _existing(path).resolve()
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def _existing(path: Path) -> Path:
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def needed_bytes(new_inbox_bytes: int, warehouse_bytes: int) -> int:
    return FIXED_NEED + PER_NEW_BYTE * new_inbox_bytes + int(WAREHOUSE_SHARE * warehouse_bytes)


def space_needed(root: Path, new_inbox_bytes: int, warehouse: Path) -> SpaceNeed:
    """Free space against the rule, for `new_inbox_bytes` of files the run would copy
    (ingest/inbox.unreceived_bytes)."""
    warehouse_bytes = warehouse.stat().st_size if warehouse.exists() else 0
    return SpaceNeed(Path(root), filesystem_of(root), free_bytes(root), needed_bytes(new_inbox_bytes, warehouse_bytes),
                     new_inbox_bytes, warehouse_bytes)


def is_disk_full(error: BaseException | str | None, path: Path | None = None) -> bool:
    """Whether a failure is a full disk: ENOSPC or EDQUOT anywhere in the exception's chain, or
    the words DuckDB, SQLite and the OS use for it. "could not write" and SQLite's "disk I/O
    error" also stand for other faults, so they count only when `path`'s file system has less
    than FIXED_NEED free."""
    texts = []
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, str):
            texts.append(error)
            break
        if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
            return True
        texts.append(str(error))
        error = error.__cause__ or error.__context__
    text = "\n".join(texts)
    if _FULL.search(text):
        return True
    if _MAYBE_FULL.search(text) and path is not None:
        try:
            return free_bytes(path) < FIXED_NEED
        except OSError:
            return False
    return False


def path_in_error(error: BaseException | None) -> Path | None:
    """The file an OSError in the chain names, if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.filename:
            return Path(os.fsdecode(error.filename))
        error = error.__cause__ or error.__context__
    return None


def format_bytes(count: int) -> str:
    """`820 kB`, `64 MB`, `1,5 GB`: decimal units, Swedish decimal comma."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= size:
            value = count / size
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return f"{text.replace('.', ',')} {unit}"
    return f"{count} byte"
