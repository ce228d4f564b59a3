"""How long a charge held by a kill -9'd worker takes to run again: Redis versus RabbitMQ.

RabbitMQ returns an unacked message the moment the worker's connection drops. Redis keeps
it in its unacked set until the visibility timeout (180 s); the monitor
(`manage.py celery_monitor`, monitoring/orphans.py) sees the worker's heartbeats stop and
restores the messages no living worker holds first. Production defaults throughout: the
monitor, beat and the sweeper's 900 s thresholds as they ship.
"""

import time
import uuid
from pathlib import Path

import psycopg
import requests

from tests.bench import stack as bench_stack
from tests.bench.measure import wait_until
from tests.bench.throughput import PAYMENT, api_key

SETTINGS = {
    # The held charge must not time out by itself while the benchmark sets up the kill.
    "STRIPE_TIMEOUT_SECONDS": "300",
}


def charge_attempts(payment_id: str) -> int:
    with psycopg.connect(bench_stack.DATABASE_URL) as db:
        row = db.execute(
            "SELECT charge_attempts FROM payments_payment WHERE id = %s", [payment_id]
        ).fetchone()
    return int(row[0]) if row else 0


def seconds_to_run_again(directory: Path, broker: str) -> float:
    with bench_stack.running(directory, broker=broker, workers=0, env=SETTINGS) as bench:
        bench.start_worker("worker1", concurrency=1)
        bench.start_beat()
        bench.start_monitor()
        # Stripe answers the charge (one create with confirm) in 2 minutes: it is held by
        # worker1 meanwhile.
        requests.post(
            f"{bench.stripe_url}/_fake/faults",
            json={"latency_ms": 120_000, "paths": ["/v1/payment_intents"], "methods": ["POST"]},
            timeout=5,
        ).raise_for_status()
        key = api_key()
        response = requests.post(
            f"{bench.web_url}/api/v1/payments",
            json=PAYMENT,
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())},
            timeout=30,
        )
        payment_id = response.json()["id"]
        wait_until(lambda: charge_attempts(payment_id) == 1, timeout=300)
        bench.start_worker("worker2", concurrency=1)
        requests.delete(f"{bench.stripe_url}/_fake/faults", timeout=5)
        killed_at = time.perf_counter()
        bench.kill_worker("worker1")
        wait_until(lambda: charge_attempts(payment_id) >= 2, timeout=600, interval=0.05)
        return time.perf_counter() - killed_at
