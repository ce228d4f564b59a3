"""Database reads the monitor and `queue_status` need; each one is a single cheap query."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, F, Max
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from config import beat
from notifications import selectors as notification_selectors
from outbox import recovery
from payments import transitions
from payments.models import PaymentEvent


@dataclass(frozen=True)
class TaskOutcomes:
    succeeded: int
    failed: int

    @property
    def failure_ratio(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.failed / finished if finished else None


@dataclass(frozen=True)
class FinishedCharge:
    event_id: int
    outcome: str
    seconds: float


def _age_seconds(moment: datetime | None, now: datetime) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment else 0.0


@dataclass(frozen=True)
class StuckWork:
    kind: str
    count: int
    threshold_seconds: float


def stuck_work() -> list[StuckWork]:
    """Each kind of durable work (outbox/recovery.py) and how many rows are past its threshold."""
    stuck = []
    for kind in recovery.kinds():
        threshold = kind.threshold()
        stuck.append(StuckWork(kind.name, kind.stuck(threshold).count(), threshold.total_seconds()))
    return stuck


def failed_notification_count() -> int:
    return notification_selectors.failed_count()


def transitions_by_status() -> dict[str, int]:
    """How many payments ever entered each status (events are append-only: never decreases)."""
    rows = PaymentEvent.objects.values("to_status").annotate(n=Count("id"))
    return {row["to_status"]: row["n"] for row in rows}


def latest_payment_event_id() -> int:
    return PaymentEvent.objects.aggregate(last=Max("id"))["last"] or 0


EVENT_SETTLE_SECONDS = 2.0


def finished_charges_after(event_id: int, limit: int = 5000) -> list[FinishedCharge]:
    """Charge outcomes recorded after `event_id`, each with its accepted → outcome time."""
    # Ids are taken at INSERT but become visible at COMMIT, so a younger row can appear
    # behind the cursor; rows a few seconds old belong to transactions that have ended.
    settled_before = timezone.now() - timedelta(seconds=EVENT_SETTLE_SECONDS)
    rows = (
        PaymentEvent.objects.filter(
            id__gt=event_id,
            to_status__in=transitions.CHARGE_OUTCOMES,
            created_at__lt=settled_before,
        )
        .annotate(accepted_at=F("payment__created_at"))
        .order_by("id")
        .values_list("id", "to_status", "created_at", "accepted_at")[:limit]
    )
    return [
        FinishedCharge(pk, outcome, max(0.0, (finished - accepted).total_seconds()))
        for pk, outcome, finished, accepted in rows
    ]


def periodic_task_ages() -> dict[str, float | None]:
    """Seconds since beat last ran each enabled periodic task (None: never ran).

    django-celery-beat writes last_run_at when its scheduler syncs (every few minutes by
    default), so these ages can trail the real ticks by that long.
    https://django-celery-beat.readthedocs.io/en/latest/reference/django-celery-beat.schedulers.html
    """
    now = timezone.now()
    rows = PeriodicTask.objects.filter(enabled=True).values_list("name", "last_run_at")
    return {
        name: (_age_seconds(last_run, now) if last_run else None)
        for name, last_run in rows
        if not name.startswith("celery.")  # beat's own housekeeping entry
    }


def task_outcomes_since(seconds: float) -> TaskOutcomes:
    """Finished task results (django-celery-results rows) of the last `seconds`."""
    since = timezone.now() - timedelta(seconds=seconds)
    rows = (
        TaskResult.objects.filter(date_done__gte=since, status__in=("SUCCESS", "FAILURE"))
        .values("status")
        .annotate(n=Count("id"))
    )
    counts = {row["status"]: row["n"] for row in rows}
    return TaskOutcomes(succeeded=counts.get("SUCCESS", 0), failed=counts.get("FAILURE", 0))


def beat_leader() -> str | None:
    """The beat holding the leader lock (its application_name, host:pid), or None."""
    return beat.current_leader()
