"""Confirming a PaymentIntent: the test card decides success, decline or 3-D Secure."""

import contextlib

from .context import RequestContext
from .errors import JsonObject, StripeError, unexpected_state
from .events import emit
from .ids import now
from .ledger import LedgerEntry
from .objects import new_charge, three_d_secure_action
from .payment_methods import (
    AUTHENTICATION_REQUIRED,
    TEST_CARDS,
    Decline,
    Outcome,
    SimulatedCard,
    payment_method_object,
)
from .settlements import Settlement
from .store import Store

CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
MISSING_PAYMENT_METHOD = (
    "You cannot confirm this PaymentIntent because it's missing a payment method. You can "
    "either update the PaymentIntent with a payment method and then confirm it again, or "
    "confirm it again directly with a payment method."
)


def record_charge(
    store: Store,
    context: RequestContext | None,
    intent: JsonObject,
    charge: JsonObject,
    amount: int,
    source: str = "api",
) -> None:
    """Money captured: the ledger entry chaos tests count to prove nobody paid twice."""
    store.add_ledger_entry(
        LedgerEntry(
            seq=store.ledger.next_seq(),
            type="charge",
            id=charge["id"],
            payment_intent=intent["id"],
            amount=amount,
            currency=intent["currency"],
            metadata=dict(intent["metadata"]),
            idempotency_key=context.idempotency_key if context else None,
            api_key_hash=context.api_key_hash if context else None,
            request_id=context.request_id if context else None,
            created=now(),
            charge=charge["id"],
            source=source,
        )
    )


def confirm_intent(
    store: Store,
    context: RequestContext,
    intent: JsonObject,
    payment_method: str | None,
    refuse_authentication: bool,
) -> None:
    status = intent["status"]
    if status not in CONFIRMABLE:
        if status == "succeeded":
            message = (
                "You cannot confirm this PaymentIntent because it has already succeeded "
                "after being previously confirmed."
            )
        else:
            message = f"You cannot confirm this PaymentIntent because it has a status of {status}."
        raise unexpected_state(message, intent)
    payment_method = payment_method or intent["payment_method"]
    if payment_method is None:
        raise unexpected_state(MISSING_PAYMENT_METHOD, intent)
    intent["payment_method"] = payment_method
    # 3-D Secure is asked for before the card is charged, so only a charge can be left processing.
    authenticates = TEST_CARDS[payment_method].outcome is Outcome.AUTHENTICATE
    if context.settle_after_seconds is not None and not authenticates:
        _leave_processing(store, context, intent, refuse_authentication)
        return
    _attempt_payment(store, context, intent, payment_method, refuse_authentication)


def settle_processing_intent(store: Store, settlement: Settlement) -> None:
    """Finish a confirm that stopped at `processing`, as the card would have answered then."""
    intent = store.payment_intents.get(settlement.object_id)
    if intent is None or intent["status"] != "processing":
        return  # moved on meanwhile (the control API forced a status)
    context = RequestContext.of_settlement(settlement)
    # A decline raises, but the intent and its payment_failed event already tell it.
    with contextlib.suppress(StripeError):
        _attempt_payment(
            store, context, intent, intent["payment_method"], settlement.refuse_authentication
        )


def _leave_processing(
    store: Store, context: RequestContext, intent: JsonObject, refuse_authentication: bool
) -> None:
    intent.update(status="processing", last_payment_error=None, next_action=None)
    store.save_payment_intent(intent)
    emit(store, context, "payment_intent.processing", intent)
    store.add_settlement(
        context.settle_later(
            "payment_intent", intent["id"], refuse_authentication=refuse_authentication
        )
    )


def _attempt_payment(
    store: Store,
    context: RequestContext,
    intent: JsonObject,
    payment_method: str,
    refuse_authentication: bool,
) -> None:
    card = TEST_CARDS[payment_method]
    if card.outcome is Outcome.AUTHENTICATE and refuse_authentication:
        decline(store, context, intent, payment_method, card, AUTHENTICATION_REQUIRED)
    if card.outcome is Outcome.AUTHENTICATE:
        intent.update(status="requires_action", next_action=three_d_secure_action())
        store.save_payment_intent(intent)
        emit(store, context, "payment_intent.requires_action", intent)
        return
    if card.decline is not None:
        decline(store, context, intent, payment_method, card, card.decline)
    captured = intent["capture_method"] != "manual"
    charge = new_charge(intent, payment_method, card, captured=captured)
    store.save_charge(charge)
    intent.update(latest_charge=charge["id"], last_payment_error=None, next_action=None)
    if captured:
        intent.update(status="succeeded", amount_received=intent["amount"])
        record_charge(store, context, intent, charge, intent["amount"])
    else:
        intent.update(status="requires_capture", amount_capturable=intent["amount"])
    store.save_payment_intent(intent)
    emit(store, context, "charge.succeeded", charge)
    if captured:
        emit(store, context, "payment_intent.succeeded", intent)
    else:
        emit(store, context, "payment_intent.amount_capturable_updated", intent)


def decline(
    store: Store,
    context: RequestContext,
    intent: JsonObject,
    payment_method: str,
    card: SimulatedCard,
    decline: Decline,
) -> None:
    """Stripe's decline: a failed charge, the intent back to requires_payment_method, a 402."""
    charge = new_charge(intent, payment_method, card, captured=False, decline=decline)
    store.save_charge(charge)
    error = StripeError(
        402,
        "card_error",
        decline.message,
        code=decline.code,
        decline_code=decline.decline_code,
        param=decline.param,
        executed=True,
    )
    last_payment_error = error.body()["error"]
    last_payment_error.update(
        charge=charge["id"],
        payment_method=payment_method_object(payment_method, card, intent["created"]),
    )
    intent.update(
        status="requires_payment_method",
        payment_method=None,
        latest_charge=charge["id"],
        last_payment_error=last_payment_error,
        next_action=None,
    )
    store.save_payment_intent(intent)
    emit(store, context, "charge.failed", charge)
    emit(store, context, "payment_intent.payment_failed", intent)
    error.extra = {
        "charge": charge["id"],
        "payment_intent": intent,
        "payment_method": last_payment_error["payment_method"],
    }
    raise error
