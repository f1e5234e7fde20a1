"""The months' disclosure control worked out in two child processes at once: a national project's
months take ~1 s of one core each (reading the month, suppression.positions_to_hide), 36 of
them in an export, and the machine has two cores.

Each child is a fresh interpreter, not a fork of the run's process (which holds DuckDB
connections and threads), and needs nothing of the parent: it reads each month it is sent from
the warehouse itself, read-only, and sends back only the positions of the rows to hide. A child
ends when the parent closes its pipe or dies (Ctrl-C, a failed step, a killed run), and the
parent kills the ones left when it is done, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import threading
import time
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path

from orchestration.privacy.children import start_child

WORKERS = 2
STARTUP_SECONDS = 120             # for a child to start and import (~0.2 s on an idle machine)


class SuppressionWorkerError(RuntimeError):
    """A child that worked out disclosure control died or could not start."""


# (label, warehouse, query, parameters, min_count): positions_to_hide of the rows the query gives,
# answered under the label (the month).
Request = tuple[str, str, str, Sequence, int]


def hidden_positions(requests: Sequence[Request], workers: int = WORKERS) -> dict[str, list[int]]:
    """Each request's positions of the rows to hide (sorted), by label, worked out by `workers`
    children, each taking the next request as it finishes one. An error in a child is raised here
    as it was raised there."""
    found: dict[str, list[int]] = {}
    children: list[_Child] = []
    try:
        for _ in range(min(workers, len(requests))):
            children.append(_Child.start())
        for child in children:                                  # started together, ready one by one
            child.ready()
        waiting = list(reversed(requests))
        busy: dict[Connection, tuple[_Child, str]] = {}     # a child at work, and the label of its request

        def give(child: _Child) -> None:
            request = waiting.pop()
            child.send(request)
            busy[child.connection] = (child, request[0])

        for child in children:
            give(child)
        while busy:
            for connection in wait(list(busy)):
                child, label = busy.pop(connection)
                found[label] = child.answer(f"räknade röjandeskyddet för {label}")
                if waiting:
                    give(child)
    finally:
        for child in children:
            child.stop(at_once=len(found) < len(requests))      # an error or Ctrl-C: no month is waited for
    return found


class _Child:
    """One child process and the parent's end of its pipe."""

    def __init__(self, process: subprocess.Popen, connection: Connection):
        self.process, self.connection = process, connection

    @classmethod
    def start(cls) -> "_Child":
        """A fresh interpreter without the key (privacy/children.py; its errors come back through the pipe,
        a crash's trace on stderr)."""
        return cls(*start_child("orchestration.reporting.suppression_workers", "serve", quiet=False))

    def ready(self) -> None:
        """Wait until the child has started and imported what it needs."""
        if not self.connection.poll(STARTUP_SECONDS):
            raise SuppressionWorkerError(
                f"Processen för röjandeskyddet startade inte inom {STARTUP_SECONDS} sekunder. "
                "Kontrollera att servern har minne och processer lediga och kör igen.")
        self.answer("startade")

    def send(self, request: Request) -> None:
        try:
            self.connection.send(request)
        except OSError:
            pass                    # a child that died: answer() says so

    def answer(self, doing: str):
        """The child's answer; an error it sends is raised, as is its death (`doing`: what it was
        doing, for the message)."""
        try:
            kind, answer = self.connection.recv()
        except (EOFError, OSError):
            code = self.process.wait()
            raise SuppressionWorkerError(
                f"Processen som {doing} avslutades oväntat (kod {code}). Kontrollera att servern har "
                "minne ledigt och kör igen.") from None
        if kind == "error":
            error, remote = answer
            raise error from _RemoteTraceback(remote)
        return answer

    def stop(self, at_once: bool = False) -> None:
        """Ask the child to end (kill it `at_once`, or if it has not ended within a second) and wait for it."""
        if self.process.poll() is None:
            try:
                if at_once:
                    raise OSError
                self.connection.send(None)
                self.process.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.connection.close()


class _RemoteTraceback(Exception):
    """The child's traceback, shown under the error raised again in the parent."""

    def __str__(self) -> str:
        return "\n" + self.args[0]


def serve(descriptor: int) -> None:
    """The child: answer requests until it is sent None or the parent is gone."""
    connection = Connection(descriptor)
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the parent's to handle: it stops the children
    _end_with_parent()
    import duckdb

    from orchestration.lib.warehouse import connect
    from orchestration.reporting.suppression import positions_to_hide

    connection.send(("ready", None))
    with contextlib.ExitStack() as opened:
        databases: dict[str, duckdb.DuckDBPyConnection] = {}     # one connection a warehouse, for all its months
        while True:
            try:
                request = connection.recv()
            except (EOFError, OSError):
                return
            if request is None:
                return
            _, warehouse, query, parameters, min_count = request
            try:
                if warehouse not in databases:
                    databases[warehouse] = opened.enter_context(connect(Path(warehouse), read_only=True))
                cursor = databases[warehouse].execute(query, list(parameters))
                names = tuple(d[0] for d in cursor.description)
                answer = ("hidden", sorted(positions_to_hide(names, cursor.fetchall(), min_count)))
            except Exception as error:  # noqa: BLE001 - raised again in the parent
                answer = ("error", (_picklable(error), traceback.format_exc()))
            connection.send(answer)


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - an error that does not travel goes as its text
        return RuntimeError(f"{type(error).__name__}: {error}")


def _end_with_parent() -> None:
    """Die with the parent, even in the middle of a month (its work is no one's now): at once
    through Linux's parent-death signal, else within a moment of the next check."""
    parent = os.getppid()
    try:
        import ctypes

        if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0:
            if os.getppid() != parent:                  # died before the signal was asked for
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="followup-parent-watch", daemon=True).start()


_PR_SET_PDEATHSIG = 1
