"""The faults, each a function that breaks a real process and heals it again."""

import os
import signal
import time
from dataclasses import dataclass

from config import beat
from tests.chaos.runner import FaultLog
from tests.chaos.stack import ChaosStack


def kill_pool_children(stack: ChaosStack, log: FaultLog) -> None:
    with log.window("kill -9 a pool child every 0.7 s"):
        for round_number in range(12):
            stack.kill_pool_child(f"worker{round_number % 2 + 1}")
            time.sleep(0.7)


def kill_whole_worker(stack: ChaosStack, log: FaultLog) -> None:
    with log.window("kill -9 worker1 (main process and children)"):
        stack.kill_worker("worker1")
        time.sleep(3)
        stack.restart_worker("worker1")


def warm_shutdown_worker(stack: ChaosStack, log: FaultLog) -> None:
    with log.window("SIGTERM worker1, restart after it drained"):
        stack.warm_shutdown_worker("worker1")
        time.sleep(1)
        stack.restart_worker("worker1")


def restart_redis(stack: ChaosStack, log: FaultLog) -> None:
    with log.window("kill -9 Redis (AOF everysec), restart after 3 s"):
        stack.kill_redis()
        time.sleep(3)
        stack.start_redis()


def restart_rabbitmq(stack: ChaosStack, log: FaultLog) -> None:
    assert stack.rabbit is not None
    with log.window("kill -9 the RabbitMQ node, restart it"):
        stack.rabbit.kill()
        time.sleep(3)
        stack.rabbit.start()


def flush_redis(stack: ChaosStack, log: FaultLog) -> None:
    with log.window("FLUSHALL: every queued message gone"):
        stack.redis_cli("FLUSHALL")
        time.sleep(1)
        stack.redis_cli("FLUSHALL")


def stripe_meltdown(stack: ChaosStack, log: FaultLog) -> None:
    with log.window("Stripe: 30% 500s"):
        stack.set_faults(error_rate=0.3)
        time.sleep(4)
    with log.window("Stripe: 30% 429s + 200 ms latency"):
        stack.set_faults(rate_limit_rate=0.3, latency_ms=200)
        time.sleep(4)
    with log.window("Stripe: 20% charged but the answer lost"):
        stack.set_faults(drop_rate=0.2)
        time.sleep(4)
    stack.clear_faults()


# Committed, not published: only the outbox relay (beat's leader) can send the task.
COMMITTED_NOT_PUBLISHED = "outbox.after_commit_before_publish"


def crash_after_commit(stack: ChaosStack, log: FaultLog) -> None:
    with (
        log.window("web process dies after COMMIT, before publish (15%)"),
        stack.web_crashes(COMMITTED_NOT_PUBLISHED, 0.15),
    ):
        time.sleep(10)


def terminate_database_sessions(stack: ChaosStack, log: FaultLog) -> None:
    with log.window("pg_terminate_backend on every session, each second"):
        for _ in range(8):
            stack.terminate_backends()
            time.sleep(1)


def publish_poison(stack: ChaosStack, log: FaultLog) -> None:
    with log.window("3 tasks that kill their worker every time they run"):
        stack.publish_poison(3)
        deadline = time.monotonic() + 120
        while stack.parked_poison() < 3:
            assert time.monotonic() < deadline, "poison not parked after the delivery limit"
            time.sleep(0.5)


def lose_messages_to_the_sweeper(stack: ChaosStack, log: FaultLog) -> None:
    """Lose queued and reserved messages: only the production-threshold sweeper finds them.

    Runs under a compressed clock with the production thresholds (900 s, every 60 s):
    a payment whose message is gone waits 900 service seconds, then is re-driven.
    """
    _wait_for_backlog(stack, queue="charges")
    with log.window("FLUSHALL with charges queued: no message left to finish them"):
        stack.redis_cli("FLUSHALL")
        time.sleep(1)
        stack.redis_cli("FLUSHALL")
    time.sleep(2)
    with log.window("kill -9 worker1 with tasks reserved, restart after 3 s"):
        stack.kill_worker("worker1")
        time.sleep(3)
        stack.restart_worker("worker1")


