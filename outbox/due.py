"""Work whose next attempt is due, published by the beat leader several times a second.

Tasks never wait in the broker: a task that must run again later writes `next_attempt_at`
on its row and ends (config/retries.py). Each beat tick (config/beat.py, every
DUE_POLL_SECONDS) locks the due rows of every retried kind with SKIP LOCKED, publishes
their task, clears their time and commits. A publish whose commit is lost (the beat died
in between) is published again on the next tick: the task runs twice, which every task
tolerates; a row is never left without either a time or a message.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from outbox import recovery, services

logger = logging.getLogger(__name__)

# Rows published per kind in one transaction: a tick stays short, and a full batch makes
# the beat come back at once for the rest.
BATCH_SIZE = 500


def publish_due_work(batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Publish every kind's due rows (a batch each); returns how many per kind."""
    return {
        kind.name: _publish_due(kind.retried, batch_size)
        for kind in recovery.kinds()
        if kind.retried is not None
    }


def _publish_due(retried: recovery.Retried, batch_size: int) -> int:
    now = timezone.now()
    model = retried.owed().model
    with transaction.atomic():
        # The partial index on next_attempt_at serves this in time order; SKIP LOCKED leaves
        # a row a worker is writing (or another beat is publishing) for the next tick.
        due = list(
            model.objects.filter(next_attempt_at__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not due:
            return 0
        owed = set(retried.owed().filter(pk__in=due).values_list("pk", flat=True))
        done: list[object] = []
        for pk in due:
            # A row that finished while it waited (a webhook decided the charge) only
            # loses its time.
            if pk in owed and not services.send(retried.task_name, str(pk)):
                break  # the broker is down: the rest stay due for the next tick
            done.append(pk)
        model.objects.filter(pk__in=done).update(next_attempt_at=None, updated_at=now)
    return sum(1 for pk in done if pk in owed)


@dataclass(frozen=True)
class Waiting:
    kind: str
    count: int
    earliest: datetime | None  # the first scheduled attempt; None when nothing waits

    def overdue_seconds(self, now: datetime) -> float:
        """How long the earliest attempt is past its time (0 when none is)."""
        return max(0.0, (now - self.earliest).total_seconds()) if self.earliest else 0.0


def waiting_work() -> list[Waiting]:
    """Each retried kind: rows owed and waiting for a scheduled attempt, and the earliest."""
    waiting = []
    for kind in recovery.kinds():
        if kind.retried is None:
            continue
        row = (
            kind.retried.owed()
            .filter(next_attempt_at__isnull=False)
            .aggregate(count=Count("pk"), earliest=Min("next_attempt_at"))
        )
        waiting.append(Waiting(kind.name, row["count"], row["earliest"]))
    return waiting
