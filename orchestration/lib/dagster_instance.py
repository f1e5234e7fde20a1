"""The data home's Dagster instance: the dagster.yaml followup writes into its DAGSTER_HOME, and
where that instance keeps its runs and events.

SQLite files in the home's `dagster/` folder by default; PostgreSQL when FOLLOWUP_DAGSTER_POSTGRES_URL
holds a libpq URL (`postgresql://followup@/followup?host=/run/postgresql`). The file names the
variable, never its value, so a password in the URL never lands in a file. followup recognises its
own file by its first line and writes it again when the variable is set on a home that used
SQLite; a home on PostgreSQL without the variable is refused (`forgotten_url`), so a shell that
lacks the service's environment does not move the home back to SQLite. A dagster.yaml without
that line is the user's own and is never touched. A wrong URL is said in Swedish, without its
password, before anything runs (`check_postgres`).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

URL_VARIABLE = "FOLLOWUP_DAGSTER_POSTGRES_URL"
OWN_FIRST_LINE = "# Written by followup"
CONNECT_TIMEOUT_SECONDS = 10
DUMP_FILE = "dagster-postgres.dump"          # beside a backup's files, where pg_dump_command writes it

_HEAD = f"""\
{OWN_FIRST_LINE}; written again when {URL_VARIABLE} is set or removed. To keep a dagster.yaml
# of your own, write it without this first line: followup then leaves it as it is.
# Telemetry off: the product makes no network calls.
telemetry:
  enabled: false
"""
_POSTGRES = f"""\
# Runs, events and schedules in PostgreSQL: dagster-postgres' storage, its URL read with psycopg2
# (orchestration/lib/postgres_storage.py says why). The URL is read from the environment when the
# instance starts: it is never written here.
storage:
  custom:
    module: orchestration.lib.postgres_storage
    class: PostgresStorage
    config:
      postgres_url:
        env: {URL_VARIABLE}
"""
_TAIL = """\
# DuckDB allows one writing process: at most one run at a time, one warehouse step at a time.
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
# A queued run (the schedule's, the sensor's, one started in the UI) starts within a second, not five.
run_queue:
  dequeue_interval_seconds: 1
# The daemon marks failed a run that has not started within 3 minutes, and gives back the pool
# slots of a run that ended without giving them back itself.
run_monitoring:
  enabled: true
  free_slots_after_run_end_seconds: 60
"""


class DagsterStorageError(Exception):
    """Dagster's storage cannot be used as configured (a wrong FOLLOWUP_DAGSTER_POSTGRES_URL), said
    in Swedish without any password: a configuration error, exit code 2."""


def configured_url() -> str | None:
    """FOLLOWUP_DAGSTER_POSTGRES_URL, or None when unset or blank (SQLite in the home)."""
    return os.environ.get(URL_VARIABLE, "").strip() or None


def dagster_yaml(postgres: bool) -> str:
    """The text of followup's dagster.yaml, with or without the PostgreSQL storage."""
    return _HEAD + (_POSTGRES if postgres else "") + _TAIL


def is_own(path: Path) -> bool:
    """Whether followup wrote the dagster.yaml at `path` (its first line says so)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.readline().startswith(OWN_FIRST_LINE)
    except FileNotFoundError:
        return False


def write_dagster_yaml(dagster_home: Path, postgres: bool | None = None) -> bool:
    """followup's dagster.yaml in `dagster_home`, for PostgreSQL when `postgres` (by default: when
    FOLLOWUP_DAGSTER_POSTGRES_URL is set). A file of the user's own is kept; an empty one (a write
    that failed on a full disk) would run without the settings below, so it is written afresh.
    Whether the file was written."""
    dagster_home = Path(dagster_home)
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / "dagster.yaml"
    if postgres is None:
        refused = forgotten_url(dagster_home)
        if refused:
            raise DagsterStorageError(refused)
    text = dagster_yaml(configured_url() is not None if postgres is None else postgres)
    if path.exists() and path.stat().st_size > 0:      # an empty one is left by a write that failed
        if not is_own(path) or path.read_text(encoding="utf-8", errors="replace") == text:
            return False
    # Written beside and renamed into place: a full disk leaves no file rather than an empty one
    # (an empty dagster.yaml would run without the one-writer settings above).
    temporary = path.with_name(f".dagster.yaml.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return True


def forgotten_url(dagster_home: Path) -> str | None:
    """Why followup must not go on when the home keeps its runs in PostgreSQL (its own dagster.yaml
    says so) but FOLLOWUP_DAGSTER_POSTGRES_URL is not set here: most likely a shell without the
    service's environment, whose run would move the home to SQLite under a running daemon. Going
    back to SQLite is a choice made by removing the file. None when nothing is wrong."""
    path = Path(dagster_home) / "dagster.yaml"
    if configured_url() is not None or not is_own(path):
        return None
    if _POSTGRES not in path.read_text(encoding="utf-8", errors="replace"):
        return None
    return (f"datahemmets körhistorik i Dagster ligger i PostgreSQL ({path}), men {URL_VARIABLE} är inte satt här. "
            f"Sätt variabeln som tjänsten har den (t.ex. i /etc/followup/followup.env), eller, för att gå tillbaka "
            f"till SQLite i datahemmet, ta bort {path} (historiken i PostgreSQL blir kvar där).")


@dataclass(frozen=True)
class Storage:
    """Where a DAGSTER_HOME's instance keeps its runs, as its dagster.yaml says."""

    kind: str                 # "sqlite" or "postgres"
    url: str | None = None    # postgres: the URL (may hold a password: never print it), None if unknown
    variable: str | None = None   # postgres: the environment variable the URL comes from, if any

    def describe(self) -> str:
        if self.kind == "sqlite":
            return "SQLite i datahemmet"
        return f"PostgreSQL ({describe_url(self.url)})" if self.url else "PostgreSQL"


