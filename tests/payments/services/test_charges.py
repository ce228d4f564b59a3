"""The charge service against the fake Stripe server over HTTP, with real PostgreSQL."""

import time

import pytest
import requests

from outbox.models import OutboxMessage
from payments import services
from payments.exceptions import RetryableError
from payments.gateways.base import CreateIntent
from tests.factories import PaymentFactory


def ledger_charges(url: str, payment_id: str) -> list[dict]:
    charges = requests.get(f"{url}/_fake/ledger", timeout=5).json()["charges"]
    return [c for c in charges if c["metadata"].get("payment_id") == payment_id]


def intents_for(gateway, payment_id: str) -> int:
    found = gateway._client.v1.payment_intents.search(
        params={"query": f"metadata['payment_id']:'{payment_id}'"}
    )
    return len(found.data)


def notification_jobs() -> int:
    return OutboxMessage.objects.filter(task_name="notifications.send_notification").count()


def stripe_requests(url: str) -> dict[str, int]:
    return requests.get(f"{url}/_fake/traffic", timeout=5).json()["requests"]


def test_a_visa_payment_succeeds_with_events_and_a_receipt_queued(db, gateway, fake_stripe_url):
    payment = PaymentFactory(customer_email="buyer@example.com")
    before = stripe_requests(fake_stripe_url)

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"

    # One Stripe call: the intent is created and confirmed at once, under one key.
    after = stripe_requests(fake_stripe_url)
    assert sum(after.values()) - sum(before.values()) == 1
    assert after["POST /v1/payment_intents"] - before.get("POST /v1/payment_intents", 0) == 1
    assert ledger_charges(fake_stripe_url, str(payment.id))[0]["idempotency_key"] == (
        f"{payment.id}:charge"
    )

    payment.refresh_from_db()
    assert payment.stripe_payment_intent_id.startswith("pi_")
    assert payment.intent_created_at is not None
    assert list(payment.events.values_list("from_status", "to_status")) == [
        ("pending", "processing"),
        ("processing", "succeeded"),
    ]
    assert len(ledger_charges(fake_stripe_url, str(payment.id))) == 1
    assert notification_jobs() == 1


def test_running_again_after_success_changes_nothing(db, gateway, fake_stripe_url):
    payment = PaymentFactory(customer_email="buyer@example.com")
    services.charge_payment(str(payment.id), gateway)

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"

    assert payment.events.count() == 2
    assert len(ledger_charges(fake_stripe_url, str(payment.id))) == 1
    assert notification_jobs() == 1


def test_a_charge_whose_answer_was_lost_is_replayed_not_repeated(db, gateway, fake_stripe_url):
    payment = PaymentFactory()
    # The first attempt charged at Stripe, then the worker died before committing anything.
    charged = gateway.create_intent(
        CreateIntent(
            amount=payment.amount,
            currency=payment.currency,
            payment_method=payment.payment_method,
            idempotency_key=f"{payment.id}:charge",
            metadata={"payment_id": str(payment.id)},
            confirm=True,
        )
    )

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"

    payment.refresh_from_db()
    assert payment.stripe_payment_intent_id == charged.intent_id

    assert intents_for(gateway, str(payment.id)) == 1
    assert len(ledger_charges(fake_stripe_url, str(payment.id))) == 1


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [
        ("pm_card_chargeDeclined", "failed", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "failed", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "failed", "expired_card"),
        ("pm_card_authenticationRequired", "requires_action", ""),
    ],
)
def test_declines_and_3ds(db, gateway, fake_stripe_url, card, status, code):
    payment = PaymentFactory(payment_method=card, customer_email="buyer@example.com")

    assert services.charge_payment(str(payment.id), gateway) == status

    payment.refresh_from_db()
    assert payment.failure_code == code
    assert ledger_charges(fake_stripe_url, str(payment.id)) == []
    assert notification_jobs() == (1 if status == "failed" else 0)


def test_a_request_stripe_refuses_fails_the_payment_with_stripes_code(db, gateway):
    payment = PaymentFactory(payment_method="pm_card_doesNotExist")

    assert services.charge_payment(str(payment.id), gateway) == "failed"

    payment.refresh_from_db()
    assert payment.failure_code == "resource_missing"


