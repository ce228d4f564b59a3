"""A beat leader whose host vanishes (no FIN, no RST) loses the lock in seconds, not hours.

Two real `celery beat` processes; the leader's packets to and from PostgreSQL are dropped by
nftables on the loopback interface, so neither side hears a goodbye, as when a host loses
power or its network. TCP keepalives on the lock connection (config/beat.py) must end the
session on the server, so the standby takes the lock, and end it on the leader, so it stops
dispatching.
"""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config import beat
from tests import processes

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None,
    reason="black-holing a connection needs root and nft (scripts/system_packages.sh)",
)

# nftables matches a local socket's owner, not its process: each beat runs with a group id of
# its own, so the rule also drops the connections the leader opens after the black hole
# starts (a vanished host cannot reconnect either). They stay uid 0 to read the virtualenv.
GROUP_IDS = {"beat-a": 61_234, "beat-b": 61_235}
DISPATCHED = "Sending due task"


def test_a_standby_takes_over_within_seconds_when_the_leaders_host_vanishes(
    transactional_db, private_broker, tmp_path
):
    env = processes.test_environment(private_broker)
    beats = {
        name: spawn_beat(env, tmp_path / f"{name}.log", group=group)
        for name, group in GROUP_IDS.items()
    }
    try:
        wait_until(lambda: beat.current_leader() is not None, timeout=30)
        [leader] = [
            name for name in beats if beat.current_leader() == application_name(beats[name])
        ]
        [standby] = [name for name in beats if name != leader]
        wait_until(lambda: has_session(application_name(beats[standby])), timeout=30)
        leader_log = tmp_path / f"{leader}.log"
        wait_until(lambda: DISPATCHED in leader_log.read_text(), timeout=15)

        with black_hole(beats[leader].pid, GROUP_IDS[leader], postgres_port()):
            vanished_at = time.monotonic()
            wait_until(
                lambda: beat.current_leader() == application_name(beats[standby]), timeout=60
            )
            takeover_seconds = time.monotonic() - vanished_at
            print(f"\nstandby became the leader {takeover_seconds:.1f} s after the leader vanished")
            # PostgreSQL ended the old leader's session: nothing merely unlocked it.
            assert not has_session(application_name(beats[leader]))
            # The leader noticed too: its lock check failed and it stood down for good.
            wait_until(lambda: "lost the leader lock" in leader_log.read_text(), timeout=30)
            _, _, after_losing = leader_log.read_text().partition("lost the leader lock")
            assert DISPATCHED not in after_losing, "the old leader dispatched"
            assert beat.current_leader() == application_name(beats[standby])
            processes.stop(beats[leader])  # a vanished host does not come back

        # Well under the kernel's 2 h; not instant either, so no FIN or RST got through.
        assert 3 < takeover_seconds < 60
    finally:
        for process in beats.values():
            processes.stop(process)


def spawn_beat(env: dict[str, str], log_file: Path, *, group: int) -> subprocess.Popen[bytes]:
    """processes.celery_beat, but with its own group id."""
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [str(processes.BIN / "celery"), "-A", "config", "beat", "-l", "INFO", "--pidfile", ""],
            cwd=processes.PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            group=group,
        )


@contextmanager
def black_hole(pid: int, group: int, postgres: int) -> Iterator[None]:
    """Drop, silently and both ways, every packet between process `pid` and PostgreSQL."""
    ports = tcp_ports_to(pid, postgres)
    assert ports, "the leader has no connection to PostgreSQL"
    table = f"payments_test_black_hole_{os.getpid()}"
    port_set = "{ " + ", ".join(str(port) for port in ports) + " }"
    ruleset = f"""
    table inet {table} {{
        chain output {{
            type filter hook output priority filter; policy accept;
            oifname "lo" meta skgid {group} tcp dport {postgres} drop
            oifname "lo" tcp sport {port_set} tcp dport {postgres} drop
            oifname "lo" tcp sport {postgres} tcp dport {port_set} drop
        }}
    }}
    """
    subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, check=True)
    try:
        yield
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=True)
        # Sessions without server-side keepalives (the leader's Django connection) would
        # outlive the test by the kernel's 2 h, and keep its database from being dropped.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE client_port = ANY(%s)",
                [ports],
            )


def tcp_ports_to(pid: int, remote_port: int) -> list[int]:
    """Local ports of the process's IPv4 TCP connections to `remote_port` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue  # closed between the listing and the read
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in inodes and int(remote.split(":")[1], 16) == remote_port:
            ports.append(int(local.split(":")[1], 16))
    return sorted(ports)


def postgres_port() -> int:
    return int(settings.DATABASES["default"]["PORT"] or 5432)


def application_name(process: subprocess.Popen[bytes]) -> str:
    return f"{beat.APPLICATION_NAME_PREFIX}@{socket.gethostname()}:{process.pid}"


def has_session(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name])
        row = cursor.fetchone()
    return bool(row and row[0])


def wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
