"""The project's own private PostGIS instance.

``gridgeo db up`` (and ``make demo`` / ``make test``) start a PostgreSQL server
whose data directory lives under ``$GRIDGEO_HOME/pg`` (default ``.gridgeo/`` in
the checkout), listening on 127.0.0.1 only, on a free port remembered in
``$GRIDGEO_HOME/pg-state.json``. Connections need a password (SCRAM-SHA-256):
the owner role's and the application role's passwords are generated on first
start and kept in the state file (mode 0600); an instance made by an older
gridgeo with trust authentication is switched over on its next start. It is a
development and demo server, not a production one (set ``GRIDGEO_DATABASE_URL``
and ``GRIDGEO_APP_DATABASE_URL`` to use a real server).

PostgreSQL refuses to run as root, so when gridgeo runs as root the instance is
owned by an unprivileged system user (``GRIDGEO_PG_OS_USER``, default
``gridgeo``, created when missing). When that user cannot reach the data
directory (a checkout under ``/root``, pytest's private temp folders), the data
directory is placed under ``/var/tmp/gridgeo-pg/`` instead and the state file
says where.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gridgeo.errors import DatabaseError
from gridgeo.i18n import _
from gridgeo.io.atomic import write_text_atomic

if TYPE_CHECKING:  # not at run time: `gridgeo db status` starts without pydantic
    from gridgeo.settings import Settings

log = logging.getLogger(__name__)

FIRST_PORT = 55432
#: Login role of the service and the CLI on the private instance (member of gridgeo_app).
APP_LOGIN = "gridgeo_service"
#: Host-based authentication of the private instance: passwords only, 127.0.0.1 only.
PG_HBA = (
    "# written by gridgeo: SCRAM passwords over TCP on 127.0.0.1 only\n"
    "local all all peer\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
)
#: Server settings gridgeo adds to postgresql.auto.conf: at initdb, and to an older instance's
#: file (the lines it lacks) before that instance is next started. wal_level = minimal (no WAL
#: for a table created and loaded in one transaction: the patrol-track import) needs
#: max_wal_senders = 0; max_prepared_transactions lets an import load its raw and cleaned
#: fixes on two connections that commit as one (gridgeo.registry.tracks).
SERVER_SETTINGS = {
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_prepared_transactions": "10",
}
#: Where data directories go when the owner cannot reach $GRIDGEO_HOME (e.g. under /root).
FALLBACK_BASE = Path("/var/tmp/gridgeo-pg")


def _pg_bindir() -> Path:
    """Folder of the PostgreSQL server programs (highest installed major version)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    if which:
        return Path(os.path.realpath(which)).parent
    raise DatabaseError(
        _(
            "PostgreSQL server programs (pg_ctl, initdb) are not installed. Run: "
            "sudo apt-get install -y postgresql postgresql-postgis  (or `make demo`, "
            "which does it)"
        )
    )


