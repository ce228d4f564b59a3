"""Stripe's saved 500s: the request executed, its 500 is stored against the key and replayed.

https://docs.stripe.com/api/idempotent_requests: results are saved once an endpoint started
executing, and "subsequent requests with the same key return the same result, including 500
errors". The money moved all the same; only looking (retrieve, list, search) tells.
"""

import json
import time

import pytest
import requests
import stripe

from tests.fakestripe.conftest import WEBHOOK_SECRET, Fake, running_fakestripe

CONFIRM_PATHS = ["/v1/payment_intents/*/confirm"]


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def unconfirmed_intent(client: stripe.StripeClient, payment_id: str, **params):
    return client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "metadata": {"payment_id": payment_id},
            **params,
        },
        options={"idempotency_key": f"{payment_id}:create"},
    )


def confirm_expecting_500(client: stripe.StripeClient, intent_id: str, key: str) -> stripe.APIError:
    with pytest.raises(stripe.APIError) as raised:
        client.v1.payment_intents.confirm(intent_id, options={"idempotency_key": key})
    assert raised.value.http_status == 500
    return raised.value


def test_a_saved_500_on_confirm_charged_once_and_every_retry_gets_the_same_500(
    fake: Fake, stripe_client
):
    intent = unconfirmed_intent(stripe_client, "pay_saved")
    fake.set_faults(saved_error_rate=1.0, max_faults=1, paths=CONFIRM_PATHS)

    first = confirm_expecting_500(stripe_client, intent.id, "pay_saved:confirm")
    retries = [
        confirm_expecting_500(stripe_client, intent.id, "pay_saved:confirm") for _ in range(2)
    ]

    assert first.json_body["error"]["type"] == "api_error"
    # stripe-python reads this header: retrying a saved 500 with the same key is a no-op.
    assert first.headers["stripe-should-retry"] == "false"
    assert "idempotent-replayed" not in first.headers
    for retry in retries:
        assert retry.http_body == first.http_body
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.headers["original-request"] == first.request_id
        assert retry.headers["stripe-should-retry"] == "false"
        assert retry.request_id != first.request_id
    assert fake.control("GET", "faults")["injected"] == {"saved_500": 1}
    # Looking tells the truth: the card was charged, exactly once, by the first confirm.
    [charge] = fake.ledger(payment_id="pay_saved")["charges"]
    assert (charge["idempotency_key"], charge["request_id"]) == (
        "pay_saved:confirm",
        first.request_id,
    )
    retrieved = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert (retrieved.status, retrieved.amount_received) == ("succeeded", 2000)
    assert retrieved.latest_charge == charge["charge"]
    found = stripe_client.v1.payment_intents.search(
        params={"query": "metadata['payment_id']:'pay_saved'"}
    )
    assert [(i.id, i.status) for i in found.data] == [(intent.id, "succeeded")]
    listed = stripe_client.v1.payment_intents.list(params={"limit": 1})
    assert [(i.id, i.status) for i in listed.data] == [(intent.id, "succeeded")]


def test_a_new_key_executes_against_the_truth(fake: Fake, stripe_client):
    intent = unconfirmed_intent(stripe_client, "pay_newkey")
    fake.set_faults(saved_error_rate=1.0, max_faults=1, paths=CONFIRM_PATHS)
    confirm_expecting_500(stripe_client, intent.id, "pay_newkey:confirm")

    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.confirm(
            intent.id, options={"idempotency_key": "pay_newkey:confirm:2"}
        )
    refund = stripe_client.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 500},
        options={"idempotency_key": "pay_newkey:refund"},
    )

    assert raised.value.code == "payment_intent_unexpected_state"
    assert raised.value.user_message == (
        "You cannot confirm this PaymentIntent because it has already succeeded after being "
        "previously confirmed."
    )
    assert (refund.status, refund.amount) == ("succeeded", 500)
    ledger = fake.ledger(payment_id="pay_newkey")
    assert len(ledger["charges"]) == 1
    assert [r["idempotency_key"] for r in ledger["refunds"]] == ["pay_newkey:refund"]


def test_a_saved_500_on_create_and_confirm_made_one_intent(fake: Fake, stripe_client):
    fake.set_faults(saved_error_rate=1.0, max_faults=1, methods=["POST"])
    params = {
        "amount": 1200,
        "currency": "eur",
        "payment_method": "pm_card_visa",
        "confirm": True,
        "metadata": {"payment_id": "pay_oneshot"},
    }

    for _ in range(3):
        with pytest.raises(stripe.APIError):
            stripe_client.v1.payment_intents.create(
                params=params, options={"idempotency_key": "pay_oneshot:create"}
            )

    found = stripe_client.v1.payment_intents.search(
        params={"query": "metadata['payment_id']:'pay_oneshot'"}
    )
    assert [i.status for i in found.data] == ["succeeded"]
    assert len(fake.ledger(payment_id="pay_oneshot")["charges"]) == 1


