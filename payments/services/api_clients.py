"""API clients and their keys: created and shown once, restricted, rolled, revoked, checked."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications import services as notification_services
from notifications.models import NotificationKind
from payments import issued_keys
from payments.api_keys import display_prefix, hash_api_key, legacy_hash_api_key, new_api_key
from payments.models import ApiClient, ApiKey, ApiKeyHashScheme, ApiKeyScope


@transaction.atomic(durable=True)
def create_api_client(
    *, name: str, contact_email: str = "", scope: str = ApiKeyScope.FULL
) -> tuple[ApiClient, str]:
    """Create a client with its first key; the raw key is returned, never stored nor shown again."""
    client = ApiClient.objects.create(name=name, contact_email=contact_email)
    key, raw_key = _new_key(client, scope=scope, expires_at=None)
    if contact_email:
        notification_services.queue_notification(
            kind=NotificationKind.WELCOME,
            subject=f"api_client:{client.pk}",
            recipient=contact_email,
            context={"client_name": name, "key_prefix": key.prefix},
        )
    return client, raw_key


@transaction.atomic(durable=True)
def create_api_key(
    *, client: ApiClient, scope: str = ApiKeyScope.FULL, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Another key for a client, e.g. a read-only one for a reporting job."""
    return _new_key(client, scope=scope, expires_at=expires_at)


@transaction.atomic(durable=True)
def roll_api_key(*, key: ApiKey, old_key_expires_at: datetime) -> tuple[ApiKey, str]:
    """A new key with the same scope; the old one keeps working until `old_key_expires_at`.

    The overlap lets a client deploy the new key before the old one stops (Stripe's
    "roll key" with an expiry). An earlier expiry already set on the old key stands.
    """
    old = ApiKey.objects.select_for_update().get(pk=key.pk)
    if old.expires_at is None or old_key_expires_at < old.expires_at:
        old.expires_at = old_key_expires_at
        old.save(update_fields=["expires_at"])
    return _new_key(old.client, scope=old.scope, expires_at=None)


@transaction.atomic(durable=True)
def rotate_api_key(*, client: ApiClient) -> str:
    """A new full key for the client; every other key of the client stops at once."""
    ApiKey.objects.filter(client=client, revoked_at__isnull=True).update(revoked_at=timezone.now())
    _, raw_key = _new_key(client, scope=ApiKeyScope.FULL, expires_at=None)
    return raw_key


def revoke_api_key(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of presenting a key: the key when usable, else why it was refused."""

    key: ApiKey | None
    # "unknown", "revoked" or "expired" (a metric label), and the message for the client.
    reason: str = ""
    message: str = ""


def check_api_key(raw_key: str) -> KeyCheck:
    """Find the key, refuse it when expired, revoked or its client is off; note its use."""
    key = _find_key(raw_key)
    if key is None:
        return KeyCheck(None, "unknown", "unknown API key")
    now = timezone.now()
    if key.revoked_at is not None or not key.client.is_active:
        return KeyCheck(None, "revoked", "this API key was revoked")
    if key.expires_at is not None and key.expires_at <= now:
        return KeyCheck(None, "expired", "this API key has expired")
    _note_use(key, now)
    return KeyCheck(key)


def _find_key(raw_key: str) -> ApiKey | None:
    keys = ApiKey.objects.select_related("client")
    key = keys.filter(key_hash=hash_api_key(raw_key)).first()
    if key is not None:
        return key
    legacy = keys.filter(
        key_hash=legacy_hash_api_key(raw_key), hash_scheme=ApiKeyHashScheme.LEGACY_SHA256
    ).first()
    if legacy is not None:
        # Only now, holding the raw key, can its row move to the keyed hash.
        legacy.key_hash = hash_api_key(raw_key)
        legacy.hash_scheme = ApiKeyHashScheme.HMAC_SHA256
        legacy.save(update_fields=["key_hash", "hash_scheme"])
        issued_keys.remember(legacy.key_hash)
    return legacy


def _note_use(key: ApiKey, now: datetime) -> None:
    # One conditional UPDATE a minute per key, not one per request.
    stale_before = now - timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if key.last_used_at is None or key.last_used_at < stale_before:
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale_before)
        ).update(last_used_at=now)
        key.last_used_at = now


def _new_key(client: ApiClient, *, scope: str, expires_at: datetime | None) -> tuple[ApiKey, str]:
    raw_key = new_api_key(restricted=scope != ApiKeyScope.FULL)
    key = ApiKey.objects.create(
        client=client,
        prefix=display_prefix(raw_key),
        key_hash=hash_api_key(raw_key),
        scope=scope,
        expires_at=expires_at,
    )
    issued_keys.remember(key.key_hash)
    return key, raw_key
