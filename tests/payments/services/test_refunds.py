"""Refund service against the fake Stripe server over HTTP, with real PostgreSQL."""

import pytest
import requests
from django.db import IntegrityError

from notifications.models import Notification
from outbox.models import OutboxMessage
from payments import services
from payments.exceptions import PaymentNotRefundable, RefundAmountTooLarge, RetryableError
from payments.gateways.base import CreateRefund
from payments.models import Payment, Refund
from tests.factories import PaymentFactory


def ledger_refunds(url: str, intent_id: str) -> list[dict]:
    ledger = requests.get(f"{url}/_fake/ledger", params={"payment_intent": intent_id}, timeout=5)
    return ledger.json()["refunds"]


@pytest.fixture
def charged(db, gateway) -> Payment:
    payment = PaymentFactory(amount=1_000, customer_email="buyer@example.com")
    assert services.charge_payment(str(payment.id), gateway) == "succeeded"
    payment.refresh_from_db()
    return payment


def ask(payment: Payment, amount: int | None, key: str = "r-1") -> Refund:
    return services.request_refund(
        payment_id=payment.pk, amount=amount, idempotency_key=key, requested_by="api:shop"
    )


def test_a_refund_reserves_its_amount_and_queues_its_task(charged):
    refund = ask(charged, 300)

    charged.refresh_from_db()
    assert (refund.amount, refund.status, refund.requested_by) == (300, "pending", "api:shop")
    assert (charged.amount_refunded, charged.status) == (300, "succeeded")
    jobs = OutboxMessage.objects.filter(task_name="payments.refund_payment")
    assert [job.args for job in jobs] == [[str(refund.pk)]]
    assert charged.events.last().reason == f"refund {refund.pk} of 300 requested"


def test_without_an_amount_the_rest_is_refunded(charged):
    ask(charged, 300, key="first")

    assert ask(charged, None, key="second").amount == 700


def test_the_same_key_returns_the_same_refund(charged):
    first = ask(charged, 300)

    assert ask(charged, 300).pk == first.pk
    charged.refresh_from_db()
    assert charged.amount_refunded == 300
    assert Refund.objects.count() == 1


@pytest.mark.parametrize("amount", [1_001, None])
def test_more_than_is_left_is_refused_and_nothing_is_reserved(charged, amount):
    ask(charged, 1_000, key="all")

    with pytest.raises(RefundAmountTooLarge):
        ask(charged, amount or 1, key="more")

    charged.refresh_from_db()
    assert charged.amount_refunded == 1_000
    assert Refund.objects.count() == 1


@pytest.mark.parametrize(
    "status", ["pending", "processing", "failed", "requires_action", "refunded"]
)
def test_only_succeeded_or_partially_refunded_payments_can_be_refunded(db, status):
    payment = PaymentFactory(status=status)

    with pytest.raises(PaymentNotRefundable):
        ask(payment, 100)

    assert Refund.objects.count() == 0


def test_the_database_refuses_refunding_more_than_the_amount(charged):
    with pytest.raises(IntegrityError):
        Payment.objects.filter(pk=charged.pk).update(amount_refunded=1_001)


def test_executing_refunds_at_stripe_settles_and_emails_once(charged, gateway, fake_stripe_url):
    refund = ask(charged, 300)

    assert services.execute_refund(str(refund.pk), gateway) == "succeeded"
    assert services.execute_refund(str(refund.pk), gateway) == "succeeded"

    refund.refresh_from_db()
    charged.refresh_from_db()
    assert refund.stripe_refund_id.startswith("re_")
    assert (charged.status, charged.amount_refunded) == ("partially_refunded", 300)
    at_stripe = ledger_refunds(fake_stripe_url, charged.stripe_payment_intent_id)
    assert [(r["amount"], r["idempotency_key"]) for r in at_stripe] == [
        (300, f"{refund.pk}:refund")
    ]
    assert list(Notification.objects.filter(kind="refund").values_list("subject", flat=True)) == [
        f"refund:{refund.pk}"
    ]


def test_the_last_refund_makes_the_payment_refunded(charged, gateway):
    for key, amount in (("a", 400), ("b", 600)):
        services.execute_refund(str(ask(charged, amount, key=key).pk), gateway)

    charged.refresh_from_db()
    assert (charged.status, charged.amount_refunded) == ("refunded", 1_000)
    moves = [(e.from_status, e.to_status) for e in charged.events.all()]
    assert [move for move in moves if move[0] != move[1]] == [
        ("pending", "processing"),
        ("processing", "succeeded"),
        ("succeeded", "partially_refunded"),
        ("partially_refunded", "refunded"),
    ]
    assert Notification.objects.filter(kind="refund").count() == 2


