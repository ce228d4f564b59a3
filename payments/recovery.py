"""Re-driving payments from the database: the broker may lose messages, PostgreSQL may not."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config import task_names
from outbox import services as outbox
from payments.models import Payment, PaymentStatus

# States whose charge is still owed; a task re-published for them is safe (idempotent).
UNFINISHED = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)


def stalled_payments(older_than: timedelta) -> QuerySet[Payment]:
    """Unfinished payments that have not changed for `older_than`."""
    return Payment.objects.filter(
        status__in=UNFINISHED, updated_at__lt=timezone.now() - older_than
    ).order_by("updated_at")


def unfinished_payments(*, since: datetime | None = None) -> QuerySet[Payment]:
    payments = Payment.objects.filter(status__in=UNFINISHED)
    if since is not None:
        payments = payments.filter(created_at__gte=since)
    return payments.order_by("created_at")


def redrive(payment_ids: Iterable[str]) -> int:
    """Queue the charge task again for each payment, through the outbox."""
    count = 0
    for payment_id in payment_ids:
        with transaction.atomic():
            # Touch the row so the next sweep waits a full period before trying again.
            touched = Payment.objects.filter(pk=payment_id, status__in=UNFINISHED).update(
                updated_at=timezone.now()
            )
            if touched:
                outbox.enqueue(task_names.CHARGE_PAYMENT, str(payment_id))
                count += 1
    return count


def recover_stalled_payments(older_than: timedelta, limit: int = 1000) -> int:
    ids = list(stalled_payments(older_than).values_list("pk", flat=True)[:limit])
    return redrive(str(payment_id) for payment_id in ids)
