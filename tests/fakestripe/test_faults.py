"""Every fault mode, observed through the stripe library with its own retries off."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import stripe

from tests.fakestripe.conftest import Fake

PAYMENT = {"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}


def counts(fake: Fake) -> dict:
    return fake.control("GET", "health")["counts"]


def test_500_before_anything_happens(fake: Fake, stripe_client):
    fake.set_faults(error_rate=1.0)

    with pytest.raises(stripe.APIError) as raised:
        stripe_client.v1.payment_intents.create(params=PAYMENT)

    assert raised.value.http_status == 500
    assert raised.value.json_body["error"]["type"] == "api_error"
    assert counts(fake)["payment_intents"] == 0
    assert fake.control("GET", "faults")["injected"] == {"500": 1}


def test_429_with_retry_after(fake: Fake, stripe_client):
    fake.set_faults(rate_limit_rate=1.0, retry_after_seconds=3)

    with pytest.raises(stripe.RateLimitError) as raised:
        stripe_client.v1.payment_intents.create(params=PAYMENT)

    assert raised.value.http_status == 429
    assert raised.value.headers["retry-after"] == "3"
    assert raised.value.json_body["error"]["code"] == "rate_limit"
    assert counts(fake)["payment_intents"] == 0


def test_latency_slows_matching_requests_without_blocking_others(fake: Fake, stripe_client):
    fake.set_faults(latency_ms=1000, paths=["/v1/payment_intents"], methods=["POST"])
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        slow = pool.submit(fake.client().v1.payment_intents.create, params=PAYMENT)
        deadline = time.monotonic() + 5
        while counts(fake)["idempotency_keys"] == 0:  # the slow one is executing
            assert time.monotonic() < deadline
            time.sleep(0.01)

        quick_started = time.monotonic()
        stripe_client.v1.events.list()
        quick = time.monotonic() - quick_started
        assert slow.result().status == "succeeded"
        slow_elapsed = time.monotonic() - started

    assert quick < 0.5
    assert slow_elapsed >= 1.0


def test_drop_after_execute_charges_but_never_answers(fake: Fake, stripe_client):
    fake.set_faults(drop_rate=1.0, max_faults=1)

    with pytest.raises(stripe.APIConnectionError):
        stripe_client.v1.payment_intents.create(
            params={**PAYMENT, "metadata": {"payment_id": "pay_drop"}},
            options={"idempotency_key": "pay_drop:create"},
        )

    [charge] = fake.ledger()["charges"]
    assert charge["idempotency_key"] == "pay_drop:create"
    assert charge["metadata"] == {"payment_id": "pay_drop"}
    retried = stripe_client.v1.payment_intents.create(
        params={**PAYMENT, "metadata": {"payment_id": "pay_drop"}},
        options={"idempotency_key": "pay_drop:create"},
    )
    assert retried.id == charge["payment_intent"]
    assert retried.last_response.headers["idempotent-replayed"] == "true"
    assert len(fake.ledger()["charges"]) == 1


def test_faults_can_be_restricted_to_paths(fake: Fake, stripe_client):
    fake.set_faults(error_rate=1.0, paths=["/v1/refunds"])

    intent = stripe_client.v1.payment_intents.create(params=PAYMENT)
    with pytest.raises(stripe.APIError):
        stripe_client.v1.refunds.create(params={"payment_intent": intent.id})

    assert intent.status == "succeeded"
    assert fake.ledger()["refunds"] == []


def test_faults_can_be_restricted_to_methods_and_globs(fake: Fake, stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})
    fake.set_faults(error_rate=1.0, methods=["post"], paths=["/v1/payment_intents/*/cancel"])

    assert stripe_client.v1.payment_intents.retrieve(intent.id).id == intent.id
    with pytest.raises(stripe.APIError):
        stripe_client.v1.payment_intents.cancel(intent.id)


def test_max_faults_then_healthy(fake: Fake, stripe_client):
    fake.set_faults(error_rate=1.0, max_faults=2)

    outcomes = []
    for _ in range(3):
        try:
            stripe_client.v1.payment_intents.create(params=PAYMENT)
            outcomes.append("ok")
        except stripe.APIError:
            outcomes.append("500")

    assert outcomes == ["500", "500", "ok"]


def test_clearing_faults(fake: Fake, stripe_client):
    fake.set_faults(error_rate=1.0)
    cleared = fake.control("DELETE", "faults")

    assert cleared["config"]["error_rate"] == 0.0
    assert stripe_client.v1.payment_intents.create(params=PAYMENT).status == "succeeded"


def test_a_seeded_fault_mix_is_reproducible(fake: Fake, stripe_client):
    def run() -> list[str]:
        fake.set_faults(error_rate=0.3, rate_limit_rate=0.2, seed=7)
        outcomes = []
        for _ in range(20):
            try:
                stripe_client.v1.payment_intents.list()
                outcomes.append("ok")
            except stripe.RateLimitError:
                outcomes.append("429")
            except stripe.APIError:
                outcomes.append("500")
        return outcomes

    first = run()

    assert run() == first
    assert {"ok", "429", "500"} == set(first)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"error_rate": 1.5}, "error_rate must be between 0 and 1"),
        ({"error_rate": 0.6, "drop_rate": 0.6}, "fault probabilities must add up to at most 1"),
        ({"explode": True}, "Unknown fault setting: explode"),
    ],
)
def test_invalid_fault_configs_are_refused(fake: Fake, config, message):
    response = requests.post(f"{fake.url}/_fake/faults", json=config, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
