"""The whole service as real processes, with the levers a nemesis pulls."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests
from django.conf import settings
from django.db import connection
from kombu import Connection

from config import failpoints
from config.celery import app as celery_app
from payments.gateways.stripe import webhooks as stripe_webhooks
from tests import processes
from tests.chaos.fast_clock import ServiceClock, build_shim


def fast_sweepers(stalled_seconds: int) -> dict[str, str]:
    """Sweeper settings that re-drive work after `stalled_seconds` instead of minutes."""
    return {
        **{
            f"STALLED_{kind}_SECONDS": str(stalled_seconds)
            for kind in ("PAYMENT", "NOTIFICATION", "REFUND", "WEBHOOK_EVENT", "RECONCILIATION")
        },
        "STALLED_OUTBOX_SECONDS": "4",
        "RECOVERY_INTERVAL_SECONDS": "2",
        "OUTBOX_RELAY_INTERVAL_SECONDS": "1",
        "OUTBOX_RELAY_GRACE_SECONDS": "2",
    }


# Sweepers run fast in chaos runs, so "healed" means seconds, not the production minutes.
FAST_SWEEPERS = fast_sweepers(stalled_seconds=8)


@dataclass
class ChaosStack:
    directory: Path
    env: dict[str, str]
    broker_port: int
    stripe_url: str = ""
    web_url: str = ""
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    beats: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis: subprocess.Popen[bytes] | None = None
    rabbit: processes.RabbitNode | None = None
    worker_args: tuple[str, ...] = ()
    clock: ServiceClock = field(default_factory=ServiceClock)
    webhooks: bool = False
    # Where the fake Stripe reaches the web, when not at web_url (a container network).
    webhook_web_url: str = ""

    # --- workers -----------------------------------------------------------------------------

    def start_worker(self, name: str) -> None:
        self.workers[name] = processes.celery_worker(
            name, self.env, self.directory, extra_args=self.worker_args
        )

    def publish_poison(self, count: int) -> None:
        with Connection(self.env["CELERY_BROKER_URL"]) as connection:
            for _ in range(count):
                celery_app.send_task("chaos.poison", queue="maintenance", connection=connection)

    def parked_poison(self) -> int:
        return int(self.redis_cli("LLEN", "dead_letters").strip() or 0)

    def wait_workers_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name in self.workers:
            log = self.directory / f"{name}.log"
            while "ready." not in (log.read_text() if log.exists() else ""):
                assert time.monotonic() < deadline, f"{name} not ready: {log}"
                time.sleep(0.2)

    def pool_children(self, name: str) -> list[int]:
        found = subprocess.run(
            ["pgrep", "-P", str(self.workers[name].pid)], capture_output=True, text=True
        )
        return [int(pid) for pid in found.stdout.split()]

    def kill_pool_child(self, name: str) -> None:
        children = self.pool_children(name)
        if children:
            # The child may have exited (recycled) since it was listed.
            with suppress(ProcessLookupError):
                os.kill(children[0], signal.SIGKILL)

    def kill_worker(self, name: str) -> None:
        """kill -9 the worker and its pool children at once."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait()

    def warm_shutdown_worker(self, name: str) -> None:
        self.workers[name].send_signal(signal.SIGTERM)
        self.workers[name].wait(timeout=120)

    def restart_worker(self, name: str) -> None:
        (self.directory / f"{name}.log").rename(self.directory / f"{name}.{time.time():.0f}.log")
        self.start_worker(name)

    # --- web ---------------------------------------------------------------------------------

    @property
    def web_failpoints(self) -> Path:
        """The web processes' failpoint directory (config/failpoints.py)."""
        return self.directory / "failpoints-web"

    @contextmanager
    def web_crashes(self, step: str, rate: float) -> Iterator[None]:
        """Web processes die (kill -9) on `rate` of their passes through `step` in the block."""
        armed = self.web_failpoints / (step + failpoints.RATE_SUFFIX)
        staged = armed.with_name(armed.name + ".new")
        staged.write_text(str(rate))
        staged.rename(armed)  # a process never reads it half-written
        try:
            yield
        finally:
            armed.unlink(missing_ok=True)

    # --- broker ------------------------------------------------------------------------------

    def start_redis(self) -> None:
        self.redis = processes.spawn(
            [
                "redis-server",
                "--port",
                str(self.broker_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--maxmemory-policy",
                "noeviction",
                "--dir",
                str(self.directory),
            ],
            self.directory / "redis.log",
        )
        processes.wait_for_port(self.broker_port, self.redis)

    def kill_redis(self) -> None:
        assert self.redis is not None
        self.redis.send_signal(signal.SIGKILL)
        self.redis.wait()

    def redis_cli(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.broker_port), *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    # --- database ----------------------------------------------------------------------------

    def terminate_backends(self) -> int:
        """pg_terminate_backend every session of the test database but this process's."""
        database = connection.settings_dict
        with psycopg.connect(
            host=database["HOST"],
            port=database["PORT"],
            user=database["USER"],
            dbname="postgres",
            autocommit=True,
        ) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid() AND application_name <> %s",
                [database["NAME"], TEST_PROCESS_APPLICATION_NAME],
            ).fetchall()
        return len(rows)

    # --- fake Stripe -------------------------------------------------------------------------

    def set_faults(self, **faults: Any) -> None:
        requests.post(f"{self.stripe_url}/_fake/faults", json=faults, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.stripe_url}/_fake/faults", timeout=5).raise_for_status()

    def ledger(self) -> dict[str, Any]:
        return self._fake_get("ledger")

    def stripe_traffic(self) -> dict[str, Any]:
        """Requests and 429s by endpoint and reason, as the fake counted them."""
        return self._fake_get("traffic")

    def set_stripe_profile(self, profile: dict[str, Any]) -> None:
        requests.post(
            f"{self.stripe_url}/_fake/profile", json=profile, timeout=5
        ).raise_for_status()

    def send_webhooks_to_web(self) -> None:
        """Have the fake deliver every event, signed, to the web's webhook endpoint.

        Retries back off from 1 s to at most 8 s (Stripe's go on for days), so a delivery
        that met a fault is retried within the scenario's drain.
        """
        endpoint = {
            "url": f"{self.webhook_web_url or self.web_url}/api/v1/webhooks/stripe",
            "secret": settings.STRIPE_WEBHOOK_SECRET,
            # As the README tells production to subscribe: only the events we act on.
            "enabled_events": list(stripe_webhooks.HANDLED_EVENT_TYPES),
        }
        retries = {"webhook_retry_max_delay_seconds": 8}
        for path, body in (("webhook_endpoints", endpoint), ("settings", retries)):
            response = requests.post(f"{self.stripe_url}/_fake/{path}", json=body, timeout=5)
            response.raise_for_status()
        self.webhooks = True

    def webhook_deliveries(self) -> dict[str, Any]:
        """Every delivery attempt (event, status, succeeded) and how many are still due."""
        return self._fake_get("webhook_deliveries")

    def webhooks_pending(self) -> int:
        """Deliveries queued or in progress (the health counts: far smaller than the attempts)."""
        return int(self._fake_get("health")["counts"]["pending_webhook_deliveries"])

    def _fake_get(self, path: str) -> dict[str, Any]:
        response = requests.get(f"{self.stripe_url}/_fake/{path}", timeout=30)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    # --- beat --------------------------------------------------------------------------------

    def start_beat(self, name: str) -> None:
        self.beats[name] = processes.celery_beat(name, self.env, self.directory)

    def kill_beat(self, name: str) -> None:
        os.killpg(self.beats[name].pid, signal.SIGKILL)
        self.beats[name].wait()


