"""Retries wait in PostgreSQL, not in the broker; a dead worker's charge comes back in seconds.

Real processes on a Redis of this module's own, with the production defaults (900 s stall
thresholds, the 180 s visibility timeout): workers, the beat that publishes due work, the
monitor that restores a dead worker's messages, and the fake Stripe.
"""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings
from kombu import Connection

from config import task_names
from config.celery import REDIS_VISIBILITY_TIMEOUT_SECONDS
from config.celery import app as celery_app
from config.queues import WORK_QUEUES
from payments.models import Payment
from tests import processes
from tests.factories import PaymentFactory
from tests.integration.conftest import wait_for, wait_for_final_status

pytestmark = pytest.mark.integration


@dataclass
class RetryStack:
    directory: Path
    broker_url: str
    stripe_url: str
    env: dict[str, str]
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.broker_url)

    def start_worker(self, name: str, concurrency: int = 1, **env: str) -> None:
        log = self.directory / f"{name}.log"
        if log.exists():
            log.rename(self.directory / f"{name}.{time.time_ns()}.log")
        self.workers[name] = processes.celery_worker(
            name, {**self.env, **env}, self.directory, concurrency=concurrency
        )
        wait_for(lambda: log.exists() and "ready." in log.read_text(), timeout=60)

    def kill_worker(self, name: str) -> None:
        """kill -9 the worker and its pool at once, as a lost host would go."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers.pop(name).wait()

    def set_faults(self, **faults: object) -> None:
        requests.post(f"{self.stripe_url}/_fake/faults", json=faults, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.stripe_url}/_fake/faults", timeout=5).raise_for_status()

    def charges_for(self, payment_id: str) -> int:
        ledger = requests.get(f"{self.stripe_url}/_fake/ledger", timeout=5).json()
        return sum(c["metadata"].get("payment_id") == payment_id for c in ledger["charges"])

    def charge(self, payment: Payment) -> None:
        """Publish the payment's charge to this stack's broker (not the session's)."""
        with Connection(self.broker_url) as connection:
            celery_app.send_task(
                task_names.CHARGE_PAYMENT, args=[str(payment.pk)], connection=connection
            )

    def held_in_the_broker(self) -> int:
        """Messages anywhere in Redis: queued, or delivered and unacked (where ETAs wait)."""
        client = self.redis
        return int(client.hlen("unacked")) + sum(int(client.llen(queue)) for queue in WORK_QUEUES)


@pytest.fixture(scope="module")
def retry_stack(
    django_db_setup: None, django_db_blocker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RetryStack]:
    directory = tmp_path_factory.mktemp("retry-stack")
    (directory / "mail").mkdir()
    with (
        processes.redis_server(directory) as broker_url,
        processes.fakestripe(directory, profile="zero") as stripe_url,
    ):
        with django_db_blocker.unblock():
            env = {
                **processes.test_environment(broker_url),
                "STRIPE_API_BASE": stripe_url,
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": str(directory / "mail"),
            }
        stack = RetryStack(directory, broker_url, stripe_url, env)
        beat = processes.celery_beat("beat", env, directory)
        monitor = processes.spawn(
            [
                str(processes.BIN / "python"),
                "manage.py",
                "celery_monitor",
                "--port",
                str(processes.free_port()),
            ],
            directory / "monitor.log",
            env,
        )
        try:
            yield stack
        finally:
            for process in [beat, monitor, *stack.workers.values()]:
                processes.stop(process)


def test_production_defaults_leave_recovery_to_the_monitor_and_the_timeout():
    # What the kill test below measures against: without the monitor a dead worker's
    # message waits the visibility timeout; the sweeper's threshold is longer still.
    assert REDIS_VISIBILITY_TIMEOUT_SECONDS == 180
    assert settings.STALLED_PAYMENT_SECONDS == 900


def test_a_failed_charge_waits_in_postgres_and_runs_when_due(retry_stack, transactional_db):
    stack = retry_stack
    stack.start_worker("worker1", concurrency=2)
    payment = PaymentFactory()
    stack.set_faults(error_rate=1.0)
    try:
        stack.charge(payment)
        # Three failures in a row: the next attempt is 4 to 8 s away.
        wait_for(lambda: Payment.objects.get(pk=payment.pk).retries >= 3, timeout=60)
        waiting = Payment.objects.get(pk=payment.pk)
        assert waiting.status == "processing"
        assert waiting.next_attempt_at is not None
        # The task ended: no message waits in a worker (an ETA would sit in `unacked`) or in
        # a queue; the row is the only record of the next attempt.
        assert stack.held_in_the_broker() == 0
    finally:
        stack.clear_faults()

    # The beat publishes it when due, and it runs.
    done = wait_for_final_status(str(payment.pk), timeout=60)
    assert done.status == "succeeded"
    assert done.next_attempt_at is None
    assert stack.charges_for(str(payment.pk)) == 1


def test_a_charge_held_by_a_killed_worker_runs_again_within_a_minute(retry_stack, transactional_db):
    stack = retry_stack
    for name in list(stack.workers):
        processes.stop(stack.workers.pop(name))
    # Stripe takes 2 minutes to answer the charge, and the holder waits for it: it is
    # inside the call when it dies.
    stack.start_worker("holder", concurrency=1, STRIPE_TIMEOUT_SECONDS="300")
    stack.set_faults(latency_ms=120_000, paths=["/v1/payment_intents"], methods=["POST"])
    payment = PaymentFactory()
    stack.charge(payment)
    wait_for(lambda: Payment.objects.get(pk=payment.pk).charge_attempts == 1, timeout=60)
    stack.start_worker("rescuer", concurrency=1)
    stack.clear_faults()
    assert stack.redis.hlen("unacked") == 1  # the holder's message, unacked

    killed_at = time.monotonic()
    stack.kill_worker("holder")
    wait_for(
        lambda: Payment.objects.get(pk=payment.pk).charge_attempts >= 2, timeout=240, interval=0.1
    )
    seconds = time.monotonic() - killed_at

    print(f"\nkill -9 → charge running again: {seconds:.1f} s")
    assert seconds < 60
    assert "restored payments.charge_payment" in (stack.directory / "monitor.log").read_text()
    # Stripe's answer to the dead worker's call may still come (the fake sleeps 2 min), so
    # the outcome can take that long; however it ends, the card was charged once.
    assert wait_for_final_status(str(payment.pk), timeout=240).status == "succeeded"
    assert stack.charges_for(str(payment.pk)) == 1
