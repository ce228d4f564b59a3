"""Durable work and the one rule that re-drives it: no progress for its threshold → again.

Every kind of work the service owes (a payment's charge, a refund, a webhook event, an
email, an outbox row) is a row with a status and an `updated_at`. Each app registers its
kinds here (in its AppConfig.ready); one beat task re-drives every kind, the monitor
exports how many rows of each are stuck, and `queue_status` shows them. Re-driving is
always "publish the task again through the outbox": every task is safe to run twice.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet

logger = logging.getLogger(__name__)


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


_KINDS: dict[str, WorkKind] = {}


def register(kind: WorkKind) -> None:
    _KINDS[kind.name] = kind


def kinds() -> list[WorkKind]:
    return [_KINDS[name] for name in sorted(_KINDS)]


def stuck_counts() -> dict[str, int]:
    """Rows of each kind past their threshold right now."""
    return {kind.name: kind.stuck(kind.threshold()).count() for kind in kinds()}


def recover_stuck_work(limit_per_kind: int = 1000) -> dict[str, int]:
    """Re-drive every kind's stuck rows (a bounded batch each); returns how many per kind."""
    redriven: dict[str, int] = {}
    for kind in kinds():
        ids = list(kind.stuck(kind.threshold()).values_list("pk", flat=True)[:limit_per_kind])
        redriven[kind.name] = kind.redrive(ids) if ids else 0
        if redriven[kind.name]:
            logger.warning("re-drove %d stuck %s row(s)", redriven[kind.name], kind.name)
    return redriven
