"""PostgreSQL on loopback: a primary and streaming standbys (initdb, pg_basebackup, pg_ctl).

Plain `pg_ctl promote` rather than Patroni: a drill wants the failover itself to be the
thing measured, and Patroni needs a DCS (etcd or Consul) that this machine does not run;
the runbook (docs/runbook.md) describes what Patroni or a managed Multi-AZ service adds.
The servers run as the `postgres` user (initdb refuses root) from a directory it owns,
outside pytest's private temp tree, and `stop()` ends every one of them.
"""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests import processes

BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
SUPERUSER = "postgres"


def _as_postgres(*args: str) -> str:
    return subprocess.run(
        ["runuser", "-u", SUPERUSER, "--", *args], capture_output=True, text=True, check=True
    ).stdout


@dataclass
class PostgresServer:
    name: str
    port: int
    data: Path
    zone: str
    # Cleared by kill(): a killed postmaster leaves its pid file behind.
    running: bool = False

    def start(self) -> None:
        self.running = True
        _as_postgres(
            str(BIN / "pg_ctl"), "-D", str(self.data),
            "-l", str(self.data.parent / f"{self.name}.log"),
            "-o", f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1",
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def kill(self) -> None:
        """kill -9 the postmaster and every backend at once, as a crashed host goes."""
        self.running = False
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True
        ).stdout.split()
        for pid in [postmaster, *map(int, children)]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # A killed postmaster leaves its pid file; the next start checks the pid is gone.
        while _alive(postmaster):
            time.sleep(0.05)

    def promote(self) -> None:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote")

    def in_recovery(self) -> bool:
        with psycopg.connect(self.dsn(), connect_timeout=3) as session:
            row = session.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])

    def stop(self) -> None:
        if self.running:
            self.running = False
            subprocess.run(
                ["runuser", "-u", SUPERUSER, "--", str(BIN / "pg_ctl"), "-D", str(self.data),
                 "-m", "immediate", "-w", "stop"],
                capture_output=True, check=False,
            )  # fmt: skip


@dataclass
class PostgresCluster:
    """A primary and `standbys` streaming replicas; with `synchronous`, a COMMIT waits for one."""

    database: str
    standbys: int = 1
    synchronous: bool = True
    zones: tuple[str, ...] = ("a", "b", "c")
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="payments-pg-")))
    servers: list[PostgresServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory.chmod(0o755)
        shutil.chown(self.directory, SUPERUSER, SUPERUSER)

    @property
    def url(self) -> str:
        """libpq multi-host: whichever listed server takes writes now, in list order."""
        hosts = ",".join(f"127.0.0.1:{server.port}" for server in self.servers)
        return f"postgres://{SUPERUSER}@{hosts}/{self.database}?target_session_attrs=read-write"

    def django_settings(self) -> dict[str, object]:
        """HOST/PORT/NAME/OPTIONS as django-environ parses `url` (comma lists for libpq)."""
        return {
            "HOST": ",".join("127.0.0.1" for _ in self.servers),
            "PORT": ",".join(str(server.port) for server in self.servers),
            "NAME": self.database,
            "OPTIONS": {"target_session_attrs": "read-write"},
        }

    def start(self, seed_sql: str = "") -> None:
        """initdb the primary, load `seed_sql` (a pg_dump), clone the standbys from it."""
        primary = self._server("pg-a", self.zones[0])
        _as_postgres(
            str(BIN / "initdb"), "-D", str(primary.data), "-U", SUPERUSER, "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        primary.start()
        with psycopg.connect(primary.dsn(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        if seed_sql:
            subprocess.run(
                [str(BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", primary.dsn(self.database)],
                input=seed_sql, capture_output=True, text=True, check=True,
            )  # fmt: skip
        for number in range(1, self.standbys + 1):
            standby = self._server(f"pg-{self.zones[number]}", self.zones[number])
            # -R writes primary_conninfo and standby.signal: it starts as a streaming standby.
            _as_postgres(
                str(BIN / "pg_basebackup"), "-d", primary.dsn(), "-D", str(standby.data),
                "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
            )  # fmt: skip
            standby.start()
        self._wait_streaming(primary)
        if self.synchronous:
            # A COMMIT (and so a 202) returns only once a standby has the WAL: a promoted
            # standby has every acknowledged payment. Set on the primary only, after the
            # base backups: a promoted standby runs alone without waiting for a partner.
            with psycopg.connect(primary.dsn(), autocommit=True) as admin:
                admin.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
                admin.execute("SELECT pg_reload_conf()")

    def primary(self) -> PostgresServer:
        for server in self.servers:
            if server.running and not server.in_recovery():
                return server
        raise AssertionError("no primary")

    def standby(self) -> PostgresServer:
        return next(s for s in self.servers if s.running and s.in_recovery())

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _server(self, name: str, zone: str) -> PostgresServer:
        server = PostgresServer(name, processes.free_port(), self.directory / name, zone)
        self.servers.append(server)
        return server

    def _wait_streaming(self, primary: PostgresServer, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with psycopg.connect(primary.dsn(), autocommit=True) as admin:
            while True:
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
                if row and row[0] == self.standbys:
                    return
                assert time.monotonic() < deadline, "standbys never streamed"
                time.sleep(0.2)


def dump_database(dsn: str) -> str:
    """The SQL of a pg_dump (schema and data), owners left out so any superuser can load it."""
    return subprocess.run(
        [str(BIN / "pg_dump"), "--no-owner", "--no-privileges", dsn],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def _alive(pid: int) -> bool:
    """False once the process is gone or a zombie (pg_ctl's daemon is nobody's child here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
