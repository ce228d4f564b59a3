"""Notification tasks: ids in, one service call."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from config import task_names
from config.retries import NOTIFICATION_RETRIES
from notifications import services

# SMTP and database hiccups are worth retrying; a template error is not.
SEND_ERRORS = (OSError, ConnectionError, OperationalError, InterfaceError)


@shared_task(name=task_names.SEND_NOTIFICATION, bind=True)
def send_notification(self: Task[Any, Any], notification_id: str) -> str:
    try:
        return services.send_notification(int(notification_id))
    except SEND_ERRORS as error:
        # After the last retry it is marked failed; the recovery sweeper starts a new
        # round of retries later, so an outage longer than one round still ends in a send.
        final = self.request.retries >= NOTIFICATION_RETRIES.max_retries
        services.record_send_failure(int(notification_id), error, final=final)
        if final:
            raise
        raise self.retry(
            exc=error,
            countdown=NOTIFICATION_RETRIES.countdown(self.request.retries),
            max_retries=NOTIFICATION_RETRIES.max_retries,
        ) from error
