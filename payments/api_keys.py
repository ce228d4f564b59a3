"""API keys: made once, shown once, stored only as a hash."""

import hashlib
import secrets

KEY_PREFIX = "psk_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(raw_key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: there is no dictionary to try.
    return hashlib.sha256(raw_key.encode()).hexdigest()
