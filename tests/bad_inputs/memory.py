"""Run a command under a memory cap on its whole process tree, and say how much it used.

The cap is on the sum of resident memory of every process in the command's session (the run,
its reader child, dbt), read from /proc every 0.2 s; above it the session is killed. That is
what "the run fits in 2 GiB" means for an operator's machine, whatever the processes are.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

GIB = 1024 ** 3


@dataclass
class Capped:
    returncode: int
    peak_bytes: int
    seconds: float
    killed_for_memory: bool
    output: str


def session_resident_bytes(session: int) -> int:
    """Resident memory of every process whose session id is `session`."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != session:      # field 6 of stat: session id
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total


def run_capped(command: list[str], cap_bytes: int, timeout: float, log: Path, **popen) -> Capped:
    started = time.monotonic()
    peak, killed = 0, False
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, **popen)
        try:
            while process.poll() is None:
                resident = session_resident_bytes(process.pid)
                peak = max(peak, resident)
                if resident > cap_bytes:
                    killed = True
                    os.killpg(process.pid, signal.SIGKILL)
                    break
                if time.monotonic() - started > timeout:
                    os.killpg(process.pid, signal.SIGKILL)
                    raise AssertionError(f"{command} did not end within {timeout} s")
                time.sleep(0.2)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
    return Capped(process.returncode, peak, time.monotonic() - started, killed,
                  log.read_text(encoding="utf-8", errors="replace"))
