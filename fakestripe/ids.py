"""Stripe-looking object ids (`pi_3Nx...`) and the clock objects are stamped with."""

import hashlib
import os
import random
import string
import time

_ALPHABET = string.ascii_letters + string.digits
# Random bytes → letters and digits in one C call (bulk seeding makes 400,000 ids). The
# alphabet does not divide 256, so 8 characters come up 5/4 as often: still ~140 bits.
_BYTE_TO_CHARACTER = bytes((_ALPHABET * 5)[:256], "ascii")
# Not for secrets: ids only need to be unique, and seeding from os.urandom keeps
# restarted servers from reusing ids that a journal already holds.
_random = random.Random(os.urandom(16))  # noqa: S311


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + _random.randbytes(length).translate(_BYTE_TO_CHARACTER).decode("ascii")


def now() -> int:
    """Unix seconds, as in Stripe's `created` fields."""
    return int(time.time())


def hash_api_key(api_key: str) -> str:
    """What the ledger records instead of the key itself."""
    return hashlib.sha256(api_key.encode()).hexdigest()
