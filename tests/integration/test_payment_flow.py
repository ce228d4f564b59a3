"""Payments followed through real processes: gunicorn → Redis → Celery workers → fake Stripe."""

import re
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from notifications.models import Notification
from outbox import services as outbox
from outbox.models import OutboxMessage
from payments.models import Payment, PaymentEvent
from tests.factories import PaymentFactory
from tests.integration.conftest import Stack, post_payment, wait_for, wait_for_final_status

pytestmark = pytest.mark.integration


def pay(
    stack: Stack, session: requests.Session, *, key: str | None = None, **fields: Any
) -> requests.Response:
    return post_payment(stack.web_url, session, key=key, **fields)


def emails_about(stack: Stack, payment_id: str) -> list[Any]:
    return [m for m in stack.emails() if payment_id in m.get_payload()]


def test_a_card_that_works_is_charged_once_and_gets_one_receipt(stack, merchant_session):
    response = pay(stack, merchant_session)
    assert response.status_code == 202
    payment_id = response.json()["id"]

    payment = wait_for_final_status(payment_id)

    assert payment.status == "succeeded"
    assert payment.stripe_payment_intent_id.startswith("pi_")
    charges = stack.charges_for(payment_id)
    assert [(c["amount"], c["currency"]) for c in charges] == [(1250, "usd")]
    assert [c["payment_intent"] for c in charges] == [payment.stripe_payment_intent_id]
    moves = list(payment.events.values_list("from_status", "to_status", "actor"))
    assert moves == [
        ("", "pending", "api:integration-merchant"),
        ("pending", "processing", "worker"),
        ("processing", "succeeded", "worker"),
    ]
    receipt = wait_for(lambda: emails_about(stack, payment_id))
    assert len(receipt) == 1
    assert receipt[0]["To"] == "buyer@example.com"
    assert receipt[0]["Subject"] == "Your payment of 12.50 USD succeeded"
    time.sleep(1)  # a duplicate would show up by now
    assert len(emails_about(stack, payment_id)) == 1
    assert Notification.objects.get(subject=f"payment:{payment_id}").attempts == 1


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [
        ("pm_card_chargeDeclined", "failed", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "failed", "insufficient_funds"),
        ("pm_card_authenticationRequired", "requires_action", ""),
    ],
)
def test_declines_and_3ds_end_without_a_charge(stack, merchant_session, card, status, code):
    payment_id = pay(stack, merchant_session, payment_method=card).json()["id"]

    payment = wait_for_final_status(payment_id)

    assert (payment.status, payment.failure_code) == (status, code)
    assert stack.charges_for(payment_id) == []
    if status == "failed":
        failure_emails = wait_for(lambda: emails_about(stack, payment_id))
        assert [m["Subject"] for m in failure_emails] == [
            "Your payment of 12.50 USD did not go through"
        ]


