"""Failpoints for the chaos suite: make a process die at an exact spot, never by default.

`PAYMENTS_FAILPOINTS="after_commit=0.2"` makes 20 % of the passes through
`maybe_crash("after_commit")` kill the process on the spot (as kill -9 would: no
cleanup, no response). Unset, as in every real deployment, it costs one dict lookup.
"""

import os
import random

_RATES: dict[str, float] = {
    name: float(rate)
    for name, _, rate in (
        item.partition("=") for item in os.environ.get("PAYMENTS_FAILPOINTS", "").split(",")
    )
    if name and rate
}


def maybe_crash(name: str) -> None:
    rate = _RATES.get(name)
    if rate and random.random() < rate:  # noqa: S311 - chaos, not cryptography
        os._exit(137)
