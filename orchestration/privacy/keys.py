"""The pseudonymisation key: from FOLLOWUP_PSEUDONYM_KEY or $FOLLOWUP_HOME/secrets/pseudonym.key.

The key turns a personnummer into a pseudonym; whoever holds it can test guesses, so it never
lies in the repository, the warehouse, a log line or Dagster metadata.

A data home remembers which key built it: `key-fingerprint.json` holds a keyed hash (HMAC-SHA256
of a fixed label and a random salt, under the key) that says nothing of the key but tells
whether a key is the same. A run, export or sensor tick with another key is refused before
anything is read: its pseudonyms would not match the warehouse's, and every person would be
counted twice. A new key is taken on only through `followup rotate-key` (privacy/rotation.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path

ENV_VAR = "FOLLOWUP_PSEUDONYM_KEY"
NEW_ENV_VAR = "FOLLOWUP_NEW_PSEUDONYM_KEY"      # the new key during `followup rotate-key` (rotation.py)
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


# --- which key built this home ------------------------------------------------------------------

FINGERPRINT_FILE = "key-fingerprint.json"
_FINGERPRINT_LABEL = b"followup/key-fingerprint/v1|"


class KeyMismatchError(PseudonymKeyError):
    """The key is not the one that built the data home."""


def fingerprint_path(home: Path) -> Path:
    return home / FINGERPRINT_FILE


def key_fingerprint(key: bytes, salt: str) -> str:
    return hmac.new(key, _FINGERPRINT_LABEL + salt.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def recorded_fingerprint(home: Path) -> dict | None:
    """The fingerprint the home recorded, or None for a home no run has used yet."""
    path = fingerprint_path(home)
    if not path.exists():
        return None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(recorded.get("salt"), str) or not isinstance(recorded.get("fingerprint"), str):
            raise ValueError
    except (ValueError, AttributeError):
        raise PseudonymKeyError(
            f"{path} är skadad och kan inte läsas. Den talar om vilken nyckel datahemmet byggdes med; "
            "återställ den från säkerhetskopian (den innehåller ingen hemlighet).") from None
    return recorded


def key_matches(home: Path, key: bytes) -> bool | None:
    """True or False when the home has a fingerprint, None when it has none yet."""
    recorded = recorded_fingerprint(home)
    if recorded is None:
        return None
    return hmac.compare_digest(key_fingerprint(key, recorded["salt"]), recorded["fingerprint"])


def check_key(home: Path, key: bytes) -> None:
    """Refuse a key other than the one that built the home (before anything is read)."""
    if key_matches(home, key) is False:
        recorded = recorded_fingerprint(home) or {}
        raise KeyMismatchError(
            f"Fel pseudonymiseringsnyckel för datahemmet {home}: nyckeln är inte den som lagret byggdes med "
            f"(den användes första gången {recorded.get('recorded_at', 'okänt när')}). Med en annan nyckel får "
            "samma person en ny pseudonym och räknas två gånger, så inget läses eller skrivs. Kontrollera "
            f"{ENV_VAR} och {key_path(home)}; ska nyckeln bytas, gör det med `followup rotate-key --home {home}`.")


def record_fingerprint(home: Path, key: bytes) -> None:
    """Record the key that builds this home; once (a later key is checked against it)."""
    path = fingerprint_path(home)
    if path.exists():
        return
    write_fingerprint(home, key)


def write_fingerprint(home: Path, key: bytes) -> None:
    """Write the fingerprint of `key` (atomically: a crash leaves the old one or the new one)."""
    salt = secrets.token_hex(16)
    document = {"fingerprint": key_fingerprint(key, salt), "salt": salt, "algorithm": "HMAC-SHA256",
                "recorded_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()}
    path = fingerprint_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def key_file_warning(home: Path) -> str | None:
    """A warning when the key file (or its folder) can be read by others than its owner."""
    if os.environ.get(ENV_VAR):
        return None
    path = key_path(home)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        folder_mode = stat.S_IMODE(path.parent.stat().st_mode)
    except OSError:
        return None
    if mode & 0o077:
        return (f"Varning: nyckelfilen {path} kan läsas av andra än ägaren (rättigheter {mode:04o}, mappen "
                f"{folder_mode:04o}). Den som har nyckeln kan pröva personnummer mot pseudonymerna. "
                f"Rätta med: chmod 600 {path} && chmod 700 {path.parent}")
    return None


def verified_key(home: Path) -> bytes:
    """The key, checked against the one that built the home; recorded if the home has none yet."""
    key = load_key(home)
    check_key(home, key)
    record_fingerprint(home, key)
    return key
