"""Django admin for notifications: view only."""

from django.contrib import admin
from django.utils.safestring import SafeString

from config.tracing_ui import trace_link
from config.view_only_admin import ViewOnlyAdmin
from notifications.models import Notification


# One row per (kind, subject) is what makes a receipt exactly-once (I5): a row deleted
# or added by hand would send a second one or none; the sweeper re-drives unsent ones.
@admin.register(Notification)
class NotificationAdmin(ViewOnlyAdmin, admin.ModelAdmin[Notification]):
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
