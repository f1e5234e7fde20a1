"""`followup backup` / `followup restore` on a copy of the demo's data home: everything but the key,
checked by sha256 before anything is restored; the restored home exports the same kpi.csv byte for
byte and processes the next delivery."""

from __future__ import annotations

import json
import shutil

import pytest

from orchestration.cli import main
from orchestration.privacy.keys import key_path

pytestmark = pytest.mark.slow


@pytest.fixture
def home(demo_pipeline, tmp_path):
    """A copy of the demo's home (the original is shared by other tests)."""
    target = tmp_path / "home"
    shutil.copytree(demo_pipeline.home.root, target)
    return target


def test_back_up_delete_restore_export_the_same_and_take_the_next_delivery(home, tmp_path, capsys):
    key = key_path(home).read_bytes()
    before = tmp_path / "before"
    assert main(["export", "--home", str(home), "--out", str(before)]) == 0
    assert main(["backup", "--home", str(home), "--to", str(tmp_path / "backup")]) == 0
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text(encoding="utf-8"))
    assert "secrets/pseudonym.key" not in manifest["files"] and not (tmp_path / "backup" / "secrets").exists()
    assert {"warehouse.duckdb", "key-fingerprint.json", "serving/followup.duckdb"} <= set(manifest["files"])
    assert any(name.startswith("archive/") for name in manifest["files"])

    shutil.rmtree(home)
    restored = tmp_path / "restored"
    assert main(["restore", "--from", str(tmp_path / "backup"), "--home", str(restored)]) == 0
    assert "Lägg tillbaka nyckeln" in capsys.readouterr().out
    after = tmp_path / "after"
    assert main(["export", "--home", str(restored), "--out", str(after)]) == 0
    for csv in before.glob("*/kpi.csv"):
        assert (after / csv.parent.name / "kpi.csv").read_bytes() == csv.read_bytes(), csv

    key_path(restored).parent.mkdir(mode=0o700, exist_ok=True)
    key_path(restored).write_bytes(key)
    key_path(restored).chmod(0o600)
    month = next(p for p in sorted((restored / "inbox" / "vaga_valja_vag" / "0482").iterdir()) if p.suffix == ".csv")
    corrected = month.with_name(f"{month.stem} rättad.csv")
    corrected.write_bytes(month.read_bytes() + b"\r\n")          # new bytes, the same rows: a resubmission
    capsys.readouterr()
    assert main(["run", "--home", str(restored), "--project", "vaga_valja_vag"]) == 0
    out = capsys.readouterr().out
    processed = [line.split()[:3] for line in out.splitlines() if line.endswith("Godkänd; gäller")]
    assert processed == [["vaga_valja_vag", "0482", month.name[:7]]], out        # the new file, now in force


def test_a_backup_with_a_changed_file_is_refused_and_nothing_is_restored(home, tmp_path, capsys):
    assert main(["backup", "--home", str(home), "--to", str(tmp_path / "backup")]) == 0
    archived = next(p for p in (tmp_path / "backup" / "archive").rglob("*") if p.is_file())
    archived.write_bytes(archived.read_bytes() + b"x")
    restored = tmp_path / "restored"
    assert main(["restore", "--from", str(tmp_path / "backup"), "--home", str(restored)]) == 2
    error = capsys.readouterr().err
    assert "kontrollsumman stämmer inte" in error and archived.relative_to(tmp_path / "backup").as_posix() in error
    assert not restored.exists() or not any(restored.iterdir())
    assert main(["backup", "--home", str(home), "--to", str(tmp_path / "backup")]) == 2      # not over a backup
