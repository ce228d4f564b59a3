"""Stripe's objects and statuses, turned into the gateway's neutral results."""

from typing import Any

from payments.gateways.base import ChargeState, IntentResult, RefundResult, RefundState

# PaymentIntent statuses: https://docs.stripe.com/payments/paymentintents/lifecycle
_CHARGE_STATES = {
    "requires_confirmation": ChargeState.AWAITING_CONFIRMATION,
    "requires_action": ChargeState.REQUIRES_ACTION,
    "processing": ChargeState.IN_PROGRESS,
    # Manual capture is not used; an authorised, uncaptured intent is still in flight.
    "requires_capture": ChargeState.IN_PROGRESS,
    "succeeded": ChargeState.SUCCEEDED,
    "canceled": ChargeState.CANCELED,
}
# Refund statuses: https://docs.stripe.com/api/refunds/object#refund_object-status
_REFUND_STATES = {
    "pending": RefundState.PENDING,
    "requires_action": RefundState.PENDING,
    "succeeded": RefundState.SUCCEEDED,
    "failed": RefundState.FAILED,
    "canceled": RefundState.FAILED,
}


def charge_state(status: str, last_payment_error: Any) -> ChargeState:
    if status == "requires_payment_method":
        # After a decline Stripe sends the intent back for another payment method; before
        # any attempt the same status only means it has not been confirmed yet.
        return ChargeState.FAILED if last_payment_error else ChargeState.AWAITING_CONFIRMATION
    # An unknown status is treated as undecided: the caller asks again later.
    return _CHARGE_STATES.get(status, ChargeState.IN_PROGRESS)


def refund_state(status: str | None) -> RefundState:
    return _REFUND_STATES.get(status or "", RefundState.PENDING)


def _field(source: Any, name: str) -> Any:
    """A field of a StripeObject or of a plain dict (events are read from stored JSON)."""
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, name, None)


def metadata_of(source: Any) -> dict[str, str]:
    raw = _field(source, "metadata") or {}
    items = raw.to_dict() if hasattr(raw, "to_dict") else dict(raw)
    return {str(key): str(value) for key, value in items.items()}


def intent_result(
    intent: Any, request_id: str = "", state: ChargeState | None = None
) -> IntentResult:
    """A PaymentIntent (StripeObject or dict) as an IntentResult; `state` overrides its own."""
    error = _field(intent, "last_payment_error")
    decline_code = (_field(error, "decline_code") or _field(error, "code") or "") if error else ""
    return IntentResult(
        intent_id=str(_field(intent, "id")),
        state=state or charge_state(str(_field(intent, "status") or ""), error),
        amount=int(_field(intent, "amount") or 0),
        currency=str(_field(intent, "currency") or ""),
        failure_code=decline_code,
        failure_message=(_field(error, "message") or "") if error else "",
        request_id=request_id,
        metadata=metadata_of(intent),
        created=int(_field(intent, "created") or 0),
    )


def refund_result(refund: Any) -> RefundResult:
    """A Refund (StripeObject or dict) as a RefundResult."""
    intent = _field(refund, "payment_intent")
    return RefundResult(
        refund_id=str(_field(refund, "id")),
        payment_intent_id=(intent if isinstance(intent, str) else str(_field(intent, "id")))
        if intent
        else "",
        state=refund_state(_field(refund, "status")),
        amount=int(_field(refund, "amount") or 0),
        currency=str(_field(refund, "currency") or ""),
        metadata=metadata_of(refund),
        # Only set on failed refunds; absent from the object otherwise.
        failure_reason=_field(refund, "failure_reason") or "",
        created=int(_field(refund, "created") or 0),
    )
