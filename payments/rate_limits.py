"""Request counters shared by every process (Redis): per API key, failed auths per address.

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


def store() -> redis.Redis:
    """The shared Redis (RATE_LIMIT_REDIS_URL), answering within 250 ms or raising."""
    return _redis(settings.RATE_LIMIT_REDIS_URL)


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
        pipeline = store().pipeline()
        pipeline.incr(key)
        pipeline.expire(key, window_seconds + 1)
        count = int(pipeline.execute()[0])
    except redis.RedisError as error:
        return fail_open(error)
    return Verdict(True) if count <= limit else Verdict(False, retry_after)


def peek(bucket: str, *, limit: int, window_seconds: int) -> Verdict:
    """Whether `bucket` is already full this window, without counting this request."""
    key, retry_after = _window(bucket, window_seconds)
    try:
        count = int(store().get(key) or 0)
    except redis.RedisError as error:
        return fail_open(error)
    return Verdict(True) if count < limit else Verdict(False, retry_after)


def fail_open(error: redis.RedisError) -> Verdict:
    RATE_LIMIT_STORE_ERRORS.inc()
    logger.warning("rate limit store unavailable, request allowed: %s", type(error).__name__)
    return Verdict(True)
