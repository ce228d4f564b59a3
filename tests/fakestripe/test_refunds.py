"""Refunds: partial, full, over-refund refused with Stripe's errors, listing, the ledger."""

import pytest
import stripe

from tests.fakestripe.conftest import Fake


@pytest.fixture
def paid(stripe_client):
    return stripe_client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"payment_id": "pay_7"},
        }
    )


def test_partial_then_full_refund(fake: Fake, stripe_client, paid):
    first = stripe_client.v1.refunds.create(
        params={"payment_intent": paid.id, "amount": 300, "reason": "requested_by_customer"},
        options={"idempotency_key": "pay_7:refund:1"},
    )
    rest = stripe_client.v1.refunds.create(params={"payment_intent": paid.id})

    assert first.id.startswith("re_")
    assert (first.object, first.amount, first.status, first.reason) == (
        "refund",
        300,
        "succeeded",
        "requested_by_customer",
    )
    assert (first.payment_intent, first.charge, first.currency) == (
        paid.id,
        paid.latest_charge,
        "usd",
    )
    assert rest.amount == 700
    charge = stripe_client.v1.charges.retrieve(paid.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    ledger = fake.ledger()
    assert [(r["amount"], r["idempotency_key"]) for r in ledger["refunds"]] == [
        (300, "pay_7:refund:1"),
        (700, rest.last_response.idempotency_key),
    ]
    assert [r["payment_intent_metadata"] for r in ledger["refunds"]] == [
        {"payment_id": "pay_7"},
        {"payment_id": "pay_7"},
    ]
    assert ledger["counts"]["refunded_amount"] == {"usd": 1000}


def test_refund_larger_than_what_is_left(stripe_client, paid):
    stripe_client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 400})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 700})

    assert raised.value.http_status == 400
    assert raised.value.json_body == {
        "error": {
            "message": "Refund amount ($7.00) is greater than unrefunded amount on charge ($6.00)",
            "param": "amount",
            "type": "invalid_request_error",
        }
    }


def test_refunding_a_fully_refunded_charge(stripe_client, paid):
    stripe_client.v1.refunds.create(params={"payment_intent": paid.id})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 1})

    assert raised.value.code == "charge_already_refunded"
    assert raised.value.user_message == f"Charge {paid.latest_charge} has already been refunded."


def test_refunding_an_unpaid_intent(stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.refunds.create(params={"payment_intent": intent.id})

    assert raised.value.param == "payment_intent"
    assert raised.value.user_message == (
        f"This PaymentIntent ({intent.id}) does not have a successful charge to refund."
    )


def test_refunding_an_unknown_intent(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.refunds.create(params={"payment_intent": "pi_nope"})

    assert (raised.value.http_status, raised.value.code, raised.value.param) == (
        400,
        "resource_missing",
        "payment_intent",
    )


def test_list_by_payment_intent_and_retrieve(stripe_client, paid):
    other = stripe_client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    first = stripe_client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 100})
    second = stripe_client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 200})
    stripe_client.v1.refunds.create(params={"payment_intent": other.id})

    listed = stripe_client.v1.refunds.list(params={"payment_intent": paid.id})

    assert [r.id for r in listed.data] == [second.id, first.id]
    assert listed.has_more is False
    assert stripe_client.v1.refunds.retrieve(first.id).amount == 100
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.refunds.retrieve("re_nope")
    assert raised.value.http_status == 404
