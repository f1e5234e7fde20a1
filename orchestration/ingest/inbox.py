"""Find deliveries in the inbox, route them to project, municipality and month, archive them.

Files are left in the inbox (the municipality's copy); what we keep is the archive copy, named by
its sha256, so a byte-identical file is recognised and never processed twice.

Everything in the inbox is accounted for. What is not ingested (extract-contract.md, "Where files
arrive") is reported with its reason and left where it is: a file whose name holds no month, a
file outside a `<project>/<kommunkod>/` folder of the configuration, a symbolic link, a hidden
file or folder, an Excel lock file, a FIFO, socket or device, and a folder where a delivery file
belongs. Regular files among them are still copied to the archive (nothing delivered is ever lost,
even when the municipality later deletes its copy); nothing else is ever opened: a link can point
at anything on the server, opening a FIFO blocks, a hidden file is a temporary or the system's
own, and Excel's lock file holds only the name of whoever has the workbook open.

A name may be any bytes: it is stored and shown as `safe_text.display_name` gives it, and the
file is opened by its real path. A file over the size limit (ingest/limits.py) is neither hashed
nor copied, unlike every other: copying a file of any size would let one file fill the disk. It
stays in the inbox and its delivery is rejected at once with the reader's FIL_FOR_STOR.

One folder of a municipality folder is ours, not the municipality's: `återkoppling/`, where each
run writes the municipality's feedback (reporting/feedback.py). `is_feedback` is the one rule that
says so; walk_inbox never lists it or anything in it, and everything that looks at the inbox (intake,
the sensor's fingerprint, the no-op check's digest, the disk-space estimate, retention) reads the
inbox through walk_inbox or this rule, so writing feedback is never a change in the inbox.

Another folder of a municipality folder holds deliveries of the second kind: the mapping folder
(`kartlaggning/`, any spelling `lib/mapping_contract.is_mapping_folder` accepts, e.g. `Kartläggning`).
walk_inbox walks it like the municipality folder itself (it is no FOLDER entry; its files are entries
`<project>/<kommunkod>/<folder as named>/<file>`), and route() gives its files `extract_kind` MAPPING.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.mapping_contract import ENROLMENT, MAPPING, MAPPING_FOLDER, is_mapping_folder
from orchestration.lib.safe_text import display_name
from orchestration.projects.config import ProjectsConfig

_MONTH = re.compile(r"(?<!\d)(\d{4})-(0[1-9]|1[0-2])(?!\d)")
MAX_DEPTH = 6          # inbox/<project>/<kommunkod>/<file> is depth 3; deeper folders are reported, not walked

# Kinds of inbox entry. Only FILE is read; every other kind is reported as not ingested.
FILE = "file"
SYMLINK = "symlink"
HIDDEN = "hidden"              # a file or folder whose name starts with a dot
EXCEL_LOCK = "excel_lock"      # ~$name.xlsx: Excel's lock file while the workbook is open
SPECIAL = "special"            # FIFO, socket, device
FOLDER = "folder"              # a folder where a delivery file belongs (or deeper than MAX_DEPTH)
UNREADABLE = "unreadable"      # a file or folder we may not read

FEEDBACK_FOLDER = "återkoppling"          # inbox/<project>/<kommunkod>/återkoppling/: written by us, never read
FEEDBACK_TEMPORARY_PREFIX = f".{FEEDBACK_FOLDER}."   # the folder being written or replaced beside it
FEEDBACK_DEPTH = 3                        # an entry of a municipality folder
MAPPING_DEPTH = 3                         # inbox/<project>/<kommunkod>/kartlaggning/: walked, not an entry


def is_feedback(depth: int, name: str, status: os.stat_result | None) -> bool:
    """Whether an inbox entry is a municipality's feedback folder (or ours being replaced): a real
    folder, not a link, named exactly `återkoppling` (NFC) inside inbox/<project>/<kommunkod>/.
    A file or link of that name is the municipality's and is reported like any other entry."""
    return (depth == FEEDBACK_DEPTH and status is not None and stat.S_ISDIR(status.st_mode)
            and (name == FEEDBACK_FOLDER or name.startswith(FEEDBACK_TEMPORARY_PREFIX)))


