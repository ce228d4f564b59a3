"""Stripe's limiters: token buckets per account and per endpoint, concurrency, object locks.

https://docs.stripe.com/rate-limits: live mode allows 100 operations a second per account,
and each endpoint (a named operation: `POST /v1/payment_intents` and `GET
/v1/payment_intents/{id}` are two) 25 a second unless Stripe raised it; Search 20 reads a
second. Over a limit Stripe answers 429 `rate_limit`, and a concurrency limiter refuses
requests past a number in flight. Two requests that change one object at once get 429
`lock_timeout` with `Stripe-Should-Retry: true`. Each 429 names its limiter in
`Stripe-Rate-Limited-Reason`, as Stripe's do.
"""

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

from .errors import JsonObject, StripeError, invalid_request


class Reason:
    """The values of `Stripe-Rate-Limited-Reason` (and of the fake's 429 counts)."""

    GLOBAL_RATE = "global-rate"
    ENDPOINT_RATE = "endpoint-rate"
    GLOBAL_CONCURRENCY = "global-concurrency"
    LOCK_TIMEOUT = "lock-timeout"
    INJECTED = "injected"  # a 429 from /_fake/faults, not from a limiter


@dataclass(frozen=True)
class Limits:
    """Rates are per second; a bucket holds `burst_seconds` of its rate. 0 means no limit."""

    account_rate: float = 0.0
    endpoint_rate: float = 0.0
    # Endpoints with their own rate ("GET /v1/payment_intents/search": 20).
    endpoint_rates: dict[str, float] = field(default_factory=dict)
    max_concurrency: int = 0
    burst_seconds: float = 1.0
    # Concurrent writes to one object answer 429 lock_timeout.
    object_locks: bool = False
    retry_after_seconds: int = 1

    @classmethod
    def from_json(cls, data: JsonObject, base: "Limits") -> "Limits":
        """Fields given replace those of `base`; the others stay."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise invalid_request(f"Unknown limit: {unknown[0]}", param=unknown[0])
        values = dict(data)
        for name, value in values.items():
            if name == "endpoint_rates":
                if not isinstance(value, dict) or not all(
                    isinstance(rate, int | float) and rate >= 0 for rate in value.values()
                ):
                    raise invalid_request("endpoint_rates maps endpoints to rates", param=name)
            elif name == "object_locks":
                if not isinstance(value, bool):
                    raise invalid_request("object_locks must be true or false", param=name)
            elif not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise invalid_request(f"{name} must be a non-negative number", param=name)
        return replace(base, **values)

    def to_json(self) -> JsonObject:
        return {f.name: getattr(self, f.name) for f in fields(self)}


NO_LIMITS = Limits()
LIVE_LIMITS = Limits(
    account_rate=100,
    endpoint_rate=25,
    endpoint_rates={"GET /v1/payment_intents/search": 20, "GET /v1/charges/search": 20},
    # Stripe publishes no number for its concurrency limiter; its support answers speak of
    # "100 parallel requests" in live mode (support.stripe.com, rate-limit-error-when-
    # creating-bulk-api-requests).
    max_concurrency=100,
    object_locks=True,
)


class TokenBucket:
    """`rate` tokens a second up to `capacity`; takes one or says no (the clock is injectable)."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._at = clock()

    def has_token(self) -> bool:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens >= 1

    def take(self) -> bool:
        if not self.has_token():
            return False
        self._tokens -= 1
        return True


@dataclass
class Admission:
    """A request let through: give it back with `Limiter.release` when it has answered."""

    endpoint: str
    locked_object: str | None


