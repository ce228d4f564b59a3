"""Charge outcomes: move a payment forward to what the gateway reported, and owe its email.

The worker, webhooks, reconciliation and the admin all record outcomes here, so
whichever reports first moves the payment and the others change nothing.
"""

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from config.telemetry import current_trace_id
from notifications import services as notification_services
from notifications.models import NotificationKind
from payments import transitions
from payments.currencies import format_amount
from payments.gateways.base import ChargeState, IntentResult
from payments.models import Payment, PaymentStatus

# What a charge state means for our payment; the others (awaiting confirmation, in
# progress) say nothing final yet.
PAYMENT_STATUS_OF_CHARGE_STATE = {
    ChargeState.SUCCEEDED: PaymentStatus.SUCCEEDED,
    ChargeState.FAILED: PaymentStatus.FAILED,
    ChargeState.CANCELED: PaymentStatus.CANCELED,
    ChargeState.REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
}


@dataclass(frozen=True)
class ChargeOutcome:
    intent_id: str
    status: str
    failure_code: str = ""
    failure_message: str = ""


@dataclass(frozen=True)
class OutcomeResult:
    status: str
    changed: bool
    note: str


def outcome_of(intent: IntentResult) -> ChargeOutcome | None:
    """The outcome an intent reports, or None while the gateway has not decided."""
    status = PAYMENT_STATUS_OF_CHARGE_STATE.get(intent.state)
    if status is None:
        return None
    failed = status == PaymentStatus.FAILED
    return ChargeOutcome(
        intent_id=intent.intent_id,
        status=status,
        failure_code=intent.failure_code if failed else "",
        failure_message=intent.failure_message if failed else "",
    )


def record_charge_outcome(
    payment_id: uuid.UUID | str, outcome: ChargeOutcome, *, actor: str, reason: str
) -> OutcomeResult:
    """Move the payment forward to the gateway's outcome; a move backwards changes nothing."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        fields = _remember_intent(payment, outcome.intent_id)
        before = payment.status
        target = outcome.status
        if not transitions.is_forward(before, target):
            if fields:
                payment.save(update_fields=[*fields, "updated_at"])
            return OutcomeResult(before, False, f"no change: payment is {before}")
        trace_id = current_trace_id()
        if before == PaymentStatus.PENDING and not transitions.can_move(before, target):
            # The gateway only knows the intent once the charge started: record that step too.
            transitions.move(
                payment, PaymentStatus.PROCESSING, actor=actor, reason=reason, trace_id=trace_id
            )
        transitions.move(payment, target, actor=actor, reason=reason, trace_id=trace_id)
        if target == PaymentStatus.FAILED:
            payment.failure_code = outcome.failure_code[:100]
            payment.failure_message = outcome.failure_message[:500]
            fields += ["failure_code", "failure_message"]
        payment.save(update_fields=["status", *fields, "updated_at"])
        queue_outcome_notification(payment)
        return OutcomeResult(payment.status, True, f"{before} → {payment.status}")


def correct_to_succeeded(
    payment_id: uuid.UUID | str, intent_id: str, *, actor: str, reason: str
) -> str:
    """The gateway charged a payment we recorded as failed or canceled: the audited correction."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        fields = _remember_intent(payment, intent_id)
        transitions.correct_after_reconciliation(
            payment,
            PaymentStatus.SUCCEEDED,
            actor=actor,
            reason=reason,
            trace_id=current_trace_id(),
        )
        payment.failure_code = ""
        payment.failure_message = ""
        payment.save(
            update_fields=["status", "failure_code", "failure_message", *fields, "updated_at"]
        )
        queue_outcome_notification(payment)
        return payment.status


def _remember_intent(payment: Payment, intent_id: str) -> list[str]:
    if payment.stripe_payment_intent_id or not intent_id:
        return []
    payment.stripe_payment_intent_id = intent_id
    payment.intent_created_at = timezone.now()
    return ["stripe_payment_intent_id", "intent_created_at"]


def queue_outcome_notification(payment: Payment) -> None:
    """The receipt or failure email; one per (kind, payment), whoever records the outcome."""
    kind = {
        PaymentStatus.SUCCEEDED: NotificationKind.RECEIPT,
        PaymentStatus.FAILED: NotificationKind.PAYMENT_FAILED,
    }.get(PaymentStatus(payment.status))
    if kind is None or not payment.customer_email:
        return
    notification_services.queue_notification(
        kind=kind,
        subject=f"payment:{payment.pk}",
        recipient=payment.customer_email,
        context={
            "payment_id": str(payment.pk),
            "amount": format_amount(payment.amount, payment.currency),
            "description": payment.description,
            "failure_code": payment.failure_code,
        },
    )
