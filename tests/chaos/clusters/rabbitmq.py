"""A three-node RabbitMQ cluster on loopback, quorum queues replicated on every node.

Each node is a `tests.processes.RabbitNode` (own node name, AMQP and distribution ports,
mnesia and log directories), so the machine's own RabbitMQ on 5672 is never touched.
Nodes join the first with `rabbitmqctl join_cluster`; the workers declare the quorum
queues afterwards, so every queue gets a member on all three nodes.
https://www.rabbitmq.com/docs/clustering, https://www.rabbitmq.com/docs/quorum-queues
"""

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from tests import processes


class ClusterNode(processes.RabbitNode):
    """A RabbitNode that remembers its zone and whether a drill killed it."""

    def __init__(self, zone: str) -> None:
        super().__init__()
        self.zone = zone
        self.running = False

    def start(self, timeout: float = 120.0) -> None:
        super().start(timeout)
        self.running = True

    def kill(self) -> None:
        self.running = False
        super().kill()

    def ctl(self, *args: str) -> str:
        return subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.name, *args],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip

    def remove(self) -> None:
        """Stop the node (whatever state it is in) and delete its data."""
        subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.name, "stop"],
            capture_output=True, check=False, timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)


class RabbitCluster:
    def __init__(self, zones: tuple[str, ...] = ("a", "b", "c")) -> None:
        self.nodes = [ClusterNode(zone) for zone in zones]

    @property
    def broker_url(self) -> str:
        """Every node's URL: kombu fails over to the next when one refuses."""
        return ";".join(node.url for node in self.nodes)

    def start(self) -> None:
        # Booting an Erlang node takes seconds of CPU each: boot all three at once.
        self.start_nodes(self.nodes)
        first, *others = self.nodes
        for node in others:
            node.ctl("stop_app")
            node.ctl("reset")  # a node joins with nothing of its own
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
        self.wait_running(len(self.nodes))

    def start_nodes(self, nodes: list[ClusterNode]) -> None:
        with ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(lambda node: node.start(), nodes))

    def alive(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.running]

    def wait_running(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                running = self.alive()[0].ctl("eval", "length(rabbit_nodes:all_running()).")
                if int(running.strip()) == count:
                    return
            except (subprocess.SubprocessError, ValueError, IndexError):
                pass
            assert time.monotonic() < deadline, f"{count} RabbitMQ nodes never ran together"
            time.sleep(0.5)

    def queue_leader(self, queue: str) -> ClusterNode | None:
        """The node leading `queue` (a Raft leader), as a live node reports it."""
        for reporter in self.alive():
            try:
                listing = reporter.ctl("list_queues", "name", "leader", "--no-table-headers")
            except subprocess.SubprocessError:
                continue
            for line in listing.splitlines():
                name, _, leader = line.partition("\t")
                if name == queue:
                    return next((n for n in self.nodes if n.name == leader.strip()), None)
        return None

    def wait_for_new_leader(self, queue: str, old: ClusterNode, timeout: float = 60) -> float:
        """Seconds until a live node other than `old` leads `queue`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            leader = self.queue_leader(queue)
            if leader is not None and leader is not old and leader.running:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"no new leader for {queue} within {timeout} s")

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.remove(), self.nodes))
