"""The outbox in the admin: view only, to see what the broker has not been given yet."""

from django.contrib import admin

from config.view_only_admin import ViewOnlyAdmin
from outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ViewOnlyAdmin, admin.ModelAdmin[OutboxMessage]):
    """No add, change or delete: a row is work owed (a charge, a receipt) until published.

    The relay publishes rows, `manage.py payments_replay` re-drives them; a row added by
    hand would run a task nobody asked for, a deleted one would lose the work.
    """

    list_display = ("id", "task_name", "created_at", "published_at", "publish_attempts")
    list_filter = (("published_at", admin.EmptyFieldListFilter), "task_name")
    readonly_fields = tuple(f.name for f in OutboxMessage._meta.fields)
