from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class OutboxConfig(AppConfig):
    name = "outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from outbox import recovery, selectors, services

        recovery.register(
            recovery.WorkKind(
                name="outbox",
                threshold=lambda: timedelta(seconds=settings.STALLED_OUTBOX_SECONDS),
                stuck=selectors.unpublished_since,
                redrive=services.publish_rows,
            )
        )