def test_a_stripe_outage_raises_retryable_and_leaves_the_payment_processing(
    db, gateway, fake_stripe_url
):
    payment = PaymentFactory()
    requests.post(f"{fake_stripe_url}/_fake/faults", json={"error_rate": 1.0}, timeout=5)
    try:
        with pytest.raises(RetryableError):
            services.charge_payment(str(payment.id), gateway)
    finally:
        requests.post(f"{fake_stripe_url}/_fake/faults", json={"error_rate": 0.0}, timeout=5)
    payment.refresh_from_db()
    assert payment.status == "processing"

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"
    assert len(ledger_charges(fake_stripe_url, str(payment.id))) == 1


def age_past_key_lifetime(payment) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from payments.models import Payment

    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=25))


def create_at_stripe_and_lose_the_answer(gateway, payment) -> str:
    return gateway.create_intent(
        CreateIntent(
            amount=payment.amount,
            currency=payment.currency,
            payment_method=payment.payment_method,
            idempotency_key=f"{payment.id}:create",
            metadata={"payment_id": str(payment.id)},
        )
    ).intent_id


def test_past_the_key_lifetime_a_lost_create_is_found_by_search_not_repeated(
    db, gateway, fake_stripe_url
):
    payment = PaymentFactory()
    intent_id = create_at_stripe_and_lose_the_answer(gateway, payment)
    age_past_key_lifetime(payment)

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"

    payment.refresh_from_db()
    assert payment.stripe_payment_intent_id == intent_id
    assert intents_for(gateway, str(payment.id)) == 1
    assert len(ledger_charges(fake_stripe_url, str(payment.id))) == 1


def test_past_the_key_lifetime_a_stored_charged_intent_is_read_not_charged_again(
    db, gateway, fake_stripe_url
):
    payment = PaymentFactory()
    intent_id = create_at_stripe_and_lose_the_answer(gateway, payment)
    gateway.confirm_intent(
        intent_id, idempotency_key=f"{payment.id}:confirm", payment_id=str(payment.id)
    )
    payment.stripe_payment_intent_id = intent_id
    payment.status = "processing"
    payment.save()
    age_past_key_lifetime(payment)

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"

    assert len(ledger_charges(fake_stripe_url, str(payment.id))) == 1


def test_past_the_key_lifetime_nothing_is_created_anymore(db, gateway, fake_stripe_url):
    payment = PaymentFactory()
    age_past_key_lifetime(payment)

    assert services.charge_payment(str(payment.id), gateway) == "failed"

    payment.refresh_from_db()
    assert payment.failure_code == "charge_window_expired"
    assert intents_for(gateway, str(payment.id)) == 0
    assert ledger_charges(fake_stripe_url, str(payment.id)) == []


class ChargedMeanwhile:
    """The gateway, but another run's confirm charges the intent just before ours arrives.

    Worker A's confirm and a re-drive B race past the key lifetime: B saw the intent
    awaiting confirmation, A's confirm lands first (for real, at the fake), and B's own
    confirm is then refused because the intent is no longer awaiting one.
    """

    def __init__(self, gateway):
        self._gateway = gateway

    def __getattr__(self, name):
        return getattr(self._gateway, name)

    def confirm_intent(self, intent_id, *, idempotency_key, payment_id):
        self._gateway.confirm_intent(
            intent_id, idempotency_key=f"{payment_id}:confirm-by-worker-a", payment_id=payment_id
        )
        return self._gateway.confirm_intent(
            intent_id, idempotency_key=idempotency_key, payment_id=payment_id
        )


def test_a_confirm_refused_because_another_run_charged_records_the_success(
    db, gateway, fake_stripe_url
):
    payment = PaymentFactory(customer_email="buyer@example.com")
    create_at_stripe_and_lose_the_answer(gateway, payment)
    age_past_key_lifetime(payment)

    assert services.charge_payment(str(payment.id), ChargedMeanwhile(gateway)) == "succeeded"

    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("succeeded", "")
    assert len(ledger_charges(fake_stripe_url, str(payment.id))) == 1
    kinds = list(
        OutboxMessage.objects.filter(task_name="notifications.send_notification").values_list(
            "args", flat=True
        )
    )
    assert len(kinds) == 1  # the receipt only: no failure email on a guess