def test_twenty_concurrent_identical_requests_make_one_payment_and_one_charge(
    stack, merchant_session
):
    key = str(uuid.uuid4())
    barrier = threading.Barrier(20)
    final_responses: list[requests.Response] = []
    conflicts = []

    def client() -> None:
        barrier.wait()
        while True:
            response = pay(stack, merchant_session, key=key, amount=777)
            if response.status_code != 409:
                final_responses.append(response)
                return
            conflicts.append(response)
            time.sleep(float(response.headers["Retry-After"]) / 10)

    threads = [threading.Thread(target=client) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [r.status_code for r in final_responses] == [202] * 20
    assert len({r.content for r in final_responses}) == 1
    first_answers = [r for r in final_responses if "Idempotent-Replayed" not in r.headers]
    assert len(first_answers) == 1
    assert all(c.headers["Content-Type"] == "application/problem+json" for c in conflicts)
    payment_id = final_responses[0].json()["id"]
    assert Payment.objects.filter(idempotency_key=key).count() == 1
    assert wait_for_final_status(payment_id).status == "succeeded"
    assert len(stack.charges_for(payment_id)) == 1


def test_a_stripe_outage_is_retried_with_the_same_keys_and_charges_once(stack, merchant_session):
    stack.set_faults(error_rate=1.0)
    try:
        payment_id = pay(stack, merchant_session).json()["id"]
        wait_for(lambda: PaymentEvent.objects.filter(payment_id=payment_id, to_status="processing"))
        time.sleep(3)  # a few failed attempts against the outage
        assert Payment.objects.get(pk=payment_id).status == "processing"
    finally:
        stack.set_faults(error_rate=0.0)

    payment = wait_for_final_status(payment_id, timeout=60)

    assert payment.status == "succeeded"
    assert len(stack.charges_for(payment_id)) == 1


def test_the_relay_publishes_what_a_dead_process_never_sent(stack, merchant_session):
    # A web process that died right after COMMIT: the rows exist, nothing was published.
    payment = PaymentFactory(customer_email="")
    OutboxMessage.objects.create(task_name="payments.charge_payment", args=[str(payment.id)])
    OutboxMessage.objects.filter(published_at__isnull=True).update(
        created_at=timezone.now() - timedelta(seconds=30)
    )

    assert outbox.relay_unpublished(grace_seconds=5) == 1

    assert wait_for_final_status(str(payment.id)).status == "succeeded"
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 0


def test_one_trace_spans_request_task_sql_stripe_and_notification(stack, merchant_session):
    payment_id = pay(stack, merchant_session).json()["id"]
    payment = wait_for_final_status(payment_id)
    wait_for(lambda: emails_about(stack, payment_id))
    trace_id = f"0x{payment.trace_id}"

    def trace_spans() -> list[dict[str, Any]]:
        spans = [s for s in stack.spans() if s["context"]["trace_id"] == trace_id]
        names = {s["name"] for s in spans}
        return spans if "run/notifications.send_notification" in names else []

    spans = wait_for(trace_spans, timeout=10)

    def service(span: dict[str, Any]) -> str:
        return str(span["resource"]["attributes"]["service.name"])

    server = [(service(s), s["name"]) for s in spans if s["kind"] == "SpanKind.SERVER"]
    assert server == [("payments-web", "POST api/v1/payments")]
    names = {(service(s), s["name"]) for s in spans}
    assert {
        ("payments-web", "apply_async/payments.charge_payment"),
        ("payments-worker", "run/payments.charge_payment"),
        ("payments-worker", "stripe.payment_intents.create"),
        ("payments-worker", "apply_async/notifications.send_notification"),
        ("payments-worker", "run/notifications.send_notification"),
    } <= names
    # One Stripe call per payment: created and confirmed at once.
    assert ("payments-worker", "stripe.payment_intents.confirm") not in names
    worker_sql = [
        s
        for s in spans
        if s["attributes"].get("db.system") == "postgresql" and service(s) == "payments-worker"
    ]
    assert worker_sql, "the worker's SQL joins the trace"
    stripe_http = [
        s["attributes"].get("http.url", s["attributes"].get("url.full", ""))
        for s in spans
        if s["kind"] == "SpanKind.CLIENT" and s["attributes"].get("http.method") == "POST"
    ]
    # One Stripe call: the create confirms.
    to_stripe = [url for url in stripe_http if url.startswith(stack.stripe_url)]
    assert to_stripe == [f"{stack.stripe_url}/v1/payment_intents"]
    assert {e.trace_id for e in payment.events.all()} == {payment.trace_id}


def test_the_demo_command_shows_every_case_against_the_running_stack(stack, transactional_db):
    from io import StringIO

    from django.core.management import call_command

    from payments import services

    _, key = services.create_api_client(name="demo-check")
    out = StringIO()

    call_command("demo", "--base-url", stack.web_url, "--api-key", key, stdout=out)

    lines = out.getvalue().splitlines()[2:]
    rows = {cells[0]: cells[1:4] for cells in (re.split(r"\s{2,}", line.strip()) for line in lines)}
    assert rows == {
        "card accepted": ["202", "succeeded", "20.00 USD"],
        "card declined": ["202", "failed", "generic_decline"],
        "insufficient funds": ["202", "failed", "insufficient_funds"],
        "3-D Secure required": ["202", "requires_action", "20.00 USD"],
        "yen, no minor unit": ["202", "succeeded", "1500 JPY"],
        "retry, same key": ["202", "replayed=true", "same body"],
        "same key, new body": ["422", "application/problem+json", "idempotency_key_reused"],
    }
