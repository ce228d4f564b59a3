"""The fleet's Stripe budget: shared Redis buckets, reserve, in-flight cap, pauses after 429s."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
import requests

from config.metrics import STRIPE_RATE_LIMITED
from payments import services
from payments.gateways.base import (
    ChargeState,
    CreateIntent,
    GatewayThrottled,
    GatewayUnavailable,
    IntentResult,
    ThrottleReason,
)
from payments.gateways.pacing import Budget, CallClass, PacedGateway, Pacer, Refusal
from payments.models import Payment
from tests.factories import PaymentFactory


def budget(**overrides: Any) -> Budget:
    values: dict[str, Any] = {
        "total_per_second": 0,
        "per_class": {},
        "charge_reserve": 0,
        "max_in_flight": 0,
        "burst_seconds": 1.0,
        "lease_seconds": 30,
    }
    values.update(overrides)
    return Budget(**values)


@pytest.fixture
def make_pacer(private_broker):
    """Pacers as separate worker processes would have them: own clients, one Redis."""
    prefix = f"test:pacing:{uuid.uuid4().hex}"

    def make(shared_budget: Budget, fleet: str = "") -> Pacer:
        client = redis.Redis.from_url(private_broker)
        return Pacer(client, shared_budget, prefix=f"{prefix}{fleet}")

    return make


def takes(pacer: Pacer, call_class: CallClass, times: int) -> list[str]:
    answers = []
    for _ in range(times):
        taken = pacer.try_take(call_class)
        answers.append("ok" if isinstance(taken, str) else taken.refused_by)
    return answers


def test_two_processes_share_one_class_bucket(make_pacer):
    shared = budget(total_per_second=100, per_class={CallClass.CHARGE: 5})
    first, second = make_pacer(shared), make_pacer(shared)

    answers = [takes(pacer, CallClass.CHARGE, 1)[0] for pacer in (first, second) * 4]
    refusal = second.try_take(CallClass.CHARGE)

    assert answers == ["ok"] * 5 + ["class"] * 3
    assert isinstance(refusal, Refusal)
    assert 0 < refusal.wait_seconds <= 0.2  # one token every 1/5 s


def test_charges_leave_the_reserve_of_the_total_to_refunds_and_reads(make_pacer):
    pacer = make_pacer(budget(total_per_second=10, charge_reserve=4))

    assert takes(pacer, CallClass.CHARGE, 7) == ["ok"] * 6 + ["total"]
    assert takes(pacer, CallClass.REFUND, 2) + takes(pacer, CallClass.READ, 3) == (
        ["ok"] * 4 + ["total"]
    )


def test_calls_in_flight_are_capped_and_a_dead_processs_permit_expires(make_pacer):
    pacer = make_pacer(budget(max_in_flight=2, lease_seconds=0.3))
    held = pacer.try_take(CallClass.READ)
    assert isinstance(held, str)
    assert isinstance(pacer.try_take(CallClass.READ), str)  # this one's holder "dies"

    assert takes(pacer, CallClass.CHARGE, 1) == ["in_flight"]
    pacer.give_back(held)
    assert takes(pacer, CallClass.CHARGE, 1) == ["ok"]
    assert takes(pacer, CallClass.CHARGE, 1) == ["in_flight"]
    time.sleep(0.4)  # both unreturned leases run out
    assert takes(pacer, CallClass.CHARGE, 2) == ["ok", "ok"]


def test_a_pause_holds_the_class_back_fleet_wide_and_doubles_while_429s_recur(make_pacer):
    first, second = make_pacer(budget()), make_pacer(budget())

    assert first.pause(CallClass.CHARGE, 0.3) == pytest.approx(0.3)
    assert takes(second, CallClass.CHARGE, 1) == ["paused"]
    assert takes(second, CallClass.REFUND, 1) == ["ok"]
    assert second.pause(CallClass.CHARGE, 0.3) == pytest.approx(0.6)
    assert first.pause(None, 0.2) == pytest.approx(0.2)
    assert takes(second, CallClass.REFUND, 1) == ["paused"]


class CountingGateway:
    """Stands in for the Stripe gateway: counts calls, or raises what it is told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls = 0
        self.error = error

    def retrieve_intent(self, intent_id: str) -> IntentResult:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return IntentResult(intent_id, ChargeState.SUCCEEDED, 100, "usd")


