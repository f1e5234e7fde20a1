"""`followup doctor` on the demo's data home, healthy and then broken one way at a time (on copies)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from orchestration.cli import main
from orchestration.lib.warehouse_copy import copy_path

CHECKS = ("nyckel", "konfiguration", "lager", "läsfil", "diskutrymme", "Dagster")


def doctor(capsys, *argv: str) -> tuple[int, dict[str, str]]:
    code = main(["doctor", *argv])
    lines = capsys.readouterr().out.splitlines()
    return code, {line[5:].split(":", 1)[0]: line for line in lines[:-1]} | {"": lines[-1]}


@pytest.fixture
def copy(demo_pipeline, tmp_path):
    """A copy of the demo's home to break (the demo's own is shared by other tests)."""
    target = tmp_path / "home"
    shutil.copytree(demo_pipeline.home.root, target, ignore=shutil.ignore_patterns("inbox", "archive"))
    return target


def test_the_demo_home_is_healthy(demo_pipeline, capsys):
    code, found = doctor(capsys, "--home", str(demo_pipeline.home.root))
    assert code == 0 and found[""] == "Allt håller."
    for check in CHECKS:
        assert found[check].startswith("OK   "), found[check]
    assert found["Dagster-demonen"].startswith("INFO")           # information, never a fault


def test_a_key_others_can_read_a_stale_serving_file_and_a_broken_configuration_are_each_named(copy, capsys,
                                                                                              tmp_path):
    (copy / "secrets" / "pseudonym.key").chmod(0o644)
    copy_path(copy).unlink()
    broken = tmp_path / "projects.yaml"
    broken.write_text(yaml.safe_dump({"projects": [{"id": "Fel id"}]}), encoding="utf-8")
    code, found = doctor(capsys, "--home", str(copy), "--config", str(broken))
    assert code == 1 and found[""] == "3 kontroller håller inte."
    assert found["nyckel"].startswith("FEL ") and "pseudonym.key" in found["nyckel"]
    assert found["läsfil"].startswith("FEL ") and "skrivs i slutet av varje lyckad körning" in found["läsfil"]
    assert found["konfiguration"].startswith("FEL ") and "Fel id" in found["konfiguration"]
    assert found["lager"].startswith("OK   ") and found["Dagster"].startswith("OK   ")


def test_a_home_that_does_not_exist_is_a_usage_error(tmp_path, capsys):
    assert main(["doctor", "--home", str(tmp_path / "finns-inte")]) == 2
    assert "finns inte" in capsys.readouterr().err
