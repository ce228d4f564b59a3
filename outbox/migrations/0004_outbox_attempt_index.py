# The recovery sweeper's query on unpublished outbox rows (by their last attempt).

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("outbox", "0003_retire_per_kind_sweepers"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="outboxmessage",
            index=models.Index(
                condition=models.Q(("published_at__isnull", True)),
                fields=["updated_at"],
                name="outbox_unpublished_attempt",
            ),
        ),
    ]
