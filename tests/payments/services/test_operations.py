"""Operator operations: "mark failed" cancels at the gateway first and never hides a charge."""

import pytest
import requests

from payments import services
from payments.exceptions import InvalidTransition
from payments.gateways.base import CreateIntent
from payments.models import Payment
from tests.factories import PaymentFactory


def create_intent(gateway, payment) -> str:
    intent_id = gateway.create_intent(
        CreateIntent(
            amount=payment.amount,
            currency=payment.currency,
            payment_method=payment.payment_method,
            idempotency_key=f"{payment.id}:create",
            metadata={"payment_id": str(payment.id)},
        )
    ).intent_id
    Payment.objects.filter(pk=payment.pk).update(
        stripe_payment_intent_id=intent_id, status="processing"
    )
    return intent_id


def intent_status(fake_stripe_url, gateway, intent_id) -> str:
    return gateway._client.v1.payment_intents.retrieve(intent_id).status


def test_mark_failed_cancels_the_intent_at_the_gateway_first(db, gateway, fake_stripe_url):
    payment = PaymentFactory()
    intent_id = create_intent(gateway, payment)

    services.mark_failed(payment.pk, gateway, actor="staff:ops", reason="customer gave up")

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "marked_failed")
    assert intent_status(fake_stripe_url, gateway, intent_id) == "canceled"


def test_mark_failed_is_refused_when_the_gateway_charged_and_records_the_success(
    db, gateway, fake_stripe_url
):
    payment = PaymentFactory(customer_email="buyer@example.com")
    intent_id = create_intent(gateway, payment)
    gateway.confirm_intent(intent_id, idempotency_key="worker-a", payment_id=str(payment.pk))

    with pytest.raises(InvalidTransition, match="charged this payment"):
        services.mark_failed(payment.pk, gateway, actor="staff:ops", reason="looked stuck")

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    charges = requests.get(f"{fake_stripe_url}/_fake/ledger", timeout=5).json()["charges"]
    assert len([c for c in charges if c["payment_intent"] == intent_id]) == 1


def test_mark_failed_without_any_intent_just_fails_it(db, gateway):
    payment = PaymentFactory(status="processing")

    services.mark_failed(payment.pk, gateway, actor="staff:ops", reason="never reached Stripe")

    payment.refresh_from_db()
    assert payment.status == "failed"


def test_marking_failed_while_the_one_call_charges_records_the_charge_instead(
    db, gateway, fake_stripe_url
):
    payment = PaymentFactory()
    refused = []

    class MarkedFailedDuringCharge:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def create_intent(self, request):
            created = self._inner.create_intent(request)
            # An operator gives up on the payment while the worker waits for Stripe: the
            # charge already happened, so "failed" is refused and the success recorded.
            try:
                services.mark_failed(payment.pk, self._inner, actor="staff:ops", reason="gave up")
            except InvalidTransition as error:
                refused.append(str(error))
            return created

    assert (
        services.charge_payment(str(payment.pk), MarkedFailedDuringCharge(gateway)) == "succeeded"
    )

    assert refused == ["the gateway charged this payment; it is recorded as succeeded"]
    charges = requests.get(f"{fake_stripe_url}/_fake/ledger", timeout=5).json()["charges"]
    assert len([c for c in charges if c["metadata"].get("payment_id") == str(payment.pk)]) == 1


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        ("", "bob@shop.test", "customer_email corrected by hand: (none) → b***@shop.test"),
        ("bob@old.test", "", "customer_email corrected by hand: b***@old.test → (none)"),
    ],
)
def test_correcting_the_receipt_address_records_who_and_what_without_the_address(
    db, before, after, reason
):
    payment = PaymentFactory(status="processing", customer_email=before)

    changed = services.correct_customer_email(payment.pk, email=after, actor="staff:ops")
    again = services.correct_customer_email(payment.pk, email=after, actor="staff:ops")

    payment.refresh_from_db()
    assert (changed, again) == (True, False)
    assert payment.customer_email == after
    event = payment.events.get()
    assert (event.actor, event.reason, event.to_status) == ("staff:ops", reason, "processing")