def test_a_saved_500_on_a_refund_refunded_once(fake: Fake, stripe_client):
    intent = unconfirmed_intent(stripe_client, "pay_refund", confirm=True)
    fake.set_faults(saved_error_rate=1.0, max_faults=1, paths=["/v1/refunds"])

    for _ in range(2):
        with pytest.raises(stripe.APIError) as raised:
            stripe_client.v1.refunds.create(
                params={"payment_intent": intent.id, "amount": 700},
                options={"idempotency_key": "pay_refund:refund:1"},
            )
        assert raised.value.http_status == 500

    listed = stripe_client.v1.refunds.list(params={"payment_intent": intent.id})
    assert [(r.amount, r.status) for r in listed.data] == [(700, "succeeded")]
    assert [r["amount"] for r in fake.ledger(payment_id="pay_refund")["refunds"]] == [700]
    assert stripe_client.v1.charges.retrieve(intent.latest_charge).amount_refunded == 700


def test_a_request_that_fails_validation_never_executed_so_nothing_is_saved(
    fake: Fake, stripe_client
):
    fake.set_faults(saved_error_rate=1.0, max_faults=1, paths=["/v1/payment_intents"])

    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_intents.create(
            params={"amount": 2000, "currency": "xyz"}, options={"idempotency_key": "k-invalid"}
        )
    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd"}, options={"idempotency_key": "k-invalid"}
    )

    assert intent.status == "requires_payment_method"
    assert "idempotent-replayed" not in intent.last_response.headers


def test_the_saved_500_lasts_as_long_as_the_key(fake: Fake, stripe_client):
    intent = unconfirmed_intent(stripe_client, "pay_ttl")
    fake.control("POST", "settings", {"idempotency_ttl_seconds": 1})
    fake.set_faults(saved_error_rate=1.0, max_faults=1, paths=CONFIRM_PATHS)
    confirm_expecting_500(stripe_client, intent.id, "pay_ttl:confirm")
    assert confirm_expecting_500(stripe_client, intent.id, "pay_ttl:confirm").headers[
        "idempotent-replayed"
    ]

    time.sleep(1.2)
    # The key is forgotten: the same confirm now executes, and finds the intent succeeded.
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe_client.v1.payment_intents.confirm(
            intent.id, options={"idempotency_key": "pay_ttl:confirm"}
        )

    assert raised.value.code == "payment_intent_unexpected_state"
    assert len(fake.ledger(payment_id="pay_ttl")["charges"]) == 1


@pytest.mark.parametrize(
    ("payment_method", "final_status", "final_events"),
    [
        ("pm_card_visa", "succeeded", ["charge.succeeded", "payment_intent.succeeded"]),
        (
            "pm_card_chargeDeclined",
            "requires_payment_method",
            ["charge.failed", "payment_intent.payment_failed"],
        ),
    ],
)
def test_a_partly_executed_confirm_stays_processing_then_settles_with_its_webhooks(
    fake: Fake, stripe_client, webhook_receiver, payment_method, final_status, final_events
):
    fake.control("POST", "webhook_endpoints", {"url": webhook_receiver.url})
    intent = unconfirmed_intent(stripe_client, "pay_partial", payment_method=payment_method)
    fake.set_faults(
        saved_error_partial_rate=1.0, settle_after_ms=500, max_faults=1, paths=CONFIRM_PATHS
    )

    first = confirm_expecting_500(stripe_client, intent.id, "pay_partial:confirm")

    assert first.headers["stripe-should-retry"] == "false"
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "processing"
    assert fake.ledger(payment_id="pay_partial")["charges"] == []
    assert fake.control("GET", "health")["counts"]["unsettled"] == 1
    with pytest.raises(stripe.InvalidRequestError) as cancel:
        stripe_client.v1.payment_intents.cancel(intent.id)
    assert cancel.value.code == "payment_intent_unexpected_state"

    wait_until(lambda: stripe_client.v1.payment_intents.retrieve(intent.id).status != "processing")

    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == final_status
    charged = 1 if final_status == "succeeded" else 0
    assert len(fake.ledger(payment_id="pay_partial")["charges"]) == charged
    retry = confirm_expecting_500(stripe_client, intent.id, "pay_partial:confirm")
    assert retry.http_body == first.http_body
    expected = ["payment_intent.created", "payment_intent.processing", *final_events]
    emitted = stripe_client.v1.events.list(params={"limit": 10}).data
    assert [e.type for e in reversed(emitted)] == expected
    assert {e.request.idempotency_key for e in emitted[:-1]} == {"pay_partial:confirm"}
    # Each one delivered, signed (deliveries run on parallel threads, in any order).
    delivered = webhook_receiver.wait_for(len(expected))
    for headers, body in delivered:
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
    assert sorted(json.loads(body)["type"] for _, body in delivered) == sorted(expected)
    assert fake.control("GET", "health")["counts"]["unsettled"] == 0


