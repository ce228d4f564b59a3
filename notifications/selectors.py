"""Notifications' reads."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from notifications.models import Notification, NotificationStatus

# Owed and not sent: pending, or failed after a whole round of retries (tried again later).
UNSENT = (NotificationStatus.PENDING, NotificationStatus.FAILED)


def unsent(older_than: timedelta) -> QuerySet[Notification]:
    """Notifications owed and not sent, untouched for `older_than`, oldest first."""
    return Notification.objects.filter(
        status__in=UNSENT, updated_at__lt=timezone.now() - older_than
    ).order_by("updated_at")


def failed_count() -> int:
    return Notification.objects.filter(status=NotificationStatus.FAILED).count()
