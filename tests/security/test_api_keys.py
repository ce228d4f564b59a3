"""Keys like Stripe's: restricted scopes, expiry, rolling with an overlap, revocation, HMAC."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from payments import services
from payments.api_keys import hash_api_key
from payments.models import ApiKey, ApiKeyHashScheme, ApiKeyScope
from tests.factories import ApiClientFactory, PaymentFactory

BODY = {"amount": 2_000, "currency": "usd", "payment_method": "pm_card_visa"}


def api_with(raw_key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return api


def pay(api: APIClient, key: str = "k-1"):
    return api.post(
        "/api/v1/payments", json.dumps(BODY), content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )  # fmt: skip


def refund(api: APIClient, payment_id: object):
    return api.post(
        f"/api/v1/payments/{payment_id}/refunds", "{}", content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="r-1",
    )  # fmt: skip


def test_the_stored_hash_is_an_hmac_with_the_server_secret_not_a_bare_sha256(db):
    client, raw_key = services.create_api_client(name="acme")

    stored = client.keys.get()
    assert stored.key_hash == hash_api_key(raw_key)
    assert stored.key_hash != hashlib.sha256(raw_key.encode()).hexdigest()
    assert raw_key not in (stored.key_hash, stored.prefix)


def test_a_key_stored_as_bare_sha256_keeps_working_and_is_rehashed_on_first_use(db):
    client = ApiClientFactory()
    raw_key = "psk_" + "L" * 43
    ApiKey.objects.create(
        client=client,
        prefix=raw_key[:12],
        key_hash=hashlib.sha256(raw_key.encode()).hexdigest(),
        hash_scheme=ApiKeyHashScheme.LEGACY_SHA256,
    )

    assert api_with(raw_key).get("/api/v1/payments").status_code == 200

    stored = client.keys.get()
    assert (stored.hash_scheme, stored.key_hash) == ("hmac-sha256", hash_api_key(raw_key))
    assert api_with(raw_key).get("/api/v1/payments").status_code == 200


def test_a_read_only_key_reads_but_cannot_pay_or_refund(db):
    client, _ = services.create_api_client(name="acme")
    _, raw_key = services.create_api_key(client=client, scope=ApiKeyScope.READ_ONLY)
    payment = PaymentFactory(client=client, status="succeeded")
    api = api_with(raw_key)

    assert raw_key.startswith("prk_")
    assert api.get("/api/v1/payments").status_code == 200
    for response in (pay(api), refund(api, payment.pk)):
        assert response.status_code == 403
        assert response.json()["code"] == "key_scope_insufficient"


def test_a_payments_key_pays_but_cannot_refund(db):
    client, _ = services.create_api_client(name="acme")
    _, raw_key = services.create_api_key(client=client, scope=ApiKeyScope.PAYMENTS)
    payment = PaymentFactory(client=client, status="succeeded")
    api = api_with(raw_key)

    assert pay(api).status_code == 202
    assert refund(api, payment.pk).status_code == 403


def test_rolling_keeps_the_old_key_until_the_chosen_expiry(db):
    client, old_raw = services.create_api_client(name="acme")
    old = client.keys.get()

    new, new_raw = services.roll_api_key(
        key=old, old_key_expires_at=timezone.now() + timedelta(hours=1)
    )

    assert api_with(old_raw).get("/api/v1/payments").status_code == 200
    assert api_with(new_raw).get("/api/v1/payments").status_code == 200
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_with(old_raw).get("/api/v1/payments")
    assert (response.status_code, response.json()["detail"]) == (401, "this API key has expired")
    assert api_with(new_raw).get("/api/v1/payments").status_code == 200
    assert new.scope == old.scope


def test_a_revoked_key_is_refused_at_once(db):
    client, raw_key = services.create_api_client(name="acme")

    services.revoke_api_key(key=client.keys.get())

    response = api_with(raw_key).get("/api/v1/payments")
    assert (response.status_code, response.json()["detail"]) == (401, "this API key was revoked")


def test_last_use_is_recorded_at_most_once_a_minute(db):
    client, raw_key = services.create_api_client(name="acme")
    api = api_with(raw_key)

    api.get("/api/v1/payments")
    first = client.keys.get().last_used_at
    api.get("/api/v1/payments")

    assert first is not None
    assert client.keys.get().last_used_at == first


@pytest.mark.parametrize("action", ["create", "roll", "revoke", "list"])
def test_the_api_key_command(db, action):
    from io import StringIO

    from django.core.management import call_command

    client, _ = services.create_api_client(name="acme")
    prefix = client.keys.get().prefix
    out = StringIO()
    args = {
        "create": ["create", "acme", "--scope", "read_only", "--expires-in", "90d"],
        "roll": ["roll", prefix, "--expire-old-in", "1h"],
        "revoke": ["revoke", prefix],
        "list": ["list", "acme"],
    }[action]

    call_command("api_key", *args, stdout=out)

    text = out.getvalue()
    if action in ("create", "roll"):
        raw = text.strip().splitlines()[-1]
        assert services.check_api_key(raw).key is not None
    if action == "revoke":
        assert client.keys.get().revoked_at is not None
    if action == "list":
        assert prefix in text and "psk_" in text
