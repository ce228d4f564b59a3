"""Latency of accept, read and list, and the sweeper's query, as the payments table grows."""

import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import psycopg
import requests

from tests.bench import stack as bench_stack
from tests.bench.measure import percentile
from tests.bench.throughput import PAYMENT

SEED_BATCH = 10_000


def seed_payments(
    client_id: int, rows: int, progress: Callable[[int], object], *, start: int = 0
) -> None:
    """`rows` more payments of one client with the real model, over 30 days; 1% still owed."""
    from django.db import connection
    from django.utils import timezone

    from payments.models import Payment, PaymentStatus

    now = timezone.now()
    spread = timedelta(days=30) / max(rows, 1)
    for offset in range(start, start + rows, SEED_BATCH):
        batch = [
            Payment(
                client_id=client_id,
                idempotency_key=f"seed-{n}",
                request_fingerprint="0" * 64,
                amount=2_000,
                currency="USD",
                payment_method="pm_card_visa",
                status=PaymentStatus.PROCESSING if n % 100 == 0 else PaymentStatus.SUCCEEDED,
                stripe_payment_intent_id=f"pi_seed_{n}",
                charge_attempts=1,
            )
            for n in range(offset, min(start + rows, offset + SEED_BATCH))
        ]
        Payment.objects.bulk_create(batch)
        # auto_now fields take "now" on insert: spread them as a month of history would.
        Payment.objects.filter(idempotency_key__in=[p.idempotency_key for p in batch]).update(
            created_at=now - spread * offset, updated_at=now - spread * offset
        )
        progress(len(batch))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payments_payment")


def client_id_of(key_prefix: str) -> int:
    with psycopg.connect(bench_stack.DATABASE_URL) as db:
        row = db.execute(
            "SELECT client_id FROM payments_apikey WHERE prefix = %s", [key_prefix]
        ).fetchone()
    assert row is not None
    return int(row[0])


def request_latencies(web_url: str, key: str, requests_each: int) -> dict[str, list[float]]:
    """Sequential accept, read and list requests (one keep-alive client): seconds each."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    timings: dict[str, list[float]] = {"accept": [], "read": [], "list": []}
    for _ in range(requests_each):
        started = time.perf_counter()
        created = session.post(
            f"{web_url}/api/v1/payments",
            json=PAYMENT,
            headers={"Idempotency-Key": str(uuid.uuid4())},
            timeout=30,
        )
        timings["accept"].append(time.perf_counter() - started)
        created.raise_for_status()
        payment_id = created.json()["id"]
        started = time.perf_counter()
        session.get(f"{web_url}/api/v1/payments/{payment_id}", timeout=30).raise_for_status()
        timings["read"].append(time.perf_counter() - started)
        started = time.perf_counter()
        session.get(f"{web_url}/api/v1/payments?limit=50", timeout=30).raise_for_status()
        timings["list"].append(time.perf_counter() - started)
    return timings


def sweeper_query_seconds(repeats: int = 20) -> list[float]:
    """The stalled-payment sweeper's own query (payments.selectors.stalled_payments)."""
    from payments import selectors

    query = selectors.stalled_payments(timedelta(minutes=15)).values_list("pk", flat=True)[:1000]
    sql, params = query.query.sql_with_params()
    timings = []
    with psycopg.connect(bench_stack.DATABASE_URL) as db:
        for _ in range(repeats):
            started = time.perf_counter()
            db.execute(sql, params).fetchall()
            timings.append(time.perf_counter() - started)
    return timings


def summary(values: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    return percentile(values, 0.5) * 1000, percentile(values, 0.99) * 1000
