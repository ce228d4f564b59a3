"""Refunds: reserve the amount under the payment's row lock, refund at the gateway, settle."""

import logging
import uuid

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config import failpoints, task_names
from config.telemetry import current_trace_id
from notifications import services as notification_services
from notifications.models import NotificationKind
from outbox import services as outbox
from payments import selectors, transitions
from payments.currencies import format_amount
from payments.exceptions import PaymentNotRefundable, RefundAmountTooLarge
from payments.gateways.base import (
    CreateRefund,
    GatewayRejected,
    GatewayServerError,
    GatewayThrottled,
    PaymentGateway,
    RefundResult,
    RefundState,
)
from payments.models import Payment, PaymentStatus, Refund, RefundStatus

logger = logging.getLogger(__name__)

# Stripe's refund reasons: https://docs.stripe.com/api/refunds/create#create_refund-reason
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def refund_key(refund: Refund) -> str:
    """The gateway idempotency key of the refund's creation (a new generation after a 5xx)."""
    generation = refund.key_generation
    return f"{refund.pk}:refund" if generation == 0 else f"{refund.pk}:refund:{generation}"


@transaction.atomic
def request_refund(
    *,
    payment_id: uuid.UUID | str,
    amount: int | None,
    idempotency_key: str,
    requested_by: str,
    reason: str = "",
    request_fingerprint: str = "",
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
        request_fingerprint=request_fingerprint,
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
    failpoints.maybe_crash("refund.request_before_commit")
    return refund


def execute_refund(refund_id: str, gateway: PaymentGateway) -> str:
    """Refund at the gateway with the refund's own key; safe to run any number of times.

    Every run after the first looks first: the refund the gateway already has (found by
    its stored id, or among the intent's refunds by our refund id) is recorded rather
    than asked for again, so an ambiguous answer can never refund twice.
    """
    refund = _begin_refund(refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund.status
    failpoints.maybe_crash("refund.before_stripe")
    try:
        found = _look_up_refund(refund, gateway)
        result = found or gateway.create_refund(_create_request(refund))
    except GatewayRejected as rejected:
        # Refused: unless the gateway turns out to have the refund after all, nothing
        # moved, so the reservation goes back.
        found = _look_up_refund(refund, gateway, always=True)
        if found is None:
            return record_refund_result(
                refund.pk,
                state=RefundState.FAILED,
                failure_reason=rejected.code,
                actor=transitions.WORKER_ACTOR,
            )
        result = found
    except GatewayServerError:
        Refund.objects.filter(pk=refund.pk).update(
            key_generation=F("key_generation") + 1, updated_at=timezone.now()
        )
        raise
    except GatewayThrottled:
        # Held back by a rate limit before anything executed: not an attempt, so the next
        # run need not look for a refund this one could not have made.
        Refund.objects.filter(pk=refund.pk, attempts__gt=0).update(attempts=F("attempts") - 1)
        raise
    failpoints.maybe_crash("refund.after_stripe_before_commit")
    status = record_refund_result(
        refund.pk,
        state=result.state,
        gateway_refund_id=result.refund_id,
        failure_reason=result.failure_reason,
        actor=transitions.WORKER_ACTOR,
    )
    failpoints.maybe_crash("refund.after_outcome_commit")
    return status


def _begin_refund(refund_id: str) -> Refund:
    with transaction.atomic():
        refund = Refund.objects.select_for_update().select_related("payment").get(pk=refund_id)
        if refund.status == RefundStatus.PENDING:
            refund.attempts += 1
            refund.save(update_fields=["attempts", "updated_at"])
        return refund


def _look_up_refund(
    refund: Refund, gateway: PaymentGateway, *, always: bool = False
) -> RefundResult | None:
    if refund.stripe_refund_id:
        return gateway.retrieve_refund(refund.stripe_refund_id)
    if refund.attempts <= 1 and not always:
        return None  # the first run has nothing to look at
    ours = str(refund.pk)
    return next(
        (
            candidate
            for candidate in gateway.refunds_of_intent(refund.payment.stripe_payment_intent_id)
            if candidate.metadata.get(selectors.REFUND_ID_METADATA_KEY) == ours
        ),
        None,
    )


def _create_request(refund: Refund) -> CreateRefund:
    return CreateRefund(
        payment_intent_id=refund.payment.stripe_payment_intent_id,
        amount=refund.amount,
        idempotency_key=refund_key(refund),
        metadata={
            selectors.REFUND_ID_METADATA_KEY: str(refund.pk),
            selectors.PAYMENT_ID_METADATA_KEY: str(refund.payment_id),
        },
        reason=refund.reason,
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
