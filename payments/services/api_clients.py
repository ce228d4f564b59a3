"""API clients: created with a key shown once, keys rotated."""

from django.db import transaction

from notifications import services as notification_services
from notifications.models import NotificationKind
from payments.api_keys import hash_api_key, new_api_key
from payments.models import ApiClient


@transaction.atomic(durable=True)
def create_api_client(*, name: str, contact_email: str = "") -> tuple[ApiClient, str]:
    """Create a client and return it with its raw key, which is never stored nor shown again."""
    raw_key = new_api_key()
    client = ApiClient.objects.create(
        name=name,
        contact_email=contact_email,
        key_prefix=raw_key[:12],
        key_hash=hash_api_key(raw_key),
    )
    if contact_email:
        notification_services.queue_notification(
            kind=NotificationKind.WELCOME,
            subject=f"api_client:{client.pk}",
            recipient=contact_email,
            context={"client_name": name, "key_prefix": client.key_prefix},
        )
    return client, raw_key


@transaction.atomic(durable=True)
def rotate_api_key(*, client: ApiClient) -> str:
    """Give the client a new key; the old one stops working at once."""
    raw_key = new_api_key()
    client.key_prefix = raw_key[:12]
    client.key_hash = hash_api_key(raw_key)
    client.save(update_fields=["key_prefix", "key_hash"])
    return raw_key
