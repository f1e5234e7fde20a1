"""`followup serve`: the real dagster-webserver and dagster-daemon on a data home, the inbox
sensor starting runs by itself, and a stop that leaves no process behind."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from orchestration.generator import generate_deliveries
from orchestration.projects.config import load_projects
from tests.dashboard import free_port
from tests.truth import expected_kpis

FOLLOWUP = str(Path(sys.executable).parent / "followup")
PROJECT = "vaga_valja_vag"
SENSOR = {"repositoryLocationName": "orchestration.definitions", "repositoryName": "__repository__",
          "sensorName": "inbox_sensor"}
RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId status startTime endTime tags { key value } } } } }"


def graphql(base: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query, "variables": variables or {}})
                                     .encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert "errors" not in answer, answer
    return answer["data"]


def descendants(root: int) -> set[int]:
    """Every live process below `root` (Linux /proc), whatever its process group."""
    parents = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                left.add(pid)
    return left


def program_names(pid: int) -> list[str]:
    """The program and its first argument, by file name (`python -m dagster api grpc` → python3.11, -m)."""
    with contextlib.suppress(OSError):
        return [Path(part.decode()).name for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]]
    return []


class Service:
    """`followup serve` in a subprocess, its output in a file, the processes it started noted."""

    def __init__(self, home: Path, port: int, env: dict, out: Path, *extra: str) -> None:
        self.out = out
        self.seen: set[int] = set()
        with out.open("w") as handle:
            self.process = subprocess.Popen([FOLLOWUP, "serve", "--home", str(home), "--port", str(port), *extra],
                                            env=env, stdout=handle, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.out.read_text(encoding="utf-8")

    def wait_for(self, text: str, seconds: float = 240) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.output():
            self.seen |= descendants(self.process.pid)
            assert self.process.poll() is None, f"followup serve ended:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} in {seconds} s:\n{self.output()}"
            time.sleep(0.5)

    def stop(self, signum: int = signal.SIGTERM, seconds: float = 90) -> int:
        self.seen |= descendants(self.process.pid)
        self.process.send_signal(signum)
        return self.process.wait(timeout=seconds)


def runs(base: str) -> list[dict]:
    return graphql(base, RUNS_QUERY)["runsOrError"]["results"]


def wait_for_runs(service: Service, base: str, count: int, seconds: float = 300) -> list[dict]:
    """Until `count` runs have ended; every one of them must have succeeded."""
    deadline = time.monotonic() + seconds
    while True:
        service.seen |= descendants(service.process.pid)
        found = runs(base)
        finished = [r for r in found if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        if len(finished) >= count:
            assert all(r["status"] == "SUCCESS" for r in finished), found
            return found
        assert service.process.poll() is None, f"followup serve ended:\n{service.output()}"
        assert time.monotonic() < deadline, f"{len(finished)} of {count} runs ended in {seconds} s: {found}"
        time.sleep(2)


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request) -> tuple[str, dict]:
    """The environment `followup serve` runs in: Dagster's storage in SQLite, or on a real PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "FOLLOWUP_DAGSTER_POSTGRES_URL")}
    env["FOLLOWUP_SENSOR_INTERVAL_SECONDS"] = "1"
    if request.param == "postgres":
        env["FOLLOWUP_DAGSTER_POSTGRES_URL"] = request.getfixturevalue("postgres_url")
    return request.param, env


def sensor_ticks(base: str) -> list[str]:
    query = ("query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor { sensorState { "
             "ticks(limit: 5) { status } } } } }")
    return [t["status"] for t in graphql(base, query, {"s": SENSOR})["sensorOrError"]["sensorState"]["ticks"]]


