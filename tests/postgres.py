"""A real PostgreSQL server for the tests that keep Dagster's storage in it.

Debian's `postgresql` package (the binaries under /usr/lib/postgresql/<version>/bin): a cluster of
its own in a temporary folder, listening only on a Unix socket in that folder (no TCP port), run as
an unprivileged user (the `postgres` system user when the tests run as root, else the current
user), started when a test first asks for it and stopped at the end of the session. Each pytest-xdist
worker that needs it starts its own.

Fixtures: `postgres_server` (the session's server) and `postgres_url` (a fresh empty database per
test, owned by the role `followup`, as a libpq URL). Where no server binaries are found the tests
skip, except when FOLLOWUP_REQUIRE_POSTGRES is set (CI sets it, .ci/run installs the package),
where that is a failure.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

OWNER = "followup"                      # the role that owns each test database, as in README's set-up
PASSWORD_ROLE = "followup_med_losen"    # the one role that must give a password (scram-sha-256)
PASSWORD = "hemligt-Lösen-7"            # synthetic; tests check it never reaches any output
_ADMIN = "postgres"


def postgres_required() -> bool:
    return os.environ.get("FOLLOWUP_REQUIRE_POSTGRES", "") not in ("", "0")


def find_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL with a server (initdb, pg_ctl, postgres), else one on PATH."""
    wanted = ("initdb", "pg_ctl", "postgres")

    def version(path: str) -> tuple[int, ...]:
        number = Path(path).parent.name
        return tuple(int(part) for part in number.split(".") if part.isdigit())

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if all((Path(candidate) / name).is_file() for name in wanted):
            return Path(candidate)
    return None


@dataclass
class PostgresServer:
    """One running cluster: its folders, the user it runs as, and helpers to make databases."""

    bin_dir: Path
    root: Path                           # owned by the server's user; data/, socket/, server.log
    run_as: list[str]                    # the command prefix that runs a program as that user
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str, user: str = OWNER, password: str | None = None) -> str:
        """A libpq URL to `database` over the Unix socket."""
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{user}{secret}@/{database}?host={self.socket_dir}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple]:
        """Run `sql` as the cluster's superuser (trusted over the socket); rows when it returns any."""
        import psycopg2

        connection = psycopg2.connect(host=str(self.socket_dir), dbname=database, user=_ADMIN)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def create_database(self, owner: str = OWNER, password: str | None = None) -> str:
        """A new empty database owned by `owner`; its URL (the socket trusts `owner`, so any
        `password` put in the URL is accepted: a test can check it is never shown)."""
        name = f"followup_test_{next(self._numbers)}"
        self.execute(f'create database "{name}" owner "{owner}"')
        return self.url(name, owner, password)

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.run_as, *command], cwd=self.root, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        initdb = self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", _ADMIN, "--auth=trust",
                           "--no-sync", "--encoding=UTF8", "--locale=C")
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr or initdb.stdout}")
        settings = {"listen_addresses": "''", "unix_socket_directories": f"'{self.socket_dir}'",
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        (self.data / "pg_hba.conf").write_text(f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n",
                                               encoding="utf-8")
        started = self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                            "-t", "60", "start")
        if started.returncode != 0:
            log = self.log.read_text(encoding="utf-8", errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr or started.stdout}\n{log}")
        self.execute(f'create role "{OWNER}" login')
        self.execute(f"create role \"{PASSWORD_ROLE}\" login password '{PASSWORD}'")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged() -> tuple[list[str], int | None, int | None]:
    """The prefix that runs the server as an unprivileged user, and that user's uid and gid (None
    when the tests already run unprivileged: the server runs as the current user)."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", name, "--"], user.pw_uid, user.pw_gid
    raise RuntimeError("running as root, but there is no `postgres` or `nobody` user to run PostgreSQL as")


def start_server() -> PostgresServer:
    """Start a server, or skip (fail when FOLLOWUP_REQUIRE_POSTGRES is set) without binaries."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        reason = "no PostgreSQL server binaries (initdb, pg_ctl, postgres) under /usr/lib/postgresql/*/bin"
        if postgres_required():
            pytest.fail(f"FOLLOWUP_REQUIRE_POSTGRES is set but there are {reason}: apt-get install postgresql")
        pytest.skip(reason)
    run_as, uid, gid = _unprivileged()
    root = Path(tempfile.mkdtemp(prefix="followup-pg-"))     # short: a socket path has at most 107 bytes
    (root / "socket").mkdir()
    if uid is not None:
        for path in (root, root / "socket"):
            os.chown(path, uid, gid)
    server = PostgresServer(bin_dir, root, run_as)
    try:
        server.start()
    except Exception as error:
        server.stop()
        pytest.fail(f"PostgreSQL from {bin_dir} did not start: {error}")
    return server


@pytest.fixture(scope="session")
def postgres_server():
    """The session's PostgreSQL server (started on first use, stopped at the end)."""
    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database for this test, owned by the role `followup`, as a libpq URL."""
    return postgres_server.create_database()
