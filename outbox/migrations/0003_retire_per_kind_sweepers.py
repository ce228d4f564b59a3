# One recovery sweeper (recover-stuck-work) replaces the per-kind ones; their beat rows go.

from django.db import migrations

RETIRED_ENTRIES = ("recover-stalled-payments", "recover-unsent-notifications")


def retire(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=RETIRED_ENTRIES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0002_outbox_message_updated_at"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(retire, migrations.RunPython.noop)]
