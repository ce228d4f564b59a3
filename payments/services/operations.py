"""Operator actions on one payment (the admin's buttons): audited, and always through the FSM."""

import uuid

from django.db import transaction

from config import task_names
from config.telemetry import current_trace_id
from outbox import services as outbox
from payments import transitions
from payments.exceptions import InvalidTransition
from payments.gateways.base import ChargeState, GatewayRejected, IntentResult, PaymentGateway
from payments.models import Payment, PaymentStatus
from payments.services import outcomes, reconciliation

MARKED_FAILED_CODE = "marked_failed"
STILL_DECIDING = frozenset({ChargeState.IN_PROGRESS, ChargeState.AWAITING_CONFIRMATION})


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


def mark_failed(
    payment_id: uuid.UUID | str, gateway: PaymentGateway, *, actor: str, reason: str
) -> None:
    """Give up on an unfinished payment: cancel its intent at the gateway first.

    Refused when the gateway charged it (that success is recorded instead) or is still
    deciding, so "failed" is never written over money that moved.
    """
    payment = Payment.objects.get(pk=payment_id)
    if not transitions.can_move(payment.status, PaymentStatus.FAILED):
        raise InvalidTransition(f"the payment is {payment.status}; it cannot be marked failed")
    intent = _cancel_at_gateway(payment, gateway)
    if intent is not None and intent.state == ChargeState.SUCCEEDED:
        outcome = outcomes.outcome_of(intent)
        assert outcome is not None
        outcomes.record_charge_outcome(
            payment.pk, outcome, actor=actor, reason="charged at the gateway: not marked failed"
        )
        raise InvalidTransition("the gateway charged this payment; it is recorded as succeeded")
    if intent is not None and intent.state in STILL_DECIDING:
        raise InvalidTransition("the gateway is still deciding this charge; try again shortly")
    _record_marked_failed(payment.pk, actor=actor, reason=reason)


def _cancel_at_gateway(payment: Payment, gateway: PaymentGateway) -> IntentResult | None:
    """The payment's intent after asking the gateway to cancel it; None if it has none."""
    intent_id = payment.stripe_payment_intent_id
    if not intent_id:
        found = gateway.find_intent_by_payment_id(str(payment.pk))
        if found is None:
            return None
        intent_id = found.intent_id
    try:
        return gateway.cancel_intent(
            intent_id, idempotency_key=f"{payment.pk}:cancel", payment_id=str(payment.pk)
        )
    except GatewayRejected:
        # Not cancelable any more (it succeeded, failed or was canceled): read what it is.
        return gateway.retrieve_intent(intent_id)


@transaction.atomic(durable=True)
def _record_marked_failed(payment_id: uuid.UUID, *, actor: str, reason: str) -> None:
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


# Not durable: the admin's change form saves inside its own transaction
# (ModelAdmin.changeform_view); the row lock lasts until that one commits.
@transaction.atomic
def correct_customer_email(payment_id: uuid.UUID | str, *, email: str, actor: str) -> bool:
    """Change where the payment's receipts go; recorded as an event. False when unchanged.

    The only payment field an operator may change: it decides no Stripe key, attempt or
    recovery step (it is not sent to Stripe). Receipts already queued keep their address;
    exactly one receipt per payment (I5) means a sent one is not sent again.
    """
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.customer_email == email:
        return False
    before = payment.customer_email
    payment.customer_email = email
    payment.save(update_fields=["customer_email", "updated_at"])
    # Masked: the history names the change without copying addresses around (I6).
    transitions.record_audit(
        payment,
        actor=actor,
        reason=f"customer_email corrected by hand: {_masked(before)} → {_masked(email)}",
        trace_id=current_trace_id(),
    )
    return True


def _masked(email: str) -> str:
    if not email:
        return "(none)"
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"
