"""Re-driving payments' work from the database: the broker may lose messages, PostgreSQL may not.

Each function re-publishes a task through the outbox for rows still owing work, and
touches them, so the recovery sweeper waits a full threshold before trying again. A
re-drive starts a new round of retries: the count goes back to 0, nothing stays scheduled.
"""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from config import task_names
from outbox import services as outbox
from payments import selectors, transitions
from payments.models import Payment, Refund, RefundStatus, StripeEvent, StripeEventStatus


def redrive_payments(payment_ids: Iterable[object]) -> int:
    """Queue the charge again for each payment still owed one."""
    return _redrive(
        Payment.objects.filter(status__in=transitions.CHARGE_OWED),
        payment_ids,
        task_names.CHARGE_PAYMENT,
    )


def redrive_refunds(refund_ids: Iterable[object]) -> int:
    """Queue the refund again for each refund still pending."""
    return _redrive(
        Refund.objects.filter(status=RefundStatus.PENDING), refund_ids, task_names.REFUND_PAYMENT
    )


def redrive_events(inbox_ids: Iterable[object]) -> int:
    """Queue the processing again for each inbox event not applied yet."""
    return _redrive(
        StripeEvent.objects.filter(status=StripeEventStatus.RECEIVED),
        inbox_ids,
        task_names.PROCESS_STRIPE_EVENT,
    )


def _redrive(still_owed: QuerySet[Any], ids: Iterable[object], task_name: str) -> int:
    count = 0
    for pk in ids:
        with transaction.atomic():
            touched = still_owed.filter(pk=pk).update(
                updated_at=timezone.now(), retries=0, next_attempt_at=None
            )
            if touched:
                outbox.enqueue(task_name, str(pk))
                count += 1
    return count


def recover_stalled_payments(older_than: timedelta | None = None, limit: int = 1000) -> int:
    ids = list(selectors.stalled_payments(older_than).values_list("pk", flat=True)[:limit])
    return redrive_payments(ids)
