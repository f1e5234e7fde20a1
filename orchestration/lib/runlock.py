"""Who holds the data home: one `followup run` (or `demo`, `purge-raw`) at a time, and who
holds the warehouse file when DuckDB refuses to open it.

The run lock. DuckDB locks the warehouse only while a connection is open, and the pipeline's
steps open short-lived connections; dbt holds the file for its whole step (~20 s at demo size,
minutes nationally). Without a lock of their own, two runs started together would take turns
step by step and each fail where the other holds the file. So a command that writes takes an
exclusive `flock` on `<home>/followup.lock` for as long as it runs. The kernel releases it when
the process ends, however it ends (SIGKILL too), so a killed run never leaves a stale lock; the
file's content (pid, host, start time, command) only says who holds it, for the message. The
file is never deleted: deleting a locked file would let a third process lock a new file of the
same name while the second still holds the old one.

Runs that Dagster starts itself (schedule, sensor, Materialize in the UI) do not pass through
here: the inbox sensor skips its tick while the lock is held, and DuckDB's own lock plus the
`warehouse` pool keep their steps apart from ours (`WarehouseBusy` below when they do not).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LOCK_NAME = "followup.lock"
# Someone who only looks (`current_holder`) holds the lock shared for a few microseconds; a run
# that finds it taken tries again for this long before it concludes that another run holds it.
GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class Holder:
    """The process that holds the run lock, as it wrote itself into the lock file."""

    pid: int | None = None
    host: str | None = None
    started: dt.datetime | None = None
    command: str | None = None

    def describe(self) -> str:
        if self.pid is None:
            return "okänd process"
        where = f" på {self.host}" if self.host else ""
        since = f", sedan {self.started:%Y-%m-%d %H:%M}" if self.started else ""
        command = f": followup {self.command}" if self.command else ""
        return f"PID {self.pid}{where}{since}{command}"


class RunLockBusy(Exception):
    """Another command holds the data home."""

    def __init__(self, root: Path, holder: Holder, waited_seconds: float) -> None:
        super().__init__(f"{root}: {holder.describe()}")
        self.root, self.holder, self.waited_seconds = root, holder, waited_seconds


class RunLock:
    """The held lock; released on `release()` or when the process ends."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_path(root: Path) -> Path:
    return Path(root) / LOCK_NAME


def acquire(root: Path, command: str, wait_seconds: float = 0.0,
            on_wait: Callable[[Holder], None] | None = None) -> RunLock:
    """The data home's run lock, or `RunLockBusy` when another process still holds it after
    `wait_seconds`. `on_wait` is called once, with the holder, when the wait begins."""
    path = lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    started = time.monotonic()
    deadline = started + max(wait_seconds, GRACE_SECONDS)
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            now = time.monotonic()
            if now >= deadline:
                holder = read_holder(path)
                os.close(fd)
                raise RunLockBusy(Path(root), holder, now - started) from None
            if on_wait and not told and now - started >= GRACE_SECONDS:
                on_wait(read_holder(path))
                told = True
            time.sleep(0.05 if now - started < GRACE_SECONDS else 0.5)
    _write_holder(fd, command)
    return RunLock(path, fd)


def _write_holder(fd: int, command: str) -> None:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
              "started": dt.datetime.now().isoformat(timespec="seconds")}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
    except OSError:
        pass        # a full disk: the lock holds all the same, only the message lacks the details


def read_holder(path: Path) -> Holder:
    """What the holder wrote; empty for the moment between its lock and its write."""
    for _ in range(5):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            return Holder()
        if text.strip():
            try:
                record = json.loads(text)
                started = record.get("started")
                return Holder(int(record["pid"]), record.get("host"),
                              dt.datetime.fromisoformat(started) if started else None, record.get("command"))
            except (ValueError, KeyError, TypeError):
                return Holder()
        time.sleep(0.05)
    return Holder()


def current_holder(root: Path) -> Holder | None:
    """Who holds the data home now; None when nobody does. Only looks: the lock is taken shared
    for an instant, which a run starting at that instant waits out (`GRACE_SECONDS`)."""
    path = lock_path(root)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None             # no run has taken it yet (or we may not read it: then we cannot tell)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_holder(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# --- The warehouse file, held by some other process ---------------------------------------------

_DUCKDB_LOCK = re.compile(r"Could not set lock on file")
_DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


@dataclass(frozen=True)
class WarehouseHolder:
    pid: int | None
    program: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "okänd process"
        return f"PID {self.pid}, {Path(self.program).name}" if self.program else f"PID {self.pid}"


class WarehouseBusy(Exception):
    """The warehouse file stayed locked by another process for as long as we could wait."""

    def __init__(self, path: Path, holder: WarehouseHolder, waited_seconds: float) -> None:
        super().__init__(f"{path}: {holder.describe()}")
        self.path, self.holder, self.waited_seconds = path, holder, waited_seconds


def warehouse_lock_holder(error: BaseException | str | None) -> WarehouseHolder | None:
    """The process named by DuckDB's "Could not set lock on file" anywhere in the error's chain
    (or in a step's failure message); None when the error is something else."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error)
        if _DUCKDB_LOCK.search(text):
            found = _DUCKDB_HOLDER.search(text)
            return WarehouseHolder(int(found["pid"]), found["program"]) if found else WarehouseHolder(None, None)
        if isinstance(error, str):
            break
        error = error.__cause__ or error.__context__
    return None


def when_warehouse_free(action: Callable[[], object], path: Path, wait_seconds: float,
                        on_wait: Callable[[WarehouseHolder], None] | None = None):
    """`action()` (which opens the warehouse), tried again every half second while DuckDB says
    another process holds the file, for at most `wait_seconds`; then `WarehouseBusy`."""
    started = time.monotonic()
    told = False
    while True:
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - only DuckDB's lock error is retried
            holder = warehouse_lock_holder(error)
            if holder is None:
                raise
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                raise WarehouseBusy(Path(path), holder, waited) from error
            if on_wait and not told:
                on_wait(holder)
                told = True
            time.sleep(0.5)
