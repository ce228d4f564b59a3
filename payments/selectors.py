"""Payments' reads: every query the services, views, admin and commands share."""

import uuid
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db.models import Model, QuerySet, Sum
from django.utils import timezone

from payments import transitions
from payments.api_keys import hash_api_key
from payments.exceptions import PaymentNotFound
from payments.models import ApiClient, Payment, Refund, RefundStatus

# The keys our own ids travel under in a gateway object's metadata.
PAYMENT_ID_METADATA_KEY = "payment_id"
REFUND_ID_METADATA_KEY = "refund_id"

Row = TypeVar("Row", bound=Model)


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


def stalled_payments(older_than: timedelta | None = None) -> QuerySet[Payment]:
    """Payments whose charge is still owed and that nothing touched for `older_than`.

    The one meaning of "stalled": the sweeper re-drives these, the monitor counts them,
    queue_status and the admin's filter list them. The default is STALLED_PAYMENT_SECONDS.
    """
    if older_than is None:
        older_than = timedelta(seconds=settings.STALLED_PAYMENT_SECONDS)
    return Payment.objects.filter(
        status__in=transitions.CHARGE_OWED, updated_at__lt=timezone.now() - older_than
    ).order_by("updated_at")


def unfinished_payments(*, since: datetime | None = None) -> QuerySet[Payment]:
    """Payments whose charge is still owed, oldest first (what a replay re-publishes)."""
    payments = Payment.objects.filter(status__in=transitions.CHARGE_OWED)
    if since is not None:
        payments = payments.filter(created_at__gte=since)
    return payments.order_by("created_at")


def paid_payments_with_intent(*, since: datetime | None = None) -> QuerySet[Payment]:
    paid = Payment.objects.filter(status__in=transitions.PAID).exclude(stripe_payment_intent_id="")
    if since is not None:
        paid = paid.filter(created_at__gte=since)
    return paid


def payment_for_intent(intent_id: str, metadata: dict[str, str]) -> Payment | None:
    """Our payment for a gateway intent: by its stored id, else by the payment id we sent.

    The id we sent is trusted only while no intent is recorded on the payment: a worker
    may have died between creating the intent and storing its id.
    """
    return _by_gateway_id(
        Payment.objects.all(),
        "stripe_payment_intent_id",
        intent_id,
        metadata.get(PAYMENT_ID_METADATA_KEY, ""),
    )


def refund_for_gateway_refund(gateway_refund_id: str, metadata: dict[str, str]) -> Refund | None:
    """Our refund for a gateway refund: by its stored id, else by the refund id we sent."""
    return _by_gateway_id(
        Refund.objects.all(),
        "stripe_refund_id",
        gateway_refund_id,
        metadata.get(REFUND_ID_METADATA_KEY, ""),
    )


def _by_gateway_id(
    rows: QuerySet[Row], gateway_id_field: str, gateway_id: str, our_id: str
) -> Row | None:
    found = rows.filter(**{gateway_id_field: gateway_id}).first() if gateway_id else None
    if found is not None or not our_id:
        return found
    try:
        pk = uuid.UUID(our_id)
    except ValueError:
        return None
    return rows.filter(pk=pk, **{gateway_id_field: ""}).first()


def settled_refund_total(payment: Payment) -> int:
    """Money actually returned: refunds the gateway settled."""
    total = Refund.objects.filter(payment=payment, status=RefundStatus.SUCCEEDED).aggregate(
        total=Sum("amount")
    )["total"]
    return int(total or 0)


def refunds_not_failed_total(payment: Payment) -> int:
    """Refunds settled or still pending: what we expect the gateway to have refunded."""
    total = (
        Refund.objects.filter(payment=payment)
        .exclude(status=RefundStatus.FAILED)
        .aggregate(total=Sum("amount"))["total"]
    )
    return int(total or 0)
