"""Issue 13's hand-made requests: each was a 5xx (or a 200 then a dead worker); now a 4xx."""

import uuid

import pytest
from django.test import Client

from payments import services
from payments.models import Payment, StripeEvent
from tests.factories import PaymentFactory
from tests.payments import stripe_events
from tests.security.hostile_requests import REQUESTS, HostileRequest

WEBHOOK_SECRET = "whsec_dev_fake"


def send(client: Client, request: HostileRequest, api_key: str, payment_path: str):
    headers = {"Idempotency-Key": str(uuid.uuid4()), **request.headers}
    if request.authenticated:
        headers["Authorization"] = f"Bearer {api_key}"
    if request.signed:
        headers["Stripe-Signature"] = stripe_events.signature_header(
            (request.body or "").encode("utf-8", "surrogatepass"), WEBHOOK_SECRET
        )
    path = payment_path if request.needs_payment else request.path
    body = (request.body or "").encode("utf-8", "surrogatepass")
    return client.generic(
        request.method, path, body, content_type="application/json", headers=headers
    )


@pytest.mark.parametrize("request_", REQUESTS, ids=[r.name for r in REQUESTS])
def test_a_hostile_request_is_a_clear_4xx_problem_and_stores_nothing(db, request_):
    client = Client(raise_request_exception=False)
    api_client, api_key = services.create_api_client(name="prober")
    payment = PaymentFactory(client=api_client, status="succeeded")

    response = send(client, request_, api_key, f"/api/v1/payments/{payment.pk}/refunds")

    assert response.status_code == request_.expected_status, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == request_.expected_status
    assert Payment.objects.count() == 1
    assert not StripeEvent.objects.exists()


def test_the_catalogue_holds_every_server_error_of_the_probe():
    # 21 that were still 5xx on main, plus the 2 main had fixed already.
    assert len(REQUESTS) == 23
