"""Operator actions on one payment (the admin's buttons): audited, and always through the FSM."""

import uuid

from django.db import transaction

from config import task_names
from config.telemetry import current_trace_id
from outbox import services as outbox
from payments import transitions
from payments.exceptions import InvalidTransition
from payments.gateways.base import PaymentGateway
from payments.models import Payment, PaymentStatus
from payments.services import reconciliation

MARKED_FAILED_CODE = "marked_failed"


@transaction.atomic(durable=True)
def retry_charge_now(payment_id: uuid.UUID | str, *, actor: str) -> None:
    """Publish the charge task again; it reuses the payment's keys, so it cannot charge twice."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.status not in transitions.CHARGE_OWED:
        raise InvalidTransition(f"the payment is {payment.status}; only unfinished charges retry")
    transitions.record_audit(
        payment, actor=actor, reason="charge re-published by hand", trace_id=current_trace_id()
    )
    payment.save(update_fields=["updated_at"])
    outbox.enqueue(task_names.CHARGE_PAYMENT, str(payment.pk))


@transaction.atomic(durable=True)
def mark_failed(payment_id: uuid.UUID | str, *, actor: str, reason: str) -> None:
    """Give up on an unfinished payment; refused by the FSM once it succeeded."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    transitions.move(
        payment,
        PaymentStatus.FAILED,
        actor=actor,
        reason=f"marked failed by hand: {reason}",
        trace_id=current_trace_id(),
    )
    payment.failure_code = MARKED_FAILED_CODE
    payment.failure_message = reason[:500]
    payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])


def reconcile_payment_now(
    payment_id: uuid.UUID | str, gateway: PaymentGateway, *, actor: str
) -> list[reconciliation.Mismatch]:
    """Compare one payment with the gateway, apply the safe fixes, and record the check."""
    mismatches = reconciliation.check_payment(payment_id, gateway, actor=actor, fix=True)
    summary = ", ".join(f"{m.kind.value}{' (fixed)' if m.fixed else ''}" for m in mismatches)
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        transitions.record_audit(
            payment,
            actor=actor,
            reason=f"reconciled with Stripe: {summary or 'no mismatch'}",
            trace_id=current_trace_id(),
        )
    return mismatches
