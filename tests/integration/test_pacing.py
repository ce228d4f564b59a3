"""Stripe's 429s met by real workers: they back off, give their slots back and charge once."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from payments.models import Payment
from tests.integration.conftest import Stack, post_payment, wait_for_final_status

pytestmark = pytest.mark.integration

PAYMENTS = 10


@pytest.fixture
def rate_limited_stripe(stack: Stack):
    """The fake at Stripe's pace, its create endpoint far below what the workers want."""

    def profile(body: dict) -> None:
        requests.post(f"{stack.stripe_url}/_fake/profile", json=body, timeout=5).raise_for_status()

    profile({"name": "live", "latency_scale": 0, "limits": {"endpoint_rate": 3}})
    yield
    profile({"name": "zero"})


def test_past_stripes_rate_every_payment_is_charged_once_and_none_fails(
    stack: Stack, merchant_session, rate_limited_stripe
):
    before = requests.get(f"{stack.stripe_url}/_fake/traffic", timeout=5).json()

    def pay(_: int) -> str:
        response = post_payment(stack.web_url, merchant_session, key=str(uuid.uuid4()))
        assert response.status_code == 202
        return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=PAYMENTS) as pool:
        payment_ids = list(pool.map(pay, range(PAYMENTS)))
    payments = [wait_for_final_status(payment_id, timeout=120) for payment_id in payment_ids]

    after = requests.get(f"{stack.stripe_url}/_fake/traffic", timeout=5).json()
    refused = after["rate_limited"].get("POST /v1/payment_intents", {}).get("endpoint-rate", 0)
    refused -= before["rate_limited"].get("POST /v1/payment_intents", {}).get("endpoint-rate", 0)
    assert refused > 0, "Stripe never said 429: the test did not test anything"
    assert [payment.status for payment in payments] == ["succeeded"] * PAYMENTS
    for payment_id in payment_ids:
        assert len(stack.charges_for(payment_id)) == 1
    # A 429 executed nothing, so it was not a charge attempt: the first run that got through
    # charged without searching first.
    attempts = Payment.objects.filter(pk__in=payment_ids).values_list("charge_attempts", flat=True)
    assert set(attempts) == {1}