@pytest.mark.slow
def test_serve_runs_the_sensor_the_daemon_processes_a_new_month_and_the_stop_leaves_nothing(tmp_path, storage):
    """The inbox is empty when the sensor is switched on, so its first look skips; the project's
    files, the newest month among them, delivered afterwards make the daemon start one run. (A
    second run, queued after the first, would show the queue taking one at a time; the suite's time
    budget leaves that to tests/automation/test_automation.py (one run at a time in the instance) and the
    two-process tests of the warehouse pool on SQLite and PostgreSQL.)"""
    name, env = storage
    stop = signal.SIGTERM if name == "sqlite" else signal.SIGINT      # systemd's stop; Ctrl-C
    home = tmp_path / "home"
    assert subprocess.run([FOLLOWUP, "create-key", "--home", str(home)], capture_output=True).returncode == 0
    config = load_projects()
    project = next(p for p in config.projects if p.id == PROJECT)
    simulation = generate_deliveries(config, home / "inbox", project_ids=[PROJECT])
    last_month = max(f.reporting_month for f in simulation.files)
    held_back = {f.path: f.path.read_bytes() for f in simulation.files}
    for path in held_back:
        path.unlink()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    service = Service(home, port, env, tmp_path / "serve.out")
    try:
        service.wait_for(f"Användargränssnittet: {base}")
        programs = {name for pid in alive(service.seen) for name in program_names(pid)}
        assert {"dagster-webserver", "dagster-daemon"} <= programs and "dev" not in programs

        started = graphql(base, "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename "
                                "... on Sensor { sensorState { status } } } }", {"s": SENSOR})
        assert started["startSensor"]["sensorState"]["status"] == "RUNNING"
        deadline = time.monotonic() + 120
        while "SKIPPED" not in sensor_ticks(base):              # the first look: nothing in the inbox
            assert time.monotonic() < deadline, sensor_ticks(base)
            time.sleep(1)
        assert runs(base) == []
        for path, content in held_back.items():                # the municipality delivers
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        done = wait_for_runs(service, base, 1)
    finally:
        code = service.stop(stop) if service.process.poll() is None else service.process.returncode
    assert code == 0, service.output()
    assert f"Stoppad ({stop.name}); inga processer kvar." in service.output()
    assert service.seen and alive(service.seen) == set()
    with socket.socket() as probe:                        # the port is given back (a restart may listen again)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))

    # The run was started by the daemon for the sensor.
    run, = done
    assert {t["key"]: t["value"] for t in run["tags"]}.get("dagster/sensor_name") == "inbox_sensor"

    # The new month's KPIs are in the warehouse and the funder export, equal to the generator's truth.
    truth = expected_kpis(simulation, project, "ALL", last_month)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as db:
        built = dict(db.execute("select kpi, value from marts.kpi_values where project_id = ? and area = 'ALL' "
                                "and period = ? and breakdown = 'total'", [PROJECT, last_month]).fetchall())
    for kpi in ("participants", "new_participants", "active_participants", "exited", "moved_to_activity"):
        assert built[kpi] == truth[kpi], (kpi, built[kpi], truth[kpi])
    with (home / "exports" / PROJECT / "kpi.csv").open(encoding="utf-8", newline="") as handle:
        exported = [r for r in csv.DictReader(handle) if (r["area"], r["breakdown"]) == ("ALL", "total")]
    assert {r["period"] for r in exported} == {last_month}
    assert next(r for r in exported if r["kpi"] == "participants")["value"] == str(truth["participants"])


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path):
    home = tmp_path / "home"
    assert subprocess.run([FOLLOWUP, "create-key", "--home", str(home)], capture_output=True).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([FOLLOWUP, "serve", "--home", str(home), "--port", str(port)],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"porten {port} på 127.0.0.1 används redan" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (home / "logs" / "dagster-webserver.log").exists()


def test_a_schedule_the_code_location_cannot_load_is_refused_before_anything_starts(tmp_path):
    home = tmp_path / "home"
    assert subprocess.run([FOLLOWUP, "create-key", "--home", str(home)], capture_output=True).returncode == 0
    env = {**os.environ, "FOLLOWUP_SCHEDULE_CRON": "den elfte"}
    result = subprocess.run([FOLLOWUP, "serve", "--home", str(home), "--port", str(free_port())],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    assert "FOLLOWUP_SCHEDULE_CRON='den elfte' är inget giltigt cron-uttryck" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (home / "logs" / "dagster-webserver.log").exists()


def test_serve_without_a_key_says_how_to_create_one(tmp_path):
    home = tmp_path / "home"
    (home / "inbox").mkdir(parents=True)
    result = subprocess.run([FOLLOWUP, "serve", "--home", str(home), "--port", str(free_port())],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "create-key" in result.stderr and "Traceback" not in result.stderr


def daemon_running(tmp_path: Path) -> Service:
    """`followup serve --only daemon` on a new home, once the daemon has written its first heartbeat."""
    home = tmp_path / "home"
    assert subprocess.run([FOLLOWUP, "create-key", "--home", str(home)], capture_output=True).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    service = Service(home, free_port(), env, tmp_path / "serve.out", "--only", "daemon")
    service.wait_for("Dagster-demonen går")
    return service


def test_a_second_daemon_is_refused_and_a_process_that_ends_by_itself_stops_the_service(tmp_path):
    service = daemon_running(tmp_path)
    second = subprocess.run([FOLLOWUP, "serve", "--home", str(tmp_path / "home"), "--only", "daemon"],
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and "Dagster-demonen för" in second.stderr and "körs redan" in second.stderr
    assert f"PID {service.process.pid}" in second.stderr and "Traceback" not in second.stderr
    daemon = [pid for pid in descendants(service.process.pid)
              if b"dagster-daemon" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert daemon
    time.sleep(3)                                           # the daemon has started its code server
    service.seen |= descendants(service.process.pid)
    assert len(service.seen) >= 2
    os.kill(daemon[0], signal.SIGKILL)
    assert service.process.wait(timeout=90) == 1
    assert "dagster-daemon avslutades oväntat" in service.output() and "dagster-daemon.log" in service.output()
    assert alive(service.seen) == set()
