"""Charges: accept a payment (one transaction), then drive it through the gateway."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config import failpoints, task_names
from config.telemetry import current_trace_id
from outbox import services as outbox
from payments import selectors, transitions
from payments.exceptions import RetryableError
from payments.gateways.base import (
    CardDeclined,
    ChargeState,
    CreateIntent,
    GatewayRejected,
    GatewayServerError,
    IntentResult,
    PaymentGateway,
)
from payments.models import ApiClient, Payment, PaymentEvent, PaymentStatus
from payments.services import outcomes

logger = logging.getLogger(__name__)

CHARGE_WINDOW_EXPIRED = "charge_window_expired"


class ChargeAbandoned(Exception):
    """The payment ended while this run was charging it; stop before confirming."""


def create_key(payment: Payment) -> str:
    """The gateway idempotency key of the payment's intent creation."""
    return _key(payment, "create")


def confirm_key(payment: Payment) -> str:
    """The gateway idempotency key of the payment's confirmation."""
    return _key(payment, "confirm")


def _key(payment: Payment, step: str) -> str:
    # A gateway saves a 5xx against the key that got it and replays it for the key's
    # lifetime, so after one the payment moves to a new generation of keys. Generation 0
    # keeps the original form.
    generation = payment.key_generation
    return f"{payment.pk}:{step}" if generation == 0 else f"{payment.pk}:{step}:{generation}"


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
    failpoints.maybe_crash("charge.accept_before_commit")
    return payment


# --- Charging --------------------------------------------------------------------------------


def charge_payment(payment_id: str, gateway: PaymentGateway) -> str:
    """Drive one payment through create → confirm → record; safe to run any number of times.

    Each step commits before the next gateway call, so a crash resumes at the step it
    stopped in, and every call carries a key derived from the payment, so a repeated step
    is replayed by the gateway rather than executed twice. Every run after the first
    starts by looking at the gateway: an earlier run may have been answered ambiguously
    (a 5xx, a timeout, a lost connection), and what the gateway says decides what to do.
    """
    payment = _begin_charge(payment_id)
    if payment.status in transitions.CHARGE_FINISHED:
        return payment.status
    try:
        intent = _look_up_intent(payment, gateway)
        if intent is None:
            if _gateway_may_have_forgotten_our_keys(payment):
                # Nothing was created in time; charging a customer a day late is not
                # something to start now.
                return _record_failure(
                    payment_id,
                    code=CHARGE_WINDOW_EXPIRED,
                    message="not charged within the provider's idempotency window",
                )
            intent = _create_intent(payment, gateway)
        if intent.state == ChargeState.AWAITING_CONFIRMATION:
            failpoints.maybe_crash("charge.before_confirm")
            # Safe with any key: an intent is charged at most once.
            intent = gateway.confirm_intent(
                intent.intent_id, idempotency_key=confirm_key(payment), payment_id=str(payment.pk)
            )
        if intent.state == ChargeState.IN_PROGRESS:
            # A replayed confirm repeats the old answer; ask for the intent as it is now.
            intent = gateway.retrieve_intent(intent.intent_id)
    except CardDeclined as declined:
        return _record_failure(
            payment_id,
            code=declined.failure_code,
            message=declined.message,
            intent_id=declined.intent_id,
        )
    except GatewayRejected as rejected:
        return _record_after_refusal(payment_id, gateway, rejected)
    except GatewayServerError:
        _move_to_new_keys(payment_id)
        raise
    except ChargeAbandoned:
        return Payment.objects.values_list("status", flat=True).get(pk=payment_id)
    return _record_intent_outcome(payment_id, intent)


def _begin_charge(payment_id: str) -> Payment:
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status in transitions.CHARGE_FINISHED:
            return payment
        payment.charge_attempts += 1
        fields = ["charge_attempts", "updated_at"]
        if payment.status == PaymentStatus.PENDING:
            transitions.move(
                payment,
                PaymentStatus.PROCESSING,
                actor=transitions.WORKER_ACTOR,
                reason="charge started",
                trace_id=current_trace_id(),
            )
            fields.append("status")
        payment.save(update_fields=fields)
        return payment


