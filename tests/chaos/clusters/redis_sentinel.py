"""Redis with Sentinel on loopback: a master, two replicas and three Sentinels, each killable.

Every process gets its own port and data directory under the caller's directory, and
`stop()` ends every one of them, killed or not. Sentinel's timings are shortened (a master
is "down" after 1 s without an answer) so a drill sees a failover in seconds.
https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/
"""

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests import processes

MASTER_NAME = "payments"
SENTINEL_QUORUM = 2
DOWN_AFTER_MILLISECONDS = 1000


@dataclass
class RedisProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    zone: str

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)


@dataclass
class SentinelCluster:
    directory: Path
    # Zones a, b, c: the master, the first replica and the first Sentinel share zone a.
    servers: dict[int, RedisProcess] = field(default_factory=dict)
    sentinels: list[RedisProcess] = field(default_factory=list)
    zones: tuple[str, ...] = ("a", "b", "c")

    @property
    def broker_url(self) -> str:
        """kombu's Sentinel URL: every Sentinel, so any two of three still answer."""
        return ";".join(f"sentinel://127.0.0.1:{s.port}/0" for s in self.sentinels)

    def start(self) -> None:
        master = self._start_server("redis-a", self.zones[0], replica_of=None)
        for zone in self.zones[1:]:
            self._start_server(f"redis-{zone}", zone, replica_of=master.port)
        self._wait(lambda: _connected_replicas(master) == 2, "replicas never connected")
        for zone in self.zones:
            self._start_sentinel(zone, master.port)
        # A failover needs every Sentinel to know the replicas and a majority of its peers.
        self._wait(self._sentinels_agree, "Sentinels never discovered each other")

    def master_port(self) -> int | None:
        """The master the first answering Sentinel names, None if no Sentinel answers."""
        for sentinel in self.sentinels:
            if sentinel.process.poll() is not None:
                continue
            try:
                address = sentinel.client().sentinel_get_master_addr_by_name(MASTER_NAME)
            except redis.RedisError:
                continue
            if address:
                return int(address[1])
        return None

    def master(self) -> RedisProcess:
        port = self.master_port()
        assert port is not None, "no Sentinel names a master"
        return self.servers[port]

    def kill(self, node: RedisProcess) -> None:
        """kill -9, as a crashed host goes: no AOF rewrite, no goodbye to the replicas."""
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait()

    def wait_for_new_master(self, old_port: int, timeout: float = 60) -> float:
        """Seconds until the Sentinels name another master and it accepts writes."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            port = self.master_port()
            if port is not None and port != old_port and _accepts_writes(self.servers[port]):
                return time.monotonic() - started
            time.sleep(0.05)
        raise TimeoutError(f"no replica promoted within {timeout} s")

    def restart(self, node: RedisProcess) -> None:
        """Start a killed node again as it was (a master, from its AOF); Sentinel demotes it.

        Until Sentinel sends it REPLICAOF it believes it is a master with a stale copy of
        the queues: clients that ask Sentinel never write there; one that kept its address
        would be answered READONLY once it is demoted (celery/celery#7946).
        """
        self._start_server(node.name, node.zone, replica_of=None, port=node.port)

    def stop(self) -> None:
        for node in [*self.sentinels, *self.servers.values()]:
            processes.stop(node.process)

    # --- internals ---------------------------------------------------------------------------

    def _start_server(
        self, name: str, zone: str, *, replica_of: int | None, port: int | None = None
    ) -> RedisProcess:
        port = port or processes.free_port()
        data = self.directory / name
        data.mkdir(parents=True, exist_ok=True)
        args = [
            "redis-server",
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            # The broker's production settings (DESIGN.md): AOF every second, never evict.
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--dir", str(data),
        ]  # fmt: skip
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        process = processes.spawn(args, self.directory / f"{name}.log")
        processes.wait_for_port(port, process)
        node = RedisProcess(name, port, process, zone)
        self.servers[port] = node
        return node

    def _start_sentinel(self, zone: str, master_port: int) -> None:
        port = processes.free_port()
        data = self.directory / f"sentinel-{zone}"
        data.mkdir(parents=True, exist_ok=True)
        # Sentinel rewrites its config file as it learns the topology: one file each.
        config = data / "sentinel.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {data}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {SENTINEL_QUORUM}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MILLISECONDS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 2\n"
        )
        process = processes.spawn(
            ["redis-server", str(config), "--sentinel"], self.directory / f"sentinel-{zone}.log"
        )
        processes.wait_for_port(port, process)
        self.sentinels.append(RedisProcess(f"sentinel-{zone}", port, process, zone))

    def _sentinels_agree(self) -> bool:
        try:
            return all(
                len(s.client().sentinel_sentinels(MASTER_NAME)) == len(self.sentinels) - 1
                and len(s.client().sentinel_slaves(MASTER_NAME)) == len(self.servers) - 1
                for s in self.sentinels
            )
        except redis.RedisError:
            return False

    @staticmethod
    def _wait(condition: Callable[[], bool], message: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, message
            time.sleep(0.2)


def _connected_replicas(master: RedisProcess) -> int:
    return int(master.client().info("replication").get("connected_slaves", 0))


def _accepts_writes(node: RedisProcess) -> bool:
    try:
        return node.client().info("replication").get("role") == "master"
    except redis.RedisError:
        return False
