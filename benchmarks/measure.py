"""Run a command and measure it: wall time, CPU time (itself and every child it waited for) and
peak RSS of the whole process tree (the reader runs in a child process), sampled
from /proc. Load averages before and after, since the machine is shared."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Measurement:
    label: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float          # sum over the process tree at its largest sample
    peak_single_rss_mib: float   # the largest single process (ru_maxrss of the children)
    returncode: int
    load_before: str
    load_after: str

    def as_dict(self) -> dict:
        return asdict(self)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except OSError:
        return 0


def tree_rss_kib(root: int) -> int:
    children = _children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kib(pid)
        stack.extend(children.get(pid, []))
    return total


def run_measured(label: str, command: list[str], env: dict[str, str] | None = None, log: Path | None = None,
                 interval: float = 0.25) -> Measurement:
    load_before = load_average()
    output = log.open("ab") if log else subprocess.DEVNULL
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kib(process.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    done.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if log:
        output.close()
    return Measurement(label, wall, usage.ru_utime + usage.ru_stime, peak / 1024, usage.ru_maxrss / 1024,
                       process.returncode, load_before, load_average())
