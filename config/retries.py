"""Retries kept in PostgreSQL: a budget computed, not guessed, and a time on the work's row.

A task that must run again later writes when on its durable row (`next_attempt_at`, with
`retries` counted one more) and ends; the beat leader publishes rows whose time has come
(outbox/due.py). Nothing waits in the broker (no countdown, no ETA), so a worker holds a
message only while it runs the task, and the Redis visibility timeout only has to outlast
the task time limit (config/celery.py).

Celery's own `retry_jitter` draws each delay anywhere between 0 and the backoff, so a
retry window has no lower bound worth the name. Equal jitter keeps half of each delay
fixed and draws the other half, so the whole window has a floor and a ceiling that can be
computed and tested: the floor says how long an outage the work rides out, the ceiling
stays below Stripe's 24 h idempotency-key lifetime.
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import Retry
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_seconds: float
    max_delay_seconds: float
    max_retries: int

    def backoff(self, retries: int) -> float:
        """The un-jittered delay before retry number `retries + 1`."""
        return float(min(self.max_delay_seconds, self.first_delay_seconds * 2**retries))

    def countdown(self, retries: int, rng: random.Random | None = None) -> float:
        delay = self.backoff(retries)
        return delay / 2 + (rng or _RANDOM).uniform(0, delay / 2)

    def window_seconds(self) -> tuple[float, float]:
        """Shortest and longest time from the first failure to the last retry."""
        delays = [self.backoff(retries) for retries in range(self.max_retries)]
        return sum(delays) / 2, float(sum(delays))


_RANDOM = random.SystemRandom()


def schedule_retry(rows: QuerySet[Any], policy: RetryPolicy) -> datetime | None:
    """Count one more failure on the row and set its next attempt by the policy.

    Returns when it runs again; None when the row has spent its budget (or is gone): it then
    waits for the recovery sweeper, which starts a new round (outbox/recovery.py).
    """
    _drop_broken_connection()
    now = timezone.now()
    with transaction.atomic():
        retries = rows.select_for_update().values_list("retries", flat=True).first()
        if retries is None or retries >= policy.max_retries:
            return None
        when = now + timedelta(seconds=policy.countdown(retries))
        rows.update(retries=retries + 1, next_attempt_at=when, updated_at=now)
    return when


def schedule_deferral(rows: QuerySet[Any], seconds: float) -> datetime:
    """Set the row's next attempt `seconds` from now without counting a failure.

    For work held back by a rate limit: nothing failed, so the failure budget (and the
    backoff computed from it) must not move.
    """
    _drop_broken_connection()
    now = timezone.now()
    when = now + timedelta(seconds=seconds)
    rows.update(next_attempt_at=when, updated_at=now)
    return when


def _drop_broken_connection() -> None:
    # The failure being recorded may have been the database's (a terminated backend):
    # Django only replaces a broken connection between tasks, and this write is still in
    # the task. errors_occurred is set only by errors Django saw on this connection.
    if connection.errors_occurred and not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def retry_later(when: datetime, error: Exception | None, why: str) -> Retry:
    """What a task raises once its next attempt is written: Celery acks the message, sends
    task-retried and records RETRY, and publishes nothing (no `sig`)."""
    # celery-types asks for numbers.Real, which mypy cannot match a datetime against.
    at: Any = when
    return Retry(f"{why}; next attempt at {when.isoformat()}", exc=error, when=at)


@contextmanager
def retry_on(
    rows: QuerySet[Any], policy: RetryPolicy, errors: tuple[type[Exception], ...]
) -> Iterator[None]:
    """After `errors`, schedule the row's next attempt by `policy` and end the task.

    With the budget spent the error itself is raised: the task fails, and the work stays in
    the database for the recovery sweeper.
    """
    try:
        yield
    except errors as error:
        when = schedule_retry(rows, policy)
        if when is None:
            raise
        raise retry_later(when, error, f"retry after {type(error).__name__}") from error


# Stripe calls: 2 s doubling to 10 min; 40 retries ride out an outage of 2.7 h at least
# and stop by 5.5 h, far inside Stripe's 24 h key lifetime (a test checks both).
GATEWAY_RETRIES = RetryPolicy(first_delay_seconds=2, max_delay_seconds=600, max_retries=40)
# Email: an SMTP outage of hours is ordinary; the sweeper re-drives what still failed.
NOTIFICATION_RETRIES = RetryPolicy(first_delay_seconds=10, max_delay_seconds=600, max_retries=40)
