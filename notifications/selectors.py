"""Notifications' reads."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from notifications.models import Notification, NotificationStatus
from outbox.recovery import not_waiting

# Owed and not sent: pending, or failed after a whole round of retries (tried again later).
UNSENT = (NotificationStatus.PENDING, NotificationStatus.FAILED)


def unsent(older_than: timedelta) -> QuerySet[Notification]:
    """Notifications owed and not sent, untouched for `older_than`, oldest first."""
    cutoff = timezone.now() - older_than
    return Notification.objects.filter(
        not_waiting(cutoff), status__in=UNSENT, updated_at__lt=cutoff
    ).order_by("updated_at")


def failed_count() -> int:
    return Notification.objects.filter(status=NotificationStatus.FAILED).count()
