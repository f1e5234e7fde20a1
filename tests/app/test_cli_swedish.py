"""`followup`'s command line speaks Swedish: help, headings and argparse's own errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.cli import _parser, main

REPO = Path(__file__).resolve().parents[2]
# argparse's English words, none of which a coordinator should meet.
ENGLISH = ("usage:", "options:", "positional arguments", "show this help message", "error:",
           "unrecognized arguments", "the following arguments are required", "invalid choice",
           "expected one argument", "invalid float value", "invalid int value")
COMMANDS = sorted(_parser()._subparsers._group_actions[0].choices)


def english_in(text: str) -> list[str]:
    return [word for word in ENGLISH if word in text]


@pytest.mark.parametrize("argv", [["--help"], *[[command, "--help"] for command in COMMANDS]])
def test_every_help_text_is_swedish(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("användning: followup") and "visa den här hjälpen och avsluta" in out
    assert english_in(out) == []


@pytest.mark.parametrize("argv, swedish", [
    (["run", "--bogus"], "okända argument: --bogus"),
    (["bogus"], "ogiltigt val 'bogus'"),
    (["status", "--wait", "x"], "argument --wait: 'x' är inget antal minuter"),
    (["purge-raw", "--older-than", "x"], "argument --older-than: ogiltigt värde 'x'"),
    (["export"], "de här argumenten behövs: --out"),
    (["status", "--home"], "argument --home: ett värde behövs"),
])
def test_argparse_errors_are_swedish_and_exit_2(argv, swedish, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert swedish in err and ": fel: " in err and english_in(err) == []


def test_the_installed_command_says_it_in_swedish_too():
    result = subprocess.run([sys.executable, "-m", "orchestration.cli", "status", "--frobnicate"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("användning: followup") and "followup: fel: okända argument: --frobnicate" in result.stderr