def paced(inner: Any, pacer: Pacer, max_wait: float = 0.25) -> PacedGateway:
    return PacedGateway(inner, pacer, max_wait_seconds=max_wait)


def test_a_short_wait_is_waited_and_a_long_one_gives_the_slot_back_unsent(make_pacer):
    pacer = make_pacer(budget(per_class={CallClass.READ: 10}, burst_seconds=0.1))
    inner = CountingGateway()
    gateway = paced(inner, pacer)

    started = time.monotonic()
    gateway.retrieve_intent("pi_1")
    gateway.retrieve_intent("pi_1")  # the next token comes 0.1 s later: waited for
    waited = time.monotonic() - started
    slow_budget = budget(per_class={CallClass.READ: 1}, burst_seconds=1)
    slow = paced(inner, make_pacer(slow_budget, fleet="slow"))
    slow.retrieve_intent("pi_1")
    with pytest.raises(GatewayThrottled) as throttled:
        slow.retrieve_intent("pi_1")

    assert 0.08 <= waited < 0.25
    assert inner.calls == 3  # the refused call never reached the gateway
    assert (throttled.value.sent, throttled.value.reason) == (False, ThrottleReason.PACER)
    assert 0.5 < throttled.value.wait_seconds <= 1.0


def test_a_rate_limit_429_pauses_the_fleet_and_a_lock_timeout_does_not(make_pacer):
    shared = budget()
    rate_limited = GatewayThrottled(
        "429", wait_seconds=0.3, reason=ThrottleReason.ENDPOINT_RATE, sent=True
    )
    with pytest.raises(GatewayThrottled):
        paced(CountingGateway(rate_limited), make_pacer(shared)).retrieve_intent("pi_1")
    other_process = paced(CountingGateway(), make_pacer(shared), max_wait=0)

    with pytest.raises(GatewayThrottled) as held_back:
        other_process.retrieve_intent("pi_1")
    time.sleep(0.55)
    locked = GatewayThrottled(
        "429", wait_seconds=0.25, reason=ThrottleReason.LOCK_TIMEOUT, sent=True, should_retry=True
    )
    with pytest.raises(GatewayThrottled):
        paced(CountingGateway(locked), make_pacer(shared)).retrieve_intent("pi_1")
    other_process.retrieve_intent("pi_1")  # no pause after a lock timeout

    assert held_back.value.sent is False
    # The task stays away at least as long as the fleet's pause (0.5 s at the least).
    assert rate_limited.wait_seconds == pytest.approx(0.5)


def test_without_redis_the_pacer_steps_aside(private_broker):
    unreachable = Pacer(
        redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2), budget()
    )
    inner = CountingGateway()

    paced(inner, unreachable).retrieve_intent("pi_1")

    assert inner.calls == 1


# --- Stripe's 429s through the real gateway and the fake ----------------------------------


@pytest.fixture
def stripe_profile(fake_stripe_url):
    def use(profile: dict[str, Any]) -> None:
        requests.post(
            f"{fake_stripe_url}/_fake/profile", json=profile, timeout=5
        ).raise_for_status()

    yield use
    use({"name": "zero"})


