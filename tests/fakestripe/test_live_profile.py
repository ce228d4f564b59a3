"""The live profile: latency per endpoint, rate and concurrency limits, lock timeouts."""

import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import stripe

from fakestripe import profiles
from fakestripe.errors import StripeError
from fakestripe.latency import LIVE_LATENCY, EndpointClass, Lognormal, endpoint_class
from fakestripe.limits import Limiter, Limits, Reason, TokenBucket
from tests.fakestripe.conftest import Fake, running_fakestripe

PAYMENT = {"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the models, without a server -------------------------------------------------------------


def test_lognormal_draws_have_the_median_and_p99_they_were_given():
    rng = random.Random(1)
    draws = sorted(Lognormal(450, 3000).draw_seconds(rng) for _ in range(20_000))

    assert statistics.median(draws) == pytest.approx(0.450, rel=0.05)
    assert draws[int(len(draws) * 0.99)] == pytest.approx(3.0, rel=0.1)


def test_live_latency_makes_confirmations_slowest_and_reads_fastest():
    medians = {name: value.median_ms for name, value in LIVE_LATENCY.items()}

    assert medians[EndpointClass.CONFIRM] > medians[EndpointClass.WRITE]
    assert medians[EndpointClass.WRITE] > medians[EndpointClass.READ]
    assert all(value.p99_ms >= 1000 for value in LIVE_LATENCY.values() if value.median_ms > 150)


@pytest.mark.parametrize(
    ("method", "route", "confirm", "expected"),
    [
        ("POST", "payment_intents", True, EndpointClass.CONFIRM),
        ("POST", "payment_intents/:id/confirm", False, EndpointClass.CONFIRM),
        ("POST", "payment_intents", False, EndpointClass.WRITE),
        ("POST", "refunds", False, EndpointClass.WRITE),
        ("GET", "payment_intents/:id", False, EndpointClass.READ),
        ("GET", "payment_intents/search", False, EndpointClass.LIST),
        ("GET", "refunds", False, EndpointClass.LIST),
    ],
)
def test_endpoint_classes(method, route, confirm, expected):
    assert endpoint_class(method, route, confirm) == expected


def test_a_token_bucket_allows_its_burst_then_its_rate():
    clock = Clock()
    bucket = TokenBucket(rate=25, capacity=25, clock=clock)

    assert sum(bucket.take() for _ in range(30)) == 25
    clock.now += 0.2  # 5 tokens
    assert sum(bucket.take() for _ in range(30)) == 5


def _refusal(limiter: Limiter, endpoint: str, object_id: str | None = None) -> StripeError:
    with pytest.raises(StripeError) as raised:
        limiter.admit(endpoint, object_id, endpoint.split()[0])
    return raised.value


def test_the_account_bucket_counts_every_endpoint_and_the_endpoint_bucket_its_own():
    clock = Clock()
    limiter = Limiter(Limits(account_rate=4, endpoint_rate=2), clock)
    for _ in range(2):
        limiter.release(limiter.admit("POST /v1/payment_intents", None, "POST"))

    endpoint_refusal = _refusal(limiter, "POST /v1/payment_intents")
    for _ in range(2):
        limiter.release(limiter.admit("GET /v1/payment_intents/:id", "pi_1", "GET"))
    global_refusal = _refusal(limiter, "GET /v1/refunds")

    assert (endpoint_refusal.status, endpoint_refusal.error_type) == (429, "rate_limit_error")
    assert dict(endpoint_refusal.headers)["Stripe-Rate-Limited-Reason"] == Reason.ENDPOINT_RATE
    assert dict(global_refusal.headers)["Stripe-Rate-Limited-Reason"] == Reason.GLOBAL_RATE
    assert limiter.traffic()["totals"] == {
        "requests": 6,
        "rate_limited": {Reason.ENDPOINT_RATE: 1, Reason.GLOBAL_RATE: 1},
    }


def test_an_endpoint_may_have_its_own_rate():
    limiter = Limiter(Limits(endpoint_rate=25, endpoint_rates={"GET /v1/x": 1}), Clock())
    limiter.admit("GET /v1/x", None, "GET")

    assert _refusal(limiter, "GET /v1/x").status == 429
    limiter.admit("GET /v1/y", None, "GET")  # the default rate: plenty left


def test_the_concurrency_limit_counts_requests_in_flight_until_released():
    limiter = Limiter(Limits(max_concurrency=2), Clock())
    first = limiter.admit("POST /v1/refunds", None, "POST")
    limiter.admit("POST /v1/refunds", None, "POST")

    refused = _refusal(limiter, "POST /v1/refunds")
    limiter.release(first)

    assert dict(refused.headers)["Stripe-Rate-Limited-Reason"] == Reason.GLOBAL_CONCURRENCY
    limiter.admit("POST /v1/refunds", None, "POST")


def test_a_second_write_to_an_object_in_use_is_a_lock_timeout_that_says_retry():
    limiter = Limiter(Limits(object_locks=True), Clock())
    holder = limiter.admit("POST /v1/payment_intents/:id/confirm", "pi_1", "POST")
    limiter.admit("GET /v1/payment_intents/:id", "pi_1", "GET")  # reads take no lock
    limiter.admit("POST /v1/payment_intents/:id/cancel", "pi_2", "POST")  # another object

    refused = _refusal(limiter, "POST /v1/payment_intents/:id/cancel", "pi_1")
    limiter.release(holder)

    assert (refused.status, refused.code) == (429, "lock_timeout")
    assert dict(refused.headers)["Stripe-Should-Retry"] == "true"
    limiter.admit("POST /v1/payment_intents/:id/cancel", "pi_1", "POST")


def test_the_live_profile_has_stripes_published_limits_and_zero_has_none():
    live, zero = profiles.named("live"), profiles.named("zero")

    assert (live.limits.account_rate, live.limits.endpoint_rate) == (100, 25)
    assert live.limits.endpoint_rates["GET /v1/payment_intents/search"] == 20
    assert live.limits.object_locks
    assert (zero.limits.account_rate, zero.limits.endpoint_rate, zero.limits.max_concurrency) == (
        0,
        0,
        0,
    )
    assert all(value.median_ms == 0 for value in zero.latency.values())


# --- over HTTP, through stripe-python -----------------------------------------------------------


def test_a_fake_started_without_a_profile_is_live_and_flags_change_its_limits():
    with running_fakestripe(
        "--profile", "live", "--account-rate", "50", "--endpoint-rate", "5", "--latency-scale", "0"
    ) as server:
        profile = Fake(server.url).control("GET", "profile")
    with running_fakestripe() as default_server:  # the suite's default is zero
        default_profile = Fake(default_server.url).control("GET", "profile")

    assert profile["name"] == "live"
    assert (profile["limits"]["account_rate"], profile["limits"]["endpoint_rate"]) == (50, 5)
    assert profile["latency"]["confirm"] == {"median_ms": 0, "p99_ms": 0}
    assert default_profile["name"] == "zero"


def test_past_the_endpoint_rate_stripe_python_gets_429_rate_limit_naming_the_limit(
    fake: Fake, stripe_client: stripe.StripeClient
):
    fake.control(
        "POST", "profile", {"name": "live", "latency_scale": 0, "limits": {"endpoint_rate": 3}}
    )
    answers = []
    for _ in range(6):
        try:
            stripe_client.v1.payment_intents.create(params=PAYMENT)
            answers.append("ok")
        except stripe.RateLimitError as error:
            answers.append(error.headers["stripe-rate-limited-reason"])
            body = error.json_body

    traffic = fake.control("GET", "traffic")
    assert answers == ["ok"] * 3 + [Reason.ENDPOINT_RATE] * 3
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["code"] == "rate_limit"
    assert traffic["requests"] == {"POST /v1/payment_intents": 6}
    assert traffic["rate_limited"] == {"POST /v1/payment_intents": {Reason.ENDPOINT_RATE: 3}}
    assert fake.control("GET", "health")["counts"]["payment_intents"] == 3  # 429s create nothing
    assert fake.control("GET", "ledger")["traffic"]["totals"]["requests"] == 6


def test_a_refused_request_keeps_nothing_against_its_idempotency_key(fake: Fake):
    fake.control(
        "POST", "profile", {"name": "live", "latency_scale": 0, "limits": {"endpoint_rate": 1}}
    )
    client = fake.client()
    client.v1.payment_intents.create(params=PAYMENT)
    with pytest.raises(stripe.RateLimitError):
        client.v1.payment_intents.create(params=PAYMENT, options={"idempotency_key": "k1"})
    time.sleep(1.1)

    created = client.v1.payment_intents.create(params=PAYMENT, options={"idempotency_key": "k1"})

    assert created.last_response.headers.get("idempotent-replayed") is None


def test_concurrent_confirms_of_one_intent_get_a_lock_timeout_stripe_python_may_retry(fake: Fake):
    fake.control(
        "POST",
        "profile",
        {
            "name": "live",
            "latency_scale": 0,
            "latency": {"confirm": {"median_ms": 600, "p99_ms": 600}},
        },
    )
    client = fake.client()
    intent = client.v1.payment_intents.create(params=PAYMENT)

    def confirm(key: str) -> str:
        try:
            client.v1.payment_intents.confirm(intent.id, options={"idempotency_key": key})
            return "succeeded"
        except stripe.RateLimitError as error:
            assert error.headers["stripe-should-retry"] == "true"
            return str(error.json_body["error"]["code"])  # RateLimitError leaves .code unset

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(confirm, "a")
        time.sleep(0.2)
        second = pool.submit(confirm, "b")

    assert sorted([first.result(), second.result()]) == ["lock_timeout", "succeeded"]
    assert len(fake.ledger()["charges"]) == 1
    assert fake.control("GET", "traffic")["totals"]["rate_limited"] == {Reason.LOCK_TIMEOUT: 1}


def test_latency_is_drawn_per_endpoint_class_and_reset_restores_the_start_profile(fake: Fake):
    fake.control(
        "POST",
        "profile",
        {"name": "zero", "latency": {"read": {"median_ms": 300, "p99_ms": 300}}},
    )
    client = fake.client()
    started = time.monotonic()
    intent = client.v1.payment_intents.create(params=PAYMENT)
    created_in = time.monotonic() - started
    started = time.monotonic()
    client.v1.payment_intents.retrieve(intent.id)
    retrieved_in = time.monotonic() - started

    fake.control("POST", "reset")

    assert created_in < 0.2 <= 0.3 <= retrieved_in < 1.5
    assert fake.control("GET", "profile")["latency"]["read"] == {"median_ms": 0, "p99_ms": 0}
    assert fake.control("GET", "traffic")["totals"]["requests"] == 0


def test_profile_changes_are_validated(fake: Fake):
    response = requests.post(
        f"{fake.url}/_fake/profile", json={"limits": {"account_rate": -1}}, timeout=5
    )
    unknown = requests.post(f"{fake.url}/_fake/profile", json={"name": "fast"}, timeout=5)

    assert response.status_code == unknown.status_code == 400
    assert fake.control("GET", "profile")["name"] == "zero"
