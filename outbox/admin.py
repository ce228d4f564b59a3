"""The outbox in the admin: read-only, to see what the broker has not been given yet."""

from django.contrib import admin

from outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin[OutboxMessage]):
    list_display = ("id", "task_name", "created_at", "published_at", "publish_attempts")
    list_filter = (("published_at", admin.EmptyFieldListFilter), "task_name")
    readonly_fields = tuple(f.name for f in OutboxMessage._meta.fields)
