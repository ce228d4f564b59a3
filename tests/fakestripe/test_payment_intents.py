"""PaymentIntents through the stripe library: test cards, confirm, capture, cancel."""

import pytest
import stripe

from tests.fakestripe.conftest import Fake


def create(client: stripe.StripeClient, **params):
    return client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", **params})


def test_create_without_payment_method_has_stripes_shape(stripe_client):
    intent = create(
        stripe_client, metadata={"payment_id": "pay_1"}, description="Order 1", customer="cus_1"
    )

    assert intent.id.startswith("pi_")
    assert intent.object == "payment_intent"
    assert intent.amount == 2000
    assert intent.amount_received == 0
    assert intent.currency == "usd"
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.metadata.to_dict() == {"payment_id": "pay_1"}
    assert intent.description == "Order 1"
    assert intent.customer == "cus_1"
    assert intent.capture_method == "automatic_async"
    assert intent.latest_charge is None
    assert intent.last_payment_error is None
    assert intent.next_action is None
    assert intent.livemode is False
    assert stripe_client.v1.payment_intents.retrieve(intent.id).to_dict() == intent.to_dict()


@pytest.mark.parametrize(
    ("payment_method", "brand", "last4"),
    [
        ("pm_card_visa", "visa", "4242"),
        ("pm_card_mastercard", "mastercard", "4444"),
        ("pm_card_amex", "amex", "8431"),
        ("pm_card_visa_debit", "visa", "5556"),
    ],
)
def test_success_cards_charge_once(fake: Fake, stripe_client, payment_method, brand, last4):
    intent = create(stripe_client, payment_method=payment_method, confirm=True)

    assert intent.status == "succeeded"
    assert intent.amount_received == 2000
    assert intent.latest_charge.startswith("ch_")
    charge = stripe_client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.status, charge.captured, charge.paid, charge.amount_captured) == (
        "succeeded",
        True,
        True,
        2000,
    )
    assert charge.payment_method_details.card.brand == brand
    assert charge.payment_method_details.card.last4 == last4
    assert [(c["payment_intent"], c["amount"]) for c in fake.ledger()["charges"]] == [
        (intent.id, 2000)
    ]


def test_create_then_confirm_in_two_steps(stripe_client):
    intent = create(stripe_client, payment_method="pm_card_visa")
    assert intent.status == "requires_confirmation"

    confirmed = stripe_client.v1.payment_intents.confirm(intent.id)

    assert confirmed.status == "succeeded"
    assert confirmed.payment_method == "pm_card_visa"


@pytest.mark.parametrize(
    ("payment_method", "code", "decline_code", "message", "param"),
    [
        (
            "pm_card_chargeDeclined",
            "card_declined",
            "generic_decline",
            "Your card was declined.",
            None,
        ),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "card_declined",
            "insufficient_funds",
            "Your card has insufficient funds.",
            None,
        ),
        (
            "pm_card_chargeDeclinedExpiredCard",
            "expired_card",
            "expired_card",
            "Your card has expired.",
            "exp_month",
        ),
    ],
)
def test_declined_cards_answer_402_and_ask_for_a_new_payment_method(
    fake: Fake, stripe_client, payment_method, code, decline_code, message, param
):
    intent = create(stripe_client, payment_method=payment_method)

    with pytest.raises(stripe.CardError) as raised:
        stripe_client.v1.payment_intents.confirm(intent.id)

    error = raised.value
    assert error.http_status == 402
    assert error.code == code
    assert error.param == param
    body = error.json_body["error"]
    assert body["type"] == "card_error"
    assert body["decline_code"] == decline_code
    assert body["message"] == message
    assert body["payment_intent"]["id"] == intent.id
    assert body["payment_intent"]["status"] == "requires_payment_method"
    after = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.payment_method is None
    assert after.last_payment_error.code == code
    assert after.last_payment_error.decline_code == decline_code
    assert after.last_payment_error.type == "card_error"
    assert after.last_payment_error.payment_method.id == payment_method
    assert stripe_client.v1.charges.retrieve(after.latest_charge).status == "failed"
    assert fake.ledger()["charges"] == []


def test_a_declined_intent_can_be_retried_with_another_card(stripe_client):
    intent = create(stripe_client, payment_method="pm_card_chargeDeclined")
    with pytest.raises(stripe.CardError):
        stripe_client.v1.payment_intents.confirm(intent.id)

    retried = stripe_client.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_visa"}
    )

    assert retried.status == "succeeded"
    assert retried.last_payment_error is None


