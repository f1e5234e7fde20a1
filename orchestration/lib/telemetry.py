"""The product makes no network calls at run time: switch off every tool's telemetry."""

from __future__ import annotations

import os

_SETTINGS = {
    "DAGSTER_DISABLE_TELEMETRY": "true",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
}

DAGSTER_YAML = """\
# Written by followup. Telemetry off: the product makes no network calls.
telemetry:
  enabled: false
# DuckDB allows one writing process: at most one run at a time, one warehouse step at a time.
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
"""


def disable_telemetry() -> None:
    for name, value in _SETTINGS.items():
        os.environ.setdefault(name, value)


def write_dagster_yaml(dagster_home) -> None:
    """A dagster.yaml for the data home's DAGSTER_HOME (kept if the user wrote their own)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / "dagster.yaml"
    if path.exists():
        return
    # Written beside and renamed into place: a full disk leaves no file rather than an empty one
    # (an empty dagster.yaml would run without the one-writer settings above).
    temporary = path.with_name(f".dagster.yaml.{os.getpid()}.tmp")
    try:
        temporary.write_text(DAGSTER_YAML, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
