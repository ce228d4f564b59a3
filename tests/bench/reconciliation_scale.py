"""Reconciliation at 100,000 payments a day: a two-day window walked in chunks, timed.

The fake Stripe is seeded with two days of succeeded PaymentIntents (its bulk seed) and
the database with the matching payments (the real model), then one run compares them
all, chunk by chunk as the beat-driven tasks do. The figures: the whole run, and the
slowest chunk against the task's 120 s soft time limit.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import requests
import stripe

from tests import processes
from tests.bench.stack import FAKESTRIPE_PROFILE

PAYMENTS_PER_DAY = 100_000
DAYS = 2
SEED_BATCH = 20_000


@dataclass(frozen=True)
class ReconciliationTiming:
    intents: int
    seconds: float
    chunks: int
    slowest_chunk_seconds: float
    mismatches: int


def seed(stripe_url: str, client_id: int, total: int, progress: Callable[[int], object]) -> None:
    from django.utils import timezone

    from payments.models import Payment, PaymentStatus

    now = int(time.time())
    window = DAYS * 24 * 3600
    # Seeding takes minutes: start well inside the window, or its oldest intents age out of
    # it before the run and count as mismatches (77 of 200,000 did with a 60 s margin).
    margin = 1800
    for offset in range(0, total, SEED_BATCH):
        count = min(SEED_BATCH, total - offset)
        answer = requests.post(
            f"{stripe_url}/_fake/seed",
            json={
                "count": count,
                "amount": 2000,
                "currency": "usd",
                "status": "succeeded",
                "created_from": now - window + margin + offset * (window - margin) // total,
                "created_to": now - window + margin + (offset + count) * (window - margin) // total,
                "metadata": {"payment_id": "{uuid}"},
                "return_intents": True,
            },
            timeout=600,
        )
        answer.raise_for_status()
        Payment.objects.bulk_create(
            Payment(
                id=uuid.UUID(intent["metadata"]["payment_id"]),
                client_id=client_id,
                idempotency_key=f"recon-{intent['id']}",
                request_fingerprint="0" * 64,
                amount=2000,
                currency="USD",
                payment_method="pm_card_visa",
                status=PaymentStatus.SUCCEEDED,
                stripe_payment_intent_id=intent["id"],
                intent_created_at=timezone.now(),
            )
            for intent in answer.json()["payment_intents"]
        )
        progress(count)


def timed_run(stripe_url: str) -> ReconciliationTiming:
    from django.utils import timezone

    from payments.gateways.stripe import StripeGateway
    from payments.services import reconciliation_runs

    gateway = StripeGateway(
        stripe.StripeClient("sk_test_bench", base_addresses={"api": stripe_url})
    )
    run = reconciliation_runs.start_run(since=timezone.now() - timedelta(days=DAYS), fix=False)
    chunk_seconds: list[float] = []
    mismatches = 0
    started = time.perf_counter()
    while run.phase != "done":
        chunk_started = time.perf_counter()
        report = reconciliation_runs.run_chunk(run.pk, gateway, queue_next=False)
        chunk_seconds.append(time.perf_counter() - chunk_started)
        mismatches += len(report.mismatches)
        run.refresh_from_db()
    return ReconciliationTiming(
        intents=run.intents_checked,
        seconds=time.perf_counter() - started,
        chunks=len(chunk_seconds),
        slowest_chunk_seconds=max(chunk_seconds),
        mismatches=mismatches,
    )


def measure(
    directory: Path, client_id: int, progress: Callable[[int], object]
) -> ReconciliationTiming:
    directory.mkdir(parents=True, exist_ok=True)
    with processes.fakestripe(directory, profile=FAKESTRIPE_PROFILE) as stripe_url:
        seed(stripe_url, client_id, PAYMENTS_PER_DAY * DAYS, progress)
        return timed_run(stripe_url)
