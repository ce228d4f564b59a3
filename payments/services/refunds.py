"""Refunds: reserve the amount under the payment's row lock, refund at the gateway, settle."""

import logging
import uuid

from django.db import transaction

from config import task_names
from config.telemetry import current_trace_id
from notifications import services as notification_services
from notifications.models import NotificationKind
from outbox import services as outbox
from payments import selectors, transitions
from payments.currencies import format_amount
from payments.exceptions import PaymentNotRefundable, RefundAmountTooLarge
from payments.gateways.base import CreateRefund, GatewayRejected, PaymentGateway, RefundState
from payments.models import Payment, PaymentStatus, Refund, RefundStatus

logger = logging.getLogger(__name__)

# Stripe's refund reasons: https://docs.stripe.com/api/refunds/create#create_refund-reason
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def refund_key(refund: Refund) -> str:
    """The gateway idempotency key of the refund's creation."""
    return f"{refund.pk}:refund"


@transaction.atomic
def request_refund(
    *,
    payment_id: uuid.UUID | str,
    amount: int | None,
    idempotency_key: str,
    requested_by: str,
    reason: str = "",
) -> Refund:
    """Reserve `amount` (default: all that is left) and queue the refund at Stripe.

    The payment row stays locked from the check to the reservation, so concurrent
    requests are served one after the other and can never reserve more than was
    charged; the CHECK on amount_refunded is the last line of defence. The same key
    for the same payment returns the refund it made the first time.
    """
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    existing = Refund.objects.filter(payment=payment, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    if payment.status not in transitions.REFUNDABLE:
        raise PaymentNotRefundable(
            f"the payment is {payment.status}; only succeeded or partially refunded "
            "payments can be refunded"
        )
    remaining = payment.amount - payment.amount_refunded
    if amount is None:
        amount = remaining
    if remaining <= 0:
        raise RefundAmountTooLarge("nothing is left to refund on this payment")
    if amount > remaining:
        raise RefundAmountTooLarge(
            f"{amount} is more than the {remaining} left to refund on this payment"
        )
    payment.amount_refunded += amount
    payment.save(update_fields=["amount_refunded", "updated_at"])
    trace_id = current_trace_id()
    refund = Refund.objects.create(
        payment=payment,
        idempotency_key=idempotency_key,
        amount=amount,
        reason=reason,
        requested_by=requested_by,
        trace_id=trace_id,
    )
    transitions.record_audit(
        payment,
        actor=requested_by,
        reason=f"refund {refund.pk} of {amount} requested",
        trace_id=trace_id,
    )
    outbox.enqueue(task_names.REFUND_PAYMENT, str(refund.pk))
    return refund


def execute_refund(refund_id: str, gateway: PaymentGateway) -> str:
    """Ask Stripe for the refund with the refund's own key; safe to run any number of times."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING or refund.stripe_refund_id:
        # Settled, or created at Stripe and waiting for its refund webhook.
        return refund.status
    payment = refund.payment
    try:
        result = gateway.create_refund(
            CreateRefund(
                payment_intent_id=payment.stripe_payment_intent_id,
                amount=refund.amount,
                idempotency_key=refund_key(refund),
                metadata={
                    selectors.REFUND_ID_METADATA_KEY: str(refund.pk),
                    selectors.PAYMENT_ID_METADATA_KEY: str(payment.pk),
                },
                reason=refund.reason,
            )
        )
    except GatewayRejected as rejected:
        # Stripe refused the request itself: nothing moved, so the reservation goes back.
        return record_refund_result(
            refund.pk,
            state=RefundState.FAILED,
            failure_reason=rejected.code,
            actor=transitions.WORKER_ACTOR,
        )
    return record_refund_result(
        refund.pk,
        state=result.state,
        gateway_refund_id=result.refund_id,
        failure_reason=result.failure_reason,
        actor=transitions.WORKER_ACTOR,
    )


def record_refund_result(
    refund_id: uuid.UUID | str,
    *,
    state: RefundState,
    actor: str,
    gateway_refund_id: str = "",
    failure_reason: str = "",
) -> str:
    """Settle or release a pending refund as the gateway reported; a settled one never changes."""
    with transaction.atomic():
        # Payment first, then refund: the same order as request_refund, so no deadlock.
        payment = Payment.objects.select_for_update().get(refunds__pk=refund_id)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != RefundStatus.PENDING:
            return refund.status
        if gateway_refund_id and not refund.stripe_refund_id:
            refund.stripe_refund_id = gateway_refund_id
        if state == RefundState.SUCCEEDED:
            _settle(payment, refund, actor)
        elif state == RefundState.FAILED:
            _release(payment, refund, failure_reason or state, actor)
        refund.save()
        return refund.status


def _settle(payment: Payment, refund: Refund, actor: str) -> None:
    # Read before this refund is saved as succeeded, so it is counted once.
    settled = selectors.settled_refund_total(payment) + refund.amount
    refund.status = RefundStatus.SUCCEEDED
    target = (
        PaymentStatus.REFUNDED if settled >= payment.amount else PaymentStatus.PARTIALLY_REFUNDED
    )
    reason = f"refund {refund.pk} of {refund.amount} settled at Stripe"
    if payment.status != target and transitions.can_move(payment.status, target):
        transitions.move(payment, target, actor=actor, reason=reason, trace_id=current_trace_id())
        payment.save(update_fields=["status", "updated_at"])
    else:
        transitions.record_audit(payment, actor=actor, reason=reason, trace_id=current_trace_id())
    if payment.customer_email:
        notification_services.queue_notification(
            kind=NotificationKind.REFUND,
            subject=f"refund:{refund.pk}",
            recipient=payment.customer_email,
            context={
                "payment_id": str(payment.pk),
                "refund_id": str(refund.pk),
                "amount": format_amount(refund.amount, payment.currency),
            },
        )


def _release(payment: Payment, refund: Refund, failure_reason: str, actor: str) -> None:
    refund.status = RefundStatus.FAILED
    refund.failure_reason = failure_reason[:500]
    payment.amount_refunded -= refund.amount
    payment.save(update_fields=["amount_refunded", "updated_at"])
    transitions.record_audit(
        payment,
        actor=actor,
        reason=f"refund {refund.pk} of {refund.amount} failed ({failure_reason}); released",
        trace_id=current_trace_id(),
    )
    logger.warning("refund %s failed at Stripe: %s", refund.pk, failure_reason)