def storage_of(dagster_home: Path) -> Storage:
    """The storage the dagster.yaml in `dagster_home` names (followup's or the user's own); SQLite
    when there is none or it names none. The URL is read from the environment variable it names."""
    import yaml

    path = Path(dagster_home) / "dagster.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return Storage("sqlite")
    if not isinstance(document, dict):
        return Storage("sqlite")
    storage = document.get("storage")
    if isinstance(storage, dict) and isinstance(storage.get("postgres"), dict):
        return _postgres_storage(storage["postgres"])
    custom = storage.get("custom") if isinstance(storage, dict) else None
    if isinstance(custom, dict) and "postgres" in str(custom.get("module", "")).lower():
        return _postgres_storage(custom.get("config") or {})
    run_storage = document.get("run_storage")
    if isinstance(run_storage, dict) and "postgres" in str(run_storage.get("module", "")):
        return _postgres_storage(run_storage.get("config") or {})
    return Storage("sqlite")


def _postgres_storage(config: dict) -> Storage:
    value = config.get("postgres_url")
    if isinstance(value, dict) and "env" in value:
        return Storage("postgres", os.environ.get(str(value["env"]), "").strip() or None, str(value["env"]))
    if isinstance(value, str):
        return Storage("postgres", value)
    fields = config.get("postgres_db")
    if isinstance(fields, dict):
        def resolve(item):
            return os.environ.get(str(item["env"]), "") if isinstance(item, dict) and "env" in item else item

        from dagster_postgres.utils import get_conn_string

        resolved = {key: resolve(item) for key, item in fields.items()}
        try:
            return Storage("postgres", get_conn_string(**resolved))
        except TypeError:
            return Storage("postgres")
    return Storage("postgres")


def _parsed(url: str):
    """SQLAlchemy's reading of `url` (what Dagster's storage will use), or None if it is no
    postgresql:// URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    return parsed if parsed.drivername in ("postgresql", "postgresql+psycopg2") else None


def url_without_password(url: str) -> str:
    """`url` with its password (in the user part or as ?password=) taken out, otherwise as written:
    for showing, and for pg_dump, which reads the password from ~/.pgpass or PGPASSWORD instead."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    if _parsed(url) is None:
        return "(ingen giltig postgresql://-adress)"
    parts = urlsplit(_libpq(url))
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hostport = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{hostport}"
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "password"]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="/", quote_via=quote), ""))


