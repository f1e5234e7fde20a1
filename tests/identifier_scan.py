"""Look for generated direct identifiers in text, in any written form.

Token-based, so a scan over a whole warehouse takes seconds: digit runs (personnummer and phone
numbers with or without separators) are compared digit-only; words (names, e-mail addresses,
street names) are compared case-insensitively.

`data_home_text` gathers everything a run leaves outside the raw files: every warehouse table,
reports/, exports/, logs/, and Dagster's storage (DAGSTER_HOME = <home>/dagster) both as bytes
and table by table through SQLite, so an event record that SQLite split over overflow pages is
still read whole. Compute logs (dagster/storage/<run>/compute_logs/) are files in that folder.
"""

from __future__ import annotations

import re
import sqlite3
import zipfile
from pathlib import Path

import duckdb

_DIGIT_RUN = re.compile(r"\d[\d \-+]{6,18}\d")
_WORD = re.compile(r"[^\s,;\"'()<>|\t]+")
_BINARY = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]+")
_BASE64 = re.compile(r"(data:image/png;base64,)?[A-Za-z0-9+/=\\]+")
# Dagster's run and snapshot ids (UUIDs, 40 hex digits): their letters are a-f only and can spell a
# name made of those letters ('ebbe' was once found in a run id's second group).
_HEX_ID = re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                     r"|[0-9a-f]{16,})(?![0-9A-Za-z])")


def identifier_tokens(identifiers: set[str]) -> tuple[set[str], set[str]]:
    """(digit strings, lower-case words) that betray an identifier."""
    digits: set[str] = set()
    words: set[str] = set()
    for identifier in identifiers:
        only_digits = "".join(ch for ch in identifier if ch.isdigit())
        if len(only_digits) >= 7:
            digits.add(only_digits)
            if len(only_digits) == 12:
                digits.add(only_digits[2:])   # the 10-digit form of a 12-digit personnummer
        if "@" in identifier:
            words.add(identifier.lower())
            identifier = identifier.split("@")[0]  # the local part names the person; the domain does not
        for word in re.findall(r"[^\W\d_]{4,}", identifier):
            words.add(word.lower())           # first names, surnames, street names
    return digits, words


def find_identifiers(text: str, digits: set[str], words: set[str]) -> set[str]:
    text = _BINARY.sub(" ", text)  # bytes of a binary file (SQLite pages) separate tokens
    text = _HEX_ID.sub(" ", text)
    found: set[str] = set()
    for run in _DIGIT_RUN.findall(text):
        only = re.sub(r"\D", "", run)
        for length in (7, 8, 9, 10, 11, 12):
            for start in range(0, len(only) - length + 1):
                if only[start:start + length] in digits:
                    found.add(only[start:start + length])
    for token in _WORD.findall(text):
        if _looks_like_base64(token):
            continue  # a piece of an embedded image (data:image/png;base64,…): random letters, not words
        token = token.strip(".:").lower()
        if token in words:
            found.add(token)
        for part in re.findall(r"[^\W\d_]{4,}", token):
            if part in words:
                found.add(part)
    return found


def _looks_like_base64(token: str) -> bool:
    return (len(token) >= 20 and bool(_BASE64.fullmatch(token)) and any(c.isdigit() for c in token)
            and any(c.isupper() for c in token) and any(c.islower() for c in token))


def warehouse_text(path: Path) -> dict[str, str]:
    """Every table of every schema as text, one entry per table."""
    tables: dict[str, str] = {}
    connection = duckdb.connect(str(path), read_only=True)
    try:
        names = connection.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = current_database()"
        ).fetchall()
        for schema, table in names:
            rows = connection.execute(f'select * from "{schema}"."{table}"').fetchall()
            tables[f"{schema}.{table}"] = "\n".join("|".join("" if v is None else str(v) for v in row) for row in rows)
    finally:
        connection.close()
    return tables


def files_text(root: Path) -> dict[str, str]:
    """Every file below root as text (binary files decoded leniently, so strings inside show; a
    zip container such as kpi.xlsx member by member, since its text is compressed)."""
    texts: dict[str, str] = {}
    for path in (p for p in root.rglob("*") if p.is_file()):
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    texts[f"{path}!{member}"] = archive.read(member).decode("utf-8", errors="replace")
        else:
            texts[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    return texts


def sqlite_text(path: Path) -> dict[str, str]:
    """Every table of a SQLite database (Dagster's run, event log and schedule storage) as text."""
    tables: dict[str, str] = {}
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [n for (n,) in connection.execute("select name from sqlite_master where type = 'table'")]
        for table in names:
            rows = connection.execute(f'select * from "{table}"').fetchall()
            tables[f"{path}:{table}"] = "\n".join("|".join(_sqlite_cell(v) for v in row) for row in rows)
    finally:
        connection.close()
    return tables


def _sqlite_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def dagster_text(dagster_home: Path) -> dict[str, str]:
    """DAGSTER_HOME: every file (compute logs, dagster.yaml) and every SQLite table (event log)."""
    texts = files_text(dagster_home)
    for database in sorted(dagster_home.rglob("*.db")):
        texts.update(sqlite_text(database))
    return texts


def compute_log_files(dagster_home: Path) -> list[Path]:
    return sorted(p for p in dagster_home.glob("storage/*/compute_logs/*") if p.is_file())


def data_home_text(home) -> dict[str, str]:
    """What a run leaves in a data home apart from the raw files (inbox/, archive/) and the key."""
    texts = warehouse_text(home.warehouse)
    for folder in (home.reports, home.exports, home.root / "logs"):
        if folder.exists():
            texts.update(files_text(folder))
    texts.update(dagster_text(home.dagster))
    return texts
