"""The outbox's beat tasks: the relay (every few seconds) and the recovery sweeper."""

from celery import shared_task
from django.conf import settings

from config import task_names
from outbox import recovery, services


@shared_task(name=task_names.RELAY_OUTBOX, ignore_result=True)
def relay_outbox() -> int:
    return services.relay_unpublished(grace_seconds=settings.OUTBOX_RELAY_GRACE_SECONDS)


@shared_task(name=task_names.RECOVER_STUCK_WORK, ignore_result=True)
def recover_stuck_work() -> dict[str, int]:
    return recovery.recover_stuck_work()