def _libpq(url: str) -> str:
    """`url` as libpq reads it: SQLAlchemy's `postgresql+psycopg2://` is libpq's `postgresql://`."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgresql") else url


def describe_url(url: str | None) -> str:
    """`databasen X på Y som Z`, in Swedish, never the password."""
    parsed = _parsed(url) if url else None
    if parsed is None:
        return "en ogiltig adress"
    host = parsed.host or parsed.query.get("host") or "serverns standardsocket"
    if isinstance(host, tuple):
        host = ",".join(host)
    where = f"{host}:{parsed.port}" if parsed.port else host
    user = f" som användaren {parsed.username}" if parsed.username else ""
    return f"databasen {parsed.database or '(standard)'} på {where}{user}"


def check_postgres(url: str) -> str | None:
    """None when Dagster can keep its storage at `url`; else what is wrong and what to do, in
    Swedish, never with the password. Connects once (at most CONNECT_TIMEOUT_SECONDS)."""
    form = ("Formen är postgresql://användare@värd:5432/databas, eller "
            "postgresql://användare@/databas?host=/run/postgresql för serverns Unix-socket.")
    parsed = _parsed(url)
    if parsed is None:
        return f"{URL_VARIABLE} är ingen PostgreSQL-adress. {form}"
    import psycopg2

    shown = describe_url(url)
    try:
        connection = psycopg2.connect(_libpq(url), connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg2.ProgrammingError as error:      # libpq could not read the URL
        return f"{URL_VARIABLE} kan inte läsas ({without_password(str(error), url)}). {form}"
    except psycopg2.OperationalError as error:
        return _connect_failure(without_password(str(error), url), shown, parsed)
    try:
        with connection.cursor() as cursor:
            cursor.execute("select to_regclass('runs') is not null, "
                           "has_schema_privilege(current_schema(), 'CREATE')")
            has_tables, may_create = cursor.fetchone()
    except psycopg2.Error as error:
        return f"Dagsters lagring i PostgreSQL ({shown}) kan inte läsas: {without_password(str(error), url)}"
    finally:
        connection.close()
    if not has_tables and not may_create:
        return (f"användaren {parsed.username} får inte skapa Dagsters tabeller i {shown}: gör den till databasens "
                f"ägare (`ALTER DATABASE {parsed.database} OWNER TO {parsed.username};`) eller ge den rätten "
                f"(`GRANT CREATE ON SCHEMA public TO {parsed.username};`).")
    return None


def _connect_failure(reason: str, shown: str, parsed) -> str:
    first = reason.strip().splitlines()[0] if reason.strip() else reason
    if "does not exist" in reason and "database" in reason:
        return (f"databasen {parsed.database} finns inte ({shown}): skapa den, t.ex. `createdb --owner="
                f"{parsed.username or 'followup'} {parsed.database}` som PostgreSQL-administratör, eller rätta "
                f"{URL_VARIABLE}.")
    if "does not exist" in reason and "role" in reason:
        return (f"användaren {parsed.username} finns inte på PostgreSQL-servern ({shown}): skapa den, t.ex. "
                f"`createuser {parsed.username}`, eller rätta {URL_VARIABLE}.")
    if "password" in reason or "authentication" in reason:
        return (f"PostgreSQL-servern släppte inte in användaren {parsed.username} ({shown}): kontrollera "
                f"lösenordet (i ~/.pgpass, i PGPASSWORD eller i {URL_VARIABLE}) och serverns pg_hba.conf. "
                f"Servern svarade: {first}")
    return (f"når ingen PostgreSQL-server för Dagsters lagring ({shown}): {first}. Starta servern eller rätta "
            f"{URL_VARIABLE}; utan variabeln använder followup SQLite i datahemmet.")


def without_password(text: str, url: str | None) -> str:
    """`text` with every form of `url`'s password (as written, percent-encoded, decoded) replaced."""
    from urllib.parse import quote, quote_plus, unquote

    parsed = _parsed(url) if url else None
    if parsed is None:
        return text.strip()
    secrets = [s for s in (parsed.password, parsed.query.get("password")) if isinstance(s, str) and s]
    text = text.strip()
    for secret in secrets:
        forms = {secret, unquote(secret), quote(secret, safe=""), quote_plus(secret)}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, "***")
    return text


def require_reachable() -> None:
    """Raise DagsterStorageError when FOLLOWUP_DAGSTER_POSTGRES_URL is set and wrong."""
    url = configured_url()
    if url is None:
        return
    problem = check_postgres(url)
    if problem:
        raise DagsterStorageError(f"{problem} Inget har körts.")


def pg_dump_command(url: str | None, target: Path) -> str:
    """The pg_dump command that saves Dagster's PostgreSQL storage beside a backup in `target`
    (no password in it: pg_dump reads it from ~/.pgpass or PGPASSWORD)."""
    address = url_without_password(url) if url else f"${URL_VARIABLE}"
    quoted = shlex.quote(address) if url else f'"{address}"'
    return f"pg_dump --format=custom --file={shlex.quote(str(Path(target).absolute() / DUMP_FILE))} {quoted}"


def quick_sqlite_commits() -> None:
    """SQLite files of the instance written with synchronous=NORMAL: Dagster keeps them in WAL
    mode, where a commit then no longer waits for the disk (~3 ms here, two commits an event, ~260
    events a month's run and ~1 100 a national backfill). A crash of the process loses nothing; a
    power cut may lose the newest events, never the file's consistency (SQLite's own advice for WAL).
    A partition event so lost is logged again when its month next changes. Once per process, for
    every SQLAlchemy engine it opens on SQLite (PostgreSQL's are left as they are)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if event.contains(Engine, "connect", _synchronous_normal):
        return
    event.listen(Engine, "connect", _synchronous_normal)


def _synchronous_normal(connection, _record) -> None:
    import sqlite3

    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA synchronous=NORMAL")
