"""The instance's SQLite files are written with synchronous=NORMAL (lib/dagster_instance.py):
on Dagster's own connections to a real instance, and only there."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap


def test_a_runs_dagster_connections_commit_without_waiting_for_the_disk(tmp_path) -> None:
    """In a fresh process (the hook is process-wide): before the hook Dagster's connections use
    SQLite's default (FULL, 2), after it NORMAL (1); a plain sqlite3 connection is not touched."""
    script = textwrap.dedent(f"""
        import sqlite3
        from dagster import DagsterInstance
        from orchestration.lib.dagster_instance import quick_sqlite_commits, write_dagster_yaml

        def levels(instance):
            with instance.run_storage.connect() as runs, instance.event_log_storage.index_connection() as events:
                return [c.exec_driver_sql("PRAGMA synchronous").scalar() for c in (runs, events)]

        write_dagster_yaml({str(tmp_path)!r}, postgres=False)
        with DagsterInstance.from_config({str(tmp_path)!r}) as instance:
            print(levels(instance))
            quick_sqlite_commits()
            quick_sqlite_commits()                  # once is enough; twice changes nothing
            print(levels(instance))
        print(sqlite3.connect({str(tmp_path / "plain.db")!r}).execute("PRAGMA synchronous").fetchone()[0])
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.split("\n")[:3] == ["[2, 2]", "[1, 1]", "2"], completed.stdout + completed.stderr
    journal = sqlite3.connect(tmp_path / "history" / "runs.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"                   # NORMAL is safe against corruption in WAL mode only
