# OutboxMessage now belongs to the outbox app (outbox/0001_initial), same table.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_refunds_and_stripe_event_inbox"),
        ("outbox", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboxMessage")],
            database_operations=[],
        ),
    ]