def _postgis_available(bindir: Path) -> bool:
    try:
        sharedir = subprocess.run(
            [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        sharedir = str(
            bindir.parent.parent.parent.parent / "share" / "postgresql" / bindir.parent.name
        )
    return Path(sharedir, "extension", "postgis.control").is_file()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(start: int = FIRST_PORT, *, host: str = "127.0.0.1") -> int:
    """The first free TCP port from ``start`` on."""
    for port in range(start, start + 500):
        if port_is_free(port, host):
            return port
    raise DatabaseError(
        _("no free TCP port between {start} and {end} on {host}").format(
            start=start, end=start + 499, host=host
        )
    )


@dataclass
class Status:
    """What ``gridgeo db status`` reports."""

    initialized: bool
    running: bool
    port: int | None
    data_dir: Path
    pid: int | None = None

    def describe(self) -> str:
        if not self.initialized:
            return _("not initialised (data directory {data_dir} does not exist yet)").format(
                data_dir=self.data_dir
            )
        if not self.running:
            return _("stopped (data directory {data_dir})").format(data_dir=self.data_dir)
        return _("running on 127.0.0.1:{port}, pid {pid} (data directory {data_dir})").format(
            port=self.port, pid=self.pid, data_dir=self.data_dir
        )


class PrivateInstance:
    """A PostgreSQL + PostGIS server owned by the project.

    Parameters
    ----------
    settings
        Where the instance lives (``home``), its role, database and port preferences.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.home = Path(settings.home).resolve()
        self.state_file = self.home / "pg-state.json"

    # -- state -------------------------------------------------------------------------
    def _state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, **values) -> None:
        state = self._state() | values
        # it holds the passwords once they exist: never readable by others, even for a moment
        write_text_atomic(self.state_file, json.dumps(state, indent=2, default=str), private=True)

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def data_dir(self) -> Path:
        stored = self._state().get("data_dir")
        return Path(stored) if stored else self.settings.pg_dir.resolve()

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / (self.data_dir.name + ".log")

    @property
    def port(self) -> int | None:
        port = self._state().get("port")
        return int(port) if port else None

    def url(self, *, dbname: str | None = None, role: str = "owner") -> str:
        """libpq URL of a database on this instance (the port must be known).

        ``role="owner"`` (migrations, administration) or ``"app"`` (the service and the
        CLI; falls back to the owner until the application login exists).
        """
        port = self.port or self.settings.pg_port
        if port is None:
            raise DatabaseError(
                _("the private PostGIS instance has not been started: run `gridgeo db up`")
            )
        db = dbname or self.settings.pg_dbname
        state = self._state()
        user, password = self.settings.pg_user, state.get("password")
        if role == "app" and state.get("app_password"):
            user, password = APP_LOGIN, state["app_password"]
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{port}/{db}"

    # -- authentication --------------------------------------------------------------
    def _save_secret(self, **values: str) -> None:
        self._save_state(**values)
        self.state_file.chmod(0o600)

    def _use_passwords(self) -> None:
        """Give the owner a password and switch the server to SCRAM (idempotent).

        Runs on the started server; the old trust rule still lets this first connection in.
        """
        import psycopg
        from psycopg import sql

        hba = self.data_dir / "pg_hba.conf"
        state = self._state()
        if state.get("password") and self._read_owned(hba) == PG_HBA:
            return
        password = state.get("password") or secrets.token_urlsafe(24)
        with psycopg.connect(self.url(dbname="postgres"), autocommit=True) as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(self.settings.pg_user), sql.Literal(password)
                )
            )
        self._save_secret(password=password)
        self._run(["sh", "-c", f"cat > '{hba}' <<'EOF'\n{PG_HBA}EOF"])
        self._run([str(_pg_bindir() / "pg_ctl"), "reload", "-D", str(self.data_dir)])
        log.info("the private PostGIS now requires passwords (SCRAM-SHA-256)")

    def _read_owned(self, path: Path) -> str:
        proc = self._run(["cat", str(path)], check=False)
        return proc.stdout if proc.returncode == 0 else ""

    def ensure_app_login(self, url: str) -> str:
        """Create (or re-key) the application login in role ``gridgeo_app``; its URL.

        Needs the migrated database at ``url`` (migration 0900 makes the role).
        """
        import psycopg
        from psycopg import sql

        password = self._state().get("app_password") or secrets.token_urlsafe(24)
        with psycopg.connect(url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'gridgeo_app'").fetchone():
                return url  # not migrated: stay the owner
            conn.execute("SET password_encryption = 'scram-sha-256'")
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_LOGIN,)
            ).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(
                    verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}"
                ).format(sql.Identifier(APP_LOGIN), sql.Literal(password))
            )
            conn.execute(sql.SQL("GRANT gridgeo_app TO {}").format(sql.Identifier(APP_LOGIN)))
        self._save_secret(app_password=password)
        return self.url(role="app", dbname=url.rsplit("/", 1)[-1].split("?")[0])

    # -- running commands as the owner -------------------------------------------------
    def _owner_cmd(self, args: list[str]) -> list[str]:
        if self.as_root:
            return ["runuser", "-u", self.settings.pg_os_user, "--", *args]
        return args

    def _run(self, args: list[str], *, check: bool = True, timeout: float | None = None):
        cmd = self._owner_cmd(args)
        log.debug("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()
            raise DatabaseError(
                _("{name} failed: {detail}").format(name=Path(args[0]).name, detail=detail)
            )
        return proc

    def _ensure_os_user(self) -> None:
        user = self.settings.pg_os_user
        if subprocess.run(["id", "-u", user], capture_output=True).returncode == 0:
            return
        proc = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 and "already exists" not in proc.stderr:
            raise DatabaseError(
                _("cannot create system user {user!r}: {stderr}").format(
                    user=user, stderr=proc.stderr.strip()
                )
            )
        log.info("created system user %s to own the private PostGIS instance", user)

    def _owner_can_use(self, folder: Path) -> bool:
        if not self.as_root:
            return True
        probe = subprocess.run(
            ["runuser", "-u", self.settings.pg_os_user, "--", "test", "-x", str(folder)],
            capture_output=True,
        )
        return probe.returncode == 0

    def _choose_data_dir(self) -> Path:
        wanted = self.settings.pg_dir.resolve()
        wanted.parent.mkdir(parents=True, exist_ok=True)
        if self._owner_can_use(wanted.parent):
            return wanted
        digest = hashlib.sha1(str(wanted).encode()).hexdigest()[:12]
        base = FALLBACK_BASE
        base.mkdir(parents=True, exist_ok=True)
        base.chmod(0o755)
        log.info("%s is not reachable by %s; using %s", wanted, self.settings.pg_os_user, base)
        return base / digest / "pg"

    # -- lifecycle ---------------------------------------------------------------------
    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self) -> bool:
        """Create the data directory with initdb unless it exists; returns whether it did."""
        bindir = _pg_bindir()
        if not _postgis_available(bindir):
            major = bindir.parent.name
            raise DatabaseError(
                _(
                    "PostGIS is not installed for PostgreSQL {major}. Run: sudo apt-get "
                    "install -y postgresql-{major}-postgis-3  (or `make demo`)"
                ).format(major=major)
            )
        if self.is_initialized():
            return False
        if self.as_root:
            self._ensure_os_user()
        data_dir = self._choose_data_dir()
        if data_dir.exists() and any(data_dir.iterdir()) and not (data_dir / "PG_VERSION").exists():
            raise DatabaseError(
                _(
                    "{data_dir} exists but is not a PostgreSQL data directory; move it away "
                    "or run `gridgeo db reset`"
                ).format(data_dir=data_dir)
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        if self.as_root:
            shutil.chown(data_dir, user=self.settings.pg_os_user)
            shutil.chown(data_dir.parent, user=self.settings.pg_os_user)
        self._save_state(data_dir=str(data_dir))
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                self.settings.pg_user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            timeout=300,
        )
        conf = data_dir / "postgresql.auto.conf"
        extra = (
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = ''\n"
            # A dev/demo/test server: an OS crash may lose data (no fsync), a server crash may not.
            "fsync = off\n"
            "full_page_writes = off\n"
            "max_connections = 100\n"
            "shared_buffers = '256MB'\n"
        )
        extra += "".join(f"{k} = '{v}'\n" for k, v in SERVER_SETTINGS.items())
        self._run(["sh", "-c", f"cat >> '{conf}' <<'EOF'\n{extra}EOF"])
        log.info("initialised PostgreSQL data directory %s", data_dir)
        return True

    def status(self) -> Status:
        data_dir = self.data_dir
        if not self.is_initialized():
            return Status(False, False, self.port, data_dir)
        pid = self._live_pid()
        return Status(True, pid is not None, self.port, data_dir, pid)

    def _live_pid(self) -> int | None:
        """PID of the postmaster when it is really running; clears stale pid files' meaning."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            first = pidfile.read_text().splitlines()[0]
            pid = int(first)
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"postgres" in cmdline else None

    @staticmethod
    def _refuse_taken(port: int) -> None:
        """Raise :class:`DatabaseError` if ``port`` (set by GRIDGEO_PG_PORT) is in use."""
        if not port_is_free(port):
            raise DatabaseError(
                _(
                    "port {port} (GRIDGEO_PG_PORT) is already in use by another program; "
                    "free it, set GRIDGEO_PG_PORT to a free port, or unset it to let gridgeo "
                    "choose"
                ).format(port=port)
            )

    def start(self) -> Status:
        """Initialise if needed and start the server; reuses a running one (idempotent)."""
        explicit = self.settings.pg_port
        if explicit and not self.status().running:
            self._refuse_taken(explicit)  # before initdb: a refused start writes nothing
        self.init()
        st = self.status()
        if st.running:
            self._wait_ready(st.port)
            self._use_passwords()
            return st
        bindir = _pg_bindir()
        port = explicit or self.port or find_free_port()
        if not port_is_free(port):
            if explicit:
                self._refuse_taken(port)
            new_port = find_free_port(port + 1)
            log.warning("port %s is in use by another program; using %s instead", port, new_port)
            port = new_port
        self._save_state(port=port)
        self._add_server_settings()
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():
            log.info("removing stale %s left by a stopped server", stale)
            with contextlib.suppress(OSError):
                stale.unlink()
        proc = self._run(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(self.settings.pg_start_timeout)),
                "-o",
                f"-p {port}",
            ],
            check=False,
            timeout=self.settings.pg_start_timeout + 30,
        )
        if proc.returncode != 0:
            tail = ""
            with contextlib.suppress(OSError):
                tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-8:])
            raise DatabaseError(
                _("the private PostGIS instance did not start on port {port}: {output}")
                .format(port=port, output=(proc.stderr or proc.stdout).strip())
                .strip()
                + f"\n{tail}".rstrip()
            )
        self._wait_ready(port)
        self._use_passwords()
        from gridgeo.database.connect import ensure_database

        ensure_database(self.url(dbname="postgres"), self.settings.pg_dbname)
        log.info("private PostGIS running on 127.0.0.1:%s", port)
        return self.status()

    def _add_server_settings(self) -> None:
        """Append the :data:`SERVER_SETTINGS` an instance's postgresql.auto.conf lacks (stopped)."""
        conf = self.data_dir / "postgresql.auto.conf"
        have = {
            line.split("=", 1)[0].strip()
            for line in self._read_owned(conf).splitlines()
            if "=" in line and not line.lstrip().startswith("#")
        }
        if "wal_level" in have:  # the owner chose a WAL level (replication?): leave the senders
            have.add("max_wal_senders")
        extra = "".join(f"{k} = '{v}'\n" for k, v in SERVER_SETTINGS.items() if k not in have)
        if extra:
            self._run(["sh", "-c", f"cat >> '{conf}' <<'EOF'\n{extra}EOF"])
            log.info("added to %s: %s", conf, extra.strip().replace("\n", ", "))

    def _wait_ready(self, port: int | None) -> None:
        import psycopg

        deadline = time.monotonic() + self.settings.pg_start_timeout
        last = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url(dbname="postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.2)
        raise DatabaseError(
            _("the private PostGIS on port {port} does not answer: {last}").format(
                port=port, last=last
            )
        )

    def stop(self) -> bool:
        """Stop the server if it runs; returns whether it was running."""
        if not self.status().running:
            return False
        bindir = _pg_bindir()
        self._run(
            [str(bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"],
            timeout=120,
        )
        return True

    def reset(self) -> None:
        """Stop the server and delete its data directory (all data is lost)."""
        self.stop()
        data_dir = self.data_dir
        if data_dir.exists():
            shutil.rmtree(data_dir)
        with contextlib.suppress(OSError):
            self.log_file.unlink()
        if data_dir.parent.parent == FALLBACK_BASE:  # our own folder under /var/tmp
            shutil.rmtree(data_dir.parent, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.state_file.unlink()
