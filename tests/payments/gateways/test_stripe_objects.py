"""Stripe's PaymentIntent and Refund statuses, turned into the gateway's neutral states."""

import pytest

from payments.gateways.base import ChargeState, RefundState
from payments.gateways.stripe import objects


@pytest.mark.parametrize(
    ("status", "error", "state"),
    [
        ("requires_confirmation", None, ChargeState.AWAITING_CONFIRMATION),
        # Before any attempt the same status means "not confirmed"; after one, "declined".
        ("requires_payment_method", None, ChargeState.AWAITING_CONFIRMATION),
        ("requires_payment_method", {"code": "card_declined"}, ChargeState.FAILED),
        ("requires_action", None, ChargeState.REQUIRES_ACTION),
        ("processing", None, ChargeState.IN_PROGRESS),
        ("requires_capture", None, ChargeState.IN_PROGRESS),
        ("succeeded", None, ChargeState.SUCCEEDED),
        ("canceled", None, ChargeState.CANCELED),
        ("a_status_stripe_adds_later", None, ChargeState.IN_PROGRESS),
    ],
)
def test_charge_states(status, error, state):
    assert objects.charge_state(status, error) == state


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("pending", RefundState.PENDING),
        ("requires_action", RefundState.PENDING),
        ("succeeded", RefundState.SUCCEEDED),
        ("failed", RefundState.FAILED),
        ("canceled", RefundState.FAILED),
        (None, RefundState.PENDING),
    ],
)
def test_refund_states(status, state):
    assert objects.refund_state(status) == state