def _wait_for_backlog(stack: ChaosStack, queue: str, timeout: float = 30.0) -> None:
    """Until messages wait in `queue`, so the fault surely loses some (or `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(stack.redis_cli("LLEN", queue).strip() or 0) > 0:
            return
        time.sleep(0.1)


def kill_worker_while_paced(stack: ChaosStack, log: FaultLog) -> None:
    """Stripe allows far less than the fleet's budget (PACED_STRIPE): tasks wait for tokens,
    give their slot back and come again, and Stripe's 429s pause the fleet. Kill a worker
    in the middle of that."""
    _wait_for_stripe_429s(stack)
    with log.window("kill -9 worker1 while its tasks wait for Stripe tokens, restart after 3 s"):
        stack.kill_worker("worker1")
        time.sleep(3)
        stack.restart_worker("worker1")
    time.sleep(5)
    with log.window("kill -9 worker2 likewise"):
        stack.kill_worker("worker2")
        time.sleep(3)
        stack.restart_worker("worker2")


def _wait_for_stripe_429s(stack: ChaosStack, timeout: float = 60.0) -> None:
    """Until Stripe has refused some calls for its rate, so the kill meets a paced fleet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(stack.stripe_traffic()["totals"]["rate_limited"].values()) > 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"no 429 from Stripe within {timeout} s: the limit is not reached")


def kill_beat_leader(stack: ChaosStack, log: FaultLog) -> None:
    leader = beat.current_leader()
    assert leader, "one of the two beats leads"
    pid = int(leader.rsplit(":", 1)[1])
    name = next(name for name, process in stack.beats.items() if process.pid == pid)
    with (
        log.window(f"kill -9 the beat leader ({name}) while the relay is needed"),
        stack.web_crashes(COMMITTED_NOT_PUBLISHED, 0.1),
    ):
        os.killpg(pid, signal.SIGKILL)
        stack.beats[name].wait()
        deadline = time.monotonic() + 15
        while (beat.current_leader() or leader) == leader:
            assert time.monotonic() < deadline, "no standby took over"
            time.sleep(0.2)
        time.sleep(4)


@dataclass(frozen=True)
class Scenario:
    nemesis: object
    beats: int = 1
    broker: str = "redis"
    worker_args: tuple[str, ...] = ()
    # The production sweeper thresholds (config/settings.py) instead of FAST_SWEEPERS, on a
    # wall clock `clock_rate` times faster for web, workers and beat.
    production_sweepers: bool = False
    clock_rate: int = 1
    # The fake Stripe delivers its events to the web. Off under a compressed clock: the
    # fake signs with real time, which the web would refuse as a replay (300 s tolerance).
    webhooks: bool = True
    # The fault must lose work that only a recovery sweeper can finish.
    must_sweep: bool = False
    # A fake Stripe profile (POST /_fake/profile) instead of the instant, unlimited one.
    stripe_profile: dict[str, object] | None = None
    # Settings of web, workers and beat this scenario changes.
    service_env: dict[str, str] | None = None


# Live latency, and a Stripe that allows 5 calls/s per endpoint and 20/s in all; the fleet
# budgets a little more than that (6/s a class) and has 16 slots to fill it: tasks wait
# for tokens and give their slots back all the time, and Stripe answers 429 now and then.
PACED_STRIPE: dict[str, object] = {
    "name": "live",
    "limits": {"account_rate": 20, "endpoint_rate": 5},
}
PACED_FLEET = {
    "STRIPE_PACE_TOTAL_PER_SECOND": "18",
    "STRIPE_PACE_CHARGES_PER_SECOND": "6",
    "STRIPE_PACE_REFUNDS_PER_SECOND": "6",
    "STRIPE_PACE_READS_PER_SECOND": "6",
    "STRIPE_PACE_CHARGE_RESERVE": "6",
}


SCENARIOS = {
    "kill_pool_child": Scenario(kill_pool_children),
    "kill_worker": Scenario(kill_whole_worker),
    "warm_shutdown": Scenario(warm_shutdown_worker),
    "redis_restart": Scenario(restart_redis),
    "redis_flushall": Scenario(flush_redis),
    "rabbitmq_restart": Scenario(restart_rabbitmq, broker="rabbitmq"),
    "stripe_faults": Scenario(stripe_meltdown),
    "crash_after_commit": Scenario(crash_after_commit),
    "pg_terminate_backend": Scenario(terminate_database_sessions),
    "poison_message": Scenario(
        publish_poison, worker_args=("--include", "tests.integration.poison")
    ),
    "beat_leader_killed": Scenario(kill_beat_leader, beats=2),
    "stripe_paced_kill_worker": Scenario(
        kill_worker_while_paced,
        worker_args=("--concurrency", "8"),
        stripe_profile=PACED_STRIPE,
        service_env=PACED_FLEET,
    ),
    # 900 s thresholds at 30x: lost work waits 30 real seconds for the sweeper. At this rate
    # the Redis visibility timeout (3600 s) is 120 real seconds, longer than any task holds
    # a message here (no Stripe faults, so retries are rare and short).
    "production_sweepers": Scenario(
        lose_messages_to_the_sweeper,
        production_sweepers=True,
        clock_rate=int(os.environ.get("CHAOS_CLOCK_RATE", 30)),
        webhooks=False,
        must_sweep=True,
    ),
}
