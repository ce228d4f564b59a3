"""Named starting points for latency and limits: `live` models Stripe, `zero` answers at once."""

from dataclasses import dataclass, field, replace

from .errors import JsonObject, invalid_request
from .latency import LIVE_LATENCY, ZERO_LATENCY, Lognormal, distributions_from_json, scaled
from .limits import LIVE_LIMITS, NO_LIMITS, Limits

LIVE = "live"
ZERO = "zero"
NAMES = (LIVE, ZERO)


@dataclass(frozen=True)
class Profile:
    name: str
    latency: dict[str, Lognormal] = field(default_factory=dict)
    limits: Limits = NO_LIMITS
    seed: int | None = None

    def to_json(self) -> JsonObject:
        return {
            "name": self.name,
            "latency": {name: value.to_json() for name, value in self.latency.items()},
            "limits": self.limits.to_json(),
            "seed": self.seed,
        }


def named(name: str) -> Profile:
    if name == LIVE:
        return Profile(LIVE, dict(LIVE_LATENCY), LIVE_LIMITS)
    if name == ZERO:
        return Profile(ZERO, dict(ZERO_LATENCY), NO_LIMITS)
    raise invalid_request(f"profile must be one of {', '.join(NAMES)}", param="name")


def from_json(data: JsonObject, current: Profile) -> Profile:
    """`{"name": "live"}` starts from that profile (else from `current`), then applies
    `latency_scale`, `latency` (per class), `limits` (fields given) and `seed`."""
    unknown = sorted(set(data) - {"name", "latency", "latency_scale", "limits", "seed"})
    if unknown:
        raise invalid_request(f"Unknown profile field: {unknown[0]}", param=unknown[0])
    profile = named(data["name"]) if "name" in data else current
    scale = data.get("latency_scale", 1)
    if not isinstance(scale, int | float) or scale < 0:
        raise invalid_request("latency_scale must be a non-negative number", param="latency_scale")
    # The scale applies to the profile's latencies; ones given here are taken as they are.
    base = scaled(profile.latency, float(scale)) if scale != 1 else profile.latency
    latency = {**base, **distributions_from_json(data.get("latency", {}))}
    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise invalid_request("limits must be an object", param="limits")
    seed = data.get("seed", profile.seed)
    if seed is not None and not isinstance(seed, int):
        raise invalid_request("seed must be an integer", param="seed")
    return replace(
        profile,
        latency=latency,
        limits=Limits.from_json(limits, profile.limits),
        seed=seed,
    )