def test_authentication_required_card_needs_3ds(fake: Fake, stripe_client):
    intent = create(stripe_client, payment_method="pm_card_authenticationRequired", confirm=True)

    assert intent.status == "requires_action"
    assert intent.next_action.type == "use_stripe_sdk"
    assert intent.latest_charge is None
    assert fake.ledger()["charges"] == []


def test_authentication_required_off_session_is_declined(stripe_client):
    with pytest.raises(stripe.CardError) as raised:
        create(
            stripe_client,
            payment_method="pm_card_authenticationRequired",
            confirm=True,
            off_session=True,
        )

    assert raised.value.code == "authentication_required"
    assert raised.value.json_body["error"]["payment_intent"]["status"] == (
        "requires_payment_method"
    )


def test_unknown_payment_method_is_resource_missing(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create(stripe_client, payment_method="pm_card_nope", confirm=True)

    assert raised.value.http_status == 400
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "payment_method"
    assert raised.value.user_message == "No such PaymentMethod: 'pm_card_nope'"
    assert stripe_client.v1.payment_intents.list().data == []


def test_confirming_a_succeeded_intent_is_an_unexpected_state(stripe_client):
    intent = create(stripe_client, payment_method="pm_card_visa", confirm=True)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.confirm(intent.id)

    assert raised.value.http_status == 400
    assert raised.value.code == "payment_intent_unexpected_state"
    assert raised.value.user_message == (
        "You cannot confirm this PaymentIntent because it has already succeeded after being "
        "previously confirmed."
    )


def test_manual_capture_charges_only_what_is_captured(fake: Fake, stripe_client):
    intent = create(
        stripe_client, payment_method="pm_card_visa", confirm=True, capture_method="manual"
    )
    assert (intent.status, intent.amount_capturable, intent.amount_received) == (
        "requires_capture",
        2000,
        0,
    )
    assert fake.ledger()["charges"] == []

    captured = stripe_client.v1.payment_intents.capture(
        intent.id, params={"amount_to_capture": 1500}
    )

    assert (captured.status, captured.amount_capturable, captured.amount_received) == (
        "succeeded",
        0,
        1500,
    )
    assert [c["amount"] for c in fake.ledger()["charges"]] == [1500]


def test_capture_needs_requires_capture(stripe_client):
    intent = create(stripe_client, payment_method="pm_card_visa", confirm=True)

    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.capture(intent.id)

    assert raised.value.code == "payment_intent_unexpected_state"


def test_cancel(stripe_client):
    intent = create(stripe_client, payment_method="pm_card_visa")

    canceled = stripe_client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "requested_by_customer"}
    )

    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"
    assert canceled.canceled_at is not None
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.cancel(intent.id)
    assert raised.value.code == "payment_intent_unexpected_state"
    assert raised.value.user_message.startswith(
        "You cannot cancel this PaymentIntent because it has a status of canceled."
    )


@pytest.mark.parametrize("status", ["succeeded", "processing"])
def test_a_succeeded_or_processing_card_payment_cannot_be_canceled(
    fake: Fake, stripe_client, status
):
    intent = create(stripe_client, payment_method="pm_card_visa")
    fake.control("POST", f"payment_intents/{intent.id}", {"status": status})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.cancel(intent.id)

    assert (raised.value.http_status, raised.value.code) == (400, "payment_intent_unexpected_state")
    assert raised.value.user_message == (
        f"You cannot cancel this PaymentIntent because it has a status of {status}. Only a "
        "PaymentIntent with one of the following statuses may be canceled: "
        "requires_payment_method, requires_capture, requires_confirmation, requires_action."
    )
    assert raised.value.json_body["error"]["payment_intent"]["status"] == status
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == status


def test_retrieving_an_unknown_intent_is_404(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.retrieve("pi_missing")

    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "intent"
    assert raised.value.user_message == "No such payment_intent: 'pi_missing'"


def test_expand_latest_charge(stripe_client):
    intent = create(stripe_client, payment_method="pm_card_visa", confirm=True)

    expanded = stripe_client.v1.payment_intents.retrieve(
        intent.id, params={"expand": ["latest_charge"]}
    )

    assert expanded.latest_charge.id == intent.latest_charge
    assert expanded.latest_charge.object == "charge"