def test_a_refusal_about_the_request_itself_still_fails_the_payment(db, gateway):
    # Nothing to look at: the gateway refused to create the intent at all.
    payment = PaymentFactory(payment_method="pm_card_doesNotExist")

    assert services.charge_payment(str(payment.id), gateway) == "failed"
    assert PaymentFactory._meta.model.objects.get(pk=payment.pk).failure_code == "resource_missing"


def test_a_two_call_intent_left_unconfirmed_is_found_and_confirmed_not_created_again(
    db, gateway, fake_stripe_url
):
    # A release that created and confirmed in two calls died between them.
    payment = PaymentFactory()
    intent_id = create_at_stripe_and_lose_the_answer(gateway, payment)
    type(payment).objects.filter(pk=payment.pk).update(charge_attempts=1, status="processing")

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"

    assert intents_for(gateway, str(payment.id)) == 1
    charges = ledger_charges(fake_stripe_url, str(payment.id))
    assert [(c["payment_intent"], c["idempotency_key"]) for c in charges] == [
        (intent_id, f"{payment.id}:confirm")
    ]


def test_every_run_after_the_first_counts_itself_and_looks_first(db, gateway, fake_stripe_url):
    payment = PaymentFactory()
    intent_id = create_at_stripe_and_lose_the_answer(gateway, payment)
    # A first run got this far before its worker died: counted, nothing stored.
    type(payment).objects.filter(pk=payment.pk).update(charge_attempts=1, status="processing")

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"

    payment.refresh_from_db()
    assert (payment.charge_attempts, payment.stripe_payment_intent_id) == (2, intent_id)
    assert intents_for(gateway, str(payment.id)) == 1
    assert len(ledger_charges(fake_stripe_url, str(payment.id))) == 1


def saved_500_once(fake_stripe_url: str, path: str) -> None:
    """Stripe executes the next matching request, then answers 500 and saves that answer."""
    requests.post(
        f"{fake_stripe_url}/_fake/faults",
        json={"saved_error_rate": 1.0, "max_faults": 1, "paths": [path]},
        timeout=5,
    ).raise_for_status()


@pytest.mark.parametrize("partial", [False, True], ids=["charged", "settling"])
def test_a_saved_500_on_the_charge_is_resolved_by_looking_never_by_a_new_key(
    db, gateway, fake_stripe_url, partial
):
    payment = PaymentFactory()
    fault = "saved_error_partial_rate" if partial else "saved_error_rate"
    requests.post(
        f"{fake_stripe_url}/_fake/faults",
        json={
            fault: 1.0,
            "max_faults": 1,
            "settle_after_ms": 300,
            "paths": ["/v1/payment_intents"],
        },
        timeout=5,
    ).raise_for_status()
    try:
        with pytest.raises(RetryableError):
            services.charge_payment(str(payment.id), gateway)
    finally:
        requests.delete(f"{fake_stripe_url}/_fake/faults", timeout=5)
    payment.refresh_from_db()
    # The 500 may have charged: a new key could charge again, so the key stays.
    assert payment.key_generation == 0
    if partial:
        time.sleep(0.5)

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"

    assert intents_for(gateway, str(payment.id)) == 1
    charges = ledger_charges(fake_stripe_url, str(payment.id))
    assert [c["idempotency_key"] for c in charges] == [f"{payment.id}:charge"]


def test_a_saved_500_on_a_confirm_moves_the_confirm_to_a_new_key(db, gateway, fake_stripe_url):
    payment = PaymentFactory()
    create_at_stripe_and_lose_the_answer(gateway, payment)
    type(payment).objects.filter(pk=payment.pk).update(charge_attempts=1, status="processing")
    saved_500_once(fake_stripe_url, "/v1/payment_intents/*/confirm")
    try:
        with pytest.raises(RetryableError):
            services.charge_payment(str(payment.id), gateway)
    finally:
        requests.delete(f"{fake_stripe_url}/_fake/faults", timeout=5)
    payment.refresh_from_db()
    assert payment.key_generation == 1  # the old confirm key would replay the 500 for 24 h

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"

    assert intents_for(gateway, str(payment.id)) == 1
    assert len(ledger_charges(fake_stripe_url, str(payment.id))) == 1
