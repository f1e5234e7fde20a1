"""Great Expectations in a process of its own, one per process that validates, kept for its life.

GX's import takes ~2 s and its counting ~9 µs a row of pure Python. In a child of its own the
import overlaps the run's first steps (`followup run` starts it before it imports Dagster) and the
counting runs on another core beside the stage's DuckDB work, where a thread had to share the
stage's interpreter lock. The rows it counts come as a Parquet file the stage's DuckDB wrote (read
into pandas here, on this process's core); they are pseudonymised rows (validate runs after
pseudonymise), and the file is deleted once counted.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from orchestration.privacy.children import start_child, stop_child

READY = "ready"
POLL_SECONDS = 0.5
STARTUP_SECONDS = 120             # for the child to start and import GX (~2.5 s on an idle machine)


@dataclass(frozen=True)
class RuleCount:
    """GX's result for one expectation: its type and meta (which rule), whether it passed, and
    how many rows broke it."""

    expectation_type: str
    meta: dict[str, Any]
    success: bool
    unexpected: int


class GxUnavailable(RuntimeError):
    """The GX process could not start or died: the machine's fault, not the rows'; the stage fails
    before it writes anything."""


def _serve(connection: Connection) -> None:
    """The child: count the parts it is sent, (document, source, Parquet file, parameters) each,
    until it is killed or its parent is gone. A suite is built once per document."""
    import duckdb

    from orchestration.quality.validate import COUNTING_FORMAT, _gx_context, _gx_results, suite_from_document

    _gx_context()
    connection.send(READY)
    suites: dict[str, Any] = {}
    while True:
        document, source, path, parameters = connection.recv()
        frame = None
        try:
            frame = duckdb.read_parquet(path).df()
            key = json.dumps([source, document], sort_keys=True)
            suite = suites.get(key) or suites.setdefault(key, suite_from_document(document, source))
            answer: list[RuleCount] | Exception = [
                RuleCount(item.expectation_config.type, dict(item.expectation_config.meta or {}), bool(item.success),
                          int(item.result.get("unexpected_count") or 0))
                for item in _gx_results(frame, suite, parameters, COUNTING_FORMAT)]
        except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
            # as a built-in exception: rebuilding one of GX's own would import GX in the parent
            answer = error if type(error).__module__ == "builtins" else RuntimeError(f"{type(error).__name__}: {error}")
        del frame
        connection.send(answer)


def serve_descriptor(descriptor: int) -> None:
    """Entry point of the child process (see GxProcess.start)."""
    _serve(Connection(descriptor))


class GxProcess:
    """The child that runs GX; started on first use (or early, by `start`), replaced if it dies."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._connection: Connection | None = None
        self._ready = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the child if none runs; returns at once, the child imports GX meanwhile."""
        with self._lock:
            self._start()

    def count(self, document: dict[str, Any], source: str, part: Path, parameters: dict[str, Any]) -> list[RuleCount]:
        """GX's count per expectation of `document` (a suite as expectations/*.json has it) over the
        rows of `part` (Parquet). An error of GX or of the suite (an expectation that did not load)
        is raised here."""
        with self._lock:
            self._start()
            if not self._ready:
                answer = self._answer(STARTUP_SECONDS, "startade inte")
                if answer != READY:
                    self._stop()
                    raise GxUnavailable("Great Expectations-processen startade inte; inga utfall skrevs. "
                                        "Kontrollera att servern har minne och processer lediga och kör igen.")
                self._ready = True
            try:
                self._connection.send((document, source, str(part), parameters))
            except OSError:
                self._stop()
                raise GxUnavailable("Great Expectations-processen tog inte emot raderna; inga utfall skrevs. "
                                    "Kör igen.") from None
            answer = self._answer(None, "avslutades oväntat")
        if isinstance(answer, BaseException):
            raise answer
        return answer

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """End the child (it holds nothing to save: killing it is quickest)."""
        with self._lock:
            self._stop()

    def _answer(self, seconds: float | None, what: str) -> Any:
        """The child's next message; GxUnavailable if it dies first (or is silent for `seconds`)."""
        waited = 0.0
        while seconds is None or waited < seconds:
            if self._connection.poll(POLL_SECONDS):
                try:
                    return self._connection.recv()
                except (EOFError, OSError):
                    break
            waited += POLL_SECONDS
            if self._process.poll() is not None and not self._connection.poll(0):
                break
        code = self._process.poll()
        self._stop()
        raise GxUnavailable(f"Great Expectations-processen {what}" + (f" (kod {code})" if code is not None else "")
                            + "; inga utfall skrevs. Kontrollera att servern har minne ledigt och kör igen.")

    def _start(self) -> None:
        """A fresh interpreter without the key (privacy/children.py): it never needs it."""
        if self._process is not None and self._process.poll() is None:
            return
        self._stop()
        self._process, self._connection = start_child("orchestration.quality.gx_process", "serve_descriptor",
                                                       environment={"GX_ANALYTICS_ENABLED": "false"})
        self._ready = False

    def _stop(self) -> None:
        stop_child(self._process, self._connection)
        self._process, self._connection, self._ready = None, None, False


_shared = GxProcess()
atexit.register(_shared.close)


def start() -> None:
    """Start this process's GX child early, so its import overlaps other work."""
    _shared.start()


def count(document: dict[str, Any], source: str, part: Path, parameters: dict[str, Any]) -> list[RuleCount]:
    """GX's count per expectation, in this process's GX child (GxProcess.count)."""
    return _shared.count(document, source, part, parameters)
