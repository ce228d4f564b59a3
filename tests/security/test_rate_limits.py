"""Stripe-like limits: per API key, per address after failed authentication; admin lockout."""

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from config.metrics import API_RATE_LIMITED, process_registry
from payments import services


def sample(name: str, **labels: str) -> float:
    return process_registry().get_sample_value(name, labels) or 0.0


@pytest.fixture
def limits(settings):
    settings.API_RATE_LIMIT_REQUESTS = 3
    settings.API_RATE_LIMIT_WINDOW_SECONDS = 60
    settings.AUTH_FAILURE_LIMIT = 4
    settings.AUTH_FAILURE_WINDOW_SECONDS = 60
    return settings


def test_a_key_over_its_limit_gets_429_with_retry_after_as_a_problem(db, limits):
    _, raw_key = services.create_api_client(name="busy")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    before = API_RATE_LIMITED.labels(limit="api_key")._value.get()

    statuses = [api.get("/api/v1/payments").status_code for _ in range(5)]

    assert statuses == [200, 200, 200, 429, 429]
    refused = api.get("/api/v1/payments")
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert API_RATE_LIMITED.labels(limit="api_key")._value.get() == before + 3


def test_a_client_given_a_higher_limit_gets_it_on_each_of_its_keys(db, limits):
    client, raw_key = services.create_api_client(name="big merchant")
    client.request_limit = 5
    client.save(update_fields=["request_limit"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    statuses = [api.get("/api/v1/payments").status_code for _ in range(6)]

    assert statuses == [200] * 5 + [429]
    assert (
        api.get("/api/v1/payments")
        .json()["detail"]
        .startswith("Too many requests for this API key (its limit is 5 per 60 s). Try again in ")
    )


def test_another_key_is_not_slowed_by_a_busy_one(db, limits):
    _, busy = services.create_api_client(name="busy")
    _, quiet = services.create_api_client(name="quiet")
    for _ in range(5):
        APIClient().get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {busy}")

    response = APIClient().get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {quiet}")

    assert response.status_code == 200


def test_an_address_that_keeps_failing_is_refused_for_bad_keys_and_served_with_a_good_one(
    db, limits
):
    _, good = services.create_api_client(name="good")
    api = APIClient(REMOTE_ADDR="203.0.113.7")
    refused_before = sample("api_rate_limited_total", limit="auth_failures")

    failures = [
        api.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer psk_wrong{n}").status_code
        for n in range(6)
    ]
    with_good_key = api.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {good}")
    still_refused = api.get("/api/v1/payments", HTTP_AUTHORIZATION="Bearer psk_wrong-again")

    assert failures == [401, 401, 401, 401, 429, 429]
    assert with_good_key.status_code == 200
    assert still_refused.status_code == 429
    assert still_refused["Content-Type"] == "application/problem+json"
    assert still_refused.json()["code"] == "rate_limited"
    assert 1 <= int(still_refused["Retry-After"]) <= 60
    wait = int(still_refused["Retry-After"])
    assert still_refused.json()["detail"] == (
        "Too many failed authentications from this address. "
        f"Try again in {wait} second{'' if wait == 1 else 's'}."
    )
    assert sample("api_rate_limited_total", limit="auth_failures") == refused_before + 3


def test_a_never_issued_key_from_a_blocked_address_is_refused_without_a_query(
    db, limits, django_assert_num_queries
):
    services.create_api_client(name="some client")  # the issued-key set is complete
    api = APIClient(REMOTE_ADDR="203.0.113.9")
    for n in range(4):
        api.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer psk_guess{n}")
    api.get("/api/v1/payments", HTTP_AUTHORIZATION="Bearer psk_warm-the-set")

    with django_assert_num_queries(0):
        refused = api.get("/api/v1/payments", HTTP_AUTHORIZATION="Bearer psk_" + "G" * 43)
        malformed = api.get("/api/v1/payments", HTTP_AUTHORIZATION="Bearer two parts")

    assert (refused.status_code, malformed.status_code) == (429, 429)


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_key_that_no_longer_works_from_a_blocked_address_is_refused(db, limits, how):
    client, raw_key = services.create_api_client(name="former")
    key = client.keys.get()
    if how == "revoked":
        services.revoke_api_key(key=key)
    else:
        services.roll_api_key(key=key, old_key_expires_at=timezone.now())
    api = APIClient(REMOTE_ADDR="203.0.113.10")
    for n in range(4):
        api.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer psk_guess{n}")

    response = api.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    assert response.status_code == 429


def test_a_valid_key_is_served_from_a_blocked_address_after_redis_lost_the_key_set(db, limits):
    from payments import rate_limits

    _, good = services.create_api_client(name="good")
    # As if Redis were new and empty: the set is rebuilt from PostgreSQL before it is believed.
    rate_limits.store().delete(*rate_limits.store().keys("payments:issued-api-keys*"))
    api = APIClient(REMOTE_ADDR="203.0.113.11")
    for n in range(4):
        api.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer psk_guess{n}")

    response = api.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {good}")

    assert response.status_code == 200


def test_the_limiter_fails_open_when_redis_is_gone(db, limits):
    limits.RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens on port 9
    _, raw_key = services.create_api_client(name="acme")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    statuses = {api.get("/api/v1/payments").status_code for _ in range(5)}

    assert statuses == {200}
    assert sample("api_rate_limit_store_errors_total") >= 5


def test_the_admin_login_locks_after_repeated_failures(db, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = 3
    django_user_model.objects.create_superuser("admin", "admin@example.com", "right-password")
    browser = Client(REMOTE_ADDR="198.51.100.4")
    lockouts_before = sample("admin_login_lockouts_total")

    wrong = [
        browser.post("/admin/login/", {"username": "admin", "password": f"wrong{n}"}).status_code
        for n in range(3)
    ]
    locked = browser.post("/admin/login/", {"username": "admin", "password": "right-password"})

    assert wrong[:2] == [200, 200]  # the form again, with an error
    assert locked.status_code == 429
    assert sample("admin_login_lockouts_total") > lockouts_before
    assert "_auth_user_id" not in browser.session


def test_failures_and_refusals_are_counted_by_reason_without_key_material(db, limits):
    _, good = services.create_api_client(name="counted")
    revoked_client, revoked = services.create_api_client(name="gone")
    services.revoke_api_key(key=revoked_client.keys.get())
    api = APIClient(REMOTE_ADDR="203.0.113.12")
    unknown_before = sample("api_auth_failures_total", reason="unknown")
    revoked_before = sample("api_auth_failures_total", reason="revoked")
    malformed_before = sample("api_auth_failures_total", reason="malformed")

    for header in ("Bearer psk_nope", f"Bearer {revoked}", "Bearer a b", "Bearer psk_nope2"):
        api.get("/api/v1/payments", HTTP_AUTHORIZATION=header)
    api.get("/api/v1/payments", HTTP_AUTHORIZATION="Bearer psk_over-the-limit")
    api.get("/api/v1/payments", HTTP_AUTHORIZATION=f"Bearer {good}")

    assert sample("api_auth_failures_total", reason="unknown") == unknown_before + 3
    assert sample("api_auth_failures_total", reason="revoked") == revoked_before + 1
    assert sample("api_auth_failures_total", reason="malformed") == malformed_before + 1
    label_values = {
        value
        for metric in process_registry().collect()
        if metric.name in {"api_auth_failures", "api_rate_limited"}
        for series in metric.samples
        for value in series.labels.values()
    }
    assert label_values <= {
        "unknown", "revoked", "expired", "malformed", "api_key", "auth_failures"
    }  # fmt: skip