def in_feedback(inbox: Path, path: Path) -> bool:
    """Whether a path below the inbox lies in a feedback folder (for callers that walk the inbox
    themselves, e.g. retention)."""
    try:
        parts = Path(path).relative_to(inbox).parts
    except ValueError:
        return False
    if len(parts) < FEEDBACK_DEPTH:
        return False
    folder = Path(inbox, *parts[:FEEDBACK_DEPTH])
    return is_feedback(FEEDBACK_DEPTH, parts[FEEDBACK_DEPTH - 1], entry_status(folder))


@dataclass(frozen=True)
class InboxFile:
    path: Path                 # the real path (its name may hold any bytes)
    relative: str              # below the inbox, '/'-separated, as display text
    sha256: str                # of the content for a FILE; a marker of kind, name and stat otherwise
    size_bytes: int
    received_at: dt.datetime   # modification time, UTC
    kind: str = FILE
    unreadable: str | None = None   # why the entry could not be read (permissions)
    oversize: bool = False          # over the file-size limit: neither hashed nor copied (sha256 is a marker)

    @property
    def name(self) -> str:
        return self.relative.rsplit("/", 1)[-1]

    @property
    def is_symlink(self) -> bool:
        return self.kind == SYMLINK


def is_mapping_entry(depth: int, name: str, status: os.stat_result | None) -> bool:
    """Whether an inbox entry is a municipality's mapping folder: a real folder, not a link, whose
    name `is_mapping_folder` accepts, inside inbox/<project>/<kommunkod>/."""
    return (depth == MAPPING_DEPTH and status is not None and stat.S_ISDIR(status.st_mode)
            and not stat.S_ISLNK(status.st_mode) and is_mapping_folder(name))


@dataclass(frozen=True)
class RoutedFile:
    file: InboxFile
    delivery_id: str
    project_id: str
    kommunkod: str
    reporting_month: str
    rejection: tuple[str, str] | None = None   # (reason code, message) when refused at intake
    extract_kind: str = ENROLMENT              # lib/mapping_contract.EXTRACT_KINDS


@dataclass(frozen=True)
class UnroutedFile:
    file: InboxFile
    reason_code: str
    message: str


def month_in_name(file_name: str) -> str | None:
    """The first YYYY-MM in a file name: '2016-03.csv', 'leverans 2016-03 (rättad).csv'."""
    match = _MONTH.search(file_name)
    return f"{match.group(1)}-{match.group(2)}" if match else None


