"""Django admin for notifications."""

from django.contrib import admin
from django.utils.safestring import SafeString

from config.tracing_ui import trace_link
from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin[Notification]):
    list_display = ("dedupe_key", "kind", "status", "attempts", "created_at", "sent_at")
    list_filter = ("kind", "status")
    search_fields = ("=dedupe_key", "=subject", "=trace_id")
    readonly_fields = (
        "kind",
        "subject",
        "dedupe_key",
        "recipient",
        "context",
        "status",
        "attempts",
        "last_error",
        "trace_id",
        "trace",
        "created_at",
        "sent_at",
    )

    @admin.display(description="trace in the tracing UI")
    def trace(self, notification: Notification) -> SafeString | str:
        return trace_link(notification.trace_id)
