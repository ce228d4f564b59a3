"""Reads of the outbox: how much committed work the broker has not been given yet."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from outbox.models import OutboxMessage


@dataclass(frozen=True)
class OutboxLag:
    unpublished: int
    oldest_age_seconds: float  # 0 when nothing is owed


def unpublished() -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.filter(published_at__isnull=True)


def unpublished_since(older_than: timedelta) -> QuerySet[OutboxMessage]:
    """Rows still waiting for the broker with no publish attempt for `older_than`."""
    return unpublished().filter(updated_at__lt=timezone.now() - older_than).order_by("updated_at")


def outbox_lag() -> OutboxLag:
    """How much the outbox still owes the broker, and for how long."""
    row = unpublished().aggregate(count=Count("id"), oldest=Min("created_at"))
    oldest = row["oldest"]
    age = max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0
    return OutboxLag(row["count"], age)


def unpublished_by_task() -> dict[str, int]:
    """Rows the broker is still owed, per task name (the autoscalers' backlog counts them)."""
    rows = unpublished().values("task_name").annotate(n=Count("id"))
    return {row["task_name"]: row["n"] for row in rows}
