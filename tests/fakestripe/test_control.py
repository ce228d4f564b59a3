"""The /_fake/ control API: forcing statuses, the ledger, reset, settings, webhook endpoints."""

import hashlib

import pytest
import requests
import stripe

from tests.fakestripe.conftest import API_KEY, Fake


def test_ledger_records_every_charge_with_its_key_and_the_api_key_hash(fake: Fake, stripe_client):
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "gbp",
            "payment_method": "pm_card_visa",
            "metadata": {"payment_id": "pay_5"},
        },
        options={"idempotency_key": "pay_5:create"},
    )
    stripe_client.v1.payment_intents.confirm(
        intent.id, options={"idempotency_key": "pay_5:confirm"}
    )

    ledger = fake.ledger()

    [charge] = ledger["charges"]
    assert charge == {
        "seq": 1,
        "type": "charge",
        "id": charge["id"],
        "payment_intent": intent.id,
        "amount": 2500,
        "currency": "gbp",
        "metadata": {"payment_id": "pay_5"},
        "idempotency_key": "pay_5:confirm",
        "api_key_hash": hashlib.sha256(API_KEY.encode()).hexdigest(),
        "request_id": charge["request_id"],
        "created": charge["created"],
        "charge": charge["id"],
        "payment_intent_metadata": {},
        "source": "api",
    }
    assert API_KEY not in str(ledger)
    assert ledger["counts"] == {
        "charges": 1,
        "refunds": 0,
        "charged_amount": {"gbp": 2500},
        "refunded_amount": {},
        "payment_ids_charged_more_than_once": [],
        "payment_intents": 1,
    }


def test_ledger_flags_a_payment_id_charged_twice_and_filters(fake: Fake, stripe_client):
    for _ in range(2):
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "metadata": {"payment_id": "pay_twice"},
            }
        )
    stripe_client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"payment_id": "pay_once"},
        }
    )

    assert fake.ledger()["counts"]["payment_ids_charged_more_than_once"] == ["pay_twice"]
    assert len(fake.ledger(payment_id="pay_once")["charges"]) == 1
    assert [c["seq"] for c in fake.ledger(since="2")["charges"]] == [3]


def test_forcing_succeeded_seeds_a_mismatch_with_money_moved(fake: Fake, stripe_client):
    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 4000, "currency": "usd", "metadata": {"payment_id": "pay_forced"}}
    )

    forced = fake.control("POST", f"payment_intents/{intent.id}", {"status": "succeeded"})

    assert (forced["status"], forced["amount_received"]) == ("succeeded", 4000)
    retrieved = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert retrieved.status == "succeeded"
    assert stripe_client.v1.charges.retrieve(retrieved.latest_charge).captured is True
    [charge] = fake.ledger()["charges"]
    assert (charge["source"], charge["idempotency_key"], charge["amount"]) == (
        "control",
        None,
        4000,
    )
    types = [e.type for e in stripe_client.v1.events.list().data]
    assert types == ["payment_intent.succeeded", "charge.succeeded", "payment_intent.created"]


def test_forcing_other_statuses_silently(fake: Fake, stripe_client):
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": 4000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )

    fake.control(
        "POST", f"payment_intents/{intent.id}", {"status": "processing", "emit_events": False}
    )

    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "processing"
    assert len(stripe_client.v1.events.list().data) == 3


def test_forcing_needs_a_known_intent_and_status(fake: Fake, stripe_client):
    intent = stripe_client.v1.payment_intents.create(params={"amount": 4000, "currency": "usd"})

    unknown = requests.post(
        f"{fake.url}/_fake/payment_intents/pi_nope", json={"status": "succeeded"}, timeout=5
    )
    bad_status = requests.post(
        f"{fake.url}/_fake/payment_intents/{intent.id}", json={"status": "exploded"}, timeout=5
    )

    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"message": "no such payment_intent: pi_nope"}}
    assert bad_status.status_code == 400
    assert bad_status.json()["error"]["message"].startswith("status must be one of")


def test_reset_forgets_everything(fake: Fake, stripe_client):
    stripe_client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    fake.set_faults(saved_error_partial_rate=1.0, settle_after_ms=60_000, latency_ms=5)
    with pytest.raises(stripe.APIError):
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 900,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        )
    assert fake.control("GET", "health")["counts"]["unsettled"] == 1

    fake.control("POST", "reset")

    assert fake.control("GET", "health")["counts"] == {
        "payment_intents": 0,
        "charges": 0,
        "refunds": 0,
        "events": 0,
        "idempotency_keys": 0,
        "webhook_endpoints": 0,
        "pending_webhook_deliveries": 0,
        "unsettled": 0,
    }
    assert fake.control("GET", "faults")["config"]["latency_ms"] == 0
    assert fake.ledger()["charges"] == []


def test_settings_round_trip(fake: Fake):
    updated = fake.control(
        "POST", "settings", {"idempotency_ttl_seconds": 60, "webhook_max_attempts": 3}
    )

    assert updated == {
        "idempotency_ttl_seconds": 60.0,
        "webhook_retry_base_seconds": 0.05,
        "webhook_retry_factor": 2.0,
        "webhook_retry_max_delay_seconds": 3600.0,
        "webhook_max_attempts": 3,
        "webhook_timeout_seconds": 10.0,
    }


def test_webhook_endpoints_can_be_listed_and_deleted(fake: Fake):
    created = fake.control("POST", "webhook_endpoints", {"url": "http://127.0.0.1:9/hooks"})

    listed = fake.control("GET", "webhook_endpoints")["data"]
    deleted = fake.control("DELETE", f"webhook_endpoints/{created['id']}")

    assert [e["url"] for e in listed] == ["http://127.0.0.1:9/hooks"]
    assert deleted == {"deleted": [created["id"]]}
    assert fake.control("GET", "webhook_endpoints")["data"] == []
