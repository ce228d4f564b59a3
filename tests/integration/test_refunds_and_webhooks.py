"""Refunds and Stripe webhooks through real processes: gunicorn, Celery workers, fake Stripe."""

import threading
import uuid
from collections import Counter
from typing import Any

import pytest
import requests
from django.conf import settings

from payments.models import Payment, Refund, StripeEvent
from tests.integration.conftest import Stack, post_payment, wait_for, wait_for_final_status

pytestmark = pytest.mark.integration


def pay(stack: Stack, session: requests.Session, **fields: Any) -> str:
    response = post_payment(stack.web_url, session, **{"amount": 1_000, **fields})
    assert response.status_code == 202
    return str(response.json()["id"])


def refund_emails(stack: Stack, payment_id: str) -> list[Any]:
    return [
        m
        for m in stack.emails()
        if payment_id in m.get_payload() and m["Subject"].startswith("Refund")
    ]


def test_twenty_concurrent_refunds_never_refund_more_than_was_charged(stack, merchant_session):
    payment_id = pay(stack, merchant_session)
    payment = wait_for_final_status(payment_id)
    assert payment.status == "succeeded"
    start = threading.Barrier(20)
    answers: list[requests.Response] = []

    def refund_150() -> None:
        start.wait()
        answers.append(
            merchant_session.post(
                f"{stack.web_url}/api/v1/payments/{payment_id}/refunds",
                json={"amount": 150},
                headers={"Idempotency-Key": str(uuid.uuid4())},
                timeout=30,
            )
        )

    # 20 x 150 = 3000 asked for against a 1000 charge.
    threads = [threading.Thread(target=refund_150) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Counter(a.status_code for a in answers) == {202: 6, 422: 14}
    assert {a.json()["code"] for a in answers if a.status_code == 422} == {
        "refund_amount_too_large"
    }
    wait_for(
        lambda: not Refund.objects.filter(payment_id=payment_id, status="pending").exists(),
        timeout=60,
    )
    payment.refresh_from_db()
    assert (payment.amount_refunded, payment.status) == (900, "partially_refunded")
    assert (
        list(Refund.objects.filter(payment_id=payment_id).values_list("status", "amount"))
        == [("succeeded", 150)] * 6
    )
    at_stripe = stack.ledger()["refunds"]
    mine = [r for r in at_stripe if r["payment_intent"] == payment.stripe_payment_intent_id]
    assert sum(r["amount"] for r in mine) == 900
    assert len({r["idempotency_key"] for r in mine}) == 6
    emails = wait_for(
        lambda: len(refund_emails(stack, payment_id)) == 6 and refund_emails(stack, payment_id)
    )
    assert len(emails) == 6

    # The rest: one more refund without an amount takes exactly what is left.
    last = merchant_session.post(
        f"{stack.web_url}/api/v1/payments/{payment_id}/refunds",
        json={},
        headers={"Idempotency-Key": "the-rest"},
        timeout=15,
    )
    assert (last.status_code, last.json()["amount"]) == (202, 100)
    wait_for(lambda: Payment.objects.get(pk=payment_id).status == "refunded", timeout=60)
    mine = [
        r
        for r in stack.ledger()["refunds"]
        if r["payment_intent"] == payment.stripe_payment_intent_id
    ]
    assert sum(r["amount"] for r in mine) == 1_000


@pytest.fixture
def stack_webhooks(stack: Stack):
    """Point the stack's fake Stripe at the stack's own webhook endpoint."""
    response = requests.post(
        f"{stack.stripe_url}/_fake/webhook_endpoints",
        json={
            "url": f"{stack.web_url}/api/v1/webhooks/stripe",
            "secret": settings.STRIPE_WEBHOOK_SECRET,
        },
        timeout=5,
    )
    response.raise_for_status()
    yield
    requests.delete(
        f"{stack.stripe_url}/_fake/webhook_endpoints/{response.json()['id']}", timeout=5
    ).raise_for_status()


def test_a_3ds_payment_completed_at_stripe_succeeds_by_webhook_with_one_receipt(
    stack, merchant_session, stack_webhooks
):
    payment_id = pay(stack, merchant_session, payment_method="pm_card_authenticationRequired")
    payment = wait_for_final_status(payment_id)
    assert payment.status == "requires_action"

    requests.post(
        f"{stack.stripe_url}/_fake/payment_intents/{payment.stripe_payment_intent_id}",
        json={"status": "succeeded"},
        timeout=5,
    ).raise_for_status()

    wait_for(lambda: Payment.objects.get(pk=payment_id).status == "succeeded", timeout=30)
    receipts = wait_for(
        lambda: [m for m in stack.emails() if payment_id in m.get_payload()], timeout=30
    )
    # Exactly one email: the receipt (the webhook and any charge retry share its dedupe key).
    assert [m["Subject"].startswith("Your payment of") for m in receipts] == [True]
    events = StripeEvent.objects.filter(object_id=payment.stripe_payment_intent_id)
    succeeded = events.get(event_type="payment_intent.succeeded")
    assert (succeeded.status, succeeded.outcome) == ("processed", "requires_action → succeeded")
    assert len(stack.charges_for(payment_id)) == 1