def open_regular(path: Path) -> int:
    """A descriptor of `path` only if it is a regular file, never following a link and never
    blocking (a FIFO put where the file was): the scan's verdict cannot be raced."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise NotRegularFileError(str(path))
    return descriptor


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).replace(tzinfo=None)


def _marker(kind: str, relative: str, status: os.stat_result | None) -> str:
    """Stands in for a sha256 where the content is not read: the same entry unchanged gives the
    same marker, so it is reported once, not on every run."""
    shape = f"{status.st_size}:{status.st_mtime_ns}" if status and kind not in (FOLDER, SYMLINK) else ""
    return hashlib.sha256(f"{kind}:{relative}:{shape}".encode("utf-8", "replace")).hexdigest()


def walk_inbox(inbox: Path) -> list[tuple[Path, str, str, os.stat_result | None]]:
    """Every entry below the inbox as (path, relative display path, kind, lstat), without
    opening a file or following a link. Folders of projects and municipalities (depth 1 and 2)
    and a municipality's mapping folder (`is_mapping_entry`) are walked; a folder deeper down is
    itself an entry (and walked, so its files are reported too) down to MAX_DEPTH. A feedback
    folder (`is_feedback`) is neither listed nor walked."""
    found: list[tuple[Path, str, str, os.stat_result | None]] = []
    if not inbox.is_dir():
        return found

    def visit(folder: Path, relative: str, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            if relative:
                found.append((folder, relative, UNREADABLE, entry_status(folder)))
            elif error.errno not in (errno.ENOENT,):
                raise
            return
        for entry in entries:
            path = Path(entry.path)
            shown = f"{relative}/{display_name(entry.name)}" if relative else display_name(entry.name)
            status = entry_status(path)
            if status is None:
                continue   # removed while we looked; the next run sees what is there
            if is_feedback(depth, entry.name, status):
                continue   # ours: the municipality's feedback, written after each run
            if stat.S_ISLNK(status.st_mode):
                found.append((path, shown, SYMLINK, status))
            elif entry.name.startswith("."):
                found.append((path, shown, HIDDEN, status))
            elif stat.S_ISDIR(status.st_mode):
                if depth >= 3 and not is_mapping_entry(depth, entry.name, status):
                    found.append((path, shown, FOLDER, status))
                if depth < MAX_DEPTH:
                    visit(path, shown, depth + 1)
            elif entry.name.startswith("~$"):
                found.append((path, shown, EXCEL_LOCK, status))
            elif stat.S_ISREG(status.st_mode):
                found.append((path, shown, FILE, status))
            else:
                found.append((path, shown, SPECIAL, status))

    visit(inbox, "", 1)
    return found


def entry_status(path: Path) -> os.stat_result | None:
    """The entry's own status (a link's, not its target's); None when it is gone or unreadable."""
    try:
        return os.lstat(path)
    except OSError:
        return None


def scan_inbox(inbox: Path, max_file_bytes: int | None = None) -> list[InboxFile]:
    """Every entry below the inbox in arrival order: modification time, then the time the file
    landed in its folder (ctime: a copy or move sets it, so two files with the same modification
    time still order by arrival), then path. Only regular files are read (for their sha256), and
    only those within `max_file_bytes`: a larger one would cost its size in time on every run."""
    found: list[tuple[tuple, InboxFile]] = []
    for path, relative, kind, status in walk_inbox(inbox):
        mtime, ctime = (status.st_mtime, status.st_ctime) if status else (0.0, 0.0)
        size, unreadable, digest = (status.st_size if status else 0), None, None
        oversize = kind == FILE and max_file_bytes is not None and size > max_file_bytes
        if oversize:
            digest = _marker("oversize", relative, status)
        elif kind == FILE:
            try:
                digest = sha256_of(path)
            except FileNotFoundError:
                continue
            except NotRegularFileError:
                kind = SPECIAL   # replaced by something else since the walk
            except OSError as error:
                kind, unreadable = UNREADABLE, type(error).__name__
        if kind == UNREADABLE and unreadable is None:
            unreadable = "PermissionError"
        if digest is None:
            digest = _marker(kind, relative, status)
            size = 0 if kind != FILE else size
        found.append(((mtime, ctime, relative),
                      InboxFile(path, relative, digest, size, _utc(mtime), kind=kind, unreadable=unreadable,
                                oversize=oversize)))
    return [file for _, file in sorted(found, key=lambda item: item[0])]


def oversize_in_inbox(inbox: Path, max_file_bytes: int) -> list[InboxFile]:
    """The files over the size limit, as scan_inbox names them (the marker in place of a sha256),
    without reading any file: for retention, which deletes them from the inbox when their time is up."""
    return [InboxFile(path, relative, _marker("oversize", relative, status), status.st_size, _utc(status.st_mtime),
                      oversize=True)
            for path, relative, kind, status in walk_inbox(inbox)
            if kind == FILE and status is not None and status.st_size > max_file_bytes]


