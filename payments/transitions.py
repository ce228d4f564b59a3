"""The payment state machine: only forward moves, each one recorded as a PaymentEvent."""

from payments.exceptions import InvalidTransition
from payments.models import Payment, PaymentEvent, PaymentStatus

S = PaymentStatus

ALLOWED_MOVES: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.PROCESSING, S.FAILED, S.CANCELED}),
    S.PROCESSING: frozenset({S.SUCCEEDED, S.FAILED, S.REQUIRES_ACTION, S.CANCELED}),
    # The customer may still complete 3-D Secure (reported later by a webhook).
    S.REQUIRES_ACTION: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELED}),
    S.SUCCEEDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.REFUNDED}),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.REFUNDED: frozenset(),
}

# States in which the charge task has nothing left to do.
CHARGE_FINISHED = frozenset(
    {S.SUCCEEDED, S.FAILED, S.REQUIRES_ACTION, S.CANCELED, S.PARTIALLY_REFUNDED, S.REFUNDED}
)


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_MOVES[from_status]


def move(payment: Payment, to_status: str, *, actor: str, reason: str, trace_id: str) -> None:
    """Change the (locked) payment's status and append the event; caller holds the transaction."""
    if not can_move(payment.status, to_status):
        raise InvalidTransition(f"{payment.status} → {to_status} is not a forward move")
    PaymentEvent.objects.create(
        payment=payment,
        from_status=payment.status,
        to_status=to_status,
        actor=actor,
        reason=reason,
        trace_id=trace_id,
    )
    payment.status = to_status
