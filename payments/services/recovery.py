"""Re-driving payments from the database: the broker may lose messages, PostgreSQL may not."""

from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from config import task_names
from outbox import services as outbox
from payments import selectors, transitions
from payments.models import Payment


def redrive_payments(payment_ids: Iterable[str]) -> int:
    """Queue the charge task again for each payment still owed one, through the outbox."""
    count = 0
    for payment_id in payment_ids:
        with transaction.atomic():
            # Touch the row so the next sweep waits a full period before trying again.
            touched = Payment.objects.filter(
                pk=payment_id, status__in=transitions.CHARGE_OWED
            ).update(updated_at=timezone.now())
            if touched:
                outbox.enqueue(task_names.CHARGE_PAYMENT, str(payment_id))
                count += 1
    return count


def recover_stalled_payments(older_than: timedelta | None = None, limit: int = 1000) -> int:
    ids = list(selectors.stalled_payments(older_than).values_list("pk", flat=True)[:limit])
    return redrive_payments(str(payment_id) for payment_id in ids)
