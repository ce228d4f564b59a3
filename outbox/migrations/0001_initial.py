# The outbox table moved here from payments; the table itself stays as it is.

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("payments", "0002_refunds_and_stripe_event_inbox"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboxMessage",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("task_name", models.CharField(max_length=200)),
                        ("args", models.JSONField(default=list)),
                        ("traceparent", models.CharField(blank=True, max_length=64)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("published_at", models.DateTimeField(blank=True, null=True)),
                        ("publish_attempts", models.PositiveIntegerField(default=0)),
                        ("last_error", models.CharField(blank=True, max_length=500)),
                    ],
                    options={
                        "db_table": "payments_outboxmessage",
                        "indexes": [
                            models.Index(
                                condition=models.Q(("published_at__isnull", True)),
                                fields=["created_at"],
                                name="outbox_unpublished",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
