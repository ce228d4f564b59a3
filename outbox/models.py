"""The outbox table: tasks owed to the broker, written with the data that needs them."""

import uuid
from typing import ClassVar

from django.db import models
from django.db.models import Q


class OutboxMessage(models.Model):
    """A task to publish, written in the same transaction as the change that needs it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task_name = models.CharField(max_length=200)
    # Ids only (DESIGN I6): never card data or emails.
    args = models.JSONField(default=list)
    # W3C traceparent of the writer, so a relayed publish joins the original trace.
    traceparent = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    publish_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table predates this app (it began in payments); keeping its name lets a
        # rolling deploy run old and new code against the same table.
        db_table = "payments_outboxmessage"
        indexes: ClassVar = [
            # The relay: unpublished rows, oldest first.
            models.Index(
                fields=["created_at"],
                condition=Q(published_at__isnull=True),
                name="outbox_unpublished",
            ),
            # The recovery sweeper: unpublished rows by their last publish attempt.
            models.Index(
                fields=["updated_at"],
                condition=Q(published_at__isnull=True),
                name="outbox_unpublished_attempt",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_name}{self.args}"
