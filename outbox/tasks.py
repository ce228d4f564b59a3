"""The outbox relay task: beat runs it every few seconds."""

from celery import shared_task
from django.conf import settings

from config import task_names
from outbox import services


@shared_task(name=task_names.RELAY_OUTBOX, ignore_result=True)
def relay_outbox() -> int:
    return services.relay_unpublished(grace_seconds=settings.OUTBOX_RELAY_GRACE_SECONDS)
