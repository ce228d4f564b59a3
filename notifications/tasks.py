"""Notification tasks: ids in, one service call."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from config import task_names
from config.retries import NOTIFICATION_RETRIES, retry_later, schedule_retry
from notifications import services
from notifications.models import Notification

# SMTP and database hiccups are worth retrying; a template error is not.
SEND_ERRORS = (OSError, ConnectionError, OperationalError, InterfaceError)


@shared_task(name=task_names.SEND_NOTIFICATION)
def send_notification(notification_id: str) -> str:
    try:
        return services.send_notification(int(notification_id))
    except SEND_ERRORS as error:
        # After the last retry it is marked failed; the recovery sweeper starts a new
        # round of retries later, so an outage longer than one round still ends in a send.
        when = schedule_retry(Notification.objects.filter(pk=notification_id), NOTIFICATION_RETRIES)
        services.record_send_failure(int(notification_id), error, final=when is None)
        if when is None:
            raise
        raise retry_later(when, error, f"send failed ({type(error).__name__})") from error
