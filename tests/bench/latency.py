"""API accept latency under a fixed offered load (open loop), and the accept-only ceiling.

Open loop: request i is due at start + i / rate whatever the earlier ones are doing, and
its latency counts from when it was due, so a slow server cannot hide its queueing by
slowing the client down (coordinated omission).
"""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from tests.bench.measure import percentile
from tests.bench.throughput import PAYMENT

SENDERS = 64


@dataclass(frozen=True)
class LatencyRun:
    offered_rate: float
    sent: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    achieved_rate: float


def open_loop(web_url: str, key: str, rate: float, seconds: float) -> LatencyRun:
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    local = threading.local()
    start = time.perf_counter() + 0.5

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Bearer {key}"
        return local.session  # type: ignore[no-any-return]

    def send(index: int) -> None:
        nonlocal errors
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            response = session().post(
                f"{web_url}/api/v1/payments",
                json=PAYMENT,
                headers={"Idempotency-Key": str(uuid.uuid4())},
                timeout=30,
            )
            failed = response.status_code != 202
        except requests.RequestException:
            failed = True
        finished = time.perf_counter()
        with lock:
            if failed:
                errors += 1
            else:
                latencies.append(finished - due)

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(send, range(total)))
    elapsed = time.perf_counter() - start
    return LatencyRun(
        offered_rate=rate,
        sent=total,
        errors=errors,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=max(latencies, default=float("nan")) * 1000,
        achieved_rate=total / elapsed,
    )


def accept_ceiling(web_url: str, key: str, seconds: float, clients: int = 16) -> float:
    """Payments accepted per second by clients sending as fast as answers come (no workers)."""
    accepted = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        nonlocal accepted
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        while time.perf_counter() < deadline:
            response = session.post(
                f"{web_url}/api/v1/payments",
                json=PAYMENT,
                headers={"Idempotency-Key": str(uuid.uuid4())},
                timeout=30,
            )
            if response.status_code == 202:
                with lock:
                    accepted += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return accepted / (time.perf_counter() - started)
