"""Find deliveries in the inbox, route them to project, municipality and month, archive them.

Files are left in the inbox (the municipality's copy); what we keep is the archive copy, named by
its sha256, so a byte-identical file is recognised and never processed twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestration.projects.config import ProjectsConfig

_MONTH = re.compile(r"(?<!\d)(\d{4})-(0[1-9]|1[0-2])(?!\d)")


@dataclass(frozen=True)
class InboxFile:
    path: Path
    relative: str
    sha256: str
    size_bytes: int
    received_at: dt.datetime   # modification time, UTC


@dataclass(frozen=True)
class RoutedFile:
    file: InboxFile
    delivery_id: str
    project_id: str
    kommunkod: str
    reporting_month: str


@dataclass(frozen=True)
class UnroutedFile:
    file: InboxFile
    reason_code: str
    message: str


def month_in_name(file_name: str) -> str | None:
    """The first YYYY-MM in a file name: '2016-03.csv', 'leverans 2016-03 (rättad).csv'."""
    match = _MONTH.search(file_name)
    return f"{match.group(1)}-{match.group(2)}" if match else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scan_inbox(inbox: Path) -> list[InboxFile]:
    """Every regular file below the inbox, oldest first (arrival order decides resubmissions)."""
    found: list[InboxFile] = []
    if not inbox.exists():
        return found
    for path in inbox.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.name.startswith((".", "~$")):
            continue
        stat = path.stat()
        found.append(
            InboxFile(
                path=path,
                relative=path.relative_to(inbox).as_posix(),
                sha256=sha256_of(path),
                size_bytes=stat.st_size,
                received_at=dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.timezone.utc).replace(tzinfo=None),
            )
        )
    return sorted(found, key=lambda f: (f.received_at, f.relative))


def delivery_id_for(project_id: str, kommunkod: str, reporting_month: str, sha256: str) -> str:
    return hashlib.sha256(f"{project_id}|{kommunkod}|{reporting_month}|{sha256}".encode()).hexdigest()[:20]


def route(file: InboxFile, config: ProjectsConfig) -> RoutedFile | UnroutedFile:
    """Which project, municipality and month a file belongs to, or why it cannot be placed."""
    parts = file.relative.split("/")
    if len(parts) != 3:
        return UnroutedFile(
            file,
            "FEL_PLATS",
            f"Filen '{file.relative}' ligger inte i en mapp inkorg/<projekt>/<kommunkod>/. "
            "Flytta den till rätt kommunmapp.",
        )
    project_id, kommunkod, name = parts
    project = next((p for p in config.projects if p.id == project_id), None)
    if project is None:
        return UnroutedFile(
            file, "OKANT_PROJEKT",
            f"Mappen '{project_id}' är inget konfigurerat projekt. Flytta filen till rätt projektmapp.",
        )
    if kommunkod not in project.municipalities:
        return UnroutedFile(
            file, "OKAND_KOMMUN",
            f"Mappen '{kommunkod}' är ingen kommun i projektet {project_id} "
            f"({', '.join(project.municipalities)}). Flytta filen till rätt kommunmapp.",
        )
    month = month_in_name(name)
    if month is None:
        return UnroutedFile(
            file, "MANAD_SAKNAS",
            f"Filnamnet '{name}' innehåller ingen rapportmånad (ÅÅÅÅ-MM). "
            "Döp om filen, t.ex. till '2016-03.csv', och lägg den i inkorgen igen.",
        )
    return RoutedFile(file, delivery_id_for(project_id, kommunkod, month, file.sha256), project_id, kommunkod, month)


def archive(file: InboxFile, archive_dir: Path) -> Path:
    """Copy the file as received into the archive under its sha256; atomic, idempotent."""
    suffix = file.path.suffix.lower()
    target = archive_dir / file.sha256[:2] / f"{file.sha256}{suffix}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    shutil.copyfile(file.path, temporary)
    os.replace(temporary, target)
    return target
