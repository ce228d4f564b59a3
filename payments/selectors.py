"""Payments' reads."""

import uuid

from django.db.models import QuerySet

from payments.api_keys import hash_api_key
from payments.exceptions import PaymentNotFound
from payments.models import ApiClient, Payment


def active_client_by_key(raw_key: str) -> ApiClient | None:
    return ApiClient.objects.filter(key_hash=hash_api_key(raw_key), is_active=True).first()


def payments_of_client(client: ApiClient, *, status: str | None = None) -> QuerySet[Payment]:
    payments = Payment.objects.filter(client=client)
    if status:
        payments = payments.filter(status=status)
    return payments


def payment_of_client(client: ApiClient, payment_id: str) -> Payment:
    """The client's payment; another client's payment is as missing as a made-up id."""
    try:
        return Payment.objects.get(client=client, pk=uuid.UUID(payment_id))
    except (ValueError, Payment.DoesNotExist) as missing:
        raise PaymentNotFound(f"no payment {payment_id!r}") from missing
