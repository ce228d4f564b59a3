"""Bring a local payment in line with what Stripe reported about its PaymentIntent."""

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from config.telemetry import current_trace_id
from notifications import services as notification_services
from notifications.models import NotificationKind
from payments import transitions
from payments.currencies import format_amount
from payments.models import Payment, PaymentStatus

# What a PaymentIntent status means for our payment; the others (requires_confirmation,
# processing, requires_capture) are still in flight and say nothing final.
INTENT_STATUS_TO_PAYMENT_STATUS = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELED,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    # After a decline Stripe sends the intent back to requires_payment_method.
    "requires_payment_method": PaymentStatus.FAILED,
}


@dataclass(frozen=True)
class IntentOutcome:
    intent_id: str
    status: str
    failure_code: str = ""
    failure_message: str = ""


@dataclass(frozen=True)
class SyncResult:
    status: str
    changed: bool
    note: str


def find_payment_for_intent(intent_id: str, metadata: dict[str, str]) -> Payment | None:
    """Our payment for a PaymentIntent: by its stored id, else by the payment id we sent."""
    payment = Payment.objects.filter(stripe_payment_intent_id=intent_id).first()
    if payment is not None or not metadata.get("payment_id"):
        return payment
    try:
        payment_id = uuid.UUID(metadata["payment_id"])
    except ValueError:
        return None
    # The worker may have died between creating the intent and storing its id.
    return Payment.objects.filter(pk=payment_id, stripe_payment_intent_id="").first()


def apply_intent_outcome(
    payment_id: uuid.UUID | str, outcome: IntentOutcome, *, actor: str, reason: str
) -> SyncResult:
    """Move the payment forward to Stripe's outcome; a move backwards changes nothing."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        fields = _remember_intent(payment, outcome.intent_id)
        before = payment.status
        target = outcome.status
        if not is_forward(before, target):
            if fields:
                payment.save(update_fields=[*fields, "updated_at"])
            return SyncResult(before, False, f"no change: payment is {before}")
        trace_id = current_trace_id()
        if before == PaymentStatus.PENDING and not transitions.can_move(before, target):
            # Stripe only knows the intent once the charge started: record that step too.
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
        return SyncResult(payment.status, True, f"{before} → {payment.status}")


def is_forward(status: str, target: str) -> bool:
    if status == target:
        return False
    if transitions.can_move(status, target):
        return True
    return status == PaymentStatus.PENDING and transitions.can_move(
        PaymentStatus.PROCESSING, target
    )


def correct_to_succeeded(
    payment_id: uuid.UUID | str, intent_id: str, *, actor: str, reason: str
) -> str:
    """Stripe charged a payment we recorded as failed or canceled: the audited correction."""
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
    """The receipt or failure email; the same (kind, payment) as the charge task's, so one."""
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
