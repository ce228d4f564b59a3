"""Bad input answered the way Stripe answers it: status, type, code, param, message."""

import pytest
import stripe

from tests.fakestripe.conftest import Fake


def error_of(client: stripe.StripeClient, **params) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(params=params)
    return raised.value


def test_unknown_parameter(stripe_client):
    error = error_of(stripe_client, amount=2000, currency="usd", colour="blue")

    assert error.http_status == 400
    assert error.json_body == {
        "error": {
            "code": "parameter_unknown",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
            "message": "Received unknown parameter: colour",
            "param": "colour",
            "type": "invalid_request_error",
        }
    }


def test_unknown_nested_parameter(stripe_client):
    error = error_of(
        stripe_client, amount=2000, currency="usd", automatic_payment_methods={"colour": "x"}
    )

    assert error.param == "automatic_payment_methods[colour]"
    assert error.code == "parameter_unknown"


def test_bad_currency(stripe_client):
    error = error_of(stripe_client, amount=2000, currency="xyz")

    assert error.http_status == 400
    assert error.param == "currency"
    assert error.code is None
    assert error.user_message.startswith(
        "Invalid currency: xyz. Stripe currently supports these currencies: aed, afn, all,"
    )


@pytest.mark.parametrize("amount", [-100, 0])
def test_amount_below_one(stripe_client, amount):
    error = error_of(stripe_client, amount=amount, currency="usd")

    assert error.http_status == 400
    assert error.param == "amount"
    assert error.code == "parameter_invalid_integer"
    assert error.user_message == "This value must be greater than or equal to 1."


def test_amount_not_an_integer(fake: Fake):
    response = fake.post("/v1/payment_intents", {"amount": "12.50", "currency": "usd"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "parameter_invalid_integer",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-invalid-integer",
        "message": "Invalid integer: 12.50",
        "param": "amount",
        "type": "invalid_request_error",
    }


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        (49, "usd", "Amount must be at least $0.50 usd"),
        (29, "gbp", "Amount must be at least £0.30 gbp"),
        (49, "jpy", "Amount must be at least ¥50 jpy"),
    ],
)
def test_amount_below_the_minimum_charge(stripe_client, amount, currency, message):
    error = error_of(stripe_client, amount=amount, currency=currency)

    assert (error.code, error.param, error.user_message) == ("amount_too_small", "amount", message)


def test_amount_above_the_maximum(stripe_client):
    error = error_of(stripe_client, amount=100_000_000, currency="usd")

    assert (error.code, error.param, error.user_message) == (
        "amount_too_large",
        "amount",
        "Amount must be no more than $999,999.99",
    )


def test_missing_amount(stripe_client):
    error = error_of(stripe_client, currency="usd")

    assert (error.code, error.param, error.user_message) == (
        "parameter_missing",
        "amount",
        "Missing required param: amount.",
    )


def test_zero_decimal_currency_takes_whole_units_and_answers_lower_case(stripe_client):
    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 500, "currency": "JPY", "payment_method": "pm_card_visa", "confirm": True}
    )

    assert (intent.amount, intent.currency, intent.status) == (500, "jpy", "succeeded")


def test_metadata_key_longer_than_40_characters(stripe_client):
    error = error_of(stripe_client, amount=2000, currency="usd", metadata={"k" * 41: "v"})

    assert error.param == f"metadata[{'k' * 41}]"


def test_missing_api_key_is_401(fake: Fake):
    import requests

    response = requests.post(f"{fake.url}/v1/payment_intents", data={"amount": 2000}, timeout=5)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith("You did not provide an API key.")


def test_unknown_url_is_404(fake: Fake):
    response = fake.post("/v1/payment_intents/pi_1/teleport")

    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith(
        "Unrecognized request URL (POST: /v1/payment_intents/pi_1/teleport)."
    )
