"""Durable work and the one rule that re-drives it: no progress for its threshold → again.

Every kind of work the service owes (a payment's charge, a refund, a webhook event, an
email, an outbox row) is a row with a status and an `updated_at`. Each app registers its
kinds here (in its AppConfig.ready); one beat task re-drives every kind, the monitor
exports how many rows of each are stuck, and `queue_status` shows them. Re-driving is
always "publish the task again through the outbox": every task is safe to run twice.

A row waiting for a scheduled attempt (`next_attempt_at`, config/retries.py) is not stuck:
the beat leader publishes it when it is due (outbox/due.py). Only one overdue by a whole
threshold (nothing published it) counts as stuck again.
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key of the sweep (any fixed int64, distinct from the beat leader's).
SWEEP_LOCK_KEY = 0x5041_594D_5357_4550  # "PAYMSWEP"


@dataclass(frozen=True)
class Retried:
    """A kind whose rows carry `retries` and `next_attempt_at`, and how one runs again."""

    # Rows still owing work: only these are published when due.
    owed: Callable[[], QuerySet[Any]]
    # The task that takes one row's id.
    task_name: str


@dataclass(frozen=True)
class WorkKind:
    # Short and stable: a metric label and a column of queue_status.
    name: str
    # How long a row may sit without progress before it is re-driven.
    threshold: Callable[[], timedelta]
    # Rows of this kind with no progress since the cutoff, oldest first.
    stuck: Callable[[timedelta], QuerySet[Any]]
    # Re-publish these rows' tasks (and touch them); returns how many were re-driven.
    redrive: Callable[[Sequence[Any]], int]
    # Set for kinds whose tasks schedule their own next attempt (config/retries.py).
    retried: Retried | None = None


def not_waiting(cutoff: datetime) -> Q:
    """Rows with no attempt scheduled, or one overdue since before `cutoff`."""
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=cutoff)


_KINDS: dict[str, WorkKind] = {}


def register(kind: WorkKind) -> None:
    _KINDS[kind.name] = kind


def kinds() -> list[WorkKind]:
    return [_KINDS[name] for name in sorted(_KINDS)]


def stuck_counts() -> dict[str, int]:
    """Rows of each kind past their threshold right now."""
    return {kind.name: kind.stuck(kind.threshold()).count() for kind in kinds()}


@contextmanager
def _only_sweep() -> Iterator[bool]:
    """Yields whether this is the only sweep running anywhere (a session advisory lock).

    Two sweeps at once (a slow one overlapping the next beat tick, a redelivered message)
    both read the same stuck rows before either touches them, and every row was re-driven
    twice: twice the tasks, twice the Stripe lookups, exactly when the system is already
    behind. The lock goes with the connection if the worker dies mid-sweep.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_KEY])
        (acquired,) = cursor.fetchone()
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_KEY])


def recover_stuck_work(limit_per_kind: int = 1000) -> dict[str, int]:
    """Re-drive every kind's stuck rows (a bounded batch each); returns how many per kind.

    Returns {} without touching anything while another sweep holds the lock.
    """
    with _only_sweep() as alone:
        if not alone:
            logger.info("another recovery sweep is running; skipping this one")
            return {}
        return _redrive_every_kind(limit_per_kind)


def _redrive_every_kind(limit_per_kind: int) -> dict[str, int]:
    redriven: dict[str, int] = {}
    for kind in kinds():
        ids = list(kind.stuck(kind.threshold()).values_list("pk", flat=True)[:limit_per_kind])
        redriven[kind.name] = kind.redrive(ids) if ids else 0
        if redriven[kind.name]:
            logger.warning("re-drove %d stuck %s row(s)", redriven[kind.name], kind.name)
    return redriven
