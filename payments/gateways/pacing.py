"""One budget of gateway calls for the whole fleet: token buckets in Redis every worker shares.

Celery's `rate_limit` is per worker process (celery/celery#5732): ten processes at 20/s
make 200/s against a provider that allows 100. Here every paced call first takes a token
from buckets in one Redis, in one Lua script (atomic, one round trip): the fleet's total,
the call's class (charges, refunds, reads), and a lease among the calls in flight. Charges
may not take the total's last `reserve` tokens, which stay for refunds and reads; calls
made by operators (admin, commands) are not paced and use what the total leaves below
the provider's limit. A 429 from the provider pauses the class (or everything) for the
whole fleet, longer each time it recurs.

Written by hand rather than with `limits` or `pyrate-limiter`: they check one limit per
call (a class token could be spent and the total then refuse) and have no leased
in-flight cap; the script below is Redis's documented token bucket done for three limits
at once. Redis time (`TIME`) is the clock, so hosts with skewed clocks share one bucket.
"""

import hashlib
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar

import redis
from django.conf import settings

from config.metrics import STRIPE_PACING_STORE_ERRORS, STRIPE_TOKEN_DEFERRALS, STRIPE_TOKEN_WAIT
from payments.gateways.base import (
    CreateIntent,
    CreateRefund,
    GatewayEvent,
    GatewayThrottled,
    IntentResult,
    Page,
    PaymentGateway,
    RefundResult,
    ThrottleReason,
)

logger = logging.getLogger(__name__)

Result = TypeVar("Result")

_KEY_PREFIX = "payments:pacing"
# The pacer must never be why nothing is charged: a Redis that does not answer in this
# time is skipped (the call goes ahead, the provider's own limit still protects it).
_REDIS_TIMEOUT_SECONDS = 0.25


class CallClass(StrEnum):
    """What a call does at the provider; each class has its own bucket."""

    CHARGE = "charge"  # create, confirm, cancel an intent
    REFUND = "refund"
    READ = "read"  # retrieve, search, list


@dataclass(frozen=True)
class Budget:
    """The fleet's share of the provider's limits (settings STRIPE_PACE_*)."""

    total_per_second: float
    per_class: Mapping[CallClass, float]
    # Tokens of the total bucket a charge may not take: kept for refunds and reads.
    charge_reserve: float
    max_in_flight: int
    burst_seconds: float
    # A permit held by a process that died is returned after this long.
    lease_seconds: float

    @classmethod
    def from_settings(cls) -> "Budget":
        return cls(
            total_per_second=settings.STRIPE_PACE_TOTAL_PER_SECOND,
            per_class={
                CallClass.CHARGE: settings.STRIPE_PACE_CHARGES_PER_SECOND,
                CallClass.REFUND: settings.STRIPE_PACE_REFUNDS_PER_SECOND,
                CallClass.READ: settings.STRIPE_PACE_READS_PER_SECOND,
            },
            charge_reserve=settings.STRIPE_PACE_CHARGE_RESERVE,
            max_in_flight=settings.STRIPE_PACE_MAX_IN_FLIGHT,
            burst_seconds=settings.STRIPE_PACE_BURST_SECONDS,
            lease_seconds=settings.STRIPE_PACE_PERMIT_LEASE_SECONDS,
        )


# KEYS: total bucket, class bucket, in-flight set, pause of everything, pause of the class.
# ARGV: total rate, class rate, burst seconds, reserve, max in flight, lease, permit id.
# Returns {1, permit} or {0, seconds to wait (string), what refused}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local total_rate, class_rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local burst, reserve = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_in_flight, lease = tonumber(ARGV[5]), tonumber(ARGV[6])
local paused = math.max(tonumber(redis.call('GET', KEYS[4]) or '0'),
                        tonumber(redis.call('GET', KEYS[5]) or '0'))
if paused > now then return {0, tostring(paused - now), 'paused'} end
if max_in_flight > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= max_in_flight then
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    return {0, tostring(math.min(0.05, tonumber(first[2]) - now)), 'in_flight'}
  end
end
local function refill(key, rate)
  local capacity = math.max(1, rate * burst)
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  return math.min(capacity, tokens + math.max(0, now - at) * rate)
end
local total, class = nil, nil
if total_rate > 0 then
  total = refill(KEYS[1], total_rate)
  if total < 1 + reserve then
    return {0, tostring((1 + reserve - total) / total_rate), 'total'}
  end
end
if class_rate > 0 then
  class = refill(KEYS[2], class_rate)
  if class < 1 then return {0, tostring((1 - class) / class_rate), 'class'} end
end
local keep = math.ceil(burst * 2 + 60)
if total then
  redis.call('HSET', KEYS[1], 'tokens', total - 1, 'at', now)
  redis.call('EXPIRE', KEYS[1], keep)