def test_stripe_429s_become_throttled_with_the_limit_named_and_counted(gateway, stripe_profile):
    intent = gateway.create_intent(
        CreateIntent(amount=500, currency="usd", payment_method="pm_card_visa", idempotency_key="")
    )
    stripe_profile({"name": "live", "latency_scale": 0, "limits": {"endpoint_rate": 1}})
    before = STRIPE_RATE_LIMITED.labels(
        endpoint="payment_intents.retrieve", reason="endpoint_rate"
    )._value.get()
    gateway.retrieve_intent(intent.intent_id)

    with pytest.raises(GatewayThrottled) as throttled:
        gateway.retrieve_intent(intent.intent_id)

    assert throttled.value.reason == ThrottleReason.ENDPOINT_RATE
    assert (throttled.value.sent, throttled.value.should_retry) == (True, False)
    assert throttled.value.wait_seconds == 1.0  # Retry-After
    assert not isinstance(throttled.value, GatewayUnavailable)  # not a failure to retry
    after = STRIPE_RATE_LIMITED.labels(
        endpoint="payment_intents.retrieve", reason="endpoint_rate"
    )._value.get()
    assert after - before == 1


def test_a_lock_timeout_becomes_throttled_with_stripes_word_to_retry(gateway, stripe_profile):
    intent = gateway.create_intent(
        CreateIntent(amount=500, currency="usd", payment_method="pm_card_visa", idempotency_key="")
    )
    slow_confirm = {"confirm": {"median_ms": 600, "p99_ms": 600}}
    stripe_profile({"name": "live", "latency_scale": 0, "latency": slow_confirm})

    def confirm(key: str) -> str:
        try:
            gateway.confirm_intent(intent.intent_id, idempotency_key=key, payment_id="p")
        except GatewayThrottled as throttled:
            assert (throttled.sent, throttled.should_retry) == (True, True)
            assert throttled.wait_seconds == 0.25
            return str(throttled.reason)
        return "confirmed"

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(confirm, "k-a")
        time.sleep(0.2)
        second = pool.submit(confirm, "k-b")

    assert sorted([first.result(), second.result()]) == ["confirmed", "lock_timeout"]


def test_a_throttled_charge_charges_nothing_and_does_not_count_as_an_attempt(
    db, gateway, fake_stripe_url, stripe_profile
):
    payment = PaymentFactory()
    # A fresh account bucket of one token, which a list spends.
    stripe_profile({"name": "live", "latency_scale": 0, "limits": {"account_rate": 0.001}})
    gateway._client.v1.payment_intents.list()

    with pytest.raises(GatewayThrottled):
        services.charge_payment(str(payment.id), gateway)

    payment.refresh_from_db()
    assert (payment.status, payment.charge_attempts) == ("processing", 0)
    traffic = requests.get(f"{fake_stripe_url}/_fake/traffic", timeout=5).json()
    assert traffic["rate_limited"]["POST /v1/payment_intents"] == {"global-rate": 1}
    stripe_profile({"name": "zero"})
    assert intents_of(gateway, str(payment.id)) == 0

    assert services.charge_payment(str(payment.id), gateway) == "succeeded"
    assert Payment.objects.get(pk=payment.pk).charge_attempts == 1


def intents_of(gateway: Any, payment_id: str) -> int:
    found = gateway._client.v1.payment_intents.search(
        params={"query": f"metadata['payment_id']:'{payment_id}'"}
    )
    return len(found.data)


def test_a_throttled_refund_refunds_nothing_and_does_not_count_as_an_attempt(
    db, gateway, fake_stripe_url, stripe_profile
):
    payment = PaymentFactory(amount=1_000)
    assert services.charge_payment(str(payment.id), gateway) == "succeeded"
    refund = services.request_refund(
        payment_id=payment.pk, amount=300, idempotency_key="r-1", requested_by="api:shop"
    )
    stripe_profile({"name": "live", "latency_scale": 0, "limits": {"account_rate": 0.001}})
    gateway._client.v1.payment_intents.list()  # spends the account's one token

    with pytest.raises(GatewayThrottled):
        services.execute_refund(str(refund.pk), gateway)

    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == ("pending", 0)
    stripe_profile({"name": "zero"})
    assert services.execute_refund(str(refund.pk), gateway) == "succeeded"
    refunds = requests.get(
        f"{fake_stripe_url}/_fake/ledger",
        params={"payment_intent": payment.stripe_payment_intent_id},
        timeout=5,
    ).json()["refunds"]
    assert len(refunds) == 1
