"""Payments tasks: ids in, one service call; retries only for errors that decided nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import QuerySet
from django.utils import timezone

from config import task_names
from config.retries import GATEWAY_RETRIES, retry_later, retry_on, schedule_deferral
from payments import idempotency, services
from payments.exceptions import RetryableError
from payments.gateways import get_paced_gateway, pacing
from payments.gateways.base import GatewayThrottled
from payments.models import Payment, ReconciliationRun, Refund, StripeEvent

# Transient: the gateway or the database did not decide anything. A retry looks at the
# gateway first (services.charges), so it never acts on a guess.
TRANSIENT_ERRORS = (RetryableError, OperationalError, InterfaceError)
DATABASE_ERRORS = (OperationalError, InterfaceError)


@contextmanager
def deferred_when_throttled(rows: QuerySet[Any]) -> Iterator[None]:
    """No token, or a 429: give the worker slot back and come back later, retries unspent.

    Nothing executed at the gateway, so the same run repeated later (same keys) cannot
    charge twice.
    """
    try:
        yield
    except GatewayThrottled as throttled:
        when = schedule_deferral(rows, pacing.deferral_seconds(throttled.wait_seconds))
        raise retry_later(when, None, "deferred by a rate limit") from throttled


@shared_task(name=task_names.CHARGE_PAYMENT)
def charge_payment(payment_id: str) -> str:
    payment = Payment.objects.filter(pk=payment_id)
    with deferred_when_throttled(payment), retry_on(payment, GATEWAY_RETRIES, TRANSIENT_ERRORS):
        return services.charge_payment(payment_id, get_paced_gateway())


@shared_task(name=task_names.REFUND_PAYMENT)
def refund_payment(refund_id: str) -> str:
    refund = Refund.objects.filter(pk=refund_id)
    with deferred_when_throttled(refund), retry_on(refund, GATEWAY_RETRIES, TRANSIENT_ERRORS):
        return services.execute_refund(refund_id, get_paced_gateway())


@shared_task(name=task_names.PROCESS_STRIPE_EVENT)
def process_stripe_event(inbox_id: str) -> str:
    event = StripeEvent.objects.filter(pk=int(inbox_id))
    with deferred_when_throttled(event), retry_on(event, GATEWAY_RETRIES, DATABASE_ERRORS):
        return services.process_event(int(inbox_id), get_paced_gateway())


@shared_task(name=task_names.EXPIRE_IDEMPOTENCY_RECORDS, ignore_result=True)
def expire_idempotency_records() -> int:
    return idempotency.expire_records()


@shared_task(name=task_names.RECONCILE_WITH_STRIPE, ignore_result=True)
def reconcile_with_stripe() -> str:
    """Beat: start a run over the recent window; its chunks follow one another."""
    since = timezone.now() - timedelta(seconds=settings.RECONCILIATION_WINDOW_SECONDS)
    run = services.start_scheduled_run(since=since, fix=settings.RECONCILIATION_FIX)
    return str(run.pk) if run else "a run is still in progress"


@shared_task(name=task_names.RECONCILE_CHUNK)
def reconcile_chunk(run_id: str) -> int:
    run = ReconciliationRun.objects.filter(pk=run_id)
    with deferred_when_throttled(run), retry_on(run, GATEWAY_RETRIES, TRANSIENT_ERRORS):
        report = services.run_chunk(run_id, get_paced_gateway(), queue_next=True)
    return len(report.mismatches)
