"""Child processes of the project's own code (privacy/children.py): neither pseudonymisation key
in their environment, what the caller adds there, and nothing left once stopped."""

from __future__ import annotations

from orchestration.privacy.children import start_child, stop_child
from orchestration.privacy.reading import READY


def test_a_child_gets_neither_key_but_the_rest_and_what_the_caller_adds(monkeypatch) -> None:
    monkeypatch.setenv("FOLLOWUP_PSEUDONYM_KEY", "nyckeln-stannar-här")
    monkeypatch.setenv("FOLLOWUP_NEW_PSEUDONYM_KEY", "den-nya-också")
    process, connection = start_child("orchestration.privacy.reading", "serve_descriptor", environment={"EXTRA": "ja"})
    try:
        assert connection.poll(60) and connection.recv() == READY
        environment = dict(entry.split(b"=", 1) for entry in open(f"/proc/{process.pid}/environ", "rb").read().split(b"\0")
                           if b"=" in entry)
        assert b"FOLLOWUP_PSEUDONYM_KEY" not in environment and b"FOLLOWUP_NEW_PSEUDONYM_KEY" not in environment
        assert environment[b"EXTRA"] == b"ja" and b"PATH" in environment
    finally:
        stop_child(process, connection)
    assert process.poll() is not None and connection.closed
