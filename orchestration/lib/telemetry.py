"""The product makes no network calls at run time: switch off every tool's telemetry (Dagster's
own switch is also in the data home's dagster.yaml, lib/dagster_instance.py)."""

from __future__ import annotations

import os

_SETTINGS = {
    "DAGSTER_DISABLE_TELEMETRY": "true",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
}


def disable_telemetry() -> None:
    for name, value in _SETTINGS.items():
        os.environ.setdefault(name, value)
