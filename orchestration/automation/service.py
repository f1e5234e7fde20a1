"""`followup serve`: Dagster's webserver and daemon for one data home, as a service.

Two real processes, `dagster-webserver` (the UI) and `dagster-daemon run` (the schedule, the
inbox sensor and the run queue), each loading the code location from the home's own
workspace file. This process supervises them: when one ends by itself the other is stopped and
the service ends with an error; SIGTERM or Ctrl-C stops both, with the code servers and run
workers they started. Each starts in a process group of its own, so nothing is left behind; a
run cut off by the stop is marked failed and its warehouse slot freed, so the next start does
not wait for it. systemd (deploy/) runs one `followup serve --only …` per process.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.home import DataHome
from orchestration.lib.processes import live_processes, proc_stat

LOCATION = "orchestration.definitions"       # the code location's name, as in the repository's workspace.yaml
PROCESSES = ("webserver", "daemon")
READY_SECONDS = 240.0                        # loading the code location takes 10–30 s; a loaded machine more
DAEMON_LOCK = "daemon.lock"                  # held by the followup serve that runs the home's daemon
STOP_GRACE_SECONDS = 30.0                    # a run worker writes its failure; the daemon ends its threads
_PR_SET_PDEATHSIG = 1


class ServiceError(Exception):
    """The service cannot start as asked (a port in use, an address it cannot take): exit 2."""


@dataclass
class Supervised:
    name: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen | None = None
    seen: set[int] = field(default_factory=set)     # every process of its group seen while it ran


def workspace_file(home: DataHome) -> Path:
    """The home's workspace.yaml: the same code location as the repository's, run by this Python."""
    path = home.dagster / "workspace.yaml"
    text = ("# Written by followup serve: the code location the webserver and the daemon load.\n"
            "load_from:\n"
            "  - python_module:\n"
            f"      module_name: {LOCATION}\n"
            f"      executable_path: {json.dumps(sys.executable)}\n")
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        temporary = path.with_name(f".workspace.yaml.{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    return path


def port_refusal(host: str, port: int) -> str | None:
    """Why the webserver could not listen on host:port, said before anything starts; None if it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return f"adressen {host!r} kan inte slås upp ({error.strerror}); ange en IP-adress eller ett värdnamn med --host"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (f"porten {port} på {host} används redan av ett annat program (kanske en annan `followup serve` "
                        "eller `make dashboard`); stoppa det, eller välj en annan port med --port")
            if error.errno == errno.EACCES:
                return f"porten {port} kräver rättigheter som den här användaren saknar; välj en port över 1023 med --port"
            return f"porten {port} på {host} kan inte användas: {error.strerror}"
    return None


def commands(home: DataHome, host: str, port: int, only: tuple[str, ...] = PROCESSES) -> list[Supervised]:
    bin_dir = Path(sys.executable).parent
    workspace = str(workspace_file(home))
    logs = home.root / "logs"
    chosen = []
    if "webserver" in only:
        chosen.append(Supervised("webserver", [str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", host,
                                               "-p", str(port), "--dagster-log-level", "warning"],
                                 logs / "dagster-webserver.log"))
    if "daemon" in only:
        chosen.append(Supervised("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace,
                                            "--log-level", "warning"], logs / "dagster-daemon.log"))
    return chosen


