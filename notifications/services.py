"""Notifications' writes: queue a message once per (kind, subject), and send it once."""

import logging
from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from config import failpoints, task_names
from config.telemetry import current_trace_id
from notifications import selectors
from notifications.models import Notification, NotificationStatus
from outbox import services as outbox

logger = logging.getLogger(__name__)


def queue_notification(
    *, kind: str, subject: str, recipient: str, context: dict[str, str]
) -> Notification:
    """Owe one message; a second call for the same (kind, subject) returns the first."""
    notification, created = Notification.objects.get_or_create(
        dedupe_key=Notification.dedupe_key_for(kind, subject),
        defaults={
            "kind": kind,
            "subject": subject,
            "recipient": recipient,
            "context": context,
            "trace_id": current_trace_id(),
        },
    )
    if created:
        outbox.enqueue(task_names.SEND_NOTIFICATION, notification.pk)
    return notification


def send_notification(notification_id: int) -> str:
    """Render and send the email unless it was sent already; returns the final status.

    The row stays locked while the email goes out, so two deliveries of the same task
    cannot both send it.
    """
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        if notification.status == NotificationStatus.SENT:
            return notification.status
        notification.attempts += 1
        subject_line, body = render_email(notification)
        failpoints.maybe_crash("notification.before_send")
        EmailMessage(
            subject_line,
            body,
            to=[notification.recipient],
            # Stable per notification: if a crash after sending makes us send again, mail
            # systems see the same Message-ID and show one email.
            headers={"Message-ID": f"<{notification.dedupe_key.replace(':', '.')}@payments>"},
        ).send()
        failpoints.maybe_crash("notification.after_send_before_mark_sent")
        notification.status = NotificationStatus.SENT
        notification.sent_at = timezone.now()
        notification.last_error = ""
        notification.save(
            update_fields=["status", "sent_at", "attempts", "last_error", "updated_at"]
        )
    failpoints.maybe_crash("notification.after_mark_sent_commit")
    return notification.status


def redrive_unsent(notification_ids: Sequence[int]) -> int:
    """Queue the send again for notifications still unsent (task lost, or retries ran out).

    A failed one goes back to pending for a new round of retries (its count starts again):
    an SMTP outage longer than one round still ends with the email sent, once.
    """
    count = 0
    for notification_id in notification_ids:
        with transaction.atomic():
            touched = Notification.objects.filter(
                pk=notification_id, status__in=selectors.UNSENT
            ).update(
                status=NotificationStatus.PENDING,
                retries=0,
                next_attempt_at=None,
                updated_at=timezone.now(),
            )
            if touched:
                outbox.enqueue(task_names.SEND_NOTIFICATION, notification_id)
                count += 1
    return count


def record_send_failure(notification_id: int, error: BaseException, *, final: bool) -> None:
    """Count a failed attempt; after the last retry the notification is marked failed."""
    Notification.objects.filter(pk=notification_id).exclude(status=NotificationStatus.SENT).update(
        last_error=type(error).__name__,
        updated_at=timezone.now(),
        **({"status": NotificationStatus.FAILED} if final else {}),
    )


def render_email(notification: Notification) -> tuple[str, str]:
    template = f"notifications/email/{notification.kind}"
    context = dict(notification.context)
    subject_line = render_to_string(f"{template}.subject.txt", context).strip()
    body = render_to_string(f"{template}.txt", context)
    return subject_line, body
