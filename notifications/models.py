"""Notifications: one row per message we owe somebody, unique by its dedupe key."""

from typing import ClassVar

from django.db import models


class NotificationKind(models.TextChoices):
    RECEIPT = "receipt"
    PAYMENT_FAILED = "payment_failed"
    REFUND = "refund"
    WELCOME = "welcome"


class NotificationStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Notification(models.Model):
    """An email owed to a recipient; `dedupe_key` makes it exactly one per (kind, subject)."""

    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    # What it is about, e.g. "payment:<uuid>" or "api_client:<id>".
    subject = models.CharField(max_length=100)
    dedupe_key = models.CharField(max_length=200, unique=True, editable=False)
    recipient = models.EmailField()
    # Values the template needs, captured when the notification was queued.
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # Failed sends in this round of retries, and when the next one is (config/retries.py).
    retries = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Last change or re-drive: the recovery sweeper re-queues unsent ones long past it.
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]
        indexes: ClassVar = [
            models.Index(
                fields=["updated_at"],
                condition=models.Q(status__in=["pending", "failed"]),
                name="notification_unsent",
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(next_attempt_at__isnull=False),
                name="notification_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return self.dedupe_key

    @staticmethod
    def dedupe_key_for(kind: str, subject: str) -> str:
        return f"{kind}:{subject}"
