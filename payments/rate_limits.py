"""Request counters shared by every process (Redis): per API key, and failed logins per address.

Fixed windows: one INCR and one EXPIRE per request, atomic in Redis, so concurrent
gunicorn workers and hosts count together. DRF's throttles keep a list in the cache and
rewrite it (read-modify-write), which undercounts across processes, and say nothing of
when the window ends; hence these few lines.
"""

import logging
import math
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.http import HttpRequest

from config.metrics import RATE_LIMIT_STORE_ERRORS

logger = logging.getLogger(__name__)

_KEY_PREFIX = "payments:ratelimit"
# The limiter must never be why a payment is slow: a Redis that does not answer in this
# time is skipped (the request is allowed) and counted.
_REDIS_TIMEOUT_SECONDS = 0.25


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int = 0


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=_REDIS_TIMEOUT_SECONDS, socket_connect_timeout=_REDIS_TIMEOUT_SECONDS
    )


def _window(bucket: str, window_seconds: int) -> tuple[str, int]:
    now = time.time()
    index = int(now // window_seconds)
    retry_after = max(1, math.ceil((index + 1) * window_seconds - now))
    return f"{_KEY_PREFIX}:{bucket}:{window_seconds}:{index}", retry_after


def hit(bucket: str, *, limit: int, window_seconds: int) -> Verdict:
    """Count one request in `bucket`; refused once the window holds more than `limit`."""
    key, retry_after = _window(bucket, window_seconds)
    try:
        pipeline = _redis(settings.RATE_LIMIT_REDIS_URL).pipeline()
        pipeline.incr(key)
        pipeline.expire(key, window_seconds + 1)
        count = int(pipeline.execute()[0])
    except redis.RedisError as error:
        return _fail_open(error)
    return Verdict(True) if count <= limit else Verdict(False, retry_after)


def peek(bucket: str, *, limit: int, window_seconds: int) -> Verdict:
    """Whether `bucket` is already full this window, without counting this request."""
    key, retry_after = _window(bucket, window_seconds)
    try:
        count = int(_redis(settings.RATE_LIMIT_REDIS_URL).get(key) or 0)
    except redis.RedisError as error:
        return _fail_open(error)
    return Verdict(True) if count < limit else Verdict(False, retry_after)


def _fail_open(error: redis.RedisError) -> Verdict:
    RATE_LIMIT_STORE_ERRORS.inc()
    logger.warning("rate limit store unavailable, request allowed: %s", type(error).__name__)
    return Verdict(True)


def client_address(request: HttpRequest) -> str:
    """The caller's address: the peer, or the one our TRUSTED_PROXY_COUNT proxies saw."""
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        # Each trusted proxy appends the address it saw; anything further left is the
        # client's own claim and could be forged.
        if len(forwarded) >= proxies and forwarded[-proxies]:
            return str(forwarded[-proxies])[:64]
    peer: str = request.META.get("REMOTE_ADDR") or "unknown"
    return peer[:64]
