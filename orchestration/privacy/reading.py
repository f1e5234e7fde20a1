"""Read archived deliveries in a child process, each file under a time and a memory limit.

The reader is written to stay within its limits (ingest/limits.py), but it parses whatever a
municipality's system wrote, with openpyxl and the csv module underneath. Whatever a file does
to it — a parser that runs away with memory, one that never ends, a crash in a C library — the
child dies or is stopped, the file gets its verdict, and the run goes on with the next file.
The personnummer stays inside the pseudonymise stage: the rows travel from the child to the
stage through a pipe, never through a file.
"""

from __future__ import annotations

import collections
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from orchestration.ingest.limits import ReadLimits
from orchestration.privacy.children import start_child, stop_child
from orchestration.privacy.extract.reader import Extract, ExtractReadError
from orchestration.privacy.extract.schema import ENROLMENT_SCHEMA, ColumnSchema

POLL_SECONDS = 0.1
STARTUP_SECONDS = 120             # for the child to start and import the reader (~0.4 s on an idle machine)
READY = "ready"


@dataclass(frozen=True)
class ReadFailure:
    """Why a file could not be read: the verdict's reason code and its message for the municipality."""

    code: str
    message: str


def _serve(connection: Connection) -> None:
    """The child: read the files it is sent, one at a time, until it is sent None. Each request is
    (path, schema): the columns to keep (schema.py), plain data that pickles through the pipe."""
    from orchestration.privacy.extract.reader import read_extract

    connection.send(READY)        # the time limit of a file starts now, not while Python starts
    while True:
        request = connection.recv()
        if request is None:
            return
        path, schema = request
        try:
            answer: Extract | ReadFailure = read_extract(Path(path), schema=schema)
        except ExtractReadError as error:
            answer = ReadFailure(error.code, error.message)
        except MemoryError:
            answer = _too_much_memory(None)
        except Exception as error:  # noqa: BLE001 - any fault of one file is that file's verdict
            answer = ReadFailure(
                "FIL_OLASBAR",
                f"Filen kunde inte läsas ({type(error).__name__}). Spara om den som CSV eller .xlsx och skicka igen.")
        connection.send(answer)


class ReaderUnavailable(RuntimeError):
    """The reading process could not start: the machine's fault, not a file's; the stage fails."""


def serve_descriptor(descriptor: int) -> None:
    """Entry point of the child process (see IsolatedReader._start)."""
    _serve(Connection(descriptor))


