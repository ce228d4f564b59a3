# When each piece of durable work runs again (config/retries.py): a column with a
# constant default (no table rewrite) and a partial index built CONCURRENTLY, so the
# migration blocks no write on a large table.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction


    dependencies = [
        ('notifications', '0003_notification_updated_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='notification',
            name='next_attempt_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='notification',
            name='retries',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        AddIndexConcurrently(
            model_name='notification',
            index=models.Index(condition=models.Q(('next_attempt_at__isnull', False)), fields=['next_attempt_at'], name='notification_next_attempt'),
        ),
    ]
