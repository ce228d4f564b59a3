"""App config for notifications: registers unsent emails with the recovery sweeper."""

from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config import task_names
        from notifications import selectors, services
        from notifications.models import Notification
        from outbox.recovery import Retried, WorkKind, register

        register(
            WorkKind(
                name="notification",
                threshold=lambda: timedelta(seconds=settings.STALLED_NOTIFICATION_SECONDS),
                stuck=selectors.unsent,
                redrive=services.redrive_unsent,
                retried=Retried(
                    owed=lambda: Notification.objects.filter(status__in=selectors.UNSENT),
                    task_name=task_names.SEND_NOTIFICATION,
                ),
            )
        )