def test_a_partly_executed_refund_stays_pending_then_succeeds(fake: Fake, stripe_client):
    intent = unconfirmed_intent(stripe_client, "pay_pending", confirm=True)
    fake.set_faults(
        saved_error_partial_rate=1.0, settle_after_ms=300, max_faults=1, paths=["/v1/refunds"]
    )

    with pytest.raises(stripe.APIError):
        stripe_client.v1.refunds.create(
            params={"payment_intent": intent.id}, options={"idempotency_key": "pay_pending:re"}
        )
    [pending] = stripe_client.v1.refunds.list(params={"payment_intent": intent.id}).data

    assert (pending.status, pending.amount) == ("pending", 2000)
    assert fake.ledger(payment_id="pay_pending")["refunds"] == []
    # Reserved already: nothing is left to refund a second time.
    with pytest.raises(stripe.InvalidRequestError) as again:
        stripe_client.v1.refunds.create(params={"payment_intent": intent.id})
    assert again.value.code == "charge_already_refunded"

    wait_until(lambda: stripe_client.v1.refunds.retrieve(pending.id).status == "succeeded")

    [entry] = fake.ledger(payment_id="pay_pending")["refunds"]
    assert (entry["id"], entry["idempotency_key"]) == (pending.id, "pay_pending:re")
    [updated] = stripe_client.v1.events.list(params={"type": "refund.updated"}).data
    assert updated.data.object.status == "succeeded"
    assert updated.data.previous_attributes.to_dict() == {"status": "pending"}


def test_saved_500s_and_unsettled_work_survive_kill_9(tmp_path):
    state = tmp_path / "fakestripe.journal"
    with running_fakestripe("--state", str(state)) as first:
        fake = Fake(first.url)
        client = fake.client()
        saved_intent = unconfirmed_intent(client, "pay_journal")
        fake.set_faults(saved_error_rate=1.0, max_faults=1, paths=CONFIRM_PATHS)
        saved = confirm_expecting_500(client, saved_intent.id, "pay_journal:confirm")
        processing_intent = unconfirmed_intent(client, "pay_restart")
        fake.set_faults(
            saved_error_partial_rate=1.0, settle_after_ms=60_000, max_faults=1, paths=CONFIRM_PATHS
        )
        confirm_expecting_500(client, processing_intent.id, "pay_restart:confirm")
        first.kill_hard()
    # Move the settlement into the past, as if the fake had been down for that minute.
    records = [json.loads(line) for line in state.read_text().splitlines()]
    [settlement] = [r["settlement"] for r in records if r["kind"] == "settlement"]
    settlement["due"] = time.time() - 1
    state.write_text("".join(json.dumps(record) + "\n" for record in records))

    with running_fakestripe("--state", str(state)) as second:
        fake = Fake(second.url)
        client = fake.client()
        replayed = confirm_expecting_500(client, saved_intent.id, "pay_journal:confirm")
        wait_until(
            lambda: client.v1.payment_intents.retrieve(processing_intent.id).status == "succeeded"
        )

        assert replayed.http_body == saved.http_body
        assert replayed.headers["original-request"] == saved.request_id
        assert replayed.headers["stripe-should-retry"] == "false"
        assert len(fake.ledger(payment_id="pay_journal")["charges"]) == 1
        [charge] = fake.ledger(payment_id="pay_restart")["charges"]
        assert charge["idempotency_key"] == "pay_restart:confirm"
        assert fake.control("GET", "health")["counts"]["unsettled"] == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"saved_error_rate": 0.6, "error_rate": 0.6},
            "fault probabilities must add up to at most 1",
        ),
        ({"saved_error_partial_rate": -0.1}, "saved_error_partial_rate must be between 0 and 1"),
        ({"settle_after_ms": -1}, "settle_after_ms must not be negative"),
    ],
)
def test_invalid_saved_error_configs_are_refused(fake: Fake, config, message):
    response = requests.post(f"{fake.url}/_fake/faults", json=config, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