def _look_up_intent(payment: Payment, gateway: PaymentGateway) -> IntentResult | None:
    """The payment's intent as the gateway has it now; None when there is none yet.

    The first run has nothing to look at and makes no extra call. Later runs retrieve the
    stored intent, or search for one an earlier run created but did not get to store.
    """
    if payment.stripe_payment_intent_id:
        return gateway.retrieve_intent(payment.stripe_payment_intent_id)
    if payment.charge_attempts <= 1 and not _gateway_may_have_forgotten_our_keys(payment):
        return None
    found = gateway.find_intent_by_payment_id(str(payment.pk))
    if found is None:
        return None
    stored = _store_intent_id(str(payment.pk), found.intent_id)
    return found if stored == found.intent_id else gateway.retrieve_intent(stored)


def _gateway_may_have_forgotten_our_keys(payment: Payment) -> bool:
    # Stripe keeps idempotency keys for 24 h. The first use of our keys came after the
    # payment was accepted, so before this age every key is certainly still honoured.
    lifetime = timedelta(seconds=settings.STRIPE_IDEMPOTENCY_KEY_LIFETIME_SECONDS)
    return timezone.now() - payment.created_at >= lifetime


def _create_intent(payment: Payment, gateway: PaymentGateway) -> IntentResult:
    failpoints.maybe_crash("charge.before_create_intent")
    created = gateway.create_intent(
        CreateIntent(
            amount=payment.amount,
            currency=payment.currency,
            payment_method=payment.payment_method,
            idempotency_key=create_key(payment),
            metadata={selectors.PAYMENT_ID_METADATA_KEY: str(payment.pk)},
            description=payment.description,
        )
    )
    failpoints.maybe_crash("charge.after_create_intent_before_commit")
    stored = _store_intent_id(str(payment.pk), created.intent_id)
    # Another run stored its intent first: only the stored one is ever confirmed.
    return created if stored == created.intent_id else gateway.retrieve_intent(stored)


def _store_intent_id(payment_id: str, intent_id: str) -> str:
    """Commit the intent id (the first one wins): the recovery point before confirming."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment_id)
        if locked.status in transitions.CHARGE_FINISHED:
            # Ended meanwhile (an operator marked it failed): confirming now would charge
            # a payment the service already gave up on.
            raise ChargeAbandoned(f"the payment became {locked.status} during the charge")
        if not locked.stripe_payment_intent_id:
            locked.stripe_payment_intent_id = intent_id
            locked.intent_created_at = timezone.now()
            locked.save(
                update_fields=["stripe_payment_intent_id", "intent_created_at", "updated_at"]
            )
        return locked.stripe_payment_intent_id


def _move_to_new_keys(payment_id: str) -> None:
    Payment.objects.filter(pk=payment_id).update(
        key_generation=F("key_generation") + 1, updated_at=timezone.now()
    )


def _record_after_refusal(
    payment_id: str, gateway: PaymentGateway, rejected: GatewayRejected
) -> str:
    """The gateway refused a request: record what it says about the intent, not a guess.

    A confirm is refused when the intent is no longer awaiting one, typically because
    another run (or a run whose answer was lost) already confirmed it.
    """
    intent_id = Payment.objects.values_list("stripe_payment_intent_id", flat=True).get(
        pk=payment_id
    )
    if not intent_id:
        return _record_failure(payment_id, code=rejected.code, message=rejected.message)
    intent = gateway.retrieve_intent(intent_id)
    if intent.state == ChargeState.AWAITING_CONFIRMATION:
        # Still unconfirmed: the refusal was about the request itself (a bad payment method).
        return _record_failure(
            payment_id, code=rejected.code, message=rejected.message, intent_id=intent_id
        )
    return _record_intent_outcome(payment_id, intent)


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
    # Stripe has decided (or the charge is given up); nothing of it is committed here yet.
    failpoints.maybe_crash("charge.after_confirm_before_commit")
    status = outcomes.record_charge_outcome(
        payment_id, outcome, actor=transitions.WORKER_ACTOR, reason=reason
    ).status
    failpoints.maybe_crash("charge.after_outcome_commit")
    return status
