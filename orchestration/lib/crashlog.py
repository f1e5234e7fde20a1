"""`<home>/logs/followup-error.log`: every unexpected failure of a `followup` command, appended.

Each block holds the time, the process, the command line and the trace; never the environment
(the pseudonym key may be in it; it is never on the command line). The file is kept bounded: above
MAX_BYTES it becomes `followup-error.log.1` (replacing the previous one) and a new file starts,
so at most about twice MAX_BYTES are kept.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
from pathlib import Path

LOG_NAME = "followup-error.log"
MAX_BYTES = 4 * 1000 * 1000


def crash_log_path(root: Path) -> Path:
    return Path(root) / "logs" / LOG_NAME


def append_crash(log: Path, argv: list[str], trace: str, now: dt.datetime | None = None) -> None:
    """Append one block; raises OSError when the log cannot be written (e.g. a full disk)."""
    now = now or dt.datetime.now()
    block = (f"=== {now:%Y-%m-%d %H:%M:%S} pid {os.getpid()}: {shlex.join(['followup', *argv])}\n"
             f"{trace.rstrip()}\n\n")
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        if log.stat().st_size + len(block.encode("utf-8")) > MAX_BYTES:
            os.replace(log, log.with_name(log.name + ".1"))
    except FileNotFoundError:
        pass
    # One write of the whole block in append mode: two commands failing at once do not interleave.
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        data = block.encode("utf-8", errors="replace")
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
