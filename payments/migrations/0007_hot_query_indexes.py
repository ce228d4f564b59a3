# Indexes for the hot queries (tests/payments/test_query_plans.py). Built CONCURRENTLY:
# on a payments table of millions of rows a plain CREATE INDEX would block every write
# (every payment accepted) for as long as the build takes.

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("payments", "0006_api_keys"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(fields=["client", "-created_at", "-id"], name="payment_client_newest"),
        ),
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(
                fields=["client", "status", "-created_at", "-id"], name="payment_client_status_newest"
            ),
        ),
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "processing"])),
                fields=["updated_at"],
                name="payment_charge_owed",
            ),
        ),
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(fields=["created_at", "id"], name="payment_created"),
        ),
        # Covered by the indexes above: one index less to update on every write.
        RemoveIndexConcurrently(model_name="payment", name="payments_pa_status_d4d624_idx"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="payment",
                    name="created_at",
                    field=models.DateTimeField(auto_now_add=True),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX CONCURRENTLY IF EXISTS payments_payment_created_at_149046d5",
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS payments_payment_created_at_149046d5"
                    " ON payments_payment (created_at)",
                ),
            ],
        ),
    ]
