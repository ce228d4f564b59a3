"""API keys: made once, shown once, stored only as a keyed hash (HMAC-SHA256)."""

import hashlib
import hmac
import re
import secrets

from django.conf import settings

FULL_KEY_PREFIX = "psk_"
# Restricted keys (read-only, or payments without refunds) look different, as Stripe's
# rk_ keys do, so a reader of a config file can tell what a key may do.
RESTRICTED_KEY_PREFIX = "prk_"
# What the admin and the CLI show of a key: its kind and 8 random characters.
DISPLAY_PREFIX_LENGTH = 12
# Anything shaped like one of our keys, wherever it appears (log scrubbing, tests).
KEY_PATTERN = re.compile(r"p[sr]k_[A-Za-z0-9_\-]{16,}")


def new_api_key(*, restricted: bool) -> str:
    prefix = RESTRICTED_KEY_PREFIX if restricted else FULL_KEY_PREFIX
    return prefix + secrets.token_urlsafe(32)


def display_prefix(raw_key: str) -> str:
    return raw_key[:DISPLAY_PREFIX_LENGTH]


def hash_api_key(raw_key: str) -> str:
    """HMAC-SHA256 with a server secret: the hashes alone do not confirm a guessed key.

    Keys carry 256 random bits, so a fast MAC is enough (no password-style stretching).
    """
    secret = settings.API_KEY_HASH_SECRET.encode()
    return hmac.new(secret, raw_key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def legacy_hash_api_key(raw_key: str) -> str:
    """The bare SHA-256 keys were stored under before; such rows are re-hashed on first use."""
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()
