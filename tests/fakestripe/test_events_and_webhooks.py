"""Events for every state change, and webhooks signed like Stripe's, retried on failure."""

import contextlib
import itertools
import time

import pytest
import stripe

from tests.fakestripe.conftest import WEBHOOK_SECRET, Fake, running_fakestripe


def pay(client: stripe.StripeClient, payment_method: str = "pm_card_visa"):
    return client.v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "eur",
            "payment_method": payment_method,
            "confirm": True,
            "metadata": {"payment_id": "pay_9"},
        },
        options={"idempotency_key": "pay_9:create"},
    )


def test_a_successful_payment_and_refund_emit_stripes_events(stripe_client):
    intent = pay(stripe_client)
    stripe_client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})

    events = stripe_client.v1.events.list(params={"limit": 100}).data

    assert [e.type for e in reversed(events)] == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "refund.created",
        "charge.refunded",
    ]
    succeeded = events[2]
    assert succeeded.id.startswith("evt_")
    assert succeeded.data.object.id == intent.id
    assert succeeded.data.object.status == "succeeded"
    assert succeeded.request.idempotency_key == "pay_9:create"
    refunded = events[0]
    assert refunded.data.previous_attributes.to_dict() == {"amount_refunded": 0, "refunded": False}
    assert stripe_client.v1.events.retrieve(succeeded.id).to_dict() == succeeded.to_dict()


@pytest.mark.parametrize(
    ("payment_method", "types"),
    [
        (
            "pm_card_chargeDeclined",
            ["payment_intent.created", "charge.failed", "payment_intent.payment_failed"],
        ),
        (
            "pm_card_authenticationRequired",
            ["payment_intent.created", "payment_intent.requires_action"],
        ),
    ],
)
def test_failed_and_3ds_payments_emit_their_events(stripe_client, payment_method, types):
    with contextlib.suppress(stripe.CardError):
        pay(stripe_client, payment_method)

    events = stripe_client.v1.events.list().data

    assert [e.type for e in reversed(events)] == types


def test_cancel_emits_canceled(stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={"amount": 1500, "currency": "eur"})
    stripe_client.v1.payment_intents.cancel(intent.id)

    types = [e.type for e in stripe_client.v1.events.list(params={"type": "payment_intent.*"}).data]

    assert types == ["payment_intent.canceled", "payment_intent.created"]


def test_webhooks_are_signed_like_stripes(fake: Fake, stripe_client, webhook_receiver):
    endpoint = fake.control("POST", "webhook_endpoints", {"url": webhook_receiver.url})
    assert endpoint["secret"] == WEBHOOK_SECRET
    intent = pay(stripe_client)

    deliveries = webhook_receiver.wait_for(3)

    verified = [
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
        for headers, body in deliveries
    ]
    assert sorted(event.type for event in verified) == [
        "charge.succeeded",
        "payment_intent.created",
        "payment_intent.succeeded",
    ]
    objects = [event.data.object.to_dict() for event in verified]
    assert {obj.get("payment_intent", obj["id"]) for obj in objects} == {intent.id}
    headers, body = deliveries[0]
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_wrong")


def test_an_endpoint_may_choose_its_events_and_its_secret(
    fake: Fake, stripe_client, webhook_receiver
):
    fake.control(
        "POST",
        "webhook_endpoints",
        {
            "url": webhook_receiver.url,
            "secret": "whsec_other",
            "enabled_events": ["payment_intent.succeeded"],
        },
    )
    pay(stripe_client)

    [(headers, body)] = webhook_receiver.wait_for(1)

    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_other")
    assert event.type == "payment_intent.succeeded"


def test_a_failing_endpoint_is_retried_until_it_answers_2xx(
    fake: Fake, stripe_client, webhook_receiver
):
    webhook_receiver.failures_left = 2
    endpoint = fake.control(
        "POST",
        "webhook_endpoints",
        {"url": webhook_receiver.url, "enabled_events": ["payment_intent.created"]},
    )
    stripe_client.v1.payment_intents.create(params={"amount": 1500, "currency": "eur"})

    [(headers, body)] = webhook_receiver.wait_for(1)

    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
    assert event.type == "payment_intent.created"
    # The receiver answers before the fake records the attempt: wait for the record.
    deadline = time.monotonic() + 5
    while len(attempts := fake.control("GET", "webhook_deliveries")["data"]) < 3:
        assert time.monotonic() < deadline, attempts
        time.sleep(0.02)
    assert [(a["endpoint"], a["attempt"], a["status"], a["succeeded"]) for a in attempts] == [
        (endpoint["id"], 1, 500, False),
        (endpoint["id"], 2, 500, False),
        (endpoint["id"], 3, 200, True),
    ]
    # Backoff: 0.05 s then 0.1 s (--webhook-retry-base 0.05, doubling).
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.05
    assert gaps[1] >= 0.1


def test_delivery_gives_up_after_max_attempts(fake: Fake, stripe_client, webhook_receiver):
    webhook_receiver.failures_left = 100
    fake.control(
        "POST", "settings", {"webhook_max_attempts": 2, "webhook_retry_base_seconds": 0.01}
    )
    fake.control(
        "POST",
        "webhook_endpoints",
        {"url": webhook_receiver.url, "enabled_events": ["payment_intent.created"]},
    )
    stripe_client.v1.payment_intents.create(params={"amount": 1500, "currency": "eur"})

    deadline = time.monotonic() + 5
    while (status := fake.control("GET", "webhook_deliveries"))["pending"] or not status["data"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    assert [(a["attempt"], a["succeeded"]) for a in status["data"]] == [(1, False), (2, False)]
    assert webhook_receiver.failures_left == 98


def test_command_line_endpoints_receive_only_the_events_they_subscribe_to(webhook_receiver):
    flags = ("--webhook-secret", WEBHOOK_SECRET, "--webhook-url", webhook_receiver.url)
    events = "payment_intent.succeeded,refund.*"
    with running_fakestripe(*flags, "--webhook-events", events) as server:
        client = Fake(server.url).client()
        intent = pay(client)
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
        delivered = webhook_receiver.events(2)
        time.sleep(0.5)  # nothing else follows: the created and charge events are not sent

    assert sorted(event["type"] for event in delivered) == [
        "payment_intent.succeeded",
        "refund.created",
    ]
    assert len(webhook_receiver.received) == 2
