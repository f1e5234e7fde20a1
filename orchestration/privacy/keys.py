"""The pseudonymisation key: from FOLLOWUP_PSEUDONYM_KEY or $FOLLOWUP_HOME/secrets/pseudonym.key.

The key turns a personnummer into a pseudonym; whoever holds it can test guesses, so it never
lies in the repository, the warehouse, a log line or Dagster metadata.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ENV_VAR = "FOLLOWUP_PSEUDONYM_KEY"
MINIMUM_BYTES = 32


class PseudonymKeyError(RuntimeError):
    """No usable key; the message says how to create one (and never contains a key)."""


def key_path(home: Path) -> Path:
    return home / "secrets" / "pseudonym.key"


def load_key(home: Path) -> bytes:
    value = os.environ.get(ENV_VAR)
    source = f"miljövariabeln {ENV_VAR}"
    if not value:
        path = key_path(home)
        if not path.exists():
            raise PseudonymKeyError(
                f"Ingen pseudonymiseringsnyckel. Skapa en med `followup create-key --home {home}` "
                f"(skriver {path} med rättigheterna 0600) eller sätt {ENV_VAR} till minst "
                f"{MINIMUM_BYTES} slumpmässiga tecken. Utan nyckel kan inga personnummer pseudonymiseras."
            )
        value = path.read_text(encoding="utf-8").strip()
        source = str(path)
    key = value.encode("utf-8")
    if len(key) < MINIMUM_BYTES:
        raise PseudonymKeyError(
            f"Nyckeln i {source} är för kort: minst {MINIMUM_BYTES} byte krävs. "
            f"Skapa en ny med `followup create-key`."
        )
    return key


def create_key(home: Path) -> Path:
    """Write a new random key file with mode 0600; refuse to overwrite one (pseudonyms would change)."""
    path = key_path(home)
    if path.exists():
        raise PseudonymKeyError(
            f"{path} finns redan. En ny nyckel ger nya pseudonymer för alla personer; "
            "ta bort filen själv om det verkligen är meningen."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path
