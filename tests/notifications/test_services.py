"""Notifications: one per (kind, subject), sent once however often the task runs."""

from django.core import mail

from notifications import services
from notifications.models import Notification, NotificationKind, NotificationStatus
from outbox.models import OutboxMessage

RECEIPT_CONTEXT = {
    "payment_id": "p-1",
    "amount": "12.50 USD",
    "description": 'Tea & "cake"',
    "failure_code": "",
}


def queue_receipt() -> Notification:
    return services.queue_notification(
        kind=NotificationKind.RECEIPT,
        subject="payment:p-1",
        recipient="buyer@example.com",
        context=RECEIPT_CONTEXT,
    )


def test_queueing_twice_keeps_one_notification_and_one_send_job(db):
    first = queue_receipt()
    second = queue_receipt()

    assert first.pk == second.pk
    assert Notification.objects.count() == 1
    jobs = OutboxMessage.objects.filter(task_name="notifications.send_notification")
    assert [job.args for job in jobs] == [[str(first.pk)]]


def test_sending_twice_delivers_one_email(db):
    notification = queue_receipt()

    assert services.send_notification(notification.pk) == NotificationStatus.SENT
    assert services.send_notification(notification.pk) == NotificationStatus.SENT

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["buyer@example.com"]
    assert email.subject == "Your payment of 12.50 USD succeeded"
    assert email.message()["Message-ID"] == "<receipt.payment.p-1@payments>"
    assert 'for "Tea & "cake""' in email.body  # plain text: nothing HTML-escaped
    notification.refresh_from_db()
    assert (notification.attempts, notification.status) == (1, "sent")


def test_welcome_email_for_a_new_api_client(db):
    from payments import services as payment_services

    client, raw_key = payment_services.create_api_client(name="acme", contact_email="dev@acme.test")

    notification = Notification.objects.get(kind=NotificationKind.WELCOME)
    services.send_notification(notification.pk)
    assert notification.subject == f"api_client:{client.pk}"
    assert mail.outbox[0].to == ["dev@acme.test"]
    assert raw_key not in mail.outbox[0].body  # the key is never mailed
    assert client.keys.get().prefix in mail.outbox[0].body


def test_a_failed_attempt_is_recorded_and_the_last_one_marks_it_failed(db):
    notification = queue_receipt()

    services.record_send_failure(notification.pk, ConnectionRefusedError(), final=False)
    notification.refresh_from_db()
    assert (notification.status, notification.last_error) == ("pending", "ConnectionRefusedError")

    services.record_send_failure(notification.pk, ConnectionRefusedError(), final=True)
    notification.refresh_from_db()
    assert notification.status == "failed"


def test_unsent_and_failed_notifications_are_queued_again_by_the_sweeper(db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from outbox import recovery

    settings.STALLED_NOTIFICATION_SECONDS = 600
    lost = queue_receipt()
    failed = services.queue_notification(
        kind=NotificationKind.RECEIPT, subject="payment:p-3", recipient="c@example.com", context={}
    )
    sent = services.queue_notification(
        kind=NotificationKind.RECEIPT, subject="payment:p-2", recipient="b@example.com", context={}
    )
    Notification.objects.filter(pk=failed.pk).update(status=NotificationStatus.FAILED)
    Notification.objects.filter(pk=sent.pk).update(status=NotificationStatus.SENT)
    Notification.objects.update(updated_at=timezone.now() - timedelta(minutes=20))

    assert recovery.recover_stuck_work()["notification"] == 2
    assert recovery.recover_stuck_work()["notification"] == 0  # re-queued counts as fresh

    failed.refresh_from_db()
    assert failed.status == NotificationStatus.PENDING  # a new round of retries
    for notification, jobs in ((lost, 2), (failed, 2), (sent, 1)):
        queued = OutboxMessage.objects.filter(
            task_name="notifications.send_notification", args=[str(notification.pk)]
        )
        assert queued.count() == jobs
