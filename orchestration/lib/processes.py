"""Processes as Linux's /proc shows them: used to stop what a run or the service started."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class ProcStat(NamedTuple):
    pid: int
    state: str          # "R", "S", … ; "Z" for a zombie that has ended but is not yet collected
    parent: int
    group: int


def proc_stat(pid: int | str) -> ProcStat | None:
    """The state, parent and process group of `pid`; None when it is gone. The command name in
    parentheses may hold spaces and parentheses itself, so the fields are read after its last ')'."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return ProcStat(int(pid), fields[0], int(fields[1]), int(fields[2]))
    except (OSError, IndexError, ValueError):
        return None


def live_processes(zombies: bool = False) -> list[ProcStat]:
    """Every process on the machine that has not ended; with `zombies`, also those that have ended
    and wait for their parent to collect them."""
    found = (proc_stat(entry.name) for entry in Path("/proc").glob("[0-9]*"))
    return [stat for stat in found if stat is not None and (zombies or stat.state != "Z")]
