"""Find deliveries in the inbox, route them to project, municipality and month, archive them.

Files are left in the inbox (the municipality's copy); what we keep is the archive copy, named by
its sha256, so a byte-identical file is recognised and never processed twice.

What is not ingested (extract-contract.md, "Where files arrive"): a file whose name holds no month,
a file outside a `<project>/<kommunkod>/` folder of the configuration, and a symbolic link. They
are reported and left where they are. Regular files among them are still copied to the archive
(nothing delivered is ever lost, even when the municipality later deletes its copy); a symbolic
link is never followed, read or copied, since it can point at anything on the server.
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
IGNORED_PREFIXES = (".", "~$")   # hidden files, upload temporaries, Excel's lock files


@dataclass(frozen=True)
class InboxFile:
    path: Path
    relative: str
    sha256: str
    size_bytes: int
    received_at: dt.datetime   # modification time, UTC
    is_symlink: bool = False
    unreadable: str | None = None   # why the file could not be read in the inbox (permissions)


@dataclass(frozen=True)
class RoutedFile:
    file: InboxFile
    delivery_id: str
    project_id: str
    kommunkod: str
    reporting_month: str
    rejection: tuple[str, str] | None = None   # (reason code, message) when refused at intake


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


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).replace(tzinfo=None)


def scan_inbox(inbox: Path) -> list[InboxFile]:
    """Every file below the inbox in arrival order: modification time, then the time the file
    landed in its folder (ctime: a copy or move sets it, so two files with the same modification
    time still order by arrival), then path."""
    found: list[tuple[tuple, InboxFile]] = []
    if not inbox.exists():
        return []
    for path in inbox.rglob("*"):
        if path.name.startswith(IGNORED_PREFIXES):
            continue
        relative = path.relative_to(inbox).as_posix()
        if path.is_symlink():
            stat = path.lstat()
            target = os.readlink(path)
            marker = hashlib.sha256(f"symlink:{target}".encode()).hexdigest()
            found.append(((stat.st_mtime, stat.st_ctime, relative),
                          InboxFile(path, relative, marker, 0, _utc(stat.st_mtime), is_symlink=True)))
            continue
        try:
            if not path.is_file():
                continue
            stat = path.stat()
        except FileNotFoundError:
            continue  # removed while we looked; the next run sees what is there
        try:
            digest = sha256_of(path)
            unreadable = None
        except FileNotFoundError:
            continue
        except OSError as error:
            digest = hashlib.sha256(f"unreadable:{relative}:{stat.st_size}:{stat.st_mtime}".encode()).hexdigest()
            unreadable = type(error).__name__
        found.append(((stat.st_mtime, stat.st_ctime, relative),
                      InboxFile(path, relative, digest, stat.st_size, _utc(stat.st_mtime), unreadable=unreadable)))
    return [file for _, file in sorted(found, key=lambda item: item[0])]


def delivery_id_for(project_id: str, kommunkod: str, reporting_month: str, sha256: str) -> str:
    return hashlib.sha256(f"{project_id}|{kommunkod}|{reporting_month}|{sha256}".encode()).hexdigest()[:20]


def route(file: InboxFile, config: ProjectsConfig, today: dt.date | None = None) -> RoutedFile | UnroutedFile:
    """Which project, municipality and month a file belongs to, or why it cannot be placed."""
    if file.is_symlink:
        return UnroutedFile(
            file, "SYMBOLISK_LANK",
            f"'{file.relative}' är en symbolisk länk, inte en fil. Länkar följs inte av säkerhetsskäl. "
            "Lägg själva filen i kommunmappen i stället.",
        )
    if file.unreadable:
        return UnroutedFile(
            file, "FIL_OLASBAR_I_INKORGEN",
            f"Filen '{file.relative}' kunde inte läsas i inkorgen ({file.unreadable}). "
            "Kontrollera filens behörigheter och lägg den i inkorgen igen.",
        )
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
    delivery_id = delivery_id_for(project_id, kommunkod, month, file.sha256)
    today = today or dt.date.today()
    if (int(month[:4]), int(month[5:7])) > (today.year, today.month):
        return RoutedFile(file, delivery_id, project_id, kommunkod, month, rejection=(
            "MANAD_I_FRAMTIDEN",
            f"Rapportmånaden {month} i filnamnet '{name}' har inte börjat än. Kontrollera månaden i "
            "filnamnet (ÅÅÅÅ-MM, den månad uppgifterna gäller) och lägg filen i inkorgen igen.",
        ))
    return RoutedFile(file, delivery_id, project_id, kommunkod, month)


def archive(file: InboxFile, archive_dir: Path) -> Path:
    """Copy the file as received into the archive under its sha256; atomic, idempotent.

    The copy is checked against the sha256 found in the inbox, so a file that changed while it
    was being copied is not archived under the wrong name (the next run picks it up)."""
    suffix = file.path.suffix.lower()
    target = archive_dir / file.sha256[:2] / f"{file.sha256}{suffix}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    shutil.copyfile(file.path, temporary)
    if sha256_of(temporary) != file.sha256:
        temporary.unlink()
        raise FileChangedError(file.relative)
    os.replace(temporary, target)
    return target


class FileChangedError(OSError):
    """The file changed between being found and being copied (still being written)."""