end
if class then
  redis.call('HSET', KEYS[2], 'tokens', class - 1, 'at', now)
  redis.call('EXPIRE', KEYS[2], keep)
end
if max_in_flight > 0 then
  redis.call('ZADD', KEYS[3], now + lease, ARGV[7])
  redis.call('EXPIRE', KEYS[3], math.ceil(lease) + 60)
end
return {1, ARGV[7]}
"""


@dataclass(frozen=True)
class Refusal:
    wait_seconds: float
    refused_by: str


class Pacer:
    """Takes and returns tokens for one call class at a time; shared through Redis."""

    def __init__(self, client: "redis.Redis", budget: Budget, *, prefix: str = _KEY_PREFIX) -> None:
        self._redis = client
        self._budget = budget
        self._prefix = prefix
        self._take = client.register_script(_TAKE)

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def try_take(self, call_class: CallClass) -> str | Refusal:
        """A permit id, or how long until one may be had and which limit refused."""
        budget = self._budget
        reserve = budget.charge_reserve if call_class == CallClass.CHARGE else 0
        answer = self._take(
            keys=[
                self._key("total"),
                self._key("class", call_class),
                self._key("in_flight"),
                self._key("pause", "all"),
                self._key("pause", call_class),
            ],
            args=[
                budget.total_per_second,
                budget.per_class.get(call_class, 0),
                budget.burst_seconds,
                reserve,
                budget.max_in_flight,
                budget.lease_seconds,
                uuid.uuid4().hex,
            ],
        )
        if int(answer[0]) == 1:
            return _text(answer[1])
        return Refusal(float(_text(answer[1])), _text(answer[2]))

    def give_back(self, permit: str) -> None:
        self._redis.zrem(self._key("in_flight"), permit)

    def pause(self, call_class: CallClass | None, base_seconds: float) -> float:
        """Hold a class (None: every class) back fleet-wide, doubling while 429s recur."""
        scope = call_class or "all"
        level_key = self._key("pause_level", scope)
        level = int(self._redis.incr(level_key))
        ceiling = float(settings.STRIPE_RATE_LIMITED_MAX_PAUSE_SECONDS)
        seconds = min(base_seconds * 2.0 ** (level - 1), ceiling)
        # The level decays once the provider has stopped refusing for a while.
        self._redis.expire(level_key, math.ceil(seconds * 4) + 1)
        server_seconds, micros = self._redis.time()
        until = server_seconds + micros / 1_000_000 + seconds
        self._redis.set(self._key("pause", scope), f"{until:.6f}", px=math.ceil(seconds * 1000) + 1)
        return seconds


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@cache
def _redis(url: str) -> "redis.Redis":
    return redis.Redis.from_url(
        url, socket_timeout=_REDIS_TIMEOUT_SECONDS, socket_connect_timeout=_REDIS_TIMEOUT_SECONDS
    )


def pacer_from_settings() -> Pacer:
    return Pacer(
        _redis(settings.STRIPE_PACING_REDIS_URL), Budget.from_settings(), prefix=_account_prefix()
    )


def _account_prefix() -> str:
    # The budget is the Stripe account's: deployments (or test stacks) that share a Redis
    # but charge through other accounts or servers get buckets of their own. Hashed: the
    # key never appears in Redis (I6).
    account = f"{settings.STRIPE_API_BASE} {settings.STRIPE_API_KEY}".encode()
    return f"{_KEY_PREFIX}:{hashlib.sha256(account).hexdigest()[:16]}"


def deferral_seconds(wait_seconds: float, rng: random.Random | None = None) -> float:
    """How long a task that got no token stays away: the wait, spread so a crowd does not
    return at one instant, never under the minimum and never past the broker's patience."""
    floor = settings.STRIPE_PACE_MIN_DEFERRAL_SECONDS
    base = max(wait_seconds, floor)
    spread = (rng or _RANDOM).uniform(base, base * 2)
    return float(min(spread, settings.STRIPE_PACE_MAX_DEFERRAL_SECONDS))


_RANDOM = random.SystemRandom()

# Provider 429s that mean "the whole account", not only this class.
_ACCOUNT_WIDE = (ThrottleReason.GLOBAL_RATE, ThrottleReason.GLOBAL_CONCURRENCY)


