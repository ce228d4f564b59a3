"""Charges: accept a payment (one transaction), then drive it through the gateway."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config import task_names
from config.telemetry import current_trace_id
from outbox import services as outbox
from payments import selectors, transitions
from payments.exceptions import RetryableError
from payments.gateways.base import (
    CardDeclined,
    ChargeState,
    CreateIntent,
    GatewayRejected,
    IntentResult,
    PaymentGateway,
)
from payments.models import ApiClient, Payment, PaymentEvent, PaymentStatus
from payments.services import outcomes

logger = logging.getLogger(__name__)

CHARGE_WINDOW_EXPIRED = "charge_window_expired"


def create_key(payment: Payment) -> str:
    """The gateway idempotency key of the payment's intent creation."""
    return f"{payment.pk}:create"


def confirm_key(payment: Payment) -> str:
    """The gateway idempotency key of the payment's confirmation."""
    return f"{payment.pk}:confirm"


# --- Accepting a payment ---------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRequest:
    amount: int
    currency: str
    payment_method: str
    customer_email: str = ""
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


def accept_payment(
    *, client: ApiClient, idempotency_key: str, request_fingerprint: str, request: PaymentRequest
) -> Payment:
    """Write the payment, its first event and its charge job; runs in the caller's transaction."""
    trace_id = current_trace_id()
    payment = Payment.objects.create(
        client=client,
        idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
        amount=request.amount,
        currency=request.currency.upper(),
        payment_method=request.payment_method,
        customer_email=request.customer_email,
        description=request.description,
        metadata=request.metadata,
        trace_id=trace_id,
    )
    PaymentEvent.objects.create(
        payment=payment,
        to_status=PaymentStatus.PENDING,
        actor=f"api:{client.name}",
        reason="accepted",
        trace_id=trace_id,
    )
    outbox.enqueue(task_names.CHARGE_PAYMENT, str(payment.pk))
    return payment


# --- Charging --------------------------------------------------------------------------------


def charge_payment(payment_id: str, gateway: PaymentGateway) -> str:
    """Drive one payment through create → confirm → record; safe to run any number of times.

    Each step commits before the next Stripe call, so a crash resumes at the step it
    stopped in, and every Stripe call carries a key derived from the payment, so a step
    repeated after a crash is replayed by Stripe rather than executed twice.
    """
    payment = _begin_charge(payment_id)
    if payment.status in transitions.CHARGE_FINISHED:
        return payment.status
    try:
        if _stripe_may_have_forgotten_our_keys(payment):
            result = _resume_without_keys(payment, gateway)
            if result is None:
                return _record_failure(
                    payment_id,
                    code=CHARGE_WINDOW_EXPIRED,
                    message="not charged within the provider's idempotency window",
                )
        else:
            intent_id = payment.stripe_payment_intent_id or _create_intent(payment, gateway)
            result = gateway.confirm_intent(
                intent_id, idempotency_key=confirm_key(payment), payment_id=str(payment.pk)
            )
        if result.state == ChargeState.IN_PROGRESS:
            # A replayed confirm repeats the old answer; ask for the intent as it is now.
            result = gateway.retrieve_intent(result.intent_id)
    except CardDeclined as declined:
        return _record_failure(
            payment_id,
            code=declined.failure_code,
            message=declined.message,
            intent_id=declined.intent_id,
        )
    except GatewayRejected as rejected:
        return _record_failure(payment_id, code=rejected.code, message=rejected.message)
    return _record_intent_outcome(payment_id, result)


def _stripe_may_have_forgotten_our_keys(payment: Payment) -> bool:
    # Stripe keeps idempotency keys for 24 h. The first use of our keys came after the
    # payment was accepted, so before this age every key is certainly still honoured.
    lifetime = timedelta(seconds=settings.STRIPE_IDEMPOTENCY_KEY_LIFETIME_SECONDS)
    return timezone.now() - payment.created_at >= lifetime


def _resume_without_keys(payment: Payment, gateway: PaymentGateway) -> IntentResult | None:
    """Past the key lifetime a create could charge twice: only find, confirm and read.

    None means Stripe has no PaymentIntent for this payment: it was never created, and
    charging a customer a day late is not something to start now.
    """
    if payment.stripe_payment_intent_id:
        intent: IntentResult | None = gateway.retrieve_intent(payment.stripe_payment_intent_id)
    else:
        intent = gateway.find_intent_by_payment_id(str(payment.pk))
        if intent is not None:
            _store_intent_id(str(payment.pk), intent.intent_id)
    if intent is not None and intent.state == ChargeState.AWAITING_CONFIRMATION:
        # Confirming is safe without the old key: an intent is charged at most once.
        intent = gateway.confirm_intent(
            intent.intent_id,
            idempotency_key=f"{confirm_key(payment)}:{intent.intent_id}",
            payment_id=str(payment.pk),
        )
    return intent


def _begin_charge(payment_id: str) -> Payment:
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status == PaymentStatus.PENDING:
            transitions.move(
                payment,
                PaymentStatus.PROCESSING,
                actor=transitions.WORKER_ACTOR,
                reason="charge started",
                trace_id=current_trace_id(),
            )
            payment.save(update_fields=["status", "updated_at"])
        return payment


def _create_intent(payment: Payment, gateway: PaymentGateway) -> str:
    intent = gateway.create_intent(
        CreateIntent(
            amount=payment.amount,
            currency=payment.currency,
            payment_method=payment.payment_method,
            idempotency_key=create_key(payment),
            metadata={selectors.PAYMENT_ID_METADATA_KEY: str(payment.pk)},
            description=payment.description,
        )
    )
    return _store_intent_id(str(payment.pk), intent.intent_id)


def _store_intent_id(payment_id: str, intent_id: str) -> str:
    """Commit the PaymentIntent id: the recovery point between create and confirm."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment_id)
        if not locked.stripe_payment_intent_id:
            locked.stripe_payment_intent_id = intent_id
            locked.intent_created_at = timezone.now()
            locked.save(
                update_fields=["stripe_payment_intent_id", "intent_created_at", "updated_at"]
            )
        return locked.stripe_payment_intent_id


def _record_intent_outcome(payment_id: str, result: IntentResult) -> str:
    outcome = outcomes.outcome_of(result)
    if outcome is None:
        raise RetryableError(f"the charge is {result.state}; asking again later")
    return _record(payment_id, outcome)


def _record_failure(payment_id: str, *, code: str, message: str, intent_id: str = "") -> str:
    outcome = outcomes.ChargeOutcome(
        intent_id=intent_id, status=PaymentStatus.FAILED, failure_code=code, failure_message=message
    )
    return _record(payment_id, outcome)


def _record(payment_id: str, outcome: outcomes.ChargeOutcome) -> str:
    # The same forward-only recording webhooks and reconciliation use: whichever of them
    # reports an outcome first moves the payment, the others change nothing.
    reason = outcome.failure_code or "charge finished"
    return outcomes.record_charge_outcome(
        payment_id, outcome, actor=transitions.WORKER_ACTOR, reason=reason
    ).status
