# queued_at becomes updated_at (any change or re-drive), and failed notifications join the
# unsent index: the recovery sweeper re-drives both.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_notification_queued_at"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="notification", name="notification_unsent"),
        migrations.RenameField(model_name="notification", old_name="queued_at", new_name="updated_at"),
        migrations.AlterField(
            model_name="notification",
            name="updated_at",
            field=models.DateTimeField(auto_now=True),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "failed"])),
                fields=["updated_at"],
                name="notification_unsent",
            ),
        ),
    ]
