"""`followup` as a user meets it: real subprocesses, real data home, exit codes and messages. The
pipeline's runs are the command in the test's own process (`cli_in_process`): a run as a real
process is tested in tests/lib/test_operational_faults.py and tests/end_to_end/test_hostile_inbox.py."""

from __future__ import annotations

import contextlib
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestration.generator import generate_deliveries
from orchestration.projects.config import BUNDLED_CONFIG, load_projects
from tests.bad_inputs.scenario import cli_in_process, cli_subprocess


def followup(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return cli_subprocess(*args, env=env)


def test_run_refuses_to_start_without_a_key_and_says_how_to_create_one(tmp_path):
    result = followup("run", "--home", str(tmp_path))
    assert result.returncode == 2
    assert "create-key" in result.stderr and "FOLLOWUP_PSEUDONYM_KEY" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_broken_configuration_is_a_usage_error_naming_project_and_field(tmp_path):
    document = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    document["projects"][2]["municipalities"] = ["0136", "9999"]
    config = tmp_path / "projects.yaml"
    config.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    result = followup("run", "--home", str(tmp_path), "--config", str(config))
    assert result.returncode == 2
    assert "projekt 'ostra_sodertorn', fält municipalities" in result.stderr
    assert "Traceback" not in result.stderr


def test_create_key_writes_a_private_key_file_once(tmp_path):
    result = followup("create-key", "--home", str(tmp_path))
    assert result.returncode == 0
    key = tmp_path / "secrets" / "pseudonym.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert len(key.read_text().strip()) >= 32
    assert key.read_text().strip() not in result.stdout
    again = followup("create-key", "--home", str(tmp_path))
    assert again.returncode == 2 and "finns redan" in again.stderr


def test_export_without_a_warehouse_is_a_usage_error(tmp_path):
    result = followup("export", "--home", str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "followup run" in result.stderr


READER_QUERY = ("select max(period), max_by(value, period) from marts.kpi_values "
                "where area = 'ALL' and kpi = 'participants' and breakdown = 'total'")
READER = f"""
import json, sys, duckdb
path = sys.argv[1]
db = duckdb.connect(path, read_only=True)
for command in sys.stdin:
    if command.strip() == "reopen":
        db.close()
        db = duckdb.connect(path, read_only=True)
    newest, participants = db.execute({READER_QUERY!r}).fetchone()
    print(json.dumps({{"newest": newest, "participants": participants}}), flush=True)
"""


@contextlib.contextmanager
def reader_holding(path: Path):
    """Another process with a read-only DuckDB connection to `path`; `ask("read" | "reopen")`."""
    process = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)

    def ask(command: str) -> dict:
        process.stdin.write(command + "\n")
        process.stdin.flush()
        return json.loads(process.stdout.readline())

    try:
        yield ask
    finally:
        process.stdin.close()
        process.wait(timeout=30)


@pytest.mark.slow
def test_run_status_and_export_on_one_small_project(tmp_path):
    home = tmp_path / "home"
    assert followup("create-key", "--home", str(home)).returncode == 0
    simulation = generate_deliveries(load_projects(), home / "inbox", project_ids=["vaga_valja_vag"])
    (home / "inbox" / "vaga_valja_vag" / "0482" / "deltagare.csv").write_text("x", encoding="utf-8")

    last_month = [f for f in simulation.files if f.reporting_month == "2009-12"]
    held_back = {f.path: f.path.read_bytes() for f in last_month}       # December comes after a reader opened the file
    for path in held_back:
        path.unlink()
    result = cli_in_process("run", "--home", str(home), "--project", "vaga_valja_vag")   # the command, in this process
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("vaga_valja_vag")]
    assert len(lines) == len(simulation.files) - len(last_month)
    assert "MANAD_SAKNAS" not in result.stdout and "deltagare.csv" in result.stdout  # reported, not ingested
    assert "Running with dbt" not in result.stdout  # the narration goes to the log file

    # A BI tool holds the serving file open, read-only, across the whole next run: the run is not
    # blocked, the open connection keeps seeing the November it opened, a new one sees December.
    serving = home / "serving" / "followup.duckdb"
    with reader_holding(serving) as ask:
        before = ask("read")
        assert before["newest"] == "2009-11" and before["participants"] > 0
        for path, content in held_back.items():
            path.write_bytes(content)
        again = cli_in_process("run", "--home", str(home), "--project", "vaga_valja_vag")   # the command, in this process
        assert again.returncode == 0, again.stderr
        assert sum(1 for line in again.stdout.splitlines() if line.startswith("vaga_valja_vag")) == len(last_month)
        assert ask("read") == before                                  # no half-built state, no change under it
        after = ask("reopen")
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as db:
        in_warehouse = db.execute(READER_QUERY).fetchone()
    assert (after["newest"], after["participants"]) == ("2009-12", in_warehouse[1]) and in_warehouse[0] == "2009-12"

    status = followup("status", "--home", str(home), "--project", "vaga_valja_vag")
    assert status.returncode == 0
    assert "0482 Flen" in status.stdout and "✓" in status.stdout

    out = tmp_path / "out"
    exported = followup("export", "--home", str(home), "--out", str(out), "--project", "vaga_valja_vag")
    assert exported.returncode == 0, exported.stderr
    # the run wrote these figures' files already: copied byte for byte, not worked out again
    assert "kopierade från körningens export" in exported.stdout
    for name in ("kpi.csv", "kpi.xlsx"):
        assert (out / "vaga_valja_vag" / name).read_bytes() == (home / "exports" / "vaga_valja_vag" / name).read_bytes()
    with (out / "vaga_valja_vag" / "kpi.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["period"] for r in rows} == {"2009-12"}
    participants = next(r for r in rows if (r["area"], r["kpi"], r["breakdown"]) == ("ALL", "participants", "total"))
    report = (home / "exports" / "vaga_valja_vag" / "rapport.html").read_text(encoding="utf-8")
    assert f"<td>{participants['value']}</td>" in report and "data:image/png;base64," in report
    internal = followup("export", "--home", str(home), "--out", str(out), "--unsuppressed", "--period", "2009-10")
    assert internal.returncode == 0
    with (out / "vaga_valja_vag" / "kpi_internal.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["period"] for r in rows} == {"2009-10"} and {r["suppressed"] for r in rows} == {"false"}