# The test process marks its own database session so terminate_backends spares it.
TEST_PROCESS_APPLICATION_NAME = "chaos-checker"


@contextmanager
def running_stack(
    directory: Path,
    *,
    broker: str = "redis",
    worker_args: tuple[str, ...] = (),
    workers: int = 2,
    beats: int = 1,
    web_env: dict[str, str] | None = None,
    sweepers: dict[str, str] = FAST_SWEEPERS,
    clock: ServiceClock | None = None,
    webhooks: bool = False,
    cluster_env: dict[str, str] | None = None,
    service_env: dict[str, str] | None = None,
) -> Any:
    """Fake Stripe (journaled), Redis with AOF or a RabbitMQ node, workers, beat(s), gunicorn.

    `sweepers={}` keeps the production thresholds; a compressed `clock` runs web, workers
    and beat on it (the fake Stripe, Redis and this process keep real time); `webhooks`
    has the fake deliver its events to the web. `broker="external"` with `cluster_env`:
    the broker (and, given DATABASE_URL, the database) is a cluster the caller started
    (tests/chaos/clusters); every process gets `cluster_env`, and `service_env` (settings a
    scenario changes).
    """
    (directory / "mail").mkdir(exist_ok=True)
    broker_port = processes.free_port()
    clock = clock or ServiceClock()
    env = {
        **processes.test_environment(f"redis://127.0.0.1:{broker_port}/0"),
        **sweepers,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(directory / "mail"),
        **(clock.environment(build_shim(directory)) if clock.compressed else {}),
        **(cluster_env or {}),
        **(service_env or {}),
    }
    stack = ChaosStack(
        directory=directory,
        env=env,
        broker_port=broker_port,
        worker_args=worker_args,
        clock=clock,
    )
    stack.web_failpoints.mkdir(exist_ok=True)  # a DR drill starts two regions here
    with ExitStack() as cleanup:
        if broker == "rabbitmq":
            stack.rabbit = processes.RabbitNode()
            stack.rabbit.start()
            cleanup.callback(stack.rabbit.stop)
            env["CELERY_BROKER_URL"] = stack.rabbit.url
        elif broker == "external":
            pass  # cluster_env named the caller's broker: nothing of ours to start
        else:
            stack.start_redis()
            cleanup.callback(lambda: stack.redis and processes.stop(stack.redis))
        stack.stripe_url = cleanup.enter_context(
            processes.fakestripe(
                directory, "--state", str(directory / "fakestripe.journal"), profile="zero"
            )
        )
        env["STRIPE_API_BASE"] = stack.stripe_url
        for number in range(1, workers + 1):
            stack.start_worker(f"worker{number}")
        cleanup.callback(lambda: [processes.stop(w) for w in stack.workers.values()])
        for number in range(1, beats + 1):
            stack.start_beat(f"beat{number}")
        cleanup.callback(lambda: [processes.stop(b) for b in stack.beats.values()])
        stack.web_url = cleanup.enter_context(
            processes.gunicorn(
                {**env, "PAYMENTS_FAILPOINT_DIR": str(stack.web_failpoints), **(web_env or {})},
                directory,
                workers=3,
            )
        )
        stack.wait_workers_ready()
        if webhooks:
            stack.send_webhooks_to_web()
        yield stack
