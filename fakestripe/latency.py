"""How long live Stripe takes to answer, per class of endpoint: lognormal, median and p99."""

import math
import random
import threading
from dataclasses import dataclass

from .errors import JsonObject, invalid_request

# z of the 99th percentile of a standard normal: p99 = median * exp(Z99 * sigma).
Z99 = 2.3263478740408408


@dataclass(frozen=True)
class Lognormal:
    """A latency distribution given the way people quote latency: its median and its p99."""

    median_ms: float
    p99_ms: float

    def __post_init__(self) -> None:
        if self.median_ms < 0 or self.p99_ms < self.median_ms:
            raise invalid_request("latency needs 0 <= median_ms <= p99_ms")

    def draw_seconds(self, rng: random.Random) -> float:
        if self.median_ms == 0:
            return 0.0
        sigma = math.log(self.p99_ms / self.median_ms) / Z99
        return rng.lognormvariate(math.log(self.median_ms), sigma) / 1000

    def to_json(self) -> JsonObject:
        return {"median_ms": self.median_ms, "p99_ms": self.p99_ms}


class EndpointClass:
    """Which latency an endpoint gets: what it makes Stripe do, not its URL."""

    CONFIRM = "confirm"  # a card authorisation: Stripe waits for the card network
    WRITE = "write"  # creates, captures, cancels, refunds without a card network round trip
    READ = "read"  # retrieve one object
    LIST = "list"  # list and search

    ALL = (CONFIRM, WRITE, READ, LIST)


ZERO = Lognormal(0, 0)

# Live Stripe, modelled. Stripe publishes no per-endpoint latency; these figures follow what
# it and its users say in public, and are meant to be changed (flags, /_fake/profile):
# - confirm: "hundreds of milliseconds typically, seconds in the tail" (issue #20); a card
#   authorisation goes to the card network and the issuer, and 3-D Secure frictionless
#   checks add to it. Median 450 ms, p99 3 s.
# - write: a create without confirm, a cancel or a refund stays inside Stripe (plus a
#   database write with its idempotency key): median 200 ms, p99 1 s.
# - read: a retrieve by id is Stripe's fastest call: median 120 ms, p99 600 ms.
# - list: lists and Search (Search is eventually consistent and slower): median 250 ms, p99 1.5 s.
LIVE_LATENCY: dict[str, Lognormal] = {
    EndpointClass.CONFIRM: Lognormal(450, 3000),
    EndpointClass.WRITE: Lognormal(200, 1000),
    EndpointClass.READ: Lognormal(120, 600),
    EndpointClass.LIST: Lognormal(250, 1500),
}
ZERO_LATENCY: dict[str, Lognormal] = dict.fromkeys(EndpointClass.ALL, ZERO)


def endpoint_class(method: str, route: str, confirm: bool) -> str:
    """The class of `METHOD route` (route as in app.ROUTES, ids as ":id")."""
    if route.endswith("/confirm") or (route == "payment_intents" and method == "POST" and confirm):
        return EndpointClass.CONFIRM
    if method == "POST":
        return EndpointClass.WRITE
    if route.endswith(":id"):
        return EndpointClass.READ
    return EndpointClass.LIST


class LatencyModel:
    """Draws a latency per request; thread-safe so the control API can swap distributions."""

    def __init__(self, distributions: dict[str, Lognormal], seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(distributions, seed)

    def configure(self, distributions: dict[str, Lognormal], seed: int | None = None) -> None:
        with self._lock:
            self.distributions = {**ZERO_LATENCY, **distributions}
            self.seed = seed
            self._random = random.Random(seed)  # noqa: S311 - a simulation, not crypto

    def draw_seconds(self, endpoint: str) -> float:
        with self._lock:
            return self.distributions[endpoint].draw_seconds(self._random)

    def to_json(self) -> JsonObject:
        with self._lock:
            return {name: value.to_json() for name, value in self.distributions.items()}


def distributions_from_json(data: object) -> dict[str, Lognormal]:
    """`{"confirm": {"median_ms": 450, "p99_ms": 3000}, ...}`; classes left out are unchanged."""
    if not isinstance(data, dict):
        raise invalid_request("latency must be an object", param="latency")
    result = {}
    for name, value in data.items():
        if name not in EndpointClass.ALL:
            raise invalid_request(f"unknown endpoint class: {name}", param="latency")
        if not isinstance(value, dict) or set(value) != {"median_ms", "p99_ms"}:
            raise invalid_request(f"latency.{name} needs median_ms and p99_ms", param="latency")
        result[name] = Lognormal(float(value["median_ms"]), float(value["p99_ms"]))
    return result


def scaled(distributions: dict[str, Lognormal], factor: float) -> dict[str, Lognormal]:
    return {
        name: Lognormal(value.median_ms * factor, value.p99_ms * factor)
        for name, value in distributions.items()
    }
