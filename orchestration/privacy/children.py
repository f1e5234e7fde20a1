"""Child processes that run this project's own code (the reader, Great Expectations, the months'
disclosure control): a fresh interpreter, never a fork of a process that holds DuckDB
connections, threads or Dagster's state; started from this checkout, installed or not; talking
over a pipe; and without either pseudonymisation key in its environment: none of them needs one,
and the reader parses untrusted files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from multiprocessing.connection import Connection, Pipe
from pathlib import Path

from orchestration.privacy.keys import ENV_VAR, NEW_ENV_VAR

KEY_VARIABLES = (ENV_VAR, NEW_ENV_VAR)
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def start_child(module: str, function: str, quiet: bool = True,
                environment: Mapping[str, str] | None = None) -> tuple[subprocess.Popen, Connection]:
    """`module.function(descriptor)` in a new interpreter, the descriptor its end of the pipe; the
    process and the parent's end. `quiet`: its stdout and stderr go nowhere. `environment`: set
    on top of this process's (never a key)."""
    parent, child = Pipe(duplex=True)
    variables = {name: value for name, value in os.environ.items() if name not in KEY_VARIABLES}
    variables.update(environment or {})
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(
        [sys.executable, "-c", f"import sys; from {module} import {function}; {function}(int(sys.argv[1]))",
         str(child.fileno())],
        pass_fds=(child.fileno(),), env=variables, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
        cwd=_PROJECT_ROOT)
    child.close()
    return process, parent


def stop_child(process: subprocess.Popen | None, connection: Connection | None) -> None:
    """Kill the child if it still runs, wait for it, close the parent's end of its pipe."""
    if process is not None:
        if process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    if connection is not None:
        connection.close()