def _die_with_parent() -> None:
    """In the child before exec: its own process group, and SIGTERM when `followup serve` dies
    (even by SIGKILL), so a killed service does not leave a webserver holding the port."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start(child: Supervised) -> None:
    child.log_path.parent.mkdir(parents=True, exist_ok=True)
    with child.log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n--- followup serve startar {child.name} {dt.datetime.now():%Y-%m-%d %H:%M:%S} ---\n")
        log.flush()
        child.process = subprocess.Popen(child.command, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)


def group_members(pgid: int) -> set[int]:
    """Live processes of process group `pgid`, and their descendants that left it (Linux /proc)."""
    processes = live_processes()
    members = {p.pid for p in processes if p.group == pgid}
    grew = True
    while grew:
        children = {p.pid for p in processes if p.parent in members} - members
        members |= children
        grew = bool(children)
    return members


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if (stat := proc_stat(pid)) is not None and stat.state != "Z"}


def _signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def stop(children: list[Supervised], grace_seconds: float = STOP_GRACE_SECONDS) -> set[int]:
    """SIGTERM to every process the services started, SIGKILL to those left after the grace.
    Returns the processes that had to be killed."""
    for child in children:
        if child.process is not None:
            child.seen |= group_members(child.process.pid)
    everyone = set().union(*(child.seen for child in children)) if children else set()
    _signal_all(_alive(everyone), signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        for child in children:
            if child.process is not None:
                child.process.poll()          # reap our own children, so they do not linger as zombies
        if not _alive(everyone):
            return set()
        time.sleep(0.2)
    killed = _alive(everyone)
    _signal_all(killed, signal.SIGKILL)
    for child in children:
        if child.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=10)
    return killed


def webserver_ready(base: str) -> bool:
    """The webserver answers and has loaded the code location (raises when loading failed)."""
    query = json.dumps({"query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                                 "locationOrLoadError { __typename ... on PythonError { message } } } } } }"}).encode()
    request = urllib.request.Request(f"{base}/graphql", data=query, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
    entry = next((e for e in entries if e["name"] == LOCATION), None)
    loaded = entry and entry["locationOrLoadError"]
    if loaded and loaded["__typename"] == "PythonError":
        raise ServiceError(f"kodplatsen kunde inte laddas: {loaded.get('message', '').strip()[:800]}")
    return bool(loaded and entry["loadStatus"] == "LOADED")


def release_cut_off_runs(dagster_home: Path) -> list[str]:
    """Runs the stop cut off (started by the daemon, now without a worker): failed, slots freed."""
    from dagster import DagsterInstance, DagsterRunStatus

    from orchestration.runner import PID_TAG, release_runs

    def cut_off(run) -> str | None:
        if PID_TAG in run.tags:           # a `followup run` in its own process: runner.release_abandoned_runs
            return None
        return "Körningen avbröts när followup serve stoppades; starta den igen i användargränssnittet eller vänta på sensorn."

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        return release_runs(instance, (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING),
                            cut_off)


def prepare_storage(dagster_home: Path) -> None:
    """Create or upgrade Dagster's storage here, once, before the processes start: left to them,
    the webserver, the daemon and their code servers would each create a new home's SQLite
    tables at the same moment (seen: two alembic heads, and a daemon that never starts)."""
    from dagster import DagsterInstance

    try:
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            instance.get_runs(limit=1)
    except Exception as error:  # noqa: BLE001 - any storage fault is said, with where to look
        from orchestration.lib.dagster_instance import configured_url, without_password

        said = without_password(str(error), configured_url())[:300]
        raise ServiceError(f"Dagsters lagring i {dagster_home} kan inte öppnas ({type(error).__name__}: {said}); "
                           f"kör `followup doctor --home {dagster_home.parent}`") from None


def daemon_heartbeat_since(dagster_home: Path, since: float) -> bool:
    """Whether the daemon has written a heartbeat since `since` (its loops are running)."""
    from dagster import DagsterInstance

    try:
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            beats = instance.get_daemon_heartbeats()
    except Exception:  # noqa: BLE001 - storage not ready yet, or wrong: the daemon's own log says which
        return False
    return any(beat.timestamp >= since for beat in beats.values())


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[Callable[[], str | None]]:
    """SIGTERM, SIGINT and SIGHUP end the service; the returned function says which came."""
    received: list[str] = []

    def note(signum, _frame) -> None:
        received.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, note) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        yield lambda: received[0] if received else None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve(home: DataHome, host: str, port: int, only: tuple[str, ...] = PROCESSES,
          say: Callable[[str], None] = print, ready_seconds: float = READY_SECONDS) -> int:
    """Start, watch and stop the processes; 0 after a stop asked for, 1 when a process ended by itself."""
    if "webserver" in only:
        refused = port_refusal(host, port)
        if refused:
            raise ServiceError(refused)
    with contextlib.ExitStack() as held:
        if "daemon" in only:
            held.enter_context(one_daemon(home))
        return _serve(home, host, port, only, say, ready_seconds)


@contextlib.contextmanager
def one_daemon(home: DataHome) -> Iterator[None]:
    """One daemon per data home: a second would run the schedule and the sensor twice. An exclusive
    flock on <home>/dagster/daemon.lock, released by the kernel however this process ends."""
    import fcntl

    path = home.dagster / DAEMON_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "okänd process"
            raise ServiceError(f"Dagster-demonen för {home.root} körs redan ({holder}); en andra demon skulle köra "
                               "schemat och sensorn två gånger. Stoppa den först, eller starta bara gränssnittet "
                               "med --only webserver.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"followup serve, PID {os.getpid()} på {socket.gethostname()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def _serve(home: DataHome, host: str, port: int, only: tuple[str, ...], say: Callable[[str], None],
           ready_seconds: float) -> int:
    prepare_storage(home.dagster)
    children = commands(home, host, port, only)
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    with _stop_on_signals() as stop_asked:
        failure = None
        try:
            for child in children:
                _start(child)
            waiting_for_ui, waiting_for_daemon = "webserver" in only, "daemon" in only
            started = time.time()
            deadline = time.monotonic() + ready_seconds
            while stop_asked() is None:
                for child in children:
                    child.seen |= group_members(child.process.pid)
                    if child.process.poll() is not None:
                        failure = (f"dagster-{child.name} avslutades oväntat (slutkod {child.process.returncode}); "
                                   f"se {child.log_path}")
                        break
                if failure:
                    break
                if waiting_for_ui:
                    with contextlib.suppress(OSError, ValueError, KeyError):
                        if webserver_ready(f"http://{_loopback_for(host)}:{port}"):
                            waiting_for_ui = False
                            say(f"Användargränssnittet: {base} (datahem {home.root}). Stoppa med Ctrl-C.")
                if waiting_for_daemon and daemon_heartbeat_since(home.dagster, started):
                    waiting_for_daemon = False
                    say("Dagster-demonen går: månadsschemat, inkorgssensorn och körkön (slå på schemat och sensorn "
                        "i gränssnittet under Automation).")
                if (waiting_for_ui or waiting_for_daemon) and time.monotonic() > deadline:
                    late = next(c for c in children if c.name == ("webserver" if waiting_for_ui else "daemon"))
                    failure = f"dagster-{late.name} kom inte igång inom {ready_seconds:.0f} s; se {late.log_path}"
                    break
                time.sleep(0.5)
        except ServiceError as error:
            failure = str(error)
        finally:
            killed = stop(children)
            released = []
            if "daemon" in only:
                try:
                    released = release_cut_off_runs(home.dagster)
                except Exception as error:  # noqa: BLE001 - the storage's own fault, already said or logged
                    say(f"Avbrutna körningar kunde inte markeras ({type(error).__name__}); `followup doctor` visar "
                        "lagringens tillstånd.")
    if killed:
        say(f"{len(killed)} process(er) stoppade inte själva och avslutades med SIGKILL.")
    if released:
        say(f"{len(released)} körning(ar) avbröts av stoppet och markerades som misslyckade: {', '.join(r[:8] for r in released)}.")
    if failure:
        raise ServiceFailed(failure)
    say(f"Stoppad ({stop_asked()}); inga processer kvar.")
    return 0


class ServiceFailed(Exception):
    """A process of the service ended by itself, or never became ready: exit 1."""


def _loopback_for(host: str) -> str:
    """Where this machine reaches a server listening on `host` (0.0.0.0 and :: are every address)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