def test_a_refund_whose_answer_was_lost_is_replayed_not_repeated(charged, gateway, fake_stripe_url):
    refund = ask(charged, 250)
    # The worker reached Stripe, then died before recording the answer.
    gateway.create_refund(
        CreateRefund(
            payment_intent_id=charged.stripe_payment_intent_id,
            amount=250,
            idempotency_key=f"{refund.pk}:refund",
            metadata={"refund_id": str(refund.pk), "payment_id": str(charged.pk)},
        )
    )

    assert services.execute_refund(str(refund.pk), gateway) == "succeeded"

    assert len(ledger_refunds(fake_stripe_url, charged.stripe_payment_intent_id)) == 1


def test_a_refund_stripe_refuses_releases_its_reservation(charged, gateway, fake_stripe_url):
    # Someone refunded the whole charge in Stripe's dashboard, behind the service's back.
    gateway._client.v1.refunds.create(params={"payment_intent": charged.stripe_payment_intent_id})
    refund = ask(charged, 300)

    assert services.execute_refund(str(refund.pk), gateway) == "failed"

    refund.refresh_from_db()
    charged.refresh_from_db()
    assert refund.failure_reason == "charge_already_refunded"
    assert (charged.status, charged.amount_refunded) == ("succeeded", 0)
    assert not Notification.objects.filter(kind="refund").exists()
    assert len(ledger_refunds(fake_stripe_url, charged.stripe_payment_intent_id)) == 1


def test_a_later_run_finds_a_refund_the_gateway_made_under_an_earlier_key(
    charged, gateway, fake_stripe_url
):
    refund = ask(charged, 250)
    # An earlier run's refund executed at Stripe, then its key moved on (after a 5xx):
    # asking again under the new key would refund twice. The run looks first.
    gateway.create_refund(
        CreateRefund(
            payment_intent_id=charged.stripe_payment_intent_id,
            amount=250,
            idempotency_key=f"{refund.pk}:refund",
            metadata={"refund_id": str(refund.pk), "payment_id": str(charged.pk)},
        )
    )
    Refund.objects.filter(pk=refund.pk).update(attempts=1, key_generation=1)

    assert services.execute_refund(str(refund.pk), gateway) == "succeeded"

    refund.refresh_from_db()
    assert refund.stripe_refund_id.startswith("re_")
    assert len(ledger_refunds(fake_stripe_url, charged.stripe_payment_intent_id)) == 1


def test_a_refund_waiting_at_the_gateway_is_read_again_not_left_pending(
    charged, gateway, fake_stripe_url
):
    refund = ask(charged, 250)
    created = gateway.create_refund(
        CreateRefund(
            payment_intent_id=charged.stripe_payment_intent_id,
            amount=250,
            idempotency_key=f"{refund.pk}:refund",
            metadata={"refund_id": str(refund.pk), "payment_id": str(charged.pk)},
        )
    )
    # Recorded as created but still pending; its webhook was then lost.
    Refund.objects.filter(pk=refund.pk).update(stripe_refund_id=created.refund_id, attempts=1)

    assert services.execute_refund(str(refund.pk), gateway) == "succeeded"

    charged.refresh_from_db()
    assert charged.status == "partially_refunded"


def test_a_refund_answered_with_a_saved_500_is_found_not_made_twice(
    charged, gateway, fake_stripe_url
):
    refund = ask(charged, 400)
    requests.post(
        f"{fake_stripe_url}/_fake/faults",
        json={"saved_error_rate": 1.0, "max_faults": 1, "paths": ["/v1/refunds"]},
        timeout=5,
    ).raise_for_status()
    try:
        with pytest.raises(RetryableError):
            services.execute_refund(str(refund.pk), gateway)
    finally:
        requests.delete(f"{fake_stripe_url}/_fake/faults", timeout=5)

    assert services.execute_refund(str(refund.pk), gateway) == "succeeded"

    refund.refresh_from_db()
    assert refund.key_generation == 1
    assert len(ledger_refunds(fake_stripe_url, charged.stripe_payment_intent_id)) == 1
