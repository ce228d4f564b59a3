"""The payment state machine: only forward moves, each one recorded as a PaymentEvent."""

from payments.exceptions import InvalidTransition
from payments.models import Payment, PaymentEvent, PaymentStatus

S = PaymentStatus

# Who moved a payment (PaymentEvent.actor), besides "api:<client>" and "staff:<user>".
WORKER_ACTOR = "worker"
WEBHOOK_ACTOR = "stripe:webhook"
RECONCILIATION_ACTOR = "reconciliation"

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

# The status sets every module uses; each is defined here, once.

# The charge is still owed: no outcome recorded yet. A charge task published for one of
# these is safe (idempotent); the stalled-payment sweeper re-drives them.
CHARGE_OWED = frozenset({S.PENDING, S.PROCESSING})
# The charge task has nothing left to do.
CHARGE_FINISHED = frozenset(set(S) - CHARGE_OWED)
# The first outcome of a charge: where "accepted → outcome" latency ends.
CHARGE_OUTCOMES = frozenset({S.SUCCEEDED, S.FAILED, S.REQUIRES_ACTION, S.CANCELED})
# Not final: the charge is owed, or the customer still has to authenticate.
OPEN = CHARGE_OWED | {S.REQUIRES_ACTION}
# The customer was charged (whatever was refunded since).
PAID = frozenset({S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.REFUNDED})
# Something is left that a refund may take.
REFUNDABLE = frozenset({S.SUCCEEDED, S.PARTIALLY_REFUNDED})


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_MOVES[from_status]


def is_forward(status: str, target: str) -> bool:
    """`target` lies ahead of `status`, directly or once the charge has started."""
    if status == target:
        return False
    if can_move(status, target):
        return True
    return status == S.PENDING and can_move(S.PROCESSING, target)


def move(payment: Payment, to_status: str, *, actor: str, reason: str, trace_id: str) -> None:
    """Change the (locked) payment's status and append the event; caller holds the transaction."""
    if not can_move(payment.status, to_status):
        raise InvalidTransition(f"{payment.status} → {to_status} is not a forward move")
    _record_move(payment, to_status, actor=actor, reason=reason, trace_id=trace_id)


def _record_move(
    payment: Payment, to_status: str, *, actor: str, reason: str, trace_id: str
) -> None:
    PaymentEvent.objects.create(
        payment=payment,
        from_status=payment.status,
        to_status=to_status,
        actor=actor,
        reason=reason,
        trace_id=trace_id,
    )
    payment.status = to_status


# Corrections only reconciliation may make. The machine above never moves backwards on
# its own, because a late or duplicated message must not undo newer state. But when
# Stripe's own PaymentIntent says the money moved (succeeded) and we recorded a failure
# or cancellation — a lost confirm answer, a decline from an earlier attempt — it is our
# record that is wrong, and the customer was charged. Reconciliation compares with Stripe
# first and writes each correction as its own audited PaymentEvent.
RECONCILIATION_CORRECTIONS: dict[str, frozenset[str]] = {
    S.FAILED: frozenset({S.SUCCEEDED}),
    S.CANCELED: frozenset({S.SUCCEEDED}),
}


def correct_after_reconciliation(
    payment: Payment, to_status: str, *, actor: str, reason: str, trace_id: str
) -> None:
    """Apply a correction Stripe's records prove; caller holds the locked payment."""
    if to_status not in RECONCILIATION_CORRECTIONS.get(payment.status, frozenset()):
        raise InvalidTransition(f"{payment.status} → {to_status} is not an allowed correction")
    _record_move(payment, to_status, actor=actor, reason=reason, trace_id=trace_id)


def record_audit(payment: Payment, *, actor: str, reason: str, trace_id: str) -> None:
    """Append an event that changes no status (a refund asked for, a retry, a reconcile)."""
    PaymentEvent.objects.create(
        payment=payment,
        from_status=payment.status,
        to_status=payment.status,
        actor=actor,
        reason=reason[:500],
        trace_id=trace_id,
    )
