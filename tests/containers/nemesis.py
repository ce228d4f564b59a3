"""The guide's container faults, one after another under the chaos load: SIGKILL a worker's
container mid-task, restart the broker's container (its queue survives on the volume),
SIGKILL the beat leader's container, restart PostgreSQL's container. Each is timed from
the fault to the container healthy again."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connection

from config import beat
from tests.chaos.runner import FaultLog, Nemesis
from tests.chaos.stack import ChaosStack
from tests.containers.compose_stack import ComposeStack

# Between two faults: the service catches up, so each fault meets ordinary load.
SETTLE_SECONDS = 8.0
# `podman kill` (as `docker kill`) counts as a stop by hand: the restart policy leaves the
# container down, and the operator starts it again. This long after the kill we do.
DOWN_SECONDS = 3.0
# Enough waiting messages that a lost queue could not pass unnoticed.
QUEUED_BEFORE_RESTART = 5
# Every worker service of docker/compose.yaml: paused together, nothing consumes.
WORKERS = ("celery-worker", "celery-charges")
# Sum of every list in Redis: kombu keeps each queue (and priority sub-queue) as one.
REDIS_QUEUED = (
    "local n = 0 for _, k in ipairs(redis.call('KEYS', '*')) do "
    "if redis.call('TYPE', k).ok == 'list' then n = n + redis.call('LLEN', k) end end return n"
)


@dataclass
class Restart:
    fault: str
    container: str
    seconds_to_healthy: float
    note: str = ""


def container_faults(compose: ComposeStack, restarts: list[Restart]) -> Nemesis:
    def nemesis(stack: ChaosStack, log: FaultLog) -> None:
        for fault in (kill_worker, restart_broker, kill_beat_leader, restart_postgres):
            fault(compose, log, restarts)
            time.sleep(SETTLE_SECONDS)

    return nemesis


def kill_worker(compose: ComposeStack, log: FaultLog, restarts: list[Restart]) -> None:
    """`docker kill celery-charges-1`: SIGKILL mid-charge; the other charge worker goes on,
    and the killed one's tasks come back (redelivered, or re-driven by the sweeper)."""
    worker = compose.name("celery-charges", 1)
    with log.window(f"SIGKILL {worker}"):
        _wait_for(lambda: _processing() > 0, "a charge in flight")
        killed_at = time.time()
        compose.sigkill(worker)
        time.sleep(DOWN_SECONDS)
        compose.start(worker)
        healthy_at = compose.wait_healthy([worker])[worker]
    restarts.append(
        Restart(
            "SIGKILL worker mid-task",
            worker,
            round(healthy_at - killed_at, 1),
            f"podman start {DOWN_SECONDS:.0f} s after the kill",
        )
    )


def restart_broker(compose: ComposeStack, log: FaultLog, restarts: list[Restart]) -> None:
    """Restart the broker's container with the workers paused: what was queued is still
    queued after it (Redis: the AOF on its volume; RabbitMQ: quorum queues on its volume)."""
    broker = compose.name("redis" if compose.broker == "redis" else "rabbitmq")
    workers = [compose.name(service, n) for service in WORKERS for n in (1, 2)]
    paused: list[str] = []
    with log.window(f"restart {broker}"):
        try:
            for worker in workers:
                compose.pause(worker)
                paused.append(worker)
            _wait_for(lambda: _queued(compose, broker) >= QUEUED_BEFORE_RESTART, "a queue")
            queued_before = _queued(compose, broker)
            restarted_at = time.time()
            compose.restart(broker)
            healthy_at = compose.wait_healthy([broker])[broker]
            queued_after = _queued(compose, broker)
        finally:
            for worker in paused:
                compose.unpause(worker)
    # Nothing consumes while the workers are paused: a restart that lost messages shows here.
    assert queued_after >= queued_before > 0, (queued_before, queued_after)
    restarts.append(
        Restart(
            f"restart {compose.broker}",
            broker,
            round(healthy_at - restarted_at, 1),
            f"queued {queued_before} before, {queued_after} after",
        )
    )


def kill_beat_leader(compose: ComposeStack, log: FaultLog, restarts: list[Restart]) -> None:
    """SIGKILL the container of the beat holding the leader lock; the standby takes over."""
    beats = {
        compose.hostname(name): name for name in (compose.name("celery-beat", n) for n in (1, 2))
    }
    _wait_for(lambda: _leader() is not None, "a beat leader")
    leader = _leader() or ""
    container = beats[leader.split("@", 1)[1].split(":", 1)[0]]
    with log.window(f"SIGKILL beat leader {container}"):
        killed_at = time.time()
        compose.sigkill(container)
        _wait_for(lambda: (_leader() or leader) != leader, "a new beat leader")
        took_over = time.time() - killed_at
        compose.start(container)
        healthy_at = compose.wait_healthy([container])[container]
    restarts.append(
        Restart(
            "SIGKILL beat leader",
            container,
            round(healthy_at - killed_at, 1),
            f"standby leading after {took_over:.1f} s",
        )
    )


def restart_postgres(compose: ComposeStack, log: FaultLog, restarts: list[Restart]) -> None:
    postgres = compose.name("postgres")
    with log.window(f"restart {postgres}"):
        restarted_at = time.time()
        compose.restart(postgres)
        connection.close()  # this process's session died with the server
        healthy_at = compose.wait_healthy([postgres])[postgres]
    restarts.append(Restart("restart PostgreSQL", postgres, round(healthy_at - restarted_at, 1)))


def _queued(compose: ComposeStack, broker: str) -> int:
    if compose.broker == "redis":
        return int(compose.exec(broker, "redis-cli", "EVAL", REDIS_QUEUED, "0").strip())
    listed = compose.exec(broker, "rabbitmqctl", "list_queues", "-q", "--no-table-headers",
                          "name", "messages")  # fmt: skip
    return sum(int(line.split()[-1]) for line in listed.splitlines() if line.strip())


def _processing() -> int:
    from payments.models import Payment

    return Payment.objects.filter(status="processing").count()


def _leader() -> str | None:
    try:
        return beat.current_leader()
    except DatabaseError:
        connection.close()
        return None


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)