def unreceived_bytes(inbox: Path, received: set[tuple[str, int]], max_file_bytes: int | None = None) -> int:
    """Bytes of the files a run would copy: regular files whose (relative path, size) is not in
    `received` and that are within `max_file_bytes` (a larger file is never copied). Nothing is
    opened; the paths are display text, as intake stores them, a mapping file's as
    `received_path` gives it."""
    total = 0
    for _, relative, kind, status in walk_inbox(inbox):
        if kind != FILE or status is None or (max_file_bytes is not None and status.st_size > max_file_bytes):
            continue
        if (received_path(relative), status.st_size) not in received:
            total += status.st_size
    return total


def received_path(relative: str) -> str:
    """A file's inbox path as landing.deliveries can state it (project, kommunkod, file name, and
    for a mapping file `kartlaggning/` however the municipality spelt the folder)."""
    parts = relative.split("/")
    if len(parts) == 4 and is_mapping_folder(parts[2]):
        return "/".join((parts[0], parts[1], MAPPING_FOLDER, parts[3]))
    return relative


def delivery_id_for(project_id: str, kommunkod: str, reporting_month: str, sha256: str,
                    extract_kind: str = ENROLMENT) -> str:
    """The delivery's id. An enrolment's is the hash it always was (ids in existing warehouses stay
    valid); a mapping delivery's hashes its kind in too, so the same bytes delivered as both kinds
    are two deliveries."""
    key = f"{project_id}|{kommunkod}|{reporting_month}|{sha256}"
    if extract_kind != ENROLMENT:
        key += f"|{extract_kind}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


# Why an entry of another kind than FILE is not read: its reason code and, in the municipality's
# words, what it is and what to do ({where}: the entry, {why}: the error that stopped reading it).
NOT_A_DELIVERY_FILE: dict[str, tuple[str, str]] = {
    SYMLINK: ("SYMBOLISK_LANK", "'{where}' är en symbolisk länk, inte en fil. Länkar följs inte av säkerhetsskäl. "
                                "Lägg själva filen i kommunmappen i stället."),
    UNREADABLE: ("FIL_OLASBAR_I_INKORGEN", "'{where}' kunde inte läsas i inkorgen ({why}). "
                                           "Kontrollera behörigheterna och lägg filen i inkorgen igen."),
    HIDDEN: ("DOLD_FIL", "'{where}' är dold (namnet börjar med en punkt) och läses inte in. Är det en leverans, "
                         "döp om den så att namnet inte börjar med en punkt, t.ex. till '2016-03.csv'."),
    EXCEL_LOCK: ("EXCEL_LASFIL", "'{where}' är Excels låsfil: arbetsboken är öppen i Excel. Den läses inte in och "
                                 "försvinner när arbetsboken stängs; själva leveransen läses när den ligger "
                                 "färdigsparad i mappen."),
    SPECIAL: ("INGEN_VANLIG_FIL", "'{where}' är ingen vanlig fil (en namngiven pipe, socket eller enhet) och öppnas "
                                  "inte. Lägg leveransen som en vanlig fil i kommunmappen."),
    FOLDER: ("MAPP_I_KOMMUNMAPPEN", "'{where}' är en mapp, inte en fil. Leveranser ligger direkt i "
                                    "inkorg/<projekt>/<kommunkod>/ (kartläggningar i inkorg/<projekt>/<kommunkod>/"
                                    "kartlaggning/); flytta filen dit och ta bort mappen."),
}

NO_MAPPING = "KARTLAGGNING_SAKNAS"         # a file in a mapping folder of a project without an instrument


def oversize_rejection(size_bytes: int) -> tuple[str, str]:
    """The reader's own verdict for a file over the size limit, given at intake without copying it."""
    from orchestration.ingest.limits import ReadLimits
    from orchestration.ingest.read_errors import file_too_large

    error = file_too_large(size_bytes, ReadLimits.from_environment())
    return error.code, error.message