class IsolatedReader:
    """One child process that reads files; replaced when a file kills it or breaks a limit."""

    def __init__(self, limits: ReadLimits | None = None):
        self.limits = limits or ReadLimits.from_environment()
        self._process: subprocess.Popen | None = None
        self._connection: Connection | None = None

    def __enter__(self) -> "IsolatedReader":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def read(self, path: Path, schema: ColumnSchema = ENROLMENT_SCHEMA) -> Extract | ReadFailure:
        """The file's rows with the schema's columns (an enrolment extract's unless told
        otherwise), or why they cannot be had."""
        self._start()
        request = (str(path), schema)
        try:
            self._connection.send(request)
        except (BrokenPipeError, OSError):
            self._stop()
            self._start()
            self._connection.send(request)
        started = time.monotonic()
        while True:
            if self._connection.poll(POLL_SECONDS):
                try:
                    return self._connection.recv()
                except (EOFError, OSError):
                    return self._crashed()
            if self._process.poll() is not None:
                return self._crashed()
            if time.monotonic() - started > self.limits.read_seconds:
                self._stop()
                return _too_slow(self.limits.read_seconds)
            resident = _resident_bytes(self._process.pid)
            if resident is not None and resident > self.limits.reader_memory_bytes:
                self._stop()
                return _too_much_memory(self.limits.reader_memory_bytes)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def abort(self) -> None:
        """Kill the child from another thread: a read() under way returns at once (as a crash)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            try:
                self._connection.send(None)
                self._process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._stop()

    def _start(self) -> None:
        """A fresh interpreter without the key (privacy/children.py): it parses untrusted files."""
        if self._process is not None and self._process.poll() is None:
            return
        self._process, parent = start_child("orchestration.privacy.reading", "serve_descriptor")
        self._connection = parent
        if not parent.poll(STARTUP_SECONDS) or parent.recv() != READY:
            self._stop()
            raise ReaderUnavailable(
                f"Läsprocessen startade inte inom {STARTUP_SECONDS} sekunder; ingen fil har fått något utfall. "
                "Kontrollera att servern har minne och processer lediga och kör igen.")

    def _stop(self) -> None:
        stop_child(self._process, self._connection)
        self._process, self._connection = None, None

    def _crashed(self) -> ReadFailure:
        signal_or_code = self._process.returncode if self._process is not None else None
        self._stop()
        return ReadFailure(
            "LASNING_AVBROTS",
            "Läsningen av filen avbröts av ett fel i läsprogrammet"
            + (f" (kod {signal_or_code})" if signal_or_code is not None else "")
            + ". Filen kan vara skadad. Öppna den i Excel, spara den som .xlsx eller CSV och skicka den igen.")


class ReadAhead:
    """Files read in order by a thread of this process while the caller works on the ones before:
    the child parses on one core while the stage pseudonymises and writes on the other, instead
    of the two taking turns. Each file is still read by `reader.read`, under its time and memory limits. Reading pauses while
    `max_rows` rows wait to be taken, so at most that many and one file more are held.

    Iterate once for one answer per request, in order. A fault of the reading itself (the child
    cannot start) is raised where that file's answer would have come."""

    def __init__(self, reader: IsolatedReader, requests: Sequence[tuple[Path, ColumnSchema]], max_rows: int):
        self._reader, self._requests, self._max_rows = reader, list(requests), max_rows
        self._answers: collections.deque = collections.deque()
        self._waiting_rows = 0
        self._finished = self._stopped = False
        self._error: BaseException | None = None
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._read_all, name="followup-read-ahead", daemon=True)

    def __enter__(self) -> "ReadAhead":
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        """Stop reading (a file under way is abandoned, its delivery left waiting for the next run)."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        if not self._finished:
            self._reader.abort()
        self._thread.join()

    def __iter__(self) -> Iterator[Extract | ReadFailure]:
        for _ in self._requests:
            with self._condition:
                self._condition.wait_for(lambda: self._answers or self._finished)
                if not self._answers:
                    raise self._error or RuntimeError("the read-ahead stopped before its last file")
                answer = self._answers.popleft()
                self._waiting_rows -= _rows(answer)
                self._condition.notify_all()
            yield answer

    def _read_all(self) -> None:
        try:
            for path, schema in self._requests:
                with self._condition:
                    self._condition.wait_for(lambda: self._stopped or self._waiting_rows < self._max_rows)
                    if self._stopped:
                        return
                answer = self._reader.read(path, schema)
                with self._condition:
                    self._answers.append(answer)
                    self._waiting_rows += _rows(answer)
                    self._condition.notify_all()
        except BaseException as error:  # noqa: BLE001 - handed to the caller, raised where it waits
            self._error = error
        finally:
            with self._condition:
                self._finished = True
                self._condition.notify_all()


def _rows(answer: Extract | ReadFailure) -> int:
    return len(answer.rows) if isinstance(answer, Extract) else 0


def _too_slow(seconds: float) -> ReadFailure:
    return ReadFailure(
        "LASNING_FOR_LANGSAM",
        f"Filen kunde inte läsas inom {seconds:.0f} sekunder och avbröts. Den är ovanligt stor eller "
        "felaktigt uppbyggd. Kontrollera att filen bara innehåller projektets deltagare, spara den som "
        ".xlsx eller CSV och skicka den igen.")


def _too_much_memory(limit: int | None) -> ReadFailure:
    amount = f" (mer än {limit // 2**20} MB)" if limit else ""
    return ReadFailure(
        "LASNING_FOR_MYCKET_MINNE",
        f"Att läsa filen krävde för mycket minne{amount} och läsningen avbröts. Filen är ovanligt stor "
        "eller felaktigt uppbyggd (t.ex. ett kalkylblad som säger sig ha en miljon rader). Kopiera "
        "deltagarlistan till en ny arbetsbok, spara den som .xlsx eller CSV och skicka den igen.")


def _resident_bytes(pid: int) -> int | None:
    """The child's resident memory (Linux /proc); None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
