"""The worst moments to kill a run at, reached in a real process: `python -m tests.pauses <followup
arguments>` is `followup` with a pause put in place from here (the product carries no test hook).

- FOLLOWUP_TEST_INTAKE_PAUSE_FILE=<flag>: intake writes <flag> (its PID) inside its open transaction,
  just before the commit, and waits there;
- FOLLOWUP_TEST_PAUSE_BEFORE_READING=<flag>:<sha256 prefix>: pseudonymise writes <flag> just before it
  reads the archived file whose name starts with the prefix, and waits there.

The test kills the process while it waits; on its own it carries on after five minutes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

PAUSE_BEFORE_COMMIT_ENV = "FOLLOWUP_TEST_INTAKE_PAUSE_FILE"
PAUSE_BEFORE_READING_ENV = "FOLLOWUP_TEST_PAUSE_BEFORE_READING"
WAIT_SECONDS = 300


def install(environ: Mapping[str, str] = os.environ) -> None:
    """Put in place the pauses the environment asks for (none when it asks for none)."""
    if environ.get(PAUSE_BEFORE_COMMIT_ENV):
        _pause_intake_before_commit(Path(environ[PAUSE_BEFORE_COMMIT_ENV]))
    if environ.get(PAUSE_BEFORE_READING_ENV):
        flag, sha_prefix = environ[PAUSE_BEFORE_READING_ENV].rsplit(":", 1)
        _pause_before_reading(Path(flag), sha_prefix)


def _wait_here(flag: Path) -> None:
    flag.write_text(str(os.getpid()), encoding="utf-8")
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.1)


class _PausingAtCommit:
    def __init__(self, connection, flag: Path):
        self._connection, self._flag = connection, flag

    def execute(self, query, *args, **kwargs):
        if isinstance(query, str) and query.strip().lower() == "commit":
            _wait_here(self._flag)
        return self._connection.execute(query, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._connection, name)


def _pause_intake_before_commit(flag: Path) -> None:
    from orchestration.ingest import intake

    connect = intake.connect

    @contextlib.contextmanager
    def pausing_connect(*args, **kwargs):
        with connect(*args, **kwargs) as connection:
            yield _PausingAtCommit(connection, flag)

    intake.connect = pausing_connect


def _pause_before_reading(flag: Path, sha_prefix: str) -> None:
    from orchestration.privacy.reading import IsolatedReader

    read = IsolatedReader.read

    def pausing_read(self, path: Path, *args, **kwargs):
        if Path(path).name.startswith(sha_prefix):
            _wait_here(flag)
        return read(self, path, *args, **kwargs)

    IsolatedReader.read = pausing_read


if __name__ == "__main__":
    install()
    from orchestration.cli import main

    sys.exit(main(sys.argv[1:]))
