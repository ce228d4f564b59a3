"""Notification tasks: ids in, one service call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from config import task_names
from notifications import services

MAX_SEND_RETRIES = 8


@shared_task(
    name=task_names.SEND_NOTIFICATION,
    bind=True,
    # SMTP and database hiccups are worth retrying; a template error is not.
    autoretry_for=(OSError, ConnectionError),
    max_retries=MAX_SEND_RETRIES,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
)
def send_notification(self: Task[Any, Any], notification_id: str) -> str:
    try:
        return services.send_notification(int(notification_id))
    except (OSError, ConnectionError) as error:
        final = self.request.retries >= MAX_SEND_RETRIES
        services.record_send_failure(int(notification_id), error, final=final)
        raise


@shared_task(name=task_names.RECOVER_UNSENT_NOTIFICATIONS, ignore_result=True)
def recover_unsent_notifications() -> int:
    return services.redrive_unsent(timedelta(seconds=settings.STALLED_NOTIFICATION_SECONDS))
