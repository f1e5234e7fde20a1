"""The projects configuration: the bundled example loads; broken files are refused precisely."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestration.projects.config import BUNDLED_CONFIG, ConfigError, load_projects


def test_bundled_example_describes_the_five_seed_projects():
    config = load_projects()
    assert [p.id for p in config.projects] == ["uvas", "fokus_16_25", "ostra_sodertorn", "vaga_valja_vag", "harjedalen"]
    uvas = config.project("uvas")
    assert uvas.targets == {"participants": 350.0, "activity_share": 0.5}
    assert len(uvas.municipalities) == 8 and len(uvas.months()) == 37
    assert uvas.target_population == 1400


def _write(tmp_path: Path, mutate) -> Path:
    document = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    mutate(document["projects"][0])
    path = tmp_path / "projects.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p["municipalities"].append("9999"), "municipalities"),
        (lambda p: p["municipalities"].append("2380"), "municipalities"),
        (lambda p: p.update(period={"start": "2018-01-01", "end": "2017-01-01"}), "period.end"),
        (lambda p: p["targets"].update(activity_share=1.5), "targets.activity_share"),
        (lambda p: p.update(activity_outcomes=["SEMESTER"]), "activity_outcomes"),
        (lambda p: p.update(id="UVAS!"), "id"),
    ],
)
def test_a_broken_configuration_names_project_and_field(tmp_path, mutate, field):
    with pytest.raises(ConfigError) as raised:
        load_projects(_write(tmp_path, mutate))
    assert f"fält {field}" in str(raised.value)


def test_duplicate_project_id_is_refused(tmp_path):
    document = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    document["projects"][1]["id"] = "uvas"
    path = tmp_path / "projects.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="projekt 'uvas', fält id"):
        load_projects(path)
