"""Retry budgets computed, not guessed: exponential backoff with equal jitter.

Celery's own `retry_jitter` draws each countdown anywhere between 0 and the backoff, so
a retry window has no lower bound worth the name (40 retries capped at 300 s average
~1.4 h, and could all be near 0). Equal jitter keeps half of each delay fixed and draws
the other half, so the whole window has a floor and a ceiling that can be computed and
tested: the floor says how long an outage the task rides out, the ceiling stays below
Stripe's 24 h idempotency-key lifetime.
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.exceptions import Retry

# Longest countdown any task may be scheduled with: the Redis transport re-delivers an
# unacked message after its visibility timeout (config/celery.py), so every countdown
# stays well below it.
MAX_COUNTDOWN_SECONDS = 600


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_seconds: float
    max_delay_seconds: float
    max_retries: int

    def __post_init__(self) -> None:
        if self.max_delay_seconds > MAX_COUNTDOWN_SECONDS:
            raise ValueError(f"a countdown over {MAX_COUNTDOWN_SECONDS} s outlives the broker")

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


@contextmanager
def retry_on(
    task: Task[Any, Any], policy: RetryPolicy, errors: tuple[type[Exception], ...]
) -> Iterator[None]:
    """Re-queue the running task after `errors`, with the policy's countdown.

    After the last retry Celery raises the error itself: the task fails, and the work
    stays in the database for the recovery sweeper.
    """
    try:
        yield
    except errors as error:
        raise task.retry(
            exc=error,
            countdown=policy.countdown(task.request.retries),
            max_retries=policy.max_retries,
        ) from error


DEFERRALS_HEADER = "deferrals"


def deferrals_of(task: Task[Any, Any]) -> int:
    """How many times the running message was deferred (a header; Celery puts message
    headers on the request)."""
    return int(getattr(task.request, DEFERRALS_HEADER, 0) or 0)


def defer(task: Task[Any, Any], countdown: float) -> Retry:
    """Re-queue the running task for later without spending one of its failure retries.

    For work held back by a rate limit: nothing failed, so the failure budget (and the
    backoff computed from it) must not move. Celery's `Task.retry` always counts one; this
    publishes the same message the way it does (same task id and arguments, countdown)
    with the retry count unchanged. Raise what it returns, as with `retry`: the worker
    acks the old message after the new one is published, and the slot is free at once.
    https://docs.celeryq.dev/en/stable/userguide/tasks.html#retrying
    """
    countdown = min(countdown, MAX_COUNTDOWN_SECONDS)
    request = task.request
    # Counted apart from retries, so the delivery limit (config/delivery_guard.py) sees a
    # deferred message as a new one, not as the same one delivered again.
    deferrals = deferrals_of(task) + 1
    signature = task.signature_from_request(
        request,
        None,
        None,
        countdown=countdown,
        retries=request.retries,
        headers={DEFERRALS_HEADER: deferrals},
    )
    signature.apply_async()
    # celery-types asks for numbers.Real, which mypy cannot match a float against.
    when: Any = countdown
    return Retry(f"deferred {countdown:.2f} s by a rate limit", when=when, sig=signature)


# Stripe calls: 2 s doubling to 10 min; 40 retries ride out an outage of 2.7 h at least
# and stop by 5.5 h, far inside Stripe's 24 h key lifetime (a test checks both).
GATEWAY_RETRIES = RetryPolicy(first_delay_seconds=2, max_delay_seconds=600, max_retries=40)
# Email: an SMTP outage of hours is ordinary; the sweeper re-drives what still failed.
NOTIFICATION_RETRIES = RetryPolicy(first_delay_seconds=10, max_delay_seconds=600, max_retries=40)
