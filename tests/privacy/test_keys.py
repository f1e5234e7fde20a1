"""The pseudonymisation key: created private, required by `run`, never shown, never committed.

The scans of a whole run's logs, Dagster event log and compute logs for the key are in
tests/privacy/test_identifiers.py (they share the session's one demo run).
"""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest

from orchestration import cli
from orchestration.privacy.keys import ENV_VAR, PseudonymKeyError, create_key, key_path, load_key
from orchestration.privacy.pseudonymise import Pseudonymiser

REPO = Path(__file__).resolve().parents[2]


def test_run_refuses_to_start_without_a_key_and_touches_nothing(tmp_path, capsys):
    home = tmp_path / "home"
    (home / "inbox" / "uvas" / "2361").mkdir(parents=True)
    delivery = home / "inbox" / "uvas" / "2361" / "2018-03.csv"
    delivery.write_text("personnummer;startdatum;fas\n", encoding="utf-8")
    assert cli.main(["run", "--home", str(home)]) == 2
    message = capsys.readouterr().err
    assert f"followup create-key --home {home}" in message
    assert ENV_VAR in message and "0600" in message
    assert not (home / "warehouse.duckdb").exists() and not (home / "archive").exists()
    assert delivery.exists() and not (home / "dagster").exists()


def test_create_key_writes_a_random_private_key_inside_the_data_home(tmp_path, capsys):
    home = tmp_path / "home"
    assert cli.main(["create-key", "--home", str(home)]) == 0
    path = key_path(home)
    assert path == home / "secrets" / "pseudonym.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    key = path.read_text(encoding="utf-8").strip()
    assert len(key) == 64 and int(key, 16) >= 0           # 32 random bytes, hex
    out = capsys.readouterr()
    assert key not in out.out + out.err and str(path) in out.out
    other = tmp_path / "other"
    create_key(other)
    assert key_path(other).read_text(encoding="utf-8").strip() != key


def test_create_key_never_replaces_an_existing_key(tmp_path, capsys):
    create_key(tmp_path)
    before = key_path(tmp_path).read_bytes()
    assert cli.main(["create-key", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "finns redan" in err and "nya pseudonymer" in err
    assert before.decode().strip() not in err
    assert key_path(tmp_path).read_bytes() == before


def test_create_key_honours_followup_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path / "from-env"))
    assert cli.main(["create-key"]) == 0
    assert key_path(tmp_path / "from-env").exists()


def test_run_accepts_the_key_file_and_the_environment_variable_takes_precedence(tmp_path, monkeypatch):
    create_key(tmp_path)
    from_file = key_path(tmp_path).read_text(encoding="utf-8").strip().encode()
    assert load_key(tmp_path) == from_file
    monkeypatch.setenv(ENV_VAR, "e" * 40)
    assert load_key(tmp_path) == b"e" * 40


@pytest.mark.parametrize("source", ["environment", "file"])
def test_a_short_key_is_refused_without_repeating_it(tmp_path, monkeypatch, source):
    short = "kort-nyckel-7Hq2"
    if source == "environment":
        monkeypatch.setenv(ENV_VAR, short)
    else:
        key_path(tmp_path).parent.mkdir(parents=True)
        key_path(tmp_path).write_text(short + "\n", encoding="utf-8")
    with pytest.raises(PseudonymKeyError) as refused:
        load_key(tmp_path)
    assert "minst 32 byte" in str(refused.value) and "create-key" in str(refused.value)
    assert short not in str(refused.value) and "7Hq2" not in str(refused.value)


def test_a_short_key_stops_run_with_a_usage_error_that_does_not_show_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, "abc123-short")
    assert cli.main(["run", "--home", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "abc123" not in captured.err + captured.out


def test_the_pseudonymiser_does_not_show_its_key():
    key = b"test-key-" + b"z" * 40
    pseudonymiser = Pseudonymiser(key)
    shown = repr(vars(pseudonymiser)) + repr(pseudonymiser) + str(pseudonymiser)
    assert "zzzz" not in shown


def test_the_repository_holds_no_key_and_ignores_every_data_home_secret():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert tracked, "run from a git checkout"
    assert not [p for p in tracked if p.endswith(".key") or "/secrets/" in f"/{p}"]
    for path in (".followup/secrets/pseudonym.key", ".followup-demo/secrets/pseudonym.key", "any/place/pseudonym.key"):
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO)
        assert ignored.returncode == 0, f"{path} would not be ignored by git"


def test_no_tracked_file_holds_anything_shaped_like_a_key_file():
    """`create-key` writes 64 hex digits on a line of their own; a key in git history cannot be
    taken back, so no tracked file may contain such a line."""
    shape = re.compile(rb"^\s*[0-9a-fA-F]{64}\s*$", re.MULTILINE)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    names = [n for n in tracked.decode().split("\0") if n and (REPO / n).is_file()]
    assert len(names) > 50
    assert [n for n in names if shape.search((REPO / n).read_bytes())] == []
