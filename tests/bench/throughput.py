"""End-to-end rates: raw Celery's two-task chain, and payments from POST to receipt sent."""

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import requests

from tests import processes
from tests.bench import stack as bench_stack
from tests.bench.measure import wait_until

CLIENTS = 8
PAYMENT = {
    "amount": 2_000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "customer_email": "buyer@example.com",
    "description": "benchmark",
}


def database() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(bench_stack.DATABASE_URL, autocommit=True)


def count(query: str, *params: object) -> int:
    with database() as db:
        row = db.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def api_key() -> str:
    """A fresh API client in the bench database, made by the service's own command."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    out = subprocess.run(
        [str(processes.BIN / "python"), "manage.py", "create_api_client", name, "--quiet-key"],
        cwd=processes.PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": bench_stack.DATABASE_URL},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def post_payments(web_url: str, key: str, total: int, clients: int = CLIENTS) -> list[float]:
    """POST `total` payments from `clients` keep-alive sessions; returns each accept latency."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one_client(share: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        for _ in range(share):
            started = time.perf_counter()
            response = session.post(
                f"{web_url}/api/v1/payments",
                json=PAYMENT,
                headers={"Idempotency-Key": str(uuid.uuid4())},
                timeout=30,
            )
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            with lock:
                latencies.append(elapsed)

    shares = [total // clients + (1 if n < total % clients else 0) for n in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one_client, shares))
    return latencies


def payments_finished() -> int:
    """Payments whose charge ended and whose receipt or failure email went out."""
    return count(
        """
        SELECT count(*) FROM payments_payment p
        JOIN notifications_notification n ON n.subject = 'payment:' || p.id::text
        WHERE p.status NOT IN ('pending', 'processing') AND n.status = 'sent'
        """
    )


def pipeline_rate(
    bench: bench_stack.BenchStack, total: int, progress: Callable[[int], object] | None = None
) -> float:
    """Payments per second from the first POST to the last receipt sent."""
    key = api_key()
    before = payments_finished()
    started = time.perf_counter()
    post_payments(bench.web_url, key, total)
    wait_until(lambda: payments_finished() - before >= total, timeout=max(120, total))
    elapsed = time.perf_counter() - started
    if progress:
        progress(1)
    return total / elapsed


def baseline_chain_rate(directory: Path, broker: str, total: int) -> float:
    """Two-task chains per second through raw Celery with django-db results."""
    from celery import Celery, chain

    env = {"DATABASE_URL": bench_stack.DATABASE_URL, "LOG_LEVEL": "WARNING"}
    with baseline_workers(directory, broker, env) as broker_url:
        # A publisher of its own per broker: a Celery app keeps its first connection pool.
        publisher = Celery("bench-publisher", broker=broker_url, set_as_current=False)
        publisher.conf.task_serializer = "json"
        results_before = count("SELECT count(*) FROM django_celery_results_taskresult")
        started = time.perf_counter()
        with publisher.producer_or_acquire() as producer:
            for number in range(total):
                chain(
                    publisher.signature("bench.first", args=(number,), queue="bench"),
                    publisher.signature("bench.second", queue="bench"),
                ).apply_async(producer=producer)
        wait_until(
            lambda: (
                count("SELECT count(*) FROM django_celery_results_taskresult") - results_before
                >= 2 * total
            ),
            timeout=max(120, total),
        )
        elapsed = time.perf_counter() - started
        publisher.close()
        return total / elapsed


@contextmanager
def baseline_workers(directory: Path, broker: str, env: dict[str, str]) -> Iterator[str]:
    """A broker and `make up`'s worker layout, running the baseline app instead of the service."""
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as cleanup:
        url = bench_stack.broker_for(broker, directory, cleanup)
        logs = []
        for number in range(1, bench_stack.WORKERS + 1):
            name = f"baseline{number}"
            worker = processes.spawn(
                [
                    str(processes.BIN / "celery"),
                    "-A",
                    "tests.bench.baseline_app",
                    "worker",
                    "-n",
                    f"{name}@%h",
                    "-Q",
                    "bench",
                    "--concurrency",
                    str(bench_stack.CONCURRENCY),
                    "--without-mingle",
                    "--without-gossip",
                    "-l",
                    "INFO",
                ],
                directory / f"{name}.log",
                {**env, "CELERY_BROKER_URL": url},
            )
            cleanup.callback(processes.stop, worker)
            logs.append(directory / f"{name}.log")
        bench_stack.wait_for_log(logs, "ready.", timeout=90)
        yield url
