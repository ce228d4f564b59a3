"""The hashes of every API key ever issued, in Redis: refuse a never-issued key without a query.

An address past its failed-authentication limit must still be served with a valid key,
and refused cheaply with anything else. This set tells the two apart without PostgreSQL:
a key whose hash is not in it was never issued, so it cannot authenticate. It is a
superset (keys are added when made and never removed), so a revoked or expired key still
costs its one indexed lookup, which refuses it. PostgreSQL stays the truth: the set is
rebuilt from the table whenever its completeness mark has lapsed (a wiped or new Redis,
or an add lost while Redis was away), at most once per _COMPLETE_FOR_SECONDS.
"""

import redis

from payments import rate_limits
from payments.api_keys import hash_api_key, legacy_hash_api_key
from payments.models import ApiKey

_MEMBERS = "payments:issued-api-keys"
_COMPLETE = "payments:issued-api-keys:complete"
# Bounds how long a key made while Redis was unreachable can be missing from the set.
_COMPLETE_FOR_SECONDS = 300


def remember(key_hash: str) -> None:
    """Add a newly stored key hash; called with every key made or re-hashed."""
    try:
        rate_limits.store().sadd(_MEMBERS, key_hash)
    except redis.RedisError as error:
        rate_limits.fail_open(error)


def may_be_valid(raw_key: str) -> bool:
    """False only for a key that was never issued; True when in doubt (Redis away)."""
    hashes = [hash_api_key(raw_key), legacy_hash_api_key(raw_key)]
    try:
        store = rate_limits.store()
        if not store.exists(_COMPLETE):
            _rebuild(store)
        return any(store.smismember(_MEMBERS, hashes))
    except redis.RedisError as error:
        rate_limits.fail_open(error)
        return True


def _rebuild(store: redis.Redis) -> None:
    # Adds only: a key made while this runs adds itself, and nothing valid is ever removed.
    hashes = list(ApiKey.objects.values_list("key_hash", flat=True).iterator(chunk_size=2000))
    pipeline = store.pipeline()
    for start in range(0, len(hashes), 2000):
        pipeline.sadd(_MEMBERS, *hashes[start : start + 2000])
    pipeline.set(_COMPLETE, 1, ex=_COMPLETE_FOR_SECONDS)
    pipeline.execute()
