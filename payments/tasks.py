"""Payments tasks: ids in, one service call; retries only for errors that decided nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from config import task_names
from config.retries import GATEWAY_RETRIES, defer, retry_on
from payments import idempotency, services
from payments.exceptions import RetryableError
from payments.gateways import get_paced_gateway, pacing
from payments.gateways.base import GatewayThrottled

# Transient: the gateway or the database did not decide anything. A retry looks at the
# gateway first (services.charges), so it never acts on a guess.
TRANSIENT_ERRORS = (RetryableError, OperationalError, InterfaceError)
DATABASE_ERRORS = (OperationalError, InterfaceError)


@contextmanager
def deferred_when_throttled(task: Task[Any, Any]) -> Iterator[None]:
    """No token, or a 429: give the worker slot back and come back later, retries unspent.

    Nothing executed at the gateway, so the same run repeated later (same keys) cannot
    charge twice.
    """
    try:
        yield
    except GatewayThrottled as throttled:
        if task.request.called_directly:
            raise
        raise defer(task, pacing.deferral_seconds(throttled.wait_seconds)) from throttled


@shared_task(name=task_names.CHARGE_PAYMENT, bind=True)
def charge_payment(self: Task[Any, Any], payment_id: str) -> str:
    with deferred_when_throttled(self), retry_on(self, GATEWAY_RETRIES, TRANSIENT_ERRORS):
        return services.charge_payment(payment_id, get_paced_gateway())


@shared_task(name=task_names.REFUND_PAYMENT, bind=True)
def refund_payment(self: Task[Any, Any], refund_id: str) -> str:
    with deferred_when_throttled(self), retry_on(self, GATEWAY_RETRIES, TRANSIENT_ERRORS):
        return services.execute_refund(refund_id, get_paced_gateway())


@shared_task(name=task_names.PROCESS_STRIPE_EVENT, bind=True)
def process_stripe_event(self: Task[Any, Any], inbox_id: str) -> str:
    with deferred_when_throttled(self), retry_on(self, GATEWAY_RETRIES, DATABASE_ERRORS):
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


@shared_task(name=task_names.RECONCILE_CHUNK, bind=True)
def reconcile_chunk(self: Task[Any, Any], run_id: str) -> int:
    with deferred_when_throttled(self), retry_on(self, GATEWAY_RETRIES, TRANSIENT_ERRORS):
        report = services.run_chunk(run_id, get_paced_gateway(), queue_next=True)
    return len(report.mismatches)
