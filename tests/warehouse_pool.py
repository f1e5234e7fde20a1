"""Two processes that run a job on the `warehouse` pool at the same moment: their writes never
overlap. Shared by the SQLite test (tests/automation/test_automation.py) and the PostgreSQL one
(tests/lib/test_dagster_postgres.py) of Dagster's storage."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import dagster as dg

    log = Path(sys.argv[1])

    def note(kind):
        with log.open("a") as handle:
            handle.write(f"{kind} {time.time()}\\n")

    @dg.asset(pool="warehouse")
    def write_warehouse():
        note("start")
        time.sleep(3)
        note("end")

    # The executor of the followup code location: runs started by `followup run`, by the UI and by
    # the daemon (schedule, sensor) all execute their steps in process against the same instance.
    job = dg.define_asset_job("writer", executor_def=dg.in_process_executor)
    defs = dg.Definitions(assets=[write_warehouse], jobs=[job])
    note("ready")
    while log.read_text().count("ready") < 2:        # both processes start their runs together
        time.sleep(0.05)
    with dg.DagsterInstance.get() as instance:
        assert defs.resolve_job_def("writer").execute_in_process(instance=instance).success
""")


def writes_one_at_a_time(tmp_path: Path, env: dict) -> None:
    """Two processes run WRITER at once in `env`: both get ready, then their writes never overlap."""
    script, log = tmp_path / "writer.py", tmp_path / "writes.log"
    script.write_text(WRITER, encoding="utf-8")
    processes = [subprocess.Popen([sys.executable, str(script), str(log)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=240)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    events = sorted((float(t), kind) for kind, t in (line.split() for line in log.read_text().splitlines()))
    assert [kind for _, kind in events] == ["ready", "ready", "start", "end", "start", "end"], (events, outputs)
