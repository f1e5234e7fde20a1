"""Shared fixtures. Every test runs with telemetry off and its own data home."""

from __future__ import annotations

import os

import pytest

from orchestration.lib.telemetry import disable_telemetry

disable_telemetry()

TEST_KEY = "test-key-" + "k" * 40   # synthetic, only for tests; at least 32 bytes


@pytest.fixture
def pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("FOLLOWUP_PSEUDONYM_KEY", TEST_KEY)
    return TEST_KEY.encode()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """No test reads the developer's own data home or projects file by accident."""
    for name in ("FOLLOWUP_HOME", "FOLLOWUP_CONFIG", "FOLLOWUP_PSEUDONYM_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    os.makedirs(tmp_path / "dagster-home", exist_ok=True)
