"""Charge outcomes: forward-only recording shared by the worker, webhooks and reconciliation."""

import pytest

from notifications.models import Notification
from payments.gateways.base import ChargeState, IntentResult
from payments.models import PaymentEvent, PaymentStatus
from payments.services import outcomes
from tests.factories import PaymentFactory


def intent(state: ChargeState, **fields) -> IntentResult:
    return IntentResult(intent_id="pi_1", state=state, amount=2000, currency="usd", **fields)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (ChargeState.SUCCEEDED, "succeeded"),
        (ChargeState.FAILED, "failed"),
        (ChargeState.CANCELED, "canceled"),
        (ChargeState.REQUIRES_ACTION, "requires_action"),
        (ChargeState.AWAITING_CONFIRMATION, None),
        (ChargeState.IN_PROGRESS, None),
    ],
)
def test_only_a_decided_charge_is_an_outcome(state, status):
    outcome = outcomes.outcome_of(intent(state, failure_code="card_declined"))

    assert (outcome.status if outcome else None) == status
    if outcome is not None:
        # The decline code belongs to failures only.
        assert outcome.failure_code == ("card_declined" if status == "failed" else "")


def test_a_pending_payment_moves_through_processing_and_owes_one_receipt(db):
    payment = PaymentFactory(customer_email="buyer@example.com")
    success = outcomes.ChargeOutcome(intent_id="pi_1", status=PaymentStatus.SUCCEEDED)

    first = outcomes.record_charge_outcome(payment.pk, success, actor="stripe:webhook", reason="e")
    second = outcomes.record_charge_outcome(payment.pk, success, actor="worker", reason="late")

    assert (first.changed, second.changed) == (True, False)
    payment.refresh_from_db()
    assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", "pi_1")
    assert list(PaymentEvent.objects.values_list("from_status", "to_status", "actor")) == [
        ("pending", "processing", "stripe:webhook"),
        ("processing", "succeeded", "stripe:webhook"),
    ]
    assert list(Notification.objects.values_list("kind", flat=True)) == ["receipt"]


def test_a_late_failure_leaves_a_success_alone(db):
    payment = PaymentFactory(status=PaymentStatus.SUCCEEDED, stripe_payment_intent_id="pi_1")
    failure = outcomes.ChargeOutcome(
        intent_id="pi_1", status=PaymentStatus.FAILED, failure_code="card_declined"
    )

    result = outcomes.record_charge_outcome(payment.pk, failure, actor="worker", reason="late")

    assert (result.status, result.changed) == ("succeeded", False)
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("succeeded", "")
    assert not Notification.objects.exists()


def test_a_correction_to_succeeded_clears_the_failure_and_sends_the_receipt(db):
    payment = PaymentFactory(
        status=PaymentStatus.FAILED, failure_code="charge_window_expired", customer_email="b@e.st"
    )

    outcomes.correct_to_succeeded(payment.pk, "pi_9", actor="reconciliation", reason="paid")

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code, payment.stripe_payment_intent_id) == (
        "succeeded",
        "",
        "pi_9",
    )
    assert list(Notification.objects.values_list("kind", flat=True)) == ["receipt"]