def route(file: InboxFile, config: ProjectsConfig, today: dt.date | None = None) -> RoutedFile | UnroutedFile:
    """Which project, municipality and month a file belongs to, or why it cannot be placed."""
    if file.kind in NOT_A_DELIVERY_FILE:
        code, message = NOT_A_DELIVERY_FILE[file.kind]
        return UnroutedFile(file, code, message.format(where=file.relative, why=file.unreadable))
    parts = file.relative.split("/")
    extract_kind = ENROLMENT
    if len(parts) == 4 and is_mapping_folder(parts[2]):
        extract_kind = MAPPING
        parts = [parts[0], parts[1], parts[3]]
    if len(parts) != 3:
        return UnroutedFile(
            file,
            "FEL_PLATS",
            f"Filen '{file.relative}' ligger inte i en mapp inkorg/<projekt>/<kommunkod>/ "
            "(eller, för en kartläggning, inkorg/<projekt>/<kommunkod>/kartlaggning/). "
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
    if extract_kind == MAPPING and project.mapping is None:
        return UnroutedFile(
            file, NO_MAPPING,
            f"Filen '{file.relative}' ligger i en kartläggningsmapp, men projektet {project_id} har ingen "
            "kartläggning konfigurerad. Är filen en inskrivningslista: flytta den till "
            f"inkorg/{project_id}/{kommunkod}/. Ska projektet ta emot kartläggningar: be samordnaren lägga "
            "till kartläggningen (kartlaggning:) i projektkonfigurationen; filen läses då in vid nästa körning.",
        )
    month = month_in_name(name)
    if month is None:
        return UnroutedFile(
            file, "MANAD_SAKNAS",
            f"Filnamnet '{name}' innehåller ingen rapportmånad (ÅÅÅÅ-MM). "
            "Döp om filen, t.ex. till '2016-03.csv', och lägg den i inkorgen igen.",
        )
    delivery_id = delivery_id_for(project_id, kommunkod, month, file.sha256, extract_kind)
    if file.oversize:
        return RoutedFile(file, delivery_id, project_id, kommunkod, month, rejection=oversize_rejection(file.size_bytes),
                          extract_kind=extract_kind)
    today = today or dt.date.today()
    if (int(month[:4]), int(month[5:7])) > (today.year, today.month):
        return RoutedFile(file, delivery_id, project_id, kommunkod, month, rejection=(
            "MANAD_I_FRAMTIDEN",
            f"Rapportmånaden {month} i filnamnet '{name}' har inte börjat än. Kontrollera månaden i "
            "filnamnet (ÅÅÅÅ-MM, den månad uppgifterna gäller) och lägg filen i inkorgen igen.",
        ), extract_kind=extract_kind)
    return RoutedFile(file, delivery_id, project_id, kommunkod, month, extract_kind=extract_kind)


def archive(file: InboxFile, archive_dir: Path) -> Path:
    """Copy the file as received into the archive under its sha256; atomic, idempotent.

    The copy is checked against the sha256 found in the inbox, so a file that changed while it
    was being copied is not archived under the wrong name (the next run picks it up)."""
    suffix = archive_suffix(file.name)
    target = archive_dir / file.sha256[:2] / f"{file.sha256}{suffix}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    with os.fdopen(open_regular(file.path), "rb") as source, temporary.open("wb") as copy:
        shutil.copyfileobj(source, copy, 1 << 20)
    if sha256_of(temporary) != file.sha256:
        temporary.unlink()
        raise FileChangedError(file.relative)
    os.replace(temporary, target)
    return target


def archive_suffix(name: str) -> str:
    """The file's extension as the reader needs it ('.csv', '.xlsx'), lower-case and plain:
    an archive name holds nothing else a municipality wrote."""
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


class NotRegularFileError(OSError):
    """Not a regular file (a FIFO, a link, a folder) where the scan saw one."""


class FileChangedError(OSError):
    """The file changed between being found and being copied (still being written)."""
