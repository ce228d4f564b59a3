"""Stripe's idempotency contract: replay, mismatch, in flight, what is not stored, scope, expiry."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import stripe

from tests.fakestripe.conftest import API_KEY, Fake

VISA_PAYMENT = {
    "amount": "2000",
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": "true",
    "metadata[payment_id]": "pay_42",
}


def test_a_repeat_replays_the_first_response_byte_for_byte(fake: Fake):
    first = fake.post("/v1/payment_intents", VISA_PAYMENT, **{"Idempotency-Key": "pay_42:create"})
    repeat = fake.post("/v1/payment_intents", VISA_PAYMENT, **{"Idempotency-Key": "pay_42:create"})

    assert (first.status_code, repeat.status_code) == (200, 200)
    assert repeat.content == first.content
    assert "Idempotent-Replayed" not in first.headers
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.headers["Original-Request"] == first.headers["Request-Id"]
    assert len(fake.ledger()["charges"]) == 1


def test_parameter_order_does_not_matter(fake: Fake):
    reordered = dict(reversed(list(VISA_PAYMENT.items())))
    first = fake.post("/v1/payment_intents", VISA_PAYMENT, **{"Idempotency-Key": "k"})
    repeat = fake.post("/v1/payment_intents", reordered, **{"Idempotency-Key": "k"})

    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.json()["id"] == first.json()["id"]


def test_same_key_with_other_parameters_is_an_idempotency_error(stripe_client):
    stripe_client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd"}, options={"idempotency_key": "k1"}
    )

    with pytest.raises(stripe.IdempotencyError) as raised:
        stripe_client.v1.payment_intents.create(
            params={"amount": 2001, "currency": "usd"}, options={"idempotency_key": "k1"}
        )

    assert raised.value.http_status == 400
    assert raised.value.json_body == {
        "error": {
            "message": "Keys for idempotent requests can only be used with the same parameters "
            "they were first used with. Try using a key other than 'k1' if you meant to execute "
            "a different request.",
            "type": "idempotency_error",
        }
    }
    assert len(stripe_client.v1.payment_intents.list().data) == 1


def test_same_key_on_another_endpoint_is_an_idempotency_error(stripe_client):
    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa"},
        options={"idempotency_key": "k2"},
    )

    with pytest.raises(stripe.IdempotencyError) as raised:
        stripe_client.v1.payment_intents.confirm(intent.id, options={"idempotency_key": "k2"})

    assert raised.value.json_body["error"]["type"] == "idempotency_error"
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "requires_confirmation"


def test_a_key_longer_than_255_characters_is_refused(fake: Fake):
    too_long = fake.post("/v1/payment_intents", VISA_PAYMENT, **{"Idempotency-Key": "k" * 256})
    longest = fake.post("/v1/payment_intents", VISA_PAYMENT, **{"Idempotency-Key": "k" * 255})

    assert too_long.status_code == 400
    assert too_long.json()["error"]["type"] == "invalid_request_error"
    assert too_long.json()["error"]["message"] == (
        "Idempotency-Key must be at most 255 characters long; it was 256."
    )
    assert longest.status_code == 200
    assert len(fake.ledger()["charges"]) == 1


def test_a_validation_failure_is_not_stored(stripe_client):
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_intents.create(
            params={"amount": 2000, "currency": "xyz"}, options={"idempotency_key": "k3"}
        )

    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd"}, options={"idempotency_key": "k3"}
    )

    assert "idempotent-replayed" not in intent.last_response.headers
    assert intent.status == "requires_payment_method"


def test_a_500_is_not_stored_so_the_retry_executes(fake: Fake, stripe_client):
    fake.set_faults(error_rate=1.0, max_faults=1)
    params = {"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}

    with pytest.raises(stripe.APIError) as raised:
        stripe_client.v1.payment_intents.create(params=params, options={"idempotency_key": "k4"})
    assert raised.value.http_status == 500

    intent = stripe_client.v1.payment_intents.create(
        params=params, options={"idempotency_key": "k4"}
    )
    assert intent.status == "succeeded"
    assert "idempotent-replayed" not in intent.last_response.headers
    assert [c["idempotency_key"] for c in fake.ledger()["charges"]] == ["k4"]


def test_a_decline_is_stored_and_replayed(fake: Fake):
    declined = {**VISA_PAYMENT, "payment_method": "pm_card_chargeDeclined"}
    first = fake.post("/v1/payment_intents", declined, **{"Idempotency-Key": "k5"})
    repeat = fake.post("/v1/payment_intents", declined, **{"Idempotency-Key": "k5"})

    assert (first.status_code, repeat.status_code) == (402, 402)
    assert repeat.content == first.content
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert fake.control("GET", "health")["counts"]["payment_intents"] == 1


def test_keys_are_scoped_per_api_key(fake: Fake):
    params = {"amount": 2000, "currency": "usd"}
    mine = fake.client("sk_test_merchant_a").v1.payment_intents.create(
        params=params, options={"idempotency_key": "shared"}
    )
    theirs = fake.client("sk_test_merchant_b").v1.payment_intents.create(
        params=params, options={"idempotency_key": "shared"}
    )

    assert mine.id != theirs.id


def test_keys_expire_after_the_configured_lifetime(fake: Fake, stripe_client):
    fake.control("POST", "settings", {"idempotency_ttl_seconds": 0.3})
    first = stripe_client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd"}, options={"idempotency_key": "k6"}
    )
    time.sleep(0.4)

    second = stripe_client.v1.payment_intents.create(
        params={"amount": 3000, "currency": "usd"}, options={"idempotency_key": "k6"}
    )

    assert second.id != first.id
    assert second.amount == 3000


def post_concurrently(fake: Fake, count: int, key: str) -> list[requests.Response]:
    start = threading.Barrier(count)

    def send(_: int) -> requests.Response:
        start.wait()
        return fake.post("/v1/payment_intents", VISA_PAYMENT, **{"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(send, range(count)))


def test_twenty_concurrent_requests_with_one_key_make_one_payment_intent(fake: Fake):
    responses = post_concurrently(fake, 20, "pay_42:create")

    assert [r.status_code for r in responses] == [200] * 20
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert fake.control("GET", "health")["counts"]["payment_intents"] == 1
    assert len(fake.ledger()["charges"]) == 1


def test_twenty_concurrent_requests_while_the_first_executes_get_409(fake: Fake):
    fake.set_faults(latency_ms=500)

    responses = post_concurrently(fake, 20, "pay_42:create")

    assert sorted(r.status_code for r in responses) == [200] + [409] * 19
    conflict = next(r for r in responses if r.status_code == 409).json()["error"]
    assert conflict["code"] == "idempotency_key_in_use"
    assert conflict["type"] == "invalid_request_error"
    assert fake.control("GET", "health")["counts"]["payment_intents"] == 1
    assert len(fake.ledger()["charges"]) == 1


def test_409_while_in_flight_then_replay_once_finished(fake: Fake, stripe_client):
    fake.set_faults(latency_ms=800, paths=["/v1/payment_intents"])
    params = {"amount": 2000, "currency": "usd"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(
            fake.client().v1.payment_intents.create,
            params=params,
            options={"idempotency_key": "k7"},
        )
        deadline = time.monotonic() + 5
        while fake.control("GET", "health")["counts"]["idempotency_keys"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)

        with pytest.raises(stripe.APIError) as raised:
            stripe_client.v1.payment_intents.create(
                params=params, options={"idempotency_key": "k7"}
            )
        created = first.result()

    assert raised.value.http_status == 409
    assert raised.value.json_body["error"]["code"] == "idempotency_key_in_use"
    replayed = stripe_client.v1.payment_intents.create(
        params=params, options={"idempotency_key": "k7"}
    )
    assert replayed.id == created.id
    assert replayed.last_response.headers["idempotent-replayed"] == "true"


def test_get_requests_ignore_idempotency_keys(fake: Fake):
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "k8"}

    first = requests.get(f"{fake.url}/v1/payment_intents", headers=headers, timeout=5)
    second = requests.get(f"{fake.url}/v1/payment_intents", headers=headers, timeout=5)

    assert (first.status_code, second.status_code) == (200, 200)
    assert "Idempotent-Replayed" not in second.headers
