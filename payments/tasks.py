"""Payments tasks: ids in, one service call; retries only for errors that decided nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from config import task_names
from payments import idempotency, services
from payments.exceptions import RetryableError
from payments.gateways import get_gateway

# Transient: the gateway or the database did not decide anything; the same keys are reused.
TRANSIENT_ERRORS = (RetryableError, OperationalError, InterfaceError)

# 2, 4, 8 ... s capped at 300 s (below the broker visibility timeout), with jitter so a
# Stripe outage does not end in a synchronized stampede. 40 retries span ~3 h, well inside
# Stripe's 24 h idempotency-key lifetime; every retry reuses the task's own Stripe key.
STRIPE_RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 40,
}


@shared_task(name=task_names.CHARGE_PAYMENT, bind=True, **STRIPE_RETRY_POLICY)
def charge_payment(self: Task[Any, Any], payment_id: str) -> str:
    return services.charge_payment(payment_id, get_gateway())


@shared_task(name=task_names.RECOVER_STALLED_PAYMENTS, ignore_result=True)
def recover_stalled_payments() -> int:
    return services.recover_stalled_payments()


@shared_task(name=task_names.EXPIRE_IDEMPOTENCY_RECORDS, ignore_result=True)
def expire_idempotency_records() -> int:
    return idempotency.expire_records()


@shared_task(name=task_names.REFUND_PAYMENT, bind=True, **STRIPE_RETRY_POLICY)
def refund_payment(self: Task[Any, Any], refund_id: str) -> str:
    return services.execute_refund(refund_id, get_gateway())


@shared_task(
    name=task_names.PROCESS_STRIPE_EVENT,
    bind=True,
    **{**STRIPE_RETRY_POLICY, "autoretry_for": (OperationalError, InterfaceError)},
)
def process_stripe_event(self: Task[Any, Any], inbox_id: str) -> str:
    return services.process_event(int(inbox_id), get_gateway())


@shared_task(name=task_names.RECONCILE_WITH_STRIPE, ignore_result=True)
def reconcile_with_stripe() -> int:
    """Beat: compare the recent window with Stripe; returns how many mismatches were found."""
    since = timezone.now() - timedelta(seconds=settings.RECONCILIATION_WINDOW_SECONDS)
    report = services.reconcile(get_gateway(), since=since, fix=settings.RECONCILIATION_FIX)
    services.log_report(report)
    return len(report.mismatches)
