"""dbt in the run's own process (dbt's `dbtRunner`), the project parsed once per process.

A `dbt build` in a subprocess spent more on starting up (importing dbt, reading its saved parse,
validating the project, writing manifest.json twice) than on building the models (BENCHMARKS.md,
"dbt in the run's process"). Here dbt is imported and the project parsed once per process; every
build reuses that parse. The parse is made with the warehouse named by the same relative path as
the parse saved at install (`dbt/target`), so it is a partial parse from that one; the build then
names the data home's warehouse by its absolute path: a relation's database is the file's stem,
`warehouse` in every data home, so the parsed SQL fits them all.

dbt-duckdb closes its DuckDB database when dbt releases its last connection at the end of an
invocation; `build` makes sure of it, so the warehouse is free for the next step and for other
processes as soon as dbt returns. One invocation at a time per process: dbt's flags and adapters
are global to it.
"""

from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.lib.home import WAREHOUSE_FILE
from orchestration.lib.warehouse import MEMORY_ENV, memory_limit

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
INSTALLED_PARSE = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"   # made by `make`/ensure_manifest
PARTIAL_PARSE = "partial_parse.msgpack"
WAREHOUSE_ENV = "FOLLOWUP_WAREHOUSE"          # read by dbt/profiles.yml
# The events a node's result comes in (dagster-dbt turns them into materialisations and checks).
RESULT_EVENTS = frozenset({"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"})

# dbt.log at info, as on the screen: at debug it also logs every statement it runs (14 000 lines
# for a UVAS-size build, ~0.3 s of a 3 s build); the compiled SQL stays in target/compiled.
BUILD_LOG_ARGS = ("--log-level-file", "info")

_lock = threading.Lock()
_parsed: dict[str, Any] = {}


@dataclass
class NodeResult:
    unique_id: str
    status: str                  # dbt's: success, error, fail, warn, pass, skipped
    failures: int | None
    compiled_code: str | None
    message: str | None


@dataclass
class DbtBuild:
    """What one invocation did: each node's result, dbt's result events (as its JSON log carries
    them), and dbt's own error when it failed before or outside the nodes (a locked file, a full disk)."""

    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    error: BaseException | None = None


def common_args(target: Path) -> list[str]:
    return ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(target), "--log-path", str(target),
            "--no-send-anonymous-usage-stats", "--no-use-colors"]


@contextmanager
def _environment(**values: str):
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def parsed_project(target: Path):
    """The parsed project (dbt's Manifest), parsed in this process the first time it is asked
    for: a partial parse from the newest saved parse of an earlier run beside `target` (it also
    fits a home whose connection settings differ from the defaults, FOLLOWUP_DUCKDB_MEMORY), or
    from the one saved at install. dbt still re-parses every changed file."""
    if "manifest" in _parsed:
        return _parsed["manifest"]
    from dbt.cli.main import dbtRunner

    target.mkdir(parents=True, exist_ok=True)
    if not (target / PARTIAL_PARSE).exists():
        earlier = [p / PARTIAL_PARSE for p in target.parent.iterdir() if p != target and (p / PARTIAL_PARSE).exists()]
        start = max(earlier, key=lambda p: p.stat().st_mtime) if earlier else INSTALLED_PARSE
        if start.exists():
            shutil.copyfile(start, target / PARTIAL_PARSE)
    # The warehouse as the install-time parse names it (the parse's validity depends on every
    # connection setting); parsing opens no connection.
    with _environment(**{WAREHOUSE_ENV: WAREHOUSE_FILE}):
        result = dbtRunner().invoke(["parse", "--quiet", "--no-write-json", *common_args(target)])
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")
    # A node keeps the project root of the parse that first read it (the checkout's directory at
    # install, or "." for a parse made by hand inside dbt/), and dbt-duckdb opens a seed's CSV at
    # that root: it is this project's directory, wherever the checkout or the run's cwd now is.
    for node in result.result.nodes.values():
        node.root_path = str(DBT_PROJECT_DIR)
    _parsed["manifest"] = result.result
    return result.result


def build(args: list[str], warehouse: Path, target: Path) -> DbtBuild:
    """`dbt <args>` (e.g. build with a selection) on `warehouse`, its compiled SQL and log in `target`."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    events: list[dict] = []

    def collect(event) -> None:
        if event.info.name in RESULT_EVENTS:
            events.append(msg_to_dict(event))

    with _lock:
        manifest = parsed_project(target)
        try:
            # DuckDB's ceiling in dbt is the pipeline's (lib/warehouse.memory_limit, its one owner).
            with _environment(**{WAREHOUSE_ENV: str(Path(warehouse).resolve()), MEMORY_ENV: memory_limit()}):
                result = dbtRunner(manifest=manifest, callbacks=[collect]).invoke(
                    [*args, "--no-write-json", *BUILD_LOG_ARGS, *common_args(target)])
        finally:
            _close_duckdb()
    if result.exception is not None and not isinstance(result.exception, Exception):
        raise result.exception          # Ctrl-C or a stop of the run, which dbt handed back: not dbt's failure
    _write_results(result.result, target)
    nodes = [NodeResult(r.node.unique_id, str(r.status), r.failures, getattr(r.node, "compiled_code", None), r.message)
             for r in getattr(result.result, "results", None) or []]
    return DbtBuild(bool(result.success), nodes, events, result.exception)


def _write_results(results, target: Path) -> None:
    """run_results.json, as dbt writes it, for whoever looks into a run (manifest.json is not
    written again: it is the parse, the same every run)."""
    if hasattr(results, "write"):
        try:
            results.write(str(target / "run_results.json"))
        except OSError:
            pass                # a full disk: the run's own outcome says so


def _close_duckdb() -> None:
    """dbt-duckdb keeps its database in a class attribute; close it so nothing holds the file."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        environment, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if environment is not None and getattr(environment, "conn", None) is not None:
        environment.close()
