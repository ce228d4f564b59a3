"""Refunds: reserve the amount under the payment's row lock, refund at Stripe in a task, settle."""

import logging
import uuid

from django.db import transaction
from django.db.models import Sum

from config import task_names
from config.telemetry import current_trace_id
from notifications import services as notification_services
from notifications.models import NotificationKind
from outbox import services as outbox
from payments import transitions
from payments.currencies import format_amount
from payments.exceptions import PaymentNotRefundable, RefundAmountTooLarge
from payments.gateways.base import CreateRefund, GatewayRejected, PaymentGateway
from payments.models import Payment, PaymentStatus, Refund, RefundStatus

logger = logging.getLogger(__name__)

WORKER_ACTOR = "worker"
REFUNDABLE_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED})
# Stripe's refund reasons: https://docs.stripe.com/api/refunds/create#create_refund-reason
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
# Stripe Refund statuses that end a refund without money moving.
STRIPE_REFUND_FAILED = frozenset({"failed", "canceled"})


def stripe_idempotency_key(refund: Refund) -> str:
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
    if payment.status not in REFUNDABLE_STATUSES:
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
        # Settled, or created at Stripe and waiting for its webhook (refund.updated).
        return refund.status
    payment = refund.payment
    try:
        result = gateway.create_refund(
            CreateRefund(
                payment_intent_id=payment.stripe_payment_intent_id,
                amount=refund.amount,
                idempotency_key=stripe_idempotency_key(refund),
                metadata={"refund_id": str(refund.pk), "payment_id": str(payment.pk)},
                reason=refund.reason,
            )
        )
    except GatewayRejected as rejected:
        # Stripe refused the request itself: nothing moved, so the reservation goes back.
        return record_refund_result(
            refund.pk, stripe_status="failed", failure_reason=rejected.code, actor=WORKER_ACTOR
        )
    return record_refund_result(
        refund.pk,
        stripe_status=result.status,
        stripe_refund_id=result.refund_id,
        failure_reason=result.failure_reason,
        actor=WORKER_ACTOR,
    )


def record_refund_result(
    refund_id: uuid.UUID | str,
    *,
    stripe_status: str,
    actor: str,
    stripe_refund_id: str = "",
    failure_reason: str = "",
) -> str:
    """Settle or release a pending refund as Stripe reported; a settled refund never changes."""
    with transaction.atomic():
        # Payment first, then refund: the same order as request_refund, so no deadlock.
        payment = Payment.objects.select_for_update().get(refunds__pk=refund_id)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != RefundStatus.PENDING:
            return refund.status
        if stripe_refund_id and not refund.stripe_refund_id:
            refund.stripe_refund_id = stripe_refund_id
        if stripe_status == "succeeded":
            _settle(payment, refund, actor)
        elif stripe_status in STRIPE_REFUND_FAILED:
            _release(payment, refund, failure_reason or stripe_status, actor)
        refund.save()
        return refund.status


def _settle(payment: Payment, refund: Refund, actor: str) -> None:
    refund.status = RefundStatus.SUCCEEDED
    settled = (
        Refund.objects.filter(payment=payment, status=RefundStatus.SUCCEEDED)
        .exclude(pk=refund.pk)
        .aggregate(total=Sum("amount"))["total"]
        or 0
    ) + refund.amount
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


def find_refund(stripe_refund_id: str, metadata: dict[str, str]) -> Refund | None:
    """Our refund for a Stripe Refund: by its stored id, else by the refund id we sent."""
    refund = Refund.objects.filter(stripe_refund_id=stripe_refund_id).first()
    if refund is not None or not metadata.get("refund_id"):
        return refund
    try:
        return Refund.objects.filter(pk=uuid.UUID(metadata["refund_id"])).first()
    except ValueError:
        return None