class PacedGateway:
    """A PaymentGateway whose every call first takes a token from the fleet's budget.

    No token within STRIPE_PACE_MAX_WAIT_SECONDS raises GatewayThrottled before anything is
    sent, so the task can give its worker slot back (config/retries.defer) instead of
    sleeping in it. A provider 429 pauses the fleet and is raised the same way.
    """

    def __init__(
        self,
        inner: PaymentGateway,
        pacer: Pacer,
        *,
        max_wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._pacer = pacer
        self._max_wait_seconds = max_wait_seconds
        self._clock = clock
        self._sleep = sleep

    @contextmanager
    def _paced(self, call_class: CallClass) -> Iterator[None]:
        permit = self._permit(call_class)
        try:
            yield
        except GatewayThrottled as throttled:
            self._slow_the_fleet(call_class, throttled)
            raise
        finally:
            if permit is not None:
                self._give_back(permit)

    def _permit(self, call_class: CallClass) -> str | None:
        started = self._clock()
        deadline = started + self._max_wait_seconds
        while True:
            try:
                taken = self._pacer.try_take(call_class)
            except redis.RedisError as error:
                STRIPE_PACING_STORE_ERRORS.inc()
                logger.warning("gateway pacing skipped, Redis did not answer: %s", error)
                return None
            if isinstance(taken, str):
                STRIPE_TOKEN_WAIT.labels(call_class=call_class).observe(self._clock() - started)
                return taken
            now = self._clock()
            if now + taken.wait_seconds > deadline:
                STRIPE_TOKEN_WAIT.labels(call_class=call_class).observe(now - started)
                STRIPE_TOKEN_DEFERRALS.labels(call_class=call_class, reason=taken.refused_by).inc()
                raise GatewayThrottled(
                    f"no {call_class} token for {taken.wait_seconds:.3f} s ({taken.refused_by})",
                    wait_seconds=taken.wait_seconds,
                    reason=ThrottleReason.PACER,
                    sent=False,
                )
            self._sleep(max(taken.wait_seconds, 0.001))

    def _give_back(self, permit: str) -> None:
        try:
            self._pacer.give_back(permit)
        except redis.RedisError:
            STRIPE_PACING_STORE_ERRORS.inc()  # the lease expires it

    def _slow_the_fleet(self, call_class: CallClass, throttled: GatewayThrottled) -> None:
        if not throttled.sent or throttled.should_retry:
            # Our own pacer, or a lock on one object (Stripe-Should-Retry): not the rate.
            return
        scope = None if throttled.reason in _ACCOUNT_WIDE else call_class
        try:
            paused = self._pacer.pause(scope, max(throttled.wait_seconds, 0.5))
        except redis.RedisError:
            STRIPE_PACING_STORE_ERRORS.inc()
            return
        throttled.wait_seconds = max(throttled.wait_seconds, paused)

    def _call(self, call_class: CallClass, call: Callable[[], Result]) -> Result:
        with self._paced(call_class):
            return call()

    def create_intent(self, request: CreateIntent) -> IntentResult:
        return self._call(CallClass.CHARGE, lambda: self._inner.create_intent(request))

    def confirm_intent(
        self, intent_id: str, *, idempotency_key: str, payment_id: str
    ) -> IntentResult:
        return self._call(
            CallClass.CHARGE,
            lambda: self._inner.confirm_intent(
                intent_id, idempotency_key=idempotency_key, payment_id=payment_id
            ),
        )

    def retrieve_intent(self, intent_id: str) -> IntentResult:
        return self._call(CallClass.READ, lambda: self._inner.retrieve_intent(intent_id))

    def cancel_intent(
        self, intent_id: str, *, idempotency_key: str, payment_id: str
    ) -> IntentResult:
        return self._call(
            CallClass.CHARGE,
            lambda: self._inner.cancel_intent(
                intent_id, idempotency_key=idempotency_key, payment_id=payment_id
            ),
        )

    def find_intent_by_payment_id(self, payment_id: str) -> IntentResult | None:
        return self._call(CallClass.READ, lambda: self._inner.find_intent_by_payment_id(payment_id))

    def create_refund(self, request: CreateRefund) -> RefundResult:
        return self._call(CallClass.REFUND, lambda: self._inner.create_refund(request))

    def retrieve_refund(self, refund_id: str) -> RefundResult:
        return self._call(CallClass.READ, lambda: self._inner.retrieve_refund(refund_id))

    def refunds_of_intent(self, payment_intent_id: str) -> list[RefundResult]:
        return self._call(CallClass.READ, lambda: self._inner.refunds_of_intent(payment_intent_id))

    def intents_page(
        self, *, created_since: int | None = None, starting_after: str | None = None
    ) -> Page[IntentResult]:
        return self._call(
            CallClass.READ,
            lambda: self._inner.intents_page(
                created_since=created_since, starting_after=starting_after
            ),
        )

    def refunds_page(
        self, *, created_since: int | None = None, starting_after: str | None = None
    ) -> Page[RefundResult]:
        return self._call(
            CallClass.READ,
            lambda: self._inner.refunds_page(
                created_since=created_since, starting_after=starting_after
            ),
        )

    def parse_event(self, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        return self._inner.parse_event(body, headers)  # no call to the provider

    def read_stored_event(self, payload: dict[str, Any]) -> GatewayEvent:
        return self._inner.read_stored_event(payload)
