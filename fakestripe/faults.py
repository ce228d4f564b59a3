"""Fault injection for chaos runs: 500s (before or after executing), 429s, latency, lost answers."""

import enum
import fnmatch
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import JsonObject, invalid_request


class Fault(enum.Enum):
    NONE = "none"
    ERROR_500 = "500"
    ERROR_429 = "429"
    DROP = "drop"  # execute, then close the connection without answering
    SAVED_500 = "saved_500"  # execute, then answer a 500 that is stored against the key
    SAVED_500_PARTIAL = "saved_500_partial"  # the same, leaving the money movement to settle later


@dataclass(frozen=True)
class FaultDecision:
    fault: Fault = Fault.NONE
    latency_seconds: float = 0.0
    retry_after_seconds: int = 1
    # For SAVED_500_PARTIAL: how long the confirm stays processing (or the refund pending).
    settle_after_seconds: float = 0.0


SAVED_500S = (Fault.SAVED_500, Fault.SAVED_500_PARTIAL)
NO_FAULT = FaultDecision()


@dataclass(frozen=True)
class FaultConfig:
    """What `POST /_fake/faults` accepts; every field is optional."""

    # Probabilities per matching request (one draw, so they add up to at most 1):
    error_rate: float = 0.0  # 500 api_error before executing
    rate_limit_rate: float = 0.0  # 429 rate_limit with Retry-After, before executing
    drop_rate: float = 0.0  # execute, then close the connection without answering
    # Execute, then answer 500 api_error and store that 500 against the idempotency key, as
    # Stripe does once an endpoint started executing: every retry with the key replays it.
    saved_error_rate: float = 0.0
    # The same, but the request executes only partly: a confirm leaves the PaymentIntent
    # `processing` and a refund `pending`; each settles (with its webhooks) settle_after_ms later.
    saved_error_partial_rate: float = 0.0
    settle_after_ms: float = 1000.0
    # Added to every matching request, while it holds its idempotency key.
    latency_ms: float = 0.0
    retry_after_seconds: int = 1
    # Glob patterns on the path (`/v1/payment_intents/*/confirm`); empty means every /v1 path.
    paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    # Inject at most this many 500/429/drop/saved-500 faults, then behave (None: no limit).
    max_faults: int | None = None
    seed: int | None = None
    _path_patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JsonObject) -> "FaultConfig":
        known = {name for name in cls.__dataclass_fields__ if not name.startswith("_")}
        unknown = sorted(set(data) - known)
        if unknown:
            raise invalid_request(f"Unknown fault setting: {unknown[0]}", param=unknown[0])
        values: dict[str, Any] = dict(data)
        for name in ("paths", "methods"):
            if not isinstance(values.get(name) or [], list):
                raise invalid_request(f"{name} must be a list", param=name)
        values["paths"] = tuple(values.get("paths") or ())
        values["methods"] = tuple(method.upper() for method in values.get("methods") or ())
        config = cls(**values)
        for name in PROBABILITIES:
            if not 0.0 <= getattr(config, name) <= 1.0:
                raise invalid_request(f"{name} must be between 0 and 1", param=name)
        if sum(getattr(config, name) for name in PROBABILITIES) > 1.0:
            raise invalid_request("fault probabilities must add up to at most 1")
        for name in ("latency_ms", "settle_after_ms"):
            if getattr(config, name) < 0:
                raise invalid_request(f"{name} must not be negative", param=name)
        patterns = tuple(re.compile(fnmatch.translate(path)) for path in config.paths)
        object.__setattr__(config, "_path_patterns", patterns)
        return config

    def to_json(self) -> JsonObject:
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in vars(self).items()
            if not name.startswith("_")
        }

    def applies_to(self, method: str, path: str) -> bool:
        if self.methods and method not in self.methods:
            return False
        return not self._path_patterns or any(p.match(path) for p in self._path_patterns)


PROBABILITIES = (
    "error_rate",
    "rate_limit_rate",
    "drop_rate",
    "saved_error_rate",
    "saved_error_partial_rate",
)


class FaultInjector:
    """Rolls the dice for each /v1 request; thread-safe so the control API can swap configs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure(FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._random = random.Random(config.seed)  # noqa: S311 - chaos, not crypto
            self.injected: Counter[str] = Counter()
            self._active = config.latency_ms > 0 or any(
                getattr(config, name) > 0 for name in PROBABILITIES
            )

    def roll(self, method: str, path: str) -> FaultDecision:
        if not self._active:
            return NO_FAULT
        with self._lock:
            config = self.config
            if not config.applies_to(method, path):
                return NO_FAULT
            latency = config.latency_ms / 1000
            if latency:
                self.injected["latency"] += 1
            fault = self._pick(config)
            if fault is not Fault.NONE:
                self.injected[fault.value] += 1
            return FaultDecision(
                fault, latency, config.retry_after_seconds, config.settle_after_ms / 1000
            )

    def _pick(self, config: FaultConfig) -> Fault:
        spent = sum(self.injected[fault.value] for fault in Fault if fault is not Fault.NONE)
        if config.max_faults is not None and spent >= config.max_faults:
            return Fault.NONE
        draw = self._random.random()
        # New kinds go last, so a seed keeps drawing the same faults it did before they existed.
        for fault, probability in (
            (Fault.ERROR_429, config.rate_limit_rate),
            (Fault.ERROR_500, config.error_rate),
            (Fault.DROP, config.drop_rate),
            (Fault.SAVED_500, config.saved_error_rate),
            (Fault.SAVED_500_PARTIAL, config.saved_error_partial_rate),
        ):
            if draw < probability:
                return fault
            draw -= probability
        return Fault.NONE

    def status(self) -> JsonObject:
        with self._lock:
            return {"config": self.config.to_json(), "injected": dict(self.injected)}