class Limiter:
    """Decides, before a request executes, whether Stripe would refuse it with a 429."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.requests: Counter[str] = Counter()
        self.refused: Counter[tuple[str, str]] = Counter()
        self.configure(limits)

    def configure(self, limits: Limits) -> None:
        with self._lock:
            self.limits = limits
            capacity = max(1.0, limits.account_rate * limits.burst_seconds)
            self._account = TokenBucket(limits.account_rate, capacity, self._clock)
            self._endpoints: dict[str, TokenBucket] = {}
            self._in_flight = 0
            self._locked_objects: set[str] = set()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.refused.clear()

    def admit(self, endpoint: str, object_id: str | None, method: str) -> Admission:
        """Count the request and let it in, or raise the 429 Stripe would answer."""
        with self._lock:
            self.requests[endpoint] += 1
            limits = self.limits
            if limits.max_concurrency and self._in_flight >= limits.max_concurrency:
                raise self._refuse(endpoint, Reason.GLOBAL_CONCURRENCY)
            # A refused request spends no token of either bucket.
            if limits.account_rate and not self._account.has_token():
                raise self._refuse(endpoint, Reason.GLOBAL_RATE)
            rate = limits.endpoint_rates.get(endpoint, limits.endpoint_rate)
            bucket = self._endpoint_bucket(endpoint, rate) if rate else None
            if bucket is not None and not bucket.has_token():
                raise self._refuse(endpoint, Reason.ENDPOINT_RATE)
            locked = None
            if limits.object_locks and method == "POST" and object_id is not None:
                if object_id in self._locked_objects:
                    self.refused[endpoint, Reason.LOCK_TIMEOUT] += 1
                    raise lock_timeout(object_id)
                self._locked_objects.add(object_id)
                locked = object_id
            if limits.account_rate:
                self._account.take()
            if bucket is not None:
                bucket.take()
            self._in_flight += 1
            return Admission(endpoint, locked)

    def release(self, admission: Admission) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if admission.locked_object is not None:
                self._locked_objects.discard(admission.locked_object)

    def count_injected(self, endpoint: str) -> None:
        with self._lock:
            self.refused[endpoint, Reason.INJECTED] += 1

    def traffic(self) -> JsonObject:
        """Requests and 429s by endpoint (and reason), since the start or the last reset."""
        with self._lock:
            rate_limited: dict[str, dict[str, int]] = {}
            for (endpoint, reason), count in sorted(self.refused.items()):
                rate_limited.setdefault(endpoint, {})[reason] = count
            by_reason: Counter[str] = Counter()
            for (_, reason), count in self.refused.items():
                by_reason[reason] += count
            return {
                "requests": dict(sorted(self.requests.items())),
                "rate_limited": rate_limited,
                "totals": {
                    "requests": sum(self.requests.values()),
                    "rate_limited": dict(sorted(by_reason.items())),
                },
                "in_flight": self._in_flight,
            }

    def _endpoint_bucket(self, endpoint: str, rate: float) -> TokenBucket:
        bucket = self._endpoints.get(endpoint)
        if bucket is None:
            capacity = max(1.0, rate * self.limits.burst_seconds)
            bucket = self._endpoints[endpoint] = TokenBucket(rate, capacity, self._clock)
        return bucket

    def _refuse(self, endpoint: str, reason: str) -> StripeError:
        self.refused[endpoint, reason] += 1
        return rate_limit_error(reason, self.limits.retry_after_seconds)


def rate_limit_error(reason: str, retry_after_seconds: int) -> StripeError:
    """The 429 of a rate or concurrency limiter: https://docs.stripe.com/rate-limits."""
    return StripeError(
        429,
        "rate_limit_error",
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        headers=(
            ("Retry-After", str(retry_after_seconds)),
            ("Stripe-Rate-Limited-Reason", reason),
        ),
    )


def lock_timeout(object_id: str) -> StripeError:
    """Another request holds the object; Stripe tells clients to retry this one.

    stripe-python retries a 429 only when `Stripe-Should-Retry: true` says so, which Stripe
    sends for lock timeouts (stripe-ruby #841, stripe-php #718: "Retry requests on a 429
    that's a lock timeout").
    """
    return StripeError(
        429,
        "invalid_request_error",
        f"This object cannot be accessed right now because another API request or Stripe "
        f"process is currently accessing it. If you see this error intermittently, retry the "
        f"request. If you see this error frequently and are making multiple concurrent "
        f"requests to a single object, make your requests serially or at a lower rate. "
        f"({object_id})",
        code="lock_timeout",
        headers=(
            ("Stripe-Should-Retry", "true"),
            ("Stripe-Rate-Limited-Reason", Reason.LOCK_TIMEOUT),
        ),
    )
