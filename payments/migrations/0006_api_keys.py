# Keys move to their own table (several per client, scopes, expiry, revocation, last use).
# Existing keys keep working: their bare SHA-256 is copied as a "sha256" row, which the
# first authenticated request re-hashes with HMAC (payments.services.api_clients).

import django.db.models.deletion
from django.db import migrations, models


def copy_client_keys(apps, schema_editor):
    ApiClient = apps.get_model("payments", "ApiClient")
    ApiKey = apps.get_model("payments", "ApiKey")
    ApiKey.objects.bulk_create(
        ApiKey(
            client=client,
            prefix=client.key_prefix,
            key_hash=client.key_hash,
            hash_scheme="sha256",
            scope="full",
            created_at=client.created_at,
        )
        for client in ApiClient.objects.all()
    )


def copy_keys_back(apps, schema_editor):
    ApiClient = apps.get_model("payments", "ApiClient")
    ApiKey = apps.get_model("payments", "ApiKey")
    for client in ApiClient.objects.all():
        key = ApiKey.objects.filter(client=client, hash_scheme="sha256").first()
        if key is not None:
            client.key_prefix, client.key_hash = key.prefix, key.key_hash
            client.save(update_fields=["key_prefix", "key_hash"])


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0005_reconciliation_runs'),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('prefix', models.CharField(help_text='First characters, to recognise a key.', max_length=16)),
                ('key_hash', models.CharField(editable=False, max_length=64, unique=True)),
                ('hash_scheme', models.CharField(choices=[('hmac-sha256', 'Hmac Sha256'), ('sha256', 'Legacy Sha256')], default='hmac-sha256', max_length=16)),
                ('scope', models.CharField(choices=[('full', 'payments and refunds'), ('payments', 'payments, no refunds'), ('read_only', 'read only')], default='full', max_length=16)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
                ('last_used_at', models.DateTimeField(blank=True, null=True)),
                ('client', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='keys', to='payments.apiclient')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.RunPython(copy_client_keys, copy_keys_back),
        migrations.RemoveField(
            model_name='apiclient',
            name='key_hash',
        ),
        migrations.RemoveField(
            model_name='apiclient',
            name='key_prefix',
        ),
    ]
