"""The fake Stripe server delivers real, signed events to this service over HTTP."""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from payments import services
from payments.gateways import get_gateway
from payments.models import Payment, StripeEvent
from tests.factories import PaymentFactory

SECRET = "whsec_delivery_test"


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.1)
    raise TimeoutError("condition not met in time")


@pytest.fixture
def endpoint(live_server, fake_stripe_url, settings) -> Iterator[Callable[[str], str]]:
    """Register this test's server at the fake; every endpoint is removed afterwards."""
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    made: list[str] = []

    def register(secret: str) -> str:
        response = requests.post(
            f"{fake_stripe_url}/_fake/webhook_endpoints",
            json={
                "url": f"{live_server.url}/api/v1/webhooks/stripe",
                "secret": secret,
                "enabled_events": ["payment_intent.*"],
            },
            timeout=5,
        )
        response.raise_for_status()
        made.append(response.json()["id"])
        return made[-1]

    yield register
    for endpoint_id in made:
        requests.delete(f"{fake_stripe_url}/_fake/webhook_endpoints/{endpoint_id}", timeout=5)


def deliveries(fake_stripe_url: str, endpoint_id: str) -> list[dict[str, Any]]:
    attempts = requests.get(f"{fake_stripe_url}/_fake/webhook_deliveries", timeout=5).json()
    return [a for a in attempts["data"] if a["endpoint"] == endpoint_id]


def test_a_3ds_payment_completed_later_arrives_by_webhook_and_succeeds(
    transactional_db, endpoint, gateway, fake_stripe_url
):
    endpoint_id = endpoint(SECRET)
    payment = PaymentFactory(payment_method="pm_card_authenticationRequired")
    assert services.charge_payment(str(payment.id), gateway) == "requires_action"
    intent_id = Payment.objects.get(pk=payment.pk).stripe_payment_intent_id

    # The customer completes 3-D Secure: Stripe's PaymentIntent succeeds later.
    requests.post(
        f"{fake_stripe_url}/_fake/payment_intents/{intent_id}",
        json={"status": "succeeded"},
        timeout=5,
    ).raise_for_status()
    wait_for(
        lambda: StripeEvent.objects.filter(
            object_id=intent_id, event_type="payment_intent.succeeded"
        ).exists()
    )
    for inbox in StripeEvent.objects.filter(object_id=intent_id).order_by("pk"):
        services.process_event(inbox.pk, get_gateway())

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert list(payment.events.values_list("to_status", "actor"))[-1] == (
        "succeeded",
        "stripe:webhook",
    )
    types = set(
        StripeEvent.objects.filter(object_id=intent_id).values_list("event_type", flat=True)
    )
    assert types == {
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
    }
    attempts = wait_for(
        lambda: (
            len(deliveries(fake_stripe_url, endpoint_id)) >= 3
            and deliveries(fake_stripe_url, endpoint_id)
        )
    )
    assert {a["status"] for a in attempts} == {200}


def test_a_delivery_signed_with_another_secret_is_refused_and_not_stored(
    transactional_db, endpoint, gateway, fake_stripe_url
):
    endpoint_id = endpoint("whsec_not_ours")
    payment = PaymentFactory(payment_method="pm_card_authenticationRequired")
    services.charge_payment(str(payment.id), gateway)

    attempts = wait_for(lambda: deliveries(fake_stripe_url, endpoint_id))

    assert attempts[0]["status"] == 400
    assert StripeEvent.objects.count() == 0
